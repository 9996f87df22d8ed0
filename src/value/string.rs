//! JavaScript strings: sequences of UTF-16 code units, lone surrogates included
//! (<https://tc39.es/ecma262/#sec-ecmascript-language-types-string-type>), stored
//! as UTF-8 when well-formed.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

/// Longest string stored inline (without an allocation).
const INLINE_CAP: usize = 22;

#[derive(Clone)]
enum StrRepr {
    /// Well-formed text of at most [`INLINE_CAP`] bytes, stored inline.
    Inline { len: u8, bytes: [u8; INLINE_CAP] },
    /// Well-formed text.
    Heap(Rc<str>),
    /// Text with at least one lone surrogate: kept as UTF-16 code units.
    Utf16(Rc<[u16]>),
}

/// A JavaScript string: a sequence of UTF-16 code units, lone surrogates included.
///
/// Well-formed text is always stored as UTF-8 (inline when short), so [`JsString::as_str`]
/// borrows it without conversion; only strings with lone surrogates are kept as
/// UTF-16. Because the representation is normalized, equality and hashing compare
/// the code-unit sequences. Cloning is cheap (no copy of the text).
#[derive(Clone)]
pub struct JsString(StrRepr);

impl JsString {
    /// True when the string holds a reference to heap text (dropping it does work).
    #[inline(always)]
    pub(super) fn owns_heap(&self) -> bool {
        !matches!(self.0, StrRepr::Inline { .. })
    }

    /// Builds a string from UTF-8 text.
    pub fn new(s: &str) -> JsString {
        if s.len() <= INLINE_CAP {
            let mut bytes = [0u8; INLINE_CAP];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            JsString(StrRepr::Inline {
                len: s.len() as u8,
                bytes,
            })
        } else {
            JsString(StrRepr::Heap(Rc::from(s)))
        }
    }

    /// Builds a string from UTF-16 code units; lone surrogates are kept.
    pub fn from_utf16(units: &[u16]) -> JsString {
        match String::from_utf16(units) {
            Ok(s) => JsString::from(s),
            Err(_) => JsString(StrRepr::Utf16(Rc::from(units))),
        }
    }

    /// The string as UTF-16 code units.
    pub fn to_utf16(&self) -> Vec<u16> {
        match &self.0 {
            StrRepr::Utf16(u) => u.to_vec(),
            _ => self.as_str().unwrap_or_default().encode_utf16().collect(),
        }
    }

    /// The text, or `None` when the string holds a lone surrogate (so is not valid
    /// Unicode text).
    pub fn as_str(&self) -> Option<&str> {
        match &self.0 {
            StrRepr::Inline { len, bytes } => {
                // SAFETY: inline bytes are only ever written by `JsString::new`, from
                // a `&str` of exactly `len` bytes, so they are valid UTF-8.
                Some(unsafe { std::str::from_utf8_unchecked(&bytes[..*len as usize]) })
            }
            StrRepr::Heap(s) => Some(s),
            StrRepr::Utf16(_) => None,
        }
    }

    /// The text, with lone surrogates replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        match &self.0 {
            StrRepr::Utf16(u) => Cow::Owned(String::from_utf16_lossy(u)),
            _ => Cow::Borrowed(self.as_str().unwrap_or_default()),
        }
    }

    /// True when the string holds a lone surrogate.
    pub fn has_lone_surrogates(&self) -> bool {
        matches!(self.0, StrRepr::Utf16(_))
    }

    /// The length in UTF-16 code units (JavaScript's `length`).
    pub fn utf16_len(&self) -> usize {
        match &self.0 {
            StrRepr::Utf16(u) => u.len(),
            _ => self.as_str().unwrap_or_default().encode_utf16().count(),
        }
    }

    /// The UTF-16 code units when the string holds lone surrogates (crate use).
    pub(crate) fn utf16_units(&self) -> Option<&[u16]> {
        match &self.0 {
            StrRepr::Utf16(u) => Some(u),
            _ => None,
        }
    }
}

impl PartialEq for JsString {
    fn eq(&self, other: &JsString) -> bool {
        // The representation is normalized (text of at most INLINE_CAP bytes is always
        // inline and zero-padded; lone surrogates always UTF-16), so comparing
        // representations compares the strings.
        match (&self.0, &other.0) {
            (StrRepr::Inline { len: a, bytes: x }, StrRepr::Inline { len: b, bytes: y }) => {
                a == b && x == y
            }
            (StrRepr::Heap(a), StrRepr::Heap(b)) => a == b,
            (StrRepr::Utf16(a), StrRepr::Utf16(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for JsString {}

impl Hash for JsString {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self.as_str() {
            Some(s) => s.hash(state),
            None => self.utf16_units().hash(state),
        }
    }
}

impl PartialEq<str> for JsString {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for JsString {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl fmt::Debug for JsString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            StrRepr::Utf16(u) => write!(f, "JsString::from_utf16({u:?})"),
            _ => fmt::Debug::fmt(self.as_str().unwrap_or_default(), f),
        }
    }
}

impl fmt::Display for JsString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl Default for JsString {
    fn default() -> Self {
        JsString::new("")
    }
}

impl From<&str> for JsString {
    fn from(s: &str) -> JsString {
        JsString::new(s)
    }
}

impl From<String> for JsString {
    fn from(s: String) -> JsString {
        if s.len() <= INLINE_CAP {
            JsString::new(&s)
        } else {
            JsString(StrRepr::Heap(Rc::from(s)))
        }
    }
}

impl From<&String> for JsString {
    fn from(s: &String) -> JsString {
        JsString::new(s)
    }
}

impl From<char> for JsString {
    fn from(c: char) -> JsString {
        JsString::new(c.encode_utf8(&mut [0u8; 4]))
    }
}
