//! OPC UA built-in types as they appear in UADP messages (Part 6 binary encoding).

use crate::cursor::{Reader, Writer};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

/// OPC UA DateTime: 100-nanosecond intervals since 1601-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DateTime(pub i64);

impl DateTime {
    /// Ticks between 1601-01-01 and the Unix epoch 1970-01-01.
    pub const UNIX_EPOCH_TICKS: i64 = 116_444_736_000_000_000;

    /// The DateTime of a Unix time in nanoseconds (sub-100 ns precision is truncated).
    pub fn from_unix_nanos(nanos: i128) -> Self {
        let ticks = nanos.div_euclid(100) + i128::from(Self::UNIX_EPOCH_TICKS);
        Self(ticks.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    /// Nanoseconds since the Unix epoch.
    pub fn to_unix_nanos(self) -> i128 {
        (i128::from(self.0) - i128::from(Self::UNIX_EPOCH_TICKS)) * 100
    }
}

/// OPC UA Guid (Data1 UInt32, Data2 UInt16, Data3 UInt16, Data4 Byte[8], little-endian on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Guid {
    pub data1: u32,
    pub data2: u16,
    pub data3: u16,
    pub data4: [u8; 8],
}

impl Guid {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let b = r.bytes16("Guid")?;
        Ok(Self::from_wire(b))
    }

    pub(crate) fn from_wire(b: [u8; 16]) -> Self {
        let mut data4 = [0u8; 8];
        data4.copy_from_slice(&b[8..]);
        Guid {
            data1: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            data2: u16::from_le_bytes([b[4], b[5]]),
            data3: u16::from_le_bytes([b[6], b[7]]),
            data4,
        }
    }

    /// The 16 bytes on the wire.
    #[inline(always)]
    pub(crate) fn to_wire(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&self.data1.to_le_bytes());
        b[4..6].copy_from_slice(&self.data2.to_le_bytes());
        b[6..8].copy_from_slice(&self.data3.to_le_bytes());
        b[8..].copy_from_slice(&self.data4);
        b
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.u32(self.data1)?;
        w.u16(self.data2)?;
        w.u16(self.data3)?;
        w.put(&self.data4)
    }
}

impl core::fmt::Display for Guid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let d = &self.data4;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            self.data1, self.data2, self.data3, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]
        )
    }
}

/// OPC UA StatusCode (UInt32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StatusCode(pub u32);

impl StatusCode {
    pub const GOOD: StatusCode = StatusCode(0);
}

/// A String, ByteString or XmlElement as borrowed bytes; `None` is the null value (length -1).
/// Strings are kept as bytes: UADP does not guarantee valid UTF-8, so [`UaBytes::as_str`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UaBytes<'a>(pub Option<&'a [u8]>);

impl<'a> UaBytes<'a> {
    pub const NULL: UaBytes<'static> = UaBytes(None);

    pub fn new(bytes: &'a [u8]) -> Self {
        UaBytes(Some(bytes))
    }

    pub fn text(s: &'a str) -> Self {
        UaBytes(Some(s.as_bytes()))
    }

    pub fn is_null(&self) -> bool {
        self.0.is_none()
    }

    pub fn bytes(&self) -> Option<&'a [u8]> {
        self.0
    }

    /// The text if the value is non-null valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.0.and_then(|b| core::str::from_utf8(b).ok())
    }

    pub(crate) fn encoded_len(&self) -> usize {
        4 + self.0.map_or(0, <[u8]>::len)
    }

    pub(crate) fn decode(r: &mut Reader<'a>, what: &'static str) -> Result<Self, DecodeError> {
        let at = r.offset();
        let len = r.i32(what)?;
        match len {
            -1 => Ok(UaBytes(None)),
            l if l < -1 => Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::NegativeLength(l),
            }),
            l => Ok(UaBytes(Some(r.take(l as usize, what)?))),
        }
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>, what: &'static str) -> Result<(), EncodeError> {
        match self.0 {
            None => w.i32(-1),
            Some(b) => {
                let len = i32::try_from(b.len()).map_err(|_| EncodeError::TooLong {
                    what,
                    len: b.len(),
                    max: i32::MAX as usize,
                })?;
                w.i32(len)?;
                w.put(b)
            }
        }
    }
}

/// The built-in types this codec encodes and decodes (Part 6 §5.1.2 ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BuiltinType {
    Boolean = 1,
    SByte = 2,
    Byte = 3,
    Int16 = 4,
    UInt16 = 5,
    Int32 = 6,
    UInt32 = 7,
    Int64 = 8,
    UInt64 = 9,
    Float = 10,
    Double = 11,
    String = 12,
    DateTime = 13,
    Guid = 14,
    ByteString = 15,
    XmlElement = 16,
    StatusCode = 19,
}

impl BuiltinType {
    /// All supported types, in id order.
    pub const ALL: [BuiltinType; 17] = [
        BuiltinType::Boolean,
        BuiltinType::SByte,
        BuiltinType::Byte,
        BuiltinType::Int16,
        BuiltinType::UInt16,
        BuiltinType::Int32,
        BuiltinType::UInt32,
        BuiltinType::Int64,
        BuiltinType::UInt64,
        BuiltinType::Float,
        BuiltinType::Double,
        BuiltinType::String,
        BuiltinType::DateTime,
        BuiltinType::Guid,
        BuiltinType::ByteString,
        BuiltinType::XmlElement,
        BuiltinType::StatusCode,
    ];

    pub fn from_id(id: u8) -> Option<Self> {
        use BuiltinType::*;
        Some(match id {
            1 => Boolean,
            2 => SByte,
            3 => Byte,
            4 => Int16,
            5 => UInt16,
            6 => Int32,
            7 => UInt32,
            8 => Int64,
            9 => UInt64,
            10 => Float,
            11 => Double,
            12 => String,
            13 => DateTime,
            14 => Guid,
            15 => ByteString,
            16 => XmlElement,
            19 => StatusCode,
            _ => return None,
        })
    }

    pub fn id(self) -> u8 {
        self as u8
    }

    /// Encoded size for fixed-size types; `None` for length-prefixed ones.
    pub fn fixed_size(self) -> Option<usize> {
        use BuiltinType::*;
        match self {
            Boolean | SByte | Byte => Some(1),
            Int16 | UInt16 => Some(2),
            Int32 | UInt32 | Float | StatusCode => Some(4),
            Int64 | UInt64 | Double | DateTime => Some(8),
            Guid => Some(16),
            String | ByteString | XmlElement => None,
        }
    }

    /// The name used in OPC UA specifications and in this tool's output.
    pub fn name(self) -> &'static str {
        use BuiltinType::*;
        match self {
            Boolean => "Boolean",
            SByte => "SByte",
            Byte => "Byte",
            Int16 => "Int16",
            UInt16 => "UInt16",
            Int32 => "Int32",
            UInt32 => "UInt32",
            Int64 => "Int64",
            UInt64 => "UInt64",
            Float => "Float",
            Double => "Double",
            String => "String",
            DateTime => "DateTime",
            Guid => "Guid",
            ByteString => "ByteString",
            XmlElement => "XmlElement",
            StatusCode => "StatusCode",
        }
    }

    /// Parses a type name as written by [`BuiltinType::name`] (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }
}

impl core::fmt::Display for BuiltinType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}
