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

    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<u64> {
        // Most varints (string lengths, small integers, ids) are one byte.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(b as u64);
            }
        }
        self.varint_long()
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
        let n = self.len(1)?;
        let b = self.bytes(n)?;
        // Most strings (and nearly all property keys) are ASCII: checking that is a
        // few word-wide tests, where full UTF-8 validation of a short string costs
        // several times more.
        if b.is_ascii() {
            // SAFETY: ASCII bytes are valid UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(b) });
        }
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
