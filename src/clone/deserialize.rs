//! Deserialization: [StructuredDeserialize](https://html.spec.whatwg.org/multipage/structured-data.html#structureddeserialize),
//! building a fresh graph from untrusted record bytes, and
//! StructuredDeserializeWithTransfer.

use std::cell::Cell;
use std::sync::Arc;

use super::data_clone_error::bad_array_length;
use super::reader::Reader;
use super::record::{SerializedRecord, SerializedWithTransfer, Transferred};
use super::transfer::receive_transfer;
use super::writer::unzigzag;
use super::{clone_err, tag, FORMAT_VERSION, MAX_DEPTH};
use crate::error::Result;
use crate::value::{
    check_view, ArrayBufferData, ArrayData, ArrayElements, BlobData, CollectionData,
    DomExceptionData, ErrorData, ErrorKind, FileData, JsString, Object, ObjectData, PortReceiver,
    PropertyMap, RegExpData, Value, ViewData, ViewKind,
};

/// [StructuredDeserialize](https://html.spec.whatwg.org/multipage/structured-data.html#structureddeserialize):
/// a fresh graph each call, with the same sharing and cycles; references to
/// transferred buffers and ports resolve to the objects in `transferred`.
pub fn deserialize_record(record: &SerializedRecord, transferred: &Transferred) -> Result<Value> {
    // A safe point for the cycle collector: nothing is being built in place yet.
    crate::value::collect_cycles_if_due();
    let mut d = Deserializer {
        r: Reader::new(record.as_bytes()),
        pending_shared: false,
        table: Vec::new(),
        blobs: record.blobs.as_slice(),
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
