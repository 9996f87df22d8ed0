//! Objects: the reference with identity ([`Object`]), and reading and writing
//! their own properties, for ordinary objects, Arrays, primitive wrappers, Dates
//! and RegExps, and the objects that cannot be serialized.

use std::cell::{Ref, RefCell, RefMut};
use std::mem::ManuallyDrop;
use std::rc::Rc;

use num_bigint::BigInt;

use super::array::parse_array_index;
use super::blob::blob_prop;
use super::{
    ArrayData, ArrayElements, JsString, ObjectData, PropertyMap, RegExpData, TransferablePort,
    Value, ViewKind,
};

/// A reference to a JavaScript object. Cloning the `Object` clones the reference,
/// not the object: identity is [`Object::ptr_eq`].
///
/// Dropping the last reference to an object frees it and whatever only it kept
/// alive without recursion, so a graph nested any number of levels deep can be
/// dropped on any stack.
#[derive(Clone)]
pub struct Object(pub(super) ManuallyDrop<ObjectRc>);

/// An object's allocation.
pub(super) type ObjectRc = Rc<RefCell<ObjectData>>;

impl Object {
    /// True when both refer to the same object.
    pub fn ptr_eq(a: &Object, b: &Object) -> bool {
        Rc::ptr_eq(&a.0, &b.0)
    }

    /// How many references to this object exist (a count of 1 means it cannot be
    /// reached twice while serializing).
    pub(crate) fn ref_count(&self) -> usize {
        Rc::strong_count(&self.0)
    }

    /// The object's address, usable as an identity key while the object lives.
    pub fn addr(&self) -> usize {
        Rc::as_ptr(&self.0) as *const u8 as usize
    }

    /// Borrows the object's data.
    pub fn borrow(&self) -> Ref<'_, ObjectData> {
        self.0.borrow()
    }

    /// Borrows the object's data mutably.
    pub fn borrow_mut(&self) -> RefMut<'_, ObjectData> {
        self.0.borrow_mut()
    }

    /// The constructor name (see [`ObjectData::class_name`]).
    pub fn class_name(&self) -> &'static str {
        self.borrow().class_name()
    }

    /// The interface name of a platform object, or the class name of anything else.
    pub fn interface_name(&self) -> String {
        match &*self.borrow() {
            ObjectData::Platform { interface } => interface.clone(),
            d => d.class_name().to_string(),
        }
    }

    // --- plain objects and arrays ---

    /// A new empty ordinary object (`{}`).
    pub fn new_plain() -> Object {
        Object::from_data(ObjectData::Plain(PropertyMap::new()))
    }

    /// A new ordinary object with these properties, in order.
    pub fn from_pairs<K: Into<JsString>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Object {
        let mut map = PropertyMap::new();
        for (k, v) in pairs {
            map.insert(k.into(), v);
        }
        Object::from_data(ObjectData::Plain(map))
    }

    /// A new dense Array.
    pub fn new_array(items: Vec<Value>) -> Object {
        Object::from_data(ObjectData::Array(ArrayData {
            length: items.len() as u32,
            elements: items.into_iter().map(Some).collect(),
            props: None,
        }))
    }

    /// A new Array of `len` holes (`new Array(len)`).
    pub fn new_sparse_array(len: u32) -> Object {
        Object::from_data(ObjectData::Array(ArrayData {
            length: len,
            elements: ArrayElements::new(),
            props: None,
        }))
    }

    /// An own property: of a plain object, of an array (index keys such as `"0"`,
    /// `"length"`, and extra properties), and the readable fields of wrappers, Errors
    /// (`name`, `message`, `stack`), DOMExceptions (`name`, `message`, `code`),
    /// RegExps (`source`, `flags`, `lastIndex`), Blobs/Files (`size`, `type`, `name`,
    /// `lastModified`) and buffers/views (`byteLength`, `byteOffset`, `length`).
    /// Map entries are read with [`Object::map_get`].
    pub fn get(&self, key: &str) -> Option<Value> {
        let d = self.borrow();
        match &*d {
            ObjectData::Plain(p) => p.get(key).cloned(),
            ObjectData::Array(a) => {
                if key == "length" {
                    Some(Value::Number(a.length as f64))
                } else if let Some(i) = parse_array_index(key) {
                    a.get(i).cloned()
                } else {
                    a.prop(key).cloned()
                }
            }
            ObjectData::Error(e) => match key {
                "name" => Some(Value::String(e.name.clone())),
                "message" => e.message.clone().map(Value::String),
                "stack" => e.stack.clone().map(Value::String),
                _ => None,
            },
            ObjectData::DomException(e) => match key {
                "name" => Some(Value::String(e.name.clone())),
                "message" => Some(Value::String(e.message.clone())),
                "code" => Some(Value::Number(e.code() as f64)),
                _ => None,
            },
            ObjectData::RegExp(r) => match key {
                "source" => Some(Value::String(r.source.clone())),
                "flags" => Some(Value::String(r.flags.clone())),
                "lastIndex" => Some(Value::Number(r.last_index)),
                _ => None,
            },
            ObjectData::Blob(b) => blob_prop(b, key),
            ObjectData::File(f) => match key {
                "name" => Some(Value::String(f.name.clone())),
                "lastModified" => Some(Value::Number(f.last_modified as f64)),
                _ => blob_prop(&f.blob, key),
            },
            ObjectData::FileList(l) => match key {
                "length" => Some(Value::Number(l.len() as f64)),
                _ => parse_array_index(key)
                    .and_then(|i| l.get(i as usize).cloned().map(Value::Object)),
            },
            ObjectData::ArrayBuffer(ab) => match key {
                "byteLength" => Some(Value::Number(ab.bytes.len() as f64)),
                "maxByteLength" => Some(Value::Number(
                    ab.max_byte_length.unwrap_or(ab.bytes.len()) as f64,
                )),
                "resizable" => Some(Value::Bool(ab.max_byte_length.is_some())),
                "detached" => Some(Value::Bool(ab.detached)),
                _ => None,
            },
            ObjectData::View(v) => {
                let (len, oob) = v.current_length();
                let es = v.kind.element_size();
                match key {
                    "length" if v.kind != ViewKind::DataView => Some(Value::Number(len as f64)),
                    "byteLength" => Some(Value::Number((len * es) as f64)),
                    "byteOffset" => {
                        Some(Value::Number(if oob { 0.0 } else { v.byte_offset as f64 }))
                    }
                    "buffer" => Some(Value::Object(v.buffer.clone())),
                    _ => None,
                }
            }
            ObjectData::Function { name } if key == "name" => Some(Value::String(name.clone())),
            _ => None,
        }
    }

    /// Sets an own property of a plain object or array (index keys and `"length"`
    /// work on arrays); an existing key keeps its position. Ignored on other objects,
    /// except `lastIndex` on a RegExp.
    pub fn set(&self, key: &str, value: Value) {
        self.set_js(JsString::from(key), value)
    }

    /// [`Object::set`] with any string key (lone surrogates included).
    pub fn set_js(&self, key: JsString, value: Value) {
        let mut d = self.borrow_mut();
        match &mut *d {
            ObjectData::Plain(p) => p.insert(key, value),
            ObjectData::Array(a) => {
                let k = key.as_str();
                if k == Some("length") {
                    if let Some(n) = value.as_number() {
                        if n >= 0.0 && n <= u32::MAX as f64 && n.fract() == 0.0 {
                            a.set_length(n as u32);
                        }
                    }
                } else if let Some(i) = k.and_then(parse_array_index) {
                    a.set(i, value);
                } else {
                    a.set_prop(key, value);
                }
            }
            ObjectData::RegExp(r) if key == "lastIndex" => {
                r.last_index = value.as_number().unwrap_or(0.0);
            }
            _ => {}
        }
    }

    /// Own property keys in enumeration order (array indices first, then the rest
    /// in insertion order); empty for other kinds of objects.
    pub fn keys(&self) -> Vec<JsString> {
        match &*self.borrow() {
            ObjectData::Plain(p) => p.iter().map(|(k, _)| k.clone()).collect(),
            ObjectData::Array(a) => a
                .elements
                .iter()
                .enumerate()
                .filter(|(_, e)| e.is_some())
                .map(|(i, _)| JsString::from(i.to_string()))
                .chain(a.props().map(|(k, _)| k.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The `length` of an Array.
    pub fn array_len(&self) -> Option<u32> {
        match &*self.borrow() {
            ObjectData::Array(a) => Some(a.length),
            _ => None,
        }
    }

    /// The element `i` of an Array; `None` for a hole, out of range, or not an Array.
    pub fn array_get(&self, i: u32) -> Option<Value> {
        match &*self.borrow() {
            ObjectData::Array(a) => a.get(i).cloned(),
            _ => None,
        }
    }

    /// `Array.prototype.push` on an Array (ignored on other objects).
    pub fn push(&self, v: Value) {
        if let ObjectData::Array(a) = &mut *self.borrow_mut() {
            let i = a.length;
            if i < u32::MAX {
                a.set(i, v);
            }
        }
    }

    // --- wrappers, Date, RegExp ---

    /// `new Boolean(b)`.
    pub fn new_boolean_object(b: bool) -> Object {
        Object::from_data(ObjectData::BooleanObject(b))
    }

    /// `new Number(n)`.
    pub fn new_number_object(n: f64) -> Object {
        Object::from_data(ObjectData::NumberObject(n))
    }

    /// `new String(s)`.
    pub fn new_string_object(s: impl Into<JsString>) -> Object {
        Object::from_data(ObjectData::StringObject(s.into()))
    }

    /// `Object(n)` for a BigInt `n`.
    pub fn new_bigint_object(n: BigInt) -> Object {
        Object::from_data(ObjectData::BigIntObject(n))
    }

    /// The primitive inside a Boolean/Number/String/BigInt wrapper.
    pub fn wrapped_primitive(&self) -> Option<Value> {
        match &*self.borrow() {
            ObjectData::BooleanObject(b) => Some(Value::Bool(*b)),
            ObjectData::NumberObject(n) => Some(Value::Number(*n)),
            ObjectData::StringObject(s) => Some(Value::String(s.clone())),
            ObjectData::BigIntObject(n) => Some(Value::BigInt(n.clone())),
            _ => None,
        }
    }

    /// `new Date(time)`.
    pub fn new_date(time: f64) -> Object {
        Object::from_data(ObjectData::Date(time))
    }

    /// The time value of a Date.
    pub fn date_value(&self) -> Option<f64> {
        match &*self.borrow() {
            ObjectData::Date(t) => Some(*t),
            _ => None,
        }
    }

    /// A RegExp with this `source` and `flags` (`lastIndex` 0).
    pub fn new_regexp(source: &str, flags: &str) -> Object {
        Object::from_data(ObjectData::RegExp(RegExpData {
            source: JsString::from(source),
            flags: JsString::from(flags),
            last_index: 0.0,
        }))
    }

    // --- unserializable things and ports ---

    /// A function with this `name` (cloning it fails).
    pub fn new_function(name: &str) -> Object {
        Object::from_data(ObjectData::Function {
            name: JsString::from(name),
        })
    }

    /// A platform object that is not serializable, for example `"Window"` (cloning it fails).
    pub fn new_platform_object(interface: &str) -> Object {
        Object::from_data(ObjectData::Platform {
            interface: interface.to_string(),
        })
    }

    /// A MessagePort object wrapping the runtime's port.
    pub fn new_port(port: Rc<dyn TransferablePort>) -> Object {
        Object::from_data(ObjectData::Port(port))
    }

    /// The runtime port inside a MessagePort object.
    pub fn as_port(&self) -> Option<Rc<dyn TransferablePort>> {
        match &*self.borrow() {
            ObjectData::Port(p) => Some(p.clone()),
            _ => None,
        }
    }
}
