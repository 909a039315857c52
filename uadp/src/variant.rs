//! Variant, scalar and DataValue encodings (Part 6 §5.2.2.16/17) for the built-in types UADP carries.

use crate::builtin::{BuiltinType, DateTime, Guid, StatusCode, UaBytes};
use crate::cursor::{Reader, Writer};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::scalar_io::{fixed_size_by_id, size_or_zero};

/// One value of a built-in type.
#[derive(Debug, Clone, Copy)]
pub enum Scalar<'a> {
    Boolean(bool),
    SByte(i8),
    Byte(u8),
    Int16(i16),
    UInt16(u16),
    Int32(i32),
    UInt32(u32),
    Int64(i64),
    UInt64(u64),
    Float(f32),
    Double(f64),
    String(UaBytes<'a>),
    DateTime(DateTime),
    Guid(Guid),
    ByteString(UaBytes<'a>),
    XmlElement(UaBytes<'a>),
    StatusCode(StatusCode),
}

impl PartialEq for Scalar<'_> {
    /// Floats compare by bit pattern, so that NaN payloads round-trip in tests.
    fn eq(&self, other: &Self) -> bool {
        use Scalar::*;
        match (self, other) {
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Double(a), Double(b)) => a.to_bits() == b.to_bits(),
            (Boolean(a), Boolean(b)) => a == b,
            (SByte(a), SByte(b)) => a == b,
            (Byte(a), Byte(b)) => a == b,
            (Int16(a), Int16(b)) => a == b,
            (UInt16(a), UInt16(b)) => a == b,
            (Int32(a), Int32(b)) => a == b,
            (UInt32(a), UInt32(b)) => a == b,
            (Int64(a), Int64(b)) => a == b,
            (UInt64(a), UInt64(b)) => a == b,
            (String(a), String(b)) => a == b,
            (DateTime(a), DateTime(b)) => a == b,
            (Guid(a), Guid(b)) => a == b,
            (ByteString(a), ByteString(b)) => a == b,
            (XmlElement(a), XmlElement(b)) => a == b,
            (StatusCode(a), StatusCode(b)) => a == b,
            _ => false,
        }
    }
}

impl<'a> Scalar<'a> {
    /// The built-in type of this value.
    pub fn builtin_type(&self) -> BuiltinType {
        use Scalar::*;
        match self {
            Boolean(_) => BuiltinType::Boolean,
            SByte(_) => BuiltinType::SByte,
            Byte(_) => BuiltinType::Byte,
            Int16(_) => BuiltinType::Int16,
            UInt16(_) => BuiltinType::UInt16,
            Int32(_) => BuiltinType::Int32,
            UInt32(_) => BuiltinType::UInt32,
            Int64(_) => BuiltinType::Int64,
            UInt64(_) => BuiltinType::UInt64,
            Float(_) => BuiltinType::Float,
            Double(_) => BuiltinType::Double,
            String(_) => BuiltinType::String,
            DateTime(_) => BuiltinType::DateTime,
            Guid(_) => BuiltinType::Guid,
            ByteString(_) => BuiltinType::ByteString,
            XmlElement(_) => BuiltinType::XmlElement,
            StatusCode(_) => BuiltinType::StatusCode,
        }
    }

    /// Bytes this value takes on the wire (without a Variant encoding mask).
    pub fn encoded_len(&self) -> usize {
        match self {
            Scalar::String(s) | Scalar::ByteString(s) | Scalar::XmlElement(s) => s.encoded_len(),
            other => other.builtin_type().fixed_size().unwrap_or(0),
        }
    }

    pub(crate) fn decode(r: &mut Reader<'a>, ty: BuiltinType) -> Result<Self, DecodeError> {
        use BuiltinType as T;
        Ok(match ty {
            // Part 6: any non-zero byte is true.
            T::Boolean => Scalar::Boolean(r.u8("Boolean")? != 0),
            T::SByte => Scalar::SByte(r.u8("SByte")? as i8),
            T::Byte => Scalar::Byte(r.u8("Byte")?),
            T::Int16 => Scalar::Int16(r.u16("Int16")? as i16),
            T::UInt16 => Scalar::UInt16(r.u16("UInt16")?),
            T::Int32 => Scalar::Int32(r.i32("Int32")?),
            T::UInt32 => Scalar::UInt32(r.u32("UInt32")?),
            T::Int64 => Scalar::Int64(r.i64("Int64")?),
            T::UInt64 => Scalar::UInt64(r.u64("UInt64")?),
            T::Float => Scalar::Float(f32::from_bits(r.u32("Float")?)),
            T::Double => Scalar::Double(f64::from_bits(r.u64("Double")?)),
            T::String => Scalar::String(UaBytes::decode(r, "String")?),
            T::DateTime => Scalar::DateTime(DateTime(r.i64("DateTime")?)),
            T::Guid => Scalar::Guid(Guid::decode(r)?),
            T::ByteString => Scalar::ByteString(UaBytes::decode(r, "ByteString")?),
            T::XmlElement => Scalar::XmlElement(UaBytes::decode(r, "XmlElement")?),
            T::StatusCode => Scalar::StatusCode(StatusCode(r.u32("StatusCode")?)),
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        match *self {
            Scalar::Boolean(v) => w.u8(u8::from(v)),
            Scalar::SByte(v) => w.u8(v as u8),
            Scalar::Byte(v) => w.u8(v),
            Scalar::Int16(v) => w.u16(v as u16),
            Scalar::UInt16(v) => w.u16(v),
            Scalar::Int32(v) => w.i32(v),
            Scalar::UInt32(v) => w.u32(v),
            Scalar::Int64(v) => w.i64(v),
            Scalar::UInt64(v) => w.u64(v),
            Scalar::Float(v) => w.u32(v.to_bits()),
            Scalar::Double(v) => w.u64(v.to_bits()),
            Scalar::String(s) => s.encode(w, "String"),
            Scalar::DateTime(v) => w.i64(v.0),
            Scalar::Guid(g) => g.encode(w),
            Scalar::ByteString(s) => s.encode(w, "ByteString"),
            Scalar::XmlElement(s) => s.encode(w, "XmlElement"),
            Scalar::StatusCode(v) => w.u32(v.0),
        }
    }
}

/// A Variant: null, a scalar, or a (possibly multi-dimensional) array of one built-in type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Variant<'a> {
    Null,
    Scalar(Scalar<'a>),
    Array(VariantArray<'a>),
}

const MASK_ARRAY: u8 = 0x80;
const MASK_DIMENSIONS: u8 = 0x40;
const MASK_TYPE: u8 = 0x3F;

impl<'a> Variant<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let at = r.offset();
        let mask = r.u8("Variant encoding mask")?;
        let type_id = mask & MASK_TYPE;
        if type_id == 0 {
            if mask != 0 {
                return Err(DecodeError {
                    offset: at,
                    kind: DecodeErrorKind::InvalidArrayDimensions,
                });
            }
            return Ok(Variant::Null);
        }
        let ty = BuiltinType::from_id(type_id).ok_or(DecodeError {
            offset: at,
            kind: DecodeErrorKind::UnsupportedVariantType(type_id),
        })?;
        if mask & MASK_ARRAY == 0 {
            if mask & MASK_DIMENSIONS != 0 {
                return Err(DecodeError {
                    offset: at,
                    kind: DecodeErrorKind::InvalidArrayDimensions,
                });
            }
            return Ok(Variant::Scalar(Scalar::decode(r, ty)?));
        }
        VariantArray::decode_body(r, ty, mask & MASK_DIMENSIONS != 0).map(Variant::Array)
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        match self {
            Variant::Null => w.u8(0),
            Variant::Scalar(s) => {
                w.u8(s.builtin_type().id())?;
                s.encode(w)
            }
            Variant::Array(a) => a.encode(w),
        }
    }
}

/// An array Variant, borrowed in its encoded form. Iterate with [`VariantArray::values`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VariantArray<'a> {
    /// Type of every element.
    pub element_type: BuiltinType,
    /// Number of elements; `None` is the null array (length -1).
    pub len: Option<u32>,
    /// The encoded elements, back to back.
    pub elements: &'a [u8],
    /// The encoded ArrayDimensions (Int32 each), if present.
    pub dimensions: Option<&'a [u8]>,
}

impl<'a> VariantArray<'a> {
    /// Encodes `values` (and optional `dimensions`) into `scratch` and returns an array that
    /// borrows it — the way to build an array for encoding without allocating.
    pub fn encode_from(
        element_type: BuiltinType,
        values: &[Scalar<'_>],
        dimensions: Option<&[i32]>,
        scratch: &'a mut [u8],
    ) -> Result<Self, EncodeError> {
        let mut w = Writer::new(scratch);
        for v in values {
            if v.builtin_type() != element_type {
                return Err(EncodeError::InvalidValue(
                    "an array element of another type",
                ));
            }
            v.encode(&mut w)?;
        }
        let elements_end = w.position();
        if let Some(dims) = dimensions {
            let product = dims.iter().try_fold(1i64, |p, d| {
                if *d < 0 {
                    None
                } else {
                    p.checked_mul(i64::from(*d))
                }
            });
            if product != Some(values.len() as i64) {
                return Err(EncodeError::InvalidValue(
                    "array dimensions whose product is not the length",
                ));
            }
            for d in dims {
                w.i32(*d)?;
            }
        }
        let end = w.position();
        let len = u32::try_from(values.len())
            .ok()
            .filter(|l| *l <= i32::MAX as u32)
            .ok_or(EncodeError::TooLong {
                what: "array",
                len: values.len(),
                max: i32::MAX as usize,
            })?;
        let scratch: &'a [u8] = scratch;
        Ok(VariantArray {
            element_type,
            len: Some(len),
            elements: &scratch[..elements_end],
            dimensions: dimensions.map(|_| &scratch[elements_end..end]),
        })
    }

    /// The null array of a type.
    pub fn null(element_type: BuiltinType) -> Self {
        VariantArray {
            element_type,
            len: None,
            elements: &[],
            dimensions: None,
        }
    }

    fn decode_body(
        r: &mut Reader<'a>,
        ty: BuiltinType,
        has_dims: bool,
    ) -> Result<Self, DecodeError> {
        let at = r.offset();
        let raw_len = r.i32("array length")?;
        let len = match raw_len {
            -1 => None,
            l if l < -1 => {
                return Err(DecodeError {
                    offset: at,
                    kind: DecodeErrorKind::NegativeLength(l),
                })
            }
            l => Some(l as u32),
        };
        let n = len.unwrap_or(0) as usize;
        let start = r.rest();
        let start_off = r.offset();
        match ty.fixed_size() {
            Some(size) => {
                r.take(n * size, "array elements")?;
            }
            None => {
                // Each element is at least its 4-byte length: refuse absurd counts before looping.
                if n.saturating_mul(4) > r.remaining() {
                    return Err(r.error(DecodeErrorKind::Truncated {
                        what: "array elements",
                        needed: n * 4 - r.remaining(),
                    }));
                }
                for _ in 0..n {
                    skip_scalar(r, ty)?;
                }
            }
        }
        let elements = &start[..r.offset() - start_off];
        let dimensions = if has_dims {
            let dims_at = r.offset();
            let count = r.i32("ArrayDimensions length")?;
            if count < 0 || (count as usize).saturating_mul(4) > r.remaining() {
                return Err(DecodeError {
                    offset: dims_at,
                    kind: DecodeErrorKind::InvalidArrayDimensions,
                });
            }
            let raw = r.take(count as usize * 4, "ArrayDimensions")?;
            let product = raw.chunks_exact(4).try_fold(1u64, |p, c| {
                let d = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                if d < 0 {
                    None
                } else {
                    p.checked_mul(d as u64)
                }
            });
            if product != Some(n as u64) {
                return Err(DecodeError {
                    offset: dims_at,
                    kind: DecodeErrorKind::InvalidArrayDimensions,
                });
            }
            Some(raw)
        } else {
            None
        };
        Ok(VariantArray {
            element_type: ty,
            len,
            elements,
            dimensions,
        })
    }

    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let mut mask = self.element_type.id() | MASK_ARRAY;
        if self.dimensions.is_some() {
            mask |= MASK_DIMENSIONS;
        }
        w.u8(mask)?;
        match self.len {
            None => w.i32(-1)?,
            Some(l) => w.i32(l as i32)?,
        }
        w.put(self.elements)?;
        if let Some(d) = self.dimensions {
            w.i32((d.len() / 4) as i32)?;
            w.put(d)?;
        }
        Ok(())
    }

    /// The elements, decoded one by one.
    pub fn values(&self) -> ArrayValues<'a> {
        ArrayValues {
            reader: Reader::new(self.elements),
            ty: self.element_type,
            left: self.len.unwrap_or(0),
        }
    }

    /// The ArrayDimensions, if present.
    pub fn dimension_values(&self) -> impl Iterator<Item = i32> + 'a {
        self.dimensions
            .unwrap_or(&[])
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
    }
}

/// Iterator over the elements of a [`VariantArray`].
#[derive(Debug, Clone)]
pub struct ArrayValues<'a> {
    reader: Reader<'a>,
    ty: BuiltinType,
    left: u32,
}

impl<'a> Iterator for ArrayValues<'a> {
    type Item = Result<Scalar<'a>, DecodeError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = Scalar::decode(&mut self.reader, self.ty);
        if item.is_err() {
            self.left = 0;
        }
        Some(item)
    }
}

/// A DataValue (Part 6 §5.2.2.17): a value with status and timestamps, each optional.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DataValue<'a> {
    pub value: Option<Variant<'a>>,
    pub status: Option<StatusCode>,
    pub source_timestamp: Option<DateTime>,
    pub source_picoseconds: Option<u16>,
    pub server_timestamp: Option<DateTime>,
    pub server_picoseconds: Option<u16>,
}

impl<'a> DataValue<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let at = r.offset();
        let mask = r.u8("DataValue encoding mask")?;
        if mask & 0xC0 != 0 {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::ReservedBits {
                    field: "DataValue encoding mask",
                    value: mask & 0xC0,
                },
            });
        }
        let mut dv = DataValue::default();
        if mask & 0x01 != 0 {
            dv.value = Some(Variant::decode(r)?);
        }
        if mask & 0x02 != 0 {
            dv.status = Some(StatusCode(r.u32("DataValue status")?));
        }
        if mask & 0x04 != 0 {
            dv.source_timestamp = Some(DateTime(r.i64("DataValue source timestamp")?));
        }
        if mask & 0x10 != 0 {
            dv.source_picoseconds = Some(r.u16("DataValue source picoseconds")?);
        }
        if mask & 0x08 != 0 {
            dv.server_timestamp = Some(DateTime(r.i64("DataValue server timestamp")?));
        }
        if mask & 0x20 != 0 {
            dv.server_picoseconds = Some(r.u16("DataValue server picoseconds")?);
        }
        Ok(dv)
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let mask = u8::from(self.value.is_some())
            | u8::from(self.status.is_some()) << 1
            | u8::from(self.source_timestamp.is_some()) << 2
            | u8::from(self.server_timestamp.is_some()) << 3
            | u8::from(self.source_picoseconds.is_some()) << 4
            | u8::from(self.server_picoseconds.is_some()) << 5;
        w.u8(mask)?;
        if let Some(v) = &self.value {
            v.encode(w)?;
        }
        if let Some(s) = self.status {
            w.u32(s.0)?;
        }
        if let Some(t) = self.source_timestamp {
            w.i64(t.0)?;
        }
        if let Some(p) = self.source_picoseconds {
            w.u16(p)?;
        }
        if let Some(t) = self.server_timestamp {
            w.i64(t.0)?;
        }
        if let Some(p) = self.server_picoseconds {
            w.u16(p)?;
        }
        Ok(())
    }
}

/// Skips one scalar of type `ty`: the checks and errors of decoding it, without the value.
#[inline]
pub(crate) fn skip_scalar(r: &mut Reader<'_>, ty: BuiltinType) -> Result<(), DecodeError> {
    match size_or_zero(ty) {
        0 => UaBytes::decode(r, ty.name()).map(drop),
        n => r.take(n, ty.name()).map(drop),
    }
}

/// Skips one Variant: the checks and errors of [`Variant::decode`], without the value.
#[inline]
pub(crate) fn skip_variant(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    // Fast path: a scalar of a fixed-size type that is all there.
    if let Some(&mask) = r.rest().first() {
        let size = fixed_size_by_id(mask);
        if size != 0 && size < r.remaining() {
            r.advance(1 + size);
            return Ok(());
        }
    }
    skip_variant_checked(r)
}

fn skip_variant_checked(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    let at = r.offset();
    let mask = r.u8("Variant encoding mask")?;
    let type_id = mask & MASK_TYPE;
    if type_id == 0 {
        if mask != 0 {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::InvalidArrayDimensions,
            });
        }
        return Ok(());
    }
    let Some(ty) = BuiltinType::from_id(type_id) else {
        return Err(DecodeError {
            offset: at,
            kind: DecodeErrorKind::UnsupportedVariantType(type_id),
        });
    };
    if mask & MASK_ARRAY == 0 {
        if mask & MASK_DIMENSIONS != 0 {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::InvalidArrayDimensions,
            });
        }
        return skip_scalar(r, ty);
    }
    skip_array(r, ty, mask & MASK_DIMENSIONS != 0)
}

#[cold]
#[inline(never)]
fn skip_array(r: &mut Reader<'_>, ty: BuiltinType, has_dims: bool) -> Result<(), DecodeError> {
    VariantArray::decode_body(r, ty, has_dims).map(drop)
}

/// Skips one DataValue: the checks and errors of [`DataValue::decode`], without the value.
#[inline]
pub(crate) fn skip_data_value(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    let at = r.offset();
    let mask = r.u8("DataValue encoding mask")?;
    if mask & 0xC0 != 0 {
        return Err(DecodeError {
            offset: at,
            kind: DecodeErrorKind::ReservedBits {
                field: "DataValue encoding mask",
                value: mask & 0xC0,
            },
        });
    }
    if mask & 0x01 != 0 {
        skip_variant(r)?;
    }
    if mask & 0x02 != 0 {
        r.take(4, "DataValue status")?;
    }
    if mask & 0x04 != 0 {
        r.take(8, "DataValue source timestamp")?;
    }
    if mask & 0x10 != 0 {
        r.take(2, "DataValue source picoseconds")?;
    }
    if mask & 0x08 != 0 {
        r.take(8, "DataValue server timestamp")?;
    }
    if mask & 0x20 != 0 {
        r.take(2, "DataValue server picoseconds")?;
    }
    Ok(())
}
