//! Counters of what happened to the messages on their way to (and from) one browsing
//! context: drops by reason, rate-limit refusals, quota refusals, and the window messages
//! queued for it now, per sender origin (the bound of
//! [`Limits::max_queued_per_origin`](crate::Limits::max_queued_per_origin)).
//!
//! Plain data with a lock, shared by the threads that post to the context and the one
//! that runs it; read as a [`MetricsSnapshot`] through
//! [`WindowHandle::metrics`](crate::WindowHandle::metrics).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// What [`Metrics`] counted so far, at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Messages to this context dropped, by reason (`"rate limited"`, `"origin
    /// mismatch"`, `"target navigated away before delivery"`, ...), rate-limit and
    /// quota refusals included.
    pub dropped: BTreeMap<String, u64>,
    /// Messages to this context refused by the rate limit (also in `dropped`).
    pub rate_limited: u64,
    /// Messages to this context refused because their origin had
    /// `max_queued_per_origin` window messages queued here already, or the context had
    /// `max_queued` (also in `dropped`, by which bound).
    pub over_quota: u64,
    /// Messages this context sent that the rate limit refused (to other windows, to
    /// workers, on broadcast channels).
    pub rate_limited_sent: u64,
    /// Window messages queued for this context now, not yet handled.
    pub queued: usize,
    /// The most window messages that were queued for it at once.
    pub peak_queued: usize,
    /// The load of the event loop that runs this context (shared by every realm of its
    /// browsing-context group).
    pub event_loop: LoadSnapshot,
}

/// What a [`LoopLoad`] counted so far, at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadSnapshot {
    /// Message tasks waiting in the event loop now (in its task queues or on their way
    /// into them), over every realm it hosts.
    pub queued: usize,
    /// The most that waited at once.
    pub peak: usize,
    /// Message tasks refused because
    /// [`Limits::max_queued_per_event_loop`](crate::Limits::max_queued_per_event_loop)
    /// were waiting already.
    pub refused: u64,
}

/// The message tasks waiting in one event loop: posted messages (window messages and
/// messages between a worker and its creator) and `BroadcastChannel` deliveries, from
/// when they are posted, on any thread, until their task runs.
///
/// Lock-free counters shared by the loop and every sender holding the address of one of
/// its realms; the bound is the caller's
/// ([`Limits::max_queued_per_event_loop`](crate::Limits::max_queued_per_event_loop)).
///
/// ```
/// use webmessaging::kernel::metrics::LoopLoad;
///
/// let load = LoopLoad::default();
/// assert!(load.try_admit(Some(2)));
/// assert!(load.try_admit(Some(2)));
/// assert!(!load.try_admit(Some(2)), "full: refused and counted");
/// load.done();
/// assert!(load.try_admit(Some(2)));
/// let s = load.snapshot();
/// assert_eq!((s.queued, s.peak, s.refused), (2, 2, 1));
/// ```
#[derive(Debug, Default)]
pub struct LoopLoad {
    queued: AtomicUsize,
    peak: AtomicUsize,
    refused: AtomicU64,
}

impl LoopLoad {
    /// One more message task waits, unless `limit` of them wait already (then it is
    /// counted as refused, and the caller drops it). `None`: no bound.
    pub fn try_admit(&self, limit: Option<usize>) -> bool {
        let now = match limit {
            None => self.queued.fetch_add(1, Ordering::Relaxed) + 1,
            Some(l) => {
                let r = self
                    .queued
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        (n < l).then_some(n + 1)
                    });
                match r {
                    Ok(n) => n + 1,
                    Err(_) => {
                        self.refused.fetch_add(1, Ordering::Relaxed);
                        return false;
                    }
                }
            }
        };
        if now > self.peak.load(Ordering::Relaxed) {
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
        true
    }

    /// A message task admitted earlier ran, or was dropped before it ran.
    pub fn done(&self) {
        let _ = self
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// The counters now.
    pub fn snapshot(&self) -> LoadSnapshot {
        LoadSnapshot {
            queued: self.queued.load(Ordering::Relaxed),
            peak: self.peak.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

#[derive(Default)]
struct Inner {
    snapshot: MetricsSnapshot,
    /// Window messages queued now, by sender origin (serialized).
    queued_by_origin: HashMap<String, usize>,
    /// The (document, sender origin, reason) floods already reported.
    reported: std::collections::HashSet<(u64, String, &'static str)>,
}

/// The counters of one browsing context.
#[derive(Default)]
pub struct Metrics(Mutex<Inner>);

impl Metrics {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A message to this context was dropped for `reason`.
    pub fn dropped(&self, reason: &str) {
        let mut i = self.inner();
        *i.snapshot.dropped.entry(reason.to_owned()).or_default() += 1;
        if reason == RATE_LIMITED {
            i.snapshot.rate_limited += 1;
        } else if reason == OVER_QUOTA || reason == OVER_CAPACITY || reason == OVER_LOOP_BOUND {
            i.snapshot.over_quota += 1;
        }
    }

    /// Whether a flood of `document` by `origin` refused for `reason` is reported for
    /// the first time now (true once per triple).
    pub fn first_flood(&self, document: u64, origin: &str, reason: &'static str) -> bool {
        self.inner()
            .reported
            .insert((document, origin.to_owned(), reason))
    }

    /// A message this context sent was refused by the rate limit.
    pub fn sent_rate_limited(&self) {
        self.inner().snapshot.rate_limited_sent += 1;
    }

    /// A window message from `origin` is about to be queued for this context: refused
    /// (and nothing counted) with the drop reason if `origin` has `per_origin` queued
    /// here already, or the context has `total`. Returns how many are queued now.
    pub fn try_enqueue(
        &self,
        origin: &str,
        per_origin: Option<usize>,
        total: Option<usize>,
    ) -> Result<usize, &'static str> {
        let mut i = self.inner();
        let n = i.queued_by_origin.get(origin).copied().unwrap_or(0);
        if per_origin.is_some_and(|l| n >= l) {
            return Err(OVER_QUOTA);
        }
        if total.is_some_and(|l| i.snapshot.queued >= l) {
            return Err(OVER_CAPACITY);
        }
        // Counted by origin only while a per-origin bound is set (no allocation per
        // message otherwise).
        if per_origin.is_some() {
            match i.queued_by_origin.get_mut(origin) {
                Some(n) => *n += 1,
                None => {
                    i.queued_by_origin.insert(origin.to_owned(), 1);
                }
            }
        }
        i.snapshot.queued += 1;
        i.snapshot.peak_queued = i.snapshot.peak_queued.max(i.snapshot.queued);
        Ok(i.snapshot.queued)
    }

    /// A window message from `origin` left the queue (handled or dropped); returns how
    /// many are queued now.
    pub fn dequeued(&self, origin: &str) -> usize {
        let mut i = self.inner();
        if let Some(n) = i.queued_by_origin.get_mut(origin) {
            *n -= 1;
            if *n == 0 {
                i.queued_by_origin.remove(origin);
            }
        }
        i.snapshot.queued = i.snapshot.queued.saturating_sub(1);
        i.snapshot.queued
    }

    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        self.inner().snapshot.clone()
    }
}

/// The drop reason of a message the rate limit refused.
pub const RATE_LIMITED: &str = "rate limited";
/// The drop reason of a message refused by the per-origin queue bound.
pub const OVER_QUOTA: &str = "over the per-origin queue bound";
/// The drop reason of a message refused by the per-context queue bound.
pub const OVER_CAPACITY: &str = "over the queue bound";
/// The drop reason of a message refused by the per-event-loop bound.
pub const OVER_LOOP_BOUND: &str = "over the event loop's queue bound";

/// A message `what` from or at `at` refused by the event loop's bound (the loop's
/// [`LoopLoad`] counted it): logged and traced, never delivered.
pub(crate) fn refused_by_loop_bound(at: &str, what: &str) {
    log::debug!(target: "webmessaging::limits", "{at}: {what} dropped: {OVER_LOOP_BOUND}");
    super::trace::dropped(at, OVER_LOOP_BOUND);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_bound_per_origin() {
        let m = Metrics::default();
        let a = "https://a.example";
        assert_eq!(m.try_enqueue(a, Some(2), Some(3)), Ok(1));
        assert_eq!(m.try_enqueue(a, Some(2), Some(3)), Ok(2));
        assert_eq!(m.try_enqueue(a, Some(2), Some(3)), Err(OVER_QUOTA));
        // Another origin has its own share, up to the context's total.
        assert_eq!(m.try_enqueue("https://b.example", Some(2), Some(3)), Ok(3));
        assert_eq!(
            m.try_enqueue("https://c.example", Some(2), Some(3)),
            Err(OVER_CAPACITY)
        );
        assert_eq!(m.dequeued(a), 2);
        assert_eq!(m.try_enqueue(a, Some(2), Some(3)), Ok(3));
        let s = m.snapshot();
        assert_eq!((s.queued, s.peak_queued), (3, 3));
        m.dequeued("https://b.example");
        assert_eq!(m.snapshot().queued, 2);
    }

    #[test]
    fn loop_load_bound_and_counts_across_threads() {
        let load = std::sync::Arc::new(LoopLoad::default());
        let admitted: usize = (0..4)
            .map(|_| {
                let l = load.clone();
                std::thread::spawn(move || (0..1000).filter(|_| l.try_admit(Some(100))).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        // Never more than the bound at once, and every refusal counted.
        let s = load.snapshot();
        assert_eq!(admitted, 100);
        assert_eq!((s.queued, s.peak, s.refused), (100, 100, 3900));
        for _ in 0..100 {
            load.done();
        }
        load.done(); // one too many never wraps
        assert_eq!(load.snapshot().queued, 0);
        assert!(load.try_admit(None));
        assert_eq!(load.snapshot().queued, 1);
    }

    #[test]
    fn drops_by_reason() {
        let m = Metrics::default();
        m.dropped(RATE_LIMITED);
        m.dropped(RATE_LIMITED);
        m.dropped(OVER_QUOTA);
        m.dropped("origin mismatch");
        m.sent_rate_limited();
        let s = m.snapshot();
        assert_eq!(s.rate_limited, 2);
        assert_eq!(s.over_quota, 1);
        assert_eq!(s.rate_limited_sent, 1);
        assert_eq!(s.dropped.get("origin mismatch"), Some(&1));
        assert_eq!(s.dropped.values().sum::<u64>(), 4);
    }
}
