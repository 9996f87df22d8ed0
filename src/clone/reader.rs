//! Reading the record format: a bounds-checked cursor over untrusted bytes (shared
//! with the serde bridge).

use num_bigint::{BigInt, Sign};

use super::writer::unzigzag;
use super::{clone_err, tag};
use crate::error::Result;
use crate::value::JsString;

/// A bounds-checked cursor over untrusted bytes (shared with the serde bridge).
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    #[inline]
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(clone_err("truncated record")),
        }
    }

    #[inline]
    pub(crate) fn peek(&self) -> Result<u8> {
        self.buf
            .get(self.pos)
            .copied()
            .ok_or_else(|| clone_err("truncated record"))
    }

    /// True when the byte at the cursor is `t` (for fast paths: no error to build).
    #[inline(always)]
    pub(crate) fn peek_is(&self, t: u8) -> bool {
        self.buf.get(self.pos) == Some(&t)
    }

    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<u64> {
        match self.short_varint_at(self.pos) {
            Some((n, end)) => {
                self.pos = end;
                Ok(n)
            }
            None => self.varint_long(),
        }
    }

    /// Fast path: the varint at `at` and the position after it, when it is one to
    /// three bytes, as most are (string lengths, small integers, ids); `None` for
    /// anything else (longer, truncated), which [`Reader::varint`] reads in general
    /// (to the same value).
    #[inline(always)]
    pub(crate) fn short_varint_at(&self, at: usize) -> Option<(u64, usize)> {
        match *self.buf.get(at..)? {
            [b0, ..] if b0 < 0x80 => Some((b0 as u64, at + 1)),
            [b0, b1, ..] if b1 < 0x80 => Some(((b0 & 0x7f) as u64 | (b1 as u64) << 7, at + 2)),
            [b0, b1, b2, ..] if b2 < 0x80 => Some((
                (b0 & 0x7f) as u64 | ((b1 & 0x7f) as u64) << 7 | (b2 as u64) << 14,
                at + 3,
            )),
            _ => None,
        }
    }

    /// A varint of more than one byte (or a truncated one).
    #[inline(never)]
    fn varint_long(&mut self) -> Result<u64> {
        let mut n: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(clone_err("varint overflows 64 bits"));
            }
            n |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
            shift += 7;
            if shift > 63 {
                return Err(clone_err("varint overflows 64 bits"));
            }
        }
    }

    /// A varint that sizes something with one byte per unit left in the input.
    #[inline]
    pub(crate) fn len(&mut self, unit: usize) -> Result<usize> {
        let n = self.varint()?;
        if n > (self.remaining() / unit.max(1)) as u64 {
            return Err(clone_err("length prefix exceeds the record"));
        }
        Ok(n as usize)
    }

    #[inline]
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(clone_err("truncated record"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn f64(&mut self) -> Result<f64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    pub(crate) fn int(&mut self) -> Result<f64> {
        let i = unzigzag(self.varint()?);
        if i.unsigned_abs() > (1u64 << 53) {
            return Err(clone_err("integer out of the safe range"));
        }
        Ok(i as f64)
    }

    /// The body of a STRING tag, as text.
    #[inline(always)]
    pub(crate) fn str_body(&mut self) -> Result<&'a str> {
        // Fast path: a short string (one-byte length) that is all ASCII, as most
        // strings and nearly all property keys are. Anything else (longer, truncated,
        // not ASCII) takes the general path from the same position.
        match self.short_str_at(self.pos) {
            Some((s, end)) => {
                self.pos = end;
                Ok(s)
            }
            None => self.str_body_long(),
        }
    }

    /// Fast path: the STRING body at `at` and the position after it, when its length
    /// is one byte and it is all ASCII; `None` for anything else, which
    /// [`Reader::str_body`] reads in general.
    #[inline(always)]
    pub(crate) fn short_str_at(&self, at: usize) -> Option<(&'a str, usize)> {
        short_ascii_at(self.buf, at)
    }

    /// [`Reader::str_body`] in general: any length, full UTF-8 validation.
    #[inline(never)]
    fn str_body_long(&mut self) -> Result<&'a str> {
        let n = self.len(1)?;
        let b = self.bytes(n)?;
        std::str::from_utf8(b).map_err(|_| clone_err("string is not valid UTF-8"))
    }

    /// The body of a STRING16 tag, as code units.
    pub(crate) fn utf16_body(&mut self) -> Result<Vec<u16>> {
        let n = self.len(2)?;
        let b = self.bytes(n * 2)?;
        Ok(b.chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect())
    }

    /// A string value (tag included).
    pub(crate) fn js_string(&mut self) -> Result<JsString> {
        match self.u8()? {
            tag::STRING => Ok(JsString::new(self.str_body()?)),
            tag::STRING16 => Ok(JsString::from_utf16(&self.utf16_body()?)),
            t => Err(clone_err(format!("expected a string, found tag {t}"))),
        }
    }

    /// The body of a BIGINT tag.
    pub(crate) fn bigint_body(&mut self) -> Result<BigInt> {
        let sign = match self.u8()? {
            0 => Sign::NoSign,
            1 => Sign::Plus,
            2 => Sign::Minus,
            s => return Err(clone_err(format!("bad BigInt sign {s}"))),
        };
        let n = self.len(1)?;
        let mag = self.bytes(n)?;
        if sign == Sign::NoSign && n != 0 {
            return Err(clone_err("BigInt zero with a magnitude"));
        }
        Ok(BigInt::from_bytes_le(sign, mag))
    }
}

/// The string at `at` in `buf` (a one-byte length, then the bytes) and the position
/// after it, when it is all ASCII; else `None` (also when it is out of `buf`).
///
/// Most strings and nearly all property keys are short and ASCII: checking that is a
/// few word-wide tests, where full UTF-8 validation of a short string costs several
/// times more. A string of at most 8 bytes is one test of an 8-byte word of `buf`
/// that holds it (starting at it, or else ending at it), the bytes that are not the
/// string's masked off.
#[inline(always)]
fn short_ascii_at(buf: &[u8], at: usize) -> Option<(&str, usize)> {
    // The high bit of each of the low (`LOW[n]`) or high (`HIGH[n]`) `n` bytes.
    const LOW: [u64; 9] = {
        let mut m = [0u64; 9];
        let mut i = 1;
        while i < 9 {
            m[i] = m[i - 1] | 0x80 << (8 * (i - 1));
            i += 1;
        }
        m
    };
    const HIGH: [u64; 9] = {
        let mut m = [0u64; 9];
        let mut i = 1;
        while i < 9 {
            m[i] = m[i - 1] | 0x80 << (8 * (8 - i));
            i += 1;
        }
        m
    };
    let (&n, tail) = buf.get(at..)?.split_first()?;
    if n >= 0x80 {
        return None;
    }
    let n = n as usize;
    let b = tail.get(..n)?;
    let end = at + 1 + n;
    let ascii = if n > 8 {
        b.is_ascii()
    } else if let Some(w) = tail.get(..8) {
        word(w) & LOW[n] == 0
    } else if let Some(w) = buf.get(end.wrapping_sub(8)..end) {
        word(w) & HIGH[n] == 0
    } else {
        b.is_ascii()
    };
    if ascii {
        // SAFETY: ASCII bytes are valid UTF-8 (`b` was just checked to be ASCII).
        Some((unsafe { std::str::from_utf8_unchecked(b) }, end))
    } else {
        None
    }
}

/// Eight bytes as a little-endian word.
#[inline(always)]
fn word(w: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(w);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ascii_strings_agree_with_is_ascii_everywhere() {
        // Every buffer length up to 24, every string position and length in it, with a
        // non-ASCII byte at every position (or none): the word-wide test must agree
        // with `is_ascii`.
        for len in 0..=24usize {
            for bad in (0..len).map(Some).chain([None]) {
                let mut buf: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                if let Some(i) = bad {
                    buf[i] = 0x80 | i as u8;
                }
                for at in 0..=len + 1 {
                    for n in 0..=len as u8 {
                        let mut buf = buf.clone();
                        if at < len {
                            buf[at] = n;
                        }
                        let got = short_ascii_at(&buf, at);
                        let end = at + 1 + n as usize;
                        let want = at < len && end <= len && buf[at + 1..end].is_ascii();
                        assert_eq!(got.is_some(), want, "len {len} bad {bad:?} at {at} n {n}");
                        if let Some((s, e)) = got {
                            assert_eq!((s.as_bytes(), e), (&buf[at + 1..end], end));
                        }
                    }
                }
            }
        }
        // A length that is a varint continuation byte is not a short string.
        assert_eq!(short_ascii_at(&[0x81, 0x00, b'a'], 0), None);
    }

    #[test]
    fn fast_varints_read_as_the_general_path() {
        let mut cases: Vec<u64> = (0..70_000).collect();
        cases.extend([1 << 21, (1 << 21) - 1, 1 << 35, u64::MAX, u64::MAX - 1]);
        for n in cases {
            let mut out = Vec::new();
            super::super::writer::write_varint(&mut out, n);
            out.push(0xff);
            let mut r = Reader::new(&out);
            assert_eq!(r.varint().unwrap(), n);
            assert_eq!(r.pos, out.len() - 1);
            let mut r = Reader::new(&out[..out.len() - 2]);
            assert!(r.varint().is_err());
        }
        // Overlong but well-formed encodings read as before.
        let mut r = Reader::new(&[0x80, 0x80, 0x00]);
        assert_eq!(r.varint().unwrap(), 0);
        let mut r = Reader::new(&[0x81, 0x01]);
        assert_eq!(r.varint().unwrap(), 129);
    }
}
