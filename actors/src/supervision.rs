//! Supervised realms: crash isolation, restart policies and OTP strategies.
//!
//! A panic in a realm's script or listener is a *crash of that realm*: it is caught at the
//! actor boundary, logged, and contained; other realms, on that thread or any other, go
//! on. The crashed realm is torn down at once (no longer fully active: its ports close and
//! their peers get `close`, its broadcast channels close, its workers terminate, its
//! iframes go) and its supervisor decides what happens next.
//!
//! # The tree
//!
//! An iframe is supervised by its parent window's realm, a dedicated worker by the realm
//! that created it, and a top-level window by its browsing-context group's root (the
//! runtime itself: it applies the window's own policy with the default intensity; on
//! `Escalate`, or when that intensity is exceeded, it stops the window, as there is
//! nothing above it). A shared worker has no single creator: the root supervises it as
//! it does a top-level window, with the policy set on any of its `SharedWorker` objects;
//! its crash fires `error` at every one of them (see [`crate::shared_worker`]).
//!
//! # Policies, strategies, intensity
//!
//! Each supervised realm has a [`RestartPolicy`], set with
//! [`IframeOptions::restart_policy`](crate::IframeOptions::restart_policy),
//! [`WindowProxy::set_restart_policy`] or
//! [`Worker::set_restart_policy`](crate::Worker::set_restart_policy):
//! - `Reload` (the default, for windows, iframes and workers alike): a new document at the
//!   same URL (for a worker, the same script again on the same thread); the load script
//!   runs again, and the `WindowProxy` or `Worker` handle stays valid and reaches the new
//!   realm. The document serial ([`WindowProxy::document_serial`]) grows by one.
//! - `Stop`: the realm is closed, like a crashed tab (a worker is terminated).
//! - `Escalate`: the realm is stopped and its supervisor itself crashes (and *its*
//!   supervisor decides).
//!
//! Each supervising realm has a [`SupervisorSpec`]
//! ([`Scope::set_supervisor`](crate::Scope::set_supervisor)): a [`Strategy`] for its
//! children (default one-for-one) and a restart [`Intensity`] (default: at most 3
//! restarts in 5 seconds).
//! The strategy says which children a `Reload` restarts: only the crashed one
//! (one-for-one), all of them (one-for-all), or the crashed one and those created after it
//! (rest-for-one), whatever the siblings' own policies; a child with policy `Stop` or
//! `Escalate` affects no sibling when it crashes. Every
//! crash that leads to a restart counts once against the intensity, however many siblings
//! the strategy restarts; one crash more than it allows and the supervisor gives up: the
//! crashing child is stopped and the supervisor crashes. The spec and the restart history
//! belong to the supervising realm's document: a restarted supervisor starts with the
//! defaults and a fresh history (its load script sets its spec again) and its old
//! children are gone with its old document.
//!
//! # Lifecycle events
//!
//! Recorded in order in [`Browser::lifecycle_events`](crate::Browser::lifecycle_events)
//! (the last [`LIFECYCLE_LOG_CAPACITY`] of them)
//! (and awaited with [`Browser::wait_lifecycle`](crate::Browser::wait_lifecycle)), and
//! fired at the supervising realm's
//! [`Scope::on_child_lifecycle`](crate::Scope::on_child_lifecycle) listeners (not for
//! top-level windows, which have no supervising realm). A realm is named by its browsing context's name (an iframe's
//! name or URL, a top-level window's URL) or its worker's name. The sequences:
//! - restart: `Crashed { message }` (the panic message), `Restarted { count }` (`count`
//!   counts this realm's restarts so far); `Restarted` is recorded before the new load
//!   script runs, so a crash of that script comes after it;
//! - stop: `Crashed`, `Stopped` (the window is already `closed()`, the worker
//!   terminated, when `Stopped` is recorded);
//! - escalation (policy `Escalate` or intensity exceeded): `Crashed` (child), `Stopped`
//!   (child), `Escalated { to }` (child, to the supervisor's name, `"root"` at the top),
//!   then `Crashed` for the supervisor, with message `"escalated: <child> crashed: ..."`
//!   or `"restart intensity exceeded (N in T): <child> crashed: ..."`, and whatever its own
//!   supervisor does.
//!
//! A crashed worker also fires `error` at its `Worker` object (with the panic message).
//!
//! # Messages in flight across a crash
//!
//! - *Window messages* are tied to the document that was current when they were posted,
//!   and checked against the current document when they are delivered. So every window
//!   message queued for the crashed document is dropped: those behind the fatal one in
//!   its queue, those it posted to itself before crashing, and those posted to it
//!   between the crash and the restart (until the supervisor restarts it, the crashed
//!   document is still its browsing context's document: a message posted from the
//!   supervisor's `Crashed` listener is dropped too). Messages posted once the restart
//!   has happened (from a `Restarted` listener, or after the new document said it is
//!   ready) reach the new document, after its load script has run. With policy `Stop`,
//!   messages to the closed window are dropped.
//! - *Messages the crashed realm sent* before crashing (window, port, worker or broadcast
//!   messages) were queued at their destinations and are delivered.
//! - *Port messages*: the crashed realm's ports are closed; their peers get `close`
//!   after every message sent before the crash, and messages posted to the closed ports
//!   are dropped. Ports the realm had transferred away before crashing are not its ports
//!   any more and keep working.
//! - *Broadcasts*: its channels are closed; deliveries to them are dropped. A panic in a
//!   `BroadcastChannel` listener makes its realm not fully active at once (nothing more
//!   is delivered to it) and crashes it as its actor's next task; if that document was
//!   replaced by a navigation meanwhile, the crash is recorded (`Crashed`) and the new
//!   document is left alone.
//! - *Worker messages*: a dedicated worker's messages all come from its `Worker` object.
//!   Those that reach the worker between its crash and its restart are dropped: the ones
//!   queued behind the fatal one, and the ones the creator posted before its supervision
//!   handled the crash (including from its `Crashed` listener). What the creator posts
//!   after that (from its `Restarted` listener, say) reaches the restarted worker, after
//!   its script ran. Messages to a stopped (or terminated) worker are dropped.
//! - The new document starts with no ports, channels, listeners, iframes or workers: it
//!   shakes hands again (see `examples/supervised_realms.rs`).

use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

pub use crate::kernel::lifecycle::{
    Intensity, LifecycleEvent, RestartPolicy, Strategy, SupervisorSpec,
};
use crate::kernel::trace;
use crate::realm::{RealmInner, RealmKind};
use crate::realm_actor::{Cx, RealmActor, RealmMessage};
use crate::supervisor::{self, Action, ChildInfo};
use crate::window::WindowProxy;
use crate::worker::WorkerShared;

/// How many lifecycle events the runtime keeps (the oldest go first): a realm crashing
/// and restarting in a loop cannot grow the log without bound.
pub const LIFECYCLE_LOG_CAPACITY: usize = 10_000;

/// The runtime-wide record of lifecycle events: the last [`LIFECYCLE_LOG_CAPACITY`].
#[derive(Default)]
pub(crate) struct LifecycleLog {
    events: Mutex<(std::collections::VecDeque<LifecycleEvent>, u64)>,
    changed: Condvar,
    notify: tokio::sync::Notify,
}

impl LifecycleLog {
    pub(crate) fn push(&self, e: LifecycleEvent) {
        trace::lifecycle(&e);
        log::info!(target: "webmessaging::supervision", "{e:?}");
        {
            let mut log = self.events.lock().unwrap_or_else(|p| p.into_inner());
            if log.0.len() >= LIFECYCLE_LOG_CAPACITY {
                log.0.pop_front();
                log.1 += 1;
            }
            log.0.push_back(e);
        }
        self.changed.notify_all();
        self.notify.notify_waiters();
    }

    pub(crate) fn snapshot(&self) -> Vec<LifecycleEvent> {
        let log = self.events.lock().unwrap_or_else(|p| p.into_inner());
        log.0.iter().cloned().collect()
    }

    /// How many events the log has let go (beyond its capacity).
    pub(crate) fn forgotten(&self) -> u64 {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).1
    }

    pub(crate) async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&LifecycleEvent) -> bool,
    ) -> Option<LifecycleEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if let Some(e) = self.snapshot().into_iter().find(|e| pred(e)) {
                return Some(e);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.snapshot().into_iter().find(|e| pred(e));
            }
        }
    }
}

/// A child of a supervisor.
#[derive(Clone)]
pub(crate) enum Child {
    Window(WindowProxy),
    Worker(Arc<WorkerShared>),
}

impl Child {
    fn name(&self) -> String {
        match self {
            Child::Window(w) => w.name().to_owned(),
            Child::Worker(s) => s.name.clone(),
        }
    }

    pub(crate) fn sort_key(&self) -> u64 {
        self.id()
    }

    fn id(&self) -> u64 {
        match self {
            Child::Window(w) => w.id().0,
            Child::Worker(s) => s.id.0,
        }
    }

    fn policy(&self) -> RestartPolicy {
        match self {
            Child::Window(w) => w.restart_policy(),
            Child::Worker(s) => s.restart_policy(),
        }
    }

    fn send(&self, m: RealmMessage) {
        let addr = match self {
            Child::Window(w) => w.0.addr().cloned(),
            Child::Worker(s) => s.addr.get().cloned(),
        };
        if let Some(a) = addr {
            a.do_send(m);
        }
    }

    fn stop(&self) {
        match self {
            Child::Window(w) => w.close(),
            Child::Worker(s) => {
                s.mark_terminated();
                if let Some(a) = s.addr.get() {
                    a.do_send(RealmMessage::Destroy);
                }
            }
        }
    }
}

/// A crash, reported to the supervisor.
pub(crate) struct CrashReport {
    pub(crate) child: Child,
    pub(crate) message: String,
}

/// Called by a realm actor whose realm just crashed (already torn down).
pub(crate) fn on_crash(
    actor: &mut RealmActor,
    ctx: &mut Cx,
    realm: &Rc<RealmInner>,
    message: String,
) {
    let browser = realm.browser.clone();
    browser.0.lifecycle.push(LifecycleEvent::Crashed {
        realm: actor.name.to_string(),
        message: message.clone(),
    });
    match &actor.kind {
        RealmKind::Window(w) => match &w.0.parent {
            Some(parent) => {
                if let Some(a) = parent.0.addr() {
                    a.do_send(RealmMessage::ChildCrashed(Box::new(CrashReport {
                        child: Child::Window(w.clone()),
                        message,
                    })));
                }
            }
            None => {
                // The group's root supervisor.
                let now = ctx.event_loop().now();
                let actions = supervisor::decide_root(
                    &actor.name,
                    w.restart_policy(),
                    &mut actor.restarts,
                    now,
                    &message,
                );
                let w = w.clone();
                for action in actions {
                    match action {
                        Action::Restart { reason, .. } => restart(actor, ctx, &reason),
                        Action::Stop { .. } => w.close(),
                        Action::Record(e) | Action::Tell(e) => browser.0.lifecycle.push(e),
                        Action::CrashSupervisor { .. } => {}
                    }
                }
            }
        },
        RealmKind::Worker(s) => {
            s.report_crash(&message);
            match s.supervisor_addr() {
                Some(parent) => parent.do_send(RealmMessage::ChildCrashed(Box::new(CrashReport {
                    child: Child::Worker(s.clone()),
                    message,
                }))),
                None => {
                    // A shared worker: no creator supervises it, the runtime's root does,
                    // with the worker's own policy, as for a top-level window.
                    let now = ctx.event_loop().now();
                    let actions = supervisor::decide_root(
                        &actor.name,
                        s.restart_policy(),
                        &mut actor.restarts,
                        now,
                        &message,
                    );
                    let s = s.clone();
                    for action in actions {
                        match action {
                            Action::Restart { reason, .. } => restart(actor, ctx, &reason),
                            Action::Stop { .. } => Child::Worker(s.clone()).stop(),
                            Action::Record(e) | Action::Tell(e) => browser.0.lifecycle.push(e),
                            Action::CrashSupervisor { .. } => {}
                        }
                    }
                }
            }
        }
    }
}

/// A document crashed (in a broadcast delivery run by another actor) but was replaced by a
/// navigation before its actor heard of it: nothing is left to tear down or restart; the
/// crash is recorded.
pub(crate) fn record_crash_of_replaced(actor: &RealmActor, message: String) {
    let browser = match &actor.kind {
        RealmKind::Window(w) => w.0.browser.clone(),
        RealmKind::Worker(s) => s.browser.clone(),
    };
    log::error!(target: "webmessaging::supervision", "{}: a replaced document crashed: {message}", actor.name);
    browser.0.lifecycle.push(LifecycleEvent::Crashed {
        realm: actor.name.to_string(),
        message,
    });
}

/// Called in the supervisor when one of its children crashed: decides
/// ([`supervisor::decide`]) and carries the actions out.
pub(crate) fn on_child_crashed(actor: &mut RealmActor, ctx: &mut Cx, report: CrashReport) {
    let Some(realm) = actor.current.clone().filter(|r| r.is_alive()) else {
        // The supervisor is gone itself: the child stays down.
        report.child.stop();
        return;
    };
    let browser = realm.browser.clone();
    let children = realm.supervised_children();
    let info = |c: &Child| ChildInfo {
        id: c.id(),
        name: c.name(),
        policy: c.policy(),
    };
    let infos: Vec<ChildInfo> = children.iter().map(info).collect();
    let now = ctx.event_loop().now();
    let actions = supervisor::decide(
        &actor.name,
        realm.supervisor(),
        &mut realm.restart_history(),
        now,
        &info(&report.child),
        &report.message,
        &infos,
    );
    let child = |id: u64| {
        children
            .iter()
            .find(|c| c.id() == id)
            .unwrap_or(&report.child)
    };
    for action in actions {
        match action {
            Action::Tell(e) => realm.fire_lifecycle(&e),
            Action::Record(e) => {
                realm.fire_lifecycle(&e);
                browser.0.lifecycle.push(e);
            }
            Action::Stop { child: id } => child(id).stop(),
            Action::Restart { child: id, reason } => {
                child(id).send(RealmMessage::Restart { reason })
            }
            Action::CrashSupervisor { message } => actor.crash(ctx, message, "supervision"),
        }
    }
}

/// Restarts the actor's realm: a new document at the same URL (or the worker's script
/// again). Sent by the supervisor; also used by the root for top-level windows.
pub(crate) fn restart(actor: &mut RealmActor, ctx: &mut Cx, reason: &str) {
    let browser = match &actor.kind {
        RealmKind::Window(w) => {
            if w.closed() {
                return;
            }
            // A new document: messages queued for the old one will be dropped.
            w.0.begin_restart();
            w.0.browser.clone()
        }
        RealmKind::Worker(s) => {
            if s.is_stopped() {
                return;
            }
            s.browser.clone()
        }
    };
    actor.restart_count += 1;
    let count = actor.restart_count;
    log::info!(target: "webmessaging::supervision", "{}: restarting ({reason})", actor.name);
    // `Restarted` is recorded before the load script runs, so that a crash of the new
    // document's load script comes after it in the log and at the supervisor.
    let e = LifecycleEvent::Restarted {
        realm: actor.name.to_string(),
        count,
    };
    // The supervisor's realm hears about it too.
    let parent_addr = match &actor.kind {
        RealmKind::Window(w) => w.0.parent.as_ref().and_then(|p| p.0.addr().cloned()),
        RealmKind::Worker(s) => s.supervisor_addr().cloned(),
    };
    if let Some(a) = parent_addr {
        a.do_send(RealmMessage::Lifecycle(Box::new(e.clone())));
    }
    browser.0.lifecycle.push(e);
    actor.reload(ctx);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The log keeps the last `LIFECYCLE_LOG_CAPACITY` events and counts the others.
    #[test]
    fn lifecycle_log_is_bounded() {
        let log = LifecycleLog::default();
        for count in 0..(LIFECYCLE_LOG_CAPACITY as u32 + 5) {
            log.push(LifecycleEvent::Restarted {
                realm: "r".into(),
                count,
            });
        }
        let events = log.snapshot();
        assert_eq!(events.len(), LIFECYCLE_LOG_CAPACITY);
        assert_eq!(log.forgotten(), 5);
        assert!(matches!(
            events[0],
            LifecycleEvent::Restarted { count: 5, .. }
        ));
    }
}
