//! The `DataCloneError`s the serialization, deserialization and clone steps throw
//! (cold, out of line, so that the hot paths stay small).

use super::MAX_DEPTH;
use crate::error::Error;
use crate::value::{JsString, Object, ViewKind};

#[cold]
pub(super) fn err_symbol(s: &crate::value::Symbol) -> Error {
    clone_err(match s.description() {
        Some(d) => format!("Symbol({d}) cannot be cloned"),
        None => "Symbol() cannot be cloned".to_string(),
    })
}

#[cold]
pub(super) fn err_too_deep() -> Error {
    clone_err(format!("object graph nested deeper than {MAX_DEPTH}"))
}

#[cold]
pub(super) fn err_out_of_bounds(kind: ViewKind) -> Error {
    clone_err(format!(
        "{} is out of bounds of its ArrayBuffer (the buffer shrank or was detached)",
        kind.class_name()
    ))
}

#[cold]
pub(super) fn err_file_list_item(f: &Object) -> Error {
    clone_err(format!("FileList item is a {}, not a File", f.class_name()))
}

#[cold]
pub(super) fn err_function(name: &JsString) -> Error {
    clone_err(if name.utf16_len() == 0 {
        "function cannot be cloned".to_string()
    } else {
        format!("function {name} cannot be cloned")
    })
}

#[cold]
pub(super) fn err_platform(interface: &str) -> Error {
    clone_err(format!("{interface} object cannot be cloned"))
}

#[cold]
pub(super) fn err_port_not_transferred() -> Error {
    clone_err("MessagePort must be in the transfer list to be cloned")
}

#[cold]
pub(super) fn err_detached_buffer() -> Error {
    clone_err("ArrayBuffer is detached")
}

#[cold]
pub(super) fn bad_array_length() -> Error {
    clone_err("array length is smaller than its elements")
}

#[cold]
pub(crate) fn clone_err(msg: impl Into<String>) -> Error {
    Error::DataClone(msg.into())
}
