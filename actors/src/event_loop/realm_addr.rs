//! The address of a realm: its event loop's actor and its id in that loop.

use actix::Addr;

use super::{EventLoop, Host, LoopMessage, LoopShared, Task};

/// The address of one realm hosted by an event loop: the loop's actor and the realm's id.
/// From the loop's own thread, [`do_send`](Self::do_send) queues directly.
pub(crate) struct RealmAddr<H: Host> {
    event_loop: Addr<EventLoop<H>>,
    loop_id: u64,
    realm: u64,
}

impl<H: Host> Clone for RealmAddr<H> {
    fn clone(&self) -> Self {
        RealmAddr {
            event_loop: self.event_loop.clone(),
            loop_id: self.loop_id,
            realm: self.realm,
        }
    }
}

impl<H: Host> PartialEq for RealmAddr<H> {
    fn eq(&self, other: &Self) -> bool {
        self.loop_id == other.loop_id && self.realm == other.realm
    }
}

impl<H: Host> RealmAddr<H> {
    /// The address of realm `realm` of the loop `event_loop` (whose id is `loop_id`).
    pub(crate) fn new(event_loop: Addr<EventLoop<H>>, loop_id: u64, realm: u64) -> Self {
        RealmAddr {
            event_loop,
            loop_id,
            realm,
        }
    }

    /// Queues `msg` as a task of this realm, on the source [`Host::source_of`] names.
    pub(crate) fn do_send(&self, msg: H::Message) {
        match LoopShared::<H>::hosted_here(self.loop_id) {
            Some(l) => {
                let source = H::source_of(&msg);
                l.enqueue(source, Task::Realm(self.realm, msg));
            }
            None => self.event_loop.do_send(LoopMessage::Task(self.realm, msg)),
        }
    }

    /// The realm's id in its loop.
    pub(crate) fn realm_id(&self) -> u64 {
        self.realm
    }

    /// The hosting loop's actor.
    pub(crate) fn event_loop(&self) -> &Addr<EventLoop<H>> {
        &self.event_loop
    }
}
