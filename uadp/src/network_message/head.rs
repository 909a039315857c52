//! The NetworkMessage headers as offsets into the bytes: validated once by
//! `HeadLayout::decode`, read field by field without copying.

use super::*;
use crate::builtin::{BuiltinType, DateTime, Guid, UaBytes};
use crate::cursor::Reader;
use crate::error::{DecodeError, DecodeErrorKind, Unsupported};
use crate::scalar_io::{read_scalar, read_u16, read_u32, read_u64};
use crate::variant::skip_variant;
use crate::MAX_DATASET_MESSAGES;

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
