//! Realm actors: the event loop of a window or a worker.
//!
//! One [`RealmActor`] runs per browsing context (window or iframe) and per dedicated
//! worker. Each actix message it handles is one task of the standard's event loop; its
//! message enum, `RealmMessage`, names the task sources: the posted message task source
//! (window and worker messages), port message queues (`PortReady`), the DOM manipulation
//! task source (broadcasts), and the runtime's own control messages (load, navigate,
//! destroy, run a closure).
//!
//! For a window, the actor outlives documents: navigation and restart replace its current
//! `RealmInner` (the document's realm: origin, listeners, ports) with a new one, so the
//! `WindowProxy` that names the actor keeps working. A realm that is replaced or destroyed
//! is no longer *fully active*: its ports are closed (peers get `close`), its workers are
//! terminated, its iframes removed, its broadcast channels closed, and tasks still queued
//! for it are dropped.
//!
//! Listeners and scripts run under `catch_unwind`: a panic is a crash of this realm alone
//! (see [`crate::supervision`]); other realms on the same thread go on.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler};
use webmessaging_core::clone::{self, SerializedWithTransfer, Transferred};
use webmessaging_core::origin::Origin;
use webmessaging_core::port_queue::Next;
use webmessaging_core::port_queue::PortTask;
use webmessaging_core::value::{PortReceiver, TransferablePort};
use webmessaging_core::{Error, Result};

use crate::broadcast::{BroadcastDelivery, BroadcastScope};
use crate::browser::Browser;
use crate::event::{
    self, EventTarget, EventType, Listeners, MessageEvent, MessageEventSource, Outcome, ScriptError,
};
use crate::observe::{ObservedEvent, Observers};
use crate::port::{MessagePort, PortDataHolder, PortObject, PortOwner};
use crate::scope::Scope;
use crate::supervision::{
    self, Child, CrashReport, LifecycleEvent, RestartHistory, SupervisorSpec,
};
use crate::trace;
use crate::window::{BrowsingContext, PostedMessage, WindowProxy};
use crate::worker::{WorkerObject, WorkerShared};

/// How many port tasks one `PortReady` message runs before yielding to other task sources.
const PORT_BATCH: usize = 256;

thread_local! {
    /// The current realm of each browsing context whose actor runs on this thread.
    static CURRENT_REALMS: RefCell<HashMap<crate::window::BrowsingContextId, Weak<RealmInner>>> =
        RefCell::new(HashMap::new());
}

/// The current realm of a browsing context on this thread, if any.
fn current_realm_of(id: crate::window::BrowsingContextId) -> Option<Rc<RealmInner>> {
    CURRENT_REALMS.with(|r| {
        let mut r = r.borrow_mut();
        r.retain(|_, w| w.strong_count() > 0);
        r.get(&id).and_then(Weak::upgrade)
    })
}

/// The tasks and control messages a realm actor handles.
pub(crate) enum RealmMessage {
    /// A window message (posted message task source).
    Posted(Box<PostedMessage>),
    /// The port message queue of the port with this key has tasks.
    PortReady { key: u64, generation: u64 },
    /// A message from a `Worker` object to its worker's global scope.
    ToWorkerGlobal { data: SerializedWithTransfer },
    /// A message from a worker to its `Worker` object, in the creator realm.
    FromWorker {
        worker: u64,
        document: u64,
        data: SerializedWithTransfer,
    },
    /// A worker crashed or stopped: fire `error` at its `Worker` object.
    WorkerError {
        worker: u64,
        document: u64,
        message: String,
    },
    /// A BroadcastChannel delivery (DOM manipulation task source).
    Broadcast(BroadcastDelivery),
    /// Run a closure in the current realm (from code outside the runtime).
    Run(Box<dyn FnOnce(&Scope) + Send>),
    /// The browsing context navigated; load the document with this serial.
    Navigate { document: u64 },
    /// A child realm of this one crashed: apply the supervision strategy.
    ChildCrashed(CrashReport),
    /// Restart the current document (sent by the supervisor).
    Restart { reason: String },
    /// Crash this realm: a panic in a broadcast delivery run by its event loop's root,
    /// which marked the realm not fully active (ignored if a new document replaced it).
    Crash { message: String },
    /// A lifecycle event of one of this realm's children.
    Lifecycle(LifecycleEvent),
    /// Close the window, remove the iframe, or terminate the worker.
    Destroy,
}

impl actix::Message for RealmMessage {
    type Result = ();
}

/// What kind of global a realm has.
#[derive(Clone)]
pub(crate) enum RealmKind {
    Window(WindowProxy),
    Worker(Arc<WorkerShared>),
}

enum PortSlot {
    Weak(Weak<PortObject>),
    Strong(Rc<PortObject>),
}

impl PortSlot {
    fn get(&self) -> Option<Rc<PortObject>> {
        match self {
            PortSlot::Weak(w) => w.upgrade(),
            PortSlot::Strong(s) => Some(s.clone()),
        }
    }
}

/// The realm of one document (or one worker global): its origin, its listeners, the ports
/// and workers it owns.
pub(crate) struct RealmInner {
    /// This realm's actor address, shared by the owners of its ports (see `PortOwner`).
    pub(crate) shared_addr: Arc<Addr<RealmActor>>,
    pub(crate) addr: Addr<RealmActor>,
    pub(crate) browser: Browser,
    pub(crate) kind: RealmKind,
    pub(crate) origin: Origin,
    pub(crate) url: url::Url,
    pub(crate) document: u64,
    pub(crate) name: Rc<str>,
    pub(crate) listeners: Listeners,
    ports: RefCell<HashMap<u64, PortSlot, crate::id_hash::IdHash>>,
    next_key: Cell<u64>,
    pub(crate) workers: RefCell<HashMap<u64, Rc<WorkerObject>>>,
    pub(crate) children: RefCell<Vec<WindowProxy>>,
    pub(crate) broadcast: BroadcastScope,
    pub(crate) alive: Cell<bool>,
    pub(crate) observers: Observers,
    globals: RefCell<HashMap<TypeId, Rc<dyn Any>>>,
    /// How this realm supervises its children.
    pub(crate) supervisor: Cell<SupervisorSpec>,
    pub(crate) restart_history: RestartHistory,
    pub(crate) lifecycle_listeners: RefCell<Vec<LifecycleListener>>,
    torn_down: Cell<bool>,
}

/// A listener for lifecycle events of a realm's children.
pub(crate) type LifecycleListener = Rc<dyn Fn(&Scope, &LifecycleEvent)>;

impl RealmInner {
    pub(crate) fn next_key(&self) -> u64 {
        let k = self.next_key.get();
        self.next_key.set(k + 1);
        k
    }

    pub(crate) fn register_port(&self, port: &Rc<PortObject>) {
        self.ports
            .borrow_mut()
            .insert(port.key, PortSlot::Weak(Rc::downgrade(port)));
    }

    /// Keeps the port alive while this realm lives (it has a listener).
    pub(crate) fn retain_port(&self, port: &Rc<PortObject>) {
        if self.alive.get() {
            self.ports
                .borrow_mut()
                .insert(port.key, PortSlot::Strong(port.clone()));
        }
    }

    /// The port no longer needs to be kept (closed or transferred).
    pub(crate) fn release_port(&self, key: u64) {
        let slot = self.ports.borrow_mut().remove(&key);
        // Dropped outside the borrow: dropping the last handle re-enters this table.
        drop(slot);
    }

    /// Called from the port object's destructor.
    pub(crate) fn forget_port(&self, key: u64) {
        if let Ok(mut ports) = self.ports.try_borrow_mut() {
            if let Some(PortSlot::Weak(_)) = ports.get(&key) {
                ports.remove(&key);
            }
        }
    }

    fn port(&self, key: u64) -> Option<Rc<PortObject>> {
        self.ports.borrow().get(&key).and_then(PortSlot::get)
    }

    pub(crate) fn port_count(&self) -> usize {
        self.ports.borrow().len()
    }

    pub(crate) fn set_global<T: 'static>(&self, value: T) -> Rc<T> {
        let rc = Rc::new(value);
        self.globals
            .borrow_mut()
            .insert(TypeId::of::<T>(), rc.clone() as Rc<dyn Any>);
        rc
    }

    pub(crate) fn global<T: 'static>(&self) -> Option<Rc<T>> {
        self.globals
            .borrow()
            .get(&TypeId::of::<T>())
            .cloned()
            .and_then(|a| a.downcast::<T>().ok())
    }

    pub(crate) fn window(&self) -> Option<&WindowProxy> {
        match &self.kind {
            RealmKind::Window(w) => Some(w),
            RealmKind::Worker(_) => None,
        }
    }

    /// Tears the realm down: it is no longer fully active. Ports close (peers get
    /// `close`), workers terminate, iframes go, broadcast channels close, listeners drop.
    pub(crate) fn tear_down(&self, why: &str) {
        self.alive.set(false);
        if self.torn_down.replace(true) {
            return;
        }
        log::debug!(target: "webmessaging::realm", "{}: torn down ({why})", self.name);
        let slots: Vec<PortSlot> = self.ports.borrow_mut().drain().map(|(_, s)| s).collect();
        for slot in &slots {
            if let Some(p) = slot.get() {
                MessagePort(p).close();
            }
        }
        drop(slots);
        let workers: Vec<Rc<WorkerObject>> =
            self.workers.borrow_mut().drain().map(|(_, w)| w).collect();
        for w in workers {
            w.terminate();
        }
        let children: Vec<WindowProxy> = self.children.borrow_mut().drain(..).collect();
        for c in children {
            // Iframes share this thread: tear their documents down now, so their ports
            // close even if the event loop stops before their actors run again.
            if let Some(child) = current_realm_of(c.id()) {
                child.tear_down("parent document destroyed");
            }
            c.close();
        }
        self.broadcast.close_all();
        self.listeners.clear();
        self.lifecycle_listeners.borrow_mut().clear();
        let globals: Vec<_> = self.globals.borrow_mut().drain().collect();
        drop(globals);
    }

    /// The children this realm supervises (iframes and workers), in creation order.
    pub(crate) fn supervised_children(&self) -> Vec<Child> {
        let mut v: Vec<Child> = self
            .children
            .borrow()
            .iter()
            .filter(|c| !c.closed())
            .map(|c| Child::Window(c.clone()))
            .collect();
        v.extend(
            self.workers
                .borrow()
                .values()
                .filter(|w| !w.shared.is_stopped())
                .map(|w| Child::Worker(w.shared.clone())),
        );
        v.sort_by_key(Child::sort_key);
        v
    }

    /// Tells this realm's lifecycle listeners about a child's lifecycle event.
    pub(crate) fn fire_lifecycle(self: &Rc<Self>, e: &LifecycleEvent) {
        if !self.alive.get() {
            return;
        }
        let listeners: Vec<LifecycleListener> = self.lifecycle_listeners.borrow().clone();
        let scope = Scope(self.clone());
        for l in listeners {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| l(&scope, e))) {
                log::error!(target: "webmessaging::supervision", "{}: lifecycle listener panicked: {}", self.name, panic_message(&p));
            }
        }
    }
}

/// Turns transferred port data holders into port objects of this realm.
pub(crate) struct RealmPortReceiver<'a> {
    pub(crate) realm: &'a Rc<RealmInner>,
}

impl PortReceiver for RealmPortReceiver<'_> {
    fn receive_port(&mut self, holder: Box<dyn Any + Send>) -> Result<Rc<dyn TransferablePort>> {
        let mut holder = holder
            .downcast::<PortDataHolder>()
            .map_err(|_| Error::data_clone("transfer data is not a MessagePort"))?;
        let channel = holder
            .channel
            .take()
            .ok_or_else(|| Error::data_clone("MessagePort data holder already used"))?;
        let key = self.realm.next_key();
        // Transfer-receiving steps: the new owner is this realm; the queued tasks that
        // travelled with the port wait, disabled, until it is started.
        let ok = channel.lock().receive(
            holder.end,
            holder.generation,
            PortOwner {
                addr: self.realm.shared_addr.clone(),
                key,
            },
        );
        let obj = PortObject::new(self.realm, channel, holder.end, holder.generation, key);
        if !ok {
            // The end was closed while in flight (e.g. its peer's channel was doomed): the
            // new object is born closed.
            obj.state.set(crate::port::PortObjectState::Closed);
        }
        if trace::is_enabled() {
            let detail = format!("received {} (transferred)", obj.name);
            trace::record(
                trace::TraceKind::Transfer,
                &self.realm.name,
                &self.realm.name,
                &detail,
            );
        }
        Ok(obj)
    }
}

/// The actor of one browsing context or worker.
pub struct RealmActor {
    pub(crate) kind: RealmKind,
    pub(crate) current: Option<Rc<RealmInner>>,
    pub(crate) restarts: supervision::RestartHistory,
    pub(crate) name: Rc<str>,
}

impl RealmActor {
    pub(crate) fn new(kind: RealmKind) -> RealmActor {
        let name: Rc<str> = match &kind {
            RealmKind::Window(w) => Rc::from(w.name()),
            RealmKind::Worker(s) => Rc::from(s.name.as_str()),
        };
        RealmActor {
            kind,
            current: None,
            restarts: supervision::RestartHistory::default(),
            name,
        }
    }

    fn browser(&self) -> Browser {
        match &self.kind {
            RealmKind::Window(w) => w.0.browser.clone(),
            RealmKind::Worker(s) => s.browser.clone(),
        }
    }

    /// Loads the document again (supervised restart).
    pub(crate) fn reload(&mut self, ctx: &mut Context<Self>) {
        self.load(ctx);
    }

    /// Builds the realm for the current document (or the worker) and runs its script.
    fn load(&mut self, ctx: &mut Context<Self>) {
        let (origin, url, document, script, observers) = match &self.kind {
            RealmKind::Window(w) => {
                if w.closed() {
                    return;
                }
                let d = w.0.doc();
                (
                    d.origin.clone(),
                    d.url.clone(),
                    d.document,
                    d.script.clone(),
                    w.0.browser.observers_for(w.id()),
                )
            }
            RealmKind::Worker(s) => {
                if s.is_stopped() {
                    return;
                }
                (
                    s.origin.clone(),
                    s.url.clone(),
                    0,
                    s.script.clone(),
                    Observers::default(),
                )
            }
        };
        if let Some(old) = self.current.take() {
            old.tear_down("replaced by a new document");
        }
        let addr = ctx.address();
        let realm = Rc::new(RealmInner {
            shared_addr: Arc::new(addr.clone()),
            addr,
            browser: self.browser(),
            kind: self.kind.clone(),
            origin: origin.clone(),
            url,
            document,
            name: Rc::from(format!("{}#{}", self.name, document)),
            listeners: Listeners::default(),
            ports: RefCell::new(HashMap::default()),
            next_key: Cell::new(1),
            workers: RefCell::new(HashMap::new()),
            children: RefCell::new(Vec::new()),
            broadcast: BroadcastScope::new(),
            supervisor: Cell::new(SupervisorSpec::default()),
            restart_history: RestartHistory::default(),
            lifecycle_listeners: RefCell::new(Vec::new()),
            torn_down: Cell::new(false),
            alive: Cell::new(true),
            observers,
            globals: RefCell::new(HashMap::new()),
        });
        if let RealmKind::Window(w) = &self.kind {
            CURRENT_REALMS.with(|r| r.borrow_mut().insert(w.id(), Rc::downgrade(&realm)));
        }
        self.current = Some(realm.clone());
        if let Some(script) = script {
            let scope = Scope(realm.clone());
            let r = catch_unwind(AssertUnwindSafe(|| script(&scope)));
            self.after_script(ctx, &realm, r, "load script");
        }
    }

    /// Handles the result of running script: reports returned errors, crashes on panic.
    fn after_script(
        &mut self,
        ctx: &mut Context<Self>,
        realm: &Rc<RealmInner>,
        r: std::thread::Result<std::result::Result<(), ScriptError>>,
        what: &str,
    ) {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => report_error(realm, &e.to_string()),
            Err(panic) => self.crash(ctx, panic_message(&panic), what),
        }
    }

    /// This realm crashed: tear it down and let the supervisor decide.
    pub(crate) fn crash(&mut self, ctx: &mut Context<Self>, message: String, during: &str) {
        let Some(realm) = self.current.take() else {
            return;
        };
        log::error!(target: "webmessaging::supervision", "{}: crashed during {during}: {message}", realm.name);
        trace::realm_crashed(&realm.name, &message);
        realm.tear_down("crashed");
        supervision::on_crash(self, ctx, &realm, message);
    }

    /// Applies the result of running script: a panic message means this realm crashed.
    /// Returns true if it did.
    fn crashed(&mut self, ctx: &mut Context<Self>, crashed: Crashed) -> bool {
        match crashed {
            Some(message) => {
                self.crash(ctx, message, "dispatch");
                true
            }
            None => false,
        }
    }

    fn realm(&self) -> Option<Rc<RealmInner>> {
        // A removed iframe, a closed window and a terminated (or closing) worker run no
        // more tasks from the moment that happened, even before `Destroy` is handled:
        // tasks queued ahead of it (port tasks, window messages) are dropped.
        let gone = match &self.kind {
            RealmKind::Window(w) => w.closed(),
            RealmKind::Worker(s) => s.is_stopped(),
        };
        self.current.clone().filter(|r| r.alive.get() && !gone)
    }

    fn handle_posted(&mut self, ctx: &mut Context<Self>, msg: PostedMessage) {
        let Some(realm) = self.realm() else {
            drop_msg(&self.name, "target document is not fully active");
            return;
        };
        // The task belongs to the Window the message was posted to: if the browsing
        // context navigated away (or restarted) since, drop it. The browsing context's
        // serial moves at the `navigate` call, before this actor loads the new document:
        // a message still queued for the old document is dropped even if it runs first.
        let current_serial = match &self.kind {
            RealmKind::Window(w) => w.0.doc().document,
            RealmKind::Worker(_) => realm.document,
        };
        if realm.document != msg.target_document || current_serial != msg.target_document {
            drop_msg(&realm.name, "target navigated away before delivery");
            return;
        }
        // Step 7.1: if targetOrigin is not "*" and the target document's origin is not same
        // origin with it, abort.
        if !msg.target_origin.admits(&realm.origin) {
            log::debug!(target: "webmessaging::window", "{}: message dropped: target origin {:?} does not match {}", realm.name, msg.target_origin, realm.origin);
            drop_msg(&realm.name, "origin mismatch");
            return;
        }
        // Step 7.2-7.3: origin and source.
        let origin: Rc<str> = Rc::from(msg.origin.serialize());
        let source = Some(MessageEventSource::Window(msg.source));
        let crashed = deliver(
            &realm,
            &realm.listeners,
            EventTarget::Window,
            msg.data,
            origin,
            source,
        );
        self.crashed(ctx, crashed);
    }

    fn handle_port_ready(&mut self, ctx: &mut Context<Self>, key: u64, generation: u64) {
        let Some(realm) = self.realm() else { return };
        let Some(port) = realm.port(key) else { return };
        if port.generation != generation {
            return;
        }
        for _ in 0..PORT_BATCH {
            let next = port.channel.lock().next_task(port.end, generation);
            match next {
                Next::Task(PortTask::Message(data)) => {
                    let target = EventTarget::Port(MessagePort(port.clone()));
                    let (record, transfer) = data.into_parts();
                    let crashed = deliver_record(
                        &realm,
                        &port.listeners,
                        target,
                        event::EventRecord::Owned(record),
                        transfer,
                        event::empty_str(),
                        None,
                    );
                    if self.crashed(ctx, crashed) {
                        return;
                    }
                }
                Next::Task(PortTask::Close) => {
                    let ev = MessageEvent::simple(
                        EventType::Close,
                        EventTarget::Port(MessagePort(port.clone())),
                    );
                    let crashed = fire(&realm, &port.listeners, &ev);
                    if self.crashed(ctx, crashed) {
                        return;
                    }
                    // The peer is gone: nothing more will arrive; stop keeping the port.
                    realm.release_port(key);
                }
                Next::Idle | Next::Stale => return,
            }
            if !realm.alive.get() {
                return;
            }
        }
        // Yield to other task sources; the wake-up stays pending, so this message is the
        // only one that continues the queue.
        ctx.notify(RealmMessage::PortReady { key, generation });
    }

    fn handle_to_worker_global(&mut self, ctx: &mut Context<Self>, data: SerializedWithTransfer) {
        let Some(realm) = self.realm() else { return };
        if let RealmKind::Worker(s) = &self.kind {
            if s.is_stopped() {
                drop_msg(&realm.name, "worker is closing or terminated");
                return;
            }
        }
        let crashed = deliver(
            &realm,
            &realm.listeners,
            EventTarget::WorkerGlobal,
            data,
            event::empty_str(),
            None,
        );
        self.crashed(ctx, crashed);
    }

    fn handle_from_worker(
        &mut self,
        ctx: &mut Context<Self>,
        worker: u64,
        document: u64,
        data: SerializedWithTransfer,
    ) {
        let Some(realm) = self.realm() else { return };
        if realm.document != document {
            drop_msg(&realm.name, "worker message for a previous document");
            return;
        }
        let Some(obj) = realm.workers.borrow().get(&worker).cloned() else {
            drop_msg(&realm.name, "worker object is gone");
            return;
        };
        if obj.shared.is_terminated() {
            drop_msg(&realm.name, "worker was terminated");
            return;
        }
        let target = EventTarget::Worker(obj.id);
        let crashed = deliver(
            &realm,
            &obj.listeners,
            target,
            data,
            event::empty_str(),
            None,
        );
        self.crashed(ctx, crashed);
    }

    fn handle_worker_error(
        &mut self,
        ctx: &mut Context<Self>,
        worker: u64,
        document: u64,
        message: String,
    ) {
        let Some(realm) = self.realm() else { return };
        if realm.document != document {
            return;
        }
        let Some(obj) = realm.workers.borrow().get(&worker).cloned() else {
            return;
        };
        let mut ev = MessageEvent::simple(EventType::Error, EventTarget::Worker(obj.id));
        ev.error_message = Some(message);
        let crashed = fire(&realm, &obj.listeners, &ev);
        self.crashed(ctx, crashed);
    }

    fn handle_run(&mut self, ctx: &mut Context<Self>, f: Box<dyn FnOnce(&Scope) + Send>) {
        let Some(realm) = self.realm() else {
            // Dropping `f` drops the reply channel: the caller sees the realm is gone.
            return;
        };
        let scope = Scope(realm.clone());
        let r = catch_unwind(AssertUnwindSafe(|| f(&scope)));
        if let Err(panic) = r {
            self.crash(ctx, panic_message(&panic), "a closure run from outside");
        }
    }

    fn handle_destroy(&mut self, ctx: &mut Context<Self>) {
        if let Some(realm) = self.current.take() {
            realm.tear_down("destroyed");
        }
        match &self.kind {
            RealmKind::Window(w) => {
                w.0.closed.store(true, std::sync::atomic::Ordering::Release);
                w.0.browser.forget_context(w);
                if w.is_top_level() {
                    let arbiter = w.0.arbiter.clone();
                    ctx.stop();
                    // The group's event loop ends with its top-level window.
                    arbiter.stop();
                    return;
                }
            }
            RealmKind::Worker(s) => {
                s.mark_destroyed();
                ctx.stop();
                s.arbiter.stop();
                return;
            }
        }
        ctx.stop();
    }
}

impl Actor for RealmActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Posting uses `do_send`, which ignores the mailbox capacity: queues are
        // unbounded, as a browser's task queues are.
        self.load(ctx);
    }
}

impl Handler<RealmMessage> for RealmActor {
    type Result = ();

    fn handle(&mut self, msg: RealmMessage, ctx: &mut Self::Context) {
        match msg {
            RealmMessage::Posted(m) => self.handle_posted(ctx, *m),
            RealmMessage::PortReady { key, generation } => {
                self.handle_port_ready(ctx, key, generation)
            }
            RealmMessage::ToWorkerGlobal { data } => self.handle_to_worker_global(ctx, data),
            RealmMessage::FromWorker {
                worker,
                document,
                data,
            } => self.handle_from_worker(ctx, worker, document, data),
            RealmMessage::WorkerError {
                worker,
                document,
                message,
            } => self.handle_worker_error(ctx, worker, document, message),
            RealmMessage::Broadcast(d) => crate::broadcast::run_deliveries(d),
            RealmMessage::Run(f) => self.handle_run(ctx, f),
            RealmMessage::Navigate { document } => {
                let current = match &self.kind {
                    RealmKind::Window(w) => w.0.doc().document,
                    RealmKind::Worker(_) => return,
                };
                // A later navigation supersedes this one; load only the newest document.
                if current == document {
                    self.load(ctx);
                }
            }
            RealmMessage::ChildCrashed(report) => supervision::on_child_crashed(self, ctx, report),
            RealmMessage::Restart { reason } => supervision::restart(self, ctx, &reason),
            RealmMessage::Crash { message } => {
                if self.current.as_ref().is_some_and(|r| r.alive.get()) {
                    // The document that crashed was replaced (it navigated) before this
                    // message came: it is gone already, and the new one did not crash.
                    supervision::record_crash_of_replaced(self, message);
                } else {
                    self.crash(ctx, message, "a delegated task");
                }
            }
            RealmMessage::Lifecycle(e) => {
                if let Some(realm) = self.realm() {
                    realm.fire_lifecycle(&e);
                }
            }
            RealmMessage::Destroy => self.handle_destroy(ctx),
        }
    }
}

/// A listener panicked: the realm crashed with this message.
pub(crate) type Crashed = Option<String>;

/// Deserializes (transfer-receiving steps first) and fires `message` at `listeners`, or
/// `messageerror` if that fails. Returns the panic message if a listener panicked.
pub(crate) fn deliver(
    realm: &Rc<RealmInner>,
    listeners: &Listeners,
    target: EventTarget,
    data: SerializedWithTransfer,
    origin: Rc<str>,
    source: Option<MessageEventSource>,
) -> Crashed {
    let SerializedWithTransfer { record, transfer } = data;
    deliver_record(
        realm,
        listeners,
        target,
        event::EventRecord::Owned(record),
        transfer,
        origin,
        source,
    )
}

/// [`deliver`] for a record that may be shared (a broadcast's destinations share one
/// record instead of copying it per destination).
pub(crate) fn deliver_record(
    realm: &Rc<RealmInner>,
    listeners: &Listeners,
    target: EventTarget,
    record: event::EventRecord,
    transfer: clone::TransferData,
    origin: Rc<str>,
    source: Option<MessageEventSource>,
) -> Crashed {
    let transferred = if transfer.is_empty() {
        Transferred::default()
    } else {
        match clone::receive_transfer(transfer, &mut RealmPortReceiver { realm }) {
            Ok(t) => t,
            Err(e) => {
                log::debug!(target: "webmessaging::realm", "{}: transfer could not be received: {e}", realm.name);
                let ev = error_event(EventType::MessageError, target, origin, source);
                return fire(realm, listeners, &ev);
            }
        }
    };
    let ports: Rc<[MessagePort]> = if transferred.ports.is_empty() {
        event::no_ports()
    } else {
        transferred
            .ports
            .iter()
            .filter_map(MessagePort::from_object)
            .collect::<Vec<_>>()
            .into()
    };
    let ev = MessageEvent {
        event_type: EventType::Message,
        data: event::serialized_data(record, transferred),
        origin,
        last_event_id: event::empty_str(),
        source,
        ports,
        target: Some(target),
        trusted: true,
        error_message: None,
    };
    fire(realm, listeners, &ev)
}

/// Dispatches `ev` to `listeners`, catching panics (a crash, returned) and reporting
/// returned errors. For `message` events, data is deserialized before the first listener
/// that reads it as a `Value`; failure turns the event into `messageerror`.
pub(crate) fn fire(realm: &Rc<RealmInner>, listeners: &Listeners, ev: &MessageEvent) -> Crashed {
    fire_in(&Scope(realm.clone()), listeners, ev)
}

/// A broadcast's `message` event, built once per delivery batch (see
/// `broadcast::run_deliveries`): every destination shares the record and origin; each
/// delivery sets its own target and starts with an empty value cell, so each destination
/// still deserializes its own copy.
pub(crate) fn broadcast_event(
    record: Arc<clone::SerializedRecord>,
    origin: Rc<str>,
) -> MessageEvent {
    MessageEvent {
        event_type: EventType::Message,
        data: event::serialized_data(event::EventRecord::Shared(record), Transferred::default()),
        origin,
        last_event_id: event::empty_str(),
        source: None,
        ports: event::no_ports(),
        target: None,
        trusted: true,
        error_message: None,
    }
}

/// [`fire`] with the realm's [`Scope`] borrowed from the caller (a broadcast batch makes
/// one per realm instead of one per delivery).
#[inline]
pub(crate) fn fire_in(scope: &Scope, listeners: &Listeners, ev: &MessageEvent) -> Crashed {
    let realm = &scope.0;
    if realm.observers.is_active() {
        realm
            .observers
            .send(ObservedEvent::from_event(&realm.name, ev));
    }
    if trace::is_enabled() {
        let target = target_name(realm, ev.target());
        trace::delivered(&realm.name, &target, ev.event_type().as_str(), ev.origin());
    }
    // Fast path: the target's only listener, when it needs no `Value` first (a typed
    // `onmessage`, which reads the record itself): no snapshot to build and drop. Its
    // callback is cloned out of the list, as a snapshot would, so it may replace or
    // remove itself while it runs.
    if let Some(callback) = listeners.sole(ev.event_type, ev.event_type == EventType::Message) {
        if !realm.alive.get() {
            return None;
        }
        let r = catch_unwind(AssertUnwindSafe(|| callback(scope, ev)));
        // The listener ran and returned `Ok` (checked inline, the rest out of line). That
        // variant owns nothing: `forget` skips the call to the result's drop glue.
        if matches!(r, Ok(Outcome::Ran(Ok(())))) {
            std::mem::forget(r);
            return None;
        }
        return after_listener(realm, listeners, ev, r, &mut false).unwrap_or(None);
    }
    fire_snapshot(scope, listeners, ev)
}

/// [`fire_in`] for any other set of listeners: on a snapshot of them, deserializing the
/// data first if one of them reads it as a `Value`. Out of line, so that the fast path
/// stays small.
#[inline(never)]
fn fire_snapshot(scope: &Scope, listeners: &Listeners, ev: &MessageEvent) -> Crashed {
    let realm = &scope.0;
    let snapshot = listeners.snapshot(ev.event_type);
    // Iterated by reference: cheaper than the snapshot's by-value chained iterator.
    let snapshot = snapshot.as_slice();
    if snapshot.is_empty() {
        return None;
    }
    if ev.event_type == EventType::Message && snapshot.iter().any(|l| l.reads_value) {
        if let event::EventData::Serialized {
            record,
            transferred,
            value,
        } = &ev.data
        {
            if value.get().is_none() {
                match clone::deserialize_record(record, transferred) {
                    Ok(v) => {
                        let _ = value.set(v);
                    }
                    Err(e) => {
                        log::debug!(target: "webmessaging::realm", "{}: message could not be deserialized: {e}", realm.name);
                        let err = error_event(
                            EventType::MessageError,
                            ev.target.clone().unwrap_or(EventTarget::Window),
                            ev.origin.clone(),
                            ev.source.clone(),
                        );
                        return fire(realm, listeners, &err);
                    }
                }
            }
        }
    }
    let mut message_error_fired = false;
    for l in snapshot {
        if !realm.alive.get() {
            return None;
        }
        match catch_unwind(AssertUnwindSafe(|| (l.callback)(scope, ev))) {
            Ok(Outcome::Ran(Ok(()))) => {}
            r => {
                if let Some(crashed) =
                    after_listener(realm, listeners, ev, r, &mut message_error_fired)
                {
                    return crashed;
                }
            }
        }
    }
    None
}

/// What one listener's invocation (`r`) means for its dispatch ([`fire_in`]): reports a
/// returned error, fires `messageerror` (once per event) for a typed listener that could
/// not deserialize. `Some(result)` ends the dispatch with that result (a panic: the realm
/// crashed, no other listener runs; or a crash in the `messageerror` listeners), `None`
/// goes on with the next listener.
#[inline(never)]
fn after_listener(
    realm: &Rc<RealmInner>,
    listeners: &Listeners,
    ev: &MessageEvent,
    r: std::thread::Result<Outcome>,
    message_error_fired: &mut bool,
) -> Option<Crashed> {
    match r {
        Ok(Outcome::Ran(Ok(()))) => None,
        Ok(Outcome::Ran(Err(e))) => {
            if ev.event_type == EventType::Error {
                log::error!(target: "webmessaging::realm", "{}: error listener failed: {e}", realm.name);
            } else {
                report_error(realm, &e.to_string());
            }
            None
        }
        Ok(Outcome::Undeserializable(e)) => {
            if !*message_error_fired {
                *message_error_fired = true;
                log::debug!(target: "webmessaging::realm", "{}: typed listener could not deserialize: {e}", realm.name);
                let err = error_event(
                    EventType::MessageError,
                    ev.target.clone().unwrap_or(EventTarget::Window),
                    ev.origin.clone(),
                    ev.source.clone(),
                );
                if let Some(p) = fire(realm, listeners, &err) {
                    return Some(Some(p));
                }
            }
            None
        }
        Err(panic) => {
            let message = panic_message(&panic);
            log::error!(target: "webmessaging::realm", "{}: {} listener panicked: {message}", realm.name, ev.event_type);
            // No other listener of a crashed realm runs; the caller tears it down.
            Some(Some(message))
        }
    }
}

fn drop_msg(at: &str, reason: &str) {
    log::debug!(target: "webmessaging::realm", "{at}: message dropped: {reason}");
    trace::dropped(at, reason);
}

fn error_event(
    event_type: EventType,
    target: EventTarget,
    origin: Rc<str>,
    source: Option<MessageEventSource>,
) -> MessageEvent {
    let mut ev = MessageEvent::simple(event_type, target);
    ev.origin = origin;
    ev.source = source;
    ev
}

fn target_name(realm: &RealmInner, target: Option<&EventTarget>) -> String {
    match target {
        Some(EventTarget::Port(p)) => p.name().to_owned(),
        Some(EventTarget::Worker(id)) => format!("{}/worker{}", realm.name, id.0),
        Some(EventTarget::BroadcastChannel(c)) => format!("{}/bc:{}", realm.name, c.name()),
        _ => realm.name.to_string(),
    }
}

/// Reports an error a listener or script returned: a log line and an `error` event at the
/// realm's global.
pub(crate) fn report_error(realm: &Rc<RealmInner>, message: &str) {
    log::error!(target: "webmessaging::realm", "{}: uncaught error: {message}", realm.name);
    if trace::is_enabled() {
        trace::record(trace::TraceKind::Error, &realm.name, "", message);
    }
    let target = match realm.kind {
        RealmKind::Window(_) => EventTarget::Window,
        RealmKind::Worker(_) => EventTarget::WorkerGlobal,
    };
    let mut ev = MessageEvent::simple(EventType::Error, target);
    ev.error_message = Some(message.to_owned());
    if realm.observers.is_active() {
        realm
            .observers
            .send(ObservedEvent::from_event(&realm.name, &ev));
    }
    let scope = Scope(realm.clone());
    for l in realm.listeners.snapshot(EventType::Error) {
        // A panic in an error listener is contained here; the realm goes on.
        match catch_unwind(AssertUnwindSafe(|| (l.callback)(&scope, &ev))) {
            Ok(Outcome::Ran(Ok(()))) | Ok(Outcome::Undeserializable(_)) => {}
            Ok(Outcome::Ran(Err(e))) => {
                log::error!(target: "webmessaging::realm", "{}: error listener failed: {e}", realm.name)
            }
            Err(p) => {
                log::error!(target: "webmessaging::realm", "{}: error listener panicked: {}", realm.name, panic_message(&p))
            }
        }
    }
    if let RealmKind::Worker(s) = &realm.kind {
        s.report_error_to_parent(message);
    }
}

pub(crate) fn panic_message(p: &Box<dyn Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

pub(crate) fn start_window_actor(ctx: Arc<BrowsingContext>) -> Addr<RealmActor> {
    let proxy = WindowProxy(ctx.clone());
    let addr = RealmActor::start_in_arbiter(&ctx.arbiter, move |actor_ctx| {
        // Set here too, before the load script can post to its own window.
        let _ = proxy.0.addr.set(actor_ctx.address());
        RealmActor::new(RealmKind::Window(proxy))
    });
    let _ = ctx.addr.set(addr.clone());
    addr
}
