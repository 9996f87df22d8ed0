//! serde's error type for the bridge: every failure is a `DataCloneError`.

use serde::{de, ser};

use crate::clone::clone_err;
use crate::error::Error;

/// serde's error type for the bridge: a crate [`Error`] (always `DataClone` from serde).
#[derive(Debug)]
pub(super) struct SerdeError(pub(super) Box<Error>);

impl SerdeError {
    /// Boxed, so that every `Result` the (de)serializer passes around stays two words.
    #[cold]
    pub(super) fn new(e: Error) -> SerdeError {
        SerdeError(Box::new(e))
    }
}

impl std::fmt::Display for SerdeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.message())
    }
}

impl std::error::Error for SerdeError {}

impl ser::Error for SerdeError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        SerdeError::new(clone_err(format!("cannot serialize: {msg}")))
    }
}

impl de::Error for SerdeError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        SerdeError::new(clone_err(msg.to_string()))
    }
}

impl From<Error> for SerdeError {
    #[cold]
    #[inline(never)]
    fn from(e: Error) -> Self {
        SerdeError(Box::new(e))
    }
}

pub(super) type SResult<T> = std::result::Result<T, SerdeError>;
