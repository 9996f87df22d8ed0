//! Bounded port message queues, opt-in (not in the standard, whose queues are
//! unbounded): a channel made with [`Scope::bounded_message_channel`] lets at most
//! `capacity` messages wait, in each direction, for the receiving end to dispatch them.
//!
//! What "waiting" counts: for a never-shipped channel, the tasks in the receiving end's
//! port message queue; once shipped, the messages the sending end sent and the receiver
//! has not acked yet (acks follow each batch of dispatches, so room comes back a batch
//! at a time). A queue that is not started yet (no `start()`, no `onmessage`) fills up.
//!
//! What a full queue means is the channel's [`Overflow`] policy:
//! - [`Overflow::Reject`]: `post` (and [`MessagePort::try_post`]) fails with
//!   `QuotaExceededError`, before anything is serialized or transferred, and the port
//!   gets a `drain` event (see [`MessagePort::on_drain`]) once room comes back: the
//!   producer waits for it and posts again, losing nothing (backpressure, across realms
//!   and threads).
//! - [`Overflow::DropOldest`]: `post` succeeds and the oldest message still waiting is
//!   dropped, counted ([`MessagePort::overflow_drops`]) and traced. `try_post` still
//!   fails on a full queue. (Once shipped, a dropped message's place is kept until the
//!   receiver acks it: its payload is freed, a few bytes stay.)
//!
//! An end held by a user's actor ([`AttachedPort`](super::AttachedPort)) keeps the same
//! bound: its `post` and `try_post` refuse as above, `DropOldest` drops the oldest, and
//! [`AttachedPort::ready`](super::AttachedPort::ready) (or
//! [`post_when_ready`](super::AttachedPort::post_when_ready)) is the asynchronous form
//! of `drain`: a future that resolves when there is room, so a producing actor awaits
//! instead of listening. What waits there counts from the post call (the port actor's
//! mailbox included) until the receiver acks it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use webmessaging_core::port_queue::Ownership;
use webmessaging_core::{Error, Result};

use webmessaging_core::serde_bridge::to_record;

use super::shipped::{PortAddr, Slot};
use super::{MessageChannel, MessagePort, PortObject, Queued};
use crate::event::{self, EventType, ListenerOutput, MessageEvent};
use crate::kernel::trace;
use crate::realm_actor::RealmMessage;
use crate::scope::Scope;
use webmessaging_core::rehoming::PortEnd;

/// What a bounded port queue does when it is full (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Refuse the post with `QuotaExceededError`; `drain` fires when room comes back.
    Reject,
    /// Accept the post and drop the oldest waiting message (counted, traced).
    DropOldest,
}

/// The bound of one channel, shared by both ends wherever they live.
pub(crate) struct Bound {
    capacity: usize,
    overflow: Overflow,
    /// Per sending end: it was refused and waits for `drain`.
    drain_wanted: [AtomicBool; 2],
    /// Per sending end: its messages dropped by `DropOldest`.
    dropped: [AtomicU64; 2],
}

impl Bound {
    pub(crate) fn new(capacity: usize, overflow: Overflow) -> Bound {
        Bound {
            capacity: capacity.max(1),
            overflow,
            drain_wanted: [AtomicBool::new(false), AtomicBool::new(false)],
            dropped: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }
}

/// How many messages from `port`'s end wait for its peer now.
fn waiting(port: &PortObject) -> usize {
    match port.shipped_port() {
        Some(sp) => sp.state.borrow().unacked(),
        None => port.channel.lock().queued(port.end.peer()),
    }
}

/// Before a post from `port`: `Ok(true)` when it goes in and the oldest waiting message
/// must then be dropped, `Ok(false)` when there is room (or no bound),
/// `QuotaExceededError` when it is refused (`strict`: `try_post`, whatever the policy).
pub(crate) fn before_post(port: &PortObject, strict: bool) -> Result<bool> {
    let Some(bound) = &port.channel.bound else {
        return Ok(false);
    };
    if waiting(port) < bound.capacity {
        return Ok(false);
    }
    if bound.overflow == Overflow::DropOldest && !strict {
        return Ok(true);
    }
    bound.drain_wanted[port.end.index()].store(true, Ordering::Release);
    Err(full(&port.name, bound.capacity))
}

/// The refusal of a post to a full bounded queue.
fn full(port: &str, capacity: usize) -> Error {
    Error::QuotaExceeded(format!(
        "{port}: the port queue is full ({capacity} waiting)"
    ))
}

/// Drops the oldest message a shipped end sent that is still waiting for its peer (its
/// payload: the place stays until acked); whether there was one.
fn drop_oldest_unacked(state: &PortEnd<PortAddr, Slot>) -> bool {
    state.unacked_messages().any(|slot| slot.take().is_some())
}

/// A message `port` sent was dropped by its full queue: logged and traced (the caller
/// counts it).
fn oldest_dropped(port: &str) {
    log::debug!(target: "webmessaging::port", "{port}: bounded queue full: the oldest message was dropped");
    trace::dropped(port, "bounded port queue full: oldest dropped");
}

/// After a post that went in with `drop_oldest`: drops the oldest message still waiting
/// for the peer.
pub(crate) fn after_post(port: &PortObject) {
    let Some(bound) = &port.channel.bound else {
        return;
    };
    let dropped = match port.shipped_port() {
        Some(sp) => drop_oldest_unacked(&sp.state.borrow()),
        None => port.channel.lock().drop_oldest(port.end.peer()).is_some(),
    };
    if dropped {
        bound.dropped[port.end.index()].fetch_add(1, Ordering::Relaxed);
        oldest_dropped(&port.name);
    }
}

/// `port` (the receiving end) dispatched a message: if its never-shipped peer was
/// refused and there is room now, `drain` fires at the peer (in this same realm).
pub(crate) fn dispatched(port: &PortObject) {
    let Some(bound) = &port.channel.bound else {
        return;
    };
    let sender = port.end.peer();
    if !bound.drain_wanted[sender.index()].load(Ordering::Acquire) || port.is_shipped() {
        return;
    }
    let pair = port.channel.lock();
    if pair.queued(port.end) >= bound.capacity {
        return;
    }
    let Ownership::Owned { owner, .. } = pair.ownership(sender) else {
        return;
    };
    let owner = owner.clone();
    drop(pair);
    if bound.drain_wanted[sender.index()].swap(false, Ordering::AcqRel) {
        owner
            .addr
            .do_send(RealmMessage::PortDrain { key: owner.key });
    }
}

/// `port` (a shipped sending end) got an ack: if it was refused and there is room now,
/// `drain` fires at it.
pub(crate) fn acked(port: &PortObject) {
    let Some(bound) = &port.channel.bound else {
        return;
    };
    let me = port.end.index();
    if bound.drain_wanted[me].load(Ordering::Acquire)
        && waiting(port) < bound.capacity
        && bound.drain_wanted[me].swap(false, Ordering::AcqRel)
    {
        if let Some(realm) = port.realm.upgrade() {
            realm
                .shared_addr
                .do_send(RealmMessage::PortDrain { key: port.key });
        }
    }
}

/// The bound of a channel at an end held by a user's actor: what this end posted and the
/// receiver has not acked yet, counted from the post call (on any thread) and shared
/// with the end's port actor, which counts the acks back and wakes who waits for room.
pub(crate) struct ActorFlow {
    capacity: usize,
    overflow: Overflow,
    /// Posted (from the call) and not acked yet.
    in_flight: AtomicUsize,
    /// The other end closed, or this one did: nothing will make room again.
    closed: AtomicBool,
    room: tokio::sync::Notify,
    /// Messages dropped by `DropOldest`.
    dropped: AtomicU64,
}

impl ActorFlow {
    /// The flow of `bound`'s channel at an end held by an actor.
    pub(crate) fn new(bound: &Bound) -> ActorFlow {
        ActorFlow {
            capacity: bound.capacity,
            overflow: bound.overflow,
            in_flight: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            room: tokio::sync::Notify::new(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Before a post: takes a place in the queue if there is one. A full queue refuses
    /// with `QuotaExceededError` (`strict`, or `Reject`), or takes the post anyway
    /// (`DropOldest`: the port actor drops the oldest then).
    pub(crate) fn admit(&self, strict: bool) -> Result<()> {
        let r = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            });
        if r.is_ok() {
            return Ok(());
        }
        if self.overflow == Overflow::DropOldest && !strict {
            self.in_flight.fetch_add(1, Ordering::AcqRel);
            return Ok(());
        }
        Err(full("actor port", self.capacity))
    }

    /// A post that goes in whatever the room (counted all the same).
    pub(crate) fn force(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    /// The receiver acked `n` more of this end's messages: room for as many.
    pub(crate) fn acked(&self, n: usize) {
        if n == 0 {
            return;
        }
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |k| {
                Some(k.saturating_sub(n))
            });
        self.room.notify_waiters();
    }

    /// The port actor queued a post: with `DropOldest`, past the capacity, the oldest
    /// message still waiting loses its payload (counted, traced; its place stays until
    /// acked).
    pub(crate) fn after_post(&self, state: &PortEnd<PortAddr, Slot>) {
        if self.overflow != Overflow::DropOldest || state.unacked() <= self.capacity {
            return;
        }
        if drop_oldest_unacked(state) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            oldest_dropped("actor port");
        }
    }

    /// Nothing will make room again (either end closed).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.room.notify_waiters();
    }

    /// Resolves once a post would find room: `Ok` at once on room, `InvalidStateError`
    /// once the port is closed.
    pub(crate) async fn ready(&self) -> Result<()> {
        loop {
            let notified = self.room.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so that an ack between the check and the
            // wait still wakes it.
            notified.as_mut().enable();
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::InvalidState("the port is closed".into()));
            }
            if self.in_flight.load(Ordering::Acquire) < self.capacity {
                return Ok(());
            }
            notified.await;
        }
    }

    /// Messages dropped by `DropOldest`.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The channel's capacity.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether the port is known closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl Scope {
    /// A `MessageChannel` whose queues hold at most `capacity` waiting messages in each
    /// direction, with the `overflow` policy for a full one (see
    /// [`crate::port::bounded`]). `MessageChannel()` itself stays unbounded.
    pub fn bounded_message_channel(&self, capacity: usize, overflow: Overflow) -> MessageChannel {
        MessageChannel::new_bounded_in(&self.0, Some(Bound::new(capacity, overflow)))
    }
}

impl MessagePort {
    /// [`post`](Self::post), or [`try_post`](Self::try_post) when `strict`.
    pub(super) fn post_bounded<T: serde::Serialize + ?Sized>(
        &self,
        data: &T,
        strict: bool,
    ) -> Result<()> {
        self.post_checked(&[], strict, |_| {
            // Nothing transferred: the record alone is the queued message.
            Ok(Queued::plain(to_record(data)?))
        })
    }

    /// Posts any `T: Serialize`, failing with `QuotaExceededError` if this port's
    /// bounded peer queue is full, whatever the channel's policy (nothing is sent then;
    /// `drain` fires when room comes back). On an unbounded channel, the same as
    /// [`post`](Self::post).
    pub fn try_post<T: serde::Serialize + ?Sized>(&self, data: &T) -> Result<()> {
        self.post_bounded(data, true)
    }

    /// `port.ondrain = listener` (not in the standard): fires once room comes back in
    /// this port's bounded peer queue after a post was refused.
    pub fn on_drain<F, R>(&self, listener: F)
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.keep_alive();
        self.0
            .listeners
            .set_handler(EventType::Drain, Some((event::untyped(listener), false)));
    }

    /// How many messages this port sent were dropped by its bounded peer queue
    /// (`Overflow::DropOldest`).
    pub fn overflow_drops(&self) -> u64 {
        self.0
            .channel
            .bound
            .as_ref()
            .map_or(0, |b| b.dropped[self.0.end.index()].load(Ordering::Relaxed))
    }

    /// The capacity of this port's channel, if it is bounded.
    pub fn capacity(&self) -> Option<usize> {
        self.0.channel.bound.as_ref().map(|b| b.capacity)
    }
}
