//! Decoding a whole NetworkMessage (headers, payload, security footer) and encoding one.

use super::*;
use crate::cursor::{Reader, Writer};
use crate::dataset_message::{DataSetMessage, DsmLayout, FieldsWriter};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::MAX_DATASET_MESSAGES;

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
