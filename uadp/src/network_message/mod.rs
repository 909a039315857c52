//! The UADP NetworkMessage (Part 14 §7.2.4.4 / §7.2.2.2): headers, payload and security trailer.

use arrayvec::ArrayVec;

use crate::builtin::{BuiltinType, DateTime, Guid, UaBytes};
use crate::cursor::{Reader, Writer};
use crate::dataset_message::DataSetMessage;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::variant::Variant;
use crate::MAX_DATASET_MESSAGES;

/// The UADP version this codec speaks.
pub const UADP_VERSION: u8 = 1;

/// PublisherId, of any of the types ExtendedFlags1 can announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublisherId<'a> {
    Byte(u8),
    UInt16(u16),
    UInt32(u32),
    UInt64(u64),
    String(UaBytes<'a>),
}

impl PublisherId<'_> {
    fn type_bits(&self) -> u8 {
        match self {
            PublisherId::Byte(_) => 0,
            PublisherId::UInt16(_) => 1,
            PublisherId::UInt32(_) => 2,
            PublisherId::UInt64(_) => 3,
            PublisherId::String(_) => 4,
        }
    }

    /// The id as an unsigned number, for the numeric types.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            PublisherId::Byte(v) => Some(v.into()),
            PublisherId::UInt16(v) => Some(v.into()),
            PublisherId::UInt32(v) => Some(v.into()),
            PublisherId::UInt64(v) => Some(v),
            PublisherId::String(_) => None,
        }
    }
}

/// GroupHeader: each field is present on the wire iff `Some` (GroupFlags bits 0–3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupHeader {
    pub writer_group_id: Option<u16>,
    pub group_version: Option<u32>,
    pub network_message_number: Option<u16>,
    pub sequence_number: Option<u16>,
}

impl GroupHeader {
    fn flags(&self) -> u8 {
        u8::from(self.writer_group_id.is_some())
            | u8::from(self.group_version.is_some()) << 1
            | u8::from(self.network_message_number.is_some()) << 2
            | u8::from(self.sequence_number.is_some()) << 3
    }
}

/// SecurityHeader, parsed and exposed; this codec performs no cryptography.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SecurityHeader<'a> {
    pub signed: bool,
    pub encrypted: bool,
    pub force_key_reset: bool,
    pub security_token_id: u32,
    pub message_nonce: &'a [u8],
    /// SecurityFooterSize, present iff the footer flag is set.
    pub footer_size: Option<u16>,
}

/// PromotedFields, borrowed in encoded form; iterate with [`PromotedFields::values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PromotedFields<'a> {
    /// The encoded Variants (after the Size field).
    pub bytes: &'a [u8],
}

impl<'a> PromotedFields<'a> {
    /// Encodes `values` into `scratch` and borrows it.
    pub fn encode_from(values: &[Variant<'_>], scratch: &'a mut [u8]) -> Result<Self, EncodeError> {
        let mut w = Writer::new(scratch);
        for v in values {
            v.encode(&mut w)?;
        }
        Ok(PromotedFields {
            bytes: w.into_written(),
        })
    }

    /// The promoted field values.
    pub fn values(&self) -> impl Iterator<Item = Result<Variant<'a>, DecodeError>> + 'a {
        let mut r = Reader::new(self.bytes);
        let mut failed = false;
        core::iter::from_fn(move || {
            if failed || r.remaining() == 0 {
                return None;
            }
            let v = Variant::decode(&mut r);
            failed = v.is_err();
            Some(v)
        })
    }
}

/// The payload: DataSetMessages, or the opaque bytes of an encrypted payload.
#[allow(
    clippy::large_enum_variant,
    reason = "the DataSetMessages live inline (no Box) so that decoding never allocates"
)]
#[derive(Debug, Clone, PartialEq)]
pub enum Payload<'a> {
    DataSetMessages(ArrayVec<DataSetMessage<'a>, MAX_DATASET_MESSAGES>),
    /// An encrypted payload, undecoded.
    Encrypted {
        /// The DataSetWriterIds of the PayloadHeader (UInt16 each), which are not encrypted.
        writer_ids: &'a [u8],
        /// Everything after the SecurityHeader.
        bytes: &'a [u8],
    },
}

impl Default for Payload<'_> {
    fn default() -> Self {
        Payload::DataSetMessages(ArrayVec::new())
    }
}

/// A UADP NetworkMessage. Optional headers are present on the wire iff `Some`/`true`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetworkMessage<'a> {
    pub publisher_id: Option<PublisherId<'a>>,
    pub dataset_class_id: Option<Guid>,
    pub group_header: Option<GroupHeader>,
    /// PayloadHeader enabled: the DataSetWriterIds of the messages are on the wire.
    pub payload_header: bool,
    pub timestamp: Option<DateTime>,
    pub picoseconds: Option<u16>,
    pub promoted_fields: Option<PromotedFields<'a>>,
    pub security: Option<SecurityHeader<'a>>,
    pub payload: Payload<'a>,
    /// SecurityFooter and Signature bytes after the payload (only with a SecurityHeader).
    pub security_trailer: &'a [u8],
    /// Write ExtendedFlags1 even when all its bits are zero (it always is when needed).
    pub extended_flags1_present: bool,
    /// Write ExtendedFlags2 even when all its bits are zero (it always is when needed).
    pub extended_flags2_present: bool,
    /// Decoding only: zero bytes that followed the last DataSetMessage (e.g. Ethernet padding).
    /// Not written by the encoder.
    pub padding: usize,
}

/// Options for decoding.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecodeOptions<'l> {
    /// RawData field layout for every DataSetMessage without a writer-specific one.
    pub raw_layout: Option<&'l [BuiltinType]>,
    /// RawData field layouts by DataSetWriterId.
    pub raw_layouts_by_writer: &'l [(u16, &'l [BuiltinType])],
}

impl<'l> DecodeOptions<'l> {
    pub(crate) fn layout_for(&self, writer_id: Option<u16>) -> Option<&'l [BuiltinType]> {
        writer_id
            .and_then(|id| {
                self.raw_layouts_by_writer
                    .iter()
                    .find(|(w, _)| *w == id)
                    .map(|(_, l)| *l)
            })
            .or(self.raw_layout)
    }
}

fn trailing_zeros_or_error(rest: &[u8], offset: usize) -> Result<usize, DecodeError> {
    match rest.iter().position(|b| *b != 0) {
        None => Ok(rest.len()),
        Some(i) => Err(DecodeError {
            offset: offset + i,
            kind: DecodeErrorKind::TrailingBytes {
                extra: rest.len() - i,
            },
        }),
    }
}

/// Everything of a NetworkMessage before its payload (the fields [`NetworkMessage`] has too).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NetworkMessageHeader<'a> {
    pub publisher_id: Option<PublisherId<'a>>,
    pub dataset_class_id: Option<Guid>,
    pub group_header: Option<GroupHeader>,
    /// PayloadHeader enabled: the DataSetWriterIds of the messages are on the wire.
    pub payload_header: bool,
    pub timestamp: Option<DateTime>,
    pub picoseconds: Option<u16>,
    pub promoted_fields: Option<PromotedFields<'a>>,
    pub security: Option<SecurityHeader<'a>>,
    /// ExtendedFlags1 was on the wire.
    pub extended_flags1_present: bool,
    /// ExtendedFlags2 was on the wire.
    pub extended_flags2_present: bool,
}

mod codec;
mod encode;
mod head;
pub(crate) use codec::{decode_parts, Parts};
pub(crate) use head::HeadLayout;
