//! An in-process [`Transport`]: one shared log, dedup by message id, durable consumers
//! with acknowledgements and redelivery, cursors, and faults to inject: lost publishes,
//! lost store acks, duplicated deliveries (every n-th, [`MemoryFaults`]), a frame stored
//! after a later one ([`MemoryTransport::store_late`]), and a party that dies at a
//! chosen point ([`MemoryTransport::die_at`]). Clone it to give two bridges the same
//! store; [`MemoryTransport::party`] gives a process of its own (one that can die) on it.
//!
//! Note: to find the frame a fault names, the store reads its sequence number from the
//! payload ([`Frame::decode`]); JetStream knows nothing of frames.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify};

use super::{
    Acker, BoxFuture, Delivery, Inbox, StartAt, StoreAck, Subscribed, Transport, TransportError,
};
use crate::frame::Frame;

/// Faults the memory store injects, each every n-th time (0: never).
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryFaults {
    /// Every n-th publish is lost before the store (its ack fails).
    pub lose_publish_every: u64,
    /// Every n-th stored publish has its store ack fail (stored, but the sender cannot
    /// know).
    pub lose_store_ack_every: u64,
    /// Every n-th delivery is delivered twice.
    pub duplicate_delivery_every: u64,
}

/// The point at which a party ([`MemoryTransport::party`]) dies: from then on nothing
/// it does reaches the store (its publishes are not stored, its acks and cursor writes
/// not applied, its consumers deliver nothing) and every call it makes waits forever,
/// as in a process that is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Death {
    /// Right after its frame `seq` on `subject` is stored (a frame it was holding back
    /// with [`store_late`](MemoryTransport::store_late) is never stored).
    AfterStore {
        /// The frame's subject.
        subject: String,
        /// The frame's sequence number.
        seq: u64,
    },
    /// Right after it acknowledged a delivery of frame `seq` on `subject`.
    AfterAck {
        /// The frame's subject.
        subject: String,
        /// The frame's sequence number.
        seq: u64,
    },
    /// Instead of writing `key`'s cursor at `seq` or beyond (the write is lost).
    AtCursor {
        /// The cursor's key.
        key: String,
        /// The lowest value whose write it dies in.
        seq: u64,
    },
}

#[derive(Default)]
struct Party {
    dead: AtomicBool,
    death: Mutex<Option<Death>>,
    /// Cursor writes of this key at this value or beyond never complete.
    stall: Mutex<Option<(String, u64)>>,
}

impl Party {
    fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    fn armed(&self) -> bool {
        self.death
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// The party does `what`; true if it dies in doing it.
    fn dies_at(&self, what: &Death) -> bool {
        let mut death = self.death.lock().unwrap_or_else(|p| p.into_inner());
        let fires = match (death.as_ref(), what) {
            (Some(Death::AtCursor { key, seq }), Death::AtCursor { key: k, seq: value }) => {
                key == k && value >= seq
            }
            (Some(armed), _) => armed == what,
            (None, _) => false,
        };
        if fires {
            *death = None;
            self.dead.store(true, Ordering::SeqCst);
        }
        fires
    }
}

/// What a dead party's calls return.
fn never<'a, T: Send + 'a>() -> BoxFuture<'a, T> {
    Box::pin(std::future::pending())
}

#[derive(Default)]
struct Consumer {
    filter: String,
    /// Index in the log of the next frame not yet delivered.
    cursor: usize,
    acked: BTreeSet<usize>,
    /// Delivered, not acknowledged: index -> when.
    pending: HashMap<usize, Instant>,
    /// Deliveries to repeat at once (injected duplicates).
    again: Vec<usize>,
}

impl Consumer {
    /// The first index that matches and is not acknowledged (everything before it that
    /// matches is).
    fn first_unacked(&self, log: &[(String, Vec<u8>)]) -> usize {
        (0..self.cursor)
            .find(|i| matches(&self.filter, &log[*i].0) && !self.acked.contains(i))
            .unwrap_or(self.cursor)
    }
}

/// A publish held back to be stored right after a later frame.
struct Late {
    subject: String,
    after: u64,
    msg_id: String,
    payload: Vec<u8>,
    party: Arc<Party>,
    stored: oneshot::Sender<()>,
}

#[derive(Default)]
struct Store {
    log: Vec<(String, Vec<u8>)>,
    ids: HashSet<String>,
    consumers: HashMap<String, Consumer>,
    cursors: HashMap<String, u64>,
    /// (subject, seq) -> the frame after which to store it.
    late_rules: HashMap<(String, u64), u64>,
    late: Vec<Late>,
    publishes: u64,
    stored: u64,
    deliveries: u64,
}

impl Store {
    /// Appends unless `msg_id` was stored before; true if appended.
    fn append(&mut self, subject: &str, msg_id: String, payload: Vec<u8>) -> bool {
        if !self.ids.insert(msg_id) {
            return false;
        }
        self.log.push((subject.to_owned(), payload));
        self.stored += 1;
        true
    }

    /// Frame `seq` on `subject` was stored by `party`: store what waited for it, unless
    /// the party dies first. True if the party died.
    fn stored_frame(&mut self, party: &Arc<Party>, subject: &str, seq: u64) -> bool {
        let what = Death::AfterStore {
            subject: subject.to_owned(),
            seq,
        };
        if party.dies_at(&what) {
            self.late.retain(|l| !Arc::ptr_eq(&l.party, party));
            return true;
        }
        let (ready, rest): (Vec<Late>, Vec<Late>) = std::mem::take(&mut self.late)
            .into_iter()
            .partition(|l| l.subject == subject && l.after == seq);
        self.late = rest;
        for l in ready {
            let late_seq = Frame::decode(&l.payload).map_or(0, |f| f.seq);
            if self.append(&l.subject, l.msg_id, l.payload) {
                let _ = l.stored.send(());
                if self.stored_frame(&l.party, &l.subject, late_seq) {
                    return true;
                }
            }
        }
        false
    }
}

struct Shared {
    store: Mutex<Store>,
    notify: Notify,
    faults: MemoryFaults,
    redeliver_after: Duration,
}

/// The in-process store. `Clone`: clones share it, and are one party.
#[derive(Clone)]
pub struct MemoryTransport {
    shared: Arc<Shared>,
    party: Arc<Party>,
}

impl std::fmt::Debug for MemoryTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemoryTransport({} frames)", self.lock().log.len())
    }
}

impl Default for MemoryTransport {
    fn default() -> Self {
        MemoryTransport::new(MemoryFaults::default())
    }
}

fn matches(filter: &str, subject: &str) -> bool {
    match filter.strip_suffix(".*") {
        Some(prefix) => subject
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|last| !last.is_empty() && !last.contains('.')),
        None => filter == subject,
    }
}

fn every(n: u64, count: u64) -> bool {
    n != 0 && count.is_multiple_of(n)
}

impl MemoryTransport {
    /// A new, empty store with `faults`; unacknowledged deliveries come again after
    /// 100 ms.
    pub fn new(faults: MemoryFaults) -> MemoryTransport {
        MemoryTransport::with_redelivery(faults, Duration::from_millis(100))
    }

    /// A new, empty store with `faults` whose unacknowledged deliveries come again after
    /// `redeliver_after`.
    pub fn with_redelivery(faults: MemoryFaults, redeliver_after: Duration) -> MemoryTransport {
        MemoryTransport {
            shared: Arc::new(Shared {
                store: Mutex::new(Store::default()),
                notify: Notify::new(),
                faults,
                redeliver_after,
            }),
            party: Arc::new(Party::default()),
        }
    }

    /// Another party on the same store: a process of its own, which can die
    /// ([`die_at`](MemoryTransport::die_at)) without the others.
    pub fn party(&self) -> MemoryTransport {
        MemoryTransport {
            shared: self.shared.clone(),
            party: Arc::new(Party::default()),
        }
    }

    /// This party dies at `point` (the first time it gets there).
    pub fn die_at(&self, point: Death) {
        *self.party.death.lock().unwrap_or_else(|p| p.into_inner()) = Some(point);
    }

    /// This party's cursor writes of `key` at `seq` or beyond stay in flight forever
    /// (never applied) while the party lives on: a slow store, to see what a receiver
    /// does meanwhile.
    pub fn stall_cursor(&self, key: &str, seq: u64) {
        *self.party.stall.lock().unwrap_or_else(|p| p.into_inner()) = Some((key.to_owned(), seq));
    }

    /// This party dies now (see [`Death`]).
    pub fn kill(&self) {
        self.party.dead.store(true, Ordering::SeqCst);
    }

    /// True once this party has died.
    pub fn is_dead(&self) -> bool {
        self.party.is_dead()
    }

    /// The first publish of frame `seq` on `subject` is stored only right after frame
    /// `after` on that subject is (as a resend that lost the race to a later frame is);
    /// its store ack comes then.
    pub fn store_late(&self, subject: &str, seq: u64, after: u64) {
        self.lock()
            .late_rules
            .insert((subject.to_owned(), seq), after);
    }

    /// The cursor stored under `key`, if any.
    pub fn cursor(&self, key: &str) -> Option<u64> {
        self.lock().cursors.get(key).copied()
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.shared.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many frames are stored (after dedup).
    pub fn stored(&self) -> usize {
        self.lock().log.len()
    }

    /// Stores a frame as any publisher could (no dedup id): for tests that forge frames.
    pub fn inject(&self, subject: &str, payload: Vec<u8>) {
        self.lock().log.push((subject.to_owned(), payload));
        self.shared.notify.notify_waiters();
    }
}

impl Transport for MemoryTransport {
    fn publish(
        &self,
        subject: String,
        msg_id: String,
        payload: Vec<u8>,
    ) -> BoxFuture<'_, Result<StoreAck, TransportError>> {
        if self.party.is_dead() {
            return never();
        }
        let faults = self.shared.faults;
        let seq = Frame::decode(&payload).map_or(0, |f| f.seq);
        let mut s = self.lock();
        s.publishes += 1;
        let ack: StoreAck = if every(faults.lose_publish_every, s.publishes) {
            Box::pin(async { Err(TransportError("lost before the store (injected)".into())) })
        } else if let Some(after) = s
            .late_rules
            .remove(&(subject.clone(), seq))
            .filter(|_| !s.ids.contains(&msg_id))
        {
            let (tx, rx) = oneshot::channel();
            s.late.push(Late {
                subject,
                after,
                msg_id,
                payload,
                party: self.party.clone(),
                stored: tx,
            });
            Box::pin(async move {
                rx.await
                    .map_err(|_| TransportError("held back, never stored (injected)".into()))
            })
        } else {
            let appended = s.append(&subject, msg_id, payload);
            if appended && s.stored_frame(&self.party, &subject, seq) {
                drop(s);
                self.shared.notify.notify_waiters();
                return Box::pin(async { Ok(never()) });
            }
            if every(faults.lose_store_ack_every, s.publishes) {
                Box::pin(async { Err(TransportError("store ack lost (injected)".into())) })
            } else {
                Box::pin(async { Ok(()) })
            }
        };
        drop(s);
        self.shared.notify.notify_waiters();
        Box::pin(async move { Ok(ack) })
    }

    fn last_on_subject(
        &self,
        subject: String,
    ) -> BoxFuture<'_, Result<Option<Vec<u8>>, TransportError>> {
        if self.party.is_dead() {
            return never();
        }
        let last = self
            .lock()
            .log
            .iter()
            .rev()
            .find(|(s, _)| *s == subject)
            .map(|(_, p)| p.clone());
        Box::pin(async move { Ok(last) })
    }

    fn unacked_on_subject(
        &self,
        durable: String,
        subject: String,
    ) -> BoxFuture<'_, Result<Vec<Vec<u8>>, TransportError>> {
        if self.party.is_dead() {
            return never();
        }
        let s = self.lock();
        let from = s
            .consumers
            .get(&durable)
            .map_or(0, |c| c.first_unacked(&s.log));
        let frames = s.log[from..]
            .iter()
            .filter(|(sub, _)| *sub == subject)
            .map(|(_, p)| p.clone())
            .collect();
        drop(s);
        Box::pin(async move { Ok(frames) })
    }

    fn subscribe(
        &self,
        durable: String,
        filter: String,
        start: StartAt,
    ) -> BoxFuture<'_, Result<Subscribed, TransportError>> {
        if self.party.is_dead() {
            return never();
        }
        let mut guard = self.lock();
        let s = &mut *guard;
        let log_len = s.log.len();
        let c = s
            .consumers
            .entry(durable.clone())
            .or_insert_with(|| Consumer {
                filter,
                cursor: if start == StartAt::New { log_len } else { 0 },
                ..Consumer::default()
            });
        // Everything delivered and not acknowledged comes again to the new subscriber.
        c.pending.clear();
        c.cursor = c.first_unacked(&s.log);
        drop(guard);
        let inbox = MemoryInbox {
            transport: self.clone(),
            durable,
        };
        Box::pin(async move {
            Ok(Subscribed {
                inbox: Box::new(inbox),
            })
        })
    }

    fn load_cursor(&self, key: String) -> BoxFuture<'_, Result<Option<u64>, TransportError>> {
        if self.party.is_dead() {
            return never();
        }
        let value = self.lock().cursors.get(&key).copied();
        Box::pin(async move { Ok(value) })
    }

    fn store_cursor(&self, key: String, value: u64) -> BoxFuture<'_, Result<(), TransportError>> {
        if self.party.is_dead() {
            return never();
        }
        let what = Death::AtCursor {
            key: key.clone(),
            seq: value,
        };
        if self.party.dies_at(&what) {
            return never();
        }
        let stalled = self
            .party
            .stall
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|(k, from)| *k == key && value >= *from);
        if stalled {
            return never();
        }
        self.lock().cursors.insert(key, value);
        Box::pin(async { Ok(()) })
    }
}

struct MemoryInbox {
    transport: MemoryTransport,
    durable: String,
}

impl MemoryInbox {
    fn try_next(&self) -> Option<Delivery> {
        let t = &self.transport;
        let armed = t.party.armed();
        let mut guard = t.lock();
        let s = &mut *guard;
        let c = s.consumers.get_mut(&self.durable)?;
        let now = Instant::now();
        let index = if let Some(i) = c.again.pop() {
            Some(i)
        } else if let Some((&i, _)) = c
            .pending
            .iter()
            .filter(|(_, at)| now.duration_since(**at) >= t.shared.redeliver_after)
            .min_by_key(|(i, _)| **i)
        {
            Some(i)
        } else {
            loop {
                if c.cursor >= s.log.len() {
                    break None;
                }
                let i = c.cursor;
                c.cursor += 1;
                if matches(&c.filter, &s.log[i].0) && !c.acked.contains(&i) {
                    break Some(i);
                }
            }
        }?;
        c.pending.insert(index, now);
        s.deliveries += 1;
        if every(t.shared.faults.duplicate_delivery_every, s.deliveries) {
            c.again.push(index);
        }
        let (subject, payload) = s.log[index].clone();
        let durable = self.durable.clone();
        let transport = t.clone();
        // Only a party that is to die after an ack needs to know which frame this is.
        let acked_frame = armed.then(|| Death::AfterAck {
            subject: subject.clone(),
            seq: Frame::decode(&payload).map_or(0, |f| f.seq),
        });
        let ack: Acker = Box::new(move || {
            if transport.party.is_dead() {
                return never();
            }
            let mut s = transport.lock();
            if let Some(c) = s.consumers.get_mut(&durable) {
                c.pending.remove(&index);
                c.acked.insert(index);
            }
            drop(s);
            match acked_frame {
                Some(what) if transport.party.dies_at(&what) => never(),
                _ => Box::pin(async {}),
            }
        });
        Some(Delivery {
            subject,
            payload,
            ack,
        })
    }
}

impl Inbox for MemoryInbox {
    fn next(&mut self) -> BoxFuture<'_, Option<Delivery>> {
        Box::pin(async move {
            loop {
                if self.transport.party.is_dead() {
                    return std::future::pending().await;
                }
                let notified = self.transport.shared.notify.notified();
                if let Some(d) = self.try_next() {
                    return Some(d);
                }
                let _ = tokio::time::timeout(Duration::from_millis(20), notified).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_one_last_token() {
        assert!(matches("wm.bc.k.*", "wm.bc.k.node1"));
        assert!(!matches("wm.bc.k.*", "wm.bc.k"));
        assert!(!matches("wm.bc.k.*", "wm.bc.k.a.b"));
        assert!(!matches("wm.bc.k.*", "wm.bc.kk.a"));
        assert!(matches("wm.port.p.x2i", "wm.port.p.x2i"));
    }
}
