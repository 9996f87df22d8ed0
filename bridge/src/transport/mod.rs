//! What the bridge needs from a message store, as a trait: publish a frame durably and
//! idempotently, read the last frame of a subject (or every frame a consumer has not
//! acknowledged), consume a subject through a durable consumer that redelivers what was
//! not acknowledged, and keep one durable number per key (a receiver's cursor).
//!
//! [`NatsTransport`] is JetStream; [`MemoryTransport`] keeps everything in this process
//! (for unit tests and single-process demos), with faults to inject.

mod memory;
mod nats;

use std::future::Future;
use std::pin::Pin;

pub use memory::{Death, MemoryFaults, MemoryTransport};
pub use nats::{NatsConfig, NatsTransport};

/// A boxed, `Send` future (the trait's methods return these so it stays object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A failure of the store or of the connection to it. The bridge retries; at its API it
/// becomes an `AbortError`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("transport: {0}")]
pub struct TransportError(pub String);

impl From<TransportError> for webmessaging_core::Error {
    fn from(e: TransportError) -> Self {
        webmessaging_core::Error::Abort(e.to_string())
    }
}

/// Resolves when the store has the frame (`Ok`), or when that can no longer be known
/// (`Err`: send it again).
pub type StoreAck = BoxFuture<'static, Result<(), TransportError>>;

/// Acknowledges one delivery to the store (the durable cursor moves past it).
pub type Acker = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// One frame delivered to a durable consumer.
pub struct Delivery {
    /// The subject it was published on.
    pub subject: String,
    /// The frame's bytes.
    pub payload: Vec<u8>,
    /// Acknowledges it; until then the store delivers it again after a while.
    pub ack: Acker,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("subject", &self.subject)
            .field("len", &self.payload.len())
            .finish()
    }
}

/// Where to start a durable consumer the store does not know yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// From the subject's first stored frame (a port direction: nothing may be missed).
    First,
    /// From frames stored after the consumer is created (a broadcast: a channel hears
    /// what is posted once it exists).
    New,
}

/// A durable consumer's stream of deliveries. It survives the store's restarts (it
/// resubscribes by itself); `None` means it was shut down for good.
pub trait Inbox: Send {
    /// The next delivery.
    fn next(&mut self) -> BoxFuture<'_, Option<Delivery>>;
}

/// A durable consumer just opened.
pub struct Subscribed {
    /// Its deliveries.
    pub inbox: Box<dyn Inbox>,
}

impl std::fmt::Debug for Subscribed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Subscribed")
    }
}

/// A durable, deduplicating message store (JetStream, or memory).
pub trait Transport: Send + Sync + 'static {
    /// Hands `payload` to the connection for `subject`, deduplicated by `msg_id`; the
    /// returned [`StoreAck`] says when it is stored.
    fn publish(
        &self,
        subject: String,
        msg_id: String,
        payload: Vec<u8>,
    ) -> BoxFuture<'_, Result<StoreAck, TransportError>>;

    /// The last frame stored on `subject`, if any.
    fn last_on_subject(
        &self,
        subject: String,
    ) -> BoxFuture<'_, Result<Option<Vec<u8>>, TransportError>>;

    /// Every frame stored on `subject` after the acknowledgement floor of the durable
    /// consumer `durable` (the newest position such that it and every earlier one were
    /// acknowledged; every frame, if there is no such consumer), in store order. The
    /// floor is read before the frames.
    fn unacked_on_subject(
        &self,
        durable: String,
        subject: String,
    ) -> BoxFuture<'_, Result<Vec<Vec<u8>>, TransportError>>;

    /// Opens (creating it if needed) the durable consumer `durable` over `filter`
    /// (a subject, or a subject ending in `.*`).
    fn subscribe(
        &self,
        durable: String,
        filter: String,
        start: StartAt,
    ) -> BoxFuture<'_, Result<Subscribed, TransportError>>;

    /// The number last stored under `key` by [`store_cursor`](Transport::store_cursor),
    /// if any.
    fn load_cursor(&self, key: String) -> BoxFuture<'_, Result<Option<u64>, TransportError>>;

    /// Stores `value` under `key`, durably (it has survived a restart of the store once
    /// this resolves `Ok`).
    fn store_cursor(&self, key: String, value: u64) -> BoxFuture<'_, Result<(), TransportError>>;
}
