//! DataSetMessages (Part 14 §7.2.4.5.4): header flags, key/delta frames, events and keep-alives.

use crate::builtin::{BuiltinType, DateTime};
use crate::cursor::{Reader, Writer};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::variant::{DataValue, Scalar, Variant};

/// How the fields of a DataSetMessage are encoded (DataSetFlags1 bits 1–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FieldEncoding {
    /// Each field is a Variant (self-describing).
    #[default]
    Variant = 0,
    /// Fields are the bare values; the receiver needs the field layout to decode them.
    RawData = 1,
    /// Each field is a DataValue.
    DataValue = 2,
}

/// The kind of DataSetMessage (DataSetFlags2 bits 0–3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DataSetMessageType {
    #[default]
    KeyFrame = 0,
    DeltaFrame = 1,
    Event = 2,
    KeepAlive = 3,
}

/// The DataSetMessage header fields. Optional fields are present on the wire iff `Some`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DataSetMessageHeader {
    /// DataSetFlags1 bit 0: the DataSetMessage is valid.
    pub valid: bool,
    pub field_encoding: FieldEncoding,
    pub message_type: DataSetMessageType,
    pub sequence_number: Option<u16>,
    pub timestamp: Option<DateTime>,
    pub picoseconds: Option<u16>,
    /// The high-order 16 bits of the StatusCode.
    pub status: Option<u16>,
    pub config_version_major: Option<u32>,
    pub config_version_minor: Option<u32>,
    /// Write DataSetFlags2 even when it would be all zeros (it always is written when needed).
    pub flags2_present: bool,
}

impl DataSetMessageHeader {
    fn flags2_needed(&self) -> bool {
        self.message_type != DataSetMessageType::KeyFrame
            || self.timestamp.is_some()
            || self.picoseconds.is_some()
    }

    pub(crate) fn encoded_len(&self) -> usize {
        let mut n = 1;
        n += usize::from(self.flags2_needed() || self.flags2_present);
        n += self.sequence_number.map_or(0, |_| 2);
        n += self.timestamp.map_or(0, |_| 8);
        n += self.picoseconds.map_or(0, |_| 2);
        n += self.status.map_or(0, |_| 2);
        n += self.config_version_major.map_or(0, |_| 4);
        n += self.config_version_minor.map_or(0, |_| 4);
        n
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.offset();
        let f1 = r.u8("DataSetFlags1")?;
        let field_encoding = match (f1 >> 1) & 0x03 {
            0 => FieldEncoding::Variant,
            1 => FieldEncoding::RawData,
            2 => FieldEncoding::DataValue,
            _ => {
                return Err(DecodeError {
                    offset: at,
                    kind: DecodeErrorKind::ReservedFieldEncoding,
                })
            }
        };
        let mut h = DataSetMessageHeader {
            valid: f1 & 0x01 != 0,
            field_encoding,
            ..Default::default()
        };
        let mut f2 = 0u8;
        if f1 & 0x80 != 0 {
            let at2 = r.offset();
            f2 = r.u8("DataSetFlags2")?;
            h.flags2_present = true;
            if f2 & 0xC0 != 0 {
                return Err(DecodeError {
                    offset: at2,
                    kind: DecodeErrorKind::ReservedBits {
                        field: "DataSetFlags2",
                        value: f2 & 0xC0,
                    },
                });
            }
            h.message_type = match f2 & 0x0F {
                0 => DataSetMessageType::KeyFrame,
                1 => DataSetMessageType::DeltaFrame,
                2 => DataSetMessageType::Event,
                3 => DataSetMessageType::KeepAlive,
                t => {
                    return Err(DecodeError {
                        offset: at2,
                        kind: DecodeErrorKind::ReservedDataSetMessageType(t),
                    })
                }
            };
        }
        if f1 & 0x08 != 0 {
            h.sequence_number = Some(r.u16("DataSetMessage SequenceNumber")?);
        }
        if f2 & 0x10 != 0 {
            h.timestamp = Some(DateTime(r.i64("DataSetMessage Timestamp")?));
        }
        if f2 & 0x20 != 0 {
            h.picoseconds = Some(r.u16("DataSetMessage PicoSeconds")?);
        }
        if f1 & 0x10 != 0 {
            h.status = Some(r.u16("DataSetMessage Status")?);
        }
        if f1 & 0x20 != 0 {
            h.config_version_major = Some(r.u32("ConfigurationVersion MajorVersion")?);
        }
        if f1 & 0x40 != 0 {
            h.config_version_minor = Some(r.u32("ConfigurationVersion MinorVersion")?);
        }
        Ok(h)
    }

    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let flags2 = self.flags2_needed() || self.flags2_present;
        let f1 = u8::from(self.valid)
            | (self.field_encoding as u8) << 1
            | u8::from(self.sequence_number.is_some()) << 3
            | u8::from(self.status.is_some()) << 4
            | u8::from(self.config_version_major.is_some()) << 5
            | u8::from(self.config_version_minor.is_some()) << 6
            | u8::from(flags2) << 7;
        w.u8(f1)?;
        if flags2 {
            w.u8(self.message_type as u8
                | u8::from(self.timestamp.is_some()) << 4
                | u8::from(self.picoseconds.is_some()) << 5)?;
        }
        if let Some(s) = self.sequence_number {
            w.u16(s)?;
        }
        if let Some(t) = self.timestamp {
            w.i64(t.0)?;
        }
        if let Some(p) = self.picoseconds {
            w.u16(p)?;
        }
        if let Some(s) = self.status {
            w.u16(s)?;
        }
        if let Some(v) = self.config_version_major {
            w.u32(v)?;
        }
        if let Some(v) = self.config_version_minor {
            w.u32(v)?;
        }
        Ok(())
    }
}

/// The encoded fields of a DataSetMessage, borrowed. Build them with [`FieldsWriter`];
/// read them with [`DataSetMessage::fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fields<'a> {
    /// Number of fields. RawData key frames carry no FieldCount on the wire: there it is the
    /// length of the layout used to decode them, or `None` if none was given.
    pub count: Option<u16>,
    /// The encoded fields, after the FieldCount (for delta frames: index/value pairs).
    pub bytes: &'a [u8],
}

/// One decoded field value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    Variant(Variant<'a>),
    DataValue(DataValue<'a>),
    Raw(Scalar<'a>),
}

/// A field with its index in the DataSet (its position for key frames, FieldIndex for delta frames).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field<'a> {
    pub index: u16,
    pub value: FieldValue<'a>,
}

/// A DataSetMessage: header plus fields, and the DataSetWriterId from the PayloadHeader.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DataSetMessage<'a> {
    /// From the NetworkMessage PayloadHeader; `None` when the PayloadHeader is absent.
    pub writer_id: Option<u16>,
    pub header: DataSetMessageHeader,
    /// Empty for keep-alive messages.
    pub fields: Fields<'a>,
}

fn has_field_count(header: &DataSetMessageHeader) -> bool {
    match header.message_type {
        DataSetMessageType::KeepAlive => false,
        DataSetMessageType::DeltaFrame => true,
        DataSetMessageType::KeyFrame | DataSetMessageType::Event => {
            header.field_encoding != FieldEncoding::RawData
        }
    }
}

fn skip_value<'a>(
    r: &mut Reader<'a>,
    encoding: FieldEncoding,
    raw_type: Option<BuiltinType>,
) -> Result<FieldValue<'a>, DecodeError> {
    Ok(match encoding {
        FieldEncoding::Variant => FieldValue::Variant(Variant::decode(r)?),
        FieldEncoding::DataValue => FieldValue::DataValue(DataValue::decode(r)?),
        FieldEncoding::RawData => match raw_type {
            Some(t) => FieldValue::Raw(Scalar::decode(r, t)?),
            None => {
                return Err(r.error(DecodeErrorKind::RawLayoutMismatch {
                    needed: 0,
                    available: r.remaining(),
                }))
            }
        },
    })
}

impl<'a> DataSetMessage<'a> {
    /// Decodes one DataSetMessage from `r`. The fields are walked once so that malformed input is
    /// reported here, not later. `layout` is the RawData field layout, if the caller knows it.
    pub(crate) fn decode(
        r: &mut Reader<'a>,
        writer_id: Option<u16>,
        layout: Option<&[BuiltinType]>,
    ) -> Result<Self, DecodeError> {
        let header = DataSetMessageHeader::decode(r)?;
        let mut fields = Fields::default();
        if header.message_type != DataSetMessageType::KeepAlive {
            let raw = header.field_encoding == FieldEncoding::RawData;
            if has_field_count(&header) {
                let count = r.u16("FieldCount")?;
                fields.count = Some(count);
                let start = r.rest();
                let start_off = r.offset();
                let delta = header.message_type == DataSetMessageType::DeltaFrame;
                if raw && layout.is_none() {
                    // Without a layout the extent is unknown: everything left belongs to it.
                    fields.bytes = r.take(r.remaining(), "fields")?;
                } else {
                    for i in 0..count {
                        let index = if delta { r.u16("FieldIndex")? } else { i };
                        let raw_type = match layout {
                            Some(l) if raw => {
                                Some(*l.get(usize::from(index)).ok_or_else(|| {
                                    r.error(DecodeErrorKind::RawLayoutMismatch {
                                        needed: usize::from(index) + 1,
                                        available: l.len(),
                                    })
                                })?)
                            }
                            _ => None,
                        };
                        skip_value(r, header.field_encoding, raw_type)?;
                    }
                    fields.bytes = &start[..r.offset() - start_off];
                }
            } else {
                // RawData key frame or event: no FieldCount on the wire.
                match layout {
                    None => fields.bytes = r.take(r.remaining(), "fields")?,
                    Some(l) => {
                        let start = r.rest();
                        let start_off = r.offset();
                        for t in l {
                            Scalar::decode(r, *t).map_err(|e| DecodeError {
                                offset: e.offset,
                                kind: DecodeErrorKind::RawLayoutMismatch {
                                    needed: l.iter().map(|t| t.fixed_size().unwrap_or(4)).sum(),
                                    available: start.len(),
                                },
                            })?;
                        }
                        fields.bytes = &start[..r.offset() - start_off];
                        fields.count = u16::try_from(l.len()).ok();
                    }
                }
            }
        }
        Ok(DataSetMessage {
            writer_id,
            header,
            fields,
        })
    }

    /// Bytes this DataSetMessage takes on the wire.
    pub fn encoded_len(&self) -> usize {
        self.header.encoded_len()
            + if self.header.message_type == DataSetMessageType::KeepAlive {
                0
            } else {
                usize::from(has_field_count(&self.header)) * 2 + self.fields.bytes.len()
            }
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        self.header.encode(w)?;
        if self.header.message_type == DataSetMessageType::KeepAlive {
            return Ok(());
        }
        if has_field_count(&self.header) {
            let count = self
                .fields
                .count
                .ok_or(EncodeError::InvalidValue("fields without a FieldCount"))?;
            w.u16(count)?;
        }
        w.put(self.fields.bytes)
    }

    /// Iterates over the fields. RawData fields need their `layout` (one type per field of the
    /// DataSet); other encodings ignore it.
    pub fn fields<'l>(&self, layout: Option<&'l [BuiltinType]>) -> FieldIter<'a, 'l> {
        let left = match self.header.message_type {
            DataSetMessageType::KeepAlive => 0,
            _ => match self.fields.count {
                Some(c) => c,
                None => layout.map_or(0, |l| u16::try_from(l.len()).unwrap_or(u16::MAX)),
            },
        };
        FieldIter {
            reader: Reader::new(self.fields.bytes),
            encoding: self.header.field_encoding,
            delta: self.header.message_type == DataSetMessageType::DeltaFrame,
            layout,
            next_index: 0,
            left,
            missing_layout: self.header.field_encoding == FieldEncoding::RawData
                && layout.is_none()
                && left == 0
                && !self.fields.bytes.is_empty(),
        }
    }
}

/// Iterator over the fields of a [`DataSetMessage`].
#[derive(Debug, Clone)]
pub struct FieldIter<'a, 'l> {
    reader: Reader<'a>,
    encoding: FieldEncoding,
    delta: bool,
    layout: Option<&'l [BuiltinType]>,
    next_index: u16,
    left: u16,
    missing_layout: bool,
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
            let value = skip_value(&mut self.reader, self.encoding, raw_type)?;
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
    w: Writer<'b>,
    encoding: FieldEncoding,
    count: usize,
    raw_layout_check: Option<&'b [BuiltinType]>,
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
