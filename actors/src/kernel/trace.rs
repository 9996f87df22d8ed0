//! The trace recorder and its hooks: the runtime reports here what was posted, delivered,
//! dropped (and why), transferred, closed, thrown, crashed and restarted.
//!
//! Off by default, and then free: every hook is one relaxed atomic load and a branch.
//! The public face (start, take, the exports) is [`crate::trace`].
//!
//! Names: a window or iframe realm is its browsing context's name, `#` and the document's
//! serial; a worker realm `workerN(URL)#0`; ports `portC.E` with `@n` after `n` transfers.
//! A port event is attributed to the realm that owns the port when it happens.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use webmessaging_core::Error;

use crate::kernel::lifecycle::LifecycleEvent;

static ENABLED: AtomicBool = AtomicBool::new(false);
static NEXT_CHANNEL: AtomicU64 = AtomicU64::new(1);
static EVENTS: Mutex<Vec<TraceEvent>> = Mutex::new(Vec::new());
static EPOCH: Mutex<Option<Instant>> = Mutex::new(None);
/// Who owns what, while recording: port (without `@n`) -> owner realm, worker -> creator
/// realm. Filled only while recording is on.
static OWNERS: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

pub(crate) fn next_channel_id() -> u64 {
    NEXT_CHANNEL.fetch_add(1, Ordering::Relaxed)
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceKind {
    /// A message was posted from `from` to `to`.
    Post,
    /// An event was dispatched in `to` (`detail`: the event type, where, and the origin).
    Deliver,
    /// A message was dropped at `from`; `detail` says why.
    Drop,
    /// A port was transferred: `to` is the realm that received it (`detail` names it).
    Transfer,
    /// A port was closed (`from`: its owner, `to`: its peer's owner).
    Close,
    /// A listener returned an error, or an operation threw (`detail`: the exception).
    Error,
    /// A realm crashed (`detail`: the panic message).
    Crash,
    /// A supervised realm was restarted, stopped or escalated (`detail` says which).
    Lifecycle,
    /// The depth of a queue changed: `from` names the queue (a browsing context's
    /// window messages, by the context's name, or `event loop N`, the message tasks
    /// waiting in loop `N`), `detail` is how many wait now (a number).
    Depth,
}

impl TraceKind {
    /// The kind's name, as the exports write it (`post`, `deliver`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            TraceKind::Post => "post",
            TraceKind::Deliver => "deliver",
            TraceKind::Drop => "drop",
            TraceKind::Transfer => "transfer",
            TraceKind::Close => "close",
            TraceKind::Error => "error",
            TraceKind::Crash => "crash",
            TraceKind::Lifecycle => "lifecycle",
            TraceKind::Depth => "depth",
        }
    }
}

/// One recorded event.
#[derive(Debug, Clone)]
pub struct TraceEvent {
    /// Microseconds since the recording started.
    pub at_us: f64,
    /// What happened.
    pub kind: TraceKind,
    /// Where it happened, or the sending side: a realm name (or a port name when its owner
    /// is unknown).
    pub from: String,
    /// The receiving side, if any (a realm or browsing-context name, or
    /// `BroadcastChannel NAME`); empty when the event has one side only.
    pub to: String,
    /// Free text: what was sent, which port, the drop reason, the error message.
    pub detail: String,
    /// The thread it was recorded on.
    pub thread: String,
}

/// Whether recording is on.
#[inline]
pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Starts recording (clearing earlier events).
pub fn start() {
    EVENTS.lock().unwrap_or_else(|p| p.into_inner()).clear();
    *OWNERS.lock().unwrap_or_else(|p| p.into_inner()) = Some(HashMap::new());
    *EPOCH.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    ENABLED.store(true, Ordering::Relaxed);
}

/// Stops recording and returns what was recorded, in order.
pub fn take() -> Vec<TraceEvent> {
    ENABLED.store(false, Ordering::Relaxed);
    *OWNERS.lock().unwrap_or_else(|p| p.into_inner()) = None;
    std::mem::take(&mut *EVENTS.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Returns a copy of what was recorded so far, recording on.
pub fn snapshot() -> Vec<TraceEvent> {
    EVENTS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Records the depth of queue `queue` (see [`TraceKind::Depth`]), when recording is on.
#[inline]
pub(crate) fn depth(queue: &str, n: usize) {
    if is_enabled() {
        record(TraceKind::Depth, queue, "", &n.to_string());
    }
}

/// Records an event (when recording is on; the hooks check first).
#[cold]
pub(crate) fn record(kind: TraceKind, from: &str, to: &str, detail: &str) {
    let at_us = EPOCH
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .map(|e| e.elapsed().as_secs_f64() * 1e6)
        .unwrap_or(0.0);
    let current = std::thread::current();
    let thread = current
        .name()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:?}", current.id()));
    EVENTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(TraceEvent {
            at_us,
            kind,
            from: from.to_owned(),
            to: to.to_owned(),
            detail: detail.to_owned(),
            thread,
        });
}

// ----- ownership, for attributing port and worker events to realms -----

fn port_base(port: &str) -> &str {
    port.split('@').next().unwrap_or(port)
}

fn peer_name(port: &str) -> String {
    // "port3.1@2" -> "port3.2"
    let base = port_base(port);
    if let Some(stem) = base.strip_suffix(".1") {
        format!("{stem}.2")
    } else if let Some(stem) = base.strip_suffix(".2") {
        format!("{stem}.1")
    } else {
        base.to_owned()
    }
}

fn owner_of(key: &str) -> Option<String> {
    OWNERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|m| m.get(key).cloned())
}

fn set_owner(key: &str, owner: &str) {
    if let Some(m) = OWNERS.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        m.insert(key.to_owned(), owner.to_owned());
    }
}

/// The realm owning `port` now, or the port's own name if unknown.
fn port_owner(port: &str) -> String {
    owner_of(port_base(port)).unwrap_or_else(|| port_base(port).to_owned())
}

// ----- hooks -----

/// A port object was created in `realm` (by a `MessageChannel`, or by receiving a
/// transferred port).
#[inline]
pub(crate) fn port_owned(port: &str, realm: &str) {
    if is_enabled() {
        set_owner(port_base(port), realm);
    }
}

/// A worker was spawned by `creator`.
#[inline]
pub(crate) fn worker_spawned(worker: &str, creator: &str) {
    if is_enabled() {
        set_owner(worker, creator);
    }
}

#[inline]
pub(crate) fn port_posted(port: &str) {
    if is_enabled() {
        let peer = peer_name(port);
        record(
            TraceKind::Post,
            &port_owner(port),
            &port_owner(&peer),
            &format!("{} to {peer}", port_base(port)),
        );
    }
}

#[inline]
pub(crate) fn port_closed(port: &str) {
    if is_enabled() {
        let peer = peer_name(port);
        record(
            TraceKind::Close,
            &port_owner(port),
            &port_owner(&peer),
            &format!("{} closed, {peer} gets close", port_base(port)),
        );
    }
}

/// A message to a worker (`to_worker`) or from it to its `Worker` object.
#[inline]
pub(crate) fn worker_posted(worker: &str, from_realm: Option<&str>, to_worker: bool) {
    if is_enabled() {
        let creator = from_realm
            .map(str::to_owned)
            .or_else(|| owner_of(worker))
            .unwrap_or_else(|| "Worker object".to_owned());
        if to_worker {
            record(TraceKind::Post, &creator, worker, "worker.postMessage");
        } else {
            record(
                TraceKind::Post,
                worker,
                &creator,
                "postMessage to the Worker object",
            );
        }
    }
}

/// A message was dropped at `at` (a realm or a port) because of `reason`.
#[inline]
pub(crate) fn dropped(at: &str, reason: &str) {
    if is_enabled() {
        if at.starts_with("port") {
            let detail = format!("{}: {reason}", port_base(at));
            record(TraceKind::Drop, &port_owner(at), "", &detail);
        } else {
            record(TraceKind::Drop, at, "", reason);
        }
    }
}

#[inline]
pub(crate) fn realm_crashed(realm: &str, message: &str) {
    if is_enabled() {
        record(TraceKind::Crash, realm, "", message);
    }
}

/// An event of `event_type` was dispatched in `realm` at `target` (a port name, the
/// realm's own name for its global, `realm/workerN` or `realm/bc:NAME`).
#[inline]
pub(crate) fn delivered(realm: &str, target: &str, event_type: &str, origin: &str) {
    if is_enabled() {
        let at = if target.starts_with("port") {
            format!(" at {}", port_base(target))
        } else if let Some(rest) = target.strip_prefix(realm) {
            match rest.strip_prefix('/') {
                Some(r) if r.starts_with("bc:") => format!(" at BroadcastChannel {}", &r[3..]),
                Some(r) => format!(" at the {r} object"),
                None if origin.is_empty() => " at the global".to_owned(),
                None => String::new(),
            }
        } else {
            format!(" at {target}")
        };
        let from = if origin.is_empty() {
            String::new()
        } else {
            format!(" from {origin}")
        };
        record(
            TraceKind::Deliver,
            realm,
            realm,
            &format!("{event_type}{at}{from}"),
        );
    }
}

/// `operation` threw `error` synchronously in `realm` (a `DataCloneError`, a
/// `SyntaxError`, an `InvalidStateError`).
#[inline]
pub(crate) fn thrown(realm: &str, operation: &str, error: &Error) {
    if is_enabled() {
        record(
            TraceKind::Error,
            realm,
            "",
            &format!("{operation} threw {error}"),
        );
    }
}

/// A supervised realm's lifecycle event.
#[inline]
pub(crate) fn lifecycle(e: &LifecycleEvent) {
    if is_enabled() {
        let detail = match e {
            // The crash itself was recorded (as a `Crash`) where it happened.
            LifecycleEvent::Crashed { .. } => return,
            LifecycleEvent::Restarted { count, .. } => format!("restarted (restart {count})"),
            LifecycleEvent::Stopped { .. } => "stopped".to_owned(),
            LifecycleEvent::Escalated { to, .. } => format!("crash escalated to {to}"),
            LifecycleEvent::Flooded { origin, reason, .. } => {
                format!("flooded by {origin} ({reason})")
            }
        };
        record(TraceKind::Lifecycle, e.realm(), "", &detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_events_are_attributed_to_their_owner_realm() {
        // Uses the global recorder: keep everything in this one test.
        start();
        port_owned("port9.1", "https://a.example/#1");
        port_owned("port9.2", "https://a.example/#1");
        port_owned("port9.2@1", "worker7(https://a.example/w.js)#0");
        port_posted("port9.1");
        dropped("port9.1", "port is closed");
        delivered(
            "worker7(https://a.example/w.js)#0",
            "port9.2@1",
            "message",
            "",
        );
        // Other tests may run realms meanwhile: look at this test's port only.
        let events: Vec<TraceEvent> = take()
            .into_iter()
            .filter(|e| e.detail.contains("port9."))
            .collect();
        assert!(!is_enabled());
        assert_eq!(events.len(), 3, "{events:?}");
        assert_eq!(events[0].from, "https://a.example/#1");
        assert_eq!(events[0].to, "worker7(https://a.example/w.js)#0");
        assert_eq!(events[0].detail, "port9.1 to port9.2");
        assert_eq!(events[1].from, "https://a.example/#1");
        assert_eq!(events[1].detail, "port9.1: port is closed");
        assert_eq!(events[2].detail, "message at port9.2");
        // Off: hooks record nothing.
        port_posted("port9.1");
        assert!(!snapshot().iter().any(|e| e.detail.contains("port9.")));
    }
}
