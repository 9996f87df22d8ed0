//! Errors, named the way the standard names its exceptions.
//!
//! The web platform reports failures as `DOMException`s whose `name` says what went
//! wrong (`SyntaxError`, `DataCloneError`, `InvalidStateError`, ...), and a few as
//! ECMAScript `TypeError`s. [`Error`] carries that name as its variant, so callers
//! match on the kind instead of comparing strings, and a message that says what was
//! wrong. [`ExceptionName`] is the bare kind, for tables and assertions.
//!
//! See <https://webidl.spec.whatwg.org/#idl-DOMException-error-names>.

use std::fmt;

/// The name of a `DOMException` (or of the ECMAScript `TypeError`), as a typed kind.
///
/// Only the names web messaging can raise, plus the ones a cloned `DOMException`
/// commonly carries, are listed; any other name a script gives a `DOMException` value
/// is kept as a string by the value model, not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ExceptionName {
    /// `SyntaxError`: a string did not parse (for example a bad `targetOrigin`).
    SyntaxError,
    /// `DataCloneError`: a value could not be serialized, transferred or deserialized.
    DataCloneError,
    /// `InvalidStateError`: the object is in a state that forbids the call
    /// (for example posting on a closed `BroadcastChannel`).
    InvalidStateError,
    /// `NotFoundError`: the object named does not exist (for example a realm that is gone).
    NotFoundError,
    /// `NotSupportedError`: the operation is not supported here.
    NotSupportedError,
    /// `AbortError`: the operation was aborted (for example a realm crashed mid-call).
    AbortError,
    /// `SecurityError`: the operation is not allowed across origins.
    SecurityError,
    /// `QuotaExceededError`: a bounded queue is full.
    QuotaExceededError,
    /// ECMAScript `TypeError` (not a `DOMException`): an argument of the wrong type.
    TypeError,
    /// `TimeoutError`: the operation timed out (for example an RPC call past its deadline).
    TimeoutError,
}

impl ExceptionName {
    /// The name exactly as the standard spells it, for example `"DataCloneError"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExceptionName::SyntaxError => "SyntaxError",
            ExceptionName::DataCloneError => "DataCloneError",
            ExceptionName::InvalidStateError => "InvalidStateError",
            ExceptionName::NotFoundError => "NotFoundError",
            ExceptionName::NotSupportedError => "NotSupportedError",
            ExceptionName::AbortError => "AbortError",
            ExceptionName::SecurityError => "SecurityError",
            ExceptionName::QuotaExceededError => "QuotaExceededError",
            ExceptionName::TypeError => "TypeError",
            ExceptionName::TimeoutError => "TimeoutError",
        }
    }

    /// The legacy `DOMException.code` for this name, or 0 where it has none
    /// (<https://webidl.spec.whatwg.org/#dfn-error-names-table>).
    pub const fn legacy_code(self) -> u16 {
        match self {
            ExceptionName::SyntaxError => 12,
            ExceptionName::DataCloneError => 25,
            ExceptionName::InvalidStateError => 11,
            ExceptionName::NotFoundError => 8,
            ExceptionName::NotSupportedError => 9,
            ExceptionName::AbortError => 20,
            ExceptionName::SecurityError => 18,
            ExceptionName::QuotaExceededError => 22,
            ExceptionName::TypeError => 0,
            ExceptionName::TimeoutError => 23,
        }
    }

    /// Looks a name up from its spelling; `None` for names not listed here.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "SyntaxError" => ExceptionName::SyntaxError,
            "DataCloneError" => ExceptionName::DataCloneError,
            "InvalidStateError" => ExceptionName::InvalidStateError,
            "NotFoundError" => ExceptionName::NotFoundError,
            "NotSupportedError" => ExceptionName::NotSupportedError,
            "AbortError" => ExceptionName::AbortError,
            "SecurityError" => ExceptionName::SecurityError,
            "QuotaExceededError" => ExceptionName::QuotaExceededError,
            "TypeError" => ExceptionName::TypeError,
            "TimeoutError" => ExceptionName::TimeoutError,
            _ => return None,
        })
    }
}

impl fmt::Display for ExceptionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An exception raised by a web messaging operation.
///
/// The variant is the exception's name; the string says what was wrong. `Display`
/// prints `Name: message`, as a browser console would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `SyntaxError` `DOMException`.
    #[error("SyntaxError: {0}")]
    Syntax(String),
    /// `DataCloneError` `DOMException`.
    #[error("DataCloneError: {0}")]
    DataClone(String),
    /// `InvalidStateError` `DOMException`.
    #[error("InvalidStateError: {0}")]
    InvalidState(String),
    /// `NotFoundError` `DOMException`.
    #[error("NotFoundError: {0}")]
    NotFound(String),
    /// `NotSupportedError` `DOMException`.
    #[error("NotSupportedError: {0}")]
    NotSupported(String),
    /// `AbortError` `DOMException`.
    #[error("AbortError: {0}")]
    Abort(String),
    /// `SecurityError` `DOMException`.
    #[error("SecurityError: {0}")]
    Security(String),
    /// `QuotaExceededError` `DOMException`.
    #[error("QuotaExceededError: {0}")]
    QuotaExceeded(String),
    /// ECMAScript `TypeError`.
    #[error("TypeError: {0}")]
    Type(String),
    /// `TimeoutError` `DOMException`.
    #[error("TimeoutError: {0}")]
    Timeout(String),
}

impl Error {
    /// The exception's name as a typed kind.
    pub fn name(&self) -> ExceptionName {
        match self {
            Error::Syntax(_) => ExceptionName::SyntaxError,
            Error::DataClone(_) => ExceptionName::DataCloneError,
            Error::InvalidState(_) => ExceptionName::InvalidStateError,
            Error::NotFound(_) => ExceptionName::NotFoundError,
            Error::NotSupported(_) => ExceptionName::NotSupportedError,
            Error::Abort(_) => ExceptionName::AbortError,
            Error::Security(_) => ExceptionName::SecurityError,
            Error::QuotaExceeded(_) => ExceptionName::QuotaExceededError,
            Error::Type(_) => ExceptionName::TypeError,
            Error::Timeout(_) => ExceptionName::TimeoutError,
        }
    }

    /// The message, without the name.
    pub fn message(&self) -> &str {
        match self {
            Error::Syntax(m)
            | Error::DataClone(m)
            | Error::InvalidState(m)
            | Error::NotFound(m)
            | Error::NotSupported(m)
            | Error::Abort(m)
            | Error::Security(m)
            | Error::QuotaExceeded(m)
            | Error::Type(m)
            | Error::Timeout(m) => m,
        }
    }

    /// Builds the error of the given kind with a message.
    pub fn new(name: ExceptionName, message: impl Into<String>) -> Self {
        let m = message.into();
        match name {
            ExceptionName::SyntaxError => Error::Syntax(m),
            ExceptionName::DataCloneError => Error::DataClone(m),
            ExceptionName::InvalidStateError => Error::InvalidState(m),
            ExceptionName::NotFoundError => Error::NotFound(m),
            ExceptionName::NotSupportedError => Error::NotSupported(m),
            ExceptionName::AbortError => Error::Abort(m),
            ExceptionName::SecurityError => Error::Security(m),
            ExceptionName::QuotaExceededError => Error::QuotaExceeded(m),
            ExceptionName::TypeError => Error::Type(m),
            ExceptionName::TimeoutError => Error::Timeout(m),
        }
    }

    /// Shorthand for a `DataCloneError`.
    pub fn data_clone(message: impl Into<String>) -> Self {
        Error::DataClone(message.into())
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_name_colon_message() {
        let e = Error::data_clone("function cannot be cloned");
        assert_eq!(e.to_string(), "DataCloneError: function cannot be cloned");
        assert_eq!(e.name(), ExceptionName::DataCloneError);
        assert_eq!(e.name().legacy_code(), 25);
        assert_eq!(e.message(), "function cannot be cloned");
    }

    #[test]
    fn names_round_trip() {
        for n in [
            ExceptionName::SyntaxError,
            ExceptionName::DataCloneError,
            ExceptionName::InvalidStateError,
            ExceptionName::NotFoundError,
            ExceptionName::NotSupportedError,
            ExceptionName::AbortError,
            ExceptionName::SecurityError,
            ExceptionName::QuotaExceededError,
            ExceptionName::TypeError,
            ExceptionName::TimeoutError,
        ] {
            assert_eq!(ExceptionName::from_name(n.as_str()), Some(n));
            assert_eq!(Error::new(n, "x").name(), n);
        }
        assert_eq!(ExceptionName::from_name("IndexSizeError"), None);
    }
}
