//! Reading the fields of a decoded DataSetMessage one by one (`FieldIter`) and writing them
//! (`FieldsWriter`).

use crate::builtin::BuiltinType;
use crate::cursor::{Reader, Writer};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::scalar_io::write_scalars;
use crate::variant::Scalar;

use super::*;

/// Iterator over the fields of a [`DataSetMessage`].
#[derive(Debug, Clone)]
pub struct FieldIter<'a, 'l> {
    pub(super) reader: Reader<'a>,
    pub(super) encoding: FieldEncoding,
    pub(super) delta: bool,
    pub(super) layout: Option<&'l [BuiltinType]>,
    pub(super) next_index: u16,
    pub(super) left: u16,
    pub(super) missing_layout: bool,
}

impl<'a> Iterator for FieldIter<'a, '_> {
    type Item = Result<Field<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.missing_layout {
            self.missing_layout = false;
            return Some(Err(self.reader.error(DecodeErrorKind::RawLayoutMismatch {
                needed: 0,
                available: self.reader.remaining(),
            })));
        }
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = (|| {
            let index = if self.delta {
                self.reader.u16("FieldIndex")?
            } else {
                self.next_index
            };
            self.next_index = self.next_index.wrapping_add(1);
            let raw_type = match (self.encoding, self.layout) {
                (FieldEncoding::RawData, Some(l)) => {
                    Some(*l.get(usize::from(index)).ok_or_else(|| {
                        self.reader.error(DecodeErrorKind::RawLayoutMismatch {
                            needed: usize::from(index) + 1,
                            available: l.len(),
                        })
                    })?)
                }
                _ => None,
            };
            let value = decode_value(&mut self.reader, self.encoding, raw_type)?;
            Ok(Field { index, value })
        })();
        if item.is_err() {
            self.left = 0;
        }
        Some(item)
    }
}

/// Encodes field values into a caller's buffer, producing [`Fields`] for a DataSetMessage.
/// Nothing is allocated.
#[derive(Debug)]
pub struct FieldsWriter<'b> {
    pub(super) w: Writer<'b>,
    pub(super) encoding: FieldEncoding,
    pub(super) count: usize,
    pub(super) raw_layout_check: Option<&'b [BuiltinType]>,
}

impl<'b> FieldsWriter<'b> {
    /// Starts writing fields of `encoding` into `buf`.
    pub fn new(buf: &'b mut [u8], encoding: FieldEncoding) -> Self {
        FieldsWriter {
            w: Writer::new(buf),
            encoding,
            count: 0,
            raw_layout_check: None,
        }
    }

    /// Checks every RawData field against `layout` while writing.
    pub fn with_layout(mut self, layout: &'b [BuiltinType]) -> Self {
        self.raw_layout_check = Some(layout);
        self
    }

    fn check(&self, value: &FieldValue<'_>, index: usize) -> Result<(), EncodeError> {
        let ok = matches!(
            (self.encoding, value),
            (FieldEncoding::Variant, FieldValue::Variant(_))
                | (FieldEncoding::DataValue, FieldValue::DataValue(_))
                | (FieldEncoding::RawData, FieldValue::Raw(_))
        );
        if !ok {
            return Err(EncodeError::InvalidValue(
                "a field whose kind differs from the field encoding",
            ));
        }
        if let (Some(l), FieldValue::Raw(s)) = (self.raw_layout_check, value) {
            let expected = *l.get(index).ok_or(EncodeError::TooManyFields(index + 1))?;
            if expected != s.builtin_type() {
                return Err(EncodeError::LayoutMismatch {
                    index,
                    expected,
                    found: s.builtin_type(),
                });
            }
        }
        Ok(())
    }

    fn value(&mut self, value: &FieldValue<'_>) -> Result<(), EncodeError> {
        match value {
            FieldValue::Variant(v) => v.encode(&mut self.w),
            FieldValue::DataValue(d) => d.encode(&mut self.w),
            FieldValue::Raw(s) => s.encode(&mut self.w),
        }
    }

    /// Appends the next field of a key frame or event.
    pub fn push(&mut self, value: &FieldValue<'_>) -> Result<&mut Self, EncodeError> {
        self.check(value, self.count)?;
        self.value(value)?;
        self.count += 1;
        Ok(self)
    }

    /// Appends the next fields of a RawData key frame or event from plain values: the same
    /// bytes as [`FieldsWriter::push`] with each `FieldValue::Raw(value)`, in one call with one
    /// type check and one store per value. On error nothing of `values` is kept.
    #[inline]
    pub fn push_raw_values(&mut self, values: &[Scalar<'_>]) -> Result<&mut Self, EncodeError> {
        if self.encoding != FieldEncoding::RawData {
            return Err(EncodeError::InvalidValue(
                "a field whose kind differs from the field encoding",
            ));
        }
        let layout = self.raw_layout_check.map(|l| (l, self.count));
        let (buf, pos) = self.w.buf_and_pos();
        let start = *pos;
        if let Err(e) = write_scalars(buf, pos, values, layout) {
            *pos = start;
            return Err(e);
        }
        self.count += values.len();
        Ok(self)
    }

    /// Appends a field of a delta frame with its FieldIndex.
    pub fn push_indexed(
        &mut self,
        index: u16,
        value: &FieldValue<'_>,
    ) -> Result<&mut Self, EncodeError> {
        self.check(value, usize::from(index))?;
        self.w.u16(index)?;
        self.value(value)?;
        self.count += 1;
        Ok(self)
    }

    /// The encoded fields, borrowing the buffer.
    pub fn finish(self) -> Result<Fields<'b>, EncodeError> {
        let count =
            u16::try_from(self.count).map_err(|_| EncodeError::TooManyFields(self.count))?;
        Ok(Fields {
            count: Some(count),
            bytes: self.w.into_written(),
        })
    }
}
