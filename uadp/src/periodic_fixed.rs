//! The UADP-Periodic-Fixed message layout (Part 14 Annex A.2.1): what TSN-style cyclic publishers
//! send. Every header field has a fixed position, so a subscriber can check a few bytes and read
//! the values at known offsets.
//!
//! NetworkMessage: UADPFlags 0xB1 (version 1, PublisherId, GroupHeader, ExtendedFlags1),
//! ExtendedFlags1 0x01 (PublisherId UInt16), GroupFlags 0x0F (WriterGroupId, GroupVersion,
//! NetworkMessageNumber, SequenceNumber), no PayloadHeader, one DataSetMessage with
//! DataSetFlags1 0x1B (valid, RawData, SequenceNumber, Status) and RawData fields.

use crate::builtin::BuiltinType;
use crate::cursor::{Reader, Writer};
use crate::dataset_message::{DataSetMessage, DataSetMessageHeader, FieldEncoding, Fields};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::network_message::{GroupHeader, NetworkMessage, Payload, PublisherId};
use crate::variant::Scalar;

const UADP_FLAGS: u8 = 0xB1;
const EXT_FLAGS1: u8 = 0x01;
const GROUP_FLAGS: u8 = 0x0F;
const DATASET_FLAGS1: u8 = 0x1B;

/// Counters that change from message to message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeriodicFixedCounters {
    pub network_message_number: u16,
    pub sequence_number: u16,
    pub dataset_sequence_number: u16,
    pub status: u16,
}

/// A Periodic-Fixed configuration: identities and the RawData field layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodicFixedLayout<'l> {
    pub publisher_id: u16,
    pub writer_group_id: u16,
    pub group_version: u32,
    pub fields: &'l [BuiltinType],
}

/// A decoded Periodic-Fixed message: counters and the RawData field bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodicFixedMessage<'a> {
    pub counters: PeriodicFixedCounters,
    /// The RawData fields, exactly the layout's size (trailing padding excluded).
    pub fields: &'a [u8],
}

impl<'l> PeriodicFixedLayout<'l> {
    /// Bytes before the first RawData field.
    pub const HEADER_LEN: usize = 20;

    /// Size of the RawData fields if every field type has a fixed size.
    pub fn fields_len(&self) -> Option<usize> {
        self.fields
            .iter()
            .try_fold(0usize, |n, t| t.fixed_size().map(|s| n + s))
    }

    /// Size of the whole message if every field type has a fixed size.
    pub fn encoded_len(&self) -> Option<usize> {
        self.fields_len().map(|n| n + Self::HEADER_LEN)
    }

    /// Encodes one message straight into `buf` (no intermediate copies) and returns its length.
    pub fn encode(
        &self,
        buf: &mut [u8],
        counters: PeriodicFixedCounters,
        values: &[Scalar<'_>],
    ) -> Result<usize, EncodeError> {
        if values.len() != self.fields.len() {
            return Err(EncodeError::InvalidValue(
                "a value list whose length differs from the layout",
            ));
        }
        let mut w = Writer::new(buf);
        // The whole header in one copy.
        let mut h = [0u8; Self::HEADER_LEN];
        h[0] = UADP_FLAGS;
        h[1] = EXT_FLAGS1;
        h[2..4].copy_from_slice(&self.publisher_id.to_le_bytes());
        h[4] = GROUP_FLAGS;
        h[5..7].copy_from_slice(&self.writer_group_id.to_le_bytes());
        h[7..11].copy_from_slice(&self.group_version.to_le_bytes());
        h[11..13].copy_from_slice(&counters.network_message_number.to_le_bytes());
        h[13..15].copy_from_slice(&counters.sequence_number.to_le_bytes());
        h[15] = DATASET_FLAGS1;
        h[16..18].copy_from_slice(&counters.dataset_sequence_number.to_le_bytes());
        h[18..20].copy_from_slice(&counters.status.to_le_bytes());
        w.put(&h)?;
        for (index, (v, t)) in values.iter().zip(self.fields).enumerate() {
            if v.builtin_type() != *t {
                return Err(EncodeError::LayoutMismatch {
                    index,
                    expected: *t,
                    found: v.builtin_type(),
                });
            }
            v.encode(&mut w)?;
        }
        Ok(w.position())
    }

    /// The same message as a general [`NetworkMessage`] (for the generic encoder and tests).
    pub fn to_message<'a>(
        &self,
        counters: PeriodicFixedCounters,
        fields: &'a [u8],
    ) -> NetworkMessage<'a> {
        let mut m = NetworkMessage {
            publisher_id: Some(PublisherId::UInt16(self.publisher_id)),
            group_header: Some(GroupHeader {
                writer_group_id: Some(self.writer_group_id),
                group_version: Some(self.group_version),
                network_message_number: Some(counters.network_message_number),
                sequence_number: Some(counters.sequence_number),
            }),
            extended_flags1_present: true,
            ..Default::default()
        };
        let dsm = DataSetMessage {
            writer_id: None,
            header: DataSetMessageHeader {
                valid: true,
                field_encoding: FieldEncoding::RawData,
                sequence_number: Some(counters.dataset_sequence_number),
                status: Some(counters.status),
                ..Default::default()
            },
            fields: Fields {
                count: u16::try_from(self.fields.len()).ok(),
                bytes: fields,
            },
        };
        let mut list = arrayvec::ArrayVec::new();
        list.push(dsm);
        m.payload = Payload::DataSetMessages(list);
        m
    }

    /// Decodes a message of this layout, checking every fixed header byte and identity.
    /// Trailing zero padding is accepted.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Result<PeriodicFixedMessage<'a>, DecodeError> {
        let Some(header) = bytes.get(..Self::HEADER_LEN) else {
            return Err(self.decode_slow(bytes).err().unwrap_or(DecodeError {
                offset: bytes.len(),
                kind: DecodeErrorKind::Truncated {
                    what: "Periodic-Fixed header",
                    needed: Self::HEADER_LEN - bytes.len(),
                },
            }));
        };
        // Fast path: every fixed byte and identity in one comparison.
        let mut want = [0u8; 5];
        want[0] = UADP_FLAGS;
        want[1] = EXT_FLAGS1;
        want[2..4].copy_from_slice(&self.publisher_id.to_le_bytes());
        want[4] = GROUP_FLAGS;
        let wg = self.writer_group_id.to_le_bytes();
        if header[..5] != want || header[5..7] != wg || header[15] != DATASET_FLAGS1 {
            return self.decode_slow(bytes);
        }
        let u16_at = |i: usize| u16::from_le_bytes([header[i], header[i + 1]]);
        let counters = PeriodicFixedCounters {
            network_message_number: u16_at(11),
            sequence_number: u16_at(13),
            dataset_sequence_number: u16_at(16),
            status: u16_at(18),
        };
        let rest = &bytes[Self::HEADER_LEN..];
        // Fixed-size layouts need no per-field walk: their extent is known.
        let fields = match self.fields_len() {
            Some(n) if n <= rest.len() => &rest[..n],
            Some(_) => return self.decode_slow(bytes),
            None => {
                let mut r = Reader::with_base(rest, Self::HEADER_LEN);
                for t in self.fields {
                    Scalar::decode(&mut r, *t)?;
                }
                &rest[..rest.len() - r.remaining()]
            }
        };
        let tail = &rest[fields.len()..];
        if let Some(i) = tail.iter().position(|b| *b != 0) {
            let at = Self::HEADER_LEN + fields.len();
            return Err(DecodeError {
                offset: at + i,
                kind: DecodeErrorKind::TrailingBytes {
                    extra: tail.len() - i,
                },
            });
        }
        Ok(PeriodicFixedMessage { counters, fields })
    }

    /// Byte-by-byte decoding that names the first mismatching field (the error path).
    fn decode_slow<'a>(&self, bytes: &'a [u8]) -> Result<PeriodicFixedMessage<'a>, DecodeError> {
        let mut r = Reader::new(bytes);
        let expect =
            |r: &mut Reader<'a>, what: &'static str, want: u8| -> Result<(), DecodeError> {
                let at = r.offset();
                let got = r.u8(what)?;
                if got == want {
                    Ok(())
                } else {
                    Err(DecodeError {
                        offset: at,
                        kind: DecodeErrorKind::LayoutMismatch {
                            what,
                            expected: want.into(),
                            found: got.into(),
                        },
                    })
                }
            };
        expect(&mut r, "UADPVersion/Flags", UADP_FLAGS)?;
        expect(&mut r, "ExtendedFlags1", EXT_FLAGS1)?;
        let at = r.offset();
        let publisher = r.u16("PublisherId")?;
        if publisher != self.publisher_id {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::LayoutMismatch {
                    what: "PublisherId",
                    expected: self.publisher_id.into(),
                    found: publisher.into(),
                },
            });
        }
        expect(&mut r, "GroupFlags", GROUP_FLAGS)?;
        let at = r.offset();
        let wg = r.u16("WriterGroupId")?;
        if wg != self.writer_group_id {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::LayoutMismatch {
                    what: "WriterGroupId",
                    expected: self.writer_group_id.into(),
                    found: wg.into(),
                },
            });
        }
        let _group_version = r.u32("GroupVersion")?;
        let network_message_number = r.u16("NetworkMessageNumber")?;
        let sequence_number = r.u16("SequenceNumber")?;
        expect(&mut r, "DataSetFlags1", DATASET_FLAGS1)?;
        let dataset_sequence_number = r.u16("DataSetMessage SequenceNumber")?;
        let status = r.u16("DataSetMessage Status")?;
        let fields_at = r.offset();
        let fields_start = r.rest();
        for t in self.fields {
            Scalar::decode(&mut r, *t)?;
        }
        let fields = &fields_start[..r.offset() - fields_at];
        if let Some(i) = r.rest().iter().position(|b| *b != 0) {
            return Err(DecodeError {
                offset: r.offset() + i,
                kind: DecodeErrorKind::TrailingBytes {
                    extra: r.remaining() - i,
                },
            });
        }
        Ok(PeriodicFixedMessage {
            counters: PeriodicFixedCounters {
                network_message_number,
                sequence_number,
                dataset_sequence_number,
                status,
            },
            fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V3: [u8; 36] = [
        0xb1, 0x01, 0xba, 0x08, 0x0f, 0x64, 0x00, 0x78, 0x56, 0x34, 0x12, 0x01, 0x00, 0x07, 0x00,
        0x1b, 0x07, 0x00, 0x00, 0x00, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0,
    ];
    const TYPES: [BuiltinType; 4] = [BuiltinType::UInt32; 4];

    fn layout(publisher_id: u16) -> PeriodicFixedLayout<'static> {
        PeriodicFixedLayout {
            publisher_id,
            writer_group_id: 100,
            group_version: 0x1234_5678,
            fields: &TYPES,
        }
    }

    #[test]
    fn fast_and_slow_paths_agree_on_every_truncation_and_mutation() {
        let l = layout(2234);
        assert_eq!(l.decode(&V3), l.decode_slow(&V3));
        for cut in 0..V3.len() {
            assert_eq!(
                l.decode(&V3[..cut]),
                l.decode_slow(&V3[..cut]),
                "cut at {cut}"
            );
        }
        for i in 0..V3.len() {
            let mut m = V3;
            m[i] ^= 0x41;
            assert_eq!(l.decode(&m), l.decode_slow(&m), "byte {i} changed");
        }
    }

    #[test]
    fn a_foreign_publisher_is_named() {
        let e = layout(1).decode(&V3).unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(matches!(
            e.kind,
            DecodeErrorKind::LayoutMismatch {
                what: "PublisherId",
                ..
            }
        ));
    }
}
