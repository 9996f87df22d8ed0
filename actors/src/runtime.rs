//! The runtime's shared state, as the realms see it: the URL routes (which script a
//! document or worker loaded from a URL runs), the ids, the open browsing contexts, their
//! observers, the broadcast registry, the lifecycle log, the shut-down flag.
//!
//! [`Browser`](crate::Browser) is the public handle on it (the API layer); realms hold a
//! [`Runtime`] (this layer), so nothing below the API names the `Browser`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use actix::Addr;
use url::Url;
use webmessaging_core::origin::Origin;
use webmessaging_core::rate_limit::{RateLimit, TokenBucket};
use webmessaging_core::{Error, Result};

use crate::broadcast::BroadcastRegistry;
use crate::event::{ListenerOutput, ScriptError};
use crate::kernel::{Clock, RealClock};
use crate::observer::{Observers, RecordSink};
use crate::port::PortDirectory;
use crate::scope::Scope;
use crate::shared_worker::SharedWorkerKey;
use crate::supervision::LifecycleLog;
use crate::window::{BrowsingContextId, WindowProxy};
use crate::worker::WorkerShared;

/// A script: what runs when a document (or worker) loads. It runs again when the realm is
/// restarted, so it is `Fn`, and it is `Send + Sync` because realms run on other threads.
pub type Script = Arc<dyn Fn(&Scope) -> std::result::Result<(), ScriptError> + Send + Sync>;

/// Wraps a closure returning `()` or `Result<(), E>` as a [`Script`].
pub fn script<F, R>(f: F) -> Script
where
    F: Fn(&Scope) -> R + Send + Sync + 'static,
    R: ListenerOutput,
{
    Arc::new(move |s| f(s).into_result())
}

/// The origin a document at `url` gets: `about:blank` and `about:srcdoc` take their
/// creator's origin; every other URL its own (a fresh opaque origin for `data:`).
pub(crate) fn origin_for(url: &Url, creator: Option<&Origin>) -> Origin {
    if url.scheme() == "about" && (url.path() == "blank" || url.path() == "srcdoc") {
        return creator.cloned().unwrap_or_else(Origin::new_opaque);
    }
    Origin::from_url(url)
}

/// The routing key of `url`: the URL without its fragment.
fn route_key(url: &Url) -> String {
    let mut u = url.clone();
    u.set_fragment(None);
    u.to_string()
}

/// Parses an absolute URL (`SyntaxError` otherwise).
pub(crate) fn parse(url: &str) -> Result<Url> {
    Url::parse(url).map_err(|e| Error::Syntax(format!("invalid URL {url:?}: {e}")))
}

/// Bounds that keep one sender from flooding a realm. All are off by default: the
/// standard's queues are unbounded. Set them with
/// [`Browser::set_limits`](crate::Browser::set_limits).
///
/// A message refused by a limit is dropped at once, when it is posted (the sender's
/// call still succeeds, as a lost message's does), counted in the target's
/// [`MetricsSnapshot`](crate::kernel::MetricsSnapshot), traced and logged; it is never
/// delivered later.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// A token bucket per (sender origin, target): window messages to a document of
    /// another origin, messages between a worker and its creator when their origins
    /// differ (a `data:` worker), and, with
    /// [`rate_limit_same_origin`](Self::rate_limit_same_origin), same-origin window and
    /// worker messages and broadcasts (one bucket per origin and channel name).
    pub rate_limit: Option<RateLimit>,
    /// Also rate-limit same-origin traffic (the standard suggests limiting cross-origin
    /// traffic only).
    pub rate_limit_same_origin: bool,
    /// At most this many window messages from one origin waiting in one browsing
    /// context's queue; further ones are dropped until it drains.
    pub max_queued_per_origin: Option<usize>,
    /// At most this many window messages, from all origins, waiting in one browsing
    /// context's queue.
    pub max_queued: Option<usize>,
    /// At most this many message tasks waiting in one event loop (a browsing-context
    /// group's, a worker's), over every realm it hosts and every sender: posted
    /// messages (window messages, messages between a worker and its creator) and
    /// `BroadcastChannel` deliveries (a broadcast post counts one task per destination
    /// loop). Port messages wait in their port's own queue, bounded per channel
    /// ([`Scope::bounded_message_channel`](crate::Scope::bounded_message_channel)).
    pub max_queued_per_event_loop: Option<usize>,
    /// Report floods to the target's supervisor: the first refusal of a window message
    /// by a limit, per (document, sender origin, limit), records a
    /// [`LifecycleEvent::Flooded`](crate::LifecycleEvent::Flooded) in the runtime's log
    /// and at the supervising realm's lifecycle listeners (the parent's, for an iframe).
    /// The messages are dropped either way.
    pub report_floods: bool,
}

/// The rate limiter: a token bucket per (sender origin, target).
struct RateLimiter {
    buckets: HashMap<(Origin, u64), TokenBucket>,
}

/// Buckets kept before idle (full) ones are forgotten.
const MAX_BUCKETS: usize = 4096;

/// The state behind a [`Runtime`].
pub(crate) struct RuntimeInner {
    routes: RwLock<HashMap<String, Script>>,
    next_id: AtomicU64,
    contexts: Mutex<HashMap<BrowsingContextId, WindowProxy>>,
    observers: Mutex<HashMap<BrowsingContextId, Observers>>,
    registry: OnceLock<Arc<BroadcastRegistry>>,
    /// Where each end of every shipped channel lives.
    directory: OnceLock<(Addr<PortDirectory>, Option<actix::ArbiterHandle>)>,
    pub(crate) lifecycle: LifecycleLog,
    /// The shared worker manager's list: the live shared worker globals by key.
    shared_workers: Mutex<HashMap<SharedWorkerKey, Arc<WorkerShared>>>,
    limits: RwLock<Limits>,
    /// `limits.max_queued_per_event_loop`, readable without the lock or a clone by every
    /// worker message and broadcast post (`usize::MAX`: none).
    loop_bound: AtomicUsize,
    limiter: Mutex<RateLimiter>,
    /// The rate limiter's clock in the threaded runtime (a simulation uses its own).
    clock: RealClock,
    shut_down: AtomicBool,
    /// The simulation driving every event loop of this runtime (its id on the thread
    /// that created it), in the simulated mode.
    simulation: Option<u64>,
    /// In the simulated mode: where every observed event of every browsing context is
    /// sent too (the simulation's record).
    all_events: Option<RecordSink>,
}

/// The runtime's shared state (cheap to clone: every clone is the same runtime).
#[derive(Clone)]
pub(crate) struct Runtime(pub(crate) Arc<RuntimeInner>);

impl Runtime {
    /// A new runtime with no windows.
    pub(crate) fn new() -> Runtime {
        Runtime::build(None, None)
    }

    /// A runtime whose event loops the simulation `world` (an id on this thread) drives;
    /// every observed event is sent to `events` too.
    pub(crate) fn simulated(world: u64, events: Option<RecordSink>) -> Runtime {
        Runtime::build(Some(world), events)
    }

    fn build(simulation: Option<u64>, all_events: Option<RecordSink>) -> Runtime {
        Runtime(Arc::new(RuntimeInner {
            routes: RwLock::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            contexts: Mutex::new(HashMap::new()),
            observers: Mutex::new(HashMap::new()),
            registry: OnceLock::new(),
            directory: OnceLock::new(),
            lifecycle: LifecycleLog::default(),
            shared_workers: Mutex::new(HashMap::new()),
            limits: RwLock::new(Limits::default()),
            loop_bound: AtomicUsize::new(usize::MAX),
            limiter: Mutex::new(RateLimiter {
                buckets: HashMap::new(),
            }),
            clock: RealClock::new(),
            shut_down: AtomicBool::new(false),
            simulation,
            all_events,
        }))
    }

    /// The simulation driving this runtime, if it is simulated.
    pub(crate) fn simulation(&self) -> Option<u64> {
        self.0.simulation
    }

    /// The broadcast registry, made on first use.
    pub(crate) fn registry(&self) -> &Arc<BroadcastRegistry> {
        self.0
            .registry
            .get_or_init(|| Arc::new(BroadcastRegistry::new()))
    }

    /// The port directory, started on first use.
    pub(crate) fn port_directory(&self) -> Addr<PortDirectory> {
        let on_this_thread = self.0.simulation.is_some();
        self.0
            .directory
            .get_or_init(|| PortDirectory::start(on_this_thread))
            .0
            .clone()
    }

    /// The limits in force.
    pub(crate) fn limits(&self) -> Limits {
        self.0
            .limits
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// [`Limits::max_queued_per_event_loop`] now: one atomic load.
    pub(crate) fn loop_bound(&self) -> Option<usize> {
        match self.0.loop_bound.load(Ordering::Relaxed) {
            usize::MAX => None,
            n => Some(n),
        }
    }

    /// Replaces the limits (buckets start full again).
    pub(crate) fn set_limits(&self, limits: Limits) {
        let bound = limits.max_queued_per_event_loop.unwrap_or(usize::MAX);
        *self.0.limits.write().unwrap_or_else(|p| p.into_inner()) = limits;
        self.0.loop_bound.store(bound, Ordering::Relaxed);
        self.0
            .limiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .buckets
            .clear();
    }

    /// Whether a message from `sender` to `target` (a key naming the target document,
    /// worker or channel) may go under the rate limit; `cross_origin` says whether the
    /// two origins differ. `now` is the sender's loop's time in a simulation (`None`
    /// in the threaded runtime, which uses one clock for every loop).
    /// `limits` are the ones in force (the caller read them once for the whole post).
    pub(crate) fn admit(
        &self,
        limits: &Limits,
        sender: &Origin,
        target: u64,
        cross_origin: bool,
        now: Option<Duration>,
    ) -> bool {
        let Some(limit) = limits.rate_limit else {
            return true;
        };
        if !cross_origin && !limits.rate_limit_same_origin {
            return true;
        }
        let now = now.unwrap_or_else(|| self.0.clock.now());
        let mut limiter = self.0.limiter.lock().unwrap_or_else(|p| p.into_inner());
        if limiter.buckets.len() >= MAX_BUCKETS {
            // Forget the idle buckets: a full bucket is what a new one would be.
            let burst = f64::from(limit.burst);
            limiter
                .buckets
                .retain(|_, b| b.available(now) < burst - 1e-6);
        }
        limiter
            .buckets
            .entry((sender.clone(), target))
            .or_insert_with(|| TokenBucket::new(limit, now))
            .try_take(now)
    }

    /// The shared worker manager's list (see [`crate::shared_worker`]).
    pub(crate) fn shared_workers(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<SharedWorkerKey, Arc<WorkerShared>>> {
        self.0
            .shared_workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh id (browsing contexts, workers, ports' keys).
    pub(crate) fn next_id(&self) -> u64 {
        self.0.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Serves `script` at `url` (fragment ignored).
    pub(crate) fn route(&self, url: &Url, script: Script) {
        self.0
            .routes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(route_key(url), script);
    }

    /// The script routed for `url`, if any.
    pub(crate) fn script_for(&self, url: &Url) -> Option<Script> {
        self.0
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&route_key(url))
            .cloned()
    }

    /// Whether [`Runtime::shut_down`] was called.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.0.shut_down.load(Ordering::Acquire)
    }

    /// No new windows from now on; broadcasts go nowhere and the port directory's thread
    /// stops (deliveries already queued are dropped). The caller closes the windows.
    pub(crate) fn shut_down(&self) {
        self.0.shut_down.store(true, Ordering::Release);
        crate::shared_worker::close_all(self);
        if let Some(registry) = self.0.registry.get() {
            registry.stop();
        }
        if let Some((_, Some(arbiter))) = self.0.directory.get() {
            arbiter.stop();
        }
    }

    pub(crate) fn register_context(&self, proxy: &WindowProxy) {
        self.0
            .contexts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(proxy.id(), proxy.clone());
    }

    pub(crate) fn forget_context(&self, proxy: &WindowProxy) {
        self.0
            .contexts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&proxy.id());
        self.0
            .observers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&proxy.id());
    }

    /// The observers of browsing context `id` (made on first use).
    pub(crate) fn observers_for(&self, id: BrowsingContextId) -> Observers {
        self.0
            .observers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id)
            .or_insert_with(|| self.fresh_observers())
            .clone()
    }

    /// Observers for a realm nobody subscribes to by name (a worker's): nobody, unless a
    /// simulation records every event.
    pub(crate) fn fresh_observers(&self) -> Observers {
        match &self.0.all_events {
            Some(sink) => Observers::recording(sink.clone()),
            None => Observers::default(),
        }
    }

    /// The browsing contexts open now, by id.
    pub(crate) fn contexts(&self) -> Vec<WindowProxy> {
        let mut v: Vec<WindowProxy> = self
            .0
            .contexts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by_key(|w| w.id());
        v
    }

    /// The number of open browsing contexts.
    pub(crate) fn context_count(&self) -> usize {
        self.0.contexts.lock().map(|c| c.len()).unwrap_or(0)
    }
}
