//! Any `T: Serialize` straight to a [`SerializedRecord`], and any `T: Deserialize`
//! straight from one, without building a [`Value`] in between.
//!
//! The record is the one format of [`crate::clone`]: what [`to_record`] writes,
//! [`crate::clone::deserialize_record`] reads as the equivalent [`Value`], and what
//! structured serialization writes, [`from_record`] reads into a serde type.
//!
//! # Mapping
//!
//! | serde | JavaScript value |
//! | --- | --- |
//! | struct, map with string keys | plain object (field order kept) |
//! | map with other keys | `Map` |
//! | seq, tuple, tuple struct | Array |
//! | bool | boolean |
//! | integers with abs(n) <= 2^53 | Number |
//! | larger integers | BigInt |
//! | floats | Number |
//! | char, str | string |
//! | unit, `None`, unit struct | `null` |
//! | bytes | ArrayBuffer |
//! | unit variant | string (its name) |
//! | other variants | `{ Variant: content }` (externally tagged) |
//!
//! Reading is lenient where JavaScript is: integers accept any integral Number in range
//! and BigInts in range; `Option` reads `null` and `undefined` as `None`; bytes read
//! from an ArrayBuffer, any typed array or DataView (the viewed bytes), a Blob or an
//! array of numbers. Values serde has no notion of read as: Date as its time value
//! (f64), wrapper objects as their primitive, RegExp as `"/source/flags"`, Set as a
//! seq, Error as `{name, message, stack}`, DOMException as `{name, message, code}`,
//! holes as unit. Shared objects (back-references) are read again from their first
//! occurrence; a cycle fails with `DataCloneError`.

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde::ser::{self, Serialize};

use crate::clone::{
    clone_err, structured_deserialize, structured_serialize, tag, unzigzag, write_bigint,
    write_number, write_str, write_varint, Reader, SerializedRecord, FORMAT_VERSION, MAX_DEPTH,
};
use crate::error::{Error, Result};
use crate::value::{ErrorKind, Value, ViewKind};

const MAX_SAFE: u64 = 1 << 53;

/// Serializes `value` straight to a record.
pub fn to_record<T: Serialize + ?Sized>(value: &T) -> Result<SerializedRecord> {
    // Serialize into this thread's scratch buffer, then copy into a record of the exact
    // size: one allocation of the right size per record instead of a growing Vec (which
    // reallocates several times for larger values and wastes capacity in every queued
    // message). A `Serialize` impl that calls `to_record` itself gets a fresh buffer.
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<()> {
        out.push(FORMAT_VERSION);
        let mut s = RecordSerializer { out, depth: 0 };
        value.serialize(&mut s).map_err(|e| *e.0)
    }
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let r = write(&mut buf, value);
            let record = r.map(|()| SerializedRecord::from_bytes(buf.as_slice().to_vec()));
            if buf.capacity() > SCRATCH_KEEP {
                *buf = Vec::new();
            }
            record
        }
        Err(_) => {
            let mut out = Vec::with_capacity(64);
            write(&mut out, value)?;
            Ok(SerializedRecord::from_bytes(out))
        }
    })
}

/// The largest scratch buffer [`to_record`] keeps between calls.
const SCRATCH_KEEP: usize = 64 * 1024;

/// Deserializes a `T` straight from a record; a shape mismatch is
/// `DataCloneError("cannot deserialize ...: <serde's message>")`.
pub fn from_record<T: DeserializeOwned>(record: &SerializedRecord) -> Result<T> {
    let mut d = RecordDeserializer {
        r: Reader::new(record.as_bytes()),
        blobs: &record.blobs,
        offsets: Vec::new(),
        open: Vec::new(),
        next_id: 0,
        depth: 0,
        budget: 64 * record.len() as u64 + 4096,
    };
    let result = (|| {
        match d.r.u8().map_err(SerdeError::new)? {
            FORMAT_VERSION => {}
            v => {
                return Err(SerdeError::new(clone_err(format!(
                    "unsupported record version {v}"
                ))))
            }
        }
        let v = T::deserialize(&mut d)?;
        if !d.r.at_end() {
            return Err(SerdeError::new(clone_err(
                "trailing bytes after the serialized value",
            )));
        }
        Ok(v)
    })();
    result.map_err(|e| match *e.0 {
        Error::DataClone(m) if m.starts_with("cannot deserialize") => Error::DataClone(m),
        Error::DataClone(m) => Error::DataClone(format!(
            "cannot deserialize {}: {m}",
            std::any::type_name::<T>()
        )),
        other => other,
    })
}

/// Serializes `value` to a [`Value`] (through a record: one format, one mapping).
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value> {
    structured_deserialize(&to_record(value)?)
}

/// Deserializes a `T` from a [`Value`] (through a record). Values that cannot be
/// serialized (functions, ports...) fail with `DataCloneError`.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T> {
    from_record(&structured_serialize(value)?)
}

// ---------------------------------------------------------------------------
// Error type
// ---------------------------------------------------------------------------

/// serde's error type for the bridge: a crate [`Error`] (always `DataClone` from serde).
#[derive(Debug)]
struct SerdeError(Box<Error>);

impl SerdeError {
    /// Boxed, so that every `Result` the (de)serializer passes around stays two words.
    #[cold]
    fn new(e: Error) -> SerdeError {
        SerdeError(Box::new(e))
    }
}

impl std::fmt::Display for SerdeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.message())
    }
}

impl std::error::Error for SerdeError {}

impl ser::Error for SerdeError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        SerdeError::new(clone_err(format!("cannot serialize: {msg}")))
    }
}

impl de::Error for SerdeError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        SerdeError::new(clone_err(msg.to_string()))
    }
}

impl From<Error> for SerdeError {
    fn from(e: Error) -> Self {
        SerdeError(Box::new(e))
    }
}

type SResult<T> = std::result::Result<T, SerdeError>;

// ---------------------------------------------------------------------------
// Serializer
// ---------------------------------------------------------------------------

struct RecordSerializer<'o> {
    out: &'o mut Vec<u8>,
    depth: u32,
}

impl RecordSerializer<'_> {
    fn enter(&mut self) -> SResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SerdeError::new(clone_err(format!(
                "value nested deeper than {MAX_DEPTH}"
            ))));
        }
        Ok(())
    }

    fn int(&mut self, n: i128) {
        if n.unsigned_abs() <= MAX_SAFE as u128 {
            self.out.push(tag::INT);
            let i = n as i64;
            write_varint(self.out, ((i << 1) ^ (i >> 63)) as u64);
        } else {
            self.out.push(tag::BIGINT);
            write_bigint(self.out, &num_bigint::BigInt::from(n));
        }
    }

    fn big_u(&mut self, n: u128) {
        if n <= i128::MAX as u128 {
            self.int(n as i128)
        } else {
            self.out.push(tag::BIGINT);
            write_bigint(self.out, &num_bigint::BigInt::from(n));
        }
    }
}

/// Compound serializer: arrays, objects, maps, and the variant wrappers.
struct Compound<'a, 'o> {
    ser: &'a mut RecordSerializer<'o>,
    /// Where the container's tag was written (maps decide between object and Map at
    /// their first key).
    tag_pos: usize,
    /// Number of elements written (maps: keys).
    count: usize,
    /// Close an extra `{Variant: ...}` object after the container.
    variant: bool,
}

impl Compound<'_, '_> {
    fn end_array(self) -> SResult<()> {
        self.ser.out.push(tag::END);
        write_varint(self.ser.out, self.count as u64);
        self.ser.out.push(tag::END);
        self.finish()
    }

    fn end_object(self) -> SResult<()> {
        self.ser.out.push(tag::END);
        self.finish()
    }

    fn finish(self) -> SResult<()> {
        if self.variant {
            self.ser.out.push(tag::END);
            self.ser.depth -= 1;
        }
        self.ser.depth -= 1;
        Ok(())
    }
}

impl<'a, 'o> RecordSerializer<'o> {
    fn begin(&'a mut self, t: u8, variant: Option<&str>) -> SResult<Compound<'a, 'o>> {
        if let Some(v) = variant {
            self.enter()?;
            self.out.push(tag::OBJECT);
            write_str(self.out, v);
        }
        self.enter()?;
        let tag_pos = self.out.len();
        self.out.push(t);
        Ok(Compound {
            ser: self,
            tag_pos,
            count: 0,
            variant: variant.is_some(),
        })
    }
}

impl<'a, 'o> ser::Serializer for &'a mut RecordSerializer<'o> {
    type Ok = ();
    type Error = SerdeError;
    type SerializeSeq = Compound<'a, 'o>;
    type SerializeTuple = Compound<'a, 'o>;
    type SerializeTupleStruct = Compound<'a, 'o>;
    type SerializeTupleVariant = Compound<'a, 'o>;
    type SerializeMap = Compound<'a, 'o>;
    type SerializeStruct = Compound<'a, 'o>;
    type SerializeStructVariant = Compound<'a, 'o>;

    fn serialize_bool(self, v: bool) -> SResult<()> {
        self.out.push(if v { tag::TRUE } else { tag::FALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> SResult<()> {
        self.int(v as i128);
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> SResult<()> {
        self.int(v as i128);
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> SResult<()> {
        self.int(v as i128);
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> SResult<()> {
        self.int(v as i128);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> SResult<()> {
        self.int(v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> SResult<()> {
        self.int(v as i128);
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> SResult<()> {
        self.int(v as i128);
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> SResult<()> {
        self.int(v as i128);
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> SResult<()> {
        self.int(v as i128);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> SResult<()> {
        self.big_u(v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> SResult<()> {
        write_number(self.out, v as f64);
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> SResult<()> {
        write_number(self.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> SResult<()> {
        write_str(self.out, v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> SResult<()> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> SResult<()> {
        self.out.push(tag::ARRAY_BUFFER);
        write_varint(self.out, v.len() as u64);
        self.out.extend_from_slice(v);
        Ok(())
    }
    fn serialize_none(self) -> SResult<()> {
        self.out.push(tag::NULL);
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> SResult<()> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> SResult<()> {
        self.out.push(tag::NULL);
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> SResult<()> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> SResult<()> {
        write_str(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> SResult<()> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> SResult<()> {
        self.enter()?;
        self.out.push(tag::OBJECT);
        write_str(self.out, variant);
        value.serialize(&mut *self)?;
        self.out.push(tag::END);
        self.depth -= 1;
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> SResult<Compound<'a, 'o>> {
        self.begin(tag::ARRAY, None)
    }
    fn serialize_tuple(self, _len: usize) -> SResult<Compound<'a, 'o>> {
        self.begin(tag::ARRAY, None)
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> SResult<Compound<'a, 'o>> {
        self.begin(tag::ARRAY, None)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> SResult<Compound<'a, 'o>> {
        self.begin(tag::ARRAY, Some(variant))
    }
    fn serialize_map(self, _len: Option<usize>) -> SResult<Compound<'a, 'o>> {
        // The tag (OBJECT or MAP) is decided by the first key.
        self.begin(tag::OBJECT, None)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> SResult<Compound<'a, 'o>> {
        self.begin(tag::OBJECT, None)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> SResult<Compound<'a, 'o>> {
        self.begin(tag::OBJECT, Some(variant))
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = SerdeError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> SResult<()> {
        self.count += 1;
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> SResult<()> {
        self.end_array()
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = SerdeError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> SResult<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> SResult<()> {
        self.end_array()
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = SerdeError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> SResult<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> SResult<()> {
        self.end_array()
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = SerdeError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> SResult<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> SResult<()> {
        self.end_array()
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = SerdeError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> SResult<()> {
        let key_pos = self.ser.out.len();
        key.serialize(&mut *self.ser)?;
        let is_string = matches!(self.ser.out.get(key_pos), Some(&tag::STRING));
        if self.count == 0 {
            // The first key decides: string keys make a plain object, others a Map.
            self.ser.out[self.tag_pos] = if is_string { tag::OBJECT } else { tag::MAP };
        } else if self.ser.out[self.tag_pos] == tag::OBJECT && !is_string {
            return Err(SerdeError::new(clone_err(
                "cannot serialize a map whose first key is a string and a later key is not",
            )));
        }
        self.count += 1;
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> SResult<()> {
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> SResult<()> {
        self.end_object()
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = SerdeError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> SResult<()> {
        write_str(self.ser.out, key);
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> SResult<()> {
        self.end_object()
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = SerdeError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> SResult<()> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> SResult<()> {
        self.end_object()
    }
}

// ---------------------------------------------------------------------------
// Deserializer
// ---------------------------------------------------------------------------

struct RecordDeserializer<'a> {
    r: Reader<'a>,
    blobs: &'a [std::sync::Arc<[u8]>],
    /// Start offset (of the tag) of each object, by id.
    offsets: Vec<usize>,
    /// True while an object is being read (a back-reference to it is a cycle).
    open: Vec<bool>,
    /// The id the next object met gets (rewound when re-reading a shared object).
    next_id: usize,
    depth: u32,
    /// Bounds the total work, so that re-reading shared objects cannot blow up.
    budget: u64,
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
    fn err<T>(&self, msg: impl Into<String>) -> SResult<T> {
        Err(SerdeError::new(clone_err(msg)))
    }

    /// The next value's tag, past a SHARED prefix, without consuming anything.
    fn peek_tag(&self) -> SResult<u8> {
        let t = self.r.peek()?;
        if t == tag::SHARED {
            let mut r = self.r.clone();
            r.u8()?;
            return Ok(r.peek()?);
        }
        Ok(t)
    }

    fn spend(&mut self) -> SResult<()> {
        if self.budget == 0 {
            return self.err("record expands too much (too many shared references)");
        }
        self.budget -= 1;
        Ok(())
    }

    /// Resolves back-references: when the next value is a BACKREF, moves the cursor to
    /// the referenced object's first occurrence and returns the position to come back to.
    fn follow(&mut self) -> SResult<Option<(usize, usize)>> {
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

    fn unfollow(&mut self, back: Option<(usize, usize)>) {
        if let Some((pos, next)) = back {
            self.r.pos = pos;
            self.next_id = next;
        }
    }

    /// Reads the next tag (past a SHARED prefix). For an object, counts its depth,
    /// and when SHARED-prefixed registers its id and marks it open; the second item
    /// is `Some(id)` for objects (`NO_ID` for objects without an id).
    fn begin_value(&mut self) -> SResult<(u8, Option<usize>)> {
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
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!("record nested deeper than {MAX_DEPTH}"));
        }
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

    fn end_value(&mut self, id: Option<usize>) {
        if let Some(id) = id {
            if id != NO_ID {
                self.open[id] = false;
            }
            self.depth -= 1;
        }
    }

    fn str_of(&mut self, t: u8) -> SResult<String> {
        match t {
            tag::STRING => Ok(self.r.str_body()?.to_owned()),
            tag::STRING16 => Ok(String::from_utf16_lossy(&self.r.utf16_body()?)),
            _ => self.err(format!("expected a string, found tag {t}")),
        }
    }

    /// Fast path for the common case of `deserialize_any` on a UTF-8 string (STRING tag,
    /// no back-reference or SHARED prefix): the same budget and bytes, without the
    /// general dispatch. `None` (nothing consumed) for anything else.
    #[inline]
    fn plain_str(&mut self) -> SResult<Option<&'a str>> {
        if self.r.peek()? != tag::STRING {
            return Ok(None);
        }
        self.spend()?;
        self.r.u8()?;
        Ok(Some(self.r.str_body()?))
    }

    fn read_string(&mut self) -> SResult<String> {
        let t = self.r.u8()?;
        self.str_of(t)
    }

    /// The rest of a view (after its tag): the viewed bytes.
    fn view_bytes(&mut self) -> SResult<Vec<u8>> {
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

    fn blob_bytes(&mut self) -> SResult<Vec<u8>> {
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

    fn integer(&mut self) -> SResult<i128> {
        // Fast path for the common case, a small integer (INT tag, no back-reference or
        // SHARED prefix): the same budget and bytes as the general path below.
        if self.r.peek()? == tag::INT {
            self.spend()?;
            self.r.u8()?;
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

    fn float(&mut self) -> SResult<f64> {
        Ok(match self.number()? {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        })
    }

    /// Reads a whole value with its tag already read.
    fn any_tagged<'de, V: Visitor<'de>>(
        &mut self,
        t: u8,
        id: Option<usize>,
        visitor: V,
    ) -> SResult<V::Value> {
        let r = match t {
            tag::OBJECT => {
                let mut access = ObjectAccess {
                    de: self,
                    done: false,
                };
                let v = visitor.visit_map(&mut access)?;
                access.drain()?;
                Ok(v)
            }
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

fn tag_name(t: u8) -> &'static str {
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

macro_rules! de_int {
    ($method:ident, $visit:ident, $t:ty) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
            let i = self.integer()?;
            match <$t>::try_from(i) {
                Ok(v) => visitor.$visit(v),
                Err(_) => self.err(format!("{i} is out of range for {}", stringify!($t))),
            }
        }
    };
}

impl<'de> de::Deserializer<'de> for &mut RecordDeserializer<'_> {
    type Error = SerdeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        let back = self.follow()?;
        let (t, id) = self.begin_value()?;
        let v = self.any_tagged(t, id, visitor)?;
        self.unfollow(back);
        Ok(v)
    }

    de_int!(deserialize_i8, visit_i8, i8);
    de_int!(deserialize_i16, visit_i16, i16);
    de_int!(deserialize_i32, visit_i32, i32);
    de_int!(deserialize_i64, visit_i64, i64);
    de_int!(deserialize_i128, visit_i128, i128);
    de_int!(deserialize_u8, visit_u8, u8);
    de_int!(deserialize_u16, visit_u16, u16);
    de_int!(deserialize_u32, visit_u32, u32);
    de_int!(deserialize_u64, visit_u64, u64);

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        let back = self.follow()?;
        if matches!(self.peek_tag()?, tag::BIGINT | tag::BIGINT_OBJECT) {
            let (_, id) = self.begin_value()?;
            let b = self.r.bigint_body()?;
            self.end_value(id);
            self.unfollow(back);
            return match u128::try_from(&b) {
                Ok(u) => visitor.visit_u128(u),
                Err(_) => self.err(format!("{b} is out of range for u128")),
            };
        }
        self.unfollow(back);
        let i = self.integer()?;
        match u128::try_from(i) {
            Ok(u) => visitor.visit_u128(u),
            Err(_) => self.err(format!("{i} is out of range for u128")),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        let f = self.float()?;
        visitor.visit_f32(f as f32)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        let f = self.float()?;
        visitor.visit_f64(f)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        self.deserialize_any(visitor)
    }
    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        self.deserialize_any(visitor)
    }
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        match self.plain_str()? {
            Some(s) => visitor.visit_str(s),
            None => self.deserialize_any(visitor),
        }
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        match self.plain_str()? {
            Some(s) => visitor.visit_str(s),
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        let back = self.follow()?;
        if self.peek_tag()? == tag::ARRAY {
            // An array of numbers reads as bytes too.
            self.unfollow(back);
            let v: Vec<u8> = de::Deserialize::deserialize(&mut *self)?;
            return visitor.visit_byte_buf(v);
        }
        let (t, id) = self.begin_value()?;
        let v = self.any_tagged(t, id, visitor)?;
        self.unfollow(back);
        Ok(v)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        match self.r.peek()? {
            tag::NULL | tag::UNDEFINED | tag::HOLE => {
                self.r.u8()?;
                visitor.visit_none()
            }
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        self.deserialize_any(visitor)
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> SResult<V::Value> {
        self.deserialize_any(visitor)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> SResult<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        let back = self.follow()?;
        let (t, id) = self.begin_value()?;
        let v = match t {
            tag::ARRAY_BUFFER | tag::RESIZABLE_ARRAY_BUFFER | tag::VIEW | tag::BLOB | tag::FILE => {
                let bytes = match t {
                    tag::VIEW => self.view_bytes()?,
                    tag::BLOB => {
                        let b = self.blob_bytes()?;
                        self.read_string()?;
                        b
                    }
                    tag::FILE => {
                        let b = self.blob_bytes()?;
                        self.read_string()?;
                        self.read_string()?;
                        self.r.varint()?;
                        b
                    }
                    _ => {
                        let n = self.r.len(1)?;
                        if t == tag::RESIZABLE_ARRAY_BUFFER {
                            self.r.varint()?;
                        }
                        self.r.bytes(n)?.to_vec()
                    }
                };
                self.end_value(id);
                visitor.visit_seq(de::value::SeqDeserializer::<_, SerdeError>::new(
                    bytes.into_iter(),
                ))?
            }
            _ => self.any_tagged(t, id, visitor)?,
        };
        self.unfollow(back);
        Ok(v)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> SResult<V::Value> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> SResult<V::Value> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        self.deserialize_any(visitor)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> SResult<V::Value> {
        self.deserialize_any(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> SResult<V::Value> {
        let back = self.follow()?;
        let (t, id) = self.begin_value()?;
        let v = match t {
            tag::STRING | tag::STRING16 => {
                let s = self.str_of(t)?;
                visitor.visit_enum(IntoDeserializer::<SerdeError>::into_deserializer(s))?
            }
            tag::OBJECT => {
                let v = visitor.visit_enum(EnumAccess { de: &mut *self })?;
                if self.r.u8()? != tag::END {
                    return self.err("an enum variant object must have exactly one key");
                }
                self.end_value(id);
                v
            }
            _ => {
                return self.err(format!(
                    "expected an enum (a string or a one-key object), found {}",
                    tag_name(t)
                ))
            }
        };
        self.unfollow(back);
        Ok(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        match self.plain_str()? {
            Some(s) => visitor.visit_str(s),
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        self.deserialize_any(visitor)
    }
}

/// Properties of a plain object (keys are strings).
struct ObjectAccess<'d, 'a> {
    de: &'d mut RecordDeserializer<'a>,
    done: bool,
}

impl ObjectAccess<'_, '_> {
    fn drain(&mut self) -> SResult<()> {
        while !self.done {
            let k: Option<de::IgnoredAny> = self.next_key()?;
            if k.is_none() {
                break;
            }
            self.next_value::<de::IgnoredAny>()?;
        }
        Ok(())
    }
}

impl<'de> MapAccess<'de> for ObjectAccess<'_, '_> {
    type Error = SerdeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> SResult<Option<K::Value>> {
        if self.done {
            return Ok(None);
        }
        match self.de.r.peek()? {
            tag::END => {
                self.de.r.u8()?;
                self.done = true;
                Ok(None)
            }
            tag::STRING | tag::STRING16 => seed.deserialize(&mut *self.de).map(Some),
            t => self
                .de
                .err(format!("expected a property key, found tag {t}")),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> SResult<V::Value> {
        seed.deserialize(&mut *self.de)
    }
}

/// Entries of a Map (keys are any values).
struct MapEntries<'d, 'a> {
    de: &'d mut RecordDeserializer<'a>,
    done: bool,
}

impl MapEntries<'_, '_> {
    fn drain(&mut self) -> SResult<()> {
        while !self.done {
            let k: Option<de::IgnoredAny> = self.next_key()?;
            if k.is_none() {
                break;
            }
            self.next_value::<de::IgnoredAny>()?;
        }
        Ok(())
    }
}

impl<'de> MapAccess<'de> for MapEntries<'_, '_> {
    type Error = SerdeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> SResult<Option<K::Value>> {
        if self.done {
            return Ok(None);
        }
        if self.de.r.peek()? == tag::END {
            self.de.r.u8()?;
            self.done = true;
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> SResult<V::Value> {
        seed.deserialize(&mut *self.de)
    }
}

/// Elements of an Array (holes read as unit) or values of a Set, up to END.
struct Elements<'d, 'a> {
    de: &'d mut RecordDeserializer<'a>,
    done: bool,
}

impl Elements<'_, '_> {
    fn drain(&mut self) -> SResult<()> {
        while !self.done {
            if self.next_element::<de::IgnoredAny>()?.is_none() {
                break;
            }
        }
        Ok(())
    }
}

impl<'de> SeqAccess<'de> for Elements<'_, '_> {
    type Error = SerdeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> SResult<Option<T::Value>> {
        if self.done {
            return Ok(None);
        }
        if self.de.r.peek()? == tag::END {
            self.de.r.u8()?;
            self.done = true;
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

/// A counted list of values (FileList).
struct CountedElements<'d, 'a> {
    de: &'d mut RecordDeserializer<'a>,
    left: usize,
}

impl<'de> SeqAccess<'de> for CountedElements<'_, '_> {
    type Error = SerdeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> SResult<Option<T::Value>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// `{Variant: content}`: the key names the variant.
struct EnumAccess<'d, 'a> {
    de: &'d mut RecordDeserializer<'a>,
}

impl<'de> de::EnumAccess<'de> for EnumAccess<'_, '_> {
    type Error = SerdeError;
    type Variant = Self;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> SResult<(V::Value, Self)> {
        match self.de.r.peek()? {
            tag::STRING | tag::STRING16 => {}
            _ => {
                return self
                    .de
                    .err("an enum variant object must have exactly one key")
            }
        }
        let v = seed.deserialize(&mut *self.de)?;
        Ok((v, self))
    }
}

impl<'de> de::VariantAccess<'de> for EnumAccess<'_, '_> {
    type Error = SerdeError;
    fn unit_variant(self) -> SResult<()> {
        de::Deserialize::deserialize(&mut *self.de)
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> SResult<T::Value> {
        seed.deserialize(&mut *self.de)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> SResult<V::Value> {
        de::Deserializer::deserialize_seq(&mut *self.de, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> SResult<V::Value> {
        de::Deserializer::deserialize_any(&mut *self.de, visitor)
    }
}
