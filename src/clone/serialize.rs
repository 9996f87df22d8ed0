//! Serialization: [StructuredSerializeInternal](https://html.spec.whatwg.org/multipage/structured-data.html#structuredserializeinternal),
//! writing one value into the record, and its callers StructuredSerialize and
//! StructuredSerializeWithTransfer.

use std::cell::Cell;
use std::sync::Arc;

use super::data_clone_error::{
    err_detached_buffer, err_file_list_item, err_function, err_out_of_bounds, err_platform,
    err_port_not_transferred, err_symbol, err_too_deep,
};
use super::memory::AddrMap;
use super::record::{RecordBytes, SerializedRecord, SerializedWithTransfer};
use super::transfer::{TransferKind, TransferList};
use super::writer::{write_bigint, write_js_string, write_number, write_varint, zigzag};
use super::{tag, FORMAT_VERSION, MAX_DEPTH};
use crate::error::Result;
use crate::value::{ArrayData, BlobData, ErrorKind, Object, ObjectData, PropertyMap, Value};

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
        let blobs = super::record::Blobs::new(self.blobs);
        if self.out.len() > SER_SCRATCH_KEEP {
            return SerializedRecord {
                bytes: RecordBytes::from_vec(self.out),
                blobs,
            };
        }
        let record = SerializedRecord::copy_of(&self.out, blobs);
        SER_SCRATCH.with(|c| c.set(self.out));
        record
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
