//! Shipping a channel (transfer steps 1 and 3: the "has been shipped" flag): both ends
//! of a never-shipped channel become port actors, with what waited in the entanglement.

use std::rc::Rc;
use std::sync::atomic::Ordering;

use webmessaging_core::port_queue::{End, Ownership, PortTask};
use webmessaging_core::rehoming::{Effect, PortEnd};

use super::shipped::{DirMsg, Reserved};
use super::{Dispatch, PortObject, PortObjectState, Queued, ShippedPort, Slot};

impl PortObject {
    /// Sets the has-been-shipped flag of this port and its twin (transfer steps 1 and 3):
    /// their queues leave the unshipped port message queue and both ends become port
    /// actors, with the tasks that waited in the entanglement. Both ends are in this realm
    /// until now.
    pub(super) fn set_shipped(&self) {
        if self.channel.shipped.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(realm) = self.realm.upgrade() else {
            return;
        };
        let twin_key = match self.channel.lock().ownership(self.end.peer()) {
            Ownership::Owned { owner, .. } => Some(owner.key),
            _ => None,
        };
        realm.event_loop.take_unshipped(realm.host_id(), self.key);
        let twin = twin_key.and_then(|k| {
            realm.event_loop.take_unshipped(realm.host_id(), k);
            realm.port(k)
        });
        if let Some(t) = &twin {
            t.pending.borrow_mut().clear();
        }
        let [first, second] = self.channel.lock().dismantle();
        let (mine, theirs) = match self.end {
            End::First => (first, second),
            End::Second => (second, first),
        };
        let directory = realm.browser.port_directory();
        let (r_mine, r_twin) = (Reserved::new(), Reserved::new());
        let mut e_mine = PortEnd::new(self.end, r_mine.addr(), r_twin.addr());
        let mut e_twin = PortEnd::new(self.end.peer(), r_twin.addr(), r_mine.addr());
        // What waited for each end, as sent (and unacked) by the other. Returns whether
        // a `close` was among it.
        let carry =
            |to: &mut PortEnd<_, _>, from: &mut PortEnd<_, _>, tasks: Vec<PortTask<Queued>>| {
                let mut closed = false;
                for t in tasks {
                    let e = match t {
                        PortTask::Message(q) => from.post(Slot::new(q)),
                        PortTask::Close => {
                            closed = true;
                            from.close()
                        }
                    };
                    if let Some(Effect::Deliver { envelopes, .. }) = e {
                        to.on_deliver(envelopes);
                    }
                }
                closed
            };
        let (mine_tasks, mine_enabled, mine_closed) = mine;
        let (theirs_tasks, theirs_enabled, theirs_closed) = theirs;
        let close_to_mine = carry(&mut e_mine, &mut e_twin, mine_tasks);
        let close_to_twin = carry(&mut e_twin, &mut e_mine, theirs_tasks);
        for (e, enabled) in [(&mut e_mine, mine_enabled), (&mut e_twin, theirs_enabled)] {
            if enabled {
                e.start();
            }
        }
        // An end closed earlier whose `close` its peer has dispatched already: the peer
        // is disentangled, and nothing more happens between them.
        if (theirs_closed && !close_to_mine) || (mine_closed && !close_to_twin) {
            e_mine.lose();
            e_twin.lose();
        }
        let (first_addr, second_addr) = match self.end {
            End::First => (r_mine.addr(), r_twin.addr()),
            End::Second => (r_twin.addr(), r_mine.addr()),
        };
        directory.do_send(DirMsg::Create {
            channel: self.channel.id,
            first: first_addr,
            second: second_addr,
        });
        let dispatch = |key, epoch| Dispatch::Realm {
            realm: Rc::downgrade(&realm),
            key,
            epoch,
        };
        let sp_mine = ShippedPort::launch(
            r_mine,
            self.channel.id,
            directory.clone(),
            dispatch(self.key, self.generation),
            false,
            e_mine,
        );
        *self.shipped.borrow_mut() = Some(sp_mine);
        let sp_twin = ShippedPort::launch(
            r_twin,
            self.channel.id,
            directory,
            match &twin {
                Some(t) => dispatch(t.key, t.generation),
                None => dispatch(0, 0),
            },
            false,
            e_twin,
        );
        match twin {
            Some(t) if t.state.get() == PortObjectState::Active => {
                t.set_shipped_port(sp_twin.clone());
                // The twin's tasks (if any) now run from its own source.
                sp_twin.schedule();
            }
            Some(t) => t.set_shipped_port(sp_twin),
            // The twin is gone: its end closes now, for its peer.
            None => sp_twin.orphan(),
        }
    }
}
