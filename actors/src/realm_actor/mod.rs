//! The shell of one browsing context or worker on its event loop: it owns the current
//! realm (`RealmInner`), runs the tasks the loop hands it, creates documents and
//! applies navigation.
//!
//! One [`RealmActor`] is hosted per browsing context (window or iframe) and per worker,
//! by the `EventLoop` of its agent: the iframes of a
//! browsing-context group share their top-level window's loop, each worker has a loop of
//! its own. Its message enum, `RealmMessage`, is the set of tasks it runs, each queued
//! on the [`TaskSource`] that `Host::source_of` names.
//!
//! For a window, the shell outlives documents: navigation and restart replace its current
//! realm with a new one, so the `WindowProxy` naming it keeps working. Navigation is
//! asynchronous, as in a browser: `WindowProxy::navigate` queues it, and until its task
//! runs the current document stays active and keeps receiving the messages posted to it.
//! When it runs: `pagehide` and `unload` fire at the old document, the old realm is torn
//! down, the new document is created (exactly once, however navigations race: a later
//! navigation supersedes a pending one), its script runs, `load` fires at it and, for an
//! iframe, at the iframe element in the parent's document.
//!
//! Listeners and scripts run under `catch_unwind`: a panic is a crash of this realm alone
//! (see [`crate::supervision`]); other realms on the same thread go on.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;

use webmessaging_core::clone::SerializedWithTransfer;
use webmessaging_core::port_queue::{Next, PortTask};

use crate::broadcast::BroadcastDelivery;
use crate::dispatch::{self, deliver, deliver_record, drop_msg, fire, panic_message, Crashed};
use crate::event::{self, EventTarget, EventType, MessageEvent, MessageEventSource, ScriptError};
use crate::event_loop::sim::{FaultTargets, World};
use crate::event_loop::{EventLoop, Host, LoopCx, LoopMessage, LoopShared};
use crate::kernel::trace;
use crate::kernel::{FaultKind, TaskSource, TimerId};
use crate::port::MessagePort;
use crate::realm::{RealmInit, RealmInner, RealmKind};
use crate::runtime::Runtime;
use crate::scope::Scope;
use crate::supervision::{self, CrashReport, LifecycleEvent};
use crate::supervisor::RestartHistory;
use crate::window::{BrowsingContext, PendingNavigation, PostedMessage, WindowProxy};
use crate::worker::WorkerShared;

mod navigation;
mod workers;

/// How many tasks of one shipped port run as one entry of its source.
const PORT_BATCH: usize = 64;

/// The event loop type of the runtime.
pub(crate) type Loop = LoopShared<RealmActor>;
/// The address of a realm shell.
pub(crate) type RealmAddr = crate::event_loop::RealmAddr<RealmActor>;
/// What a realm shell's task sees of its loop.
pub(crate) type Cx = LoopCx<RealmActor>;

/// The tasks a realm shell runs.
pub(crate) enum RealmMessage {
    /// A window message (posted message task source).
    Posted(Box<PostedMessage>),
    /// The port message queue of the shipped port with this key has tasks.
    PortReady { key: u64, generation: u64 },
    /// A message from a `Worker` object to its worker's global scope.
    ToWorkerGlobal { data: Box<SerializedWithTransfer> },
    /// A message from a worker to its `Worker` object, in the creator realm.
    FromWorker {
        worker: u64,
        document: u64,
        data: Box<SerializedWithTransfer>,
    },
    /// A worker crashed or stopped: fire `error` at its `Worker` object.
    WorkerError {
        worker: u64,
        document: u64,
        message: Box<str>,
    },
    /// Run a closure in the current realm (from code outside the runtime).
    Run(Box<dyn FnOnce(&Scope) + Send>),
    /// Create the first document (or the worker's global) and run its script.
    Load,
    /// Apply the pending navigation with this id, unless a later one superseded it.
    Navigate { navigation: u64 },
    /// A child iframe's document loaded: fire `load` at its iframe element.
    ChildLoaded(WindowProxy),
    /// A child realm of this one crashed: apply the supervision strategy.
    ChildCrashed(Box<CrashReport>),
    /// Restart the current document (sent by the supervisor).
    Restart { reason: String },
    /// Crash this realm: a panic in a broadcast delivery run by its event loop, which
    /// marked the realm not fully active (ignored if a new document replaced it).
    Crash { message: String },
    /// A lifecycle event of one of this realm's children.
    Lifecycle(Box<LifecycleEvent>),
    /// Close the window, remove the iframe, or terminate the worker.
    Destroy,
    /// A `SharedWorker` was constructed: fire `connect` (with the port this carries) at
    /// the shared worker's global.
    Connect(Box<SerializedWithTransfer>),
    /// Room came back in the bounded peer queue of this realm's port `key`: `drain`.
    PortDrain { key: u64 },
}

/// A microtask: a closure for the document that queued it.
pub(crate) struct Microtask {
    pub(crate) document: u64,
    pub(crate) callback: Box<dyn FnOnce(&Scope)>,
}

/// The shell of one browsing context or worker.
pub struct RealmActor {
    pub(crate) kind: RealmKind,
    pub(crate) current: Option<Rc<RealmInner>>,
    /// The root's restart history of a top-level window (its group's root supervises it).
    pub(crate) restarts: RestartHistory,
    /// This realm's restarts so far.
    pub(crate) restart_count: u32,
    pub(crate) name: Rc<str>,
    /// The first document was created.
    loaded: bool,
    /// Tasks that arrived before the first document was created (run after it).
    before_load: Vec<RealmMessage>,
    /// The shell keeps its loop alive (a top-level window, a worker).
    keeps_loop: bool,
    /// `event.origin` of the last window message handled: the next one from the same
    /// origin shares it instead of allocating its own copy.
    last_origin: Option<Rc<str>>,
}

impl Host for RealmActor {
    type Message = RealmMessage;
    type Microtask = Microtask;
    type Delivery = BroadcastDelivery;

    fn source_of(msg: &RealmMessage) -> TaskSource {
        match msg {
            RealmMessage::Posted(_)
            | RealmMessage::ToWorkerGlobal { .. }
            | RealmMessage::FromWorker { .. } => TaskSource::PostedMessage,
            RealmMessage::PortReady { .. } => TaskSource::ShippedPorts,
            RealmMessage::WorkerError { .. }
            | RealmMessage::Connect(_)
            | RealmMessage::PortDrain { .. } => TaskSource::DomManipulation,
            RealmMessage::Load | RealmMessage::Navigate { .. } | RealmMessage::ChildLoaded(_) => {
                TaskSource::Navigation
            }
            RealmMessage::Run(_)
            | RealmMessage::ChildCrashed(_)
            | RealmMessage::Restart { .. }
            | RealmMessage::Crash { .. }
            | RealmMessage::Lifecycle(_)
            | RealmMessage::Destroy => TaskSource::Runtime,
        }
    }

    fn handle(&mut self, msg: RealmMessage, cx: &mut Cx) {
        if !self.loaded
            && !matches!(
                msg,
                RealmMessage::Load | RealmMessage::Destroy | RealmMessage::Restart { .. }
            )
        {
            self.before_load.push(msg);
            return;
        }
        match msg {
            RealmMessage::Posted(m) => self.handle_posted(cx, *m),
            RealmMessage::PortReady { key, generation } => {
                // The tasks already in this port's queue run as one batch (with a microtask
                // checkpoint after each), up to a bound; then the port goes to the back of
                // its source if more wait. A simulation runs one message per task, as the
                // standard has it, so every order between them is a choice it can make.
                let batch = if cx.event_loop().is_simulated() {
                    1
                } else {
                    PORT_BATCH
                };
                for _ in 0..batch {
                    if !self.run_port_task(cx, key, generation) {
                        return;
                    }
                    cx.checkpoint(self);
                }
                // A shipped end acks what this batch dispatched before it goes on.
                if let Some(sp) = self
                    .realm()
                    .and_then(|r| r.port(key))
                    .and_then(|p| p.shipped_port())
                {
                    sp.ack();
                }
                cx.notify(RealmMessage::PortReady { key, generation });
            }
            RealmMessage::ToWorkerGlobal { data } => self.handle_to_worker_global(cx, *data),
            RealmMessage::FromWorker {
                worker,
                document,
                data,
            } => self.handle_from_worker(cx, worker, document, *data),
            RealmMessage::WorkerError {
                worker,
                document,
                message,
            } => self.handle_worker_error(cx, worker, document, message.into()),
            RealmMessage::Run(f) => self.handle_run(cx, f),
            RealmMessage::Load => self.first_load(cx),
            RealmMessage::Navigate { navigation } => self.navigate(cx, navigation),
            RealmMessage::ChildLoaded(child) => self.child_loaded(cx, child),
            RealmMessage::ChildCrashed(report) => supervision::on_child_crashed(self, cx, *report),
            RealmMessage::Restart { reason } => {
                if !self.loaded {
                    return;
                }
                supervision::restart(self, cx, &reason)
            }
            RealmMessage::Crash { message } => {
                if self.current.as_ref().is_some_and(|r| r.is_alive()) {
                    // The document that crashed was replaced (it navigated) before this
                    // message came: it is gone already, and the new one did not crash.
                    supervision::record_crash_of_replaced(self, message);
                } else {
                    self.crash(cx, message, "a delegated task");
                }
            }
            RealmMessage::Lifecycle(e) => {
                if let Some(realm) = self.realm() {
                    realm.fire_lifecycle(&e);
                }
            }
            RealmMessage::Destroy => self.handle_destroy(cx),
            RealmMessage::Connect(data) => self.handle_connect(cx, *data),
            RealmMessage::PortDrain { key } => {
                let Some(realm) = self.realm() else { return };
                let Some(port) = realm.port(key) else { return };
                let ev = MessageEvent::simple(
                    EventType::Drain,
                    EventTarget::Port(MessagePort(port.clone())),
                );
                let crashed = fire(&realm, &port.listeners, &ev);
                self.crashed(cx, crashed);
            }
        }
    }

    fn port_task(&mut self, key: u64, generation: u64, cx: &mut Cx) {
        self.run_port_task(cx, key, generation);
    }

    fn timer(&mut self, id: TimerId, cx: &mut Cx) {
        let Some(realm) = self.realm() else { return };
        let Some(callback) = realm.timer_callback(id) else {
            return;
        };
        let scope = Scope(realm);
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| callback(&scope))) {
            self.crash(cx, panic_message(&p), "a timer callback");
        }
    }

    fn microtask(&mut self, m: Microtask, cx: &mut Cx) {
        let Some(realm) = self.realm().filter(|r| r.document == m.document) else {
            return;
        };
        let scope = Scope(realm);
        let callback = m.callback;
        if let Err(p) = catch_unwind(AssertUnwindSafe(move || callback(&scope))) {
            self.crash(cx, panic_message(&p), "a microtask");
        }
    }

    fn deliver(d: BroadcastDelivery) {
        crate::broadcast::run_deliveries(d)
    }

    fn describe(msg: &RealmMessage) -> &'static str {
        match msg {
            RealmMessage::Posted(_) => "window message",
            RealmMessage::PortReady { .. } => "port message",
            RealmMessage::ToWorkerGlobal { .. } => "message to worker",
            RealmMessage::FromWorker { .. } => "message from worker",
            RealmMessage::WorkerError { .. } => "worker error",
            RealmMessage::Run(_) => "run",
            RealmMessage::Load => "load",
            RealmMessage::Navigate { .. } => "navigate",
            RealmMessage::ChildLoaded(_) => "iframe load",
            RealmMessage::ChildCrashed(_) => "child crashed",
            RealmMessage::Restart { .. } => "restart",
            RealmMessage::Crash { .. } => "crash",
            RealmMessage::Lifecycle(_) => "lifecycle",
            RealmMessage::Destroy => "destroy",
            RealmMessage::Connect(_) => "connect",
            RealmMessage::PortDrain { .. } => "port drain",
        }
    }

    fn name(&self) -> String {
        self.name.to_string()
    }

    fn fault_targets(&self) -> FaultTargets {
        let Some(realm) = self.realm() else {
            return FaultTargets::default();
        };
        FaultTargets {
            crash: true,
            terminate: matches!(self.kind, RealmKind::Worker(_)),
            navigate: matches!(&self.kind, RealmKind::Window(w) if !w.is_top_level()),
            close_port: !realm.active_ports().is_empty(),
        }
    }

    fn inject(
        &mut self,
        kind: FaultKind,
        pick: &mut dyn FnMut(usize) -> usize,
        cx: &mut Cx,
    ) -> Option<String> {
        let realm = self.realm()?;
        match kind {
            FaultKind::Crash => {
                self.crash(cx, "simulated crash".into(), "a simulated fault");
                Some("crashed".into())
            }
            FaultKind::Terminate => {
                let RealmKind::Worker(shared) = &self.kind else {
                    return None;
                };
                shared.mark_terminated();
                self.handle_destroy(cx);
                Some("terminated".into())
            }
            FaultKind::Navigate => {
                let RealmKind::Window(w) = &self.kind else {
                    return None;
                };
                let url = realm.url.clone();
                w.navigate(url.as_str()).ok()?;
                Some(format!("navigating to {url}"))
            }
            FaultKind::ClosePort => {
                let ports = realm.active_ports();
                if ports.is_empty() {
                    return None;
                }
                let port = ports[pick(ports.len()).min(ports.len() - 1)].clone();
                let name = port.name.to_string();
                MessagePort(port).close();
                Some(format!("{name} closed"))
            }
            FaultKind::Delay => None,
        }
    }

    fn destroy(&mut self, _cx: &mut Cx) {
        if let Some(realm) = self.current.take() {
            realm.tear_down("the event loop ended");
        }
        if let RealmKind::Window(w) = &self.kind {
            w.0.closed.store(true, std::sync::atomic::Ordering::Release);
            w.0.browser.forget_context(w);
        }
    }
}

impl RealmActor {
    pub(crate) fn new(kind: RealmKind) -> RealmActor {
        let name: Rc<str> = match &kind {
            RealmKind::Window(w) => Rc::from(w.name()),
            RealmKind::Worker(s) => Rc::from(s.name.as_str()),
        };
        let keeps_loop = match &kind {
            RealmKind::Window(w) => w.is_top_level(),
            RealmKind::Worker(_) => true,
        };
        RealmActor {
            kind,
            current: None,
            restarts: RestartHistory::default(),
            restart_count: 0,
            name,
            loaded: false,
            before_load: Vec::new(),
            keeps_loop,
            last_origin: None,
        }
    }

    fn browser(&self) -> Runtime {
        match &self.kind {
            RealmKind::Window(w) => w.0.browser.clone(),
            RealmKind::Worker(s) => s.browser.clone(),
        }
    }

    /// Handles the result of running script: reports returned errors, crashes on panic.
    fn after_script(
        &mut self,
        cx: &mut Cx,
        realm: &Rc<RealmInner>,
        r: std::thread::Result<std::result::Result<(), ScriptError>>,
        what: &str,
    ) {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => dispatch::report_error(realm, &e.to_string()),
            Err(panic) => self.crash(cx, panic_message(&panic), what),
        }
    }

    /// This realm crashed: tear it down and let the supervisor decide.
    pub(crate) fn crash(&mut self, cx: &mut Cx, message: String, during: &str) {
        let Some(realm) = self.current.take() else {
            return;
        };
        log::error!(target: "webmessaging::supervision", "{}: crashed during {during}: {message}", realm.name);
        trace::realm_crashed(&realm.name, &message);
        realm.tear_down("crashed");
        supervision::on_crash(self, cx, &realm, message);
    }

    /// Applies the result of running script: a panic message means this realm crashed.
    /// Returns true if it did.
    fn crashed(&mut self, cx: &mut Cx, crashed: Crashed) -> bool {
        match crashed {
            Some(message) => {
                self.crash(cx, message, "dispatch");
                true
            }
            None => false,
        }
    }

    pub(crate) fn realm(&self) -> Option<Rc<RealmInner>> {
        // A removed iframe, a closed window and a terminated (or closing) worker run no
        // more tasks from the moment that happened, even before `Destroy` is handled:
        // tasks queued ahead of it (port tasks, window messages) are dropped.
        let gone = match &self.kind {
            RealmKind::Window(w) => w.closed(),
            RealmKind::Worker(s) => s.is_stopped(),
        };
        self.current.clone().filter(|r| r.is_alive() && !gone)
    }

    fn handle_posted(&mut self, cx: &mut Cx, msg: PostedMessage) {
        // It leaves this context's queue, whatever happens to it now.
        let metrics = match &self.kind {
            RealmKind::Window(w) => Some(&w.0.metrics),
            RealmKind::Worker(_) => None,
        };
        if let Some(m) = metrics {
            let n = m.dequeued(msg.origin.serialize());
            if let RealmKind::Window(w) = &self.kind {
                trace::depth(w.name(), n);
            }
        }
        let dropped = |at: &str, reason: &'static str| {
            drop_msg(at, reason);
            if let Some(m) = metrics {
                m.dropped(reason);
            }
        };
        let Some(realm) = self.realm() else {
            dropped(&self.name, "target document is not fully active");
            return;
        };
        // The task belongs to the Window the message was posted to: if the browsing
        // context navigated away (or restarted) since, drop it.
        if realm.document != msg.target_document {
            dropped(&realm.name, "target navigated away before delivery");
            return;
        }
        // Step 7.1: if targetOrigin is not "*" and the target document's origin is not same
        // origin with it, abort.
        if !msg.target_origin.admits(&realm.origin) {
            log::debug!(target: "webmessaging::window", "{}: message dropped: target origin {:?} does not match {}", realm.name, msg.target_origin, realm.origin);
            dropped(&realm.name, "origin mismatch");
            return;
        }
        // Step 7.2-7.3: origin and source.
        let origin = event::share_str(&mut self.last_origin, msg.origin.serialize());
        let source = Some(MessageEventSource::Window(msg.source));
        let crashed = deliver(
            &realm,
            &realm.listeners,
            EventTarget::Window,
            msg.data,
            origin.into(),
            source,
        );
        self.crashed(cx, crashed);
    }

    /// Runs the next task of port `key`; returns whether one ran.
    fn run_port_task(&mut self, cx: &mut Cx, key: u64, generation: u64) -> bool {
        let Some(realm) = self.realm() else {
            return false;
        };
        let Some(port) = realm.port(key) else {
            return false;
        };
        if port.generation != generation {
            return false;
        }
        if let Some(sp) = port.shipped_port() {
            // A shipped end: the next task of its port actor's queue.
            let next = match sp.next_task() {
                Some(webmessaging_core::rehoming::Body::Message(slot)) => {
                    slot.take().map(PortTask::Message)
                }
                Some(webmessaging_core::rehoming::Body::Close) => Some(PortTask::Close),
                None => return false,
            };
            return match next {
                Some(task) => self.run_port_message(cx, &realm, &port, task),
                // Taken by an earlier incarnation (cannot happen: each sequence number is
                // dispatched once); nothing to run.
                None => true,
            };
        }
        let next = port.channel.lock().next_task(port.end, generation);
        match next {
            Next::Task(task) => self.run_port_message(cx, &realm, &port, task),
            Next::Idle | Next::Stale => false,
        }
    }

    /// Runs one task of a port's queue: fires `message` (or `messageerror`) or `close`.
    fn run_port_message(
        &mut self,
        cx: &mut Cx,
        realm: &Rc<RealmInner>,
        port: &Rc<crate::port::PortObject>,
        task: PortTask<crate::port::Queued>,
    ) -> bool {
        match task {
            PortTask::Message(data) => {
                crate::port::bounded::dispatched(port);
                let target = EventTarget::Port(MessagePort(port.clone()));
                let (record, transfer) = data.into_parts();
                let crashed = deliver_record(
                    realm,
                    &port.listeners,
                    target,
                    event::EventRecord::Owned(record),
                    transfer,
                    event::empty_str(),
                    None,
                );
                self.crashed(cx, crashed);
                true
            }
            PortTask::Close => {
                let ev = MessageEvent::simple(
                    EventType::Close,
                    EventTarget::Port(MessagePort(port.clone())),
                );
                let crashed = fire(realm, &port.listeners, &ev);
                if !self.crashed(cx, crashed) {
                    // The peer is gone: nothing more will arrive; stop keeping the port.
                    realm.release_port(port.key);
                }
                true
            }
        }
    }

    fn handle_run(&mut self, cx: &mut Cx, f: Box<dyn FnOnce(&Scope) + Send>) {
        let Some(realm) = self.realm() else {
            // Dropping `f` drops the reply channel: the caller sees the realm is gone.
            return;
        };
        let scope = Scope(realm.clone());
        let r = catch_unwind(AssertUnwindSafe(|| f(&scope)));
        if let Err(panic) = r {
            self.crash(cx, panic_message(&panic), "a closure run from outside");
        }
    }

    fn handle_destroy(&mut self, cx: &mut Cx) {
        if let Some(realm) = self.current.take() {
            if let Some(p) = realm.tear_down("destroyed") {
                // Going away anyway: the crash is recorded, nothing is restarted.
                supervision::record_crash_of_replaced(self, p);
            }
        }
        match &self.kind {
            RealmKind::Window(w) => {
                w.0.closed.store(true, std::sync::atomic::Ordering::Release);
                w.0.browser.forget_context(w);
            }
            RealmKind::Worker(s) => {
                s.mark_destroyed();
                crate::shared_worker::forget(s);
            }
        }
        cx.stop();
        if self.keeps_loop {
            // The group's event loop ends with its last top-level window; a worker's
            // with the worker.
            if self.loaded {
                cx.event_loop().release();
            } else if cx.event_loop().kept_by() == 0 {
                cx.event_loop().end();
            }
        }
    }
}

/// Starts the event loop of a new browsing-context group (or a worker) and hosts `kind`
/// there. `publish` receives the realm's address before the realm's first task is
/// queued: script on the new loop may use it (post to its own window, close its worker)
/// at once.
fn start_on_new_loop(id: u64, kind: RealmKind, publish: impl FnOnce(RealmAddr)) {
    let runtime = match &kind {
        RealmKind::Window(w) => w.0.browser.clone(),
        RealmKind::Worker(s) => s.browser.clone(),
    };
    let world = runtime.simulation().and_then(World::lookup);
    let (addr, loop_id, load) = EventLoop::<RealmActor>::spawn(world.as_ref());
    publish(RealmAddr::new(addr.clone(), loop_id, id, load));
    if world.is_some() {
        // The simulated loop runs on this thread: host the realm at once.
        if let Some(lp) = LoopShared::<RealmActor>::hosted_here(loop_id) {
            lp.add_host(id, RealmActor::new(kind));
            lp.realm_addr(id).do_send(RealmMessage::Load);
            return;
        }
    }
    addr.do_send(LoopMessage::Add {
        id,
        host: Box::new(move || RealmActor::new(kind)),
        first: Some(RealmMessage::Load),
    });
}

/// Hosts a new top-level window on a new event loop.
pub(crate) fn start_window_actor(ctx: Arc<BrowsingContext>) {
    let proxy = WindowProxy(ctx.clone());
    start_on_new_loop(ctx.id.0, RealmKind::Window(proxy), |addr| {
        let _ = ctx.addr.set(addr);
    });
}

/// Hosts a browsing context on the event loop of this thread (an iframe, or a window
/// opened by script in this group); its first document loads as a task.
pub(crate) fn start_on_this_loop(lp: &Rc<Loop>, ctx: Arc<BrowsingContext>) -> RealmAddr {
    let id = ctx.id.0;
    let addr = lp.realm_addr(id);
    let _ = ctx.addr.set(addr.clone());
    lp.add_host(id, RealmActor::new(RealmKind::Window(WindowProxy(ctx))));
    addr.do_send(RealmMessage::Load);
    addr
}

/// Hosts a worker on an event loop of its own.
pub(crate) fn start_worker(shared: Arc<WorkerShared>) {
    let id = shared.id.0;
    let s2 = shared.clone();
    start_on_new_loop(id, RealmKind::Worker(shared), |addr| {
        let _ = s2.addr.set(addr);
    });
}
