//! Structured clone with transfer, and the binary record it produces.
//!
//! Implements, over the value model of [`crate::value`]:
//!
//! - [StructuredSerializeInternal](https://html.spec.whatwg.org/multipage/structured-data.html#structuredserializeinternal)
//!   and [StructuredSerializeWithTransfer](https://html.spec.whatwg.org/multipage/structured-data.html#structuredserializewithtransfer):
//!   [`structured_serialize`], [`structured_serialize_with_transfer`];
//! - [StructuredDeserialize](https://html.spec.whatwg.org/multipage/structured-data.html#structureddeserialize)
//!   and [StructuredDeserializeWithTransfer](https://html.spec.whatwg.org/multipage/structured-data.html#structureddeserializewithtransfer):
//!   [`deserialize_record`], [`structured_deserialize`], [`structured_deserialize_with_transfer`],
//!   split into [`receive_transfer`] (the transfer-receiving steps, run once per message)
//!   and [`deserialize_record`] (run once per deserialization);
//! - [`structuredClone`](https://html.spec.whatwg.org/multipage/structured-data.html#dom-structuredclone):
//!   [`structured_clone`], [`structured_clone_with_ports`].
//!
//! # The record
//!
//! The spec's "serialized record" is a tree of Records; here it is one compact binary
//! buffer ([`SerializedRecord`]): a version byte, then one value in a tagged,
//! pre-order encoding with LEB128 lengths and UTF-8 strings written as bytes. Every
//! object gets an id in the order it is first met (pre-order); meeting it again
//! writes a back-reference to its id, so shared references and cycles survive (the
//! spec's `memory` map). Blob bytes are not copied into the buffer: they sit in a
//! side table of `Arc<[u8]>`, shared.
//!
//! The decoder treats the bytes as untrusted: it never panics, bounds every
//! allocation by the remaining input, bounds nesting depth ([`MAX_DEPTH`]), and
//! reports garbage as `DataCloneError`.
//!
//! # Modelling notes
//!
//! - Note: transferred ArrayBuffers and ports are numbered per kind (not with one
//!   shared transfer index as in the spec), so [`Transferred`] lists each kind in
//!   transfer-list order.
//! - Note: there is no SharedArrayBuffer, no ImageBitmap and no user code (getters)
//!   in this model; the ordering rules still hold where observable: a bad transfer
//!   list wins over an unserializable value, which wins over a detached transferable.
//! - Note: only objects that can be met twice (more than one reference exists) are
//!   numbered, behind a `SHARED` prefix; back-references point at those. This keeps
//!   tree-shaped data free of identity-map work on both sides.
//! - Note: graphs nested deeper than [`MAX_DEPTH`] objects fail with
//!   `DataCloneError` (browsers fail on stack exhaustion instead); the limit keeps
//!   serialization and deserialization within a 2 MiB thread stack even in debug
//!   builds.
//! - [`structured_clone`] without ports copies the graph directly instead of going
//!   through a record (same checks, order, errors and result; see `direct_clone`).
//!
//! # Performance notes
//!
//! Measured with callgrind (instruction counts; see the report of 2026-11-26): the
//! cost of a clone is dominated by building objects (one `Rc` allocation each, plus
//! one for a container's contents) and by freeing them again, so the code avoids any
//! further allocation and copy per object: the serializer writes into a per-thread
//! scratch buffer and copies the record out once at its exact size; the decoder
//! collects a container's items on per-thread scratch stacks and then allocates
//! them once at the exact size (the record does not carry counts); the direct clone
//! knows the sizes and skips the duplicate-key lookups a decoder must do on
//! untrusted input. The per-value functions are `#[inline(always)]` and the
//! per-object ones `#[inline(never)]`, so that primitives (most values) cost no call.
//!
//! Since the 2026-11-26 afternoon pass, objects are recycled per thread (see the
//! pool in [`crate::value`]): the last reference to an object hands its allocation
//! back, a plain object or array with its emptied buffer, keyed by capacity; the
//! direct clone and the decoder build unshared plain objects and arrays in place in
//! a recycled one of the right size (`Object::build_plain`, `Object::build_array`),
//! so a steady stream of clones makes almost no `malloc`/`free` calls (glibc's
//! per-thread cache holds only 7 blocks of a size, and freeing a message of dozens
//! of objects went through its slow path). Values that own nothing are copied
//! bitwise, and emptying a container skips the drop call for them.

use std::any::Any;
use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::sync::Arc;

use num_bigint::{BigInt, Sign};

use crate::error::{Error, Result};
use crate::value::{
    check_view, take_entries_buffer, ArrayBufferData, ArrayData, ArrayElements, BlobData,
    CollectionData, DomExceptionData, ErrorData, ErrorKind, FileData, JsString, Object, ObjectData,
    PortReceiver, PropertyMap, RegExpData, TransferablePort, Value, ViewData, ViewKind,
};

/// The record format version written as the first byte.
pub const FORMAT_VERSION: u8 = 1;

/// The deepest nesting of objects serialization, deserialization, the direct clone
/// and the serde bridge accept; deeper graphs fail with `DataCloneError` instead of
/// overflowing the stack.
pub const MAX_DEPTH: u32 = 256;

/// Tags of the binary format (one byte before each value).
pub(crate) mod tag {
    pub const UNDEFINED: u8 = 0;
    pub const NULL: u8 = 1;
    pub const FALSE: u8 = 2;
    pub const TRUE: u8 = 3;
    /// Zigzag varint: a Number that is an integer in ±2^53 and not -0.
    pub const INT: u8 = 4;
    /// 8 bytes little-endian f64.
    pub const DOUBLE: u8 = 5;
    /// Sign byte (0 zero, 1 positive, 2 negative), varint length, magnitude LE.
    pub const BIGINT: u8 = 6;
    /// Varint byte length, UTF-8 bytes.
    pub const STRING: u8 = 7;
    /// Varint code-unit count, UTF-16 LE code units (only for lone surrogates).
    pub const STRING16: u8 = 8;
    /// Varint object id.
    pub const BACKREF: u8 = 9;
    /// (key value)* END.
    pub const OBJECT: u8 = 10;
    /// (value | HOLE)* END, varint length, (key value)* END.
    pub const ARRAY: u8 = 11;
    pub const BOOLEAN_OBJECT: u8 = 12;
    pub const NUMBER_OBJECT: u8 = 13;
    pub const STRING_OBJECT: u8 = 14;
    pub const BIGINT_OBJECT: u8 = 15;
    pub const DATE: u8 = 16;
    pub const REGEXP: u8 = 17;
    /// Varint length, bytes.
    pub const ARRAY_BUFFER: u8 = 18;
    /// Varint length, varint max length, bytes.
    pub const RESIZABLE_ARRAY_BUFFER: u8 = 19;
    /// Varint index into the transferred ArrayBuffers.
    pub const TRANSFERRED_ARRAY_BUFFER: u8 = 20;
    /// Varint index into the transferred ports.
    pub const TRANSFERRED_PORT: u8 = 21;
    /// Kind byte, varint offset, varint (length + 1, or 0 when length-tracking), buffer value.
    pub const VIEW: u8 = 22;
    /// Varint blob index, type string.
    pub const BLOB: u8 = 23;
    /// Varint blob index, type, name, zigzag last-modified.
    pub const FILE: u8 = 24;
    /// Varint count, File values.
    pub const FILE_LIST: u8 = 25;
    /// (key value)* END.
    pub const MAP: u8 = 26;
    /// value* END.
    pub const SET: u8 = 27;
    /// Kind byte, flags byte (1 message, 2 stack), then those strings.
    pub const ERROR: u8 = 28;
    /// Name string, message string.
    pub const DOM_EXCEPTION: u8 = 29;
    pub const END: u8 = 30;
    pub const HOLE: u8 = 31;
    /// Prefix of an object that may be met again: it gets the next object id (only
    /// these objects are numbered, so back-references only target them).
    pub const SHARED: u8 = 32;
}

// ---------------------------------------------------------------------------
// Record types
// ---------------------------------------------------------------------------

/// The serialized record: a compact versioned binary encoding (one `Vec<u8>`, version
/// byte first) plus a side table of shared Blob bytes (`Arc<[u8]>`, shared, not
/// copied). `Send + Sync + Clone`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SerializedRecord {
    pub(crate) bytes: Vec<u8>,
    pub(crate) blobs: Vec<Arc<[u8]>>,
}

impl SerializedRecord {
    /// The encoded bytes (without the Blob side table).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// A record from bytes, for example received from elsewhere. The bytes are
    /// untrusted: decoding them never panics and fails with `DataCloneError` on
    /// garbage. Such a record has no Blob side table, so a Blob in it fails to decode.
    pub fn from_bytes(bytes: Vec<u8>) -> SerializedRecord {
        SerializedRecord {
            bytes,
            blobs: Vec::new(),
        }
    }

    /// The encoded length in bytes (Blob bytes not counted).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when the record holds no bytes at all (never the case for a record this
    /// crate produced).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The number of Blob byte buffers shared by the record.
    pub fn blob_count(&self) -> usize {
        self.blobs.len()
    }
}

/// A transferred ArrayBuffer's data holder: the bytes themselves, moved.
#[derive(Debug)]
struct BufferHolder {
    bytes: Vec<u8>,
    max_byte_length: Option<usize>,
}

/// The transfer data holders of a message: moved ArrayBuffer bytes (the `Vec<u8>`
/// itself, never copied) and the ports' holders. `Send`, not `Clone`.
#[derive(Default)]
pub struct TransferData {
    buffers: Vec<BufferHolder>,
    ports: Vec<Box<dyn Any + Send>>,
}

impl TransferData {
    /// No transferables.
    pub fn empty() -> Self {
        TransferData::default()
    }

    /// True when nothing was transferred.
    pub fn is_empty(&self) -> bool {
        self.buffers.is_empty() && self.ports.is_empty()
    }

    /// The number of transferred ports.
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// The number of transferred ArrayBuffers.
    pub fn array_buffer_count(&self) -> usize {
        self.buffers.len()
    }

    /// Takes the port holders out (for a runtime that receives ports itself; the
    /// buffers stay).
    pub fn take_port_holders(&mut self) -> Vec<Box<dyn Any + Send>> {
        std::mem::take(&mut self.ports)
    }
}

impl std::fmt::Debug for TransferData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferData")
            .field("array_buffers", &self.buffers.len())
            .field("ports", &self.ports.len())
            .finish()
    }
}

/// StructuredSerializeWithTransfer's result: the record plus the transfer data holders.
#[derive(Debug)]
pub struct SerializedWithTransfer {
    /// The serialized value.
    pub record: SerializedRecord,
    /// The transferred objects' data holders.
    pub transfer: TransferData,
}

/// What the receiving realm gets for the transfer data: the new ArrayBuffer objects
/// and the new port objects, in transfer-list order per kind.
#[derive(Debug, Default, Clone)]
pub struct Transferred {
    /// New ArrayBuffer objects.
    pub array_buffers: Vec<Object>,
    /// New MessagePort objects.
    pub ports: Vec<Object>,
}

// ---------------------------------------------------------------------------
// Identity map
// ---------------------------------------------------------------------------

/// A hasher for object addresses: one multiply, high bits folded down.
#[derive(Default)]
pub(crate) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_usize(&mut self, n: usize) {
        let h = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 29);
    }
}

type AddrMap<V> = HashMap<usize, V, BuildHasherDefault<AddrHasher>>;

// ---------------------------------------------------------------------------
// Writer helpers (shared with the serde bridge)
// ---------------------------------------------------------------------------

#[inline]
pub(crate) fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[inline]
pub(crate) fn write_number(out: &mut Vec<u8>, n: f64) {
    let i = n as i64;
    if i as f64 == n && (i != 0 || n.is_sign_positive()) && i.unsigned_abs() <= (1u64 << 53) {
        out.push(tag::INT);
        write_varint(out, ((i << 1) ^ (i >> 63)) as u64);
    } else {
        out.push(tag::DOUBLE);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

#[inline]
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(tag::STRING);
    write_varint(out, s.len() as u64);
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

fn zigzag(i: i64) -> u64 {
    ((i << 1) ^ (i >> 63)) as u64
}

pub(crate) fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

#[cold]
fn err_symbol(s: &crate::value::Symbol) -> Error {
    clone_err(match s.description() {
        Some(d) => format!("Symbol({d}) cannot be cloned"),
        None => "Symbol() cannot be cloned".to_string(),
    })
}

#[cold]
fn err_too_deep() -> Error {
    clone_err(format!("object graph nested deeper than {MAX_DEPTH}"))
}

#[cold]
fn err_out_of_bounds(kind: ViewKind) -> Error {
    clone_err(format!(
        "{} is out of bounds of its ArrayBuffer (the buffer shrank or was detached)",
        kind.class_name()
    ))
}

#[cold]
fn err_file_list_item(f: &Object) -> Error {
    clone_err(format!("FileList item is a {}, not a File", f.class_name()))
}

#[cold]
fn err_function(name: &JsString) -> Error {
    clone_err(if name.utf16_len() == 0 {
        "function cannot be cloned".to_string()
    } else {
        format!("function {name} cannot be cloned")
    })
}

#[cold]
fn err_platform(interface: &str) -> Error {
    clone_err(format!("{interface} object cannot be cloned"))
}

#[cold]
fn err_port_not_transferred() -> Error {
    clone_err("MessagePort must be in the transfer list to be cloned")
}

#[cold]
fn err_detached_buffer() -> Error {
    clone_err("ArrayBuffer is detached")
}

#[cold]
fn bad_array_length() -> Error {
    clone_err("array length is smaller than its elements")
}

#[cold]
pub(crate) fn clone_err(msg: impl Into<String>) -> Error {
    Error::DataClone(msg.into())
}

// ---------------------------------------------------------------------------
// Serialization
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum TransferKind {
    ArrayBuffer,
    Port,
}

/// Whether two transfer-list entries are the same transferable: the same object, or two
/// `Object` wrappers of the same runtime port (a port handle may be wrapped more than
/// once, as each `MessagePort::to_value()` call does; it is still one `MessagePort`).
fn same_transferable(a: &Object, b: &Object) -> bool {
    if Object::ptr_eq(a, b) {
        return true;
    }
    match (a.as_port(), b.as_port()) {
        (Some(x), Some(y)) => {
            std::ptr::eq(Rc::as_ptr(&x) as *const (), Rc::as_ptr(&y) as *const ())
        }
        _ => false,
    }
}

/// The transfer list after its checks: each entry with its kind and per-kind index.
struct TransferList {
    entries: Vec<(Object, TransferKind)>,
}

impl TransferList {
    /// StructuredSerializeWithTransfer steps 1-4: validate the transfer list before
    /// anything is serialized.
    fn check(transfer: &[Value]) -> Result<TransferList> {
        let mut entries: Vec<(Object, TransferKind)> = Vec::with_capacity(transfer.len());
        // Step 4: for each transferable of transferList:
        for (i, t) in transfer.iter().enumerate() {
            // Step 4.1: it must be a platform object that is transferable, or an
            // ArrayBuffer; otherwise throw a DataCloneError.
            let Value::Object(o) = t else {
                return Err(clone_err(format!(
                    "transfer list entry {i} ({}) is not a transferable object",
                    t.type_of()
                )));
            };
            let kind = match &*o.borrow() {
                ObjectData::ArrayBuffer(_) => TransferKind::ArrayBuffer,
                ObjectData::Port(_) => TransferKind::Port,
                other => {
                    let name = match other {
                        ObjectData::Platform { interface } => interface.clone(),
                        d => d.class_name().to_string(),
                    };
                    return Err(clone_err(format!(
                        "transfer list entry {i} ({name}) is not transferable"
                    )));
                }
            };
            // Step 4.2 (SharedArrayBuffer) does not apply: there is none in this model.
            // Step 4.3: if memory[transferable] exists, throw a DataCloneError.
            if entries.iter().any(|(e, _)| same_transferable(e, o)) {
                return Err(clone_err(match kind {
                    TransferKind::ArrayBuffer => "duplicate ArrayBuffer in transfer list",
                    TransferKind::Port => "duplicate MessagePort in transfer list",
                }));
            }
            // Step 4.4: memory[transferable] = { [[Type]], [[Index]] }.
            entries.push((o.clone(), kind));
        }
        Ok(TransferList { entries })
    }

    fn lookup(&self, o: &Object, kind: TransferKind) -> Option<u64> {
        let mut idx = 0u64;
        for (e, k) in &self.entries {
            if *k == kind {
                if same_transferable(e, o) {
                    return Some(idx);
                }
                idx += 1;
            }
        }
        None
    }

    /// Steps 6-7: after serialization, every transferable must still be transferable;
    /// only when all are, transfer them all (so a failing call changes nothing).
    fn detach_all(self) -> Result<TransferData> {
        // Step 6: for each transferable, if it is a detached ArrayBuffer or a detached
        // platform object, throw a DataCloneError.
        for (o, kind) in &self.entries {
            if o.is_detached() {
                return Err(clone_err(match kind {
                    TransferKind::ArrayBuffer => {
                        "ArrayBuffer is detached and cannot be transferred"
                    }
                    TransferKind::Port => "MessagePort is detached (closed or already transferred)",
                }));
            }
        }
        // Step 7: for each transferable, run its transfer steps.
        let mut data = TransferData::default();
        for (o, kind) in self.entries {
            match kind {
                TransferKind::ArrayBuffer => {
                    let mut d = o.borrow_mut();
                    if let ObjectData::ArrayBuffer(ab) = &mut *d {
                        // Step 7.2: the data holder takes the bytes (moved, not
                        // copied); DetachArrayBuffer empties the sender's.
                        ab.detached = true;
                        data.buffers.push(BufferHolder {
                            bytes: std::mem::take(&mut ab.bytes),
                            max_byte_length: ab.max_byte_length,
                        });
                    }
                }
                TransferKind::Port => {
                    let port = o.as_port();
                    if let Some(p) = port {
                        // Step 7.3: the interface's transfer steps.
                        data.ports.push(p.transfer());
                    }
                }
            }
        }
        Ok(data)
    }
}

thread_local! {
    /// The buffer [`Serializer`] writes into, kept per thread between calls (a
    /// failed or nested serialization simply starts with a fresh one).
    static SER_SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The largest record whose bytes are copied out of the scratch buffer (larger ones
/// take the buffer with them).
const SER_SCRATCH_KEEP: usize = 64 * 1024;

struct Serializer<'t> {
    out: Vec<u8>,
    blobs: Vec<Arc<[u8]>>,
    memory: AddrMap<u32>,
    next_id: u32,
    transfer: Option<&'t TransferList>,
    depth: u32,
}

impl<'t> Serializer<'t> {
    fn new(transfer: Option<&'t TransferList>) -> Self {
        let mut out = SER_SCRATCH.with(Cell::take);
        out.clear();
        out.push(FORMAT_VERSION);
        Serializer {
            out,
            blobs: Vec::new(),
            memory: AddrMap::default(),
            next_id: 0,
            transfer,
            depth: 0,
        }
    }

    /// The record: the scratch buffer's bytes copied into one allocation of the
    /// exact size (a growing `Vec` reallocates several times for a 1 KB value and
    /// leaves spare capacity in every queued message). A large record keeps the
    /// buffer itself instead: copying it would cost more than the allocation saves.
    fn finish(self) -> SerializedRecord {
        let bytes = if self.out.len() > SER_SCRATCH_KEEP {
            self.out
        } else {
            let bytes = self.out.as_slice().to_vec();
            SER_SCRATCH.with(|c| c.set(self.out));
            bytes
        };
        SerializedRecord {
            bytes,
            blobs: self.blobs,
        }
    }

    /// StructuredSerializeInternal, for one value.
    #[inline(always)]
    fn value(&mut self, v: &Value) -> Result<()> {
        match v {
            // Steps 2-6: primitives serialize as themselves.
            Value::Undefined => self.out.push(tag::UNDEFINED),
            Value::Null => self.out.push(tag::NULL),
            Value::Bool(false) => self.out.push(tag::FALSE),
            Value::Bool(true) => self.out.push(tag::TRUE),
            Value::Number(n) => write_number(&mut self.out, *n),
            Value::BigInt(n) => {
                self.out.push(tag::BIGINT);
                write_bigint(&mut self.out, n);
            }
            Value::String(s) => write_js_string(&mut self.out, s),
            // Step 3: a Symbol throws a DataCloneError.
            Value::Symbol(s) => return Err(err_symbol(s)),
            Value::Object(o) => self.object(o)?,
        }
        Ok(())
    }

    /// Gives `o` an id when it can be met again (more than one reference to it
    /// exists); an object with a single reference is reached once, so it needs none.
    #[inline]
    fn new_id(&mut self, o: &Object) {
        if o.ref_count() > 1 {
            self.out.push(tag::SHARED);
            self.memory.insert(o.addr(), self.next_id);
            self.next_id += 1;
        }
    }

    #[inline(never)]
    fn object(&mut self, o: &Object) -> Result<()> {
        // Step 1: if memory[value] exists, return it (a back-reference).
        if o.ref_count() > 1 {
            if let Some(&id) = self.memory.get(&o.addr()) {
                self.out.push(tag::BACKREF);
                write_varint(&mut self.out, id as u64);
                return Ok(());
            }
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err_too_deep());
        }
        let d = o.borrow();
        match &*d {
            ObjectData::Port(_) => {
                // Transferred ports are in memory already (step 4.4 of
                // StructuredSerializeWithTransfer); any other port is not serializable.
                match self.transfer.and_then(|t| t.lookup(o, TransferKind::Port)) {
                    Some(i) => {
                        self.out.push(tag::TRANSFERRED_PORT);
                        write_varint(&mut self.out, i);
                    }
                    None => return Err(err_port_not_transferred()),
                }
            }
            ObjectData::ArrayBuffer(ab) => {
                if let Some(i) = self
                    .transfer
                    .and_then(|t| t.lookup(o, TransferKind::ArrayBuffer))
                {
                    self.out.push(tag::TRANSFERRED_ARRAY_BUFFER);
                    write_varint(&mut self.out, i);
                } else {
                    // Step 13.1: a detached buffer throws.
                    if ab.detached {
                        return Err(err_detached_buffer());
                    }
                    self.new_id(o);
                    // Steps 13.3-13.4: copy the bytes (resizable keeps its max).
                    match ab.max_byte_length {
                        None => {
                            self.out.push(tag::ARRAY_BUFFER);
                            write_varint(&mut self.out, ab.bytes.len() as u64);
                        }
                        Some(max) => {
                            self.out.push(tag::RESIZABLE_ARRAY_BUFFER);
                            write_varint(&mut self.out, ab.bytes.len() as u64);
                            write_varint(&mut self.out, max as u64);
                        }
                    }
                    self.out.extend_from_slice(&ab.bytes);
                }
            }
            ObjectData::View(v) => {
                // Step 14.1: an out-of-bounds view throws.
                let (_, oob) = v.current_length();
                if oob {
                    return Err(err_out_of_bounds(v.kind));
                }
                self.new_id(o);
                self.out.push(tag::VIEW);
                self.out.push(v.kind.tag());
                write_varint(&mut self.out, v.byte_offset as u64);
                write_varint(&mut self.out, v.length.map_or(0, |l| l as u64 + 1));
                // Step 14.3: serialize the buffer (by reference: views of one buffer
                // share it in the clone).
                let buffer = v.buffer.clone();
                drop(d);
                self.object(&buffer)?;
                self.depth -= 1;
                return Ok(());
            }
            ObjectData::Plain(p) => {
                self.new_id(o);
                self.out.push(tag::OBJECT);
                // Step 26: own enumerable string-keyed properties, in order.
                self.props(p)?;
            }
            ObjectData::Array(a) => {
                self.new_id(o);
                self.out.push(tag::ARRAY);
                self.array(a)?;
            }
            ObjectData::BooleanObject(b) => {
                self.new_id(o);
                self.out.push(tag::BOOLEAN_OBJECT);
                self.out.push(*b as u8);
            }
            ObjectData::NumberObject(n) => {
                self.new_id(o);
                self.out.push(tag::NUMBER_OBJECT);
                self.out.extend_from_slice(&n.to_le_bytes());
            }
            ObjectData::StringObject(s) => {
                self.new_id(o);
                self.out.push(tag::STRING_OBJECT);
                write_js_string(&mut self.out, s);
            }
            ObjectData::BigIntObject(n) => {
                self.new_id(o);
                self.out.push(tag::BIGINT_OBJECT);
                write_bigint(&mut self.out, n);
            }
            ObjectData::Date(t) => {
                self.new_id(o);
                self.out.push(tag::DATE);
                self.out.extend_from_slice(&t.to_le_bytes());
            }
            ObjectData::RegExp(r) => {
                // Step 12: [[OriginalSource]] and [[OriginalFlags]]; lastIndex is not kept.
                self.new_id(o);
                self.out.push(tag::REGEXP);
                write_js_string(&mut self.out, &r.source);
                write_js_string(&mut self.out, &r.flags);
            }
            ObjectData::Blob(b) => {
                self.new_id(o);
                self.out.push(tag::BLOB);
                self.blob(b);
            }
            ObjectData::File(f) => {
                self.new_id(o);
                self.out.push(tag::FILE);
                self.blob(&f.blob);
                write_js_string(&mut self.out, &f.name);
                write_varint(&mut self.out, zigzag(f.last_modified));
            }
            ObjectData::FileList(files) => {
                self.new_id(o);
                self.out.push(tag::FILE_LIST);
                write_varint(&mut self.out, files.len() as u64);
                let files = files.clone();
                drop(d);
                for f in &files {
                    if !matches!(&*f.borrow(), ObjectData::File(_)) {
                        return Err(err_file_list_item(f));
                    }
                    self.object(f)?;
                }
                self.depth -= 1;
                return Ok(());
            }
            ObjectData::Map(m) => {
                self.new_id(o);
                self.out.push(tag::MAP);
                // Step 15/26: entries in order, keys and values serialized in turn.
                for (k, v) in m.iter() {
                    self.value(k)?;
                    self.value(v)?;
                }
                self.out.push(tag::END);
            }
            ObjectData::Set(s) => {
                self.new_id(o);
                self.out.push(tag::SET);
                for (k, _) in s.iter() {
                    self.value(k)?;
                }
                self.out.push(tag::END);
            }
            ObjectData::Error(e) => {
                // Step 17: name (unknown names become "Error"), own message; the
                // stack is the "interesting accompanying data" step 17.7 allows.
                self.new_id(o);
                self.out.push(tag::ERROR);
                let kind = e
                    .name
                    .as_str()
                    .map_or(ErrorKind::Error, ErrorKind::from_name);
                let kind_ix = ErrorKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
                self.out.push(kind_ix as u8);
                let flags = e.message.is_some() as u8 | ((e.stack.is_some() as u8) << 1);
                self.out.push(flags);
                if let Some(m) = &e.message {
                    write_js_string(&mut self.out, m);
                }
                if let Some(s) = &e.stack {
                    write_js_string(&mut self.out, s);
                }
            }
            ObjectData::DomException(e) => {
                // DOMException's serialization steps: name and message (code follows
                // from the name).
                self.new_id(o);
                self.out.push(tag::DOM_EXCEPTION);
                write_js_string(&mut self.out, &e.name);
                write_js_string(&mut self.out, &e.message);
            }
            // Step 18-19: anything else is not serializable.
            ObjectData::Function { name } => return Err(err_function(name)),
            ObjectData::Platform { interface } => return Err(err_platform(interface)),
        }
        self.depth -= 1;
        Ok(())
    }

    fn props(&mut self, p: &PropertyMap) -> Result<()> {
        for (k, v) in p.iter() {
            write_js_string(&mut self.out, k);
            self.value(v)?;
        }
        self.out.push(tag::END);
        Ok(())
    }

    fn array(&mut self, a: &ArrayData) -> Result<()> {
        let n = a.elements.len().min(a.length as usize);
        for e in &a.elements[..n] {
            match e {
                Some(v) => self.value(v)?,
                None => self.out.push(tag::HOLE),
            }
        }
        self.out.push(tag::END);
        write_varint(&mut self.out, a.length as u64);
        match &a.props {
            Some(p) => self.props(p),
            None => {
                self.out.push(tag::END);
                Ok(())
            }
        }
    }

    fn blob(&mut self, b: &BlobData) {
        // Blob bytes are shared through the side table (the same Arc once per record).
        let ix = match self.blobs.iter().position(|x| Arc::ptr_eq(x, &b.bytes)) {
            Some(i) => i,
            None => {
                self.blobs.push(b.bytes.clone());
                self.blobs.len() - 1
            }
        };
        write_varint(&mut self.out, ix as u64);
        write_js_string(&mut self.out, &b.mime);
    }
}

/// [StructuredSerialize](https://html.spec.whatwg.org/multipage/structured-data.html#structuredserialize)
/// (no transfer, as BroadcastChannel uses): a port inside gives `DataCloneError`.
pub fn structured_serialize(value: &Value) -> Result<SerializedRecord> {
    let mut s = Serializer::new(None);
    s.value(value)?;
    Ok(s.finish())
}

/// [StructuredSerializeWithTransfer](https://html.spec.whatwg.org/multipage/structured-data.html#structuredserializewithtransfer).
///
/// Checks the transfer list first (non-transferable entries and duplicates), then
/// serializes, then checks that no transferable is detached, and only then detaches
/// everything: a failing call has no side effects.
pub fn structured_serialize_with_transfer(
    value: &Value,
    transfer: &[Value],
) -> Result<SerializedWithTransfer> {
    // Steps 1-4: memory, and the transfer list's checks.
    let list = TransferList::check(transfer)?;
    // Step 5: serialized = StructuredSerializeInternal(value, false, memory).
    let mut s = Serializer::new(Some(&list));
    s.value(value)?;
    let record = s.finish();
    // Steps 6-7: detached checks, then the transfer steps.
    let transfer = list.detach_all()?;
    // Step 8: return { [[Serialized]], [[TransferDataHolders]] }.
    Ok(SerializedWithTransfer { record, transfer })
}

/// The transfer half of [`structured_serialize_with_transfer`] for a record produced
/// another way (a serde payload posted with a transfer list): the same checks in the
/// same order (transfer list, then detached), then the transfers. Transferables the
/// record does not reference still transfer (they show up in `event.ports`).
pub fn serialize_transfer_only(
    record: SerializedRecord,
    transfer: &[Value],
) -> Result<SerializedWithTransfer> {
    let list = TransferList::check(transfer)?;
    let transfer = list.detach_all()?;
    Ok(SerializedWithTransfer { record, transfer })
}

/// The transfer-receiving steps of
/// [StructuredDeserializeWithTransfer](https://html.spec.whatwg.org/multipage/structured-data.html#structureddeserializewithtransfer)
/// (step 3): builds the new ArrayBuffers (taking the moved bytes) and the new ports.
/// Call exactly once per message.
pub fn receive_transfer(data: TransferData, ports: &mut dyn PortReceiver) -> Result<Transferred> {
    let array_buffers = data
        .buffers
        .into_iter()
        .map(|h| match h.max_byte_length {
            None => Object::new_array_buffer(h.bytes),
            Some(max) => Object::new_resizable_array_buffer(h.bytes, max),
        })
        .collect();
    let mut out_ports = Vec::with_capacity(data.ports.len());
    for holder in data.ports {
        out_ports.push(Object::new_port(ports.receive_port(holder)?));
    }
    Ok(Transferred {
        array_buffers,
        ports: out_ports,
    })
}

/// A [`PortReceiver`] for realms or messages that take no ports (BroadcastChannel,
/// `structured_clone`): receiving any port fails with `DataCloneError`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPorts;

impl PortReceiver for NoPorts {
    fn receive_port(&mut self, _holder: Box<dyn Any + Send>) -> Result<Rc<dyn TransferablePort>> {
        Err(clone_err("this realm cannot receive MessagePorts"))
    }
}

/// [StructuredDeserialize](https://html.spec.whatwg.org/multipage/structured-data.html#structureddeserialize):
/// a fresh graph each call, with the same sharing and cycles; references to
/// transferred buffers and ports resolve to the objects in `transferred`.
pub fn deserialize_record(record: &SerializedRecord, transferred: &Transferred) -> Result<Value> {
    let mut d = Deserializer {
        r: Reader::new(&record.bytes),
        pending_shared: false,
        table: Vec::new(),
        blobs: &record.blobs,
        transferred,
        depth: 0,
        scratch: Scratch::take(),
    };
    let v = d.version().and_then(|()| d.value());
    d.scratch.give_back();
    let v = v?;
    if !d.r.at_end() {
        return Err(clone_err("trailing bytes after the serialized value"));
    }
    Ok(v)
}

/// StructuredDeserialize without transfer.
pub fn structured_deserialize(record: &SerializedRecord) -> Result<Value> {
    deserialize_record(record, &Transferred::default())
}

/// [StructuredDeserializeWithTransfer](https://html.spec.whatwg.org/multipage/structured-data.html#structureddeserializewithtransfer):
/// the transfer-receiving steps, then deserialization. Returns the value and the new
/// transferred objects (the ports become `event.ports`).
pub fn structured_deserialize_with_transfer(
    s: SerializedWithTransfer,
    ports: &mut dyn PortReceiver,
) -> Result<(Value, Transferred)> {
    // Step 3: transfer-receiving steps for each data holder.
    let transferred = receive_transfer(s.transfer, ports)?;
    // Step 4: deserialized = StructuredDeserialize(serialized, realm, memory).
    let v = deserialize_record(&s.record, &transferred)?;
    Ok((v, transferred))
}

/// [`structuredClone(value, { transfer })`](https://html.spec.whatwg.org/multipage/structured-data.html#dom-structuredclone)
/// for values and transfer lists without ports (a port in `transfer` fails with
/// `DataCloneError` before anything happens: use [`structured_clone_with_ports`]).
pub fn structured_clone(value: &Value, transfer: &[Value]) -> Result<Value> {
    if transfer.iter().any(|t| {
        t.as_object()
            .is_some_and(|o| matches!(&*o.borrow(), ObjectData::Port(_)))
    }) {
        // Still report list errors first, as structuredClone would.
        TransferList::check(transfer)?;
        return Err(clone_err(
            "structured_clone cannot receive MessagePorts; use structured_clone_with_ports",
        ));
    }
    structured_clone_with_ports(value, transfer, &mut NoPorts)
}

fn has_port(transfer: &[Value]) -> bool {
    transfer.iter().any(|t| {
        t.as_object()
            .is_some_and(|o| matches!(&*o.borrow(), ObjectData::Port(_)))
    })
}

/// `structuredClone(value, { transfer })` in a realm that can receive ports.
pub fn structured_clone_with_ports(
    value: &Value,
    transfer: &[Value],
    ports: &mut dyn PortReceiver,
) -> Result<Value> {
    if !has_port(transfer) {
        // Same realm and no ports: copy the graph directly (see `direct_clone`).
        return direct_clone(value, transfer);
    }
    // Step 1: serialized = StructuredSerializeWithTransfer(value, transfer).
    let s = structured_serialize_with_transfer(value, transfer)?;
    // Step 2: deserializeRecord = StructuredDeserializeWithTransfer(serialized, realm).
    let (v, _) = structured_deserialize_with_transfer(s, ports)?;
    // Step 3: return deserializeRecord.[[Deserialized]].
    Ok(v)
}

// ---------------------------------------------------------------------------
// Direct (same-realm) clone
// ---------------------------------------------------------------------------

/// `structuredClone` within one realm, without the intermediate record: the graph
/// is copied directly with the same steps, checks, order and errors as
/// serialize-then-deserialize (the transfer list is checked first, then the value is
/// walked, then the transferables' detached state, then they are transferred), so
/// the result is indistinguishable; it saves encoding, decoding and string copies
/// (strings are shared, they are immutable). Used when the transfer list holds no
/// ports (receiving a port needs the runtime's [`PortReceiver`]).
fn direct_clone(value: &Value, transfer: &[Value]) -> Result<Value> {
    // Steps 1-4 of StructuredSerializeWithTransfer.
    let list = TransferList::check(transfer)?;
    // The new ArrayBuffers the transferred ones become, built empty now and filled
    // once the transfer happens (dropped unused when the call fails).
    let targets: Vec<(Object, Object)> = list
        .entries
        .iter()
        .map(|(o, _)| (o.clone(), Object::new_array_buffer(Vec::new())))
        .collect();
    let mut c = Copier {
        memory: AddrMap::default(),
        targets: &targets,
        depth: 0,
    };
    // Step 5 (and StructuredDeserialize): walk and copy.
    let out = c.value(value).map_err(|e| *e)?;
    // Steps 6-7: detached checks, then the transfer steps.
    let data = list.detach_all()?;
    for ((_, target), holder) in targets.iter().zip(data.buffers) {
        if let ObjectData::ArrayBuffer(ab) = &mut *target.borrow_mut() {
            ab.bytes = holder.bytes;
            ab.max_byte_length = holder.max_byte_length;
        }
    }
    Ok(out)
}

/// The copier's result: the error is boxed so that an `Object` result is returned in
/// registers.
type CopyResult<T> = std::result::Result<T, Box<Error>>;

struct Copier<'t> {
    /// Source object address -> its copy, for objects that can be met twice.
    memory: AddrMap<Object>,
    targets: &'t [(Object, Object)],
    depth: u32,
}

impl Copier<'_> {
    #[inline(always)]
    fn value(&mut self, v: &Value) -> CopyResult<Value> {
        // The common primitives are copied here rather than by `Value::clone`,
        // which is not inlined (its BigInt arm makes it large) and so cost a call
        // per value. Values that own nothing (numbers, short strings...) are copied
        // bitwise, without a dispatch on their kind.
        if v.owns_nothing() {
            // SAFETY: `owns_nothing` means the value holds no reference or heap data,
            // so the copy is independent of `v` and dropping both is sound.
            return Ok(unsafe { std::ptr::read(v) });
        }
        Ok(match v {
            Value::Undefined => Value::Undefined,
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(*b),
            Value::Number(n) => Value::Number(*n),
            Value::String(s) => Value::String(s.clone()),
            Value::Symbol(s) => return Err(err_symbol(s).into()),
            Value::Object(o) => Value::Object(self.object(o)?),
            Value::BigInt(_) => v.clone(),
        })
    }

    /// The copied properties: the keys are distinct already, so they are moved into
    /// a `Vec` of the exact size without lookups.
    fn props(&mut self, p: &PropertyMap) -> CopyResult<PropertyMap> {
        let mut out = Vec::with_capacity(p.len());
        for (k, v) in p.iter() {
            let v = self.value(v)?;
            out.push((k.clone(), v));
        }
        Ok(PropertyMap::from_unique(out))
    }

    /// Builds the copy of a container: registered before its children when it can
    /// be met again (cycles), else built after them.
    fn container(
        &mut self,
        o: &Object,
        shared: bool,
        empty: fn() -> ObjectData,
        fill: impl FnOnce(&mut Self) -> CopyResult<ObjectData>,
    ) -> CopyResult<Object> {
        if shared {
            let c = Object::from_data(empty());
            self.memory.insert(o.addr(), c.clone());
            let data = fill(self)?;
            *c.borrow_mut() = data;
            Ok(c)
        } else {
            Ok(Object::from_data(fill(self)?))
        }
    }

    #[inline(never)]
    fn object(&mut self, o: &Object) -> CopyResult<Object> {
        let shared = o.ref_count() > 1;
        if shared {
            if let Some(c) = self.memory.get(&o.addr()) {
                return Ok(c.clone());
            }
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err_too_deep().into());
        }
        let d = o.borrow();
        let leaf = match &*d {
            // Containers: their contents are copied first, then the copy is built
            // with them (one allocation, no borrow per item); one that can be met
            // again is registered empty before its children, which may point back
            // to it (a cycle), and filled in afterwards.
            ObjectData::Plain(p) if !shared => {
                // Built in place, in a recycled object of the right size if any.
                let r = Object::build_plain(p.len(), |out| {
                    for (k, v) in p.iter() {
                        let v = self.value(v)?;
                        out.push((k.clone(), v));
                    }
                    Ok(())
                });
                self.depth -= 1;
                return r;
            }
            ObjectData::Array(a) if !shared => {
                let n = a.elements.len().min(a.length as usize);
                let r = Object::build_array(n, a.length, |elements| {
                    for e in &a.elements[..n] {
                        elements.push(match e {
                            Some(v) => Some(self.value(v)?),
                            None => None,
                        });
                    }
                    Ok(match a.props.as_ref().filter(|p| !p.is_empty()) {
                        Some(p) => Some(Box::new(self.props(p)?)),
                        None => None,
                    })
                });
                self.depth -= 1;
                return r;
            }
            ObjectData::Plain(p) => {
                let r = self.container(
                    o,
                    shared,
                    || ObjectData::Plain(PropertyMap::new()),
                    |c| Ok(ObjectData::Plain(c.props(p)?)),
                );
                self.depth -= 1;
                return r;
            }
            ObjectData::Array(a) => {
                let r = self.container(
                    o,
                    shared,
                    || ObjectData::Array(ArrayData::default()),
                    |c| {
                        let n = a.elements.len().min(a.length as usize);
                        let mut elements = ArrayElements::with_capacity(n);
                        for e in &a.elements[..n] {
                            elements.push(match e {
                                Some(v) => Some(c.value(v)?),
                                None => None,
                            });
                        }
                        let props = match a.props.as_ref().filter(|p| !p.is_empty()) {
                            Some(p) => Some(Box::new(c.props(p)?)),
                            None => None,
                        };
                        Ok(ObjectData::Array(ArrayData {
                            length: a.length,
                            elements,
                            props,
                        }))
                    },
                );
                self.depth -= 1;
                return r;
            }
            ObjectData::Map(m) | ObjectData::Set(m) => {
                let is_map = matches!(&*d, ObjectData::Map(_));
                let empty = if is_map {
                    || ObjectData::Map(CollectionData::new())
                } else {
                    || ObjectData::Set(CollectionData::new())
                };
                let r = self.container(o, shared, empty, |c| {
                    // The source's keys are distinct by SameValueZero, and so are
                    // their copies (object keys become distinct new objects), so no
                    // lookups are needed.
                    let mut out = take_entries_buffer(m.len());
                    for (k, v) in m.iter() {
                        let k = c.value(k)?;
                        let v = if is_map {
                            c.value(v)?
                        } else {
                            Value::Undefined
                        };
                        out.push((k, v));
                    }
                    let out = CollectionData::from_unique(out);
                    Ok(if is_map {
                        ObjectData::Map(out)
                    } else {
                        ObjectData::Set(out)
                    })
                });
                self.depth -= 1;
                return r;
            }
            ObjectData::FileList(files) => {
                let r = self.container(
                    o,
                    shared,
                    || ObjectData::FileList(Vec::new()),
                    |c| {
                        let mut out = Vec::with_capacity(files.len());
                        for f in files {
                            if !matches!(&*f.borrow(), ObjectData::File(_)) {
                                return Err(err_file_list_item(f).into());
                            }
                            out.push(c.object(f)?);
                        }
                        Ok(ObjectData::FileList(out))
                    },
                );
                self.depth -= 1;
                return r;
            }
            ObjectData::View(v) => {
                if v.current_length().1 {
                    return Err(err_out_of_bounds(v.kind).into());
                }
                let buffer = self.object(&v.buffer)?;
                ObjectData::View(ViewData {
                    kind: v.kind,
                    buffer,
                    byte_offset: v.byte_offset,
                    length: v.length,
                })
            }
            ObjectData::ArrayBuffer(ab) => {
                if let Some((_, t)) = self.targets.iter().find(|(s, _)| Object::ptr_eq(s, o)) {
                    self.depth -= 1;
                    return Ok(t.clone());
                }
                if ab.detached {
                    return Err(err_detached_buffer().into());
                }
                ObjectData::ArrayBuffer(ArrayBufferData {
                    bytes: ab.bytes.clone(),
                    max_byte_length: ab.max_byte_length,
                    detached: false,
                })
            }
            ObjectData::Port(_) => return Err(err_port_not_transferred().into()),
            ObjectData::BooleanObject(b) => ObjectData::BooleanObject(*b),
            ObjectData::NumberObject(n) => ObjectData::NumberObject(*n),
            ObjectData::StringObject(s) => ObjectData::StringObject(s.clone()),
            ObjectData::BigIntObject(n) => ObjectData::BigIntObject(n.clone()),
            ObjectData::Date(t) => ObjectData::Date(*t),
            ObjectData::RegExp(r) => ObjectData::RegExp(RegExpData {
                source: r.source.clone(),
                flags: r.flags.clone(),
                last_index: 0.0,
            }),
            ObjectData::Blob(b) => ObjectData::Blob(b.clone()),
            ObjectData::File(f) => ObjectData::File(f.clone()),
            ObjectData::Error(e) => {
                let kind = e
                    .name
                    .as_str()
                    .map_or(ErrorKind::Error, ErrorKind::from_name);
                ObjectData::Error(ErrorData {
                    name: JsString::from(kind.as_str()),
                    message: e.message.clone(),
                    stack: e.stack.clone(),
                })
            }
            ObjectData::DomException(e) => ObjectData::DomException(e.clone()),
            ObjectData::Function { name } => return Err(err_function(name).into()),
            ObjectData::Platform { interface } => return Err(err_platform(interface).into()),
        };
        let c = Object::from_data(leaf);
        if shared {
            self.memory.insert(o.addr(), c.clone());
        }
        self.depth -= 1;
        Ok(c)
    }
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

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

struct Deserializer<'a> {
    r: Reader<'a>,
    /// The next object built is SHARED-prefixed: register it.
    pending_shared: bool,
    /// Objects by id; `None` while an object's slot is reserved but not built.
    table: Vec<Option<Object>>,
    blobs: &'a [Arc<[u8]>],
    transferred: &'a Transferred,
    depth: u32,
    /// Where containers collect their contents while they are decoded.
    scratch: Scratch,
}

/// Stacks the decoder collects a container's properties, elements or entries on
/// while decoding them (the record does not say how many there are), so that each
/// container then gets one allocation of exactly the right size instead of a
/// growing `Vec` (4, 8, 16... with a copy each time). A container's items sit
/// above those of the containers enclosing it, and are taken off the stack before
/// the enclosing container goes on, so one stack of each kind serves the whole graph.
#[derive(Default)]
struct Scratch {
    props: Vec<(JsString, Value)>,
    elements: Vec<Option<Value>>,
    entries: Vec<(Value, Value)>,
}

impl Scratch {
    /// The stacks are kept per thread between decodes (they are empty between
    /// calls; a nested or concurrent decode on the thread just finds them taken and
    /// starts with fresh ones).
    fn take() -> Scratch {
        SCRATCH.with(Cell::take)
    }

    /// Empties the stacks (values left by a failed decode are dropped) and gives
    /// them back to the thread, unless they grew large.
    fn give_back(mut self) {
        // At most about 40 KB kept per thread.
        const KEEP: usize = 256;
        self.props.clear();
        self.elements.clear();
        self.entries.clear();
        if self.props.capacity() <= KEEP
            && self.elements.capacity() <= KEEP
            && self.entries.capacity() <= KEEP
        {
            SCRATCH.with(|c| c.set(self));
        }
    }
}

thread_local! {
    static SCRATCH: Cell<Scratch> = const {
        Cell::new(Scratch {
            props: Vec::new(),
            elements: Vec::new(),
            entries: Vec::new(),
        })
    };
}

impl<'a> Deserializer<'a> {
    fn version(&mut self) -> Result<()> {
        match self.r.u8()? {
            FORMAT_VERSION => Ok(()),
            v => Err(clone_err(format!("unsupported record version {v}"))),
        }
    }

    fn register(&mut self, o: &Object) {
        self.table.push(Some(o.clone()));
    }

    #[inline(always)]
    fn value(&mut self) -> Result<Value> {
        let t = self.r.u8()?;
        self.value_tagged(t)
    }

    #[inline(always)]
    fn value_tagged(&mut self, t: u8) -> Result<Value> {
        Ok(match t {
            tag::UNDEFINED => Value::Undefined,
            tag::NULL => Value::Null,
            tag::FALSE => Value::Bool(false),
            tag::TRUE => Value::Bool(true),
            tag::INT => Value::Number(self.r.int()?),
            tag::DOUBLE => Value::Number(self.r.f64()?),
            tag::BIGINT => Value::BigInt(self.r.bigint_body()?),
            tag::STRING => Value::String(JsString::new(self.r.str_body()?)),
            tag::STRING16 => Value::String(JsString::from_utf16(&self.r.utf16_body()?)),
            tag::SHARED => {
                let t = self.shared_tag()?;
                Value::Object(self.object(t)?)
            }
            _ => Value::Object(self.object(t)?),
        })
    }

    #[inline(never)]
    fn object(&mut self, t: u8) -> Result<Object> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(clone_err(format!("record nested deeper than {MAX_DEPTH}")));
        }
        let o = match t {
            tag::OBJECT => self.plain_object()?,
            tag::ARRAY => self.array_object()?,
            tag::MAP | tag::SET => self.collection_object(t == tag::MAP)?,
            tag::VIEW => self.view_object()?,
            tag::FILE_LIST => self.file_list_object()?,
            _ => self.leaf_object(t)?,
        };
        self.depth -= 1;
        Ok(o)
    }

    #[inline]
    fn leaf(&mut self, data: ObjectData) -> Object {
        let o = Object::from_data(data);
        if std::mem::take(&mut self.pending_shared) {
            self.register(&o);
        }
        o
    }

    /// After a SHARED prefix: the tag of the object it numbers.
    fn shared_tag(&mut self) -> Result<u8> {
        let t = self.r.u8()?;
        match t {
            tag::BACKREF | tag::TRANSFERRED_ARRAY_BUFFER | tag::TRANSFERRED_PORT | tag::SHARED => {
                Err(clone_err(
                    "SHARED prefix before a value that is not a new object",
                ))
            }
            t if !(tag::OBJECT..tag::END).contains(&t) => {
                Err(clone_err("SHARED prefix before a primitive"))
            }
            t => {
                self.pending_shared = true;
                Ok(t)
            }
        }
    }

    /// Creates an object whose children are decoded by `fill`. An object that is not
    /// SHARED cannot be referenced by its children, so it is built once they are
    /// decoded; a SHARED one is registered first (cycles may point to it) and filled
    /// in afterwards.
    #[inline(always)]
    fn container(
        &mut self,
        empty: fn() -> ObjectData,
        fill: impl FnOnce(&mut Self) -> Result<ObjectData>,
    ) -> Result<Object> {
        if std::mem::take(&mut self.pending_shared) {
            let o = Object::from_data(empty());
            self.register(&o);
            let data = fill(self)?;
            *o.borrow_mut() = data;
            Ok(o)
        } else {
            Ok(Object::from_data(fill(self)?))
        }
    }

    /// A property key, or `None` at the END of the properties.
    #[inline]
    fn key(&mut self) -> Result<Option<JsString>> {
        Ok(Some(match self.r.u8()? {
            tag::END => return Ok(None),
            tag::STRING => JsString::new(self.r.str_body()?),
            tag::STRING16 => JsString::from_utf16(&self.r.utf16_body()?),
            t => return Err(clone_err(format!("expected a property key, found tag {t}"))),
        }))
    }

    /// An object that is SHARED is registered (empty) before its children, which
    /// may refer to it, and filled in once they are decoded; any other one is built
    /// after them.
    #[inline]
    fn reserve_shared(&mut self, empty: fn() -> ObjectData) -> Option<Object> {
        if std::mem::take(&mut self.pending_shared) {
            let o = Object::from_data(empty());
            self.register(&o);
            Some(o)
        } else {
            None
        }
    }

    /// Builds a container: fills the object `reserve_shared` registered, or
    /// creates it.
    #[inline]
    fn finish_container(shared: Option<Object>, data: ObjectData) -> Object {
        match shared {
            Some(o) => {
                *o.borrow_mut() = data;
                o
            }
            None => Object::from_data(data),
        }
    }

    /// Properties up to END, collected on the scratch stack.
    #[inline]
    fn props(&mut self) -> Result<PropertyMap> {
        let start = self.scratch.props.len();
        while let Some(key) = self.key()? {
            let v = self.value()?;
            self.scratch.props.push((key, v));
        }
        Ok(PropertyMap::from_entries(self.scratch.props.drain(start..)))
    }

    fn plain_object(&mut self) -> Result<Object> {
        let shared = self.reserve_shared(|| ObjectData::Plain(PropertyMap::new()));
        if shared.is_none() {
            // Built in a recycled object of the right size if any.
            let start = self.scratch.props.len();
            while let Some(key) = self.key()? {
                let v = self.value()?;
                self.scratch.props.push((key, v));
            }
            return Ok(Object::build_plain_from_entries(
                self.scratch.props.drain(start..),
            ));
        }
        let p = self.props()?;
        Ok(Self::finish_container(shared, ObjectData::Plain(p)))
    }

    fn array_object(&mut self) -> Result<Object> {
        let shared = self.reserve_shared(|| ObjectData::Array(ArrayData::default()));
        let start = self.scratch.elements.len();
        loop {
            let e = match self.r.u8()? {
                tag::END => break,
                tag::HOLE => None,
                t => Some(self.value_tagged(t)?),
            };
            self.scratch.elements.push(e);
        }
        let length = self.r.varint()?;
        if length > u32::MAX as u64 || (length as usize) < self.scratch.elements.len() - start {
            return Err(bad_array_length());
        }
        if shared.is_none() {
            // Built in a recycled array of the right size if any; the properties
            // (decoded on the other scratch stacks) come first.
            let props = match self.r.peek()? {
                tag::END => {
                    self.r.pos += 1;
                    None
                }
                _ => Some(Box::new(self.props()?)),
            };
            let n = self.scratch.elements.len() - start;
            let r: std::result::Result<Object, std::convert::Infallible> =
                Object::build_array(n, length as u32, |elements| {
                    elements.extend(self.scratch.elements.drain(start..));
                    Ok(props)
                });
            return Ok(match r {
                Ok(o) => o,
                Err(never) => match never {},
            });
        }
        let elements: ArrayElements = self.scratch.elements.drain(start..).collect();
        let props = match self.r.peek()? {
            tag::END => {
                self.r.pos += 1;
                None
            }
            _ => Some(Box::new(self.props()?)),
        };
        let data = ObjectData::Array(ArrayData {
            length: length as u32,
            elements,
            props,
        });
        Ok(Self::finish_container(shared, data))
    }

    fn collection_object(&mut self, is_map: bool) -> Result<Object> {
        let shared = self.reserve_shared(if is_map {
            || ObjectData::Map(CollectionData::new())
        } else {
            || ObjectData::Set(CollectionData::new())
        });
        let start = self.scratch.entries.len();
        loop {
            let t = self.r.u8()?;
            if t == tag::END {
                break;
            }
            let k = self.value_tagged(t)?;
            let v = if is_map {
                self.value()?
            } else {
                Value::Undefined
            };
            self.scratch.entries.push((k, v));
        }
        let c = CollectionData::from_entries(self.scratch.entries.drain(start..));
        let data = if is_map {
            ObjectData::Map(c)
        } else {
            ObjectData::Set(c)
        };
        Ok(Self::finish_container(shared, data))
    }

    fn file_list_object(&mut self) -> Result<Object> {
        self.container(
            || ObjectData::FileList(Vec::new()),
            |d| {
                let n = d.r.len(2)?;
                let mut files = Vec::with_capacity(n);
                for _ in 0..n {
                    let f = match d.value()? {
                        Value::Object(f) => f,
                        _ => return Err(clone_err("FileList item is not a File")),
                    };
                    if !matches!(&*f.borrow(), ObjectData::File(_)) {
                        return Err(clone_err("FileList item is not a File"));
                    }
                    files.push(f);
                }
                Ok(ObjectData::FileList(files))
            },
        )
    }

    #[inline(never)]
    fn view_object(&mut self) -> Result<Object> {
        let id = if std::mem::take(&mut self.pending_shared) {
            self.table.push(None);
            Some(self.table.len() - 1)
        } else {
            None
        };
        let kind = ViewKind::from_tag(self.r.u8()?).ok_or_else(|| clone_err("bad view kind"))?;
        let off = self.r.varint()?;
        let len = self.r.varint()?;
        let mut bt = self.r.u8()?;
        if bt == tag::SHARED {
            bt = self.shared_tag()?;
        }
        if !matches!(
            bt,
            tag::BACKREF
                | tag::ARRAY_BUFFER
                | tag::RESIZABLE_ARRAY_BUFFER
                | tag::TRANSFERRED_ARRAY_BUFFER
        ) {
            return Err(clone_err("a view's buffer must be an ArrayBuffer"));
        }
        // A buffer has no children: leaf_object, not object, so no recursion.
        let buffer = self.leaf_object(bt)?;
        let off = usize::try_from(off).map_err(|_| clone_err("view offset too large"))?;
        let length = match len {
            0 => None,
            n => Some(usize::try_from(n - 1).map_err(|_| clone_err("view length too large"))?),
        };
        check_view(kind, &buffer, off, length).map_err(|m| clone_err(format!("bad view: {m}")))?;
        let o = Object::from_data(ObjectData::View(ViewData {
            kind,
            buffer,
            byte_offset: off,
            length,
        }));
        if let Some(id) = id {
            self.table[id] = Some(o.clone());
        }
        Ok(o)
    }

    /// Objects without children (and back-references).
    #[inline(never)]
    fn leaf_object(&mut self, t: u8) -> Result<Object> {
        Ok(match t {
            tag::BACKREF => {
                let id = self.r.varint()?;
                match self.table.get(id as usize) {
                    Some(Some(o)) => o.clone(),
                    Some(None) => {
                        return Err(clone_err("back-reference to an object still being built"))
                    }
                    None => {
                        return Err(clone_err(format!("back-reference to unknown object {id}")))
                    }
                }
            }
            tag::BOOLEAN_OBJECT => {
                let b = match self.r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(clone_err("bad Boolean object")),
                };
                self.leaf(ObjectData::BooleanObject(b))
            }
            tag::NUMBER_OBJECT => {
                let n = self.r.f64()?;
                self.leaf(ObjectData::NumberObject(n))
            }
            tag::STRING_OBJECT => {
                let s = self.r.js_string()?;
                self.leaf(ObjectData::StringObject(s))
            }
            tag::BIGINT_OBJECT => {
                let n = self.r.bigint_body()?;
                self.leaf(ObjectData::BigIntObject(n))
            }
            tag::DATE => {
                let n = self.r.f64()?;
                self.leaf(ObjectData::Date(n))
            }
            tag::REGEXP => {
                let source = self.r.js_string()?;
                let flags = self.r.js_string()?;
                self.leaf(ObjectData::RegExp(RegExpData {
                    source,
                    flags,
                    last_index: 0.0,
                }))
            }
            tag::ARRAY_BUFFER => {
                let n = self.r.len(1)?;
                let bytes = self.r.bytes(n)?.to_vec();
                self.leaf(ObjectData::ArrayBuffer(ArrayBufferData {
                    bytes,
                    max_byte_length: None,
                    detached: false,
                }))
            }
            tag::RESIZABLE_ARRAY_BUFFER => {
                let n = self.r.varint()?;
                let max = self.r.varint()?;
                if n > self.r.remaining() as u64 || max < n || max > isize::MAX as u64 {
                    return Err(clone_err("bad resizable ArrayBuffer lengths"));
                }
                let bytes = self.r.bytes(n as usize)?.to_vec();
                self.leaf(ObjectData::ArrayBuffer(ArrayBufferData {
                    bytes,
                    max_byte_length: Some(max as usize),
                    detached: false,
                }))
            }
            tag::TRANSFERRED_ARRAY_BUFFER => {
                let i = self.r.varint()?;
                match self.transferred.array_buffers.get(i as usize) {
                    Some(o) => o.clone(),
                    None => return Err(clone_err(format!("no transferred ArrayBuffer {i}"))),
                }
            }
            tag::TRANSFERRED_PORT => {
                let i = self.r.varint()?;
                match self.transferred.ports.get(i as usize) {
                    Some(o) => o.clone(),
                    None => return Err(clone_err(format!("no transferred MessagePort {i}"))),
                }
            }
            tag::BLOB => {
                let b = self.blob()?;
                self.leaf(ObjectData::Blob(b))
            }
            tag::FILE => {
                let blob = self.blob()?;
                let name = self.r.js_string()?;
                let last_modified = unzigzag(self.r.varint()?);
                self.leaf(ObjectData::File(FileData {
                    blob,
                    name,
                    last_modified,
                }))
            }
            tag::ERROR => {
                let kind = *ErrorKind::ALL
                    .get(self.r.u8()? as usize)
                    .ok_or_else(|| clone_err("bad Error kind"))?;
                let flags = self.r.u8()?;
                if flags > 3 {
                    return Err(clone_err("bad Error flags"));
                }
                let message = if flags & 1 != 0 {
                    Some(self.r.js_string()?)
                } else {
                    None
                };
                let stack = if flags & 2 != 0 {
                    Some(self.r.js_string()?)
                } else {
                    None
                };
                self.leaf(ObjectData::Error(ErrorData {
                    name: JsString::from(kind.as_str()),
                    message,
                    stack,
                }))
            }
            tag::DOM_EXCEPTION => {
                let name = self.r.js_string()?;
                let message = self.r.js_string()?;
                self.leaf(ObjectData::DomException(DomExceptionData { name, message }))
            }
            t => return Err(clone_err(format!("unknown tag {t}"))),
        })
    }

    #[inline(never)]
    fn blob(&mut self) -> Result<BlobData> {
        let i = self.r.varint()?;
        let bytes = self
            .blobs
            .get(i as usize)
            .cloned()
            .ok_or_else(|| clone_err(format!("no Blob bytes {i} in the record")))?;
        let mime = self.r.js_string()?;
        Ok(BlobData { bytes, mime })
    }
}
