//! Options of connections and calls.

use std::time::Duration;

use webmessaging_core::origin::Origin;
use webmessaging_core::{Error, Result};

/// The deadline of a call when nothing else is said.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// How [`connect`](super::connect) and [`connect_port`](super::connect_port) connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub(crate) target_origin: Option<String>,
    pub(crate) deadline: Option<Duration>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions::new()
    }
}

impl ConnectOptions {
    /// The defaults: the service must have the caller's own origin, and calls have a
    /// deadline of 30 s.
    pub fn new() -> Self {
        ConnectOptions {
            target_origin: None,
            deadline: Some(DEFAULT_DEADLINE),
        }
    }

    /// The service's window must have this origin (the `targetOrigin` of the handshake).
    ///
    /// # Errors
    /// `SyntaxError` if `origin` is not an absolute URL, or is `*` (a port handed to any
    /// origin is the hole this layer closes), or `/`.
    pub fn to_origin(origin: &str) -> Result<Self> {
        let origin = parse_origin(origin)?;
        Ok(ConnectOptions {
            target_origin: Some(origin),
            ..ConnectOptions::new()
        })
    }

    /// The deadline of every call, unless a call says otherwise; `None` for no deadline
    /// (a call then still ends when the connection is lost, or when cancelled).
    pub fn deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
        self
    }
}

/// Parses an origin for an allow-list or a `targetOrigin`: an absolute URL, not `*`.
pub(crate) fn parse_origin(origin: &str) -> Result<String> {
    if origin.trim() == "*" || origin.trim() == "/" {
        return Err(Error::Syntax(format!(
            "{origin:?} is not allowed here: name the origin"
        )));
    }
    let parsed = Origin::parse_url(origin)?;
    if parsed.is_opaque() {
        return Err(Error::Syntax(format!("{origin:?} is an opaque origin")));
    }
    Ok(parsed.serialize().to_owned())
}

/// Options of one call.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallOptions {
    deadline: Option<Option<Duration>>,
}

impl CallOptions {
    /// This call's deadline.
    pub fn deadline(deadline: Duration) -> Self {
        CallOptions {
            deadline: Some(Some(deadline)),
        }
    }

    /// No deadline for this call (it still ends on close, cancellation or answer).
    pub fn no_deadline() -> Self {
        CallOptions {
            deadline: Some(None),
        }
    }

    pub(crate) fn resolve(self, default: Option<Duration>) -> Option<Duration> {
        self.deadline.unwrap_or(default)
    }
}

/// A connection was established: which instance of the service answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The serving realm: its name and a serial of the realm, like
    /// `https://contacts.example/#2 (realm 5)`; a reload or restart gives a new one.
    pub instance: String,
    /// 0 for the first connection, then one more per reconnection.
    pub epoch: u32,
}
