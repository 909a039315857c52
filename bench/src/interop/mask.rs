//! The content masks of Part 14 that say which optional header fields a UADP publisher writes:
//! `UadpNetworkMessageContentMask` (§6.3.1.1.4, a WriterGroup setting) and
//! `UadpDataSetMessageContentMask` (§6.3.1.3.2, a DataSetWriter setting), with the bit numbers
//! of the specification (and of open62541's `UA_UADPNETWORKMESSAGECONTENTMASK_*` /
//! `UA_UADPDATASETMESSAGECONTENTMASK_*`), so a layout can be copied from another stack's
//! configuration as a number or as names.
//!
//! Text forms: names joined by `|` or `,` (case-insensitive, e.g.
//! `PublisherId|GroupHeader|WriterGroupId|PayloadHeader`), a number (`0x47`, `71`), or `none`.
//! In TOML: a string, a number, or a list of names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A content mask text that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what}: {problem}; use names from {names} joined by | (or a number such as 0x41, or none)"
)]
pub struct MaskError {
    pub what: &'static str,
    pub problem: String,
    pub names: String,
}

fn parse_bits(
    text: &str,
    names: &[(&'static str, u32)],
    what: &'static str,
) -> Result<u32, MaskError> {
    let all: u32 = names.iter().fold(0, |a, (_, b)| a | b);
    let error = |problem: String| MaskError {
        what,
        problem,
        names: names.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
    };
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("none") {
        return Ok(0);
    }
    let number = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(
            u32::from_str_radix(hex, 16)
                .map_err(|_| error(format!("`{t}` is not a hex number")))?,
        )
    } else if t.chars().all(|c| c.is_ascii_digit()) {
        Some(
            t.parse::<u32>()
                .map_err(|_| error(format!("`{t}` is too large")))?,
        )
    } else {
        None
    };
    if let Some(n) = number {
        if n & !all != 0 {
            return Err(error(format!(
                "bits 0x{:x} of {t} are not defined",
                n & !all
            )));
        }
        return Ok(n);
    }
    let mut bits = 0;
    for name in t
        .split(['|', ',', '+'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let (_, b) = names
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| error(format!("unknown flag `{name}`")))?;
        bits |= b;
    }
    Ok(bits)
}

fn names_of(bits: u32, names: &[(&'static str, u32)]) -> Vec<&'static str> {
    names
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(n, _)| *n)
        .collect()
}

/// How a mask may be written in TOML.
#[derive(Deserialize)]
#[serde(untagged)]
enum MaskRepr {
    Number(u32),
    Text(String),
    Names(Vec<String>),
}

macro_rules! content_mask {
    ($(#[$doc:meta])* $name:ident, $what:literal, [$(($konst:ident, $text:literal, $bit:literal)),* $(,)?]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub u32);

        impl $name {
            $(
                #[doc = concat!("`", $text, "` (bit ", stringify!($bit), ").")]
                pub const $konst: Self = Self(1 << $bit);
            )*
            /// Every flag with its name as Part 14 writes it.
            pub const NAMES: &'static [(&'static str, u32)] = &[$(($text, 1 << $bit)),*];

            /// Whether every bit of `flag` is set.
            pub fn contains(self, flag: Self) -> bool {
                self.0 & flag.0 == flag.0
            }

            /// The names of the set flags, in bit order.
            pub fn names(self) -> Vec<&'static str> {
                names_of(self.0, Self::NAMES)
            }
        }

        impl std::ops::BitOr for $name {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                Self(self.0 | rhs.0)
            }
        }

        impl FromStr for $name {
            type Err = MaskError;
            fn from_str(s: &str) -> Result<Self, MaskError> {
                parse_bits(s, Self::NAMES, $what).map(Self)
            }
        }

        impl fmt::Display for $name {
            /// `PublisherId|PayloadHeader (0x00000041)`.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let names = self.names();
                if names.is_empty() {
                    write!(f, "none (0x{:08x})", self.0)
                } else {
                    write!(f, "{} (0x{:08x})", names.join("|"), self.0)
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.names().serialize(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let bits = match MaskRepr::deserialize(d)? {
                    MaskRepr::Number(n) => parse_bits(&n.to_string(), Self::NAMES, $what),
                    MaskRepr::Text(t) => parse_bits(&t, Self::NAMES, $what),
                    MaskRepr::Names(v) => parse_bits(&v.join("|"), Self::NAMES, $what),
                };
                bits.map(Self).map_err(serde::de::Error::custom)
            }
        }
    };
}

content_mask!(
    /// `UadpNetworkMessageContentMask` (Part 14 §6.3.1.1.4): optional NetworkMessage header fields.
    NetworkMessageContentMask,
    "UadpNetworkMessageContentMask",
    [
        (PUBLISHER_ID, "PublisherId", 0),
        (GROUP_HEADER, "GroupHeader", 1),
        (WRITER_GROUP_ID, "WriterGroupId", 2),
        (GROUP_VERSION, "GroupVersion", 3),
        (NETWORK_MESSAGE_NUMBER, "NetworkMessageNumber", 4),
        (SEQUENCE_NUMBER, "SequenceNumber", 5),
        (PAYLOAD_HEADER, "PayloadHeader", 6),
        (TIMESTAMP, "Timestamp", 7),
        (PICO_SECONDS, "PicoSeconds", 8),
        (DATASET_CLASS_ID, "DataSetClassId", 9),
        (PROMOTED_FIELDS, "PromotedFields", 10),
    ]
);

content_mask!(
    /// `UadpDataSetMessageContentMask` (Part 14 §6.3.1.3.2): optional DataSetMessage header
    /// fields.
    DataSetMessageContentMask,
    "UadpDataSetMessageContentMask",
    [
        (TIMESTAMP, "Timestamp", 0),
        (PICO_SECONDS, "PicoSeconds", 1),
        (STATUS, "Status", 2),
        (MAJOR_VERSION, "MajorVersion", 3),
        (MINOR_VERSION, "MinorVersion", 4),
        (SEQUENCE_NUMBER, "SequenceNumber", 5),
    ]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_the_spec_bits() {
        // Part 14 Annex A: UADP-Periodic-Fixed 0x3F / 0x24, UADP-Dynamic 0x41 / 0x35.
        let n: NetworkMessageContentMask =
            "PublisherId|GroupHeader|WriterGroupId|GroupVersion|NetworkMessageNumber|SequenceNumber"
                .parse()
                .unwrap();
        assert_eq!(n.0, 0x3F);
        let d: DataSetMessageContentMask = "Status,SequenceNumber".parse().unwrap();
        assert_eq!(d.0, 0x24);
        assert_eq!(
            "publisherid|payloadheader"
                .parse::<NetworkMessageContentMask>()
                .unwrap()
                .0,
            0x41
        );
        let d: DataSetMessageContentMask = "0x35".parse().unwrap();
        assert_eq!(
            d.names(),
            ["Timestamp", "Status", "MinorVersion", "SequenceNumber"]
        );
        assert_eq!(
            "1024".parse::<NetworkMessageContentMask>().unwrap(),
            NetworkMessageContentMask::PROMOTED_FIELDS
        );
        assert_eq!("none".parse::<DataSetMessageContentMask>().unwrap().0, 0);
        assert_eq!(
            NetworkMessageContentMask(0x41).to_string(),
            "PublisherId|PayloadHeader (0x00000041)"
        );
    }

    #[test]
    fn bad_masks_list_the_names() {
        let e = "PublisherId|Bogus"
            .parse::<NetworkMessageContentMask>()
            .unwrap_err();
        assert!(e.to_string().contains("unknown flag `Bogus`"), "{e}");
        assert!(e.to_string().contains("PromotedFields"), "{e}");
        let e = "0x80".parse::<DataSetMessageContentMask>().unwrap_err();
        assert!(e.to_string().contains("not defined"), "{e}");
    }

    #[test]
    fn toml_forms() {
        #[derive(Deserialize)]
        struct T {
            a: NetworkMessageContentMask,
            b: NetworkMessageContentMask,
            c: DataSetMessageContentMask,
        }
        let t: T = toml::from_str(
            "a = 65\nb = \"PublisherId|PayloadHeader\"\nc = [\"Timestamp\", \"SequenceNumber\"]",
        )
        .unwrap();
        assert_eq!((t.a.0, t.b.0, t.c.0), (0x41, 0x41, 0x21));
        assert!(toml::from_str::<T>("a = 4096\nb = 0\nc = 0").is_err());
    }
}
