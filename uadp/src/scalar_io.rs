//! Fast readers and writers for values whose bytes are already known to be well-formed (the
//! validated fields of a [`crate::NetworkMessageView`]) and for batches of typed values
//! (Periodic-Fixed and RawData encoding). Every access is still bounds-checked: on bytes that are
//! not what the validation pass saw, readers return `None` instead of panicking.

use crate::builtin::{BuiltinType, DateTime, Guid, StatusCode, UaBytes};
use crate::error::EncodeError;
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

#[inline(always)]
fn put<const N: usize>(buf: &mut [u8], pos: &mut usize, bytes: [u8; N]) -> Result<(), EncodeError> {
    let available = buf.len();
    match buf.get_mut(*pos..).and_then(|s| s.first_chunk_mut::<N>()) {
        Some(d) => {
            *d = bytes;
            *pos += N;
            Ok(())
        }
        None => Err(EncodeError::BufferTooSmall {
            needed: *pos + N,
            available,
        }),
    }
}

#[cold]
#[inline(never)]
fn put_bytes(
    buf: &mut [u8],
    pos: &mut usize,
    s: UaBytes<'_>,
    what: &'static str,
) -> Result<(), EncodeError> {
    match s.0 {
        None => put(buf, pos, (-1i32).to_le_bytes()),
        Some(b) => {
            let len = i32::try_from(b.len()).map_err(|_| EncodeError::TooLong {
                what,
                len: b.len(),
                max: i32::MAX as usize,
            })?;
            put(buf, pos, len.to_le_bytes())?;
            let available = buf.len();
            let end = *pos + b.len();
            let d = buf.get_mut(*pos..end).ok_or(EncodeError::BufferTooSmall {
                needed: end,
                available,
            })?;
            d.copy_from_slice(b);
            *pos = end;
            Ok(())
        }
    }
}

/// Writes one scalar (RawData encoding) at `*pos`.
#[inline(always)]
pub(crate) fn write_scalar(
    buf: &mut [u8],
    pos: &mut usize,
    v: &Scalar<'_>,
) -> Result<(), EncodeError> {
    match *v {
        Scalar::Boolean(x) => put(buf, pos, [u8::from(x)]),
        Scalar::SByte(x) => put(buf, pos, [x as u8]),
        Scalar::Byte(x) => put(buf, pos, [x]),
        Scalar::Int16(x) => put(buf, pos, x.to_le_bytes()),
        Scalar::UInt16(x) => put(buf, pos, x.to_le_bytes()),
        Scalar::Int32(x) => put(buf, pos, x.to_le_bytes()),
        Scalar::UInt32(x) => put(buf, pos, x.to_le_bytes()),
        Scalar::Int64(x) => put(buf, pos, x.to_le_bytes()),
        Scalar::UInt64(x) => put(buf, pos, x.to_le_bytes()),
        Scalar::Float(x) => put(buf, pos, x.to_bits().to_le_bytes()),
        Scalar::Double(x) => put(buf, pos, x.to_bits().to_le_bytes()),
        Scalar::String(s) => put_bytes(buf, pos, s, "String"),
        Scalar::DateTime(x) => put(buf, pos, x.0.to_le_bytes()),
        Scalar::Guid(g) => match buf.len().checked_sub(*pos) {
            Some(room) if room >= 16 => put(buf, pos, guid_bytes(g)),
            room => Err(guid_too_small(*pos, room.unwrap_or(0), buf.len())),
        },
        Scalar::ByteString(s) => put_bytes(buf, pos, s, "ByteString"),
        Scalar::XmlElement(s) => put_bytes(buf, pos, s, "XmlElement"),
        Scalar::StatusCode(x) => put(buf, pos, x.0.to_le_bytes()),
    }
}

/// The error of writing a Guid field by field (Data1, Data2, Data3, Data4) into `room` bytes.
#[cold]
#[inline(never)]
fn guid_too_small(pos: usize, room: usize, available: usize) -> EncodeError {
    let part = [4, 6, 8, 16].into_iter().find(|n| room < *n).unwrap_or(16);
    EncodeError::BufferTooSmall {
        needed: pos + part,
        available,
    }
}

#[cold]
#[inline(never)]
fn mismatch(index: usize, expected: BuiltinType, v: &Scalar<'_>) -> EncodeError {
    EncodeError::LayoutMismatch {
        index,
        expected,
        found: v.builtin_type(),
    }
}

/// Writes `values` back to back (RawData) at `*pos`, each checked against `layout[first + i]`
/// when a layout is given. `Err` leaves `*pos` where the failing value would have started.
#[inline]
pub(crate) fn write_scalars(
    buf: &mut [u8],
    pos: &mut usize,
    values: &[Scalar<'_>],
    layout: Option<(&[BuiltinType], usize)>,
) -> Result<(), EncodeError> {
    match layout {
        None => {
            for v in values {
                write_scalar(buf, pos, v)?;
            }
        }
        Some((l, first)) => {
            let types = l.get(first..).unwrap_or(&[]);
            if values.len() > types.len() {
                // Write what matches; the first value past the layout is the error.
                let (head, _) = values.split_at(types.len());
                write_scalars(buf, pos, head, layout)?;
                return Err(EncodeError::TooManyFields(first + types.len() + 1));
            }
            // Runs of one type: one type dispatch and one room check per run.
            let n = values.len();
            let mut i = 0;
            while i < n {
                let t = types[i];
                let mut j = i + 1;
                while j < n && types[j] as u8 == t as u8 {
                    j += 1;
                }
                write_run(buf, pos, &values[i..j], t, first + i)?;
                i = j;
            }
        }
    }
    Ok(())
}

/// Most runs of one type a [`Runs`] holds; layouts with more are split as they are written.
pub(crate) const MAX_RUNS: usize = 8;

/// A layout as runs of one type (type, length), computed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Runs {
    runs: [(BuiltinType, u32); MAX_RUNS],
    len: u8,
}

impl Runs {
    /// The runs of `layout`, if it has at most [`MAX_RUNS`] of them.
    pub(crate) fn of(layout: &[BuiltinType]) -> Option<Self> {
        let mut r = Runs {
            runs: [(BuiltinType::Boolean, 0); MAX_RUNS],
            len: 0,
        };
        let mut i = 0;
        while i < layout.len() {
            let t = layout[i];
            let mut j = i + 1;
            while j < layout.len() && layout[j] == t {
                j += 1;
            }
            let slot = r.runs.get_mut(usize::from(r.len))?;
            *slot = (t, u32::try_from(j - i).ok()?);
            r.len += 1;
            i = j;
        }
        Some(r)
    }

    /// Writes `values` (as many as the runs cover, which the caller has checked) run by run.
    #[inline]
    pub(crate) fn write(
        &self,
        buf: &mut [u8],
        pos: &mut usize,
        values: &[Scalar<'_>],
    ) -> Result<(), EncodeError> {
        let mut i = 0;
        for (t, n) in self.runs.iter().take(usize::from(self.len)) {
            let j = i + *n as usize;
            let Some(run) = values.get(i..j) else {
                break;
            };
            write_run(buf, pos, run, *t, i)?;
            i = j;
        }
        Ok(())
    }
}

/// Writes values that the layout says are all of type `t`, value by value.
fn write_checked(
    buf: &mut [u8],
    pos: &mut usize,
    values: &[Scalar<'_>],
    t: BuiltinType,
    first: usize,
) -> Result<(), EncodeError> {
    for (k, v) in values.iter().enumerate() {
        if v.builtin_type() != t {
            return Err(mismatch(first + k, t, v));
        }
        write_scalar(buf, pos, v)?;
    }
    Ok(())
}

#[inline(always)]
fn guid_bytes(g: Guid) -> [u8; 16] {
    let mut w = [0u8; 16];
    w[..4].copy_from_slice(&g.data1.to_le_bytes());
    w[4..6].copy_from_slice(&g.data2.to_le_bytes());
    w[6..8].copy_from_slice(&g.data3.to_le_bytes());
    w[8..].copy_from_slice(&g.data4);
    w
}

/// Writes a run of values that the layout says are all of type `t`: for fixed-size types,
/// one room check for the run and a store per value. The same bytes and errors as
/// [`write_checked`].
#[inline]
fn write_run(
    buf: &mut [u8],
    pos: &mut usize,
    vals: &[Scalar<'_>],
    t: BuiltinType,
    first: usize,
) -> Result<(), EncodeError> {
    macro_rules! fixed {
        ($variant:ident, $n:expr, |$x:ident| $bytes:expr) => {{
            let len = vals.len() * $n;
            let Some(dst) = buf.get_mut(*pos..).and_then(|d| d.get_mut(..len)) else {
                // Not all of the run fits: value by value, for the exact error.
                return write_checked(buf, pos, vals, t, first);
            };
            let mut it = dst.chunks_exact_mut($n).zip(vals);
            while let Some((d, v)) = it.next() {
                let Scalar::$variant($x) = *v else {
                    let k = vals.len() - it.len() - 1;
                    *pos += k * $n;
                    return Err(mismatch(first + k, t, v));
                };
                d.copy_from_slice(&$bytes);
            }
            *pos += len;
            Ok(())
        }};
    }
    use BuiltinType as T;
    match t {
        T::Boolean => fixed!(Boolean, 1, |x| [u8::from(x)]),
        T::SByte => fixed!(SByte, 1, |x| [x as u8]),
        T::Byte => fixed!(Byte, 1, |x| [x]),
        T::Int16 => fixed!(Int16, 2, |x| x.to_le_bytes()),
        T::UInt16 => fixed!(UInt16, 2, |x| x.to_le_bytes()),
        T::Int32 => fixed!(Int32, 4, |x| x.to_le_bytes()),
        T::UInt32 => fixed!(UInt32, 4, |x| x.to_le_bytes()),
        T::Int64 => fixed!(Int64, 8, |x| x.to_le_bytes()),
        T::UInt64 => fixed!(UInt64, 8, |x| x.to_le_bytes()),
        T::Float => fixed!(Float, 4, |x| x.to_bits().to_le_bytes()),
        T::Double => fixed!(Double, 8, |x| x.to_bits().to_le_bytes()),
        T::DateTime => fixed!(DateTime, 8, |x| x.0.to_le_bytes()),
        T::Guid => fixed!(Guid, 16, |x| guid_bytes(x)),
        T::StatusCode => fixed!(StatusCode, 4, |x| x.0.to_le_bytes()),
        T::String | T::ByteString | T::XmlElement => write_checked(buf, pos, vals, t, first),
    }
}

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
