//! The UADP NetworkMessage (Part 14 §7.2.4.4 / §7.2.2.2): headers, payload and security trailer.

use arrayvec::ArrayVec;

use crate::builtin::{BuiltinType, DateTime, Guid, UaBytes};
use crate::cursor::{Reader, Writer};
use crate::dataset_message::{DataSetMessage, DsmLayout, FieldsWriter};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError, Unsupported};
use crate::scalar_io::{read_scalar, read_u16, read_u32, read_u64};
use crate::variant::{skip_variant, Variant};
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

/// Where the parts of a validated NetworkMessage header are: its flags and the offset of each
/// optional part (offsets fit in `u32`: a header is at most a 2 GiB PublisherId plus a few
/// hundred bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct HeadLayout {
    pub(crate) flags: u8,
    pub(crate) ext1: u8,
    pub(crate) ext2: u8,
    pub(crate) ext1_present: bool,
    pub(crate) ext2_present: bool,
    pub(crate) group_flags: u8,
    pub(crate) security_flags: u8,
    /// DataSetMessages announced (1 without a PayloadHeader).
    pub(crate) count: u8,
    pub(crate) publisher: u32,
    pub(crate) class_id: u32,
    /// The first group field after GroupFlags.
    pub(crate) group: u32,
    /// The DataSetWriterIds (after the Count).
    pub(crate) writer_ids: u32,
    pub(crate) timestamp: u32,
    pub(crate) picoseconds: u32,
    /// The PromotedFields body (after the Size), and its size.
    pub(crate) promoted: u32,
    pub(crate) promoted_len: u16,
    /// SecurityTokenId (after the SecurityFlags).
    pub(crate) security: u32,
    /// The first byte after the headers.
    pub(crate) payload: u32,
}

impl HeadLayout {
    /// Validates the headers up to the payload and records where each part is.
    #[inline]
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut h = HeadLayout {
            count: 1,
            ..Default::default()
        };
        let at = |r: &Reader<'_>| r.offset() as u32;
        let flags = r.u8("UADPVersion/Flags")?;
        h.flags = flags;
        if flags & 0x0F != UADP_VERSION {
            return Err(DecodeError {
                offset: 0,
                kind: DecodeErrorKind::UnsupportedVersion(flags & 0x0F),
            });
        }
        if flags & 0x80 != 0 {
            let o = r.offset();
            let ext1 = r.u8("ExtendedFlags1")?;
            h.ext1 = ext1;
            h.ext1_present = true;
            if ext1 & 0x07 > 4 {
                return Err(DecodeError {
                    offset: o,
                    kind: DecodeErrorKind::ReservedPublisherIdType(ext1 & 0x07),
                });
            }
            if ext1 & 0x80 != 0 {
                let o = r.offset();
                let ext2 = r.u8("ExtendedFlags2")?;
                h.ext2 = ext2;
                h.ext2_present = true;
                if ext2 & 0x01 != 0 {
                    return Err(DecodeError {
                        offset: o,
                        kind: DecodeErrorKind::Unsupported(Unsupported::Chunk),
                    });
                }
                if ext2 & 0xE0 != 0 {
                    return Err(DecodeError {
                        offset: o,
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
                        offset: o,
                        kind: DecodeErrorKind::Unsupported(u),
                    });
                }
            }
        }
        let (ext1, ext2) = (h.ext1, h.ext2);
        if flags & 0x10 != 0 {
            h.publisher = at(r);
            match ext1 & 0x07 {
                0 => r.take(1, "PublisherId")?,
                1 => r.take(2, "PublisherId")?,
                2 => r.take(4, "PublisherId")?,
                3 => r.take(8, "PublisherId")?,
                _ => UaBytes::decode(r, "PublisherId")?.0.unwrap_or(&[]),
            };
        }
        if ext1 & 0x08 != 0 {
            h.class_id = at(r);
            r.take(16, "Guid")?;
        }
        if flags & 0x20 != 0 {
            let o = r.offset();
            let gf = r.u8("GroupFlags")?;
            if gf & 0xF0 != 0 {
                return Err(DecodeError {
                    offset: o,
                    kind: DecodeErrorKind::ReservedBits {
                        field: "GroupFlags",
                        value: gf & 0xF0,
                    },
                });
            }
            h.group_flags = gf;
            h.group = at(r);
            if gf & 0x01 != 0 {
                r.take(2, "WriterGroupId")?;
            }
            if gf & 0x02 != 0 {
                r.take(4, "GroupVersion")?;
            }
            if gf & 0x04 != 0 {
                r.take(2, "NetworkMessageNumber")?;
            }
            if gf & 0x08 != 0 {
                r.take(2, "SequenceNumber")?;
            }
        }
        if flags & 0x40 != 0 {
            let o = r.offset();
            let c = r.u8("PayloadHeader Count")?;
            if c == 0 {
                return Err(DecodeError {
                    offset: o,
                    kind: DecodeErrorKind::NoDataSetMessages,
                });
            }
            if usize::from(c) > MAX_DATASET_MESSAGES {
                return Err(DecodeError {
                    offset: o,
                    kind: DecodeErrorKind::TooManyDataSetMessages(c),
                });
            }
            h.count = c;
            h.writer_ids = at(r);
            r.take(usize::from(c) * 2, "DataSetWriterIds")?;
        }
        if ext1 & 0x20 != 0 {
            h.timestamp = at(r);
            r.take(8, "Timestamp")?;
        }
        if ext1 & 0x40 != 0 {
            h.picoseconds = at(r);
            r.take(2, "PicoSeconds")?;
        }
        if ext2 & 0x02 != 0 {
            let o = r.offset();
            let size = r.u16("PromotedFields Size")?;
            let body_at = r.offset();
            h.promoted = body_at as u32;
            h.promoted_len = size;
            let size = usize::from(size);
            let body = r.take(size, "PromotedFields")?;
            let mut pr = Reader::with_base(body, body_at);
            while pr.remaining() > 0 {
                skip_variant(&mut pr).map_err(|e| match e.kind {
                    DecodeErrorKind::Truncated { .. } => DecodeError {
                        offset: o,
                        kind: DecodeErrorKind::PromotedFieldsSize { declared: size },
                    },
                    _ => e,
                })?;
            }
        }
        if ext1 & 0x10 != 0 {
            let o = r.offset();
            let sf = r.u8("SecurityFlags")?;
            if sf & 0xF0 != 0 {
                return Err(DecodeError {
                    offset: o,
                    kind: DecodeErrorKind::ReservedBits {
                        field: "SecurityFlags",
                        value: sf & 0xF0,
                    },
                });
            }
            h.security_flags = sf;
            h.security = at(r);
            r.u32("SecurityTokenId")?;
            let nonce_len = usize::from(r.u8("NonceLength")?);
            r.take(nonce_len, "MessageNonce")?;
            if sf & 0x04 != 0 {
                r.u16("SecurityFooterSize")?;
            }
        }
        h.payload = at(r);
        Ok(h)
    }

    pub(crate) fn encrypted(&self) -> bool {
        self.ext1 & 0x10 != 0 && self.security_flags & 0x02 != 0
    }

    pub(crate) fn secured(&self) -> bool {
        self.ext1 & 0x10 != 0
    }

    pub(crate) fn payload_header(&self) -> bool {
        self.flags & 0x40 != 0
    }

    pub(crate) fn writer_ids<'a>(&self, b: &'a [u8]) -> &'a [u8] {
        if !self.payload_header() {
            return &[];
        }
        let at = self.writer_ids as usize;
        b.get(at..at + usize::from(self.count) * 2).unwrap_or(&[])
    }

    #[inline]
    pub(crate) fn writer_id(&self, b: &[u8], i: usize) -> Option<u16> {
        if !self.payload_header() {
            return None;
        }
        read_u16(b, &mut (self.writer_ids as usize + i * 2))
    }

    #[inline]
    pub(crate) fn publisher_id<'a>(&self, b: &'a [u8]) -> Option<PublisherId<'a>> {
        if self.flags & 0x10 == 0 {
            return None;
        }
        let mut p = self.publisher as usize;
        Some(match self.ext1 & 0x07 {
            0 => PublisherId::Byte(*b.get(p)?),
            1 => PublisherId::UInt16(read_u16(b, &mut p)?),
            2 => PublisherId::UInt32(read_u32(b, &mut p)?),
            3 => PublisherId::UInt64(read_u64(b, &mut p)?),
            _ => match read_scalar(b, &mut p, BuiltinType::String)? {
                crate::variant::Scalar::String(s) => PublisherId::String(s),
                _ => return None,
            },
        })
    }

    pub(crate) fn dataset_class_id(&self, b: &[u8]) -> Option<Guid> {
        if self.ext1 & 0x08 == 0 {
            return None;
        }
        let at = self.class_id as usize;
        Some(Guid::from_wire(*b.get(at..)?.first_chunk::<16>()?))
    }

    #[inline]
    pub(crate) fn group_header(&self, b: &[u8]) -> Option<GroupHeader> {
        if self.flags & 0x20 == 0 {
            return None;
        }
        let gf = self.group_flags;
        let mut p = self.group as usize;
        let mut g = GroupHeader::default();
        if gf & 0x01 != 0 {
            g.writer_group_id = Some(read_u16(b, &mut p)?);
        }
        if gf & 0x02 != 0 {
            g.group_version = Some(read_u32(b, &mut p)?);
        }
        if gf & 0x04 != 0 {
            g.network_message_number = Some(read_u16(b, &mut p)?);
        }
        if gf & 0x08 != 0 {
            g.sequence_number = Some(read_u16(b, &mut p)?);
        }
        Some(g)
    }

    pub(crate) fn timestamp(&self, b: &[u8]) -> Option<DateTime> {
        if self.ext1 & 0x20 == 0 {
            return None;
        }
        read_u64(b, &mut (self.timestamp as usize)).map(|t| DateTime(t as i64))
    }

    pub(crate) fn picoseconds(&self, b: &[u8]) -> Option<u16> {
        if self.ext1 & 0x40 == 0 {
            return None;
        }
        read_u16(b, &mut (self.picoseconds as usize))
    }

    pub(crate) fn promoted_fields<'a>(&self, b: &'a [u8]) -> Option<PromotedFields<'a>> {
        if self.ext2 & 0x02 == 0 {
            return None;
        }
        let at = self.promoted as usize;
        let bytes = b.get(at..at + usize::from(self.promoted_len))?;
        Some(PromotedFields { bytes })
    }

    pub(crate) fn security<'a>(&self, b: &'a [u8]) -> Option<SecurityHeader<'a>> {
        if !self.secured() {
            return None;
        }
        let sf = self.security_flags;
        let mut p = self.security as usize;
        let token = read_u32(b, &mut p)?;
        let nonce_len = usize::from(*b.get(p)?);
        let nonce = b.get(p + 1..p + 1 + nonce_len)?;
        p += 1 + nonce_len;
        let footer_size = if sf & 0x04 != 0 {
            Some(read_u16(b, &mut p)?)
        } else {
            None
        };
        Some(SecurityHeader {
            signed: sf & 0x01 != 0,
            encrypted: sf & 0x02 != 0,
            force_key_reset: sf & 0x08 != 0,
            security_token_id: token,
            message_nonce: nonce,
            footer_size,
        })
    }

    pub(crate) fn header<'a>(&self, b: &'a [u8]) -> NetworkMessageHeader<'a> {
        NetworkMessageHeader {
            publisher_id: self.publisher_id(b),
            dataset_class_id: self.dataset_class_id(b),
            group_header: self.group_header(b),
            payload_header: self.payload_header(),
            timestamp: self.timestamp(b),
            picoseconds: self.picoseconds(b),
            promoted_fields: self.promoted_fields(b),
            security: self.security(b),
            extended_flags1_present: self.ext1_present,
            extended_flags2_present: self.ext2_present,
        }
    }
}

/// A validated NetworkMessage apart from its DataSetMessages, which [`decode_parts`] hands to a
/// callback one by one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parts {
    pub(crate) head: HeadLayout,
    /// End of the last DataSetMessage (of the whole input for an encrypted payload).
    pub(crate) payload_end: usize,
    /// The parts of a single DataSetMessage (unset with several or an encrypted payload).
    pub(crate) first: DsmLayout,
}

/// Decodes and validates a whole NetworkMessage. With `BUILD`, each DataSetMessage goes to
/// `on_dsm(index, message)` as soon as it is validated.
#[inline]
pub(crate) fn decode_parts<'a, const BUILD: bool>(
    bytes: &'a [u8],
    options: &DecodeOptions<'_>,
    mut on_dsm: impl FnMut(usize, DataSetMessage<'a>),
) -> Result<Parts, DecodeError> {
    let mut r = Reader::new(bytes);
    let head = HeadLayout::decode(&mut r)?;
    if head.encrypted() {
        return Ok(Parts {
            head,
            payload_end: bytes.len(),
            first: DsmLayout::default(),
        });
    }
    let count = usize::from(head.count);
    let mut first = DsmLayout::default();
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
            let id = head.writer_id(bytes, i);
            let dl = DataSetMessage::validate(&mut dr, options.layout_for(id))?;
            if dr.rest().iter().any(|b| *b != 0) {
                return Err(dr.error(DecodeErrorKind::DataSetMessageTrailingBytes {
                    index: i as u8,
                    extra: dr.remaining(),
                }));
            }
            if BUILD {
                on_dsm(i, dl.message(region, id));
            }
        }
    } else {
        let id = head.writer_id(bytes, 0);
        let start = r.rest();
        first = DataSetMessage::validate(&mut r, options.layout_for(id))?;
        if BUILD {
            on_dsm(0, first.message(start, id));
        }
    }
    let payload_end = r.offset();
    if !head.secured() {
        trailing_zeros_or_error(r.rest(), r.offset())?;
    }
    Ok(Parts {
        head,
        payload_end,
        first,
    })
}

impl<'a> NetworkMessage<'a> {
    /// Decodes a NetworkMessage. RawData DataSetMessages are kept as bytes (see
    /// [`NetworkMessage::decode_with`] to give their layout).
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::decode_with(bytes, &DecodeOptions::default())
    }

    /// Decodes a NetworkMessage with options (RawData layouts).
    ///
    /// The result holds up to [`MAX_DATASET_MESSAGES`] DataSetMessages inline (about 2.7 kB);
    /// on a hot path, [`crate::NetworkMessageView::decode`] validates the same bytes into a
    /// small borrowing value and reads field values much faster.
    pub fn decode_with(bytes: &'a [u8], options: &DecodeOptions<'_>) -> Result<Self, DecodeError> {
        // Filled in place: moving an ArrayVec copies all of its capacity.
        let mut m = NetworkMessage::default();
        let parts = match &mut m.payload {
            Payload::DataSetMessages(list) => decode_parts::<true>(bytes, options, |_, d| {
                // `decode_parts` yields at most MAX_DATASET_MESSAGES.
                let _ = list.try_push(d);
            })?,
            Payload::Encrypted { .. } => decode_parts::<false>(bytes, options, |_, _| {})?,
        };
        m.fill_from_parts(bytes, &parts);
        Ok(m)
    }

    /// Sets everything but the DataSetMessages (which the caller has pushed into `payload`)
    /// from a validated message.
    pub(crate) fn fill_from_parts(&mut self, bytes: &'a [u8], parts: &Parts) {
        let head = &parts.head;
        let h = head.header(bytes);
        let end = parts.payload_end.min(bytes.len());
        if head.encrypted() {
            self.payload = Payload::Encrypted {
                writer_ids: head.writer_ids(bytes),
                bytes: bytes.get(head.payload as usize..).unwrap_or(&[]),
            };
        } else if head.secured() {
            self.security_trailer = bytes.get(end..).unwrap_or(&[]);
        } else {
            self.padding = bytes.len() - end;
        }
        self.publisher_id = h.publisher_id;
        self.dataset_class_id = h.dataset_class_id;
        self.group_header = h.group_header;
        self.payload_header = h.payload_header;
        self.timestamp = h.timestamp;
        self.picoseconds = h.picoseconds;
        self.promoted_fields = h.promoted_fields;
        self.security = h.security;
        self.extended_flags1_present = h.extended_flags1_present;
        self.extended_flags2_present = h.extended_flags2_present;
    }

    /// The headers (everything before the payload).
    pub fn header(&self) -> NetworkMessageHeader<'a> {
        NetworkMessageHeader {
            publisher_id: self.publisher_id,
            dataset_class_id: self.dataset_class_id,
            group_header: self.group_header,
            payload_header: self.payload_header,
            timestamp: self.timestamp,
            picoseconds: self.picoseconds,
            promoted_fields: self.promoted_fields,
            security: self.security,
            extended_flags1_present: self.extended_flags1_present,
            extended_flags2_present: self.extended_flags2_present,
        }
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
        self.encode_impl(
            buf,
            None::<fn(usize, &mut FieldsWriter<'_>) -> Result<(), EncodeError>>,
        )
    }

    /// Encodes into `buf` with the fields of each DataSetMessage written by
    /// `fields(index, writer)` straight into place, instead of the encoded `fields` the
    /// DataSetMessages hold (which are ignored, as is their count: the FieldCount is what the
    /// writer counted). The way to encode from typed values without building a message per
    /// send: keep one message as a template, update its counters, and write the values here
    /// (for example with [`FieldsWriter::push_raw_values`]). Never allocates.
    pub fn encode_with_fields<F>(&self, buf: &mut [u8], fields: F) -> Result<usize, EncodeError>
    where
        F: FnMut(usize, &mut FieldsWriter<'_>) -> Result<(), EncodeError>,
    {
        self.encode_impl(buf, Some(fields))
    }

    #[inline]
    fn encode_impl<F>(&self, buf: &mut [u8], mut fields: Option<F>) -> Result<usize, EncodeError>
    where
        F: FnMut(usize, &mut FieldsWriter<'_>) -> Result<(), EncodeError>,
    {
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
                        match &mut fields {
                            None => d.encode(&mut w)?,
                            Some(f) => d.encode_with(&mut w, i, f)?,
                        }
                        let size = w.position() - start;
                        let size16 = u16::try_from(size)
                            .map_err(|_| EncodeError::DataSetMessageTooLarge { index: i, size })?;
                        w.patch(sizes_at + i * 2, &size16.to_le_bytes());
                    }
                } else {
                    match &mut fields {
                        None => messages[0].encode(&mut w)?,
                        Some(f) => messages[0].encode_with(&mut w, 0, f)?,
                    }
                }
            }
        }
        if self.security.is_some() {
            w.put(self.security_trailer)?;
        }
        Ok(w.position())
    }
}
