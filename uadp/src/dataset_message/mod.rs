//! DataSetMessages (Part 14 §7.2.4.5.4): header flags, key/delta frames, events and keep-alives.

use crate::builtin::{BuiltinType, DateTime};
use crate::cursor::{Reader, Window, Writer};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::scalar_io::{layout_fixed_len, read_u16, read_u32, read_u64};
use crate::variant::{skip_data_value, skip_scalar, skip_variant, DataValue, Scalar, Variant};

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

    /// Checks DataSetFlags1/2 and skips the header fields they announce (the same checks and
    /// errors as decoding the header); returns the two flag bytes (0 for an absent Flags2).
    #[inline]
    fn validate(r: &mut Reader<'_>) -> Result<(u8, u8), DecodeError> {
        let at = r.offset();
        let f1 = r.u8("DataSetFlags1")?;
        if (f1 >> 1) & 0x03 == 3 {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::ReservedFieldEncoding,
            });
        }
        let mut f2 = 0u8;
        if f1 & 0x80 != 0 {
            let at2 = r.offset();
            f2 = r.u8("DataSetFlags2")?;
            if f2 & 0xC0 != 0 {
                return Err(DecodeError {
                    offset: at2,
                    kind: DecodeErrorKind::ReservedBits {
                        field: "DataSetFlags2",
                        value: f2 & 0xC0,
                    },
                });
            }
            if f2 & 0x0F > 3 {
                return Err(DecodeError {
                    offset: at2,
                    kind: DecodeErrorKind::ReservedDataSetMessageType(f2 & 0x0F),
                });
            }
        }
        if f1 & 0x08 != 0 {
            r.take(2, "DataSetMessage SequenceNumber")?;
        }
        if f2 & 0x10 != 0 {
            r.take(8, "DataSetMessage Timestamp")?;
        }
        if f2 & 0x20 != 0 {
            r.take(2, "DataSetMessage PicoSeconds")?;
        }
        if f1 & 0x10 != 0 {
            r.take(2, "DataSetMessage Status")?;
        }
        if f1 & 0x20 != 0 {
            r.take(4, "ConfigurationVersion MajorVersion")?;
        }
        if f1 & 0x40 != 0 {
            r.take(4, "ConfigurationVersion MinorVersion")?;
        }
        Ok((f1, f2))
    }

    /// Reads a header that [`DataSetMessageHeader::validate`] accepted, starting at its
    /// DataSetFlags1 (`None` only for bytes it did not accept).
    #[inline]
    pub(crate) fn read(b: &[u8]) -> Option<Self> {
        let f1 = *b.first()?;
        let has_f2 = f1 & 0x80 != 0;
        let f2 = if has_f2 { *b.get(1)? } else { 0 };
        let mut p = 1 + usize::from(has_f2);
        let mut h = DataSetMessageHeader {
            valid: f1 & 0x01 != 0,
            field_encoding: encoding_of(f1)?,
            message_type: message_type_of(f2)?,
            flags2_present: has_f2,
            ..Default::default()
        };
        if f1 & 0x08 != 0 {
            h.sequence_number = Some(read_u16(b, &mut p)?);
        }
        if f2 & 0x10 != 0 {
            h.timestamp = Some(DateTime(read_u64(b, &mut p)? as i64));
        }
        if f2 & 0x20 != 0 {
            h.picoseconds = Some(read_u16(b, &mut p)?);
        }
        if f1 & 0x10 != 0 {
            h.status = Some(read_u16(b, &mut p)?);
        }
        if f1 & 0x20 != 0 {
            h.config_version_major = Some(read_u32(b, &mut p)?);
        }
        if f1 & 0x40 != 0 {
            h.config_version_minor = Some(read_u32(b, &mut p)?);
        }
        Some(h)
    }

    fn flags1(&self, flags2: bool) -> u8 {
        u8::from(self.valid)
            | (self.field_encoding as u8) << 1
            | u8::from(self.sequence_number.is_some()) << 3
            | u8::from(self.status.is_some()) << 4
            | u8::from(self.config_version_major.is_some()) << 5
            | u8::from(self.config_version_minor.is_some()) << 6
            | u8::from(flags2) << 7
    }

    fn flags2(&self) -> u8 {
        self.message_type as u8
            | u8::from(self.timestamp.is_some()) << 4
            | u8::from(self.picoseconds.is_some()) << 5
    }

    /// Writes the header: with one room check for all of it when the output has
    /// [`DSM_HEADER_WINDOW`] bytes left, field by field otherwise (the same bytes).
    #[inline]
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        match w.window::<DSM_HEADER_WINDOW>() {
            Some(mut h) => {
                self.encode_fixed(&mut h);
                let n = h.position();
                w.advance_past(n);
                Ok(())
            }
            None => self.encode_checked(w),
        }
    }

    /// The header into a window: at most [`DSM_HEADER_MAX`] bytes.
    #[inline(always)]
    fn encode_fixed<const W: usize>(&self, h: &mut Window<'_, W>) {
        // DataSetFlags2 is needed exactly when one of its bits is set.
        let f2 = self.flags2();
        let flags2 = f2 != 0 || self.flags2_present;
        h.u8(self.flags1(flags2));
        if flags2 {
            h.u8(f2);
        }
        if let Some(s) = self.sequence_number {
            h.u16(s);
        }
        if let Some(t) = self.timestamp {
            h.u64(t.0 as u64);
        }
        if let Some(p) = self.picoseconds {
            h.u16(p);
        }
        if let Some(s) = self.status {
            h.u16(s);
        }
        if let Some(v) = self.config_version_major {
            h.u32(v);
        }
        if let Some(v) = self.config_version_minor {
            h.u32(v);
        }
    }

    /// The header field by field, each checked for room.
    #[inline(never)]
    fn encode_checked(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let flags2 = self.flags2_needed() || self.flags2_present;
        w.u8(self.flags1(flags2))?;
        if flags2 {
            w.u8(self.flags2())?;
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

/// Most bytes of a DataSetMessage header: both flag bytes, SequenceNumber, Timestamp,
/// PicoSeconds, Status, ConfigurationVersion.
const DSM_HEADER_MAX: usize = 2 + 2 + 8 + 2 + 2 + 4 + 4;

/// Output bytes the one-check header path needs (its [`Window`]).
const DSM_HEADER_WINDOW: usize = 48;

const _: () = assert!(DSM_HEADER_MAX <= Window::<DSM_HEADER_WINDOW>::MAX_POS);

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

#[inline(always)]
fn encoding_of(f1: u8) -> Option<FieldEncoding> {
    match (f1 >> 1) & 0x03 {
        0 => Some(FieldEncoding::Variant),
        1 => Some(FieldEncoding::RawData),
        2 => Some(FieldEncoding::DataValue),
        _ => None,
    }
}

#[inline(always)]
fn message_type_of(f2: u8) -> Option<DataSetMessageType> {
    match f2 & 0x0F {
        0 => Some(DataSetMessageType::KeyFrame),
        1 => Some(DataSetMessageType::DeltaFrame),
        2 => Some(DataSetMessageType::Event),
        3 => Some(DataSetMessageType::KeepAlive),
        _ => None,
    }
}

/// Where the parts of a validated DataSetMessage are, relative to its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct DsmLayout {
    pub(crate) f1: u8,
    /// DataSetFlags2, 0 when absent.
    pub(crate) f2: u8,
    /// FieldCount, or the layout's length for RawData key frames and events with a layout.
    pub(crate) count: Option<u16>,
    /// The encoded fields (after the FieldCount).
    pub(crate) fields_at: usize,
    pub(crate) fields_end: usize,
}

impl DsmLayout {
    #[inline(always)]
    pub(crate) fn encoding(&self) -> FieldEncoding {
        encoding_of(self.f1).unwrap_or_default()
    }

    #[inline(always)]
    pub(crate) fn message_type(&self) -> DataSetMessageType {
        message_type_of(self.f2).unwrap_or_default()
    }

    /// The DataSetMessage at the start of `b`.
    #[inline]
    pub(crate) fn message<'a>(&self, b: &'a [u8], writer_id: Option<u16>) -> DataSetMessage<'a> {
        DataSetMessage {
            writer_id,
            header: DataSetMessageHeader::read(b).unwrap_or_default(),
            fields: Fields {
                count: self.count,
                bytes: b.get(self.fields_at..self.fields_end).unwrap_or(&[]),
            },
        }
    }
}

/// Skips one field value (the checks and errors of decoding it).
#[inline]
fn skip_value(
    r: &mut Reader<'_>,
    encoding: FieldEncoding,
    raw_type: Option<BuiltinType>,
) -> Result<(), DecodeError> {
    match encoding {
        FieldEncoding::Variant => skip_variant(r),
        FieldEncoding::DataValue => skip_data_value(r),
        FieldEncoding::RawData => match raw_type {
            Some(t) => skip_scalar(r, t),
            None => Err(r.error(DecodeErrorKind::RawLayoutMismatch {
                needed: 0,
                available: r.remaining(),
            })),
        },
    }
}

/// Decodes one field value.
fn decode_value<'a>(
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
    /// Validates one DataSetMessage from `r` (header, FieldCount, every field) and returns
    /// where its parts are. The fields are walked once so that malformed input is reported
    /// here, not later. `layout` is the RawData field layout, if the caller knows it.
    #[inline]
    pub(crate) fn validate(
        r: &mut Reader<'a>,
        layout: Option<&[BuiltinType]>,
    ) -> Result<DsmLayout, DecodeError> {
        let base = r.offset();
        let (f1, f2) = DataSetMessageHeader::validate(r)?;
        let mut dl = DsmLayout {
            f1,
            f2,
            count: None,
            fields_at: r.offset() - base,
            fields_end: r.offset() - base,
        };
        let message_type = dl.message_type();
        if message_type == DataSetMessageType::KeepAlive {
            return Ok(dl);
        }
        let encoding = dl.encoding();
        let raw = encoding == FieldEncoding::RawData;
        if message_type == DataSetMessageType::DeltaFrame || !raw {
            let count = r.u16("FieldCount")?;
            dl.count = Some(count);
            dl.fields_at = r.offset() - base;
            let delta = message_type == DataSetMessageType::DeltaFrame;
            if raw && layout.is_none() {
                // Without a layout the extent is unknown: everything left belongs to it.
                r.take(r.remaining(), "fields")?;
            } else if !delta && encoding == FieldEncoding::Variant {
                for _ in 0..count {
                    skip_variant(r)?;
                }
            } else if !delta && encoding == FieldEncoding::DataValue {
                for _ in 0..count {
                    skip_data_value(r)?;
                }
            } else {
                for i in 0..count {
                    let index = if delta { r.u16("FieldIndex")? } else { i };
                    let raw_type = match layout {
                        Some(l) if raw => Some(*l.get(usize::from(index)).ok_or_else(|| {
                            r.error(DecodeErrorKind::RawLayoutMismatch {
                                needed: usize::from(index) + 1,
                                available: l.len(),
                            })
                        })?),
                        _ => None,
                    };
                    skip_value(r, encoding, raw_type)?;
                }
            }
        } else {
            // RawData key frame or event: no FieldCount on the wire.
            match layout {
                None => {
                    r.take(r.remaining(), "fields")?;
                }
                Some(l) => {
                    let available = r.remaining();
                    match layout_fixed_len(l) {
                        // Fixed-size layouts: their extent is all there is to check.
                        Some(n) if n <= available => {
                            r.take(n, "fields")?;
                        }
                        _ => {
                            for t in l {
                                skip_scalar(r, *t).map_err(|e| DecodeError {
                                    offset: e.offset,
                                    kind: DecodeErrorKind::RawLayoutMismatch {
                                        needed: l.iter().map(|t| t.fixed_size().unwrap_or(4)).sum(),
                                        available,
                                    },
                                })?;
                            }
                        }
                    }
                    dl.count = u16::try_from(l.len()).ok();
                }
            }
        }
        dl.fields_end = r.offset() - base;
        Ok(dl)
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

    /// Encodes the header, then fields that `f(index, writer)` writes in place (with the
    /// FieldCount it counted, where the wire has one).
    pub(crate) fn encode_with<F>(
        &self,
        w: &mut Writer<'_>,
        index: usize,
        f: &mut F,
    ) -> Result<(), EncodeError>
    where
        F: FnMut(usize, &mut FieldsWriter<'_>) -> Result<(), EncodeError>,
    {
        self.header.encode(w)?;
        if self.header.message_type == DataSetMessageType::KeepAlive {
            return Ok(());
        }
        let count_at = if has_field_count(&self.header) {
            Some(w.reserve(2)?)
        } else {
            None
        };
        let (buf, pos) = w.buf_and_pos();
        let base = *pos;
        let rest = buf.get_mut(base..).unwrap_or_default();
        // The writer's errors count from its own start: report them from the message's.
        let shift = |e: EncodeError| match e {
            EncodeError::BufferTooSmall { needed, available } => EncodeError::BufferTooSmall {
                needed: needed + base,
                available: available + base,
            },
            other => other,
        };
        let mut fw = FieldsWriter::new(rest, self.header.field_encoding);
        f(index, &mut fw).map_err(shift)?;
        // What `FieldsWriter::finish` would give, without building the `Fields`.
        let (len, count) = (fw.w.position(), fw.count);
        let count = u16::try_from(count).map_err(|_| EncodeError::TooManyFields(count))?;
        *pos += len;
        if let Some(at) = count_at {
            w.patch(at, &count.to_le_bytes());
        }
        Ok(())
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

mod fields;
pub use fields::{FieldIter, FieldsWriter};
