//! The direct (same-realm) clone: `structuredClone` without the intermediate record,
//! with the same steps, checks, order and errors as serializing then deserializing.

use super::data_clone_error::{
    err_detached_buffer, err_file_list_item, err_function, err_out_of_bounds, err_platform,
    err_port_not_transferred, err_symbol, err_too_deep,
};
use super::memory::AddrMap;
use super::transfer::TransferList;
use super::MAX_DEPTH;
use crate::error::{Error, Result};
use crate::value::{
    take_entries_buffer, ArrayBufferData, ArrayData, ArrayElements, CollectionData, ErrorData,
    ErrorKind, JsString, Object, ObjectData, PropertyMap, RegExpData, Value, ViewData,
};

/// `structuredClone` within one realm, without the intermediate record: the graph
/// is copied directly with the same steps, checks, order and errors as
/// serialize-then-deserialize (the transfer list is checked first, then the value is
/// walked, then the transferables' detached state, then they are transferred), so
/// the result is indistinguishable; it saves encoding, decoding and string copies
/// (strings are shared, they are immutable). Used when the transfer list holds no
/// ports (receiving a port needs the runtime's [`PortReceiver`](crate::value::PortReceiver)).
pub(super) fn direct_clone(value: &Value, transfer: &[Value]) -> Result<Value> {
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
