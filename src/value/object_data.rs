//! What an object is: one [`ObjectData`] variant per kind of object the
//! serialization steps tell apart by their internal slots (`[[BooleanData]]`,
//! `[[DateValue]]`, `[[RegExpMatcher]]`, `[[ArrayBufferData]]`, `[[MapData]]`...),
//! plus the serializable platform objects and what cannot be serialized.

use std::rc::Rc;

use num_bigint::BigInt;

use super::{
    ArrayBufferData, ArrayData, BlobData, CollectionData, DomExceptionData, ErrorData, FileData,
    JsString, Object, PropertyMap, TransferablePort, ViewData,
};

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
