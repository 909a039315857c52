//! The fast decoding path: [`NetworkMessageView`] validates a NetworkMessage exactly as
//! [`NetworkMessage::decode_with`] does but keeps only where things are (flags and offsets,
//! about 130 bytes, borrowing the input) instead of a `NetworkMessage` with an inline array of
//! DataSetMessages (about 2.7 kB). Header parts are read from the bytes when asked for, and the
//! DataSetMessages hand out their field values through small iterators over the validated
//! bytes (no `Result` per field, no second validation).

use crate::builtin::{BuiltinType, DateTime, Guid};
use crate::cursor::Reader;
use crate::dataset_message::{
    DataSetMessage, DataSetMessageHeader, DataSetMessageType, DsmLayout, Field, FieldEncoding,
    FieldValue, Fields,
};
use crate::error::DecodeError;
use crate::network_message::{
    decode_parts, DecodeOptions, GroupHeader, HeadLayout, NetworkMessage, NetworkMessageHeader,
    Parts, Payload, PromotedFields, PublisherId, SecurityHeader,
};
use crate::scalar_io::{read_data_value, read_scalar, read_u16, read_variant};
use crate::variant::Scalar;

/// A NetworkMessage decoded and validated by [`NetworkMessageView::decode`]: the headers, and
/// the DataSetMessages as borrowed regions of the input, read on demand.
///
/// Decoding accepts and rejects exactly the inputs [`NetworkMessage::decode_with`] does (with
/// the same errors), and [`NetworkMessageView::to_message`] gives the same `NetworkMessage`.
/// The difference is cost: the view is about 130 bytes instead of about 2.7 kB, header parts
/// are read when asked for ([`NetworkMessageView::publisher_id`], ...), and field values come
/// from [`DataSetView::values`] / [`DataSetView::raw_values`], which read the validated bytes
/// without checking them again. Internal iteration (`for_each`, `fold`, `sum`, ...) over those
/// iterators runs one loop per field encoding and is the cheapest way to read every value.
///
/// ```
/// use uadp::*;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let layout = [BuiltinType::UInt32, BuiltinType::Double];
/// let pf = PeriodicFixedLayout { publisher_id: 1, writer_group_id: 2, group_version: 3, fields: &layout };
/// let mut buf = [0u8; 64];
/// let values = [Scalar::UInt32(7), Scalar::Double(0.5)];
/// let n = pf.encode(&mut buf, PeriodicFixedCounters::default(), &values)?;
///
/// let options = DecodeOptions { raw_layout: Some(&layout), ..Default::default() };
/// let m = NetworkMessageView::decode(&buf[..n], &options)?;
/// assert_eq!(m.publisher_id(), Some(PublisherId::UInt16(1)));
/// for d in m.dataset_messages() {
///     // Plain scalars for RawData key frames ...
///     assert!(d.raw_values().eq(values));
///     // ... or index and value of any field encoding.
///     for f in d.values() {
///         assert_eq!(f.value, FieldValue::Raw(values[usize::from(f.index)]));
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NetworkMessageView<'a, 'l> {
    bytes: &'a [u8],
    options: DecodeOptions<'l>,
    head: HeadLayout,
    /// End of the last DataSetMessage (of the input for an encrypted payload).
    payload_end: usize,
    /// The first DataSetMessage's parts (relative to the payload start).
    first: DsmLayout,
}

impl<'a, 'l> NetworkMessageView<'a, 'l> {
    /// Decodes and validates a NetworkMessage (RawData fields against the layouts of
    /// `options`, which the view keeps for reading values later).
    pub fn decode(bytes: &'a [u8], options: &DecodeOptions<'l>) -> Result<Self, DecodeError> {
        let parts = decode_parts::<false>(bytes, options, |_, _| {})?;
        Ok(NetworkMessageView {
            bytes,
            options: *options,
            head: parts.head,
            payload_end: parts.payload_end,
            first: parts.first,
        })
    }

    /// The whole message as given to [`NetworkMessageView::decode`].
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The options the message was decoded with.
    pub fn options(&self) -> &DecodeOptions<'l> {
        &self.options
    }

    /// All headers before the payload, as [`NetworkMessage`] holds them (read from the bytes
    /// on every call: the accessors below read one part each).
    pub fn header(&self) -> NetworkMessageHeader<'a> {
        self.head.header(self.bytes)
    }

    /// The PublisherId, if present.
    #[inline]
    pub fn publisher_id(&self) -> Option<PublisherId<'a>> {
        self.head.publisher_id(self.bytes)
    }

    /// The DataSetClassId, if present.
    pub fn dataset_class_id(&self) -> Option<Guid> {
        self.head.dataset_class_id(self.bytes)
    }

    /// The GroupHeader, if present.
    #[inline]
    pub fn group_header(&self) -> Option<GroupHeader> {
        self.head.group_header(self.bytes)
    }

    /// The PayloadHeader is present (the DataSetWriterIds are on the wire).
    pub fn payload_header(&self) -> bool {
        self.head.payload_header()
    }

    /// The NetworkMessage Timestamp, if present.
    pub fn timestamp(&self) -> Option<DateTime> {
        self.head.timestamp(self.bytes)
    }

    /// The NetworkMessage PicoSeconds, if present.
    pub fn picoseconds(&self) -> Option<u16> {
        self.head.picoseconds(self.bytes)
    }

    /// The PromotedFields, if present.
    pub fn promoted_fields(&self) -> Option<PromotedFields<'a>> {
        self.head.promoted_fields(self.bytes)
    }

    /// The SecurityHeader, if present.
    pub fn security(&self) -> Option<SecurityHeader<'a>> {
        self.head.security(self.bytes)
    }

    /// SecurityFooter and Signature bytes after the payload (only with a SecurityHeader whose
    /// payload is not encrypted).
    pub fn security_trailer(&self) -> &'a [u8] {
        if self.head.secured() && !self.head.encrypted() {
            self.bytes.get(self.payload_end..).unwrap_or(&[])
        } else {
            &[]
        }
    }

    /// Zero bytes that followed the last DataSetMessage (e.g. Ethernet padding).
    pub fn padding(&self) -> usize {
        if self.head.secured() {
            0
        } else {
            self.bytes.len().saturating_sub(self.payload_end)
        }
    }

    /// Number of DataSetMessages (0 for an encrypted payload).
    pub fn dataset_count(&self) -> usize {
        if self.head.encrypted() {
            0
        } else {
            usize::from(self.head.count)
        }
    }

    /// The DataSetMessages in wire order (none for an encrypted payload). With a single
    /// DataSetMessage only its header is read again; with several, each is decoded again
    /// from its region (it was validated by [`NetworkMessageView::decode`]).
    #[inline]
    pub fn dataset_messages(&self) -> DataSetViews<'_, 'a, 'l> {
        let count = self.dataset_count();
        DataSetViews {
            view: self,
            next: 0,
            count,
            offset: self.head.payload as usize + if count > 1 { count * 2 } else { 0 },
        }
    }

    /// DataSetMessage `i`, if there is one.
    pub fn dataset_message(&self, i: usize) -> Option<DataSetView<'a, 'l>> {
        self.dataset_messages().nth(i)
    }

    /// An encrypted payload: the PayloadHeader's DataSetWriterIds (UInt16 each) and the bytes
    /// after the SecurityHeader.
    pub fn encrypted_payload(&self) -> Option<(&'a [u8], &'a [u8])> {
        self.head.encrypted().then(|| {
            (
                self.head.writer_ids(self.bytes),
                self.bytes.get(self.head.payload as usize..).unwrap_or(&[]),
            )
        })
    }

    /// The same message as [`NetworkMessage::decode_with`] gives.
    pub fn to_message(&self) -> NetworkMessage<'a> {
        let mut m = NetworkMessage::default();
        if let Payload::DataSetMessages(list) = &mut m.payload {
            for d in self.dataset_messages() {
                let _ = list.try_push(d.message());
            }
        }
        m.fill_from_parts(
            self.bytes,
            &Parts {
                head: self.head,
                payload_end: self.payload_end,
                first: self.first,
            },
        );
        m
    }
}

/// Iterator over the DataSetMessages of a [`NetworkMessageView`].
#[derive(Debug, Clone)]
pub struct DataSetViews<'v, 'a, 'l> {
    view: &'v NetworkMessageView<'a, 'l>,
    next: usize,
    count: usize,
    /// Offset of the next region in the message.
    offset: usize,
}

impl<'a, 'l> Iterator for DataSetViews<'_, 'a, 'l> {
    type Item = DataSetView<'a, 'l>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let v = self.view;
        let i = self.next;
        if i >= self.count {
            return None;
        }
        self.next += 1;
        let id = v.head.writer_id(v.bytes, i);
        let layout = v.options.layout_for(id);
        let (region, dl) = if self.count == 1 {
            let region = v.bytes.get(self.offset..v.payload_end)?;
            (region, Some(v.first))
        } else {
            let size = usize::from(read_u16(v.bytes, &mut (v.head.payload as usize + i * 2))?);
            let region = v.bytes.get(self.offset..self.offset + size)?;
            self.offset += size;
            (region, revalidate(region, layout))
        };
        match dl {
            Some(dl) => Some(DataSetView {
                bytes: region,
                dl,
                writer_id: id,
                layout,
            }),
            None => {
                // Not reachable for what `decode` accepted.
                self.next = self.count;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.count.saturating_sub(self.next);
        (n, Some(n))
    }
}

impl ExactSizeIterator for DataSetViews<'_, '_, '_> {}

/// The parts of one of several DataSetMessages, validated again from its region (out of line:
/// the single-message case is the hot one).
#[inline(never)]
fn revalidate(region: &[u8], layout: Option<&[BuiltinType]>) -> Option<DsmLayout> {
    DataSetMessage::validate(&mut Reader::new(region), layout).ok()
}

/// A validated DataSetMessage of a [`NetworkMessageView`], with the RawData layout it was
/// validated against. Its header parts are read from the bytes when asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataSetView<'a, 'l> {
    /// The DataSetMessage from its first byte.
    bytes: &'a [u8],
    dl: DsmLayout,
    writer_id: Option<u16>,
    layout: Option<&'l [BuiltinType]>,
}

impl<'a, 'l> DataSetView<'a, 'l> {
    /// The DataSetMessage (header and encoded fields), as [`NetworkMessage::decode_with`]
    /// gives it.
    pub fn message(&self) -> DataSetMessage<'a> {
        self.dl.message(self.bytes, self.writer_id)
    }

    /// The DataSetWriterId from the PayloadHeader.
    pub fn writer_id(&self) -> Option<u16> {
        self.writer_id
    }

    /// The DataSetMessage header.
    pub fn header(&self) -> DataSetMessageHeader {
        DataSetMessageHeader::read(self.bytes).unwrap_or_default()
    }

    /// The DataSetMessage SequenceNumber, if present.
    #[inline]
    pub fn sequence_number(&self) -> Option<u16> {
        if self.dl.f1 & 0x08 == 0 {
            return None;
        }
        read_u16(self.bytes, &mut (1 + usize::from(self.dl.f1 & 0x80 != 0)))
    }

    /// How the fields are encoded.
    pub fn field_encoding(&self) -> FieldEncoding {
        self.dl.encoding()
    }

    /// Key frame, delta frame, event or keep-alive.
    pub fn message_type(&self) -> DataSetMessageType {
        self.dl.message_type()
    }

    /// The encoded fields (as in [`DataSetMessage::fields`]).
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            count: self.dl.count,
            bytes: self.field_bytes(),
        }
    }

    fn field_bytes(&self) -> &'a [u8] {
        self.bytes
            .get(self.dl.fields_at..self.dl.fields_end)
            .unwrap_or(&[])
    }

    /// The RawData layout the fields were validated against (`None` without one).
    pub fn layout(&self) -> Option<&'l [BuiltinType]> {
        self.layout
    }

    /// RawData fields that could not be read because no layout was given for them
    /// ([`DataSetMessage::fields`] reports this as one error; [`DataSetView::values`] yields
    /// nothing).
    pub fn missing_layout(&self) -> bool {
        self.dl.message_type() != DataSetMessageType::KeepAlive
            && self.dl.encoding() == FieldEncoding::RawData
            && self.layout.is_none()
            && (self.dl.fields_end > self.dl.fields_at || self.dl.count.unwrap_or(0) > 0)
    }

    /// Number of values [`DataSetView::values`] yields.
    pub fn field_count(&self) -> usize {
        if self.dl.message_type() == DataSetMessageType::KeepAlive || self.missing_layout() {
            0
        } else {
            usize::from(self.dl.count.unwrap_or(0))
        }
    }

    /// The fields (index and value), read from the validated bytes: the same items
    /// [`DataSetMessage::fields`] yields, without a `Result` each.
    #[inline]
    pub fn values(&self) -> FieldValues<'a, 'l> {
        FieldValues {
            bytes: self.field_bytes(),
            pos: 0,
            left: self.field_count() as u16,
            next_index: 0,
            encoding: self.dl.encoding(),
            delta: self.dl.message_type() == DataSetMessageType::DeltaFrame,
            layout: self.layout.unwrap_or(&[]),
        }
    }

    /// The values of a RawData key frame or event, in layout order, as plain scalars (the
    /// cheapest way to read them). Empty for other encodings and for delta frames (use
    /// [`DataSetView::values`] there).
    #[inline]
    pub fn raw_values(&self) -> RawValues<'a, 'l> {
        let types = match (self.dl.encoding(), self.dl.message_type(), self.layout) {
            (
                FieldEncoding::RawData,
                DataSetMessageType::KeyFrame | DataSetMessageType::Event,
                Some(l),
            ) => l,
            _ => &[],
        };
        RawValues::new(self.field_bytes(), types)
    }
}

/// Iterator over the fields of a [`DataSetView`]: index and value of each, read from bytes the
/// decoder has validated.
#[derive(Debug, Clone)]
pub struct FieldValues<'a, 'l> {
    bytes: &'a [u8],
    pos: usize,
    left: u16,
    next_index: u16,
    encoding: FieldEncoding,
    delta: bool,
    layout: &'l [BuiltinType],
}

impl<'a> FieldValues<'a, '_> {
    #[inline(always)]
    fn read(&mut self) -> Option<Field<'a>> {
        let index = if self.delta {
            read_u16(self.bytes, &mut self.pos)?
        } else {
            let i = self.next_index;
            self.next_index = i.wrapping_add(1);
            i
        };
        let value = match self.encoding {
            FieldEncoding::RawData => {
                let t = *self.layout.get(usize::from(index))?;
                FieldValue::Raw(read_scalar(self.bytes, &mut self.pos, t)?)
            }
            FieldEncoding::Variant => FieldValue::Variant(read_variant(self.bytes, &mut self.pos)?),
            FieldEncoding::DataValue => {
                FieldValue::DataValue(read_data_value(self.bytes, &mut self.pos)?)
            }
        };
        Some(Field { index, value })
    }
}

impl<'a> Iterator for FieldValues<'a, '_> {
    type Item = Field<'a>;

    #[inline(always)]
    fn next(&mut self) -> Option<Field<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let f = self.read();
        if f.is_none() {
            // Not reachable for validated bytes; stop rather than yield garbage.
            self.left = 0;
        }
        f
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.left), Some(usize::from(self.left)))
    }

    /// Internal iteration (`for_each`, `fold`, `sum`, ...): one loop per field encoding, so
    /// the encoding is not looked at per field.
    #[inline]
    fn fold<B, F: FnMut(B, Field<'a>) -> B>(self, init: B, mut f: F) -> B {
        let mut acc = init;
        let bytes = self.bytes;
        let mut pos = self.pos;
        let first = self.next_index;
        let left = usize::from(self.left);
        match (self.encoding, self.delta) {
            (FieldEncoding::RawData, false) => {
                let types = self.layout.get(usize::from(first)..).unwrap_or(&[]);
                for (k, t) in types.iter().take(left).enumerate() {
                    let Some(s) = read_scalar(bytes, &mut pos, *t) else {
                        break;
                    };
                    let index = first.wrapping_add(k as u16);
                    acc = f(
                        acc,
                        Field {
                            index,
                            value: FieldValue::Raw(s),
                        },
                    );
                }
            }
            (FieldEncoding::Variant, false) => {
                for k in 0..left {
                    let Some(v) = read_variant(bytes, &mut pos) else {
                        break;
                    };
                    let index = first.wrapping_add(k as u16);
                    acc = f(
                        acc,
                        Field {
                            index,
                            value: FieldValue::Variant(v),
                        },
                    );
                }
            }
            _ => {
                // Delta frames and DataValues: item by item (`for` calls `next`).
                for x in self {
                    acc = f(acc, x);
                }
            }
        }
        acc
    }
}

impl ExactSizeIterator for FieldValues<'_, '_> {}

/// Iterator over RawData values laid out back to back in layout order, yielding plain
/// [`Scalar`]s. Reading stops at the first value that does not fit the bytes (never for bytes a
/// decoder has validated against the same layout).
#[derive(Debug, Clone)]
pub struct RawValues<'a, 'l> {
    bytes: &'a [u8],
    pos: usize,
    types: core::slice::Iter<'l, BuiltinType>,
}

impl<'a, 'l> RawValues<'a, 'l> {
    #[inline]
    pub(crate) fn new(bytes: &'a [u8], types: &'l [BuiltinType]) -> Self {
        RawValues {
            bytes,
            pos: 0,
            types: types.iter(),
        }
    }
}

impl<'a> Iterator for RawValues<'a, '_> {
    type Item = Scalar<'a>;

    #[inline(always)]
    fn next(&mut self) -> Option<Scalar<'a>> {
        let t = *self.types.next()?;
        let v = read_scalar(self.bytes, &mut self.pos, t);
        if v.is_none() {
            self.types = [].iter();
        }
        v
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.types.len()))
    }

    #[inline]
    fn fold<B, F: FnMut(B, Scalar<'a>) -> B>(self, init: B, mut f: F) -> B {
        let mut acc = init;
        let bytes = self.bytes;
        let mut pos = self.pos;
        for t in self.types {
            let Some(s) = read_scalar(bytes, &mut pos, *t) else {
                break;
            };
            acc = f(acc, s);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a decode returns and an iteration step yields stays small: no 2.7 kB
    /// `NetworkMessage` moves per message on the fast path.
    #[test]
    fn the_fast_path_values_are_small() {
        let view = core::mem::size_of::<NetworkMessageView<'_, '_>>();
        let dsm = core::mem::size_of::<DataSetView<'_, '_>>();
        assert!(view <= 160, "NetworkMessageView is {view} bytes");
        assert!(dsm <= 96, "DataSetView is {dsm} bytes");
        assert!(core::mem::size_of::<Scalar<'_>>() <= 24);
        assert!(core::mem::size_of::<NetworkMessage<'_>>() > 2000);
    }
}
