//! The UADP NetworkMessage (Part 14 §7.2.4.4 / §7.2.2.2): headers, payload and security trailer.

use arrayvec::ArrayVec;

use crate::builtin::{BuiltinType, DateTime, Guid, UaBytes};
use crate::cursor::{Reader, Writer};
use crate::dataset_message::DataSetMessage;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError, Unsupported};
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
// The DataSetMessages live inline (no Box) so that decoding never allocates.
#[allow(clippy::large_enum_variant)]
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
    fn layout_for(&self, writer_id: Option<u16>) -> Option<&'l [BuiltinType]> {
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

impl<'a> NetworkMessage<'a> {
    /// Decodes a NetworkMessage. RawData DataSetMessages are kept as bytes (see
    /// [`NetworkMessage::decode_with`] to give their layout).
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::decode_with(bytes, &DecodeOptions::default())
    }

    /// Decodes a NetworkMessage with options (RawData layouts).
    pub fn decode_with(bytes: &'a [u8], options: &DecodeOptions<'_>) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let mut m = NetworkMessage::default();

        let flags = r.u8("UADPVersion/Flags")?;
        if flags & 0x0F != UADP_VERSION {
            return Err(DecodeError {
                offset: 0,
                kind: DecodeErrorKind::UnsupportedVersion(flags & 0x0F),
            });
        }
        let mut ext1 = 0u8;
        let mut ext2 = 0u8;
        if flags & 0x80 != 0 {
            let at = r.offset();
            ext1 = r.u8("ExtendedFlags1")?;
            m.extended_flags1_present = true;
            if ext1 & 0x07 > 4 {
                return Err(DecodeError {
                    offset: at,
                    kind: DecodeErrorKind::ReservedPublisherIdType(ext1 & 0x07),
                });
            }
            if ext1 & 0x80 != 0 {
                let at = r.offset();
                ext2 = r.u8("ExtendedFlags2")?;
                m.extended_flags2_present = true;
                if ext2 & 0x01 != 0 {
                    return Err(DecodeError {
                        offset: at,
                        kind: DecodeErrorKind::Unsupported(Unsupported::Chunk),
                    });
                }
                if ext2 & 0xE0 != 0 {
                    return Err(DecodeError {
                        offset: at,
                        kind: DecodeErrorKind::ReservedBits {
                            field: "ExtendedFlags2",
                            value: ext2 & 0xE0,
                        },
                    });
                }
                let unsupported = match (ext2 >> 2) & 0x07 {
                    0 => None,
                    1 => Some(Unsupported::DiscoveryRequest),
                    2 => Some(Unsupported::DiscoveryResponse),
                    t => Some(Unsupported::ReservedNetworkMessageType(t)),
                };
                if let Some(u) = unsupported {
                    return Err(DecodeError {
                        offset: at,
                        kind: DecodeErrorKind::Unsupported(u),
                    });
                }
            }
        }

        if flags & 0x10 != 0 {
            m.publisher_id = Some(match ext1 & 0x07 {
                0 => PublisherId::Byte(r.u8("PublisherId")?),
                1 => PublisherId::UInt16(r.u16("PublisherId")?),
                2 => PublisherId::UInt32(r.u32("PublisherId")?),
                3 => PublisherId::UInt64(r.u64("PublisherId")?),
                _ => PublisherId::String(UaBytes::decode(&mut r, "PublisherId")?),
            });
        }
        if ext1 & 0x08 != 0 {
            m.dataset_class_id = Some(Guid::decode(&mut r)?);
        }
        if flags & 0x20 != 0 {
            let at = r.offset();
            let gf = r.u8("GroupFlags")?;
            if gf & 0xF0 != 0 {
                return Err(DecodeError {
                    offset: at,
                    kind: DecodeErrorKind::ReservedBits {
                        field: "GroupFlags",
                        value: gf & 0xF0,
                    },
                });
            }
            let mut g = GroupHeader::default();
            if gf & 0x01 != 0 {
                g.writer_group_id = Some(r.u16("WriterGroupId")?);
            }
            if gf & 0x02 != 0 {
                g.group_version = Some(r.u32("GroupVersion")?);
            }
            if gf & 0x04 != 0 {
                g.network_message_number = Some(r.u16("NetworkMessageNumber")?);
            }
            if gf & 0x08 != 0 {
                g.sequence_number = Some(r.u16("SequenceNumber")?);
            }
            m.group_header = Some(g);
        }
        let mut writer_ids: &[u8] = &[];
        let mut count = 1usize;
        if flags & 0x40 != 0 {
            m.payload_header = true;
            let at = r.offset();
            let c = r.u8("PayloadHeader Count")?;
            if c == 0 {
                return Err(DecodeError {
                    offset: at,
                    kind: DecodeErrorKind::NoDataSetMessages,
                });
            }
            if usize::from(c) > MAX_DATASET_MESSAGES {
                return Err(DecodeError {
                    offset: at,
                    kind: DecodeErrorKind::TooManyDataSetMessages(c),
                });
            }
            count = usize::from(c);
            writer_ids = r.take(count * 2, "DataSetWriterIds")?;
        }
        if ext1 & 0x20 != 0 {
            m.timestamp = Some(DateTime(r.i64("Timestamp")?));
        }
        if ext1 & 0x40 != 0 {
            m.picoseconds = Some(r.u16("PicoSeconds")?);
        }
        if ext2 & 0x02 != 0 {
            let at = r.offset();
            let size = usize::from(r.u16("PromotedFields Size")?);
            let body_at = r.offset();
            let body = r.take(size, "PromotedFields")?;
            let mut pr = Reader::with_base(body, body_at);
            while pr.remaining() > 0 {
                Variant::decode(&mut pr).map_err(|e| match e.kind {
                    DecodeErrorKind::Truncated { .. } => DecodeError {
                        offset: at,
                        kind: DecodeErrorKind::PromotedFieldsSize { declared: size },
                    },
                    _ => e,
                })?;
            }
            m.promoted_fields = Some(PromotedFields { bytes: body });
        }
        if ext1 & 0x10 != 0 {
            let at = r.offset();
            let sf = r.u8("SecurityFlags")?;
            if sf & 0xF0 != 0 {
                return Err(DecodeError {
                    offset: at,
                    kind: DecodeErrorKind::ReservedBits {
                        field: "SecurityFlags",
                        value: sf & 0xF0,
                    },
                });
            }
            let token = r.u32("SecurityTokenId")?;
            let nonce_len = usize::from(r.u8("NonceLength")?);
            let nonce = r.take(nonce_len, "MessageNonce")?;
            let footer_size = if sf & 0x04 != 0 {
                Some(r.u16("SecurityFooterSize")?)
            } else {
                None
            };
            let sec = SecurityHeader {
                signed: sf & 0x01 != 0,
                encrypted: sf & 0x02 != 0,
                force_key_reset: sf & 0x08 != 0,
                security_token_id: token,
                message_nonce: nonce,
                footer_size,
            };
            m.security = Some(sec);
            if sec.encrypted {
                m.payload = Payload::Encrypted {
                    writer_ids,
                    bytes: r.take(r.remaining(), "payload")?,
                };
                return Ok(m);
            }
        }

        let mut messages = ArrayVec::new();
        let writer_id = |i: usize| -> Option<u16> {
            writer_ids
                .get(i * 2..i * 2 + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
        };
        if count > 1 {
            // Read the sizes one by one so that a zero size is reported as such, even when the
            // rest of the array is missing.
            let sizes_reader = r.clone();
            for i in 0..count {
                let at = r.offset();
                if r.u16("DataSetMessage Sizes")? == 0 {
                    return Err(DecodeError {
                        offset: at,
                        kind: DecodeErrorKind::ZeroDataSetMessageSize { index: i as u8 },
                    });
                }
            }
            let sizes = sizes_reader.rest();
            for i in 0..count {
                let size = usize::from(u16::from_le_bytes([sizes[i * 2], sizes[i * 2 + 1]]));
                let at = r.offset();
                if size > r.remaining() {
                    return Err(DecodeError {
                        offset: at,
                        kind: DecodeErrorKind::DataSetMessageOverrun {
                            index: i as u8,
                            declared: size,
                            available: r.remaining(),
                        },
                    });
                }
                let region = r.take(size, "DataSetMessage")?;
                let mut dr = Reader::with_base(region, at);
                let id = writer_id(i);
                let dsm = DataSetMessage::decode(&mut dr, id, options.layout_for(id))?;
                if dr.rest().iter().any(|b| *b != 0) {
                    return Err(dr.error(DecodeErrorKind::DataSetMessageTrailingBytes {
                        index: i as u8,
                        extra: dr.remaining(),
                    }));
                }
                messages.push(dsm);
            }
        } else {
            let id = writer_id(0);
            messages.push(DataSetMessage::decode(&mut r, id, options.layout_for(id))?);
        }
        m.payload = Payload::DataSetMessages(messages);
        if m.security.is_some() {
            m.security_trailer = r.rest();
        } else {
            m.padding = trailing_zeros_or_error(r.rest(), r.offset())?;
        }
        Ok(m)
    }

    /// The DataSetMessages (empty for an encrypted payload).
    pub fn dataset_messages(&self) -> &[DataSetMessage<'a>] {
        match &self.payload {
            Payload::DataSetMessages(v) => v,
            Payload::Encrypted { .. } => &[],
        }
    }

    fn ext2_needed(&self) -> bool {
        self.promoted_fields.is_some()
    }

    fn ext1_needed(&self) -> bool {
        self.publisher_id.is_some_and(|p| p.type_bits() != 0)
            || self.dataset_class_id.is_some()
            || self.security.is_some()
            || self.timestamp.is_some()
            || self.picoseconds.is_some()
            || self.ext2_needed()
            || self.extended_flags2_present
    }

    /// Encodes into `buf` and returns the number of bytes written. Never allocates.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(buf);
        let ext2 = self.ext2_needed() || self.extended_flags2_present;
        let ext1 = self.ext1_needed() || self.extended_flags1_present;
        w.u8(UADP_VERSION
            | u8::from(self.publisher_id.is_some()) << 4
            | u8::from(self.group_header.is_some()) << 5
            | u8::from(self.payload_header) << 6
            | u8::from(ext1) << 7)?;
        if ext1 {
            w.u8(self.publisher_id.map_or(0, |p| p.type_bits())
                | u8::from(self.dataset_class_id.is_some()) << 3
                | u8::from(self.security.is_some()) << 4
                | u8::from(self.timestamp.is_some()) << 5
                | u8::from(self.picoseconds.is_some()) << 6
                | u8::from(ext2) << 7)?;
        }
        if ext2 {
            w.u8(u8::from(self.promoted_fields.is_some()) << 1)?;
        }
        match self.publisher_id {
            None => {}
            Some(PublisherId::Byte(v)) => w.u8(v)?,
            Some(PublisherId::UInt16(v)) => w.u16(v)?,
            Some(PublisherId::UInt32(v)) => w.u32(v)?,
            Some(PublisherId::UInt64(v)) => w.u64(v)?,
            Some(PublisherId::String(s)) => s.encode(&mut w, "PublisherId")?,
        }
        if let Some(g) = &self.dataset_class_id {
            g.encode(&mut w)?;
        }
        if let Some(g) = &self.group_header {
            w.u8(g.flags())?;
            if let Some(v) = g.writer_group_id {
                w.u16(v)?;
            }
            if let Some(v) = g.group_version {
                w.u32(v)?;
            }
            if let Some(v) = g.network_message_number {
                w.u16(v)?;
            }
            if let Some(v) = g.sequence_number {
                w.u16(v)?;
            }
        }
        let messages = self.dataset_messages();
        if self.payload_header {
            match self.payload {
                Payload::DataSetMessages(_) => {
                    if messages.is_empty() {
                        return Err(EncodeError::NoDataSetMessages);
                    }
                    // ArrayVec caps the length at MAX_DATASET_MESSAGES, which fits a Byte.
                    w.u8(messages.len() as u8)?;
                    for (i, d) in messages.iter().enumerate() {
                        w.u16(d.writer_id.ok_or(EncodeError::MissingWriterId(i))?)?;
                    }
                }
                Payload::Encrypted { writer_ids, .. } => {
                    let n = writer_ids.len() / 2;
                    if n == 0 || n > MAX_DATASET_MESSAGES || writer_ids.len() % 2 != 0 {
                        return Err(EncodeError::InvalidValue("encrypted payload writer ids"));
                    }
                    w.u8(n as u8)?;
                    w.put(writer_ids)?;
                }
            }
        }
        if let Some(t) = self.timestamp {
            w.i64(t.0)?;
        }
        if let Some(p) = self.picoseconds {
            w.u16(p)?;
        }
        if let Some(p) = &self.promoted_fields {
            let len = u16::try_from(p.bytes.len()).map_err(|_| EncodeError::TooLong {
                what: "PromotedFields",
                len: p.bytes.len(),
                max: u16::MAX as usize,
            })?;
            w.u16(len)?;
            w.put(p.bytes)?;
        }
        if let Some(s) = &self.security {
            w.u8(u8::from(s.signed)
                | u8::from(s.encrypted) << 1
                | u8::from(s.footer_size.is_some()) << 2
                | u8::from(s.force_key_reset) << 3)?;
            w.u32(s.security_token_id)?;
            let nonce_len =
                u8::try_from(s.message_nonce.len()).map_err(|_| EncodeError::TooLong {
                    what: "MessageNonce",
                    len: s.message_nonce.len(),
                    max: 255,
                })?;
            w.u8(nonce_len)?;
            w.put(s.message_nonce)?;
            if let Some(f) = s.footer_size {
                w.u16(f)?;
            }
        }
        match &self.payload {
            Payload::Encrypted { bytes, .. } => w.put(bytes)?,
            Payload::DataSetMessages(_) => {
                if messages.is_empty() {
                    return Err(EncodeError::NoDataSetMessages);
                }
                if !self.payload_header && messages.len() != 1 {
                    return Err(EncodeError::PayloadHeaderRequired(messages.len()));
                }
                if messages.len() > 1 {
                    let sizes_at = w.reserve(messages.len() * 2)?;
                    for (i, d) in messages.iter().enumerate() {
                        let start = w.position();
                        d.encode(&mut w)?;
                        let size = w.position() - start;
                        let size16 = u16::try_from(size)
                            .map_err(|_| EncodeError::DataSetMessageTooLarge { index: i, size })?;
                        w.patch(sizes_at + i * 2, &size16.to_le_bytes());
                    }
                } else {
                    messages[0].encode(&mut w)?;
                }
            }
        }
        if self.security.is_some() {
            w.put(self.security_trailer)?;
        }
        Ok(w.position())
    }
}
