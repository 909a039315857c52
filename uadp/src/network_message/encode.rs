//! Encoding a NetworkMessage: the headers, then the payload and the security trailer.
//!
//! The headers up to PicoSeconds have fixed-size fields (apart from a String PublisherId), at
//! most [`HEAD_MAX`] bytes: when the output has [`HEAD_WINDOW`] bytes left they are written
//! into a [`Window`] with one room check for all of them. Otherwise (a small buffer, a String
//! PublisherId, an encrypted payload with a PayloadHeader) they go field by field through the
//! bounds-checked [`Writer`], which also reports exactly which field did not fit. Both write
//! the same bytes.

use super::*;
use crate::cursor::{Window, Writer};
use crate::dataset_message::{DataSetMessage, FieldsWriter};
use crate::error::EncodeError;
use crate::MAX_DATASET_MESSAGES;

/// Output bytes the fast header path needs (its [`Window`]).
const HEAD_WINDOW: usize = 144;

/// Most bytes of the headers up to PicoSeconds without a String PublisherId: flags,
/// ExtendedFlags1/2, a UInt64 PublisherId, DataSetClassId, GroupHeader, a PayloadHeader of
/// [`MAX_DATASET_MESSAGES`] writer ids, Timestamp, PicoSeconds.
const HEAD_MAX: usize = 3 + 8 + 16 + 11 + 1 + 2 * MAX_DATASET_MESSAGES + 8 + 2;

const _: () = assert!(HEAD_MAX <= Window::<HEAD_WINDOW>::MAX_POS);

impl NetworkMessage<'_> {
    /// UADPVersion/Flags, ExtendedFlags1 and ExtendedFlags2 (`None` when not written).
    #[inline(always)]
    fn flag_bytes(&self) -> (u8, Option<u8>, Option<u8>) {
        // ExtendedFlags2 is needed for PromotedFields.
        let ext2 = self.promoted_fields.is_some() || self.extended_flags2_present;
        let e1 = self.publisher_id.map_or(0, |p| p.type_bits())
            | u8::from(self.dataset_class_id.is_some()) << 3
            | u8::from(self.security.is_some()) << 4
            | u8::from(self.timestamp.is_some()) << 5
            | u8::from(self.picoseconds.is_some()) << 6
            | u8::from(ext2) << 7;
        // ExtendedFlags1 is needed exactly when one of its bits is set.
        let ext1 = e1 != 0 || self.extended_flags1_present;
        let flags = UADP_VERSION
            | u8::from(self.publisher_id.is_some()) << 4
            | u8::from(self.group_header.is_some()) << 5
            | u8::from(self.payload_header) << 6
            | u8::from(ext1) << 7;
        let e2 = u8::from(self.promoted_fields.is_some()) << 1;
        (flags, ext1.then_some(e1), ext2.then_some(e2))
    }

    /// Whether the headers up to PicoSeconds are all fixed-size fields.
    #[inline(always)]
    fn head_is_fixed(&self) -> bool {
        !matches!(self.publisher_id, Some(PublisherId::String(_)))
            && (!self.payload_header || matches!(self.payload, Payload::DataSetMessages(_)))
    }

    /// The headers up to PicoSeconds into a window (see [`NetworkMessage::head_is_fixed`]).
    #[inline(always)]
    fn head_fixed<const W: usize>(
        &self,
        h: &mut Window<'_, W>,
        messages: &[DataSetMessage<'_>],
    ) -> Result<(), EncodeError> {
        let (flags, ext1, ext2) = self.flag_bytes();
        h.u8(flags);
        if let Some(e) = ext1 {
            h.u8(e);
        }
        if let Some(e) = ext2 {
            h.u8(e);
        }
        match self.publisher_id {
            None | Some(PublisherId::String(_)) => {}
            Some(PublisherId::Byte(v)) => h.u8(v),
            Some(PublisherId::UInt16(v)) => h.u16(v),
            Some(PublisherId::UInt32(v)) => h.u32(v),
            Some(PublisherId::UInt64(v)) => h.u64(v),
        }
        if let Some(g) = &self.dataset_class_id {
            h.put(g.to_wire());
        }
        if let Some(g) = &self.group_header {
            h.u8(g.flags());
            if let Some(v) = g.writer_group_id {
                h.u16(v);
            }
            if let Some(v) = g.group_version {
                h.u32(v);
            }
            if let Some(v) = g.network_message_number {
                h.u16(v);
            }
            if let Some(v) = g.sequence_number {
                h.u16(v);
            }
        }
        if self.payload_header {
            if messages.is_empty() {
                return Err(EncodeError::NoDataSetMessages);
            }
            // ArrayVec caps the length at MAX_DATASET_MESSAGES, which fits a Byte.
            h.u8(messages.len() as u8);
            for (i, d) in messages.iter().enumerate() {
                h.u16(d.writer_id.ok_or(EncodeError::MissingWriterId(i))?);
            }
        }
        if let Some(t) = self.timestamp {
            h.u64(t.0 as u64);
        }
        if let Some(p) = self.picoseconds {
            h.u16(p);
        }
        Ok(())
    }

    /// The headers up to PicoSeconds, field by field.
    #[inline(never)]
    fn head_checked(
        &self,
        w: &mut Writer<'_>,
        messages: &[DataSetMessage<'_>],
    ) -> Result<(), EncodeError> {
        let (flags, ext1, ext2) = self.flag_bytes();
        w.u8(flags)?;
        if let Some(e) = ext1 {
            w.u8(e)?;
        }
        if let Some(e) = ext2 {
            w.u8(e)?;
        }
        match self.publisher_id {
            None => {}
            Some(PublisherId::Byte(v)) => w.u8(v)?,
            Some(PublisherId::UInt16(v)) => w.u16(v)?,
            Some(PublisherId::UInt32(v)) => w.u32(v)?,
            Some(PublisherId::UInt64(v)) => w.u64(v)?,
            Some(PublisherId::String(s)) => s.encode(w, "PublisherId")?,
        }
        if let Some(g) = &self.dataset_class_id {
            g.encode(w)?;
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
        if self.payload_header {
            match self.payload {
                Payload::DataSetMessages(_) => {
                    if messages.is_empty() {
                        return Err(EncodeError::NoDataSetMessages);
                    }
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
        Ok(())
    }

    /// PromotedFields and the SecurityHeader (after PicoSeconds).
    #[inline(never)]
    fn head_tail(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
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
        Ok(())
    }

    #[inline]
    pub(super) fn encode_impl<F>(
        &self,
        buf: &mut [u8],
        mut fields: Option<F>,
    ) -> Result<usize, EncodeError>
    where
        F: FnMut(usize, &mut FieldsWriter<'_>) -> Result<(), EncodeError>,
    {
        let mut w = Writer::new(buf);
        let messages = self.dataset_messages();
        let fixed = self.head_is_fixed();
        match w.window::<HEAD_WINDOW>() {
            Some(mut h) if fixed => {
                self.head_fixed(&mut h, messages)?;
                let n = h.position();
                w.advance_past(n);
            }
            _ => self.head_checked(&mut w, messages)?,
        }
        if self.promoted_fields.is_some() || self.security.is_some() {
            self.head_tail(&mut w)?;
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
