//! The realm of one document or worker global: its origin, listeners, ports, workers,
//! iframes, timers and globals, behind methods.
//!
//! Spec: <https://html.spec.whatwg.org/multipage/webappapis.html#realms-settings-objects-global-objects>.
//! A `RealmInner` lives as long as its document is *fully active*; navigation and
//! restart replace it with a new one inside the same [`RealmActor`](crate::realm_actor::RealmActor)
//! (the browsing context's shell), so the `WindowProxy` keeps working. Tearing a realm
//! down (`RealmInner::tear_down`) makes it not fully active: its ports close (peers get
//! `close`), its workers terminate, its iframes go, its broadcast channels close, its
//! timers are cleared. Teardown is iterative (a window with 10,000 nested iframes does
//! not recurse) and survives a panic in a destructor (reported back as a crash).

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use webmessaging_core::origin::Origin;
use webmessaging_core::value::{PortReceiver, TransferablePort};
use webmessaging_core::{Error, Result};

use crate::broadcast::BroadcastScope;
use crate::dispatch::panic_message;
use crate::event::Listeners;
use crate::kernel::trace;
use crate::kernel::TimerId;
use crate::observer::Observers;
use crate::port::{MessagePort, PortDataHolder, PortObject, PortOwner};
use crate::realm_actor::{Loop, RealmAddr};
use crate::runtime::Runtime;
use crate::scope::Scope;
use crate::shared_worker::{self, SharedWorkerObject};
use crate::supervision::{Child, LifecycleEvent, SupervisorSpec};
use crate::supervisor::RestartHistory;
use crate::window::{BrowsingContextId, WindowProxy};
use crate::worker::{WorkerObject, WorkerShared};

thread_local! {
    /// The current realm of each browsing context whose actor runs on this thread.
    static CURRENT_REALMS: RefCell<HashMap<BrowsingContextId, Weak<RealmInner>>> =
        RefCell::new(HashMap::new());
}

/// The current realm of a browsing context on this thread, if any.
pub(crate) fn current_realm_of(id: BrowsingContextId) -> Option<Rc<RealmInner>> {
    CURRENT_REALMS.with(|r| {
        let mut r = r.borrow_mut();
        r.retain(|_, w| w.strong_count() > 0);
        r.get(&id).and_then(Weak::upgrade)
    })
}

/// Records `realm` as the current realm of its browsing context on this thread.
pub(crate) fn set_current_realm(id: BrowsingContextId, realm: &Rc<RealmInner>) {
    CURRENT_REALMS.with(|r| r.borrow_mut().insert(id, Rc::downgrade(realm)));
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

/// A timer's callback, and whether it repeats.
pub(crate) type TimerCallback = (TimerFn, bool);

/// A timer's callback.
pub(crate) type TimerFn = Rc<dyn Fn(&Scope)>;

/// The realm of one document (or one worker global): its origin, its listeners, the ports
/// and workers it owns.
pub(crate) struct RealmInner {
    /// This realm's address, shared by the owners of its ports (see `PortOwner`).
    pub(crate) shared_addr: Arc<RealmAddr>,
    pub(crate) addr: RealmAddr,
    /// The event loop this realm's tasks run on.
    pub(crate) event_loop: Rc<Loop>,
    pub(crate) browser: Runtime,
    pub(crate) kind: RealmKind,
    pub(crate) origin: Origin,
    pub(crate) url: url::Url,
    pub(crate) document: u64,
    pub(crate) name: Rc<str>,
    pub(crate) listeners: Listeners,
    /// Listeners for the `load` event of this document's iframe elements.
    pub(crate) iframe_listeners: Listeners,
    ports: RefCell<HashMap<u64, PortSlot, crate::id_hash::IdHash>>,
    workers: RefCell<HashMap<u64, Rc<WorkerObject>>>,
    /// The `SharedWorker` objects this realm constructed, in order.
    shared_workers: RefCell<Vec<Rc<SharedWorkerObject>>>,
    /// This realm's identity in shared workers' owner sets (0 until it joins one).
    owner_token: Cell<u64>,
    children: RefCell<Vec<WindowProxy>>,
    /// The ids of `children`, for [`has_child`](Self::has_child) in constant time (each
    /// iframe's load asks it: a linear search made loading n iframes O(n^2)).
    child_ids: RefCell<HashSet<u64, crate::id_hash::IdHash>>,
    pub(crate) broadcast: BroadcastScope,
    alive: Cell<bool>,
    pub(crate) observers: Observers,
    globals: RefCell<HashMap<TypeId, Rc<dyn Any>>>,
    timers: RefCell<HashMap<TimerId, TimerCallback>>,
    /// How this realm supervises its children.
    supervisor: Cell<SupervisorSpec>,
    restart_history: RefCell<RestartHistory>,
    lifecycle_listeners: RefCell<Vec<LifecycleListener>>,
    torn_down: Cell<bool>,
}

/// A listener for lifecycle events of a realm's children.
pub(crate) type LifecycleListener = Rc<dyn Fn(&Scope, &LifecycleEvent)>;

/// What a new realm is made of (see [`RealmInner::new`]).
pub(crate) struct RealmInit {
    pub(crate) addr: RealmAddr,
    pub(crate) event_loop: Rc<Loop>,
    pub(crate) browser: Runtime,
    pub(crate) kind: RealmKind,
    pub(crate) origin: Origin,
    pub(crate) url: url::Url,
    pub(crate) document: u64,
    pub(crate) name: Rc<str>,
    pub(crate) observers: Observers,
}

impl RealmInner {
    /// Whether the realm is fully active (its document current, not crashed, not torn
    /// down; for a worker, not closing).
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.get()
    }

    /// The realm stops being fully active at once (a listener of it crashed in a task run
    /// by another realm's actor): nothing more is delivered to it until its own actor
    /// tears it down.
    pub(crate) fn mark_not_fully_active(&self) {
        self.alive.set(false);
    }

    /// Adds a dedicated worker this realm created.
    pub(crate) fn add_worker(&self, id: u64, worker: Rc<WorkerObject>) {
        self.workers.borrow_mut().insert(id, worker);
    }

    /// Forgets worker `id` (terminated or collected); whether it was there.
    pub(crate) fn remove_worker(&self, id: u64) -> Option<Rc<WorkerObject>> {
        self.workers.borrow_mut().remove(&id)
    }

    /// The worker object `id` of this realm, if it has it.
    pub(crate) fn worker(&self, id: u64) -> Option<Rc<WorkerObject>> {
        self.workers.borrow().get(&id).cloned()
    }

    /// Whether a message this realm sends to `target` (a key naming the target) may go
    /// under the runtime's rate limit. A refused one is counted at this realm's browsing
    /// context, traced and logged: the caller drops it.
    pub(crate) fn admit(&self, target: u64, cross_origin: bool, what: &str) -> bool {
        let now = self
            .event_loop
            .is_simulated()
            .then(|| self.event_loop.now());
        let limits = self.browser.limits();
        if self
            .browser
            .admit(&limits, &self.origin, target, cross_origin, now)
        {
            return true;
        }
        if let RealmKind::Window(w) = &self.kind {
            w.0.metrics.sent_rate_limited();
        }
        log::debug!(target: "webmessaging::realm", "{}: {what} dropped: rate limited", self.name);
        trace::dropped(&self.name, crate::kernel::metrics::RATE_LIMITED);
        false
    }

    /// Adds a `SharedWorker` object this realm constructed.
    pub(crate) fn add_shared_worker(&self, object: Rc<SharedWorkerObject>) {
        self.shared_workers.borrow_mut().push(object);
    }

    /// The `SharedWorker` object `id` of this realm, if it has it.
    pub(crate) fn shared_worker(&self, id: u64) -> Option<Rc<SharedWorkerObject>> {
        self.shared_workers
            .borrow()
            .iter()
            .find(|o| o.id == id)
            .cloned()
    }

    /// This realm's identity in the owner sets of shared workers (unique in the
    /// process: a new document of the same browsing context is another owner).
    pub(crate) fn owner_token(&self) -> u64 {
        if self.owner_token.get() == 0 {
            self.owner_token.set(self.browser.next_id());
        }
        self.owner_token.get()
    }

    /// Adds a child browsing context (an iframe of this document).
    pub(crate) fn add_child(&self, child: WindowProxy) {
        self.child_ids.borrow_mut().insert(child.id().0);
        self.children.borrow_mut().push(child);
    }

    /// Removes the child browsing context `child`.
    pub(crate) fn remove_child(&self, child: &WindowProxy) {
        self.child_ids.borrow_mut().remove(&child.id().0);
        self.children.borrow_mut().retain(|c| c != child);
    }

    /// The child browsing contexts, in creation order.
    pub(crate) fn children(&self) -> Vec<WindowProxy> {
        self.children.borrow().clone()
    }

    /// Whether `child` is a child browsing context of this document.
    pub(crate) fn has_child(&self, child: &WindowProxy) -> bool {
        self.child_ids.borrow().contains(&child.id().0)
    }

    /// The restart history of this realm as a supervisor.
    pub(crate) fn restart_history(&self) -> std::cell::RefMut<'_, RestartHistory> {
        self.restart_history.borrow_mut()
    }

    /// Adds a listener for its children's lifecycle events.
    pub(crate) fn add_lifecycle_listener(&self, listener: LifecycleListener) {
        self.lifecycle_listeners.borrow_mut().push(listener);
    }

    /// How this realm supervises its children.
    pub(crate) fn supervisor(&self) -> SupervisorSpec {
        self.supervisor.get()
    }

    /// Sets how this realm supervises its children.
    pub(crate) fn set_supervisor(&self, spec: SupervisorSpec) {
        self.supervisor.set(spec);
    }

    /// A new, fully active realm.
    pub(crate) fn new(init: RealmInit) -> Rc<RealmInner> {
        let realm = Rc::new(RealmInner {
            shared_addr: Arc::new(init.addr.clone()),
            addr: init.addr,
            event_loop: init.event_loop,
            browser: init.browser,
            kind: init.kind,
            origin: init.origin,
            url: init.url,
            document: init.document,
            name: init.name,
            listeners: Listeners::default(),
            iframe_listeners: Listeners::default(),
            ports: RefCell::new(HashMap::default()),
            workers: RefCell::new(HashMap::new()),
            shared_workers: RefCell::new(Vec::new()),
            owner_token: Cell::new(0),
            children: RefCell::new(Vec::new()),
            child_ids: RefCell::new(HashSet::default()),
            broadcast: BroadcastScope::new(),
            supervisor: Cell::new(SupervisorSpec::default()),
            restart_history: RefCell::default(),
            lifecycle_listeners: RefCell::new(Vec::new()),
            torn_down: Cell::new(false),
            alive: Cell::new(true),
            observers: init.observers,
            globals: RefCell::new(HashMap::new()),
            timers: RefCell::new(HashMap::new()),
        });
        if let RealmKind::Window(w) = &realm.kind {
            set_current_realm(w.id(), &realm);
        }
        realm
    }

    /// The id of the realm's shell in its event loop (the browsing context's or worker's
    /// id): timers and microtasks are keyed by it.
    pub(crate) fn host_id(&self) -> u64 {
        self.addr.realm_id()
    }

    /// Arms a timer whose task runs `callback` (`setTimeout`, `setInterval`).
    pub(crate) fn set_timer(
        &self,
        timeout: std::time::Duration,
        repeat: bool,
        callback: TimerFn,
    ) -> TimerId {
        let id = self.event_loop.set_timer(self.host_id(), timeout, repeat);
        self.timers.borrow_mut().insert(id, (callback, repeat));
        id
    }

    /// `clearTimeout` / `clearInterval`: a timer of this document.
    pub(crate) fn clear_timer(&self, id: TimerId) {
        if self.timers.borrow_mut().remove(&id).is_some() {
            self.event_loop.clear_timer(self.host_id(), id);
        }
    }

    /// The callback of a due timer (a timeout is forgotten: it runs once).
    pub(crate) fn timer_callback(&self, id: TimerId) -> Option<TimerFn> {
        let mut timers = self.timers.borrow_mut();
        let (cb, repeat) = timers.get(&id)?.clone();
        if !repeat {
            timers.remove(&id);
        }
        Some(cb)
    }

    /// A key for a new port of this realm, unique in the process (so that a stale task
    /// for a port of a replaced document never finds a port of the new one).
    pub(crate) fn next_key(&self) -> u64 {
        self.browser.next_id()
    }

    pub(crate) fn register_port(&self, port: &Rc<PortObject>) {
        self.ports
            .borrow_mut()
            .insert(port.key, PortSlot::Weak(Rc::downgrade(port)));
    }

    /// Keeps the port alive while this realm lives (it has a listener).
    pub(crate) fn retain_port(&self, port: &Rc<PortObject>) {
        if self.is_alive() {
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

    pub(crate) fn port(&self, key: u64) -> Option<Rc<PortObject>> {
        self.ports
            .try_borrow()
            .ok()?
            .get(&key)
            .and_then(PortSlot::get)
    }

    /// The ports of this realm that are active (not shipped, not closed), by key.
    pub(crate) fn active_ports(&self) -> Vec<Rc<PortObject>> {
        let Ok(ports) = self.ports.try_borrow() else {
            return Vec::new();
        };
        let mut keys: Vec<u64> = ports.keys().copied().collect();
        keys.sort_unstable();
        keys.iter()
            .filter_map(|k| ports.get(k).and_then(PortSlot::get))
            .filter(|p| p.state.get() == crate::port::PortObjectState::Active)
            .collect()
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
    /// `close`), workers terminate, iframes go (their documents too, on this thread),
    /// broadcast channels close, timers are cleared, listeners and globals drop.
    ///
    /// Iterative: the documents of nested iframes are torn down from a work list, not by
    /// recursion. Every step runs even if an earlier one panics (a global's destructor, a
    /// listener's drop); the first panic's message is returned, for the caller to treat
    /// as a crash of this realm.
    pub(crate) fn tear_down(&self, why: &str) -> Option<String> {
        let mut pending: Vec<Rc<RealmInner>> = Vec::new();
        let mut panicked = self.tear_down_one(why, &mut pending);
        while let Some(child) = pending.pop() {
            let p = child.tear_down_one("parent document destroyed", &mut pending);
            if let Some(p) = p {
                log::error!(target: "webmessaging::realm", "{}: teardown panicked: {p}", child.name);
            }
            drop(child);
        }
        if let Some(p) = &panicked {
            log::error!(target: "webmessaging::realm", "{}: teardown panicked: {p}", self.name);
        }
        panicked.take()
    }

    /// This realm's own part of [`tear_down`](Self::tear_down); the current realms of its
    /// iframes (on this thread) go to `pending`.
    fn tear_down_one(&self, why: &str, pending: &mut Vec<Rc<RealmInner>>) -> Option<String> {
        self.alive.set(false);
        if self.torn_down.replace(true) {
            return None;
        }
        log::debug!(target: "webmessaging::realm", "{}: torn down ({why})", self.name);
        let mut first_panic: Option<String> = None;
        let mut step = |f: &mut dyn FnMut()| {
            if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
                first_panic.get_or_insert_with(|| panic_message(&p));
            }
        };
        step(&mut || {
            self.event_loop.clear_timers_of(self.host_id());
            let timers: Vec<_> = self.timers.borrow_mut().drain().collect();
            drop(timers);
        });
        let slots: Vec<PortSlot> = self.ports.borrow_mut().drain().map(|(_, s)| s).collect();
        for slot in slots {
            step(&mut || {
                if let Some(p) = slot.get() {
                    MessagePort(p).close();
                }
            });
        }
        // In creation order (ids grow), so a simulation's record does not depend on the
        // map's hashing.
        let mut workers: Vec<(u64, Rc<WorkerObject>)> = self.workers.borrow_mut().drain().collect();
        workers.sort_by_key(|(id, _)| *id);
        let workers = workers.into_iter().map(|(_, w)| w);
        for w in workers {
            step(&mut || w.terminate());
        }
        // This realm leaves the owner sets of the shared workers it holds; the ones left
        // without an owner close.
        let shared: Vec<Rc<SharedWorkerObject>> =
            self.shared_workers.borrow_mut().drain(..).collect();
        let mut held: Vec<Arc<WorkerShared>> = Vec::new();
        for w in shared.iter().filter_map(|o| o.worker.clone()) {
            if !held.iter().any(|h| Arc::ptr_eq(h, &w)) {
                held.push(w);
            }
        }
        if !held.is_empty() {
            step(&mut || shared_worker::owner_gone(&self.browser, self.owner_token(), &held));
        }
        self.child_ids.borrow_mut().clear();
        let children: Vec<WindowProxy> = self.children.borrow_mut().drain(..).collect();
        for c in children {
            // Iframes share this thread: their documents are torn down now (from the work
            // list), so their ports close even if the event loop stops before their
            // shells run again.
            if let Some(child) = current_realm_of(c.id()) {
                pending.push(child);
            }
            c.close();
        }
        step(&mut || self.broadcast.close_all());
        step(&mut || self.listeners.clear());
        step(&mut || self.iframe_listeners.clear());
        step(&mut || self.lifecycle_listeners.borrow_mut().clear());
        let globals: Vec<_> = self.globals.borrow_mut().drain().collect();
        for g in globals {
            let mut g = Some(g);
            step(&mut || drop(g.take()));
        }
        first_panic
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
        if !self.is_alive() {
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
        let obj = if let Some((shipped, directory)) = holder.shipped.take() {
            // Transfer-receiving steps of a shipped end (step 4 of the re-homing
            // protocol): its next incarnation starts here, disabled, and registers.
            let epoch = shipped.epoch();
            let dispatch = crate::port::Dispatch::Realm {
                realm: Rc::downgrade(self.realm),
                key,
                epoch,
            };
            let sp = crate::port::ShippedPort::receive(shipped, channel.id, directory, dispatch);
            let obj = PortObject::new(self.realm, channel, holder.end, epoch, key);
            obj.set_shipped_port(sp);
            obj
        } else {
            // Transfer-receiving steps: the new owner is this realm; the queued tasks that
            // travelled with the port wait, disabled, until it is started.
            let owner = PortOwner {
                addr: self.realm.shared_addr.clone(),
                key,
            };
            let ok = channel.lock().receive(holder.end, holder.generation, owner);
            let obj = PortObject::new(self.realm, channel, holder.end, holder.generation, key);
            if !ok {
                // The end was closed while in flight (e.g. its peer's channel was
                // doomed): the new object is born closed.
                obj.state.set(crate::port::PortObjectState::Closed);
            }
            obj
        };
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
