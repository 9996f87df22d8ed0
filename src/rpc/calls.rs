//! The correlation table of an RPC client: pending calls by id, and how each one ends.
//!
//! A call is *queued* while the connection is being established (it has not left this
//! side), *in flight* once sent. Every call ends exactly once, with one [`CallEnd`]:
//!
//! | event | queued call | in-flight call |
//! | --- | --- | --- |
//! | the answer arrives ([`CallTable::answer`]) | ignored (it cannot have one) | `Answered` |
//! | its deadline passes ([`CallTable::expire`]) | `TimedOut` | `TimedOut` |
//! | it is cancelled ([`CallTable::cancel`]) | `Cancelled` | `Cancelled` (tell the other side) |
//! | the connection is lost, reconnecting ([`CallTable::disconnected`]) | stays queued, for the next connection | `Disconnected` |
//! | the connection is lost for good | `Disconnected` | `Disconnected` |
//!
//! Ids only grow, across reconnections too (each connection is an *epoch*), so an answer
//! meant for a call of an earlier connection can never end a call of a later one.

use std::collections::BTreeMap;

/// The id of one call, unique for the life of its table (never reused).
pub type CallId = u64;

/// Where the connection of a table stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Handshaking (first connection or reconnection): new calls are queued.
    Connecting,
    /// Connected: new calls are sent at once.
    Open,
    /// Closed for good: new calls are refused.
    Closed,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    /// Its answer (a value or an error of the method) arrived.
    Answered,
    /// Its deadline passed first.
    TimedOut,
    /// It was cancelled first.
    Cancelled,
    /// The connection was lost first (port closed, the other realm crashed, navigated or
    /// was restarted), or it was refused because the table is closed.
    Disconnected,
}

/// What [`CallTable::start`] decided for a new call.
#[derive(Debug, PartialEq, Eq)]
pub enum Start<W> {
    /// The connection is open: send the call now.
    Send(CallId),
    /// The connection is being established: the call waits, and is sent by
    /// [`CallTable::opened`].
    Queued(CallId),
    /// The table is closed: the call is refused at once (the waiter is given back).
    Refused(W),
}

#[derive(Debug)]
struct Entry<W> {
    /// The epoch it was sent in, or `None` while queued.
    sent_in: Option<u32>,
    waiter: W,
}

/// Pending calls, each with its waiter `W` (whatever the runtime resumes when the call
/// ends: a callback, a timer to clear).
#[derive(Debug)]
pub struct CallTable<W> {
    next: CallId,
    epoch: u32,
    phase: Phase,
    pending: BTreeMap<CallId, Entry<W>>,
}

impl<W> Default for CallTable<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W> CallTable<W> {
    /// An empty table, connecting.
    pub fn new() -> Self {
        CallTable {
            next: 1,
            epoch: 0,
            phase: Phase::Connecting,
            pending: BTreeMap::new(),
        }
    }

    /// The connection's phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// How many connections have been lost and re-established (0 for the first).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// How many calls are pending (queued or in flight).
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no call is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether `id` is in flight on the current connection (an answer, or a stream item,
    /// for it is expected).
    pub fn is_in_flight(&self, id: CallId) -> bool {
        self.pending
            .get(&id)
            .is_some_and(|e| e.sent_in == Some(self.epoch))
    }

    /// The waiter of a pending call.
    pub fn get(&self, id: CallId) -> Option<&W> {
        self.pending.get(&id).map(|e| &e.waiter)
    }

    /// The waiter of a pending call, to change it.
    pub fn get_mut(&mut self, id: CallId) -> Option<&mut W> {
        self.pending.get_mut(&id).map(|e| &mut e.waiter)
    }

    /// Registers a new call.
    pub fn start(&mut self, waiter: W) -> Start<W> {
        // Step 1: a closed table refuses at once (no id is spent).
        if self.phase == Phase::Closed {
            return Start::Refused(waiter);
        }
        // Step 2: a fresh id, never used before in this table.
        let id = self.next;
        self.next += 1;
        // Step 3: sent now if open, else queued for the connection.
        let open = self.phase == Phase::Open;
        let sent_in = open.then_some(self.epoch);
        self.pending.insert(id, Entry { sent_in, waiter });
        if open {
            Start::Send(id)
        } else {
            Start::Queued(id)
        }
    }

    /// The connection is established: returns the queued calls to send now, in the order
    /// they were made; they are in flight from now on. Does nothing when closed.
    pub fn opened(&mut self) -> Vec<CallId> {
        if self.phase == Phase::Closed {
            return Vec::new();
        }
        self.phase = Phase::Open;
        let epoch = self.epoch;
        self.pending
            .iter_mut()
            .filter(|(_, e)| e.sent_in.is_none())
            .map(|(id, e)| {
                e.sent_in = Some(epoch);
                *id
            })
            .collect()
    }

    /// The answer of `id` arrived: ends it (`Answered`) if it is in flight on the current
    /// connection. An unknown, finished, queued or stale id gives `None` (the answer is
    /// dropped).
    pub fn answer(&mut self, id: CallId) -> Option<W> {
        if !self.is_in_flight(id) {
            return None;
        }
        self.pending.remove(&id).map(|e| e.waiter)
    }

    /// The deadline of `id` passed: ends it (`TimedOut`) if it is still pending.
    pub fn expire(&mut self, id: CallId) -> Option<W> {
        self.pending.remove(&id).map(|e| e.waiter)
    }

    /// Cancels `id` if it is still pending: returns its waiter and whether it was in flight
    /// (then the other side should be told, so it can stop working on it).
    pub fn cancel(&mut self, id: CallId) -> Option<(W, bool)> {
        let epoch = self.epoch;
        self.pending
            .remove(&id)
            .map(|e| (e.waiter, e.sent_in == Some(epoch)))
    }

    /// The connection was lost. Every call in flight ends (`Disconnected`) and is
    /// returned, in id order. With `reconnect`, the table goes back to connecting (a new
    /// epoch) and queued calls stay queued for the next connection (they never reached the
    /// lost one, so sending them later is not a retry); without it, the table closes and
    /// queued calls end too.
    pub fn disconnected(&mut self, reconnect: bool) -> Vec<(CallId, W)> {
        if self.phase == Phase::Closed {
            return Vec::new();
        }
        let ended: Vec<CallId> = self
            .pending
            .iter()
            .filter(|(_, e)| !reconnect || e.sent_in.is_some())
            .map(|(id, _)| *id)
            .collect();
        let out = ended
            .into_iter()
            .filter_map(|id| self.pending.remove(&id).map(|e| (id, e.waiter)))
            .collect();
        if reconnect {
            self.epoch += 1;
            self.phase = Phase::Connecting;
        } else {
            self.phase = Phase::Closed;
        }
        out
    }

    /// Closes the table for good: every pending call ends (`Disconnected`) and is returned.
    pub fn close(&mut self) -> Vec<(CallId, W)> {
        self.disconnected(false)
    }
}
