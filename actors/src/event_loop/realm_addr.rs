//! The address of a realm: its event loop's actor and its id in that loop.

use std::sync::Arc;

use actix::Addr;

use super::{counts_in_load, trace_load, EventLoop, Host, LoopMessage, LoopShared, Task};
use crate::kernel::metrics::LoopLoad;
use crate::kernel::TaskSource;

/// The address of one realm hosted by an event loop: the loop's address and the realm's
/// id. From the loop's own thread, [`do_send`](Self::do_send) queues directly.
pub(crate) struct RealmAddr<H: Host> {
    event_loop: LoopAddr<H>,
    realm: u64,
}

impl<H: Host> Clone for RealmAddr<H> {
    fn clone(&self) -> Self {
        RealmAddr {
            event_loop: self.event_loop.clone(),
            realm: self.realm,
        }
    }
}

impl<H: Host> PartialEq for RealmAddr<H> {
    fn eq(&self, other: &Self) -> bool {
        self.event_loop == other.event_loop && self.realm == other.realm
    }
}

impl<H: Host> RealmAddr<H> {
    /// The address of realm `realm` of the loop `event_loop` (whose id is `loop_id` and
    /// whose waiting message tasks `load` counts).
    pub(crate) fn new(
        event_loop: Addr<EventLoop<H>>,
        loop_id: u64,
        realm: u64,
        load: Arc<LoopLoad>,
    ) -> Self {
        RealmAddr {
            event_loop: LoopAddr {
                event_loop,
                loop_id,
                load,
            },
            realm,
        }
    }

    /// Queues `msg` as a task of this realm, on the source [`Host::source_of`] names (a
    /// posted message is counted in the loop's load, unbounded).
    pub(crate) fn do_send(&self, msg: H::Message) {
        if counts_in_load(H::source_of(&msg)) {
            self.event_loop.load.try_admit(None);
            self.event_loop.trace_load();
        }
        self.queue(msg);
    }

    /// Queues the posted message `msg` (a task on the posted message task source) unless
    /// `bound` message tasks wait in the loop already: then it is refused (counted in the
    /// loop's load) and handed back, for the caller to drop and report.
    pub(crate) fn try_send_posted(
        &self,
        msg: H::Message,
        bound: Option<usize>,
    ) -> Result<(), H::Message> {
        debug_assert!(counts_in_load(H::source_of(&msg)));
        if !self.event_loop.load.try_admit(bound) {
            return Err(msg);
        }
        self.event_loop.trace_load();
        self.queue(msg);
        Ok(())
    }

    /// The message tasks waiting in the realm's event loop.
    pub(crate) fn load(&self) -> &Arc<LoopLoad> {
        &self.event_loop.load
    }

    fn queue(&self, msg: H::Message) {
        let l = &self.event_loop;
        match LoopShared::<H>::hosted_here(l.loop_id) {
            Some(shared) => {
                let source = H::source_of(&msg);
                shared.enqueue(source, Task::Realm(self.realm, msg));
            }
            None => l.event_loop.do_send(LoopMessage::Task(self.realm, msg)),
        }
    }

    /// The realm's id in its loop.
    pub(crate) fn realm_id(&self) -> u64 {
        self.realm
    }

    /// The address of the realm's event loop.
    pub(crate) fn loop_addr(&self) -> &LoopAddr<H> {
        &self.event_loop
    }
}

/// The address of an event loop for deliveries across the realms it hosts (broadcasts):
/// its actor, its id and its load. From the loop's own thread (or in the simulated mode,
/// the simulation's), [`deliver`](Self::deliver) queues directly.
pub(crate) struct LoopAddr<H: Host> {
    event_loop: Addr<EventLoop<H>>,
    loop_id: u64,
    /// The message tasks waiting in the loop (see [`LoopLoad`]).
    load: Arc<LoopLoad>,
}

impl<H: Host> Clone for LoopAddr<H> {
    fn clone(&self) -> Self {
        LoopAddr {
            event_loop: self.event_loop.clone(),
            loop_id: self.loop_id,
            load: self.load.clone(),
        }
    }
}

impl<H: Host> PartialEq for LoopAddr<H> {
    fn eq(&self, other: &Self) -> bool {
        self.loop_id == other.loop_id
    }
}

impl<H: Host> LoopAddr<H> {
    /// The message tasks waiting in the loop.
    pub(crate) fn load(&self) -> &Arc<LoopLoad> {
        &self.load
    }

    /// Records the loop's load in the trace (when recording).
    fn trace_load(&self) {
        trace_load(self.loop_id, &self.load);
    }

    /// Queues `d` on the loop's DOM manipulation task source (the caller has counted it
    /// in the loop's load).
    pub(crate) fn deliver(&self, d: H::Delivery) {
        match LoopShared::<H>::hosted_here(self.loop_id) {
            Some(l) => {
                l.enqueue(TaskSource::DomManipulation, Task::Delivery(d));
            }
            None => self.event_loop.do_send(LoopMessage::Delivery(d)),
        }
    }
}
