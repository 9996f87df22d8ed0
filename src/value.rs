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

use std::any::Any;
use std::borrow::Cow;
use std::cell::{Cell, Ref, RefCell, RefMut};
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::mem::ManuallyDrop;
use std::rc::Rc;
use std::sync::Arc;

use num_bigint::BigInt;

use crate::error::{Error, Result};

// ---------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------

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
    fn owns_heap(&self) -> bool {
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

// ---------------------------------------------------------------------------
// Symbols
// ---------------------------------------------------------------------------

/// A JavaScript symbol: unique, with an optional description. Identity is by
/// object: two symbols with one description are different symbols.
///
/// Symbols cannot be serialized: cloning one fails with `DataCloneError`.
#[derive(Clone)]
pub struct Symbol(Rc<Option<JsString>>);

impl Symbol {
    /// A new unique symbol.
    pub fn new(description: Option<&str>) -> Symbol {
        Symbol(Rc::new(description.map(JsString::from)))
    }

    /// The description given at creation.
    pub fn description(&self) -> Option<&JsString> {
        self.0.as_ref().as_ref()
    }

    /// True when both are the same symbol.
    pub fn ptr_eq(a: &Symbol, b: &Symbol) -> bool {
        Rc::ptr_eq(&a.0, &b.0)
    }

    fn addr(&self) -> usize {
        Rc::as_ptr(&self.0) as *const u8 as usize
    }
}

impl PartialEq for Symbol {
    fn eq(&self, other: &Symbol) -> bool {
        Symbol::ptr_eq(self, other)
    }
}

impl Eq for Symbol {}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.description() {
            Some(d) => write!(f, "Symbol({d})"),
            None => f.write_str("Symbol()"),
        }
    }
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------

/// Implemented by the runtime's MessagePort so the core can transfer ports inside values.
pub trait TransferablePort: Any {
    /// True when the port can no longer be transferred (closed, or already transferred).
    fn is_detached(&self) -> bool;
    /// The transfer steps: ship the port, detach this object and return the data
    /// holder the receiving realm turns back into a port. Called only after every
    /// check of the call has passed, so a failing call never calls it.
    fn transfer(&self) -> Box<dyn Any + Send>;
    /// Lets the runtime downcast to its own port type.
    fn as_any(&self) -> &dyn Any;
}

/// Implemented by the receiving realm: turns a data holder back into a port object
/// (the transfer-receiving steps).
pub trait PortReceiver {
    /// The transfer-receiving steps for one port: builds the new port from the holder
    /// that [`TransferablePort::transfer`] returned.
    fn receive_port(&mut self, holder: Box<dyn Any + Send>) -> Result<Rc<dyn TransferablePort>>;
}

// ---------------------------------------------------------------------------
// Object data
// ---------------------------------------------------------------------------

/// The kind of an Error object, as serialization knows them
/// (<https://html.spec.whatwg.org/multipage/structured-data.html#structuredserializeinternal>,
/// the `[[ErrorData]]` branch). Any other name serializes as `Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `Error`.
    Error,
    /// `EvalError`.
    EvalError,
    /// `RangeError`.
    RangeError,
    /// `ReferenceError`.
    ReferenceError,
    /// `SyntaxError`.
    SyntaxError,
    /// `TypeError`.
    TypeError,
    /// `URIError`.
    UriError,
}

impl ErrorKind {
    /// All kinds, in a fixed order (the order of their serialized tags).
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Error,
        ErrorKind::EvalError,
        ErrorKind::RangeError,
        ErrorKind::ReferenceError,
        ErrorKind::SyntaxError,
        ErrorKind::TypeError,
        ErrorKind::UriError,
    ];

    /// The constructor name, for example `"RangeError"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Error => "Error",
            ErrorKind::EvalError => "EvalError",
            ErrorKind::RangeError => "RangeError",
            ErrorKind::ReferenceError => "ReferenceError",
            ErrorKind::SyntaxError => "SyntaxError",
            ErrorKind::TypeError => "TypeError",
            ErrorKind::UriError => "URIError",
        }
    }

    /// Step 2 of the Error branch: a name that is not one of the seven becomes `Error`.
    pub fn from_name(name: &str) -> ErrorKind {
        ErrorKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .unwrap_or(ErrorKind::Error)
    }
}

/// The kind of a typed-array view or DataView.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViewKind {
    /// `Int8Array`.
    Int8,
    /// `Uint8Array`.
    Uint8,
    /// `Uint8ClampedArray`.
    Uint8Clamped,
    /// `Int16Array`.
    Int16,
    /// `Uint16Array`.
    Uint16,
    /// `Int32Array`.
    Int32,
    /// `Uint32Array`.
    Uint32,
    /// `Float16Array`.
    Float16,
    /// `Float32Array`.
    Float32,
    /// `Float64Array`.
    Float64,
    /// `BigInt64Array`.
    BigInt64,
    /// `BigUint64Array`.
    BigUint64,
    /// `DataView` (its length is in bytes).
    DataView,
}

impl ViewKind {
    /// All kinds, in the order of their serialized tags.
    pub const ALL: [ViewKind; 13] = [
        ViewKind::Int8,
        ViewKind::Uint8,
        ViewKind::Uint8Clamped,
        ViewKind::Int16,
        ViewKind::Uint16,
        ViewKind::Int32,
        ViewKind::Uint32,
        ViewKind::Float16,
        ViewKind::Float32,
        ViewKind::Float64,
        ViewKind::BigInt64,
        ViewKind::BigUint64,
        ViewKind::DataView,
    ];

    /// Bytes per element (1 for DataView, whose length counts bytes).
    pub const fn element_size(self) -> usize {
        match self {
            ViewKind::Int8 | ViewKind::Uint8 | ViewKind::Uint8Clamped | ViewKind::DataView => 1,
            ViewKind::Int16 | ViewKind::Uint16 | ViewKind::Float16 => 2,
            ViewKind::Int32 | ViewKind::Uint32 | ViewKind::Float32 => 4,
            ViewKind::Float64 | ViewKind::BigInt64 | ViewKind::BigUint64 => 8,
        }
    }

    /// The constructor name, for example `"Uint8Array"`.
    pub const fn class_name(self) -> &'static str {
        match self {
            ViewKind::Int8 => "Int8Array",
            ViewKind::Uint8 => "Uint8Array",
            ViewKind::Uint8Clamped => "Uint8ClampedArray",
            ViewKind::Int16 => "Int16Array",
            ViewKind::Uint16 => "Uint16Array",
            ViewKind::Int32 => "Int32Array",
            ViewKind::Uint32 => "Uint32Array",
            ViewKind::Float16 => "Float16Array",
            ViewKind::Float32 => "Float32Array",
            ViewKind::Float64 => "Float64Array",
            ViewKind::BigInt64 => "BigInt64Array",
            ViewKind::BigUint64 => "BigUint64Array",
            ViewKind::DataView => "DataView",
        }
    }

    pub(crate) fn tag(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_tag(tag: u8) -> Option<ViewKind> {
        ViewKind::ALL.get(tag as usize).copied()
    }
}

/// Insertion-ordered own properties with string keys.
///
/// A plain `Vec` of entries, searched linearly while small; past a dozen entries a
/// hash index is kept as well. The entries live out of
/// line (one allocation of exactly the right size when built by a clone) so that
/// `ObjectData`, and with it every object's allocation, stays small: an inline
/// `SmallVec` of four entries made every object (even a Date) a 272-byte allocation,
/// past glibc's fast bins, and cost a 248-byte copy per object built.
#[derive(Clone, Default)]
pub struct PropertyMap {
    entries: Vec<(JsString, Value)>,
    /// Boxed on purpose: a bare HashMap would add 40 bytes to every object.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<JsString, usize>>>,
}

const INDEX_THRESHOLD: usize = 12;

impl PropertyMap {
    /// An empty map.
    pub fn new() -> PropertyMap {
        PropertyMap::default()
    }

    /// An empty map with room for `n` properties.
    pub fn with_capacity(n: usize) -> PropertyMap {
        PropertyMap {
            entries: Vec::with_capacity(n),
            index: None,
        }
    }

    /// A map of these entries in order, with one allocation of the right size.
    /// Duplicate keys behave as repeated [`PropertyMap::insert`]s (the later value
    /// wins, at the first position), so untrusted input cannot break the map.
    pub(crate) fn from_entries(
        entries: impl ExactSizeIterator<Item = (JsString, Value)>,
    ) -> PropertyMap {
        let mut map = PropertyMap::with_capacity(entries.len());
        map.extend_entries(entries);
        map
    }

    /// Adds these entries to an empty map, as [`PropertyMap::from_entries`] does.
    fn extend_entries(&mut self, entries: impl ExactSizeIterator<Item = (JsString, Value)>) {
        if entries.len() > INDEX_THRESHOLD {
            for (k, v) in entries {
                self.insert(k, v);
            }
            return;
        }
        // Small maps (nearly all): `insert` without its index checks, since no
        // index is built at this size.
        for (k, v) in entries {
            match self.entries.iter().position(|(e, _)| *e == k) {
                Some(i) => self.entries[i].1 = v,
                None => self.entries.push((k, v)),
            }
        }
    }

    fn position(&self, key: &JsString) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    fn position_str(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(_) => self.position(&JsString::from(key)),
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position_str(key).map(|i| &self.entries[i].1)
    }

    /// The value of `key` (any string, lone surrogates included).
    pub fn get_js(&self, key: &JsString) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// Sets `key`; an existing key keeps its position (`CLONE-PROP-ORDER`).
    pub fn insert(&mut self, key: JsString, value: Value) {
        if let Some(i) = self.position(&key) {
            self.entries[i].1 = value;
            return;
        }
        if let Some(ix) = &mut self.index {
            ix.insert(key.clone(), self.entries.len());
        }
        self.entries.push((key, value));
        if self.index.is_none() && self.entries.len() > INDEX_THRESHOLD {
            self.rebuild_index();
        }
    }

    /// A map of entries whose keys are known to be distinct (crate use: copying a
    /// map), taking the `Vec` as is.
    pub(crate) fn from_unique(entries: Vec<(JsString, Value)>) -> PropertyMap {
        let mut map = PropertyMap {
            entries,
            index: None,
        };
        if map.entries.len() > INDEX_THRESHOLD {
            map.rebuild_index();
        }
        map
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position_str(key)?;
        let (_, v) = self.entries.remove(i);
        if self.index.is_some() {
            self.rebuild_index();
        }
        Some(v)
    }

    fn rebuild_index(&mut self) {
        let ix = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
        self.index = Some(Box::new(ix));
    }

    /// The number of properties.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no properties.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The properties in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&JsString, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl fmt::Debug for PropertyMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// An Array's elements (out of line, for the same reason as [`PropertyMap`]'s entries).
pub type ArrayElements = Vec<Option<Value>>;

/// An Array's elements and extra (non-index) properties.
#[derive(Clone, Default)]
pub struct ArrayData {
    /// The array's `length`. Indices at or past `elements.len()` (and below `length`)
    /// are holes.
    pub length: u32,
    /// Elements by index; `None` is a hole. Never longer than `length`.
    pub elements: ArrayElements,
    /// Own non-index properties (`arr.foo`), in insertion order; `None` when there
    /// are none (the common case, kept out of line).
    pub props: Option<Box<PropertyMap>>,
}

impl ArrayData {
    /// The element at `i`; `None` for a hole or past the end.
    pub fn get(&self, i: u32) -> Option<&Value> {
        self.elements.get(i as usize).and_then(Option::as_ref)
    }

    /// Sets the element at `i`, growing `length` as JavaScript does.
    pub fn set(&mut self, i: u32, v: Value) {
        let iu = i as usize;
        if iu >= self.elements.len() {
            self.elements.resize(iu + 1, None);
        }
        self.elements[iu] = Some(v);
        if i >= self.length {
            self.length = i + 1;
        }
    }

    /// The extra (non-index) properties.
    pub fn props(&self) -> impl Iterator<Item = (&JsString, &Value)> {
        self.props.iter().flat_map(|p| p.iter())
    }

    /// The extra property `key`.
    pub fn prop(&self, key: &str) -> Option<&Value> {
        self.props.as_ref().and_then(|p| p.get(key))
    }

    /// Sets an extra property.
    pub fn set_prop(&mut self, key: JsString, value: Value) {
        self.props
            .get_or_insert_with(Default::default)
            .insert(key, value)
    }

    /// Sets `length`, dropping elements past it.
    pub fn set_length(&mut self, len: u32) {
        self.elements.truncate(len as usize);
        self.length = len;
    }
}

/// Parses a canonical array index (`"0"`, `"17"`, not `"01"` or `"4294967295"`).
pub(crate) fn parse_array_index(key: &str) -> Option<u32> {
    if key.is_empty() || (key.len() > 1 && key.starts_with('0')) {
        return None;
    }
    if !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = key.parse().ok()?;
    if n < u32::MAX as u64 {
        Some(n as u32)
    } else {
        None
    }
}

/// A RegExp's serializable state.
#[derive(Clone, Debug)]
pub struct RegExpData {
    /// `source` (already escaped as `RegExp.prototype.source` shows it).
    pub source: JsString,
    /// `flags`, for example `"gimsuy"`.
    pub flags: JsString,
    /// `lastIndex`: exists on the object, but is not cloned (the clone has 0).
    pub last_index: f64,
}

/// An ArrayBuffer's state.
#[derive(Clone, Debug, Default)]
pub struct ArrayBufferData {
    /// The bytes (empty once detached).
    pub bytes: Vec<u8>,
    /// `maxByteLength` of a resizable buffer; `None` for a fixed-length one.
    pub max_byte_length: Option<usize>,
    /// True once detached (transferred).
    pub detached: bool,
}

/// A typed-array view or DataView.
#[derive(Clone)]
pub struct ViewData {
    /// Its kind.
    pub kind: ViewKind,
    /// The ArrayBuffer object it views.
    pub buffer: Object,
    /// Offset in bytes into the buffer.
    pub byte_offset: usize,
    /// Fixed length in elements (bytes for DataView), or `None` when it tracks the
    /// length of a resizable buffer.
    pub length: Option<usize>,
}

impl ViewData {
    /// `(current length in elements, out_of_bounds)` against the buffer's current size.
    pub fn current_length(&self) -> (usize, bool) {
        let b = self.buffer.borrow();
        let buf_len = match &*b {
            ObjectData::ArrayBuffer(ab) if !ab.detached => ab.bytes.len(),
            _ => return (0, true),
        };
        let es = self.kind.element_size();
        match self.length {
            Some(len) => {
                let end = len
                    .checked_mul(es)
                    .and_then(|n| n.checked_add(self.byte_offset));
                match end {
                    Some(end) if end <= buf_len => (len, false),
                    _ => (0, true),
                }
            }
            None => {
                if self.byte_offset > buf_len {
                    (0, true)
                } else {
                    ((buf_len - self.byte_offset) / es, false)
                }
            }
        }
    }
}

/// A Blob's state: shared immutable bytes and a type.
#[derive(Clone, Debug)]
pub struct BlobData {
    /// The bytes, shared (never copied by cloning).
    pub bytes: Arc<[u8]>,
    /// `type` (a MIME type, possibly empty).
    pub mime: JsString,
}

/// A File's state: a Blob plus a name and a modification time.
#[derive(Clone, Debug)]
pub struct FileData {
    /// The Blob part.
    pub blob: BlobData,
    /// `name`.
    pub name: JsString,
    /// `lastModified`, milliseconds since the epoch.
    pub last_modified: i64,
}

/// The kind-specific key used to find Map keys and Set values (SameValueZero).
#[derive(Clone, PartialEq, Eq, Hash)]
enum KeyId {
    Undefined,
    Null,
    Bool(bool),
    Number(u64),
    BigInt(BigInt),
    String(JsString),
    Symbol(usize),
    Object(usize),
}

impl KeyId {
    fn of(v: &Value) -> KeyId {
        match v {
            Value::Undefined => KeyId::Undefined,
            Value::Null => KeyId::Null,
            Value::Bool(b) => KeyId::Bool(*b),
            Value::Number(n) => KeyId::Number(if *n == 0.0 {
                0
            } else if n.is_nan() {
                f64::NAN.to_bits()
            } else {
                n.to_bits()
            }),
            Value::BigInt(b) => KeyId::BigInt(b.clone()),
            Value::String(s) => KeyId::String(s.clone()),
            Value::Symbol(s) => KeyId::Symbol(s.addr()),
            Value::Object(o) => KeyId::Object(o.addr()),
        }
    }
}

/// The entries of a Map (or the values of a Set, with `undefined` values), in
/// insertion order, keyed by SameValueZero.
#[derive(Clone, Default)]
pub struct CollectionData {
    entries: Vec<(Value, Value)>,
    /// Boxed so that a Map or Set does not make `ObjectData` (every object) larger.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<KeyId, usize>>>,
}

impl CollectionData {
    /// An empty collection.
    pub fn new() -> CollectionData {
        CollectionData::default()
    }

    /// A collection of entries whose keys are known to be distinct by SameValueZero
    /// (crate use: copying a collection), taking the `Vec` as is.
    pub(crate) fn from_unique(entries: Vec<(Value, Value)>) -> CollectionData {
        let index = (entries.len() > INDEX_THRESHOLD).then(|| {
            Box::new(
                entries
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (KeyId::of(k), i))
                    .collect(),
            )
        });
        CollectionData { entries, index }
    }

    /// A collection of these entries in order, with one allocation of the right
    /// size; duplicates behave as repeated [`CollectionData::insert`]s.
    pub(crate) fn from_entries(
        entries: impl ExactSizeIterator<Item = (Value, Value)>,
    ) -> CollectionData {
        let mut c = CollectionData {
            entries: Vec::with_capacity(entries.len()),
            index: None,
        };
        for (k, v) in entries {
            c.insert(k, v);
        }
        c
    }

    fn position(&self, key: &Value) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.get(&KeyId::of(key)).copied(),
            None => self
                .entries
                .iter()
                .position(|(k, _)| k.same_value_zero(key)),
        }
    }

    /// The value for `key`.
    pub fn get(&self, key: &Value) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// True when `key` is present.
    pub fn contains(&self, key: &Value) -> bool {
        self.position(key).is_some()
    }

    /// `Map.prototype.set`: an existing key keeps its position; -0 keys become +0.
    pub fn insert(&mut self, key: Value, value: Value) {
        if let Some(i) = self.position(&key) {
            self.entries[i].1 = value;
            return;
        }
        let key = match key {
            // -0 keys become +0 (Map.prototype.set step 5).
            Value::Number(n) => Value::Number(if n == 0.0 { 0.0 } else { n }),
            k => k,
        };
        if let Some(ix) = &mut self.index {
            ix.insert(KeyId::of(&key), self.entries.len());
        }
        self.entries.push((key, value));
        if self.index.is_none() && self.entries.len() > INDEX_THRESHOLD {
            self.index = Some(Box::new(
                self.entries
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (KeyId::of(k), i))
                    .collect(),
            ));
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &Value) -> Option<Value> {
        let i = self.position(key)?;
        let (_, v) = self.entries.remove(i);
        if self.index.is_some() {
            self.index = Some(Box::new(
                self.entries
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (KeyId::of(k), i))
                    .collect(),
            ));
        }
        Some(v)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&Value, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

/// An Error object's serializable state.
#[derive(Clone, Debug)]
pub struct ErrorData {
    /// `name` (any string; serialization maps unknown names to `Error`).
    pub name: JsString,
    /// Own `message`, if any.
    pub message: Option<JsString>,
    /// `stack`, if any (cloned as is: `CLONE-ERROR-STACK`).
    pub stack: Option<JsString>,
}

/// A DOMException's state. `code` is derived from the name.
#[derive(Clone, Debug)]
pub struct DomExceptionData {
    /// `name`, for example `"IndexSizeError"`.
    pub name: JsString,
    /// `message`.
    pub message: JsString,
}

impl DomExceptionData {
    /// The legacy `code`, from the name (0 for names without one).
    pub fn code(&self) -> u16 {
        self.name.as_str().map(dom_exception_code).unwrap_or(0)
    }
}

/// The legacy `DOMException.code` of an error name
/// (<https://webidl.spec.whatwg.org/#dfn-error-names-table>); 0 for names without one.
pub fn dom_exception_code(name: &str) -> u16 {
    if let Some(n) = crate::error::ExceptionName::from_name(name) {
        return n.legacy_code();
    }
    match name {
        "IndexSizeError" => 1,
        "HierarchyRequestError" => 3,
        "WrongDocumentError" => 4,
        "InvalidCharacterError" => 5,
        "NoModificationAllowedError" => 7,
        "NotFoundError" => 8,
        "NotSupportedError" => 9,
        "InUseAttributeError" => 10,
        "InvalidStateError" => 11,
        "SyntaxError" => 12,
        "InvalidModificationError" => 13,
        "NamespaceError" => 14,
        "InvalidAccessError" => 15,
        "TypeMismatchError" => 17,
        "SecurityError" => 18,
        "NetworkError" => 19,
        "AbortError" => 20,
        "URLMismatchError" => 21,
        "QuotaExceededError" => 22,
        "TimeoutError" => 23,
        "InvalidNodeTypeError" => 24,
        "DataCloneError" => 25,
        _ => 0,
    }
}

/// What an object is, with its state.
pub enum ObjectData {
    /// An ordinary object: own enumerable string-keyed data properties.
    Plain(PropertyMap),
    /// An Array.
    Array(ArrayData),
    /// A Boolean wrapper object (`new Boolean(b)`).
    BooleanObject(bool),
    /// A Number wrapper object.
    NumberObject(f64),
    /// A String wrapper object.
    StringObject(JsString),
    /// A BigInt wrapper object (`Object(1n)`).
    BigIntObject(BigInt),
    /// A Date with its time value (NaN for an invalid date).
    Date(f64),
    /// A RegExp.
    RegExp(RegExpData),
    /// An ArrayBuffer.
    ArrayBuffer(ArrayBufferData),
    /// A typed array or DataView.
    View(ViewData),
    /// A Blob.
    Blob(BlobData),
    /// A File.
    File(FileData),
    /// A FileList (of File objects).
    FileList(Vec<Object>),
    /// A Map.
    Map(CollectionData),
    /// A Set (values are the keys; the entry values are `undefined`).
    Set(CollectionData),
    /// An Error object.
    Error(ErrorData),
    /// A DOMException.
    DomException(DomExceptionData),
    /// A MessagePort (transferable, not serializable).
    Port(Rc<dyn TransferablePort>),
    /// A function (not serializable).
    Function {
        /// Its `name`.
        name: JsString,
    },
    /// A platform object that is not serializable (a `Window`, `Document`, `Event`,
    /// `MessageChannel`...).
    Platform {
        /// Its interface name, for example `"Window"`.
        interface: String,
    },
}

impl ObjectData {
    /// The constructor name (`"Object"`, `"Array"`, `"Date"`, `"Uint8Array"`...);
    /// `"PlatformObject"` for platform objects (see [`Object::interface_name`]).
    pub fn class_name(&self) -> &'static str {
        match self {
            ObjectData::Plain(_) => "Object",
            ObjectData::Array(_) => "Array",
            ObjectData::BooleanObject(_) => "Boolean",
            ObjectData::NumberObject(_) => "Number",
            ObjectData::StringObject(_) => "String",
            ObjectData::BigIntObject(_) => "BigInt",
            ObjectData::Date(_) => "Date",
            ObjectData::RegExp(_) => "RegExp",
            ObjectData::ArrayBuffer(_) => "ArrayBuffer",
            ObjectData::View(v) => v.kind.class_name(),
            ObjectData::Blob(_) => "Blob",
            ObjectData::File(_) => "File",
            ObjectData::FileList(_) => "FileList",
            ObjectData::Map(_) => "Map",
            ObjectData::Set(_) => "Set",
            ObjectData::Error(_) => "Error",
            ObjectData::DomException(_) => "DOMException",
            ObjectData::Port(_) => "MessagePort",
            ObjectData::Function { .. } => "Function",
            ObjectData::Platform { .. } => "PlatformObject",
        }
    }
}

// ---------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------

/// A reference to a JavaScript object. Cloning the `Object` clones the reference,
/// not the object: identity is [`Object::ptr_eq`].
///
/// Dropping the last reference to an object frees it and whatever only it kept
/// alive without recursion, so a graph nested any number of levels deep can be
/// dropped on any stack.
#[derive(Clone)]
pub struct Object(ManuallyDrop<ObjectRc>);

/// An object's allocation.
type ObjectRc = Rc<RefCell<ObjectData>>;

impl Drop for Object {
    #[inline]
    fn drop(&mut self) {
        if Rc::strong_count(&self.0) == 1 {
            // SAFETY: `self.0` is not used again (this is `drop`).
            recycle(unsafe { ManuallyDrop::take(&mut self.0) });
        } else {
            // SAFETY: as above. Not the last reference: this only decrements the count.
            unsafe { ManuallyDrop::drop(&mut self.0) }
        }
    }
}

// ---------------------------------------------------------------------------
// Recycling
// ---------------------------------------------------------------------------

/// Per-thread free lists of object allocations, with their small content buffers.
///
/// Building and freeing objects is most of the cost of a structured clone (one
/// `Rc` allocation per object, one more for a container's contents), and glibc's
/// per-thread cache holds only 7 blocks of a size, so freeing a cloned message
/// (dozens of same-sized blocks at once) goes through its slow path. Objects are
/// `!Send`, so they are always freed on the thread that made them: the last
/// reference to an object hands its (emptied) allocation back here, plain objects
/// and arrays together with their emptied buffer (keyed by its exact capacity),
/// and the clone takes them back. Bounded, so little memory is kept.
struct Pool {
    /// Allocations holding [`EMPTY`] (owning nothing).
    objects: Vec<Rc<RefCell<ObjectData>>>,
    /// Plain objects with no properties and room for exactly `i + 1`.
    plain: [Vec<Rc<RefCell<ObjectData>>>; POOL_CLASSES],
    /// Arrays with no elements or properties and room for exactly `i + 1` elements.
    arrays: [Vec<Rc<RefCell<ObjectData>>>; POOL_CLASSES],
    /// Empty Map and Set entry buffers with room for exactly `i + 1`.
    entries: [Vec<Vec<(Value, Value)>>; POOL_CLASSES],
}

/// What a pooled allocation without a buffer holds.
const EMPTY: ObjectData = ObjectData::BooleanObject(false);
/// Buffers of capacity 1 to `POOL_CLASSES` are recycled.
const POOL_CLASSES: usize = 16;
/// At most this many buffer-less object allocations are kept per thread.
const POOL_OBJECTS: usize = 128;
/// At most this many objects or buffers of each capacity and kind are kept.
const POOL_BUFFERS: usize = 16;

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            objects: Vec::new(),
            plain: [const { Vec::new() }; POOL_CLASSES],
            arrays: [const { Vec::new() }; POOL_CLASSES],
            entries: [const { Vec::new() }; POOL_CLASSES],
        })
    };
}

/// Runs `f` on this thread's pool, unless it is gone (thread exit) or busy.
#[inline(always)]
fn with_pool<R>(f: impl FnOnce(&mut Pool) -> Option<R>) -> Option<R> {
    POOL.try_with(|p| match p.try_borrow_mut() {
        Ok(mut p) => f(&mut p),
        Err(_) => None,
    })
    .ok()
    .flatten()
}

/// A Map or Set entry buffer with room for exactly `n` entries (crate use).
#[inline]
pub(crate) fn take_entries_buffer(n: usize) -> Vec<(Value, Value)> {
    if n.wrapping_sub(1) < POOL_CLASSES {
        if let Some(v) = with_pool(|p| p.entries[n - 1].pop()) {
            return v;
        }
    }
    Vec::with_capacity(n)
}

/// Where a recycled allocation goes.
enum Keep {
    Plain(usize),
    Array(usize),
    Entries(Vec<(Value, Value)>),
    Object,
}

thread_local! {
    /// The work list of [`recycle`], kept between calls (empty) so that freeing a
    /// graph allocates nothing. A nested call (a port's drop code dropping values)
    /// finds it taken and starts with a fresh one.
    static FREE_LIST: Cell<Vec<ObjectRc>> = const { Cell::new(Vec::new()) };
}

/// The work list is given back to the thread unless it grew past this many entries.
const FREE_LIST_KEEP: usize = 1024;

/// Frees the last reference to an object, and with it everything only it kept
/// alive, without recursion: emptying an object drops what it holds in place, except
/// the objects it held the last reference to, whose allocations go onto a work list
/// and are emptied in turn by the loop here. So the stack depth is constant however
/// deep the graph is (the drop glue of `ObjectData` would recurse once per level and
/// overflow at a depth of a few thousand). Objects are emptied in the order a
/// recursive drop would reach them (depth first, children in order), and their
/// allocations and small buffers are kept for reuse.
#[inline(never)]
fn recycle(rc: ObjectRc) {
    let mut work = FREE_LIST.try_with(Cell::take).unwrap_or_default();
    let mut next = Some(rc);
    while let Some(rc) = next {
        recycle_one(rc, &mut work);
        next = work.pop();
    }
    if work.capacity() <= FREE_LIST_KEEP {
        let _ = FREE_LIST.try_with(|c| c.set(work));
    }
}

/// Drops `v`, except that an object it holds the last reference to goes onto `work`
/// (to be emptied by [`recycle`]'s loop) instead of being freed here.
#[inline(always)]
fn dispose_value(v: Value, work: &mut Vec<ObjectRc>) {
    match v {
        Value::Object(o) => dispose_object(o, work),
        v if v.owns_nothing() => std::mem::forget(v),
        v => drop(v),
    }
}

/// Drops `o`, except that if it is the last reference, its allocation goes onto
/// `work` (see [`dispose_value`]).
#[inline(always)]
fn dispose_object(o: Object, work: &mut Vec<ObjectRc>) {
    if Rc::strong_count(&o.0) == 1 {
        let mut o = ManuallyDrop::new(o);
        // SAFETY: `o` is never dropped (`ManuallyDrop`) nor used again, so the
        // reference is moved out of it exactly once.
        work.push(unsafe { ManuallyDrop::take(&mut o.0) });
    } else {
        drop(o);
    }
}

/// Drops these properties, putting the objects they held the last reference to on
/// `work`.
fn dispose_props(p: PropertyMap, work: &mut Vec<ObjectRc>) {
    for (k, v) in p.entries {
        drop(k);
        dispose_value(v, work);
    }
}

/// Drops object data taken out of its object, putting the objects it held the last
/// reference to on `work`.
fn dispose_data(d: ObjectData, work: &mut Vec<ObjectRc>) {
    match d {
        ObjectData::Plain(p) => dispose_props(p, work),
        ObjectData::Array(a) => {
            if let Some(p) = a.props {
                dispose_props(*p, work);
            }
            for v in a.elements.into_iter().flatten() {
                dispose_value(v, work);
            }
        }
        ObjectData::Map(c) | ObjectData::Set(c) => {
            for (k, v) in c.entries {
                dispose_value(k, work);
                dispose_value(v, work);
            }
        }
        ObjectData::View(v) => dispose_object(v.buffer, work),
        ObjectData::FileList(l) => {
            for o in l {
                dispose_object(o, work);
            }
        }
        d => drop(d),
    }
}

/// Drops the value `v` points to in place, except that an object it holds the last
/// reference to goes onto `work` (see [`dispose_value`]).
///
/// # Safety
///
/// `v` points to a valid value that is neither used nor dropped again.
#[inline(always)]
unsafe fn dispose_value_in_place(v: *mut Value, work: &mut Vec<ObjectRc>) {
    // SAFETY: `v` is valid and ours to drop (the caller's contract).
    unsafe {
        if let Value::Object(o) = &mut *v {
            if Rc::strong_count(&o.0) == 1 {
                // The reference is moved out; the value, never dropped or used again,
                // does not hold it any more.
                work.push(ManuallyDrop::take(&mut o.0));
                return;
            }
        }
        std::ptr::drop_in_place(v);
    }
}

/// Empties `v`, in order, without a call per item that owns nothing: every other
/// item is handed to `dispose` (by pointer, once, and never reached through `v`
/// again, so `dispose` owns it: it drops it or moves out what it owns; an item it
/// leaves is leaked, as are the items after one whose drop panics).
#[inline(always)]
fn clear_entries<T>(v: &mut Vec<T>, trivial: impl Fn(&T) -> bool, mut dispose: impl FnMut(*mut T)) {
    let len = v.len();
    let p = v.as_mut_ptr();
    // SAFETY: the length is set to 0 first, so the items (each handed over at most
    // once below) are never reached again through `v`; `p.add(i)` for `i < len` is
    // in bounds and points to a valid item not yet handed over.
    unsafe {
        v.set_len(0);
        for i in 0..len {
            let item = p.add(i);
            if !trivial(&*item) {
                dispose(item);
            }
        }
    }
}

/// Empties the object `rc` is the last reference to (see [`recycle`]): what it holds
/// is dropped, except the objects it held the last reference to, which go onto
/// `work`; the allocation and its small buffer are kept for reuse.
#[inline(always)]
fn recycle_one(mut rc: ObjectRc, work: &mut Vec<ObjectRc>) {
    let start = work.len();
    let Some(cell) = Rc::get_mut(&mut rc) else {
        // Weak references exist (this crate makes none): free the data, not the
        // allocation, still without recursion.
        if let Ok(cell) = Rc::try_unwrap(rc) {
            dispose_data(cell.into_inner(), work);
            work[start..].reverse();
        }
        return;
    };
    // Empty the object in place (dropping what it holds, which may run a port's drop
    // code and so recycle more objects: neither the pool nor the work list is
    // borrowed meanwhile).
    let d = cell.get_mut();
    let keep = match d {
        ObjectData::Plain(p) => {
            p.index = None;
            clear_entries(
                &mut p.entries,
                |(k, v)| !k.owns_heap() && v.owns_nothing(),
                // SAFETY: `clear_entries` hands each entry over once, to be dropped.
                |e| unsafe {
                    if (*e).0.owns_heap() {
                        std::ptr::drop_in_place(&mut (*e).0);
                    }
                    dispose_value_in_place(&mut (*e).1, work);
                },
            );
            Keep::Plain(p.entries.capacity())
        }
        ObjectData::Array(a) => {
            if let Some(p) = a.props.take() {
                dispose_props(*p, work);
            }
            a.length = 0;
            clear_entries(
                &mut a.elements,
                |e| e.as_ref().map_or(true, Value::owns_nothing),
                // SAFETY: as above; `trivial` let only `Some` through.
                |e| unsafe {
                    if let Some(v) = &mut *e {
                        dispose_value_in_place(v, work);
                    }
                },
            );
            Keep::Array(a.elements.capacity())
        }
        ObjectData::Map(c) | ObjectData::Set(c) => {
            c.index = None;
            clear_entries(
                &mut c.entries,
                |(k, v)| k.owns_nothing() && v.owns_nothing(),
                // SAFETY: as above.
                |e| unsafe {
                    dispose_value_in_place(&mut (*e).0, work);
                    dispose_value_in_place(&mut (*e).1, work);
                },
            );
            Keep::Entries(std::mem::take(&mut c.entries))
        }
        ObjectData::View(_) | ObjectData::FileList(_) => {
            dispose_data(std::mem::replace(d, EMPTY), work);
            Keep::Object
        }
        _ => Keep::Object,
    };
    // The loop pops from the end: reversed, this object's children are emptied first
    // to last, each before the next (as a recursive drop would).
    if work.len() - start > 1 {
        work[start..].reverse();
    }
    let keep = match keep {
        Keep::Plain(cap) | Keep::Array(cap) if cap.wrapping_sub(1) >= POOL_CLASSES => Keep::Object,
        k => k,
    };
    if let Keep::Object | Keep::Entries(_) = keep {
        *cell.get_mut() = EMPTY;
    }
    with_pool(|p| {
        let list = match keep {
            Keep::Plain(cap) => &mut p.plain[cap - 1],
            Keep::Array(cap) => &mut p.arrays[cap - 1],
            Keep::Entries(v) => {
                let cap = v.capacity();
                if cap.wrapping_sub(1) < POOL_CLASSES && p.entries[cap - 1].len() < POOL_BUFFERS {
                    p.entries[cap - 1].push(v);
                }
                if p.objects.len() < POOL_OBJECTS {
                    p.objects.push(rc);
                }
                return Some(());
            }
            Keep::Object => {
                if p.objects.len() < POOL_OBJECTS {
                    p.objects.push(rc);
                }
                return Some(());
            }
        };
        if list.len() < POOL_BUFFERS {
            list.push(rc);
        }
        Some(())
    });
}

impl Object {
    /// A new plain object, with room for exactly `n` properties, whose properties
    /// `fill` pushes; their keys must be distinct (crate use: copying an object).
    #[inline]
    pub(crate) fn build_plain<E>(
        n: usize,
        fill: impl FnOnce(&mut Vec<(JsString, Value)>) -> std::result::Result<(), E>,
    ) -> std::result::Result<Object, E> {
        let pooled = if n.wrapping_sub(1) < POOL_CLASSES {
            with_pool(|p| p.plain[n - 1].pop())
        } else {
            None
        };
        let mut rc = pooled.unwrap_or_else(|| {
            Rc::new(RefCell::new(ObjectData::Plain(PropertyMap::with_capacity(
                n,
            ))))
        });
        let r = match Rc::get_mut(&mut rc).map(RefCell::get_mut) {
            Some(ObjectData::Plain(p)) => {
                let r = fill(&mut p.entries);
                if p.entries.len() > INDEX_THRESHOLD {
                    p.rebuild_index();
                }
                r
            }
            _ => unreachable!("a pooled plain object is a plain object"),
        };
        let o = Object(ManuallyDrop::new(rc));
        r.map(|()| o)
    }

    /// A new plain object of these entries, as [`PropertyMap::from_entries`] builds
    /// them (crate use: decoding), in a recycled object of the right size if any.
    #[inline]
    pub(crate) fn build_plain_from_entries(
        entries: impl ExactSizeIterator<Item = (JsString, Value)>,
    ) -> Object {
        let n = entries.len();
        let pooled = if n.wrapping_sub(1) < POOL_CLASSES {
            with_pool(|p| p.plain[n - 1].pop())
        } else {
            None
        };
        let mut rc = pooled.unwrap_or_else(|| {
            Rc::new(RefCell::new(ObjectData::Plain(PropertyMap::with_capacity(
                n,
            ))))
        });
        match Rc::get_mut(&mut rc).map(RefCell::get_mut) {
            Some(ObjectData::Plain(p)) => p.extend_entries(entries),
            _ => unreachable!("a pooled plain object is a plain object"),
        }
        Object(ManuallyDrop::new(rc))
    }

    /// A new Array of `length`, with room for exactly `n` elements, whose elements
    /// `fill` pushes and whose extra properties it returns (crate use: copying).
    #[inline]
    pub(crate) fn build_array<E>(
        n: usize,
        length: u32,
        fill: impl FnOnce(&mut ArrayElements) -> std::result::Result<Option<Box<PropertyMap>>, E>,
    ) -> std::result::Result<Object, E> {
        let pooled = if n.wrapping_sub(1) < POOL_CLASSES {
            with_pool(|p| p.arrays[n - 1].pop())
        } else {
            None
        };
        let mut rc = pooled.unwrap_or_else(|| {
            Rc::new(RefCell::new(ObjectData::Array(ArrayData {
                length: 0,
                elements: ArrayElements::with_capacity(n),
                props: None,
            })))
        });
        let r = match Rc::get_mut(&mut rc).map(RefCell::get_mut) {
            Some(ObjectData::Array(a)) => fill(&mut a.elements).map(|props| {
                a.props = props;
                a.length = length;
            }),
            _ => unreachable!("a pooled array is an array"),
        };
        let o = Object(ManuallyDrop::new(rc));
        r.map(|()| o)
    }

    /// An object with the given data.
    #[inline]
    pub fn from_data(data: ObjectData) -> Object {
        match with_pool(|p| p.objects.pop()) {
            Some(mut rc) => {
                if let Some(cell) = Rc::get_mut(&mut rc) {
                    // SAFETY: the cell is ours alone (`get_mut`); it holds `EMPTY`,
                    // which owns nothing, so overwriting it without dropping it leaks
                    // nothing.
                    unsafe { std::ptr::write(cell.get_mut(), data) };
                    return Object(ManuallyDrop::new(rc));
                }
                Object(ManuallyDrop::new(Rc::new(RefCell::new(data))))
            }
            None => Object(ManuallyDrop::new(Rc::new(RefCell::new(data)))),
        }
    }

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

    // --- ArrayBuffer ---

    /// A fixed-length ArrayBuffer holding `bytes`.
    pub fn new_array_buffer(bytes: Vec<u8>) -> Object {
        Object::from_data(ObjectData::ArrayBuffer(ArrayBufferData {
            bytes,
            max_byte_length: None,
            detached: false,
        }))
    }

    /// A resizable ArrayBuffer; `max_byte_length` is raised to the length if smaller.
    pub fn new_resizable_array_buffer(bytes: Vec<u8>, max_byte_length: usize) -> Object {
        let max = max_byte_length.max(bytes.len());
        Object::from_data(ObjectData::ArrayBuffer(ArrayBufferData {
            bytes,
            max_byte_length: Some(max),
            detached: false,
        }))
    }

    /// `byteLength` of an ArrayBuffer (0 once detached), a view or a Blob/File.
    pub fn byte_length(&self) -> Option<usize> {
        match &*self.borrow() {
            ObjectData::ArrayBuffer(ab) => Some(ab.bytes.len()),
            ObjectData::View(v) => Some(v.current_length().0 * v.kind.element_size()),
            ObjectData::Blob(b) => Some(b.bytes.len()),
            ObjectData::File(f) => Some(f.blob.bytes.len()),
            _ => None,
        }
    }

    /// `maxByteLength` of a resizable ArrayBuffer.
    pub fn max_byte_length(&self) -> Option<usize> {
        match &*self.borrow() {
            ObjectData::ArrayBuffer(ab) => ab.max_byte_length,
            _ => None,
        }
    }

    /// True for a detached ArrayBuffer, or a detached MessagePort.
    pub fn is_detached(&self) -> bool {
        match &*self.borrow() {
            ObjectData::ArrayBuffer(ab) => ab.detached,
            ObjectData::Port(p) => p.is_detached(),
            _ => false,
        }
    }

    /// Runs `f` on the bytes of an ArrayBuffer, the viewed bytes of a view, or a
    /// Blob's bytes.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        match &*self.borrow() {
            ObjectData::ArrayBuffer(ab) => Some(f(&ab.bytes)),
            ObjectData::View(v) => {
                let (len, oob) = v.current_length();
                if oob {
                    return Some(f(&[]));
                }
                let b = v.buffer.borrow();
                match &*b {
                    ObjectData::ArrayBuffer(ab) => {
                        let start = v.byte_offset;
                        let end = start + len * v.kind.element_size();
                        Some(f(&ab.bytes[start..end]))
                    }
                    _ => None,
                }
            }
            ObjectData::Blob(b) => Some(f(&b.bytes)),
            ObjectData::File(fd) => Some(f(&fd.blob.bytes)),
            _ => None,
        }
    }

    /// Runs `f` on the bytes of a (non-detached) ArrayBuffer, mutably.
    pub fn with_bytes_mut<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        match &mut *self.borrow_mut() {
            ObjectData::ArrayBuffer(ab) if !ab.detached => Some(f(&mut ab.bytes)),
            _ => None,
        }
    }

    /// `ArrayBuffer.prototype.resize`: only for resizable, non-detached buffers and
    /// `new_len <= maxByteLength` (else `TypeError`/`RangeError`-like `Error::Type`).
    /// New bytes are zero.
    pub fn resize(&self, new_len: usize) -> Result<()> {
        match &mut *self.borrow_mut() {
            ObjectData::ArrayBuffer(ab) => {
                if ab.detached {
                    return Err(Error::Type("ArrayBuffer is detached".into()));
                }
                match ab.max_byte_length {
                    None => Err(Error::Type("ArrayBuffer is not resizable".into())),
                    Some(max) if new_len > max => Err(Error::Type(format!(
                        "new length {new_len} exceeds maxByteLength {max}"
                    ))),
                    Some(_) => {
                        ab.bytes.resize(new_len, 0);
                        Ok(())
                    }
                }
            }
            _ => Err(Error::Type("not an ArrayBuffer".into())),
        }
    }

    /// Detaches an ArrayBuffer (as `ArrayBuffer.prototype.transfer` would), returning
    /// its bytes; `None` when not an ArrayBuffer or already detached.
    pub fn detach(&self) -> Option<Vec<u8>> {
        match &mut *self.borrow_mut() {
            ObjectData::ArrayBuffer(ab) if !ab.detached => {
                ab.detached = true;
                Some(std::mem::take(&mut ab.bytes))
            }
            _ => None,
        }
    }

    // --- views ---

    /// A typed array (or DataView, with `ViewKind::DataView`) over `buffer`.
    /// `length` is in elements (bytes for DataView); `None` makes a length-tracking
    /// view that follows a resizable buffer. Fails with `Error::Type` (RangeError in
    /// JavaScript) for a misaligned offset, a view past the end of the buffer, a
    /// detached buffer, or a `buffer` that is not an ArrayBuffer.
    pub fn new_typed_array(
        kind: ViewKind,
        buffer: &Object,
        byte_offset: usize,
        length: Option<usize>,
    ) -> Result<Object> {
        check_view(kind, buffer, byte_offset, length).map_err(Error::Type)?;
        Ok(Object::from_data(ObjectData::View(ViewData {
            kind,
            buffer: buffer.clone(),
            byte_offset,
            length,
        })))
    }

    /// A DataView over `buffer` (`byte_length: None` = length-tracking).
    pub fn new_data_view(
        buffer: &Object,
        byte_offset: usize,
        byte_length: Option<usize>,
    ) -> Result<Object> {
        Object::new_typed_array(ViewKind::DataView, buffer, byte_offset, byte_length)
    }

    /// The kind of a view.
    pub fn view_kind(&self) -> Option<ViewKind> {
        match &*self.borrow() {
            ObjectData::View(v) => Some(v.kind),
            _ => None,
        }
    }

    /// The buffer of a view.
    pub fn view_buffer(&self) -> Option<Object> {
        match &*self.borrow() {
            ObjectData::View(v) => Some(v.buffer.clone()),
            _ => None,
        }
    }

    /// True for a view whose buffer shrank (or was detached) below its range.
    pub fn is_out_of_bounds(&self) -> bool {
        match &*self.borrow() {
            ObjectData::View(v) => v.current_length().1,
            _ => false,
        }
    }

    // --- Blob, File, FileList ---

    /// A Blob with these bytes (shared, not copied) and `type`.
    pub fn new_blob(bytes: impl Into<Arc<[u8]>>, mime: &str) -> Object {
        Object::from_data(ObjectData::Blob(BlobData {
            bytes: bytes.into(),
            mime: JsString::from(mime),
        }))
    }

    /// A File.
    pub fn new_file(
        bytes: impl Into<Arc<[u8]>>,
        mime: &str,
        name: &str,
        last_modified: i64,
    ) -> Object {
        Object::from_data(ObjectData::File(FileData {
            blob: BlobData {
                bytes: bytes.into(),
                mime: JsString::from(mime),
            },
            name: JsString::from(name),
            last_modified,
        }))
    }

    /// A FileList of these File objects (serializing it fails if one is not a File).
    pub fn new_file_list(files: Vec<Object>) -> Object {
        Object::from_data(ObjectData::FileList(files))
    }

    /// The shared bytes of a Blob or File.
    pub fn blob_bytes(&self) -> Option<Arc<[u8]>> {
        match &*self.borrow() {
            ObjectData::Blob(b) => Some(b.bytes.clone()),
            ObjectData::File(f) => Some(f.blob.bytes.clone()),
            _ => None,
        }
    }

    // --- Map, Set ---

    /// A Map with these entries (later duplicates overwrite, keeping the first position).
    pub fn new_map(entries: impl IntoIterator<Item = (Value, Value)>) -> Object {
        let mut c = CollectionData::new();
        for (k, v) in entries {
            c.insert(k, v);
        }
        Object::from_data(ObjectData::Map(c))
    }

    /// A Set with these values (duplicates by SameValueZero dropped).
    pub fn new_set(items: impl IntoIterator<Item = Value>) -> Object {
        let mut c = CollectionData::new();
        for k in items {
            c.insert(k, Value::Undefined);
        }
        Object::from_data(ObjectData::Set(c))
    }

    /// `Map.prototype.get`.
    pub fn map_get(&self, key: &Value) -> Option<Value> {
        match &*self.borrow() {
            ObjectData::Map(m) => m.get(key).cloned(),
            _ => None,
        }
    }

    /// `Map.prototype.set` (ignored on other objects).
    pub fn map_set(&self, key: Value, value: Value) {
        if let ObjectData::Map(m) = &mut *self.borrow_mut() {
            m.insert(key, value);
        }
    }

    /// The entries of a Map, in insertion order.
    pub fn map_entries(&self) -> Option<Vec<(Value, Value)>> {
        match &*self.borrow() {
            ObjectData::Map(m) => Some(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            _ => None,
        }
    }

    /// `Set.prototype.add` (ignored on other objects).
    pub fn set_add(&self, value: Value) {
        if let ObjectData::Set(s) = &mut *self.borrow_mut() {
            s.insert(value, Value::Undefined);
        }
    }

    /// `Set.prototype.has` (or `Map.prototype.has` on a Map).
    pub fn collection_has(&self, key: &Value) -> bool {
        match &*self.borrow() {
            ObjectData::Map(m) | ObjectData::Set(m) => m.contains(key),
            _ => false,
        }
    }

    /// The values of a Set, in insertion order.
    pub fn set_values(&self) -> Option<Vec<Value>> {
        match &*self.borrow() {
            ObjectData::Set(s) => Some(s.iter().map(|(k, _)| k.clone()).collect()),
            _ => None,
        }
    }

    // --- errors ---

    /// A new Error of this kind with an own `message` (or none).
    pub fn new_error(kind: ErrorKind, message: Option<&str>) -> Object {
        Object::new_error_named(kind.as_str(), message)
    }

    /// A new Error object whose `name` is any string (a subclass such as
    /// `"AggregateError"`, or a user-set name); it serializes as `Error` unless the
    /// name is one of the seven [`ErrorKind`]s.
    pub fn new_error_named(name: &str, message: Option<&str>) -> Object {
        Object::from_data(ObjectData::Error(ErrorData {
            name: JsString::from(name),
            message: message.map(JsString::from),
            stack: None,
        }))
    }

    /// Sets the `stack` of an Error (ignored on other objects).
    pub fn set_error_stack(&self, stack: Option<&str>) {
        if let ObjectData::Error(e) = &mut *self.borrow_mut() {
            e.stack = stack.map(JsString::from);
        }
    }

    /// A DOMException; its `code` derives from `name` ([`dom_exception_code`]).
    pub fn new_dom_exception(name: &str, message: &str) -> Object {
        Object::from_data(ObjectData::DomException(DomExceptionData {
            name: JsString::from(name),
            message: JsString::from(message),
        }))
    }

    /// A DOMException carrying a crate [`Error`] (name and message).
    pub fn from_error(err: &Error) -> Object {
        Object::new_dom_exception(err.name().as_str(), err.message())
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

fn blob_prop(b: &BlobData, key: &str) -> Option<Value> {
    match key {
        "size" => Some(Value::Number(b.bytes.len() as f64)),
        "type" => Some(Value::String(b.mime.clone())),
        _ => None,
    }
}

/// Checks a view's parameters against its buffer; the message says what is wrong.
pub(crate) fn check_view(
    kind: ViewKind,
    buffer: &Object,
    byte_offset: usize,
    length: Option<usize>,
) -> std::result::Result<(), String> {
    let b = buffer.borrow();
    let ab = match &*b {
        ObjectData::ArrayBuffer(ab) => ab,
        other => {
            return Err(format!(
                "a view needs an ArrayBuffer, not {}",
                other.class_name()
            ))
        }
    };
    if ab.detached {
        return Err("ArrayBuffer is detached".into());
    }
    let es = kind.element_size();
    if byte_offset % es != 0 {
        return Err(format!(
            "start offset of {} should be a multiple of {es}",
            kind.class_name()
        ));
    }
    let len = ab.bytes.len();
    match length {
        Some(n) => {
            let end = n.checked_mul(es).and_then(|x| x.checked_add(byte_offset));
            match end {
                Some(end) if end <= len => Ok(()),
                _ => Err(format!(
                    "{} range is out of the buffer's bounds",
                    kind.class_name()
                )),
            }
        }
        None => {
            if byte_offset > len {
                Err(format!(
                    "start offset {byte_offset} is outside the bounds of the buffer"
                ))
            } else if ab.max_byte_length.is_none() && (len - byte_offset) % es != 0 {
                Err(format!(
                    "byte length of {} should be a multiple of {es}",
                    kind.class_name()
                ))
            } else {
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Debug (linear, cycle-safe)
// ---------------------------------------------------------------------------

/// Objects nested deeper than this are elided (`[Array ...]`) by `Debug`, which
/// recurses.
const DEBUG_MAX_DEPTH: usize = 24;

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Undefined => f.write_str("undefined"),
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => {
                if *n == 0.0 && n.is_sign_negative() {
                    f.write_str("-0")
                } else {
                    write!(f, "{n}")
                }
            }
            Value::BigInt(n) => write!(f, "{n}n"),
            Value::String(s) => fmt::Debug::fmt(s, f),
            Value::Symbol(s) => fmt::Debug::fmt(s, f),
            Value::Object(o) => fmt::Debug::fmt(o, f),
        }
    }
}

/// Prints the graph reachable from the object, each object once: an object met
/// more than once is labelled where it is first printed (`<ref #1> {...}`), and
/// printed as a back-reference afterwards (`#1`, or `[Circular #1]` inside itself),
/// so the output is linear in the size of the graph. Labels are numbered in printing
/// order, so isomorphic graphs (an object and its structured clone) print the same.
/// Objects nested more than 24 deep are elided (`[Array ...]`).
impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Two passes over the same traversal: the first (into nothing) counts how
        // often each object is met, so that the second labels those met twice.
        let g = RefCell::new(DebugGraph {
            counting: true,
            ..DebugGraph::default()
        });
        let _ = fmt::Write::write_fmt(&mut Discard, format_args!("{:?}", InGraph(self, &g)));
        {
            let mut g = g.borrow_mut();
            g.counting = false;
            g.stack.clear();
            for s in g.seen.values_mut() {
                s.entered = false;
            }
        }
        debug_object(self, &g, f)
    }
}

/// What `Debug` knows of the graph it prints.
#[derive(Default)]
struct DebugGraph {
    /// True in the first pass, which only counts.
    counting: bool,
    /// The objects met, by address (they all live while the graph is printed).
    seen: HashMap<usize, Seen>,
    /// The objects being printed: the current one and its ancestors.
    stack: Vec<usize>,
    /// The last label given.
    labels: u32,
}

/// An object met while printing.
#[derive(Default)]
struct Seen {
    /// How often the first pass met it (not counting elided occurrences).
    visits: u32,
    /// Its label (0 for none yet).
    label: u32,
    /// True once printing (or counting) its contents has begun in this pass.
    entered: bool,
}

/// A writer that drops what it is given (the counting pass).
struct Discard;

impl fmt::Write for Discard {
    fn write_str(&mut self, _: &str) -> fmt::Result {
        Ok(())
    }
}

/// A value or object printed as part of the graph `.1`.
struct InGraph<'a, T>(&'a T, &'a RefCell<DebugGraph>);

impl fmt::Debug for InGraph<'_, Value> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Object(o) => debug_object(o, self.1, f),
            v => fmt::Debug::fmt(v, f),
        }
    }
}

impl fmt::Debug for InGraph<'_, Object> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_object(self.0, self.1, f)
    }
}

impl fmt::Debug for InGraph<'_, Vec<Object>> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|o| InGraph(o, self.1)))
            .finish()
    }
}

/// Prints `o` as part of the graph `g`: a back-reference if it was printed before,
/// else its contents (labelled if it is met again later).
fn debug_object(o: &Object, g: &RefCell<DebugGraph>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let addr = o.addr();
    let mut gm = g.borrow_mut();
    let DebugGraph {
        counting,
        seen,
        stack,
        labels,
    } = &mut *gm;
    if let Some(s) = seen.get_mut(&addr).filter(|s| s.entered) {
        if *counting {
            s.visits += 1;
        } else if s.label == 0 {
            // Not seen twice by the first pass (cannot happen: both passes make the
            // same traversal); a label keeps the output finite anyway.
            *labels += 1;
            s.label = *labels;
        }
        let (label, circular) = (s.label, stack.contains(&addr));
        drop(gm);
        return if circular {
            write!(f, "[Circular #{label}]")
        } else {
            write!(f, "#{label}")
        };
    }
    let Ok(d) = o.0.try_borrow() else {
        drop(gm);
        return f.write_str("[Object (mutably borrowed)]");
    };
    if stack.len() >= DEBUG_MAX_DEPTH {
        drop(gm);
        return write!(f, "[{} ...]", d.class_name());
    }
    let s = seen.entry(addr).or_default();
    s.entered = true;
    let label = if *counting {
        s.visits = 1;
        0
    } else if s.visits > 1 {
        *labels += 1;
        s.label = *labels;
        s.label
    } else {
        0
    };
    stack.push(addr);
    drop(gm);
    if label != 0 {
        write!(f, "<ref #{label}> ")?;
    }
    let r = debug_data(&d, g, f);
    g.borrow_mut().stack.pop();
    r
}

fn debug_data(d: &ObjectData, g: &RefCell<DebugGraph>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match d {
        ObjectData::Plain(p) => f
            .debug_map()
            .entries(p.iter().map(|(k, v)| (k, InGraph(v, g))))
            .finish(),
        ObjectData::Array(a) => {
            let mut l = f.debug_list();
            for i in 0..a.length.min(a.elements.len() as u32) {
                match a.get(i) {
                    Some(v) => l.entry(&InGraph(v, g)),
                    None => l.entry(&format_args!("<hole>")),
                };
            }
            if (a.elements.len() as u32) < a.length {
                l.entry(&format_args!(
                    "<{} holes>",
                    a.length - a.elements.len() as u32
                ));
            }
            for (k, v) in a.props() {
                l.entry(&format_args!("{k}: {:?}", InGraph(v, g)));
            }
            l.finish()
        }
        ObjectData::BooleanObject(b) => write!(f, "[Boolean: {b}]"),
        ObjectData::NumberObject(n) => write!(f, "[Number: {:?}]", Value::Number(*n)),
        ObjectData::StringObject(s) => write!(f, "[String: {s:?}]"),
        ObjectData::BigIntObject(n) => write!(f, "[BigInt: {n}n]"),
        ObjectData::Date(t) => write!(f, "Date({:?})", Value::Number(*t)),
        ObjectData::RegExp(r) => write!(f, "/{}/{}", r.source, r.flags),
        ObjectData::ArrayBuffer(ab) => {
            if ab.detached {
                f.write_str("ArrayBuffer(detached)")
            } else {
                write!(f, "ArrayBuffer({} bytes", ab.bytes.len())?;
                if let Some(m) = ab.max_byte_length {
                    write!(f, ", max {m}")?;
                }
                f.write_str(")")
            }
        }
        ObjectData::View(v) => write!(
            f,
            "{}(offset {}, length {:?}, buffer {:?})",
            v.kind.class_name(),
            v.byte_offset,
            v.length,
            InGraph(&v.buffer, g)
        ),
        ObjectData::Blob(b) => write!(f, "Blob({} bytes, {:?})", b.bytes.len(), b.mime),
        ObjectData::File(fd) => write!(
            f,
            "File({:?}, {} bytes, {:?}, {})",
            fd.name,
            fd.blob.bytes.len(),
            fd.blob.mime,
            fd.last_modified
        ),
        ObjectData::FileList(l) => f.debug_tuple("FileList").field(&InGraph(l, g)).finish(),
        ObjectData::Map(m) => {
            f.write_str("Map ")?;
            f.debug_map()
                .entries(m.iter().map(|(k, v)| (InGraph(k, g), InGraph(v, g))))
                .finish()
        }
        ObjectData::Set(s) => {
            f.write_str("Set ")?;
            f.debug_set()
                .entries(s.iter().map(|(k, _)| InGraph(k, g)))
                .finish()
        }
        ObjectData::Error(e) => write!(f, "{}({:?})", e.name, e.message),
        ObjectData::DomException(e) => write!(f, "DOMException({}: {:?})", e.name, e.message),
        ObjectData::Port(_) => f.write_str("MessagePort"),
        ObjectData::Function { name } => write!(f, "[Function: {name}]"),
        ObjectData::Platform { interface } => write!(f, "[{interface}]"),
    }
}

// ---------------------------------------------------------------------------
// Graph isomorphism (test helper)
// ---------------------------------------------------------------------------

/// Test helper: true when two value graphs are isomorphic: the same shapes and
/// primitive values (SameValue, so NaN matches NaN and -0 only -0), and the same
/// sharing and cycle structure (a bijection between the objects of `a` and `b`).
///
/// ArrayBuffers compare bytes, length, resizability and detached state; views compare
/// kind, offset and length and their buffers (as objects, so sharing counts); Blobs
/// compare bytes and type; ports match any port (they are new objects after a
/// transfer); functions and platform objects compare names. Iterative: deep graphs do
/// not overflow the stack.
pub fn graph_isomorphic(a: &Value, b: &Value) -> bool {
    let mut fwd: HashMap<usize, usize> = HashMap::new();
    let mut back: HashMap<usize, usize> = HashMap::new();
    let mut work: Vec<(Value, Value)> = vec![(a.clone(), b.clone())];
    while let Some((x, y)) = work.pop() {
        let (ox, oy) = match (&x, &y) {
            (Value::Object(ox), Value::Object(oy)) => (ox, oy),
            (Value::Object(_), _) | (_, Value::Object(_)) => return false,
            (Value::Symbol(_), Value::Symbol(_)) => continue,
            _ => {
                if !x.same_value(&y) {
                    return false;
                }
                continue;
            }
        };
        let (ax, ay) = (ox.addr(), oy.addr());
        match (fwd.get(&ax), back.get(&ay)) {
            (Some(&m), Some(&n)) => {
                if m == ay && n == ax {
                    continue;
                }
                return false;
            }
            (None, None) => {
                fwd.insert(ax, ay);
                back.insert(ay, ax);
            }
            _ => return false,
        }
        if !shallow_match(&ox.borrow(), &oy.borrow(), &mut work) {
            return false;
        }
    }
    true
}

fn props_match(p: &PropertyMap, q: &PropertyMap, work: &mut Vec<(Value, Value)>) -> bool {
    if p.len() != q.len() {
        return false;
    }
    for ((k1, v1), (k2, v2)) in p.iter().zip(q.iter()) {
        if k1 != k2 {
            return false;
        }
        work.push((v1.clone(), v2.clone()));
    }
    true
}

fn shallow_match(x: &ObjectData, y: &ObjectData, work: &mut Vec<(Value, Value)>) -> bool {
    use ObjectData as D;
    match (x, y) {
        (D::Plain(p), D::Plain(q)) => props_match(p, q, work),
        (D::Array(a), D::Array(b)) => {
            if a.length != b.length {
                return false;
            }
            let n = a.elements.len().max(b.elements.len());
            for i in 0..n {
                match (a.get(i as u32), b.get(i as u32)) {
                    (None, None) => {}
                    (Some(v), Some(w)) => work.push((v.clone(), w.clone())),
                    _ => return false,
                }
            }
            let empty = PropertyMap::new();
            props_match(
                a.props.as_deref().unwrap_or(&empty),
                b.props.as_deref().unwrap_or(&empty),
                work,
            )
        }
        (D::BooleanObject(a), D::BooleanObject(b)) => a == b,
        (D::NumberObject(a), D::NumberObject(b)) | (D::Date(a), D::Date(b)) => {
            same_value_number(*a, *b)
        }
        (D::StringObject(a), D::StringObject(b)) => a == b,
        (D::BigIntObject(a), D::BigIntObject(b)) => a == b,
        (D::RegExp(a), D::RegExp(b)) => a.source == b.source && a.flags == b.flags,
        (D::ArrayBuffer(a), D::ArrayBuffer(b)) => {
            a.bytes == b.bytes && a.max_byte_length == b.max_byte_length && a.detached == b.detached
        }
        (D::View(a), D::View(b)) => {
            if a.kind != b.kind || a.byte_offset != b.byte_offset || a.length != b.length {
                return false;
            }
            work.push((
                Value::Object(a.buffer.clone()),
                Value::Object(b.buffer.clone()),
            ));
            true
        }
        (D::Blob(a), D::Blob(b)) => a.bytes == b.bytes && a.mime == b.mime,
        (D::File(a), D::File(b)) => {
            a.blob.bytes == b.blob.bytes
                && a.blob.mime == b.blob.mime
                && a.name == b.name
                && a.last_modified == b.last_modified
        }
        (D::FileList(a), D::FileList(b)) => {
            if a.len() != b.len() {
                return false;
            }
            for (f, g) in a.iter().zip(b) {
                work.push((Value::Object(f.clone()), Value::Object(g.clone())));
            }
            true
        }
        (D::Map(a), D::Map(b)) | (D::Set(a), D::Set(b)) => {
            if a.len() != b.len() {
                return false;
            }
            for ((k1, v1), (k2, v2)) in a.iter().zip(b.iter()) {
                work.push((k1.clone(), k2.clone()));
                work.push((v1.clone(), v2.clone()));
            }
            true
        }
        (D::Error(a), D::Error(b)) => {
            a.name == b.name && a.message == b.message && a.stack == b.stack
        }
        (D::DomException(a), D::DomException(b)) => a.name == b.name && a.message == b.message,
        (D::Port(_), D::Port(_)) => true,
        (D::Function { name: a }, D::Function { name: b }) => a == b,
        (D::Platform { interface: a }, D::Platform { interface: b }) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every allocation in this thread's pool owns nothing and is unique, and every
    /// list is within its bound (what `from_data`, `build_plain` and `build_array`
    /// rely on).
    fn check_pool() -> (usize, usize, usize) {
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            assert!(p.objects.len() <= POOL_OBJECTS);
            for rc in &mut p.objects {
                assert!(matches!(
                    Rc::get_mut(rc).map(RefCell::get_mut),
                    Some(ObjectData::BooleanObject(false))
                ));
            }
            for (i, list) in p.plain.iter_mut().enumerate() {
                assert!(list.len() <= POOL_BUFFERS);
                for rc in list {
                    match Rc::get_mut(rc).map(RefCell::get_mut) {
                        Some(ObjectData::Plain(m)) => {
                            assert!(m.entries.is_empty() && m.index.is_none());
                            assert_eq!(m.entries.capacity(), i + 1);
                        }
                        _ => panic!("a pooled plain object is not an empty plain object"),
                    }
                }
            }
            for (i, list) in p.arrays.iter_mut().enumerate() {
                assert!(list.len() <= POOL_BUFFERS);
                for rc in list {
                    match Rc::get_mut(rc).map(RefCell::get_mut) {
                        Some(ObjectData::Array(a)) => {
                            assert!(a.elements.is_empty() && a.props.is_none() && a.length == 0);
                            assert_eq!(a.elements.capacity(), i + 1);
                        }
                        _ => panic!("a pooled array is not an empty array"),
                    }
                }
            }
            for (i, list) in p.entries.iter().enumerate() {
                assert!(list.len() <= POOL_BUFFERS);
                for v in list {
                    assert!(v.is_empty());
                    assert_eq!(v.capacity(), i + 1);
                }
            }
            (p.objects.len(), p.plain[0].len(), p.arrays[0].len())
        })
    }

    /// The work list is empty and small between drops.
    fn check_free_list() {
        FREE_LIST.with(|c| {
            let v = c.take();
            assert!(v.is_empty());
            assert!(v.capacity() <= FREE_LIST_KEEP);
            c.set(v);
        });
    }

    /// Dropping a deep graph goes through the pool: its allocations are recycled
    /// (up to the bounds) with the pool's invariants kept, and then reused.
    #[test]
    fn deep_drop_recycles_into_the_pool() {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let mut v = Value::Null;
                for i in 0..100_000u32 {
                    let o = if i % 3 == 0 {
                        Object::build_plain(1, |out| {
                            out.push((JsString::from("k"), v));
                            Ok::<(), ()>(())
                        })
                        .unwrap()
                    } else if i % 3 == 1 {
                        Object::build_array(1, 1, |out| {
                            out.push(Some(v));
                            Ok::<_, ()>(None)
                        })
                        .unwrap()
                    } else {
                        Object::new_map([(Value::from(i), v)])
                    };
                    v = Value::from(o);
                }
                drop(v);
                let (objects, plain, arrays) = check_pool();
                assert_eq!(
                    (objects, plain, arrays),
                    (POOL_OBJECTS, POOL_BUFFERS, POOL_BUFFERS)
                );
                check_free_list();
                // A recycled plain object of one property is reused as is.
                let addr =
                    POOL.with(|p| p.borrow().plain[0].last().map(|rc| Rc::as_ptr(rc) as usize));
                let o = Object::build_plain(1, |out| {
                    out.push((JsString::from("x"), Value::from(1)));
                    Ok::<(), ()>(())
                })
                .unwrap();
                assert_eq!(Some(o.addr()), addr);
                assert_eq!(check_pool().1, POOL_BUFFERS - 1);
                drop(o);
                assert_eq!(check_pool().1, POOL_BUFFERS);
                // Views and FileLists are emptied too (their allocations are kept).
                let ab = Object::new_array_buffer(vec![0; 8]);
                let view = Object::new_typed_array(ViewKind::Uint8, &ab, 0, None).unwrap();
                drop(ab);
                let list = Object::new_file_list(vec![view]);
                drop(list);
                check_pool();
                check_free_list();
            })
            .unwrap()
            .join()
            .unwrap();
    }

    /// Under a borrowed pool (a drop while the pool is in use cannot happen, but the
    /// code must not rely on it) and a taken work list, freeing still works.
    #[test]
    fn drop_with_pool_and_free_list_busy() {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let mut v = Value::Null;
                for _ in 0..100_000 {
                    v = Value::from(Object::new_array(vec![v]));
                }
                let held = FREE_LIST.with(Cell::take);
                POOL.with(|p| {
                    let _busy = p.borrow_mut();
                    drop(v);
                });
                FREE_LIST.with(|c| c.set(held));
                check_pool();
                check_free_list();
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
