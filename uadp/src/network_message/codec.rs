//! Decoding a whole NetworkMessage (headers, payload, security footer) and encoding one.

use super::*;
use crate::cursor::Reader;
use crate::dataset_message::{DataSetMessage, DsmLayout, FieldsWriter};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

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
}
