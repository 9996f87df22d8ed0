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
//! - [`rehoming`]: the re-homing protocol of shipped ports (sequence numbers, epochs,
//!   cumulative acks, a directory), as plain state machines with property tests.
//! - [`rate_limit`]: the token bucket that rate-limits a sender's messages to a target.
//! - [`rpc`]: the correlation table of RPC calls (ids, deadlines, cancellation, loss of
//!   the connection) and stream credits, as plain state machines with property tests.
//! - [`error`]: exceptions with the standard's names.
//!
//! ```
//! use webmessaging_core::clone::structured_clone;
//! use webmessaging_core::origin::Origin;
//! use webmessaging_core::target_origin::TargetOrigin;
//! use webmessaging_core::value::{Object, Value};
//! use webmessaging_core::ExceptionName;
//!
//! // Origins and the targetOrigin check of window.postMessage.
//! let app = Origin::parse_url("https://app.example:443/page").unwrap();
//! assert_eq!(app.serialize(), "https://app.example");
//! let target = TargetOrigin::parse("https://app.example/").unwrap().resolve(&app);
//! assert!(target.admits(&app));
//! assert!(!target.admits(&Origin::parse_url("https://evil.example/").unwrap()));
//! assert_eq!(TargetOrigin::parse("not an origin").unwrap_err().name(), ExceptionName::SyntaxError);
//!
//! // Structured clone keeps shared references and cycles...
//! let obj = Object::new_plain();
//! obj.set("name", Value::from("Guillaume Tell"));
//! obj.set("self", Value::Object(obj.clone()));
//! let copy = structured_clone(&Value::Object(obj.clone()), &[]).unwrap();
//! let copy = copy.as_object().unwrap();
//! assert!(!Object::ptr_eq(copy, &obj));
//! assert!(Object::ptr_eq(copy.get("self").unwrap().as_object().unwrap(), copy));
//! // ...and refuses what JavaScript cannot clone.
//! let f = Value::Object(Object::new_function("onMessage"));
//! assert_eq!(structured_clone(&f, &[]).unwrap_err().name(), ExceptionName::DataCloneError);
//! ```
//!
//! This crate never depends on actix; the runtime package `webmessaging` builds the
//! windows, workers, ports and broadcast registry on top of it.
#![deny(missing_docs)]

pub mod clone;
pub mod error;
pub mod origin;
pub mod port_queue;
pub mod rate_limit;
pub mod rehoming;
pub mod rpc;
pub mod serde_bridge;
pub mod target_origin;
pub mod value;

pub use error::{Error, ExceptionName, Result};
