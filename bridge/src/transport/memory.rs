//! An in-process [`Transport`]: one shared log, dedup by message id, durable consumers
//! with acknowledgements and redelivery, and faults to inject (lost publishes, lost
//! store acks, duplicated deliveries). Clone it to give two bridges the same store.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::{
    Acker, BoxFuture, Delivery, Inbox, StartAt, StoreAck, Subscribed, Transport, TransportError,
};

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

#[derive(Default)]
struct Store {
    log: Vec<(String, Vec<u8>)>,
    ids: HashSet<String>,
    consumers: HashMap<String, Consumer>,
    publishes: u64,
    stored: u64,
    deliveries: u64,
}

struct Shared {
    store: Mutex<Store>,
    notify: Notify,
    faults: MemoryFaults,
    redeliver_after: Duration,
}

/// The in-process store. `Clone`: clones share it.
#[derive(Clone)]
pub struct MemoryTransport(Arc<Shared>);

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
    n != 0 && count % n == 0
}

impl MemoryTransport {
    /// A new, empty store with `faults`; unacknowledged deliveries come again after
    /// 100 ms.
    pub fn new(faults: MemoryFaults) -> MemoryTransport {
        MemoryTransport(Arc::new(Shared {
            store: Mutex::new(Store::default()),
            notify: Notify::new(),
            faults,
            redeliver_after: Duration::from_millis(100),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.0.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many frames are stored (after dedup).
    pub fn stored(&self) -> usize {
        self.lock().log.len()
    }

    /// Stores a frame as any publisher could (no dedup id): for tests that forge frames.
    pub fn inject(&self, subject: &str, payload: Vec<u8>) {
        self.lock().log.push((subject.to_owned(), payload));
        self.0.notify.notify_waiters();
    }
}

impl Transport for MemoryTransport {
    fn publish(
        &self,
        subject: String,
        msg_id: String,
        payload: Vec<u8>,
    ) -> BoxFuture<'_, Result<StoreAck, TransportError>> {
        let faults = self.0.faults;
        let mut s = self.lock();
        s.publishes += 1;
        let ack: Result<(), TransportError> = if every(faults.lose_publish_every, s.publishes) {
            Err(TransportError("lost before the store (injected)".into()))
        } else {
            if s.ids.insert(msg_id) {
                s.log.push((subject, payload));
                s.stored += 1;
                self.0.notify.notify_waiters();
            }
            if every(faults.lose_store_ack_every, s.publishes) {
                Err(TransportError("store ack lost (injected)".into()))
            } else {
                Ok(())
            }
        };
        drop(s);
        Box::pin(async move {
            let ack: StoreAck = Box::pin(async move { ack });
            Ok(ack)
        })
    }

    fn last_on_subject(
        &self,
        subject: String,
    ) -> BoxFuture<'_, Result<Option<Vec<u8>>, TransportError>> {
        let last = self
            .lock()
            .log
            .iter()
            .rev()
            .find(|(s, _)| *s == subject)
            .map(|(_, p)| p.clone());
        Box::pin(async move { Ok(last) })
    }

    fn subscribe(
        &self,
        durable: String,
        filter: String,
        start: StartAt,
    ) -> BoxFuture<'_, Result<Subscribed, TransportError>> {
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
        let log = &s.log;
        let first_unacked = (0..c.cursor)
            .find(|i| matches(&c.filter, &log[*i].0) && !c.acked.contains(i))
            .unwrap_or(c.cursor);
        let floor = (0..first_unacked)
            .rev()
            .find(|i| matches(&c.filter, &log[*i].0))
            .map(|i| log[i].1.clone());
        c.cursor = first_unacked;
        drop(guard);
        let inbox = MemoryInbox {
            transport: self.clone(),
            durable,
        };
        Box::pin(async move {
            Ok(Subscribed {
                inbox: Box::new(inbox),
                floor,
            })
        })
    }
}

struct MemoryInbox {
    transport: MemoryTransport,
    durable: String,
}

impl MemoryInbox {
    fn try_next(&self) -> Option<Delivery> {
        let t = &self.transport;
        let mut guard = t.lock();
        let s = &mut *guard;
        let c = s.consumers.get_mut(&self.durable)?;
        let now = Instant::now();
        let index = if let Some(i) = c.again.pop() {
            Some(i)
        } else if let Some((&i, _)) = c
            .pending
            .iter()
            .filter(|(_, at)| now.duration_since(**at) >= t.0.redeliver_after)
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
        if every(t.0.faults.duplicate_delivery_every, s.deliveries) {
            c.again.push(index);
        }
        let (subject, payload) = s.log[index].clone();
        let durable = self.durable.clone();
        let transport = t.clone();
        let ack: Acker = Box::new(move || {
            let mut s = transport.lock();
            if let Some(c) = s.consumers.get_mut(&durable) {
                c.pending.remove(&index);
                c.acked.insert(index);
            }
            Box::pin(async {})
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
                let notified = self.transport.0.notify.notified();
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
