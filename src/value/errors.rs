//! Error objects (the `[[ErrorData]]` branch of
//! <https://html.spec.whatwg.org/multipage/structured-data.html#structuredserializeinternal>)
//! and DOMExceptions (serializable platform objects,
//! <https://webidl.spec.whatwg.org/#idl-DOMException>).

use crate::error::Error;

use super::{JsString, Object, ObjectData};

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

impl Object {
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
}
