//! Bounds-checked little-endian reader and writer over byte slices.

use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

/// Reads little-endian values from a borrowed slice; every read is bounds-checked.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` within the whole NetworkMessage, for error reporting.
    base: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            base: 0,
        }
    }

    #[inline]
    pub(crate) fn with_base(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// Absolute offset of the next byte in the NetworkMessage.
    #[inline]
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    #[inline]
    pub(crate) fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            offset: self.offset(),
            kind,
        }
    }

    #[cold]
    #[inline(never)]
    fn truncated(&self, n: usize, what: &'static str) -> DecodeError {
        self.error(DecodeErrorKind::Truncated {
            what,
            needed: n - self.remaining(),
        })
    }

    #[inline]
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(self.truncated(n, what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Skips `n` bytes the caller has checked are there (`n <= remaining()`).
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    #[inline]
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    #[inline]
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }
    #[inline]
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    #[inline]
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    #[inline]
    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    #[inline]
    pub(crate) fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }
    #[inline]
    pub(crate) fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }
    #[inline]
    pub(crate) fn bytes16(&mut self, what: &'static str) -> Result<[u8; 16], DecodeError> {
        self.array(what)
    }
}

/// Writes little-endian values into a caller's buffer; never allocates.
#[derive(Debug)]
pub(crate) struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Writer<'b> {
    #[inline]
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    #[inline]
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// The whole buffer and the write position, for writers that store values themselves.
    #[inline]
    pub(crate) fn buf_and_pos(&mut self) -> (&mut [u8], &mut usize) {
        (&mut *self.buf, &mut self.pos)
    }

    #[inline]
    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.pos + bytes.len();
        if end > self.buf.len() {
            return Err(EncodeError::BufferTooSmall {
                needed: end,
                available: self.buf.len(),
            });
        }
        self.buf[self.pos..end].copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    /// Reserves `n` bytes to be filled later with [`Writer::patch`]; returns their position.
    #[inline]
    pub(crate) fn reserve(&mut self, n: usize) -> Result<usize, EncodeError> {
        let at = self.pos;
        let end = self.pos + n;
        if end > self.buf.len() {
            return Err(EncodeError::BufferTooSmall {
                needed: end,
                available: self.buf.len(),
            });
        }
        self.pos = end;
        Ok(at)
    }

    #[inline]
    pub(crate) fn patch(&mut self, at: usize, bytes: &[u8]) {
        // `at` came from `reserve`, so the range is in bounds.
        self.buf[at..at + bytes.len()].copy_from_slice(bytes);
    }

    #[inline]
    pub(crate) fn u8(&mut self, v: u8) -> Result<(), EncodeError> {
        self.put(&[v])
    }
    #[inline]
    pub(crate) fn u16(&mut self, v: u16) -> Result<(), EncodeError> {
        self.put(&v.to_le_bytes())
    }
    #[inline]
    pub(crate) fn u32(&mut self, v: u32) -> Result<(), EncodeError> {
        self.put(&v.to_le_bytes())
    }
    #[inline]
    pub(crate) fn u64(&mut self, v: u64) -> Result<(), EncodeError> {
        self.put(&v.to_le_bytes())
    }
    #[inline]
    pub(crate) fn i32(&mut self, v: i32) -> Result<(), EncodeError> {
        self.put(&v.to_le_bytes())
    }
    #[inline]
    pub(crate) fn i64(&mut self, v: i64) -> Result<(), EncodeError> {
        self.put(&v.to_le_bytes())
    }
}

impl<'b> Writer<'b> {
    /// The next `W` bytes of the buffer as a [`Window`] for a header of at most
    /// `Window::<W>::MAX_POS` bytes, if that many bytes are left; [`Writer::advance_past`]
    /// then moves past what was written.
    #[inline]
    pub(crate) fn window<const W: usize>(&mut self) -> Option<Window<'_, W>> {
        let out = self.buf.get_mut(self.pos..)?.first_chunk_mut::<W>()?;
        Some(Window { out, pos: 0 })
    }

    /// Moves past the `n` bytes a [`Window`] of this writer wrote (`n` is at most the
    /// window's size, which was there).
    #[inline]
    pub(crate) fn advance_past(&mut self, n: usize) {
        self.pos += n;
    }

    /// The written prefix of the buffer, for the buffer's whole lifetime.
    #[inline]
    pub(crate) fn into_written(self) -> &'b [u8] {
        let Writer { buf, pos } = self;
        &buf[..pos]
    }
}

/// A fixed-size stretch of the output, for headers whose fields are each present or not:
/// the caller has checked once that the `W` bytes are there, and every write lands inside
/// them by construction. Positions are masked with [`Window::MASK`] (a no-op: a header
/// written here never goes past [`Window::MAX_POS`]), which lets the optimizer drop the
/// bounds check of each field.
#[derive(Debug)]
pub(crate) struct Window<'b, const W: usize> {
    out: &'b mut [u8; W],
    pos: usize,
}

impl<const W: usize> Window<'_, W> {
    /// Largest write, in bytes.
    pub(crate) const MAX_PUT: usize = 16;
    /// All positions are at most this (`W` is at least `MASK + 1 + MAX_PUT`).
    pub(crate) const MASK: usize = {
        let m = ((W - Self::MAX_PUT) / 2 + 1).next_power_of_two() - 1;
        assert!(m + 1 + Self::MAX_PUT <= W);
        m
    };
    /// Most bytes a header written here may have.
    pub(crate) const MAX_POS: usize = Self::MASK;

    /// Bytes written so far.
    #[inline(always)]
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    #[inline(always)]
    pub(crate) fn put<const N: usize>(&mut self, bytes: [u8; N]) {
        let p = self.pos & Self::MASK;
        // In bounds: p + N <= MASK + MAX_PUT < W (the optimizer sees it too).
        if let Some(d) = self.out.get_mut(p..p + N) {
            d.copy_from_slice(&bytes);
        }
        self.pos = p + N;
    }

    #[inline(always)]
    pub(crate) fn u8(&mut self, v: u8) {
        self.put([v]);
    }
    #[inline(always)]
    pub(crate) fn u16(&mut self, v: u16) {
        self.put(v.to_le_bytes());
    }
    #[inline(always)]
    pub(crate) fn u32(&mut self, v: u32) {
        self.put(v.to_le_bytes());
    }
    #[inline(always)]
    pub(crate) fn u64(&mut self, v: u64) {
        self.put(v.to_le_bytes());
    }
}
