//! PublisherIds: their type ([`PublisherIdType`]) and an owned value ([`PublisherIdValue`])
//! with its `TYPE:VALUE` text form and conversions to and from the codec's form.

use std::fmt;

use uadp::{PublisherId, UaBytes};

use super::LayoutError;

/// The type of a PublisherId (ExtendedFlags1 bits 0–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublisherIdType {
    Byte,
    UInt16,
    UInt32,
    UInt64,
    String,
}

impl PublisherIdType {
    fn from_name(name: &str) -> Option<Self> {
        [
            ("Byte", Self::Byte),
            ("UInt16", Self::UInt16),
            ("UInt32", Self::UInt32),
            ("UInt64", Self::UInt64),
            ("String", Self::String),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, t)| t)
    }
}

/// An owned PublisherId.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PublisherIdValue {
    Byte(u8),
    UInt16(u16),
    UInt32(u32),
    UInt64(u64),
    /// Kept as bytes: the wire does not promise UTF-8.
    String(Vec<u8>),
}

impl PublisherIdValue {
    /// As the codec writes it.
    pub fn as_wire(&self) -> PublisherId<'_> {
        match self {
            PublisherIdValue::Byte(v) => PublisherId::Byte(*v),
            PublisherIdValue::UInt16(v) => PublisherId::UInt16(*v),
            PublisherIdValue::UInt32(v) => PublisherId::UInt32(*v),
            PublisherIdValue::UInt64(v) => PublisherId::UInt64(*v),
            PublisherIdValue::String(s) => PublisherId::String(UaBytes::new(s)),
        }
    }

    /// Copies a decoded one (a null String becomes the empty string).
    pub fn from_wire(p: &PublisherId<'_>) -> Self {
        match *p {
            PublisherId::Byte(v) => PublisherIdValue::Byte(v),
            PublisherId::UInt16(v) => PublisherIdValue::UInt16(v),
            PublisherId::UInt32(v) => PublisherIdValue::UInt32(v),
            PublisherId::UInt64(v) => PublisherIdValue::UInt64(v),
            PublisherId::String(s) => {
                PublisherIdValue::String(s.bytes().unwrap_or_default().to_vec())
            }
        }
    }

    /// The type.
    pub fn id_type(&self) -> PublisherIdType {
        match self {
            PublisherIdValue::Byte(_) => PublisherIdType::Byte,
            PublisherIdValue::UInt16(_) => PublisherIdType::UInt16,
            PublisherIdValue::UInt32(_) => PublisherIdType::UInt32,
            PublisherIdValue::UInt64(_) => PublisherIdType::UInt64,
            PublisherIdValue::String(_) => PublisherIdType::String,
        }
    }

    /// Parses `TYPE:VALUE`, or a bare value of `default_type`.
    pub fn parse(text: &str, default_type: PublisherIdType) -> Result<Self, LayoutError> {
        let error = |problem: &str| LayoutError::PublisherId {
            text: text.to_owned(),
            problem: problem.to_owned(),
        };
        let (ty, value) = match text.split_once(':') {
            Some((t, v)) => (
                PublisherIdType::from_name(t.trim()).ok_or_else(|| error("unknown type"))?,
                v,
            ),
            None => (default_type, text),
        };
        if ty == PublisherIdType::String {
            return Ok(PublisherIdValue::String(value.as_bytes().to_vec()));
        }
        let v = value.trim();
        let n = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
            Some(h) => u64::from_str_radix(h, 16),
            None => v.parse::<u64>(),
        }
        .map_err(|_| error("not an unsigned number"))?;
        let range = || error("out of the type's range");
        Ok(match ty {
            PublisherIdType::Byte => PublisherIdValue::Byte(u8::try_from(n).map_err(|_| range())?),
            PublisherIdType::UInt16 => {
                PublisherIdValue::UInt16(u16::try_from(n).map_err(|_| range())?)
            }
            PublisherIdType::UInt32 => {
                PublisherIdValue::UInt32(u32::try_from(n).map_err(|_| range())?)
            }
            PublisherIdType::UInt64 | PublisherIdType::String => PublisherIdValue::UInt64(n),
        })
    }
}

impl fmt::Display for PublisherIdValue {
    /// `UInt16:2234`, `String:plc-1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublisherIdValue::Byte(v) => write!(f, "Byte:{v}"),
            PublisherIdValue::UInt16(v) => write!(f, "UInt16:{v}"),
            PublisherIdValue::UInt32(v) => write!(f, "UInt32:{v}"),
            PublisherIdValue::UInt64(v) => write!(f, "UInt64:{v}"),
            PublisherIdValue::String(s) => write!(f, "String:{}", String::from_utf8_lossy(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_ids() {
        use PublisherIdType as T;
        assert_eq!(
            PublisherIdValue::parse("UInt16:2234", T::UInt64).unwrap(),
            PublisherIdValue::UInt16(2234)
        );
        assert_eq!(
            PublisherIdValue::parse("2234", T::UInt64).unwrap(),
            PublisherIdValue::UInt64(2234)
        );
        assert_eq!(
            PublisherIdValue::parse("string:plc-1", T::Byte).unwrap(),
            PublisherIdValue::String(b"plc-1".to_vec())
        );
        assert_eq!(
            PublisherIdValue::parse("Byte:0xff", T::Byte).unwrap(),
            PublisherIdValue::Byte(255)
        );
        for bad in ["Byte:256", "Int32:5", "UInt16:-1", "UInt16:"] {
            let e = PublisherIdValue::parse(bad, T::UInt16).unwrap_err();
            assert!(e.to_string().contains("TYPE:VALUE"), "{bad}: {e}");
        }
        assert_eq!(PublisherIdValue::UInt32(7).to_string(), "UInt32:7");
    }
}
