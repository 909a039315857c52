//! The UADP-Periodic-Fixed message layout (Part 14 Annex A.2.1): what TSN-style cyclic publishers
//! send. Every header field has a fixed position, so a subscriber can check a few bytes and read
//! the values at known offsets.
//!
//! NetworkMessage: UADPFlags 0xB1 (version 1, PublisherId, GroupHeader, ExtendedFlags1),
//! ExtendedFlags1 0x01 (PublisherId UInt16), GroupFlags 0x0F (WriterGroupId, GroupVersion,
//! NetworkMessageNumber, SequenceNumber), no PayloadHeader, one DataSetMessage with
//! DataSetFlags1 0x1B (valid, RawData, SequenceNumber, Status) and RawData fields.

use crate::builtin::BuiltinType;
use crate::cursor::Reader;
use crate::dataset_message::{DataSetMessage, DataSetMessageHeader, FieldEncoding, Fields};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::network_message::{GroupHeader, NetworkMessage, Payload, PublisherId};
use crate::scalar_io::{layout_fixed_len, write_scalars, Runs};
use crate::variant::{skip_scalar, Scalar};
use crate::view::RawValues;

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
        layout_fixed_len(self.fields)
    }

    /// The layout with its sizes computed once: the codec to keep for a stream of messages
    /// ([`PeriodicFixedLayout::encode`] and [`PeriodicFixedLayout::decode`] prepare on every
    /// call, which walks the whole layout).
    pub fn prepare(&self) -> PeriodicFixedCodec<'l> {
        PeriodicFixedCodec {
            layout: *self,
            fields_len: self.fields_len(),
            runs: Runs::of(self.fields),
        }
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
        encode_message(self, None, buf, counters, values)
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
        // Pushed in place: moving an ArrayVec copies all of its capacity.
        if let Payload::DataSetMessages(list) = &mut m.payload {
            let _ = list.try_push(dsm);
        }
        m
    }

    /// Decodes a message of this layout, checking every fixed header byte and identity.
    /// Trailing zero padding is accepted.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Result<PeriodicFixedMessage<'a>, DecodeError> {
        // Only the size is needed to decode: no runs.
        PeriodicFixedCodec {
            layout: *self,
            fields_len: self.fields_len(),
            runs: None,
        }
        .decode(bytes)
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
            skip_scalar(&mut r, *t)?;
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

/// A [`PeriodicFixedLayout`] prepared once ([`PeriodicFixedLayout::prepare`]): the size of its
/// fields is known, so decoding checks the header in one comparison and the fields' extent in
/// one, whatever the number of fields; encoding checks each value's type and stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodicFixedCodec<'l> {
    layout: PeriodicFixedLayout<'l>,
    /// Size of the RawData fields if every field type has a fixed size.
    fields_len: Option<usize>,
    /// The layout as runs of one type, if it has few.
    runs: Option<Runs>,
}

impl<'l> PeriodicFixedCodec<'l> {
    /// The layout.
    pub fn layout(&self) -> &PeriodicFixedLayout<'l> {
        &self.layout
    }

    /// Size of the RawData fields if every field type has a fixed size.
    pub fn fields_len(&self) -> Option<usize> {
        self.fields_len
    }

    /// Size of the whole message if every field type has a fixed size.
    pub fn encoded_len(&self) -> Option<usize> {
        self.fields_len.map(|n| n + PeriodicFixedLayout::HEADER_LEN)
    }

    /// Encodes one message straight into `buf` and returns its length (the same bytes and
    /// errors as [`PeriodicFixedLayout::encode`]).
    #[inline]
    pub fn encode(
        &self,
        buf: &mut [u8],
        counters: PeriodicFixedCounters,
        values: &[Scalar<'_>],
    ) -> Result<usize, EncodeError> {
        encode_message(&self.layout, self.runs.as_ref(), buf, counters, values)
    }

    /// Decodes a message of this layout, checking every fixed header byte and identity
    /// (the same result as [`PeriodicFixedLayout::decode`]). Trailing zero padding is accepted.
    #[inline]
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Result<PeriodicFixedMessage<'a>, DecodeError> {
        let l = &self.layout;
        const H: usize = PeriodicFixedLayout::HEADER_LEN;
        let Some(header) = bytes.first_chunk::<H>() else {
            return Err(l.decode_slow(bytes).err().unwrap_or(DecodeError {
                offset: bytes.len(),
                kind: DecodeErrorKind::Truncated {
                    what: "Periodic-Fixed header",
                    needed: H - bytes.len(),
                },
            }));
        };
        // Every fixed byte and identity in one comparison.
        let p = l.publisher_id.to_le_bytes();
        let w = l.writer_group_id.to_le_bytes();
        let want = u64::from_le_bytes([
            UADP_FLAGS,
            EXT_FLAGS1,
            p[0],
            p[1],
            GROUP_FLAGS,
            w[0],
            w[1],
            0,
        ]);
        let got = u64::from_le_bytes([
            header[0], header[1], header[2], header[3], header[4], header[5], header[6], 0,
        ]);
        if got != want || header[15] != DATASET_FLAGS1 {
            return l.decode_slow(bytes);
        }
        let u16_at = |i: usize| u16::from_le_bytes([header[i], header[i + 1]]);
        let counters = PeriodicFixedCounters {
            network_message_number: u16_at(11),
            sequence_number: u16_at(13),
            dataset_sequence_number: u16_at(16),
            status: u16_at(18),
        };
        let rest = &bytes[H..];
        let fields = match self.fields_len {
            Some(n) if n <= rest.len() => &rest[..n],
            Some(_) => return l.decode_slow(bytes),
            None => {
                let mut r = Reader::with_base(rest, H);
                for t in l.fields {
                    skip_scalar(&mut r, *t)?;
                }
                &rest[..rest.len() - r.remaining()]
            }
        };
        let tail = &rest[fields.len()..];
        if let Some(i) = tail.iter().position(|b| *b != 0) {
            let at = H + fields.len();
            return Err(DecodeError {
                offset: at + i,
                kind: DecodeErrorKind::TrailingBytes {
                    extra: tail.len() - i,
                },
            });
        }
        Ok(PeriodicFixedMessage { counters, fields })
    }

    /// The field values of a message this codec decoded, in layout order.
    #[inline]
    pub fn values<'a>(&self, message: &PeriodicFixedMessage<'a>) -> RawValues<'a, 'l> {
        RawValues::new(message.fields, self.layout.fields)
    }
}

/// The encoder behind [`PeriodicFixedLayout::encode`] and [`PeriodicFixedCodec::encode`].
#[inline]
fn encode_message(
    l: &PeriodicFixedLayout<'_>,
    runs: Option<&Runs>,
    buf: &mut [u8],
    counters: PeriodicFixedCounters,
    values: &[Scalar<'_>],
) -> Result<usize, EncodeError> {
    if values.len() != l.fields.len() {
        return Err(EncodeError::InvalidValue(
            "a value list whose length differs from the layout",
        ));
    }
    const H: usize = PeriodicFixedLayout::HEADER_LEN;
    let available = buf.len();
    let Some(h) = buf.first_chunk_mut::<H>() else {
        return Err(EncodeError::BufferTooSmall {
            needed: H,
            available,
        });
    };
    // The whole header in one store.
    h[0] = UADP_FLAGS;
    h[1] = EXT_FLAGS1;
    h[2..4].copy_from_slice(&l.publisher_id.to_le_bytes());
    h[4] = GROUP_FLAGS;
    h[5..7].copy_from_slice(&l.writer_group_id.to_le_bytes());
    h[7..11].copy_from_slice(&l.group_version.to_le_bytes());
    h[11..13].copy_from_slice(&counters.network_message_number.to_le_bytes());
    h[13..15].copy_from_slice(&counters.sequence_number.to_le_bytes());
    h[15] = DATASET_FLAGS1;
    h[16..18].copy_from_slice(&counters.dataset_sequence_number.to_le_bytes());
    h[18..20].copy_from_slice(&counters.status.to_le_bytes());
    let mut pos = H;
    match runs {
        Some(runs) => runs.write(buf, &mut pos, values)?,
        None => write_scalars(buf, &mut pos, values, Some((l.fields, 0)))?,
    }
    Ok(pos)
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
