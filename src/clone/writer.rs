//! Writing the primitives of the record format: varints, numbers, strings and
//! BigInts (shared with the serde bridge).

use num_bigint::{BigInt, Sign};

use super::tag;
use crate::value::JsString;

#[inline(always)]
pub(crate) fn write_varint(out: &mut Vec<u8>, n: u64) {
    // Most varints are one to three bytes: those are written as one fixed-size chunk
    // (one capacity check, no loop).
    if n < 1 << 7 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.extend_from_slice(&[n as u8 | 0x80, (n >> 7) as u8]);
    } else if n < 1 << 21 {
        out.extend_from_slice(&[n as u8 | 0x80, (n >> 7) as u8 | 0x80, (n >> 14) as u8]);
    } else {
        write_varint_long(out, n);
    }
}

/// A varint of more than three bytes.
#[inline(never)]
fn write_varint_long(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A tag and a varint (an INT, a length-prefixed value...): one fixed-size chunk when
/// the varint is one to three bytes.
#[inline(always)]
fn write_tagged_varint(out: &mut Vec<u8>, t: u8, n: u64) {
    if n < 1 << 7 {
        out.extend_from_slice(&[t, n as u8]);
    } else if n < 1 << 14 {
        out.extend_from_slice(&[t, n as u8 | 0x80, (n >> 7) as u8]);
    } else if n < 1 << 21 {
        out.extend_from_slice(&[t, n as u8 | 0x80, (n >> 7) as u8 | 0x80, (n >> 14) as u8]);
    } else {
        out.push(t);
        write_varint_long(out, n);
    }
}

#[inline]
pub(crate) fn write_number(out: &mut Vec<u8>, n: f64) {
    let i = n as i64;
    if i as f64 == n && (i != 0 || n.is_sign_positive()) && i.unsigned_abs() <= (1u64 << 53) {
        write_tagged_varint(out, tag::INT, ((i << 1) ^ (i >> 63)) as u64);
    } else {
        out.push(tag::DOUBLE);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

#[inline(always)]
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    write_tagged_varint(out, tag::STRING, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

#[inline(always)]
pub(crate) fn write_js_string(out: &mut Vec<u8>, s: &JsString) {
    match s.as_str() {
        Some(t) => write_str(out, t),
        None => {
            let units = s.utf16_units().unwrap_or_default();
            out.push(tag::STRING16);
            write_varint(out, units.len() as u64);
            for u in units {
                out.extend_from_slice(&u.to_le_bytes());
            }
        }
    }
}

pub(crate) fn write_bigint(out: &mut Vec<u8>, n: &BigInt) {
    let (sign, mag) = n.to_bytes_le();
    out.push(match sign {
        Sign::NoSign => 0,
        Sign::Plus => 1,
        Sign::Minus => 2,
    });
    if sign == Sign::NoSign {
        write_varint(out, 0);
    } else {
        write_varint(out, mag.len() as u64);
        out.extend_from_slice(&mag);
    }
}

pub(super) fn zigzag(i: i64) -> u64 {
    ((i << 1) ^ (i >> 63)) as u64
}

pub(crate) fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}
