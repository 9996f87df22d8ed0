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

use serde::de::DeserializeOwned;
use serde::ser::Serialize;

use crate::clone::{
    clone_err, structured_deserialize, structured_serialize, Reader, SerializedRecord,
    FORMAT_VERSION,
};
use crate::error::{Error, Result};
use crate::value::Value;

// Layout:
//
// - this module: the entry points (`to_record`, `from_record`, `to_value`,
//   `from_value`);
// - `error`: serde's error type for the bridge;
// - `ser`: the `serde::Serializer` that writes a record;
// - `read`: the deserializer's state and how it reads the record (back-references,
//   the work budget, values without children);
// - `de`: the `serde::Deserializer` that reads a record;
// - `access`: the `MapAccess`, `SeqAccess` and `EnumAccess` of objects, Maps,
//   Arrays, Sets, FileLists and enum variants.
mod access;
mod de;
mod error;
mod read;
mod ser;

use error::SerdeError;
use read::RecordDeserializer;
use ser::RecordSerializer;

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
            let record = r.map(|()| SerializedRecord::copy_of(&buf, Default::default()));
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
        blobs: record.blobs.as_slice(),
        offsets: Vec::new(),
        open: Vec::new(),
        next_id: 0,
        depth: 0,
        budget: 64 * record.len() as u64 + 4096,
    };
    match read_all::<T>(&mut d) {
        Ok(v) => Ok(v),
        Err(e) => Err(deserialize_error(e, std::any::type_name::<T>())),
    }
}

/// The version byte, one `T`, and nothing after it.
#[inline(always)]
fn read_all<T: DeserializeOwned>(
    d: &mut RecordDeserializer<'_>,
) -> std::result::Result<T, SerdeError> {
    if !d.r.peek_is(FORMAT_VERSION) {
        return Err(bad_version(&d.r));
    }
    d.r.pos += 1;
    let v = T::deserialize(&mut *d)?;
    if !d.r.at_end() {
        return Err(SerdeError::new(clone_err(
            "trailing bytes after the serialized value",
        )));
    }
    Ok(v)
}

/// The error of a record that does not start with [`FORMAT_VERSION`].
#[cold]
#[inline(never)]
fn bad_version(r: &Reader<'_>) -> SerdeError {
    match r.peek() {
        Ok(v) => SerdeError::new(clone_err(format!("unsupported record version {v}"))),
        Err(e) => SerdeError::new(e),
    }
}

/// [`from_record`]'s error: `DataCloneError("cannot deserialize <type>: ...")`.
#[cold]
#[inline(never)]
fn deserialize_error(e: SerdeError, type_name: &str) -> Error {
    match *e.0 {
        Error::DataClone(m) if m.starts_with("cannot deserialize") => Error::DataClone(m),
        Error::DataClone(m) => Error::DataClone(format!("cannot deserialize {type_name}: {m}")),
        other => other,
    }
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
