//! # webmessaging-nats
//!
//! A bridge that lets [`Browser`]s in different processes (or machines) share
//! MessageChannels (one end in each process) and BroadcastChannels of one (origin,
//! name), over [NATS JetStream](https://docs.nats.io/nats-concepts/jetstream). A
//! package of its own, so the core and the runtime keep their dependency set.
//!
//! ```no_run
//! use webmessaging::prelude::*;
//! use webmessaging::ActorPort;
//! use webmessaging_nats::{Bridge, NatsConfig, PortOrigins};
//!
//! # async fn page() -> webmessaging::Result<()> {
//! // Process 1: a page exports one end of a channel under the name "pricing".
//! let bridge = Bridge::connect_nats("nats://127.0.0.1:4222", "page", NatsConfig::default()).await?;
//! let browser = Browser::new();
//! let page = browser.open("https://app.example/")?;
//! let end = page
//!     .run(|scope: &Scope| {
//!         let (mine, theirs) = scope.message_channel().into_ports();
//!         mine.on_message_as(|_: &Scope, _: &MessageEvent, price: u32| println!("{price}"));
//!         mine.post(&"quote?").ok();
//!         scope.set_global(mine);
//!         ActorPort::take(&theirs)
//!     })
//!     .await??;
//! let origins = PortOrigins { local: "https://app.example".into(), admit: "https://pricing.example".into() };
//! let _link = bridge.export_port("pricing", end, origins).await?;
//! # Ok(()) }
//! # async fn service(window: WindowHandle) -> webmessaging::Result<()> {
//! // Process 2: the service imports "pricing" into one of its realms.
//! let bridge = Bridge::connect_nats("nats://127.0.0.1:4222", "service", NatsConfig::default()).await?;
//! let _link = bridge
//!     .import_port("pricing", &window, "https://app.example", |scope: &Scope, port: MessagePort| {
//!         port.on_message(|_: &Scope, e: &MessageEvent| println!("{:?}", e.data()));
//!         scope.set_global(port);
//!     })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # Guarantees across the wire
//!
//! | guarantee | how |
//! | --- | --- |
//! | per port, FIFO, exactly once, nothing lost | one subject per port direction in one file-backed JetStream stream; the sender numbers its frames and keeps each until the server confirms it stored ([`seq::Outbox`]), resending from the oldest unconfirmed under the same `Nats-Msg-Id` (dedup); the receiver's cursor ([`seq::Reorder`]) drops copies and holds early frames; it hands frames to the realm in rounds, stores its cursor behind them (a key-value bucket beside the stream; one write in flight, at most 8 rounds handed and not stored), and acknowledges a round once a cursor covering it is stored |
//! | across a restart of the NATS server | the stream, the dedup ids, the cursors and the durable consumers are on disk; the client reconnects, unconfirmed frames are resent, unacknowledged deliveries come again |
//! | across a restart of either process | a receiver resumes after its stored cursor (not its consumer's acknowledgement floor, which frames stored out of order make wrong); a sender continues past the highest number stored in its direction (not the last frame stored), and if its predecessor died with a hole in what it stored, its first frame declares what followed the hole void ([`frame::FrameBody::Resume`]): the receiver gets a prefix of what the dead side posted, then what its successor posts (what a process had not got stored when it died dies with it, as its realm does) |
//! | broadcast order per sender | a subject and a cursor per sending node |
//! | origins | every frame carries the sending realm's origin; the receiving side drops and counts ([`Stats::origin_mismatches`]) any frame whose origin is not the one it admits (a port: the one given at import or export; a broadcast: the relay's own) |
//! | `close` crosses | an in-band, numbered close frame, after every message before it |
//!
//! Origins on the wire are claims, not proofs: who may publish on the bridge's subjects
//! is NATS's to restrict (accounts and permissions).
//!
//! # What does not cross
//!
//! Ports in a bridged message's transfer list (closed, counted in
//! [`Stats::ports_dropped`]) and Blobs (a record's Blob bytes stay in its process; the
//! receiver gets `messageerror`).
//!
//! # Threads
//!
//! A bridge's tasks run on the thread that calls it (an actix System's, where `Browser`
//! lives): awaiting is fine, blocking that thread (a `std` channel's `recv`, a sleep)
//! stalls the bridge.
//!
//! # Known limits
//!
//! - **At least once across a receiver's crash, in one window**: a receiving process
//!   that dies after handing rounds of frames to its realm and before the store has the
//!   cursor covering them hands them again to its next incarnation's realm: at most 8
//!   rounds of at most 1,000 frames (8,000 frames; the cursor is written behind the
//!   rounds, one write in flight, after 4 rounds or 2 ms). The cursor is written after
//!   the hand-over because the other order would lose them; closing the window would
//!   take storing the realm's state with the cursor. A crash anywhere else is exactly
//!   once.
//! - A restarted port sender reads what its predecessor stored; it must start once the
//!   predecessor's connection is gone (a process that died, not one still flushing),
//!   or a frame of the predecessor stored after that reading can take a number the new
//!   sender uses.
//! - A broadcast sender that restarts continues after the last frame it stored (its
//!   readers are many and keep no cursor it could read): after an out-of-order store its
//!   first new frame can be taken for a copy.
//! - A relay's cursor for a broadcast sender starts at the first frame it gets from that
//!   sender; if that frame overtook an earlier one, the earlier one is dropped as old.
//! - Names identify channels: exporting two channels under one name mixes them.
//!
//! # Testing without a server
//!
//! The bridge is generic over a [`Transport`]: [`NatsTransport`] is JetStream,
//! [`MemoryTransport`] an in-process store with faults to inject.
#![deny(missing_docs)]

mod broadcast;
pub mod frame;
mod link;
mod pipeline;
mod port;
pub mod seq;
mod stats;
pub mod transport;

use std::sync::Arc;

use webmessaging::{ActorPort, Browser, MessagePort, Scope, WindowHandle};
use webmessaging_core::{Error, Result};

pub use broadcast::BridgedBroadcast;
pub use port::{BridgedPort, PortOrigins, Role};
pub use stats::Stats;
pub use transport::{
    Death, MemoryFaults, MemoryTransport, NatsConfig, NatsTransport, Transport, TransportError,
};

/// One process's side of the bridge: a store connection and this process's node id.
/// `Clone`: clones share the connection.
#[derive(Clone)]
pub struct Bridge {
    transport: Arc<dyn Transport>,
    prefix: String,
    node: String,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bridge({})", self.node)
    }
}

/// Names on the bridge become subject tokens: letters, digits, `-` and `_`, 1 to 64.
fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::Syntax(format!(
            "{what} {name:?}: use 1 to 64 letters, digits, '-' or '_'"
        )))
    }
}

impl Bridge {
    /// A bridge over `transport`, as node `node` (unique among the processes sharing a
    /// BroadcastChannel), with subjects under `prefix`.
    ///
    /// # Errors
    /// `SyntaxError` if `node` or `prefix` is not 1 to 64 letters, digits, `-` or `_`.
    pub fn new(transport: impl Transport, prefix: &str, node: &str) -> Result<Bridge> {
        check_name("node", node)?;
        check_name("prefix", prefix)?;
        Ok(Bridge {
            transport: Arc::new(transport),
            prefix: prefix.to_owned(),
            node: node.to_owned(),
        })
    }

    /// Connects to a NATS server running JetStream (`nats-server -js`) at `url`.
    ///
    /// # Errors
    /// `AbortError` if the server cannot be reached or refuses the stream; `SyntaxError`
    /// for a bad node id or prefix.
    pub async fn connect_nats(url: &str, node: &str, config: NatsConfig) -> Result<Bridge> {
        let prefix = config.prefix.clone();
        check_name("node", node)?;
        check_name("prefix", &prefix)?;
        let transport = NatsTransport::connect(url, config).await?;
        Bridge::new(transport, &prefix, node)
    }

    /// This process's node id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Sends `port` (an end taken out of a realm with [`ActorPort::take`]) over the
    /// bridge under `name`; the process that imports `name` holds the other side. Call
    /// it from inside an actix arbiter (the end's actor starts on this thread).
    ///
    /// # Errors
    /// `SyntaxError` if `name` is not 1 to 64 letters, digits, `-` or `_`.
    pub async fn export_port(
        &self,
        name: &str,
        port: ActorPort,
        origins: PortOrigins,
    ) -> Result<BridgedPort> {
        self.link_port(name, Role::Exporter, port, origins)
    }

    /// Receives the channel exported under `name` into `window`'s realm: a new channel
    /// is created there, `f` gets its local end (as a task of the realm: set listeners,
    /// keep it), and the other end is bridged. Frames are admitted from `admit` only
    /// (ASCII serialization of an origin); this side's frames carry the realm's origin.
    ///
    /// # Errors
    /// `SyntaxError` for a bad name; `AbortError` if the realm is gone.
    pub async fn import_port<F>(
        &self,
        name: &str,
        window: &WindowHandle,
        admit: &str,
        f: F,
    ) -> Result<BridgedPort>
    where
        F: FnOnce(&Scope, MessagePort) + Send + 'static,
    {
        check_name("port name", name)?;
        let (end, local) = port::channel_in_realm(window, f).await?;
        let origins = PortOrigins {
            local,
            admit: admit.to_owned(),
        };
        self.link_port(name, Role::Importer, end, origins)
    }

    /// Bridges `port` as one `role` of the channel `name` (what
    /// [`export_port`](Bridge::export_port) and [`import_port`](Bridge::import_port)
    /// do). Call it from inside an actix arbiter.
    ///
    /// # Errors
    /// `SyntaxError` for a bad name.
    pub fn link_port(
        &self,
        name: &str,
        role: Role,
        port: ActorPort,
        origins: PortOrigins,
    ) -> Result<BridgedPort> {
        check_name("port name", name)?;
        Ok(port::PortLink {
            transport: self.transport.clone(),
            prefix: self.prefix.clone(),
            name: name.to_owned(),
            role,
            origins,
        }
        .start(port))
    }

    /// Bridges the BroadcastChannels named `name` of `url`'s origin in `browser` with
    /// those of every other process that bridges them: a relay window opens at `url`.
    ///
    /// # Errors
    /// `SyntaxError` for a bad URL; `AbortError` if the relay could not start.
    pub async fn bridge_broadcast(
        &self,
        browser: &Browser,
        url: &str,
        name: &str,
    ) -> Result<BridgedBroadcast> {
        broadcast::start(
            self.transport.clone(),
            &self.prefix,
            &self.node,
            browser,
            url,
            name,
        )
        .await
    }
}
