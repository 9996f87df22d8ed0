//! The port message queues of two entangled ports, as a plain state machine.
//!
//! Spec: <https://html.spec.whatwg.org/multipage/web-messaging.html#message-ports>.
//!
//! Each `MessagePort` has a *port message queue*, initially disabled, that holds the tasks
//! firing its `message` events. When a port is transferred its queue moves with it and is
//! left disabled in the new owner. [`EntangledPair`] keeps both queues of one channel and
//! the owner of each end in one place, so that moving a port between realms (and threads)
//! is a change of owner under one lock and never a copy of queued tasks between mailboxes:
//! exactly-once, in-order delivery then follows from one `VecDeque` per direction.
//!
//! The runtime (`webmessaging`) wraps an `EntangledPair` in a mutex, uses a realm actor's
//! address as the owner `O`, and turns each [`Wake`] this state machine returns into one
//! actor message. Nothing here knows about threads or actors, so the unit tests below drive
//! it directly.

use std::collections::VecDeque;

/// Which end of a channel: `port1` or `port2` of the `MessageChannel` that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    /// The channel's `port1`.
    First,
    /// The channel's `port2`.
    Second,
}

impl End {
    /// The other end of the channel.
    pub fn peer(self) -> End {
        match self {
            End::First => End::Second,
            End::Second => End::First,
        }
    }

    /// 0 for `port1`, 1 for `port2` (to index per-end tables).
    pub fn index(self) -> usize {
        match self {
            End::First => 0,
            End::Second => 1,
        }
    }
}

/// Where an end of a channel currently lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership<O> {
    /// Owned by a realm; `generation` counts the transfers this end has been through, so
    /// that a wake-up addressed to an earlier owner is recognised as stale.
    Owned {
        /// The owner (in the runtime: the realm actor's address and the port's key there).
        owner: O,
        /// How many times this end has been transferred.
        generation: u64,
    },
    /// Serialized into a message that has not been delivered yet ("has been shipped").
    InTransit {
        /// How many times this end has been transferred, this transfer included.
        generation: u64,
    },
    /// Closed or dropped: it will never dispatch again.
    Closed,
}

/// A task in a port message queue.
#[derive(Debug)]
pub enum PortTask<M> {
    /// Fire `message` (or `messageerror`) with this serialized message.
    Message(M),
    /// Fire `close`: the entangled port was closed or its owner went away. Queued after the
    /// messages that port sent before closing.
    Close,
}

/// A request to wake an end's owner: "your port has tasks to run".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wake<O> {
    /// The owner to notify.
    pub owner: O,
    /// The generation the wake-up is for (see [`Ownership::Owned`]).
    pub generation: u64,
}

/// What [`EntangledPair::next_task`] found.
#[derive(Debug)]
pub enum Next<M> {
    /// Run this task.
    Task(PortTask<M>),
    /// Nothing to do now (queue empty or not enabled); the next post or `start()` wakes the
    /// owner again.
    Idle,
    /// The wake-up was for an earlier owner (the port moved or closed meanwhile): ignore it.
    Stale,
}

/// One end's port message queue: its message tasks, in order, then its `close` task if
/// one is queued. `close` is always the last task: it is queued when the pair is
/// disentangled, and nothing is posted to a port after that. Keeping it as a flag
/// keeps each queued message the size of the message itself.
#[derive(Debug)]
struct PortEnd<M, O> {
    queue: VecDeque<M>,
    close_queued: bool,
    enabled: bool,
    wake_pending: bool,
    ownership: Ownership<O>,
}

impl<M, O> PortEnd<M, O> {
    /// How many tasks wait (messages and `close`).
    fn len(&self) -> usize {
        self.queue.len() + usize::from(self.close_queued)
    }

    /// Takes every waiting task out, in order.
    fn drain(&mut self) -> impl Iterator<Item = PortTask<M>> + '_ {
        let close = std::mem::take(&mut self.close_queued).then_some(PortTask::Close);
        self.queue.drain(..).map(PortTask::Message).chain(close)
    }

    fn new(owner: O) -> Self {
        PortEnd {
            queue: VecDeque::new(),
            close_queued: false,
            enabled: false,
            wake_pending: false,
            ownership: Ownership::Owned {
                owner,
                generation: 0,
            },
        }
    }
}

/// The shared state of two entangled ports: both port message queues, whether they are
/// still entangled, and who owns each end.
#[derive(Debug)]
pub struct EntangledPair<M, O> {
    ends: [PortEnd<M, O>; 2],
    entangled: bool,
}

impl<M, O: Clone> EntangledPair<M, O> {
    /// Two new ports, entangled, both owned by `owner1`/`owner2`, queues disabled
    /// (the `MessageChannel()` constructor).
    pub fn new(owner1: O, owner2: O) -> Self {
        EntangledPair {
            ends: [PortEnd::new(owner1), PortEnd::new(owner2)],
            entangled: true,
        }
    }

    /// Whether the two ends are still entangled.
    pub fn is_entangled(&self) -> bool {
        self.entangled
    }

    /// The ownership of `end`.
    pub fn ownership(&self, end: End) -> &Ownership<O> {
        &self.ends[end.index()].ownership
    }

    /// Whether `end`'s port message queue is enabled.
    pub fn is_enabled(&self, end: End) -> bool {
        self.ends[end.index()].enabled
    }

    /// How many tasks wait in `end`'s queue.
    pub fn queued(&self, end: End) -> usize {
        self.ends[end.index()].len()
    }

    fn wake_if_needed(&mut self, end: End) -> Option<Wake<O>> {
        let e = &mut self.ends[end.index()];
        if !e.enabled || e.wake_pending || e.len() == 0 {
            return None;
        }
        match &e.ownership {
            Ownership::Owned { owner, generation } => {
                e.wake_pending = true;
                Some(Wake {
                    owner: owner.clone(),
                    generation: *generation,
                })
            }
            _ => None,
        }
    }

    /// `port.postMessage()` from `from`: adds the task to the entangled port's queue.
    ///
    /// Returns `Err(message)` (the message back, undelivered) when the ports are no longer
    /// entangled or `from` is not owned: posting then does nothing, silently.
    pub fn post(&mut self, from: End, message: M) -> Result<Option<Wake<O>>, M> {
        // Step: "If there is no targetPort (this port is not entangled) ... abort".
        if !self.entangled || !matches!(self.ends[from.index()].ownership, Ownership::Owned { .. })
        {
            return Err(message);
        }
        let to = from.peer();
        if matches!(self.ends[to.index()].ownership, Ownership::Closed) {
            return Err(message);
        }
        // Step: "Add a task ... to the port message queue of targetPort".
        self.ends[to.index()].queue.push_back(message);
        Ok(self.wake_if_needed(to))
    }

    /// Drops the oldest message waiting in `end`'s queue (a bounded queue's drop-oldest
    /// policy) and returns it; a `close` task is never dropped. Its place in the queue is
    /// gone: the next message takes it.
    pub fn drop_oldest(&mut self, end: End) -> Option<M> {
        self.ends[end.index()].queue.pop_front()
    }

    /// Forgets a pending wake-up of `end` and wakes its owner again if it has tasks to
    /// run: for a runtime that ran `end`'s tasks by other means (one task per post, as
    /// the unshipped port message queue does) and now hands them to the wake-up protocol.
    pub fn rewake(&mut self, end: End) -> Option<Wake<O>> {
        self.ends[end.index()].wake_pending = false;
        self.wake_if_needed(end)
    }

    /// Whether closing `end` now would queue a `close` task on its peer.
    pub fn close_would_notify(&self, end: End) -> bool {
        self.entangled
            && !matches!(self.ends[end.index()].ownership, Ownership::Closed)
            && !matches!(self.ends[end.peer().index()].ownership, Ownership::Closed)
    }

    /// `port.start()`: enables `end`'s queue (once enabled, never disabled again).
    pub fn start(&mut self, end: End) -> Option<Wake<O>> {
        if !matches!(self.ends[end.index()].ownership, Ownership::Owned { .. }) {
            return None;
        }
        self.ends[end.index()].enabled = true;
        self.wake_if_needed(end)
    }

    /// Takes the next task of `end` for the owner that was woken for `generation`.
    ///
    /// When this returns [`Next::Idle`] or [`Next::Stale`] the pending wake-up is cleared,
    /// so the next post or `start()` wakes the owner again.
    pub fn next_task(&mut self, end: End, generation: u64) -> Next<M> {
        let e = &mut self.ends[end.index()];
        match &e.ownership {
            Ownership::Owned { generation: g, .. } if *g == generation => {}
            _ => return Next::Stale,
        }
        if !e.enabled {
            e.wake_pending = false;
            return Next::Idle;
        }
        if let Some(m) = e.queue.pop_front() {
            return Next::Task(PortTask::Message(m));
        }
        if std::mem::take(&mut e.close_queued) {
            return Next::Task(PortTask::Close);
        }
        e.wake_pending = false;
        Next::Idle
    }

    /// Disentangles the pair because `end` closed (`port.close()`, or its owner was
    /// destroyed, or the port object was dropped): `end` is closed, its queued tasks are
    /// dropped and returned, and a `close` task is queued on the peer after the messages
    /// `end` sent before. Does nothing (returns empty) for an end already closed.
    pub fn close(&mut self, end: End) -> (Vec<PortTask<M>>, Option<Wake<O>>) {
        let e = &mut self.ends[end.index()];
        if matches!(e.ownership, Ownership::Closed) {
            return (Vec::new(), None);
        }
        e.ownership = Ownership::Closed;
        e.wake_pending = false;
        let dropped: Vec<_> = e.drain().collect();
        let mut wake = None;
        if self.entangled {
            self.entangled = false;
            let peer = end.peer();
            if !matches!(self.ends[peer.index()].ownership, Ownership::Closed) {
                self.ends[peer.index()].close_queued = true;
                wake = self.wake_if_needed(peer);
            }
        }
        (dropped, wake)
    }

    /// Takes both ends' state out, for a channel that moves on to another mechanism (the
    /// runtime's port actors, once a port is shipped): per end, its queued tasks (sent by
    /// the other end, in order), whether its queue is enabled, and whether it is closed.
    /// The pair is left closed and empty.
    pub fn dismantle(&mut self) -> [(Vec<PortTask<M>>, bool, bool); 2] {
        self.entangled = false;
        let mut take = |i: usize| {
            let e = &mut self.ends[i];
            let closed = matches!(e.ownership, Ownership::Closed);
            e.ownership = Ownership::Closed;
            e.wake_pending = false;
            (e.drain().collect(), e.enabled, closed)
        };
        [take(0), take(1)]
    }

    /// The channel is lost (postMessage step 6: the target port was posted through its own
    /// channel): both ends are closed at once, every queued task is dropped and returned,
    /// and neither end gets `close` (as in Chromium, the sender's port just goes dead).
    pub fn lose(&mut self) -> Vec<PortTask<M>> {
        self.entangled = false;
        let mut dropped = Vec::new();
        for e in &mut self.ends {
            e.ownership = Ownership::Closed;
            e.wake_pending = false;
            dropped.extend(e.drain());
        }
        dropped
    }

    /// The transfer steps for `end`: it is shipped, its queue (kept here, with its tasks)
    /// returns to the initial disabled state, and it has no owner until received.
    ///
    /// Returns the new generation, or `None` if the end is not owned (closed or already
    /// in transit) and so cannot be transferred.
    pub fn ship(&mut self, end: End) -> Option<u64> {
        let e = &mut self.ends[end.index()];
        let generation = match &e.ownership {
            Ownership::Owned { generation, .. } => generation + 1,
            _ => return None,
        };
        e.ownership = Ownership::InTransit { generation };
        e.enabled = false;
        e.wake_pending = false;
        Some(generation)
    }

    /// The transfer-receiving steps for `end`: `owner` now owns it, with the queued tasks
    /// that travelled with it, queue disabled until started.
    ///
    /// Returns `false` (and changes nothing) if `end` was not in transit with `generation`.
    pub fn receive(&mut self, end: End, generation: u64, owner: O) -> bool {
        let e = &mut self.ends[end.index()];
        match e.ownership {
            Ownership::InTransit { generation: g } if g == generation => {
                e.ownership = Ownership::Owned { owner, generation };
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
