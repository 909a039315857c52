//! The DataSet's fields: a built-in type and how its value changes from message to message, so
//! that a subscriber sees live data.
//!
//! Text form, one field: `TYPE[=VALUE]`, a DataSet: fields joined by `,`:
//!
//! | value | meaning | types |
//! |---|---|---|
//! | `counter` | the message index (0, 1, 2, …, wrapping in the type) | integers, Float, Double, String, ByteString, XmlElement, Guid |
//! | `now` | the send time (UTC) | DateTime |
//! | `toggle` | true, false, true, … | Boolean |
//! | `mono-ns` | the send time in CLOCK_MONOTONIC ns: lets a subscriber on the same host measure latency | Int64, UInt64 |
//! | a literal, or `const:LITERAL` | the same value in every message | every type |
//!
//! Without `=VALUE`: DateTime `now`, Boolean `toggle`, StatusCode `Good` (0), everything else
//! `counter`. Literals: numbers (`0x` hex for unsigned types), `true`/`false`, RFC 3339
//! date-times or raw 100 ns ticks, hex for ByteString, `8-4-4-4-12` hex for Guid.
//!
//! Example, the DataSet of the OPC UA SDK tutorials: `DateTime,Int32,Int64,Boolean`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uadp::{
    BuiltinType, DataValue, DateTime, FieldValue, Guid, Scalar, StatusCode, UaBytes, Variant,
};

/// A field text that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{text}`: {problem}")]
pub struct FieldError {
    pub text: String,
    pub problem: String,
}

/// An owned value of a built-in type (the codec's [`Scalar`] borrows).
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedScalar {
    Boolean(bool),
    SByte(i8),
    Byte(u8),
    Int16(i16),
    UInt16(u16),
    Int32(i32),
    UInt32(u32),
    Int64(i64),
    UInt64(u64),
    Float(f32),
    Double(f64),
    /// `None`: the null string.
    String(Option<Vec<u8>>),
    DateTime(DateTime),
    Guid(Guid),
    ByteString(Option<Vec<u8>>),
    XmlElement(Option<Vec<u8>>),
    StatusCode(u32),
}

impl OwnedScalar {
    /// Borrows it as the codec's scalar.
    pub fn as_scalar(&self) -> Scalar<'_> {
        fn b(v: &Option<Vec<u8>>) -> UaBytes<'_> {
            UaBytes(v.as_deref())
        }
        match self {
            OwnedScalar::Boolean(v) => Scalar::Boolean(*v),
            OwnedScalar::SByte(v) => Scalar::SByte(*v),
            OwnedScalar::Byte(v) => Scalar::Byte(*v),
            OwnedScalar::Int16(v) => Scalar::Int16(*v),
            OwnedScalar::UInt16(v) => Scalar::UInt16(*v),
            OwnedScalar::Int32(v) => Scalar::Int32(*v),
            OwnedScalar::UInt32(v) => Scalar::UInt32(*v),
            OwnedScalar::Int64(v) => Scalar::Int64(*v),
            OwnedScalar::UInt64(v) => Scalar::UInt64(*v),
            OwnedScalar::Float(v) => Scalar::Float(*v),
            OwnedScalar::Double(v) => Scalar::Double(*v),
            OwnedScalar::String(v) => Scalar::String(b(v)),
            OwnedScalar::DateTime(v) => Scalar::DateTime(*v),
            OwnedScalar::Guid(v) => Scalar::Guid(*v),
            OwnedScalar::ByteString(v) => Scalar::ByteString(b(v)),
            OwnedScalar::XmlElement(v) => Scalar::XmlElement(b(v)),
            OwnedScalar::StatusCode(v) => Scalar::StatusCode(StatusCode(*v)),
        }
    }

    /// Copies a decoded scalar.
    pub fn from_scalar(s: &Scalar<'_>) -> Self {
        let o = |v: UaBytes<'_>| v.bytes().map(<[u8]>::to_vec);
        match *s {
            Scalar::Boolean(v) => OwnedScalar::Boolean(v),
            Scalar::SByte(v) => OwnedScalar::SByte(v),
            Scalar::Byte(v) => OwnedScalar::Byte(v),
            Scalar::Int16(v) => OwnedScalar::Int16(v),
            Scalar::UInt16(v) => OwnedScalar::UInt16(v),
            Scalar::Int32(v) => OwnedScalar::Int32(v),
            Scalar::UInt32(v) => OwnedScalar::UInt32(v),
            Scalar::Int64(v) => OwnedScalar::Int64(v),
            Scalar::UInt64(v) => OwnedScalar::UInt64(v),
            Scalar::Float(v) => OwnedScalar::Float(v),
            Scalar::Double(v) => OwnedScalar::Double(v),
            Scalar::String(v) => OwnedScalar::String(o(v)),
            Scalar::DateTime(v) => OwnedScalar::DateTime(v),
            Scalar::Guid(v) => OwnedScalar::Guid(v),
            Scalar::ByteString(v) => OwnedScalar::ByteString(o(v)),
            Scalar::XmlElement(v) => OwnedScalar::XmlElement(o(v)),
            Scalar::StatusCode(v) => OwnedScalar::StatusCode(v.0),
        }
    }

    /// The built-in type.
    pub fn builtin_type(&self) -> BuiltinType {
        self.as_scalar().builtin_type()
    }

    /// The value as a 64-bit integer, for integer types (e.g. a `mono-ns` send time).
    pub fn as_i128(&self) -> Option<i128> {
        Some(match *self {
            OwnedScalar::SByte(v) => v.into(),
            OwnedScalar::Byte(v) => v.into(),
            OwnedScalar::Int16(v) => v.into(),
            OwnedScalar::UInt16(v) => v.into(),
            OwnedScalar::Int32(v) => v.into(),
            OwnedScalar::UInt32(v) => v.into(),
            OwnedScalar::Int64(v) => v.into(),
            OwnedScalar::UInt64(v) => v.into(),
            _ => return None,
        })
    }
}

/// The scalar inside a decoded field value, whatever the field encoding (`None` for a Null
/// Variant, an array, or a DataValue without a scalar value).
pub fn field_scalar<'a>(v: &FieldValue<'a>) -> Option<Scalar<'a>> {
    match v {
        FieldValue::Raw(s) | FieldValue::Variant(Variant::Scalar(s)) => Some(*s),
        FieldValue::DataValue(DataValue {
            value: Some(Variant::Scalar(s)),
            ..
        }) => Some(*s),
        _ => None,
    }
}

/// What one message's send time is, in the clocks a field may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendTime {
    /// Wall-clock time (UTC) as an OPC UA DateTime.
    pub utc: DateTime,
    /// The sub-100 ns part of the wall-clock time in 10 ps units (Part 14 PicoSeconds).
    pub picoseconds: u16,
    /// CLOCK_MONOTONIC nanoseconds.
    pub mono_ns: u64,
}

impl SendTime {
    /// Now.
    pub fn now() -> Self {
        let mono_ns = uadpbench_sender::clock::monotonic_ns();
        let unix_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        SendTime {
            utc: DateTime::from_unix_nanos(unix_ns),
            // 1 ns = 100 units of 10 ps; the part below the DateTime's 100 ns resolution.
            picoseconds: (unix_ns.rem_euclid(100) * 100) as u16,
            mono_ns,
        }
    }
}

/// How a field's value changes from message to message.
#[derive(Debug, Clone, PartialEq)]
pub enum Generator {
    /// The message index, converted (wrapping) to the field type.
    Counter,
    /// The send time (UTC).
    Now,
    /// true for even message indexes, false for odd ones.
    Toggle,
    /// The send time in CLOCK_MONOTONIC nanoseconds.
    MonotonicNs,
    /// The same value in every message.
    Constant(OwnedScalar),
}

/// One field of the DataSet.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub ty: BuiltinType,
    pub generator: Generator,
}

impl FieldSpec {
    /// A field, if `generator` can produce values of `ty`.
    pub fn new(ty: BuiltinType, generator: Generator) -> Result<Self, String> {
        use BuiltinType as T;
        let ok = match &generator {
            Generator::Counter => !matches!(ty, T::Boolean | T::DateTime | T::StatusCode),
            Generator::Now => ty == T::DateTime,
            Generator::Toggle => ty == T::Boolean,
            Generator::MonotonicNs => matches!(ty, T::Int64 | T::UInt64),
            Generator::Constant(v) => v.builtin_type() == ty,
        };
        if ok {
            Ok(FieldSpec { ty, generator })
        } else {
            Err(format!(
                "{} cannot produce {ty} values ({})",
                generator_name(&generator),
                match ty {
                    T::Boolean => "use toggle or true/false",
                    T::DateTime => "use now or an RFC 3339 time",
                    T::StatusCode => "use a constant such as 0 (Good)",
                    _ if matches!(generator, Generator::MonotonicNs) => {
                        "mono-ns needs Int64 or UInt64"
                    }
                    _ => "use counter or a constant",
                }
            ))
        }
    }

    /// The default generator of a type.
    pub fn default_for(ty: BuiltinType) -> Self {
        let generator = match ty {
            BuiltinType::DateTime => Generator::Now,
            BuiltinType::Boolean => Generator::Toggle,
            BuiltinType::StatusCode => Generator::Constant(OwnedScalar::StatusCode(0)),
            _ => Generator::Counter,
        };
        FieldSpec { ty, generator }
    }

    /// The value this field carries in message `index` sent at `t`.
    pub fn value(&self, index: u64, t: &SendTime) -> OwnedScalar {
        use BuiltinType as T;
        match &self.generator {
            Generator::Constant(v) => v.clone(),
            Generator::Now => OwnedScalar::DateTime(t.utc),
            Generator::Toggle => OwnedScalar::Boolean(index.is_multiple_of(2)),
            Generator::MonotonicNs => match self.ty {
                T::Int64 => OwnedScalar::Int64(t.mono_ns as i64),
                _ => OwnedScalar::UInt64(t.mono_ns),
            },
            // Wrapping conversions are the point of a counter in a narrow type.
            Generator::Counter => match self.ty {
                T::SByte => OwnedScalar::SByte(index as i8),
                T::Byte => OwnedScalar::Byte(index as u8),
                T::Int16 => OwnedScalar::Int16(index as i16),
                T::UInt16 => OwnedScalar::UInt16(index as u16),
                T::Int32 => OwnedScalar::Int32(index as i32),
                T::UInt32 => OwnedScalar::UInt32(index as u32),
                T::Int64 => OwnedScalar::Int64(index as i64),
                T::UInt64 => OwnedScalar::UInt64(index),
                T::Float => OwnedScalar::Float(index as f32),
                T::Double => OwnedScalar::Double(index as f64),
                T::String => OwnedScalar::String(Some(index.to_string().into_bytes())),
                T::ByteString => OwnedScalar::ByteString(Some(index.to_le_bytes().to_vec())),
                T::XmlElement => {
                    OwnedScalar::XmlElement(Some(format!("<n>{index}</n>").into_bytes()))
                }
                T::Guid => OwnedScalar::Guid(Guid {
                    data1: index as u32,
                    data2: (index >> 32) as u16,
                    data3: (index >> 48) as u16,
                    data4: [0x75, 0x61, 0x64, 0x70, 0x62, 0x65, 0x6e, 0x63],
                }),
                // Excluded by `new`; keep a well-defined value anyway.
                T::Boolean => OwnedScalar::Boolean(index.is_multiple_of(2)),
                T::DateTime => OwnedScalar::DateTime(t.utc),
                T::StatusCode => OwnedScalar::StatusCode(0),
            },
        }
    }
}

fn generator_name(g: &Generator) -> &'static str {
    match g {
        Generator::Counter => "counter",
        Generator::Now => "now",
        Generator::Toggle => "toggle",
        Generator::MonotonicNs => "mono-ns",
        Generator::Constant(_) => "this constant",
    }
}

fn literal_text(v: &OwnedScalar) -> String {
    let bytes = |b: &Option<Vec<u8>>| match b {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => String::new(),
    };
    match v {
        OwnedScalar::Boolean(x) => x.to_string(),
        OwnedScalar::SByte(x) => x.to_string(),
        OwnedScalar::Byte(x) => x.to_string(),
        OwnedScalar::Int16(x) => x.to_string(),
        OwnedScalar::UInt16(x) => x.to_string(),
        OwnedScalar::Int32(x) => x.to_string(),
        OwnedScalar::UInt32(x) => x.to_string(),
        OwnedScalar::Int64(x) => x.to_string(),
        OwnedScalar::UInt64(x) => x.to_string(),
        OwnedScalar::Float(x) => x.to_string(),
        OwnedScalar::Double(x) => x.to_string(),
        OwnedScalar::String(s) | OwnedScalar::XmlElement(s) => format!("const:{}", bytes(s)),
        OwnedScalar::DateTime(d) => {
            crate::json::datetime_text(*d).unwrap_or_else(|| d.0.to_string())
        }
        OwnedScalar::Guid(g) => g.to_string(),
        OwnedScalar::ByteString(b) => hex::encode(b.as_deref().unwrap_or_default()),
        OwnedScalar::StatusCode(c) => format!("0x{c:08x}"),
    }
}

impl fmt::Display for FieldSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.generator {
            Generator::Constant(v) => write!(f, "{}={}", self.ty, literal_text(v)),
            g => write!(f, "{}={}", self.ty, generator_name(g)),
        }
    }
}

fn parse_unsigned<T: TryFrom<u64>>(t: &str) -> Option<T> {
    let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => t.parse::<u64>().ok()?,
    };
    T::try_from(v).ok()
}

fn parse_guid(t: &str) -> Option<Guid> {
    let parts: Vec<&str> = t.split('-').collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    if lens != [8, 4, 4, 4, 12] {
        return None;
    }
    let tail = hex::decode(format!("{}{}", parts[3], parts[4])).ok()?;
    let mut data4 = [0u8; 8];
    data4.copy_from_slice(&tail);
    Some(Guid {
        data1: u32::from_str_radix(parts[0], 16).ok()?,
        data2: u16::from_str_radix(parts[1], 16).ok()?,
        data3: u16::from_str_radix(parts[2], 16).ok()?,
        data4,
    })
}

/// Parses a GUID written as `8-4-4-4-12` hex digits.
pub fn guid_from_text(text: &str) -> Option<Guid> {
    parse_guid(text.trim())
}

/// Parses a constant of type `ty`.
pub fn parse_literal(ty: BuiltinType, text: &str) -> Option<OwnedScalar> {
    use BuiltinType as T;
    let t = text.trim();
    Some(match ty {
        T::Boolean => OwnedScalar::Boolean(match t.to_ascii_lowercase().as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return None,
        }),
        T::SByte => OwnedScalar::SByte(t.parse().ok()?),
        T::Byte => OwnedScalar::Byte(parse_unsigned(t)?),
        T::Int16 => OwnedScalar::Int16(t.parse().ok()?),
        T::UInt16 => OwnedScalar::UInt16(parse_unsigned(t)?),
        T::Int32 => OwnedScalar::Int32(t.parse().ok()?),
        T::UInt32 => OwnedScalar::UInt32(parse_unsigned(t)?),
        T::Int64 => OwnedScalar::Int64(t.parse().ok()?),
        T::UInt64 => OwnedScalar::UInt64(parse_unsigned(t)?),
        T::Float => OwnedScalar::Float(t.parse().ok()?),
        T::Double => OwnedScalar::Double(t.parse().ok()?),
        // Text keeps its spaces: only the `const:` prefix form is trimmed by the caller.
        T::String => OwnedScalar::String(Some(text.as_bytes().to_vec())),
        T::XmlElement => OwnedScalar::XmlElement(Some(text.as_bytes().to_vec())),
        T::ByteString => {
            OwnedScalar::ByteString(Some(hex::decode(t.strip_prefix("0x").unwrap_or(t)).ok()?))
        }
        T::DateTime => OwnedScalar::DateTime(match t.parse::<i64>() {
            Ok(ticks) => DateTime(ticks),
            Err(_) => {
                let dt =
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .ok()?;
                DateTime::from_unix_nanos(dt.unix_timestamp_nanos())
            }
        }),
        T::Guid => OwnedScalar::Guid(parse_guid(t)?),
        T::StatusCode => OwnedScalar::StatusCode(if t.eq_ignore_ascii_case("good") {
            0
        } else {
            parse_unsigned(t)?
        }),
    })
}

impl FromStr for FieldSpec {
    type Err = FieldError;

    fn from_str(text: &str) -> Result<Self, FieldError> {
        let error = |problem: String| FieldError {
            text: text.to_owned(),
            problem,
        };
        let (ty_text, value) = match text.split_once('=') {
            Some((t, v)) => (t.trim(), Some(v)),
            None => (text.trim(), None),
        };
        let ty = BuiltinType::from_name(ty_text).ok_or_else(|| {
            let known: Vec<&str> = BuiltinType::ALL.iter().map(|t| t.name()).collect();
            error(format!(
                "unknown type `{ty_text}`; known types: {}",
                known.join(", ")
            ))
        })?;
        let Some(value) = value else {
            return Ok(FieldSpec::default_for(ty));
        };
        let generator = match value.trim() {
            "counter" => Generator::Counter,
            "now" => Generator::Now,
            "toggle" => Generator::Toggle,
            "mono-ns" => Generator::MonotonicNs,
            v => {
                let literal = match value.trim_start().strip_prefix("const:") {
                    Some(l) => l,
                    None => v,
                };
                Generator::Constant(parse_literal(ty, literal).ok_or_else(|| {
                    error(format!(
                        "`{literal}` is not a {ty} value and not one of counter, now, toggle, mono-ns"
                    ))
                })?)
            }
        };
        FieldSpec::new(ty, generator).map_err(error)
    }
}

/// A DataSet's field list; text form `TYPE[=VALUE],TYPE[=VALUE],…`, in TOML a list of
/// `"TYPE[=VALUE]"` strings (or one comma-separated string).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldList(pub Vec<FieldSpec>);

impl FromStr for FieldList {
    type Err = FieldError;
    fn from_str(text: &str) -> Result<Self, FieldError> {
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(FieldList)
    }
}

impl fmt::Display for FieldList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&texts.join(","))
    }
}

impl Serialize for FieldList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let texts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        texts.serialize(s)
    }
}

impl<'de> Deserialize<'de> for FieldList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            One(String),
            List(Vec<String>),
        }
        let specs = match Repr::deserialize(d)? {
            Repr::One(t) => t.parse::<FieldList>(),
            Repr::List(v) => v
                .iter()
                .map(|t| t.parse::<FieldSpec>())
                .collect::<Result<Vec<_>, _>>()
                .map(FieldList),
        };
        specs.map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> SendTime {
        SendTime {
            utc: DateTime(0x01da_3c45_7689_c000),
            picoseconds: 0,
            mono_ns: 123_456_789,
        }
    }

    #[test]
    fn defaults_and_generators() {
        let l: FieldList = "DateTime,Int32,Int64,Boolean".parse().unwrap();
        let gens: Vec<&Generator> = l.0.iter().map(|f| &f.generator).collect();
        assert_eq!(
            gens,
            [
                &Generator::Now,
                &Generator::Counter,
                &Generator::Counter,
                &Generator::Toggle
            ]
        );
        let values: Vec<OwnedScalar> = l.0.iter().map(|f| f.value(3, &t0())).collect();
        assert_eq!(
            values,
            [
                OwnedScalar::DateTime(DateTime(0x01da_3c45_7689_c000)),
                OwnedScalar::Int32(3),
                OwnedScalar::Int64(3),
                OwnedScalar::Boolean(false)
            ]
        );
        let f: FieldSpec = "Byte=counter".parse().unwrap();
        assert_eq!(f.value(300, &t0()), OwnedScalar::Byte(44));
        let f: FieldSpec = "UInt64=mono-ns".parse().unwrap();
        assert_eq!(f.value(0, &t0()), OwnedScalar::UInt64(123_456_789));
        let f: FieldSpec = "String".parse().unwrap();
        assert_eq!(
            f.value(12, &t0()),
            OwnedScalar::String(Some(b"12".to_vec()))
        );
    }

    #[test]
    fn constants() {
        let l: FieldList =
            "DateTime=2024-01-01T00:00:00Z,Int32=-42,Int64=1234567890123,Boolean=true,UInt16=0xffff,String=const:counter,StatusCode=Good,Guid=01234567-89ab-cdef-0123-456789abcdef,ByteString=0a0b"
                .parse()
                .unwrap();
        let v: Vec<OwnedScalar> = l.0.iter().map(|f| f.value(5, &t0())).collect();
        assert_eq!(v[0], OwnedScalar::DateTime(DateTime(0x01da_3c45_7689_c000)));
        assert_eq!(v[1], OwnedScalar::Int32(-42));
        assert_eq!(v[2], OwnedScalar::Int64(1_234_567_890_123));
        assert_eq!(v[3], OwnedScalar::Boolean(true));
        assert_eq!(v[4], OwnedScalar::UInt16(0xffff));
        assert_eq!(v[5], OwnedScalar::String(Some(b"counter".to_vec())));
        assert_eq!(v[6], OwnedScalar::StatusCode(0));
        assert_eq!(
            OwnedScalar::Guid(guid_from_text("01234567-89ab-cdef-0123-456789abcdef").unwrap()),
            v[7]
        );
        assert_eq!(v[8], OwnedScalar::ByteString(Some(vec![10, 11])));
        // Display round-trips.
        let again: FieldList = l.to_string().parse().unwrap();
        assert_eq!(again, l);
    }

    #[test]
    fn errors_say_what_is_allowed() {
        let e = "Int33".parse::<FieldSpec>().unwrap_err().to_string();
        assert!(
            e.contains("unknown type `Int33`") && e.contains("DateTime"),
            "{e}"
        );
        let e = "Int32=banana".parse::<FieldSpec>().unwrap_err().to_string();
        assert!(e.contains("not a Int32 value"), "{e}");
        let e = "Byte=300".parse::<FieldSpec>().unwrap_err().to_string();
        assert!(e.contains("not a Byte value"), "{e}");
        let e = "Boolean=counter"
            .parse::<FieldSpec>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("toggle"), "{e}");
        let e = "Int32=mono-ns"
            .parse::<FieldSpec>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("Int64 or UInt64"), "{e}");
        let e = "Int32=now".parse::<FieldSpec>().unwrap_err().to_string();
        assert!(e.contains("now cannot produce Int32"), "{e}");
    }

    #[test]
    fn field_scalar_reads_every_encoding() {
        let s = Scalar::Int32(7);
        assert_eq!(field_scalar(&FieldValue::Raw(s)), Some(s));
        assert_eq!(
            field_scalar(&FieldValue::Variant(Variant::Scalar(s))),
            Some(s)
        );
        let dv = DataValue {
            value: Some(Variant::Scalar(s)),
            ..Default::default()
        };
        assert_eq!(field_scalar(&FieldValue::DataValue(dv)), Some(s));
        assert_eq!(field_scalar(&FieldValue::Variant(Variant::Null)), None);
    }
}
