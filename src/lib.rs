//! # webmessaging-core
//!
//! The part of [webmessaging](https://html.spec.whatwg.org/multipage/web-messaging.html)
//! that needs no actor runtime: everything here is synchronous, pure and unit-tested,
//! so it can be fuzzed and reused under another runtime.
//!
//! - [`origin`]: origins (tuple and opaque), their serialization and same-origin checks.
//! - [`target_origin`]: the `targetOrigin` argument of `Window.postMessage`.
//! - [`value`]: the JavaScript values a message can carry, with object identity.
//! - [`clone`]: `StructuredSerializeWithTransfer` / `StructuredDeserializeWithTransfer`,
//!   the compact binary record they produce, and `structuredClone`.
//! - [`serde_bridge`]: any `T: Serialize` straight to a record and back to any
//!   `T: Deserialize`.
//! - [`port_queue`]: the port message queues of two entangled ports, as a plain state
//!   machine that the runtime's port objects drive.
//! - [`error`]: exceptions with the standard's names.
//!
//! This crate never depends on actix; the runtime package `webmessaging` builds the
//! windows, workers, ports and broadcast registry on top of it.
#![deny(missing_docs)]

pub mod clone;
pub mod error;
pub mod origin;
pub mod port_queue;
pub mod serde_bridge;
pub mod target_origin;
pub mod value;

pub use error::{Error, ExceptionName, Result};
