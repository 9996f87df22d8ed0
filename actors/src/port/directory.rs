//! The runtime's port directory (step 5 of the re-homing protocol): one actor, on a
//! thread of its own, that knows where each end of every shipped channel lives, tells an
//! end where its peer moved, and keeps what an end whose owner went away had sent, for
//! the peer's next incarnations. An entry goes when both ends are gone.

use std::collections::HashMap;

use actix::{Actor, Addr, Arbiter, Context, Handler};
use webmessaging_core::port_queue::End;
use webmessaging_core::rehoming::{Directory, Envelope, Location};

use super::shipped::{send_effect, PortAddr, Slot};

/// What the directory is told.
pub(crate) enum DirMsg {
    /// A channel was shipped: its ends' first incarnations.
    Create {
        channel: u64,
        first: PortAddr,
        second: PortAddr,
    },
    /// Step 5.
    Register {
        channel: u64,
        end: End,
        location: Location<PortAddr>,
    },
    /// Steps 3 and 7; the end is done.
    Orphan {
        channel: u64,
        end: End,
        envelopes: Vec<Envelope<Slot>>,
    },
}

impl actix::Message for DirMsg {
    type Result = ();
}

/// The runtime's port directory: where each end of every shipped channel lives.
pub(crate) struct PortDirectory {
    channels: HashMap<u64, (Directory<PortAddr, Slot>, [bool; 2])>,
}

impl PortDirectory {
    /// Starts the directory on a thread of its own (in the simulated mode,
    /// `on_this_thread`, on this thread beside the simulated event loops).
    pub(crate) fn start(
        on_this_thread: bool,
    ) -> (Addr<PortDirectory>, Option<actix::ArbiterHandle>) {
        if on_this_thread {
            let addr = PortDirectory {
                channels: HashMap::new(),
            }
            .start();
            return (addr, None);
        }
        let arbiter = Arbiter::new();
        let addr = PortDirectory::start_in_arbiter(&arbiter.handle(), |_| PortDirectory {
            channels: HashMap::new(),
        });
        (addr, Some(arbiter.handle()))
    }
}

impl Actor for PortDirectory {
    type Context = Context<Self>;
}

impl Handler<DirMsg> for PortDirectory {
    type Result = ();

    fn handle(&mut self, msg: DirMsg, _: &mut Self::Context) {
        match msg {
            DirMsg::Create {
                channel,
                first,
                second,
            } => {
                self.channels
                    .insert(channel, (Directory::new(first, second), [false; 2]));
            }
            DirMsg::Register {
                channel,
                end,
                location,
            } => {
                if let Some((d, _)) = self.channels.get_mut(&channel) {
                    d.register(end, location).into_iter().for_each(send_effect);
                }
            }
            DirMsg::Orphan {
                channel,
                end,
                envelopes,
            } => {
                let Some((d, done)) = self.channels.get_mut(&channel) else {
                    return;
                };
                d.orphan(end, envelopes).into_iter().for_each(send_effect);
                done[end.index()] = true;
                if done[0] && done[1] {
                    self.channels.remove(&channel);
                }
            }
        }
    }
}

/// Asks the directory how many shipped channels it knows (for leak checks).
pub(crate) struct CountChannels;

impl actix::Message for CountChannels {
    type Result = usize;
}

impl Handler<CountChannels> for PortDirectory {
    type Result = usize;

    fn handle(&mut self, _: CountChannels, _: &mut Self::Context) -> usize {
        self.channels.len()
    }
}
