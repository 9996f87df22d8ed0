//! How a call can fail: the method's own error, as itself, or a runtime failure with the
//! name of the `DOMException` a browser would raise.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use webmessaging_core::{Error, ExceptionName};

/// The error type of a method that cannot fail: it has no values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoError {}

impl fmt::Display for NoError {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

/// Why a call (or a stream) did not give its value.
///
/// [`Method`](RpcError::Method) is the method's own error type `E`, deserialized on this
/// side with every field it had. Every other variant is a failure of the call itself and
/// has a [`name`](RpcError::name) from the standard's table of exception names:
///
/// | variant | name |
/// | --- | --- |
/// | [`Timeout`](RpcError::Timeout) | `TimeoutError` |
/// | [`Cancelled`](RpcError::Cancelled), [`Disconnected`](RpcError::Disconnected) | `AbortError` |
/// | [`Refused`](RpcError::Refused) | `SecurityError` |
/// | [`NoSuchMethod`](RpcError::NoSuchMethod) | `NotFoundError` |
/// | [`Closed`](RpcError::Closed) | `InvalidStateError` |
/// | [`Runtime`](RpcError::Runtime) | its error's (`DataCloneError` for a value that could not be sent or read, on either side) |
#[derive(Debug, Clone, PartialEq)]
pub enum RpcError<E> {
    /// The method answered with its own error.
    Method(E),
    /// The call's deadline passed before its answer arrived (`TimeoutError`).
    Timeout {
        /// The deadline the call had.
        deadline: Duration,
    },
    /// The call was cancelled by the caller (`AbortError`).
    Cancelled,
    /// The connection was lost while the call was in flight: the port closed, or the
    /// other realm crashed, navigated, reloaded or was restarted (`AbortError`). The call
    /// is not retried: it may or may not have run.
    Disconnected {
        /// What happened.
        reason: String,
    },
    /// The service refused the connection, for example because the caller's origin is not
    /// on its allow-list (`SecurityError`).
    Refused {
        /// The service's reason.
        reason: String,
    },
    /// The service has no such method (`NotFoundError`).
    NoSuchMethod {
        /// The method asked for.
        method: String,
    },
    /// The client was closed, or its realm is gone (`InvalidStateError`).
    Closed,
    /// Any other runtime failure, with its exception name: a request or answer that could
    /// not be serialized or deserialized (`DataCloneError`), here or on the other side.
    Runtime(Error),
}

impl<E> RpcError<E> {
    /// The exception name of a runtime failure; `None` for the method's own error.
    pub fn name(&self) -> Option<ExceptionName> {
        Some(match self {
            RpcError::Method(_) => return None,
            RpcError::Timeout { .. } => ExceptionName::TimeoutError,
            RpcError::Cancelled | RpcError::Disconnected { .. } => ExceptionName::AbortError,
            RpcError::Refused { .. } => ExceptionName::SecurityError,
            RpcError::NoSuchMethod { .. } => ExceptionName::NotFoundError,
            RpcError::Closed => ExceptionName::InvalidStateError,
            RpcError::Runtime(e) => e.name(),
        })
    }

    /// The method's own error, if that is what this is.
    pub fn method_error(&self) -> Option<&E> {
        match self {
            RpcError::Method(e) => Some(e),
            _ => None,
        }
    }

    /// A runtime failure as the `DOMException` a browser would raise; `None` for the
    /// method's own error.
    pub fn to_dom_error(&self) -> Option<Error> {
        let name = self.name()?;
        let message = match self {
            RpcError::Runtime(e) => return Some(e.clone()),
            RpcError::Timeout { deadline } => format!("no answer within {deadline:?}"),
            RpcError::Cancelled => "the call was cancelled".into(),
            RpcError::Disconnected { reason } | RpcError::Refused { reason } => reason.clone(),
            RpcError::NoSuchMethod { method } => format!("no method {method:?}"),
            RpcError::Closed => "the client is closed".into(),
            RpcError::Method(_) => return None,
        };
        Some(Error::new(name, message))
    }

    /// The same failure for a method with another error type (`None` for
    /// [`Method`](RpcError::Method)).
    pub(crate) fn widen<F>(self) -> Result<RpcError<F>, E> {
        Ok(match self {
            RpcError::Method(e) => return Err(e),
            RpcError::Timeout { deadline } => RpcError::Timeout { deadline },
            RpcError::Cancelled => RpcError::Cancelled,
            RpcError::Disconnected { reason } => RpcError::Disconnected { reason },
            RpcError::Refused { reason } => RpcError::Refused { reason },
            RpcError::NoSuchMethod { method } => RpcError::NoSuchMethod { method },
            RpcError::Closed => RpcError::Closed,
            RpcError::Runtime(e) => RpcError::Runtime(e),
        })
    }
}

/// A failure that is not a method's error (the runtime's side of [`RpcError`]).
pub(crate) type Failure = RpcError<NoError>;

impl Failure {
    /// This failure as an error of a method with error type `E`.
    pub(crate) fn into_typed<E>(self) -> RpcError<E> {
        match self.widen() {
            Ok(e) => e,
            Err(never) => match never {},
        }
    }
}

impl<E: fmt::Debug> fmt::Display for RpcError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcError::Method(e) => write!(f, "the method failed: {e:?}"),
            other => match other.to_dom_error() {
                Some(e) => write!(f, "{e}"),
                None => Ok(()),
            },
        }
    }
}

impl<E: fmt::Debug> std::error::Error for RpcError<E> {}
