//! The JavaScript values a message can carry, with object identity.
//!
//! This is the value model structured clone works on
//! (<https://html.spec.whatwg.org/multipage/structured-data.html#serializable-objects>):
//! primitives ([`Value`]), and objects ([`Object`]) with identity, so that shared
//! references and cycles are observable and survive a clone.
//!
//! Values live inside one realm, which runs on one thread, so objects are
//! `Rc<RefCell<ObjectData>>`: cheap to share, never `Send`. What crosses threads is
//! the serialized record of [`crate::clone`].
//!
//! Modelling decisions (see also the conformance rows `CLONE-*`):
//!
//! - Only own, enumerable, string-keyed data properties exist: there are no
//!   prototypes, accessors, property attributes or symbol keys in this model. A
//!   "class instance" is a plain object, and every property is a writable,
//!   configurable data property (`CLONE-DESCRIPTORS`, `CLONE-OBJECT-PROTOTYPE`).
//! - Strings are what JavaScript strings are: sequences of UTF-16 code units, lone
//!   surrogates included ([`JsString`]).
//! - Things that cannot be serialized (functions, symbols, platform objects such as
//!   `Window`) exist so that cloning them fails with `DataCloneError` as it must.

use num_bigint::BigInt;

// Layout (what each submodule holds):
//
// - `string`: `JsString`, strings as UTF-16 code units;
// - `symbol`: `Symbol`;
// - this module: `Value`, the primitives and the reference to an object;
// - `port`: `TransferablePort` and `PortReceiver`, what the runtime's
//   MessagePort implements;
// - `object`: `Object`, the reference with identity, and its property access;
// - `object_data`: `ObjectData`, what an object is (one variant per internal
//   slot the serialization steps look at), and `RegExpData`;
// - `property_map`: `PropertyMap`, an ordinary object's own properties;
// - `array`: `ArrayData`, an Array exotic object's elements;
// - `array_buffer`: `ArrayBufferData`, `ViewKind` and `ViewData`
//   (`[[ArrayBufferData]]`, `[[ViewedArrayBuffer]]`);
// - `blob`: `BlobData`, `FileData` and FileList;
// - `collection`: `CollectionData`, Map and Set (`[[MapData]]`, `[[SetData]]`);
// - `errors`: `ErrorKind`, `ErrorData` (`[[ErrorData]]`) and DOMException;
// - `pool` and `drop`: the per-thread recycling of object allocations, and
//   dropping a graph of any depth without recursion;
// - `cycles`: the cycle collector, which frees containers only their own cycles
//   keep alive;
// - `debug`: the linear, cycle-safe `Debug` of values and objects;
// - `isomorphism`: `graph_isomorphic`, the test helper comparing two graphs.
mod array;
mod array_buffer;
mod blob;
mod collection;
mod cycles;
mod debug;
mod drop;
mod errors;
mod isomorphism;
mod object;
mod object_data;
mod pool;
mod port;
mod property_map;
mod string;
mod symbol;

pub use array::{ArrayData, ArrayElements};
pub use array_buffer::{ArrayBufferData, ViewData, ViewKind};
pub use blob::{BlobData, FileData};
pub use collection::CollectionData;
pub use cycles::{collect_cycles, collect_cycles_if_due, CycleCollector, CycleStats};
pub use errors::{dom_exception_code, DomExceptionData, ErrorData, ErrorKind};
pub use isomorphism::graph_isomorphic;
pub use object::Object;
pub use object_data::{ObjectData, RegExpData};
pub use pool::trim_pool;
pub use port::{PortReceiver, TransferablePort};
pub use property_map::PropertyMap;
pub use string::JsString;
pub use symbol::Symbol;

pub(crate) use array_buffer::check_view;
pub(crate) use pool::take_entries_buffer;

/// A JavaScript value: a primitive, or a reference to an [`Object`].
#[derive(Clone)]
pub enum Value {
    /// `undefined`.
    Undefined,
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number (IEEE 754 double: NaN, infinities and -0 included).
    Number(f64),
    /// A BigInt.
    BigInt(BigInt),
    /// A string.
    String(JsString),
    /// A symbol (not serializable).
    Symbol(Symbol),
    /// A reference to an object (identity matters).
    Object(Object),
}

impl Value {
    /// True when dropping the value does nothing (no reference, no heap data), so a
    /// bitwise copy of it is a valid, independent value (crate use: copying).
    #[inline(always)]
    pub(crate) fn owns_nothing(&self) -> bool {
        match self {
            Value::Undefined | Value::Null | Value::Bool(_) | Value::Number(_) => true,
            Value::String(s) => !s.owns_heap(),
            _ => false,
        }
    }

    /// True for `undefined`.
    pub fn is_undefined(&self) -> bool {
        matches!(self, Value::Undefined)
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The BigInt, if this is one.
    pub fn as_bigint(&self) -> Option<&BigInt> {
        match self {
            Value::BigInt(n) => Some(n),
            _ => None,
        }
    }

    /// The text of a string value holding well-formed text; `None` for other values
    /// and for strings with lone surrogates (use [`Value::as_js_string`] for those).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => s.as_str(),
            _ => None,
        }
    }

    /// The string, if this is one (lone surrogates included).
    pub fn as_js_string(&self) -> Option<&JsString> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The `typeof` of this value: `"undefined"`, `"object"` (null included),
    /// `"boolean"`, `"number"`, `"bigint"`, `"string"`, `"symbol"` or `"function"`.
    pub fn type_of(&self) -> &'static str {
        match self {
            Value::Undefined => "undefined",
            Value::Null => "object",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::BigInt(_) => "bigint",
            Value::String(_) => "string",
            Value::Symbol(_) => "symbol",
            Value::Object(o) => {
                if matches!(&*o.borrow(), ObjectData::Function { .. }) {
                    "function"
                } else {
                    "object"
                }
            }
        }
    }

    /// `Object.is`: NaN equals NaN, +0 differs from -0, objects and symbols compare
    /// by identity.
    pub fn same_value(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Number(a), Value::Number(b)) => same_value_number(*a, *b),
            _ => self.same_value_non_number(other),
        }
    }

    /// SameValueZero (used by Map and Set): like [`Value::same_value`] but +0 equals -0.
    pub fn same_value_zero(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Number(a), Value::Number(b)) => (a.is_nan() && b.is_nan()) || a == b,
            _ => self.same_value_non_number(other),
        }
    }

    fn same_value_non_number(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Undefined, Value::Undefined) | (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::BigInt(a), Value::BigInt(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Symbol(a), Value::Symbol(b)) => Symbol::ptr_eq(a, b),
            (Value::Object(a), Value::Object(b)) => Object::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// `Object.is` on numbers.
pub(crate) fn same_value_number(a: f64, b: f64) -> bool {
    if a.is_nan() {
        b.is_nan()
    } else {
        a.to_bits() == b.to_bits()
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Value {
        Value::Number(n)
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Value {
        Value::Number(n as f64)
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Value {
        Value::Number(n as f64)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(JsString::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(JsString::from(s))
    }
}

impl From<JsString> for Value {
    fn from(s: JsString) -> Value {
        Value::String(s)
    }
}

impl From<Object> for Value {
    fn from(o: Object) -> Value {
        Value::Object(o)
    }
}

impl From<BigInt> for Value {
    fn from(n: BigInt) -> Value {
        Value::BigInt(n)
    }
}

impl From<Symbol> for Value {
    fn from(s: Symbol) -> Value {
        Value::Symbol(s)
    }
}

#[cfg(test)]
mod tests;
