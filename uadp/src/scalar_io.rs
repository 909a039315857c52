//! Fast readers and writers for values whose bytes are already known to be well-formed (the
//! validated fields of a [`crate::NetworkMessageView`]) and for batches of typed values
//! (Periodic-Fixed and RawData encoding). Every access is still bounds-checked: on bytes that are
//! not what the validation pass saw, readers return `None` instead of panicking.

use crate::builtin::{BuiltinType, DateTime, Guid, StatusCode, UaBytes};
use crate::variant::{DataValue, Scalar, Variant, VariantArray};

/// Encoded size per built-in type id; 0 for the length-prefixed types.
const SIZES: [u8; 32] = {
    let mut s = [0u8; 32];
    let mut i = 0;
    while i < BuiltinType::ALL.len() {
        let t = BuiltinType::ALL[i];
        s[t as usize] = match t {
            BuiltinType::Boolean | BuiltinType::SByte | BuiltinType::Byte => 1,
            BuiltinType::Int16 | BuiltinType::UInt16 => 2,
            BuiltinType::Int32 | BuiltinType::UInt32 | BuiltinType::Float => 4,
            BuiltinType::StatusCode => 4,
            BuiltinType::Int64 | BuiltinType::UInt64 | BuiltinType::Double => 8,
            BuiltinType::DateTime => 8,
            BuiltinType::Guid => 16,
            BuiltinType::String | BuiltinType::ByteString | BuiltinType::XmlElement => 0,
        };
        i += 1;
    }
    s
};

/// Encoded size of the fixed-size type with built-in type id `id`; 0 for a length-prefixed type
/// and for ids that are not a supported type (table lookup, no branch).
#[inline(always)]
pub(crate) fn fixed_size_by_id(id: u8) -> usize {
    usize::from(SIZES[usize::from(id & 31)]) * usize::from(id < 32)
}

/// Encoded size of a fixed-size type, 0 for a length-prefixed one (table lookup, no branch).
#[inline(always)]
pub(crate) fn size_or_zero(t: BuiltinType) -> usize {
    usize::from(SIZES[t as usize & 31])
}

/// Total encoded size of a layout if every type in it has a fixed size.
#[inline]
pub(crate) fn layout_fixed_len(layout: &[BuiltinType]) -> Option<usize> {
    let mut sum = 0usize;
    let mut variable = false;
    for t in layout {
        let s = size_or_zero(*t);
        sum += s;
        variable |= s == 0;
    }
    (!variable).then_some(sum)
}

#[inline(always)]
fn take<const N: usize>(b: &[u8], pos: &mut usize) -> Option<[u8; N]> {
    let a = *b.get(*pos..)?.first_chunk::<N>()?;
    *pos += N;
    Some(a)
}

#[inline(always)]
fn take_slice<'a>(b: &'a [u8], pos: &mut usize, n: usize) -> Option<&'a [u8]> {
    let s = b.get(*pos..)?.get(..n)?;
    *pos += n;
    Some(s)
}

#[inline(always)]
pub(crate) fn read_u16(b: &[u8], pos: &mut usize) -> Option<u16> {
    take::<2>(b, pos).map(u16::from_le_bytes)
}

#[inline(always)]
pub(crate) fn read_u32(b: &[u8], pos: &mut usize) -> Option<u32> {
    take::<4>(b, pos).map(u32::from_le_bytes)
}

#[inline(always)]
pub(crate) fn read_u64(b: &[u8], pos: &mut usize) -> Option<u64> {
    take::<8>(b, pos).map(u64::from_le_bytes)
}

#[inline]
fn read_bytes<'a>(b: &'a [u8], pos: &mut usize) -> Option<UaBytes<'a>> {
    let len = read_u32(b, pos)? as i32;
    if len == -1 {
        return Some(UaBytes(None));
    }
    let n = usize::try_from(len).ok()?;
    take_slice(b, pos, n).map(|s| UaBytes(Some(s)))
}

/// One scalar of type `ty` at `*pos`.
#[inline(always)]
pub(crate) fn read_scalar<'a>(b: &'a [u8], pos: &mut usize, ty: BuiltinType) -> Option<Scalar<'a>> {
    use BuiltinType as T;
    Some(match ty {
        T::Boolean => Scalar::Boolean(take::<1>(b, pos)?[0] != 0),
        T::SByte => Scalar::SByte(take::<1>(b, pos)?[0] as i8),
        T::Byte => Scalar::Byte(take::<1>(b, pos)?[0]),
        T::Int16 => Scalar::Int16(read_u16(b, pos)? as i16),
        T::UInt16 => Scalar::UInt16(read_u16(b, pos)?),
        T::Int32 => Scalar::Int32(read_u32(b, pos)? as i32),
        T::UInt32 => Scalar::UInt32(read_u32(b, pos)?),
        T::Int64 => Scalar::Int64(read_u64(b, pos)? as i64),
        T::UInt64 => Scalar::UInt64(read_u64(b, pos)?),
        T::Float => Scalar::Float(f32::from_bits(read_u32(b, pos)?)),
        T::Double => Scalar::Double(f64::from_bits(read_u64(b, pos)?)),
        T::String => Scalar::String(read_bytes(b, pos)?),
        T::DateTime => Scalar::DateTime(DateTime(read_u64(b, pos)? as i64)),
        T::Guid => Scalar::Guid(Guid::from_wire(take::<16>(b, pos)?)),
        T::ByteString => Scalar::ByteString(read_bytes(b, pos)?),
        T::XmlElement => Scalar::XmlElement(read_bytes(b, pos)?),
        T::StatusCode => Scalar::StatusCode(StatusCode(read_u32(b, pos)?)),
    })
}

/// One Variant at `*pos` (bytes already validated by `Variant::decode`).
#[inline(always)]
pub(crate) fn read_variant<'a>(b: &'a [u8], pos: &mut usize) -> Option<Variant<'a>> {
    let mask = *b.get(*pos)?;
    // Scalars inline; null and arrays out of line.
    if mask & 0xC0 == 0 {
        if let Some(ty) = BuiltinType::from_id(mask) {
            let mut p = *pos + 1;
            let v = read_scalar(b, &mut p, ty)?;
            *pos = p;
            return Some(Variant::Scalar(v));
        }
    }
    read_variant_other(b, pos)
}

#[inline(never)]
fn read_variant_other<'a>(b: &'a [u8], pos: &mut usize) -> Option<Variant<'a>> {
    let mask = take::<1>(b, pos)?[0];
    let type_id = mask & 0x3F;
    if type_id == 0 {
        return (mask == 0).then_some(Variant::Null);
    }
    let ty = BuiltinType::from_id(type_id)?;
    if mask & 0xC0 == 0 {
        return read_scalar(b, pos, ty).map(Variant::Scalar);
    }
    read_array(b, pos, ty, mask & 0x40 != 0).map(Variant::Array)
}

#[cold]
fn read_array<'a>(
    b: &'a [u8],
    pos: &mut usize,
    ty: BuiltinType,
    has_dims: bool,
) -> Option<VariantArray<'a>> {
    let raw_len = read_u32(b, pos)? as i32;
    let len = match raw_len {
        -1 => None,
        l => Some(u32::try_from(l).ok()?),
    };
    let n = len.unwrap_or(0) as usize;
    let start = *pos;
    match size_or_zero(ty) {
        0 => {
            for _ in 0..n {
                read_scalar(b, pos, ty)?;
            }
        }
        size => {
            take_slice(b, pos, n.checked_mul(size)?)?;
        }
    }
    let elements = b.get(start..*pos)?;
    let dimensions = if has_dims {
        let count = usize::try_from(read_u32(b, pos)? as i32).ok()?;
        Some(take_slice(b, pos, count.checked_mul(4)?)?)
    } else {
        None
    };
    Some(VariantArray {
        element_type: ty,
        len,
        elements,
        dimensions,
    })
}

/// One DataValue at `*pos` (bytes already validated by `DataValue::decode`).
#[inline]
pub(crate) fn read_data_value<'a>(b: &'a [u8], pos: &mut usize) -> Option<DataValue<'a>> {
    let mask = take::<1>(b, pos)?[0];
    let mut dv = DataValue::default();
    if mask & 0x01 != 0 {
        dv.value = Some(read_variant(b, pos)?);
    }
    if mask & 0x02 != 0 {
        dv.status = Some(StatusCode(read_u32(b, pos)?));
    }
    if mask & 0x04 != 0 {
        dv.source_timestamp = Some(DateTime(read_u64(b, pos)? as i64));
    }
    if mask & 0x10 != 0 {
        dv.source_picoseconds = Some(read_u16(b, pos)?);
    }
    if mask & 0x08 != 0 {
        dv.server_timestamp = Some(DateTime(read_u64(b, pos)? as i64));
    }
    if mask & 0x20 != 0 {
        dv.server_picoseconds = Some(read_u16(b, pos)?);
    }
    Some(dv)
}

mod write;
pub(crate) use write::{write_scalars, Runs};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::Reader;
    use crate::variant::{skip_data_value, skip_scalar, skip_variant};
    use proptest::prelude::*;

    #[test]
    fn from_id_and_sizes_agree_with_the_type_list() {
        for id in 0..=u8::MAX {
            let t = BuiltinType::ALL.iter().copied().find(|t| *t as u8 == id);
            assert_eq!(BuiltinType::from_id(id), t, "id {id}");
            let size = t.and_then(BuiltinType::fixed_size).unwrap_or(0);
            assert_eq!(fixed_size_by_id(id), size, "id {id}");
        }
        for t in BuiltinType::ALL {
            assert_eq!(size_or_zero(t), t.fixed_size().unwrap_or(0));
        }
        let long = [BuiltinType::Guid; 1000];
        assert_eq!(layout_fixed_len(&long), Some(16_000));
        assert_eq!(layout_fixed_len(&[]), Some(0));
        assert_eq!(
            layout_fixed_len(&[BuiltinType::Guid, BuiltinType::Byte]),
            Some(17)
        );
        assert_eq!(
            layout_fixed_len(&[BuiltinType::UInt64, BuiltinType::String]),
            None
        );
    }

    /// Bytes that often look like Variants and DataValues: masks of supported types, small
    /// lengths.
    fn wire() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                3 => any::<u8>(),
                2 => 0u8..20,
                1 => (0u8..20).prop_map(|t| t | 0x80),
                1 => (0u8..20).prop_map(|t| t | 0xC0),
                1 => Just(0xFF),
            ],
            0..40,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        #[test]
        fn skipping_checks_what_decoding_checks(bytes in wire(), base in 0usize..5) {
            let mut a = Reader::with_base(&bytes, base);
            let mut b = Reader::with_base(&bytes, base);
            prop_assert_eq!(skip_variant(&mut a), Variant::decode(&mut b).map(drop));
            prop_assert_eq!(a.offset(), b.offset());

            let mut a = Reader::with_base(&bytes, base);
            let mut b = Reader::with_base(&bytes, base);
            prop_assert_eq!(skip_data_value(&mut a), DataValue::decode(&mut b).map(drop));
            prop_assert_eq!(a.offset(), b.offset());

            for t in BuiltinType::ALL {
                let mut a = Reader::with_base(&bytes, base);
                let mut b = Reader::with_base(&bytes, base);
                prop_assert_eq!(skip_scalar(&mut a, t), Scalar::decode(&mut b, t).map(drop));
                prop_assert_eq!(a.offset(), b.offset());
            }
        }

        #[test]
        fn reading_validated_bytes_gives_the_decoded_value(bytes in wire()) {
            let mut r = Reader::new(&bytes);
            if let Ok(v) = Variant::decode(&mut r) {
                let mut pos = 0;
                prop_assert_eq!(read_variant(&bytes, &mut pos), Some(v));
                prop_assert_eq!(pos, r.offset());
            }
            let mut r = Reader::new(&bytes);
            if let Ok(v) = DataValue::decode(&mut r) {
                let mut pos = 0;
                prop_assert_eq!(read_data_value(&bytes, &mut pos), Some(v));
                prop_assert_eq!(pos, r.offset());
            }
            for t in BuiltinType::ALL {
                let mut r = Reader::new(&bytes);
                let mut pos = 0;
                let read = read_scalar(&bytes, &mut pos, t);
                match Scalar::decode(&mut r, t) {
                    Ok(v) => {
                        prop_assert_eq!(read, Some(v));
                        prop_assert_eq!(pos, r.offset());
                    }
                    Err(_) => prop_assert_eq!(read, None),
                }
            }
            // Never a panic, whatever the bytes and the start.
            for start in 0..=bytes.len() + 1 {
                let mut pos = start;
                let _ = read_variant(&bytes, &mut pos);
                let mut pos = start;
                let _ = read_data_value(&bytes, &mut pos);
            }
        }
    }
}
