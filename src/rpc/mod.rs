//! The actor-free part of typed RPC over message ports: which calls are pending, how each
//! one ends (exactly once), and the credits of a stream.
//!
//! The runtime's `webmessaging::rpc` layer puts requests on a `MessagePort` (the HTML
//! Standard's [channel messaging](https://html.spec.whatwg.org/multipage/web-messaging.html#channel-messaging))
//! and matches the answers to the calls that are waiting. Everything that decides *which*
//! call an event ends lives here, as plain state machines with property tests
//! (`tests/rpc_calls.rs`):
//!
//! - [`calls`]: the correlation table. Every call gets a fresh id; it ends exactly once,
//!   by its answer, its deadline, its cancellation or the loss of the connection,
//!   whichever comes first. Calls made while the connection is being (re)established wait
//!   in order and are sent when it opens; calls that were in flight when it was lost are
//!   rejected, never sent again.
//! - [`credit`]: credit-based flow control for streams. The consumer grants credit, the
//!   producer sends one item per credit and queues the rest; the consumer never has more
//!   than its window of items in flight.

pub mod calls;
pub mod credit;

pub use calls::{CallEnd, CallId, CallTable, Phase, Start};
pub use credit::{CreditReceiver, CreditSender, Overrun};
