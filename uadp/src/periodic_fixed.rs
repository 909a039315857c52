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
        w.put(&[UADP_FLAGS, EXT_FLAGS1])?;
        w.u16(self.publisher_id)?;
        w.u8(GROUP_FLAGS)?;
        w.u16(self.writer_group_id)?;
        w.u32(self.group_version)?;
        w.u16(counters.network_message_number)?;
        w.u16(counters.sequence_number)?;
        w.u8(DATASET_FLAGS1)?;
        w.u16(counters.dataset_sequence_number)?;
        w.u16(counters.status)?;
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
