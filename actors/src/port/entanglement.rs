//! What both ends of one channel share: the entangled pair of port message queues (the
//! core's [`EntangledPair`], under one lock), each end's owner, and the has-been-shipped
//! flag.

use std::sync::{Arc, Mutex, MutexGuard};

use webmessaging_core::clone;
use webmessaging_core::port_queue::EntangledPair;

use webmessaging_core::port_queue::End;

use super::shipped::{DirMsg, PortAddr, PortDirectory, Slot};
use crate::realm_actor::{RealmAddr, RealmMessage};

/// The owner of a never-shipped port end: the realm actor that runs its tasks, and the
/// port's key there. (A shipped end is a port actor of its own, see `shipped`.)
///
/// The address is the realm's shared `Arc`: a wake-up clones the owner, and cloning an
/// actix `Addr` allocates twice (each sender gets its own task handle).
#[derive(Clone)]
pub(crate) struct PortOwner {
    pub(crate) addr: Arc<RealmAddr>,
    pub(crate) key: u64,
}

/// The two ends' queues of one channel, under one lock.
pub(crate) type Entanglement = Mutex<EntangledPair<Queued, PortOwner>>;

/// A message waiting in a port message queue: the core's compact [`QueuedMessage`] (six
/// words; a burst of a million messages keeps a million of them).
pub(crate) type Queued = clone::QueuedMessage;

/// Shared by both ends of one channel.
pub(crate) struct Channel {
    pub(crate) id: u64,
    pub(crate) pair: Entanglement,
    /// The has-been-shipped flag of both ports: set when either is transferred. Until
    /// then both ends belong to the realm that made the channel, and their tasks run from
    /// its event loop's unshipped port message queue, one queue entry per task; after,
    /// each end's queue is a task source of its own, woken once per burst.
    pub(crate) shipped: std::sync::atomic::AtomicBool,
    /// The bound of a bounded channel (see `bounded`), `None` for the standard's.
    pub(crate) bound: Option<super::bounded::Bound>,
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
        w.owner.addr.do_send(RealmMessage::PortReady {
            key: w.owner.key,
            generation: w.generation,
        });
    }
}

/// The data holder of a transferred port (`dataHolder.[[PortMessageQueue]]` and
/// `[[RemotePort]]`). Dropped undelivered (the message carrying it was discarded), it
/// closes the port, so the peer gets `close` instead of waiting forever.
pub(crate) struct PortDataHolder {
    pub(crate) channel: Option<Arc<Channel>>,
    pub(crate) end: End,
    pub(crate) generation: u64,
    /// The end's send half and dispatch cursor (step 2 of the re-homing protocol), and
    /// the channel's directory.
    pub(crate) shipped: Option<(
        webmessaging_core::rehoming::ShippedEnd<PortAddr, Slot>,
        actix::Addr<PortDirectory>,
    )>,
    /// Dropped without a trace (a doomed post: no `close` anywhere).
    pub(crate) silent: bool,
}

impl Drop for PortDataHolder {
    fn drop(&mut self) {
        if let Some((end, directory)) = self.shipped.take() {
            let channel = self.channel.as_ref().map_or(0, |c| c.id);
            let envelopes = if self.silent {
                Vec::new()
            } else {
                end.discard()
            };
            // Step 3: the port closes in band; the directory delivers to the peer.
            directory.do_send(DirMsg::Orphan {
                channel,
                end: self.end,
                envelopes,
            });
            return;
        }
        if let Some(ch) = self.channel.take() {
            let (dropped, w) = ch.lock().close(self.end);
            wake(w);
            drop(dropped);
        }
    }
}
