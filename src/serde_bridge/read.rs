//! The deserializer's state and how it reads the record: back-references (read
//! again from their first occurrence, cycles refused), the work budget, and values
//! without children.

use serde::de::{self, Visitor};

use super::access::{CountedElements, Elements, MapEntries, ObjectAccess};
use super::error::{SResult, SerdeError};
use crate::clone::{clone_err, tag, unzigzag, Reader, MAX_DEPTH};
use crate::value::{ErrorKind, ViewKind};

pub(super) struct RecordDeserializer<'a> {
    pub(super) r: Reader<'a>,
    pub(super) blobs: &'a [std::sync::Arc<[u8]>],
    /// Start offset (of the tag) of each object, by id.
    pub(super) offsets: Vec<usize>,
    /// True while an object is being read (a back-reference to it is a cycle).
    pub(super) open: Vec<bool>,
    /// The id the next object met gets (rewound when re-reading a shared object).
    pub(super) next_id: usize,
    pub(super) depth: u32,
    /// Bounds the total work, so that re-reading shared objects cannot blow up.
    pub(super) budget: u64,
}

/// `begin_value`'s id for an object that is not SHARED (has no id).
const NO_ID: usize = usize::MAX;

/// Tags that start an object.
fn is_object_tag(t: u8) -> bool {
    matches!(
        t,
        tag::OBJECT
            | tag::ARRAY
            | tag::BOOLEAN_OBJECT
            | tag::NUMBER_OBJECT
            | tag::STRING_OBJECT
            | tag::BIGINT_OBJECT
            | tag::DATE
            | tag::REGEXP
            | tag::ARRAY_BUFFER
            | tag::RESIZABLE_ARRAY_BUFFER
            | tag::VIEW
            | tag::BLOB
            | tag::FILE
            | tag::FILE_LIST
            | tag::MAP
            | tag::SET
            | tag::ERROR
            | tag::DOM_EXCEPTION
    )
}

/// What a number-ish value read as.
enum Num {
    Int(i128),
    Float(f64),
}

impl<'a> RecordDeserializer<'a> {
    #[cold]
    pub(super) fn err<T>(&self, msg: impl Into<String>) -> SResult<T> {
        Err(SerdeError::new(clone_err(msg)))
    }

    /// The next value's tag, past a SHARED prefix, without consuming anything.
    pub(super) fn peek_tag(&self) -> SResult<u8> {
        let t = self.r.peek()?;
        if t == tag::SHARED {
            let mut r = self.r.clone();
            r.u8()?;
            return Ok(r.peek()?);
        }
        Ok(t)
    }

    #[inline(always)]
    fn spend(&mut self) -> SResult<()> {
        if self.budget == 0 {
            return Err(over_budget());
        }
        self.budget -= 1;
        Ok(())
    }

    /// Counts one more object level (`begin_value` for an object).
    #[inline(always)]
    fn enter(&mut self) -> SResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(too_deep());
        }
        Ok(())
    }

    /// Resolves back-references: when the next value is a BACKREF, moves the cursor to
    /// the referenced object's first occurrence and returns the position to come back to.
    pub(super) fn follow(&mut self) -> SResult<Option<(usize, usize)>> {
        if self.r.peek()? != tag::BACKREF {
            return Ok(None);
        }
        self.r.u8()?;
        let id = self.r.varint()? as usize;
        if id >= self.offsets.len() {
            return self.err(format!("back-reference to unknown object {id}"));
        }
        if self.open[id] {
            return self.err("cannot deserialize a cyclic value into a serde type");
        }
        let back = (self.r.pos, self.next_id);
        self.r.pos = self.offsets[id];
        self.next_id = id;
        Ok(Some(back))
    }

    pub(super) fn unfollow(&mut self, back: Option<(usize, usize)>) {
        if let Some((pos, next)) = back {
            self.r.pos = pos;
            self.next_id = next;
        }
    }

    /// Reads the next tag (past a SHARED prefix). For an object, counts its depth,
    /// and when SHARED-prefixed registers its id and marks it open; the second item
    /// is `Some(id)` for objects (`NO_ID` for objects without an id).
    pub(super) fn begin_value(&mut self) -> SResult<(u8, Option<usize>)> {
        self.spend()?;
        let start = self.r.pos;
        let mut t = self.r.u8()?;
        let shared = t == tag::SHARED;
        if shared {
            t = self.r.u8()?;
        }
        if !is_object_tag(t) {
            if shared {
                return self.err("SHARED prefix before a value that is not a new object");
            }
            return Ok((t, None));
        }
        self.enter()?;
        if !shared {
            return Ok((t, Some(NO_ID)));
        }
        let id = self.next_id;
        self.next_id += 1;
        if id == self.offsets.len() {
            self.offsets.push(start);
            self.open.push(true);
        } else if self.offsets.get(id) == Some(&start) {
            self.open[id] = true;
        } else {
            return self.err("inconsistent object numbering in record");
        }
        Ok((t, Some(id)))
    }

    pub(super) fn end_value(&mut self, id: Option<usize>) {
        if let Some(id) = id {
            if id != NO_ID {
                self.open[id] = false;
            }
            self.depth -= 1;
        }
    }

    pub(super) fn str_of(&mut self, t: u8) -> SResult<String> {
        match t {
            tag::STRING => Ok(self.r.str_body()?.to_owned()),
            tag::STRING16 => Ok(String::from_utf16_lossy(&self.r.utf16_body()?)),
            _ => self.err(format!("expected a string, found tag {t}")),
        }
    }

    /// Fast path for the common case of `deserialize_any` on a UTF-8 string (STRING tag,
    /// no back-reference or SHARED prefix): the same budget and bytes, without the
    /// general dispatch. `None` (nothing consumed) for anything else.
    #[inline(always)]
    pub(super) fn plain_str(&mut self) -> SResult<Option<&'a str>> {
        if self.r.peek()? != tag::STRING {
            return Ok(None);
        }
        self.spend()?;
        self.r.pos += 1;
        Ok(Some(self.r.str_body()?))
    }

    /// Faster path for a short ASCII string (STRING tag, no back-reference or SHARED
    /// prefix): reads it (the same budget and bytes as [`Self::plain_str`]) without
    /// any error to handle; `None`, with nothing consumed, for anything else
    /// (including a spent budget), which the general path then reads or refuses.
    #[inline(always)]
    pub(super) fn short_str(&mut self) -> Option<&'a str> {
        if !self.r.peek_is(tag::STRING) || self.budget == 0 {
            return None;
        }
        let (s, end) = self.r.short_str_at(self.r.pos + 1)?;
        self.budget -= 1;
        self.r.pos = end;
        Some(s)
    }

    /// Faster path for a small integer (INT tag, varint of at most three bytes, no
    /// back-reference or SHARED prefix), like [`Self::short_str`].
    #[inline(always)]
    pub(super) fn small_integer(&mut self) -> Option<i128> {
        if !self.r.peek_is(tag::INT) || self.budget == 0 {
            return None;
        }
        let (u, end) = self.r.short_varint_at(self.r.pos + 1)?;
        self.budget -= 1;
        self.r.pos = end;
        Some(unzigzag(u) as i128)
    }

    /// Fast path for the common case of `deserialize_any` on a plain object (OBJECT
    /// tag, no back-reference or SHARED prefix; the caller checked the tag): the same
    /// budget, depth and bytes as `follow`, `begin_value` and `any_tagged`, without
    /// the general dispatch.
    #[inline(always)]
    pub(super) fn plain_object<'de, V: Visitor<'de>>(&mut self, visitor: V) -> SResult<V::Value> {
        self.spend()?;
        self.r.pos += 1;
        self.enter()?;
        let v = self.object_body(visitor)?;
        self.depth -= 1;
        Ok(v)
    }

    /// The properties of a plain object (its tag read) up to its END, as a map.
    #[inline(always)]
    fn object_body<'de, V: Visitor<'de>>(&mut self, visitor: V) -> SResult<V::Value> {
        let mut access = ObjectAccess {
            de: self,
            done: false,
        };
        let v = visitor.visit_map(&mut access)?;
        access.drain()?;
        Ok(v)
    }

    pub(super) fn read_string(&mut self) -> SResult<String> {
        let t = self.r.u8()?;
        self.str_of(t)
    }

    /// The rest of a view (after its tag): the viewed bytes.
    pub(super) fn view_bytes(&mut self) -> SResult<Vec<u8>> {
        let kind = ViewKind::from_tag(self.r.u8()?)
            .ok_or_else(|| SerdeError::new(clone_err("bad view kind")))?;
        let off = self.r.varint()? as usize;
        let len = self.r.varint()?;
        let buf = self.buffer_bytes()?;
        let es = kind.element_size();
        let end = match len {
            0 => buf.len(),
            n => ((n - 1) as usize)
                .checked_mul(es)
                .and_then(|b| b.checked_add(off))
                .unwrap_or(usize::MAX),
        };
        if off > end || end > buf.len() {
            return self.err("view out of its buffer's bounds");
        }
        Ok(buf[off..end].to_vec())
    }

    /// An ArrayBuffer value (possibly a back-reference): its bytes.
    fn buffer_bytes(&mut self) -> SResult<Vec<u8>> {
        let back = self.follow()?;
        let (t, id) = self.begin_value()?;
        let r = match t {
            tag::ARRAY_BUFFER => {
                let n = self.r.len(1)?;
                self.r.bytes(n)?.to_vec()
            }
            tag::RESIZABLE_ARRAY_BUFFER => {
                let n = self.r.len(1)?;
                self.r.varint()?;
                self.r.bytes(n)?.to_vec()
            }
            tag::TRANSFERRED_ARRAY_BUFFER => {
                return self.err("a transferred ArrayBuffer cannot be read into a serde type");
            }
            _ => return self.err("a view's buffer must be an ArrayBuffer"),
        };
        self.end_value(id);
        self.unfollow(back);
        Ok(r)
    }

    pub(super) fn blob_bytes(&mut self) -> SResult<Vec<u8>> {
        let i = self.r.varint()? as usize;
        match self.blobs.get(i) {
            Some(b) => Ok(b.to_vec()),
            None => self.err(format!("no Blob bytes {i} in the record")),
        }
    }

    /// Reads a number-like value (Number, BigInt, their wrappers, Date).
    fn number(&mut self) -> SResult<Num> {
        let back = self.follow()?;
        let (t, id) = self.begin_value()?;
        let n = match t {
            tag::INT => Num::Int(unzigzag(self.r.varint()?) as i128),
            tag::DOUBLE | tag::NUMBER_OBJECT | tag::DATE => Num::Float(self.r.f64()?),
            tag::BIGINT | tag::BIGINT_OBJECT => {
                let b = self.r.bigint_body()?;
                match i128::try_from(&b) {
                    Ok(i) => Num::Int(i),
                    Err(_) => return self.err(format!("BigInt {b} out of range")),
                }
            }
            _ => return self.err(format!("expected a number, found {}", tag_name(t))),
        };
        self.end_value(id);
        self.unfollow(back);
        Ok(n)
    }

    #[inline(always)]
    pub(super) fn integer(&mut self) -> SResult<i128> {
        match self.small_integer() {
            Some(i) => Ok(i),
            None => self.integer_long(),
        }
    }

    /// [`RecordDeserializer::integer`] in general: any number-like value.
    #[inline(never)]
    fn integer_long(&mut self) -> SResult<i128> {
        // Fast path for the common case, an integer (INT tag, no back-reference or
        // SHARED prefix): the same budget and bytes as the general path.
        if self.r.peek()? == tag::INT {
            self.spend()?;
            self.r.pos += 1;
            return Ok(unzigzag(self.r.varint()?) as i128);
        }
        match self.number()? {
            Num::Int(i) => Ok(i),
            Num::Float(f) => {
                if f.fract() == 0.0 && f.abs() <= 1.7e38 {
                    Ok(f as i128)
                } else {
                    self.err(format!("expected an integer, found {f}"))
                }
            }
        }
    }

    pub(super) fn float(&mut self) -> SResult<f64> {
        Ok(match self.number()? {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        })
    }

    /// Reads a whole value with its tag already read.
    pub(super) fn any_tagged<'de, V: Visitor<'de>>(
        &mut self,
        t: u8,
        id: Option<usize>,
        visitor: V,
    ) -> SResult<V::Value> {
        let r = match t {
            tag::OBJECT => self.object_body(visitor),
            tag::MAP => {
                let mut access = MapEntries {
                    de: self,
                    done: false,
                };
                let v = visitor.visit_map(&mut access)?;
                access.drain()?;
                Ok(v)
            }
            tag::ARRAY | tag::SET => {
                let mut access = Elements {
                    de: self,
                    done: false,
                };
                let v = visitor.visit_seq(&mut access)?;
                access.drain()?;
                if t == tag::ARRAY {
                    // The length, then extra properties (ignored).
                    self.r.varint()?;
                    let mut props = ObjectAccess {
                        de: self,
                        done: false,
                    };
                    props.drain()?;
                }
                Ok(v)
            }
            tag::FILE_LIST => {
                let n = self.r.len(2)?;
                let v = visitor.visit_seq(CountedElements { de: self, left: n })?;
                Ok(v)
            }
            _ => return self.scalar_tagged(t, id, visitor),
        };
        self.end_value(id);
        r
    }

    /// Reads a value without children, its tag already read.
    #[inline(never)]
    fn scalar_tagged<'de, V: Visitor<'de>>(
        &mut self,
        t: u8,
        id: Option<usize>,
        visitor: V,
    ) -> SResult<V::Value> {
        let r = match t {
            tag::UNDEFINED | tag::NULL | tag::HOLE => visitor.visit_unit(),
            tag::FALSE => visitor.visit_bool(false),
            tag::TRUE => visitor.visit_bool(true),
            tag::INT => visitor.visit_i64(unzigzag(self.r.varint()?)),
            tag::DOUBLE | tag::NUMBER_OBJECT | tag::DATE => visitor.visit_f64(self.r.f64()?),
            tag::BIGINT | tag::BIGINT_OBJECT => {
                let b = self.r.bigint_body()?;
                if let Ok(i) = i64::try_from(&b) {
                    visitor.visit_i64(i)
                } else if let Ok(u) = u64::try_from(&b) {
                    visitor.visit_u64(u)
                } else if let Ok(i) = i128::try_from(&b) {
                    visitor.visit_i128(i)
                } else if let Ok(u) = u128::try_from(&b) {
                    visitor.visit_u128(u)
                } else {
                    return self.err(format!("BigInt {b} out of range"));
                }
            }
            tag::STRING => {
                let s = self.r.str_body()?;
                visitor.visit_str(s)
            }
            tag::STRING16 => visitor.visit_string(String::from_utf16_lossy(&self.r.utf16_body()?)),
            tag::BOOLEAN_OBJECT => visitor.visit_bool(self.r.u8()? != 0),
            tag::STRING_OBJECT => {
                let s = self.read_string()?;
                visitor.visit_string(s)
            }
            tag::REGEXP => {
                let src = self.read_string()?;
                let flags = self.read_string()?;
                visitor.visit_string(format!("/{src}/{flags}"))
            }
            tag::ARRAY_BUFFER | tag::RESIZABLE_ARRAY_BUFFER => {
                let n = self.r.len(1)?;
                if t == tag::RESIZABLE_ARRAY_BUFFER {
                    self.r.varint()?;
                }
                let b = self.r.bytes(n)?;
                visitor.visit_bytes(b)
            }
            tag::VIEW => {
                let b = self.view_bytes()?;
                visitor.visit_byte_buf(b)
            }
            tag::BLOB => {
                let b = self.blob_bytes()?;
                self.read_string()?;
                visitor.visit_byte_buf(b)
            }
            tag::FILE => {
                let b = self.blob_bytes()?;
                self.read_string()?;
                self.read_string()?;
                self.r.varint()?;
                visitor.visit_byte_buf(b)
            }
            tag::TRANSFERRED_ARRAY_BUFFER | tag::TRANSFERRED_PORT => {
                return self.err("transferred objects cannot be read into a serde type")
            }
            tag::ERROR => {
                let kind = *ErrorKind::ALL
                    .get(self.r.u8()? as usize)
                    .ok_or_else(|| SerdeError::new(clone_err("bad Error kind")))?;
                let flags = self.r.u8()?;
                let mut fields: Vec<(&'static str, String)> =
                    vec![("name", kind.as_str().to_string())];
                if flags & 1 != 0 {
                    fields.push(("message", self.read_string()?));
                }
                if flags & 2 != 0 {
                    fields.push(("stack", self.read_string()?));
                }
                visitor.visit_map(de::value::MapDeserializer::<_, SerdeError>::new(
                    fields.into_iter(),
                ))
            }
            tag::DOM_EXCEPTION => {
                let name = self.read_string()?;
                let message = self.read_string()?;
                let code = crate::value::dom_exception_code(&name).to_string();
                let fields = vec![("name", name), ("message", message), ("code", code)];
                visitor.visit_map(de::value::MapDeserializer::<_, SerdeError>::new(
                    fields.into_iter(),
                ))
            }
            tag::END => return self.err("unexpected end marker"),
            t => return self.err(format!("unknown tag {t}")),
        };
        self.end_value(id);
        r
    }
}

/// The budget's error: more values read than the record can hold without sharing.
#[cold]
#[inline(never)]
fn over_budget() -> SerdeError {
    SerdeError::new(clone_err(
        "record expands too much (too many shared references)",
    ))
}

/// The depth limit's error.
#[cold]
#[inline(never)]
fn too_deep() -> SerdeError {
    SerdeError::new(clone_err(format!("record nested deeper than {MAX_DEPTH}")))
}

pub(super) fn tag_name(t: u8) -> &'static str {
    match t {
        tag::UNDEFINED => "undefined",
        tag::NULL => "null",
        tag::FALSE | tag::TRUE => "a boolean",
        tag::INT | tag::DOUBLE => "a number",
        tag::BIGINT => "a BigInt",
        tag::STRING | tag::STRING16 => "a string",
        tag::OBJECT => "an object",
        tag::ARRAY => "an array",
        tag::MAP => "a Map",
        tag::SET => "a Set",
        _ => "another kind of value",
    }
}
