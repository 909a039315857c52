//! Writers for typed values in RawData encoding: one value (`write_scalar`), a batch without a
//! layout (a room check and a store per value), and a batch checked against a layout (runs of
//! one type: one room check per run, [`Runs`] computed once for Periodic-Fixed).

use crate::builtin::{BuiltinType, Guid, UaBytes};
use crate::error::EncodeError;
use crate::variant::Scalar;

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
        None => write_unchecked_types(buf, pos, values),
        Some(layout) => write_checked_types(buf, pos, values, layout),
    }
}

/// [`write_scalars`] without a layout: the values of at most 8 bytes (all but Guid and the
/// strings) with one room check and one store each, on the unwritten rest of the buffer; the
/// others through [`write_scalar`]. The same bytes, errors and final `*pos`.
#[inline]
fn write_unchecked_types(
    buf: &mut [u8],
    pos: &mut usize,
    values: &[Scalar<'_>],
) -> Result<(), EncodeError> {
    let total = buf.len();
    let Some(mut rest) = buf.get_mut(*pos..) else {
        return values.iter().try_for_each(|v| write_scalar(buf, pos, v));
    };
    for v in values {
        let fits = match *v {
            Scalar::Boolean(x) => put_rest(&mut rest, [u8::from(x)]),
            Scalar::SByte(x) => put_rest(&mut rest, [x as u8]),
            Scalar::Byte(x) => put_rest(&mut rest, [x]),
            Scalar::Int16(x) => put_rest(&mut rest, x.to_le_bytes()),
            Scalar::UInt16(x) => put_rest(&mut rest, x.to_le_bytes()),
            Scalar::Int32(x) => put_rest(&mut rest, x.to_le_bytes()),
            Scalar::UInt32(x) => put_rest(&mut rest, x.to_le_bytes()),
            Scalar::Int64(x) => put_rest(&mut rest, x.to_le_bytes()),
            Scalar::UInt64(x) => put_rest(&mut rest, x.to_le_bytes()),
            Scalar::Float(x) => put_rest(&mut rest, x.to_bits().to_le_bytes()),
            Scalar::Double(x) => put_rest(&mut rest, x.to_bits().to_le_bytes()),
            Scalar::DateTime(x) => put_rest(&mut rest, x.0.to_le_bytes()),
            Scalar::StatusCode(x) => put_rest(&mut rest, x.0.to_le_bytes()),
            Scalar::Guid(_) | Scalar::String(_) | Scalar::ByteString(_) | Scalar::XmlElement(_) => {
                *pos = total - rest.len();
                write_scalar_cold(buf, pos, v)?;
                rest = buf.get_mut(*pos..).unwrap_or_default();
                true
            }
        };
        if !fits {
            // The failing value starts here: `write_scalar` reports it.
            *pos = total - rest.len();
            return write_scalar_cold(buf, pos, v);
        }
    }
    *pos = total - rest.len();
    Ok(())
}

/// [`write_scalar`] off the hot loop of [`write_unchecked_types`].
#[cold]
#[inline(never)]
fn write_scalar_cold(buf: &mut [u8], pos: &mut usize, v: &Scalar<'_>) -> Result<(), EncodeError> {
    write_scalar(buf, pos, v)
}

/// Stores `bytes` at the start of `rest` and moves `rest` past them, if there is room.
#[inline(always)]
fn put_rest<const N: usize>(rest: &mut &mut [u8], bytes: [u8; N]) -> bool {
    let r = core::mem::take(rest);
    if r.len() < N {
        *rest = r;
        return false;
    }
    let (d, tail) = r.split_at_mut(N);
    d.copy_from_slice(&bytes);
    *rest = tail;
    true
}

/// [`write_scalars`] with a layout.
#[inline(never)]
fn write_checked_types(
    buf: &mut [u8],
    pos: &mut usize,
    values: &[Scalar<'_>],
    layout: (&[BuiltinType], usize),
) -> Result<(), EncodeError> {
    let (l, first) = layout;
    let types = l.get(first..).unwrap_or(&[]);
    if values.len() > types.len() {
        // Write what matches; the first value past the layout is the error.
        let (head, _) = values.split_at(types.len());
        write_checked_types(buf, pos, head, layout)?;
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
