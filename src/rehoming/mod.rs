//! The port re-homing protocol, as plain state machines: how the two ends of a shipped
//! channel, each living where its owner lives, keep every message exactly once and in
//! order while either end moves between owners (realms, threads, processes).
//!
//! A port whose "has been shipped" flag is set
//! ([transfer steps](https://html.spec.whatwg.org/multipage/web-messaging.html#message-ports))
//! cannot share a queue with its twin any more: its owner may be on another thread and
//! may stop right after the transfer. Each end is then a [`PortEnd`] at its owner (one
//! *incarnation* per owner, numbered by an *epoch*), the ends know each other's address
//! `A`, and a [`Directory`] publishes where each end lives now. Nothing here knows about
//! threads or actors: the runtime turns each [`Effect`] into a message to an address, and
//! the property tests below drive the protocol over a simulated network that loses
//! whatever is addressed to a stopped owner.
//!
//! # The protocol, step by step
//!
//! 1. Per direction, messages carry a sequence number that runs on across incarnations.
//!    The sender keeps every message ([`PortEnd::post`]) until the receiving end has
//!    dispatched it (cumulative acks, [`PortEnd::on_ack`]), so nothing depends on an old
//!    owner's thread.
//! 2. Ship ([`PortEnd::ship`], inside `postMessage`): the send half (the peer's address and
//!    epoch, the next sequence number, the unacked messages) and the dispatch cursor (the
//!    last sequence number dispatched) go into a [`ShippedEnd`] with the next epoch; the
//!    old incarnation stops and drops whatever reaches it afterwards, without dispatching
//!    or acking it. Its owner may then close, navigate, crash or be stopped.
//! 3. If the message carrying the end is discarded ([`ShippedEnd::discard`]), the end
//!    closes in band: a numbered `Close` after its unacked messages, all handed to the
//!    directory ([`Directory::orphan`]), which delivers them to the peer.
//! 4. Receive ([`ShippedEnd::receive`]), at the end of the delivering task: the next
//!    incarnation starts at the new owner, its queue disabled, expecting the message after
//!    the cursor, and registers with the directory (epoch, address, resume point).
//! 5. The directory ([`Directory::register`]) ignores a registration whose epoch is not
//!    newer, tells the peer's current incarnation the new address, and tells the newcomer
//!    the peer's latest address.
//! 6. On a newer peer epoch ([`PortEnd::on_peer_moved`]) an end swaps the address,
//!    resends in order every unacked message after the resume point, and acks what it has
//!    dispatched. A receiver drops every sequence number it has already accepted. Both
//!    ends moving at once converge, because the directory always answers with the other
//!    end's latest entry.
//! 7. `close()` ([`PortEnd::close`]) is an in-band, numbered `Close`. An owner torn down
//!    with unacked sends hands them to the directory ([`PortEnd::orphan`]), which delivers
//!    them to the peer's next incarnation too.
//!
//! ```
//! use webmessaging_core::port_queue::End;
//! use webmessaging_core::rehoming::{Body, Directory, Effect, PortEnd};
//!
//! // Two ends at addresses 1 and 2; end 2 moves to address 3 while a message is on its way.
//! let mut a: PortEnd<u32, &str> = PortEnd::new(End::First, 1, 2);
//! let b: PortEnd<u32, &str> = PortEnd::new(End::Second, 2, 1);
//! let mut dir: Directory<u32, &str> = Directory::new(1, 2);
//! let _lost = a.post("hello"); // reaches address 2 after it stopped: dropped there
//! let (mut b, register) = b.ship().receive(3);
//! let Effect::Register { end, location } = register else { unreachable!() };
//! // The directory tells `a` where its peer lives now; `a` sends again what is unacked.
//! let told = dir.register(end, location);
//! let Effect::PeerMoved { peer, .. } = told[0].clone() else { unreachable!() };
//! let resent = a.on_peer_moved(peer);
//! let Effect::Deliver { to, envelopes, .. } = resent[0].clone() else { unreachable!() };
//! assert_eq!(to, 3);
//! b.on_deliver(envelopes);
//! b.start();
//! assert_eq!(b.next_dispatch(), Some(Body::Message("hello")));
//! // Its ack lets `a` forget the message.
//! if let Some(Effect::Ack { upto, .. }) = b.ack() {
//!     a.on_ack(upto);
//! }
//! assert_eq!(a.unacked(), 0);
//! ```

mod directory;
mod port_end;

#[cfg(test)]
mod tests;

pub use directory::Directory;
pub use port_end::{PortEnd, ShippedEnd};

use crate::port_queue::End;

/// What travels in one direction of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<M> {
    /// A message (fires `message` at the receiving port).
    Message(M),
    /// The sending end closed (fires `close` at the receiving port, after every message
    /// sent before it).
    Close,
}

/// A numbered [`Body`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<M> {
    /// Its sequence number in its direction (0, 1, 2, ... across incarnations).
    pub seq: u64,
    /// What it carries.
    pub body: Body<M>,
}

/// Where an end lives: its owner's address and the epoch of its incarnation there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location<A> {
    /// The incarnation's address.
    pub addr: A,
    /// The incarnation's epoch (0 for the channel's first owner, one more per transfer).
    pub epoch: u64,
    /// The last sequence number it had dispatched when it started (`None`: none yet): a
    /// sender resends what comes after.
    pub resume_after: Option<u64>,
}

/// What a state machine asks the runtime to do: send something to an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect<A, M> {
    /// Deliver these envelopes, in order, to the incarnation at `to`.
    Deliver {
        /// The receiving incarnation.
        to: A,
        /// Which end it is (the end opposite the sender).
        end: End,
        /// In sequence order.
        envelopes: Vec<Envelope<M>>,
    },
    /// Tell the incarnation at `to` that its peer dispatched everything up to `upto`.
    Ack {
        /// The sending end's incarnation.
        to: A,
        /// Which end it is.
        end: End,
        /// The last sequence number dispatched.
        upto: u64,
    },
    /// Tell the incarnation at `to` where its peer lives now.
    PeerMoved {
        /// The incarnation to tell.
        to: A,
        /// Which end it is.
        end: End,
        /// Where its peer lives now.
        peer: Location<A>,
    },
    /// Register `location` as where `end` lives now (for the directory).
    Register {
        /// The end that moved.
        end: End,
        /// Where it lives now.
        location: Location<A>,
    },
}

/// Whether `seq` comes after the resume point `after`.
pub(crate) fn after(seq: u64, after: Option<u64>) -> bool {
    after.is_none_or(|a| seq > a)
}
