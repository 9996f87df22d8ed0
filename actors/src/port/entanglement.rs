//! What both ends of one channel share: the entangled pair of port message queues (the
//! core's [`EntangledPair`], under one lock), each end's owner, and the has-been-shipped
//! flag.

use std::sync::{Arc, Mutex, MutexGuard};

use webmessaging_core::clone::{self, SerializedRecord, SerializedWithTransfer};
use webmessaging_core::port_queue::EntangledPair;

use crate::realm_actor::{RealmAddr, RealmMessage};

/// The owner of a port end: a realm, or a user's actor.
#[derive(Clone)]
pub(crate) enum PortOwner {
    /// The realm actor that runs the port's tasks, and the port's key there.
    ///
    /// The address is the realm's shared `Arc`: a wake-up clones the owner, and cloning
    /// an actix `Addr` allocates twice (each sender gets its own task handle), once per
    /// message when every message wakes the realm (a ping-pong).
    Realm {
        /// The realm's address.
        addr: Arc<RealmAddr>,
        /// The port's key in the realm.
        key: u64,
    },
    /// An actix actor outside any realm ([`ActorPort`](super::ActorPort)): a wake-up
    /// drains the queue into the actor's mailbox.
    Actor(Arc<dyn ActorSink>),
}

impl PortOwner {
    /// The port's key in its realm, for a realm owner.
    pub(crate) fn realm_key(&self) -> Option<u64> {
        match self {
            PortOwner::Realm { key, .. } => Some(*key),
            PortOwner::Actor(_) => None,
        }
    }
}

/// Where an actor-held port's tasks go.
pub(crate) trait ActorSink: Send + Sync {
    /// Runs every task the end has now (the wake-up for `generation`).
    fn run(&self, generation: u64);
}

/// The two ends' queues of one channel, under one lock.
pub(crate) type Entanglement = Mutex<EntangledPair<Queued, PortOwner>>;

/// A message waiting in a port message queue. Without transferables (the usual case) it
/// is the record alone, so a queued message is half the size of a
/// `SerializedWithTransfer` (a burst of a million messages keeps a million of them).
pub(crate) enum Queued {
    /// A message without transferables: its record.
    Plain(SerializedRecord),
    /// A message with transferables.
    WithTransfer(Box<SerializedWithTransfer>),
}

impl Queued {
    pub(crate) fn new(s: SerializedWithTransfer) -> Queued {
        if s.transfer.is_empty() {
            Queued::Plain(s.record)
        } else {
            Queued::WithTransfer(Box::new(s))
        }
    }

    pub(crate) fn into_parts(self) -> (SerializedRecord, clone::TransferData) {
        match self {
            Queued::Plain(record) => (record, clone::TransferData::empty()),
            Queued::WithTransfer(s) => {
                let SerializedWithTransfer { record, transfer } = *s;
                (record, transfer)
            }
        }
    }
}

/// Shared by both ends of one channel.
pub(crate) struct Channel {
    pub(crate) id: u64,
    pub(crate) pair: Entanglement,
    /// The has-been-shipped flag of both ports: set when either is transferred. Until
    /// then both ends belong to the realm that made the channel, and their tasks run from
    /// its event loop's unshipped port message queue, one queue entry per task; after,
    /// each end's queue is a task source of its own, woken once per burst.
    pub(crate) shipped: std::sync::atomic::AtomicBool,
}

impl Channel {
    pub(crate) fn lock(&self) -> MutexGuard<'_, EntangledPair<Queued, PortOwner>> {
        // A panic while holding this lock can only come from the runtime itself (no user
        // code runs under it); the state stays consistent, so keep going.
        self.pair.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Tells a shipped port's owner that its queue has a task (the wake-up protocol of
/// [`EntangledPair`]).
pub(crate) fn wake(w: Option<webmessaging_core::port_queue::Wake<PortOwner>>) {
    if let Some(w) = w {
        match w.owner {
            PortOwner::Realm { addr, key } => addr.do_send(RealmMessage::PortReady {
                key,
                generation: w.generation,
            }),
            PortOwner::Actor(sink) => sink.run(w.generation),
        }
    }
}
