//! The event loop actor: one per agent (a browsing-context group, a dedicated worker),
//! running the tasks of every realm it hosts, one at a time, from its task sources.
//!
//! Spec: <https://html.spec.whatwg.org/multipage/webappapis.html#event-loop-processing-model>.
//!
//! | standard | here |
//! | --- | --- |
//! | event loop | an `EventLoop` actor, alone on its actix `Arbiter` (one thread) |
//! | task queues, one per task source | `TaskQueues` inside the loop ([`TaskSource`] names them) |
//! | "choose a task queue in an implementation-defined manner" | the loop's [`Scheduler`] ([`OldestFirst`] by default) |
//! | run the task | the hosting realm's `Host::handle` |
//! | perform a microtask checkpoint | after every task: every queued microtask, in order, including those queued by microtasks |
//! | timers | the loop's [`Timers`]; a due timer becomes a task on the timer task source |
//!
//! The loop hosts realms through the `Host` trait: it never names what a realm holds
//! (listeners, ports, documents), only how to hand it a task. Tasks reach it in two ways:
//! from its own thread they are queued directly (no actix message), from other threads
//! they arrive in its mailbox as `LoopMessage`s and are queued when it handles them.
//!
//! A *turn* runs tasks until the queues are empty or a budget is spent, then yields to
//! the actix runtime (so that the mailbox, timers and other actors on the thread get their
//! turn) and goes on. No task is ever run from inside another: a task that queues one,
//! even for its own realm, only queues it.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, SpawnHandle};

mod realm_addr;
mod run;
pub(crate) mod sim;
mod sim_loop;

pub(crate) use realm_addr::{LoopAddr, RealmAddr};

use run::{run_microtasks, run_task};
use sim::World;

use crate::id_hash::IdHash;
use crate::kernel::metrics::LoopLoad;
use crate::kernel::{
    Clock, DueTimer, OldestFirst, RealClock, Scheduler, TaskQueues, TaskSource, TimerId, Timers,
    VirtualClock,
};

/// How many tasks one turn runs before the loop yields to the actix runtime.
const TURN_BUDGET: usize = 128;

/// How many consecutive tasks of one unshipped port one queue entry may run when nothing
/// else waits (see `run_task`).
const UNSHIPPED_RUN: usize = 32;

/// What an event loop hosts: a realm shell (a browsing context or a worker), handed its
/// tasks one at a time.
pub(crate) trait Host: Sized + 'static {
    /// A task for this host, `Send` so that other threads can queue it.
    type Message: Send + 'static;
    /// A microtask of this host.
    type Microtask: 'static;
    /// A delivery that runs across the realms of the loop (broadcasts).
    type Delivery: Send + 'static;

    /// The task source `msg` is queued on.
    fn source_of(msg: &Self::Message) -> TaskSource;
    /// Runs one task.
    fn handle(&mut self, msg: Self::Message, cx: &mut LoopCx<Self>);
    /// Runs the next task of one of its ports (the unshipped port message queue).
    fn port_task(&mut self, key: u64, generation: u64, cx: &mut LoopCx<Self>);
    /// Runs the callback of a due timer.
    fn timer(&mut self, id: TimerId, cx: &mut LoopCx<Self>);
    /// Runs one microtask.
    fn microtask(&mut self, m: Self::Microtask, cx: &mut LoopCx<Self>);
    /// Runs a delivery to several realms of this loop (one task per destination, in
    /// order, as one queue entry).
    fn deliver(d: Self::Delivery);
    /// The loop is ending: tear down without running script's tasks.
    fn destroy(&mut self, cx: &mut LoopCx<Self>);

    /// What kind of task `msg` is, in a word or two (for the simulation's trace).
    fn describe(msg: &Self::Message) -> &'static str;
    /// The hosted realm's name (for traces).
    fn name(&self) -> String;
    /// Which faults can hit this host now (simulated mode).
    fn fault_targets(&self) -> sim::FaultTargets;
    /// Injects a fault (simulated mode); returns what was done, or `None` if it did not
    /// apply after all.
    fn inject(
        &mut self,
        kind: crate::kernel::FaultKind,
        pick: &mut dyn FnMut(usize) -> usize,
        cx: &mut LoopCx<Self>,
    ) -> Option<String>;
}

/// One task in the loop's queues.
pub(crate) enum Task<H: Host> {
    /// A task for one hosted realm.
    Realm(u64, H::Message),
    /// The next `count` tasks of a never-shipped port of a hosted realm (consecutive in
    /// the unshipped port message queue, with nothing numbered in between: see
    /// [`TaskQueues::push_or_extend`]).
    Unshipped {
        realm: u64,
        key: u64,
        generation: u64,
        count: u32,
    },
    /// A due timer of a hosted realm.
    Timer(DueTimer),
    /// A delivery across realms.
    Delivery(H::Delivery),
}

/// What other threads send an event loop.
pub(crate) enum LoopMessage<H: Host> {
    /// Queue a task for a hosted realm.
    Task(u64, H::Message),
    /// Queue a delivery across realms (DOM manipulation task source).
    Delivery(H::Delivery),
    /// Host a new realm (a top-level window, a worker) and queue its first task.
    Add {
        id: u64,
        host: Box<dyn FnOnce() -> H + Send>,
        first: Option<H::Message>,
    },
    /// Wake up: tasks were queued from this thread outside a turn.
    Kick,
}

impl<H: Host> actix::Message for LoopMessage<H> {
    type Result = ();
}

static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

/// Whether a task of `source` counts in its loop's [`LoopLoad`]: a posted message
/// (window and worker messages; broadcast deliveries count as `Task::Delivery`).
fn counts_in_load(source: TaskSource) -> bool {
    source == TaskSource::PostedMessage
}

/// Records the depth of loop `id`'s message tasks in the trace (when recording).
fn trace_load(id: u64, load: &LoopLoad) {
    if crate::kernel::trace::is_enabled() {
        crate::kernel::trace::depth(&format!("event loop {id}"), load.snapshot().queued);
    }
}

thread_local! {
    /// The event loop whose thread this is (each loop has a thread of its own), as an
    /// untyped pointer to its shared state. In the simulated mode, where every loop runs
    /// on one thread, the loop whose task runs now.
    static CURRENT_LOOP: RefCell<Option<(u64, Rc<dyn std::any::Any>)>> = const { RefCell::new(None) };
    /// In the simulated mode: every event loop hosted on this thread, by id.
    static SIMULATED_LOOPS: RefCell<HashMap<u64, Rc<dyn std::any::Any>, IdHash>> =
        RefCell::new(HashMap::default());
}

/// The clock of one event loop: the real one, or a simulation's virtual clock (shared by
/// every loop of the simulation).
pub(crate) enum LoopClock {
    Real(RealClock),
    Virtual(VirtualClock),
}

impl LoopClock {
    fn now(&self) -> Duration {
        match self {
            LoopClock::Real(c) => c.now(),
            LoopClock::Virtual(c) => c.now(),
        }
    }
}

/// The state of one event loop, shared on its thread by the loop actor and the realms it
/// hosts (which queue tasks, timers and microtasks into it).
pub(crate) struct LoopShared<H: Host> {
    id: u64,
    addr: Addr<EventLoop<H>>,
    hosts: RefCell<HashMap<u64, Rc<RefCell<H>>, IdHash>>,
    queues: RefCell<TaskQueues<Task<H>>>,
    scheduler: RefCell<Box<dyn Scheduler>>,
    microtasks: RefCell<VecDeque<(u64, H::Microtask)>>,
    timers: RefCell<Timers>,
    /// The timer nesting level of the timer task running now (0 outside timer tasks).
    timer_nesting: Cell<u32>,
    /// Work deferred to the end of the current task (after its microtask checkpoint):
    /// the sends of one task to one shipped port, batched into one actor message.
    after_task: RefCell<Vec<Box<dyn FnOnce()>>>,
    clock: LoopClock,
    /// The simulation driving this loop, in the simulated mode.
    sim: Option<std::rc::Weak<World>>,
    /// How many consecutive tasks of one unshipped port one queue entry may run when
    /// nothing else waits (1 in the simulated mode, where the simulation picks each task).
    unshipped_run: usize,
    in_turn: Cell<bool>,
    kick_pending: Cell<bool>,
    /// Set when the loop is to end after the current task.
    ending: Cell<bool>,
    /// How many hosted realms keep the loop alive (top-level windows, the worker).
    keep_alive: Cell<usize>,
    /// The message tasks waiting in this loop, counted by their senders on any thread.
    load: Arc<LoopLoad>,
}

impl<H: Host> LoopShared<H> {
    fn new(
        id: u64,
        addr: Addr<EventLoop<H>>,
        clock: LoopClock,
        sim: Option<std::rc::Weak<World>>,
        scheduler: Box<dyn Scheduler>,
        load: Arc<LoopLoad>,
    ) -> LoopShared<H> {
        LoopShared {
            id,
            addr,
            hosts: RefCell::new(HashMap::default()),
            queues: RefCell::new(TaskQueues::new()),
            scheduler: RefCell::new(scheduler),
            microtasks: RefCell::new(VecDeque::new()),
            timers: RefCell::new(Timers::new()),
            timer_nesting: Cell::new(0),
            after_task: RefCell::new(Vec::new()),
            unshipped_run: if sim.is_some() { 1 } else { UNSHIPPED_RUN },
            clock,
            sim,
            in_turn: Cell::new(false),
            kick_pending: Cell::new(false),
            ending: Cell::new(false),
            keep_alive: Cell::new(0),
            load,
        }
    }

    /// The loop `id`, if it runs on this thread: the thread's own loop, or in the
    /// simulated mode any loop of the simulation.
    pub(crate) fn hosted_here(id: u64) -> Option<Rc<LoopShared<H>>> {
        let own = CURRENT_LOOP.with(|c| match &*c.borrow() {
            Some((i, rc)) if *i == id => rc.clone().downcast::<LoopShared<H>>().ok(),
            _ => None,
        });
        own.or_else(|| {
            SIMULATED_LOOPS
                .try_with(|m| m.borrow().get(&id).cloned())
                .ok()
                .flatten()
                .and_then(|rc| rc.downcast::<LoopShared<H>>().ok())
        })
    }

    /// Whether a simulation drives this loop.
    pub(crate) fn is_simulated(&self) -> bool {
        self.sim.is_some()
    }

    /// The address of hosted realm `id` (hosted now or later).
    pub(crate) fn realm_addr(&self, id: u64) -> RealmAddr<H> {
        RealmAddr::new(self.addr.clone(), self.id, id, self.load.clone())
    }

    /// Runs `f` at the end of the current task, after its microtask checkpoint (or at
    /// the end of the current turn, outside tasks).
    pub(crate) fn after_task(&self, f: Box<dyn FnOnce()>) {
        self.after_task.borrow_mut().push(f);
        self.kick();
    }

    /// Runs the deferred work (and what it defers in turn).
    fn run_after_task(&self) {
        loop {
            let work = std::mem::take(&mut *self.after_task.borrow_mut());
            if work.is_empty() {
                break;
            }
            for f in work {
                f();
            }
        }
    }

    /// The loop's current time (its clock's).
    pub(crate) fn now(&self) -> Duration {
        self.clock.now()
    }

    /// Queues `task` on `source`.
    pub(crate) fn enqueue(&self, source: TaskSource, task: Task<H>) -> u64 {
        let seq = self.queues.borrow_mut().push(source, task);
        self.kick();
        seq
    }

    /// Queues a task of the never-shipped port `key` of `realm` on the unshipped port
    /// message queue (counted in the last entry when that is a run of the same port).
    pub(crate) fn enqueue_unshipped(&self, realm: u64, key: u64, generation: u64) -> u64 {
        let task = Task::Unshipped {
            realm,
            key,
            generation,
            count: 1,
        };
        let seq =
            self.queues
                .borrow_mut()
                .push_or_extend(TaskSource::UnshippedPorts, task, |back| match back {
                    Task::Unshipped {
                        realm: r,
                        key: k,
                        generation: g,
                        count,
                    } if *r == realm && *k == key && *g == generation && *count < u32::MAX => {
                        *count += 1;
                        true
                    }
                    _ => false,
                });
        self.kick();
        seq
    }

    /// Queues `task` on `source` at the place an earlier sequence number gives it.
    pub(crate) fn enqueue_at(&self, source: TaskSource, seq: u64, task: Task<H>) {
        self.queues.borrow_mut().insert(source, seq, task);
        self.kick();
    }

    /// A sequence number for a task that joins a source later (see [`TaskQueues::next_seq`]).
    pub(crate) fn next_seq(&self) -> u64 {
        self.queues.borrow_mut().next_seq()
    }

    /// Takes the unshipped port tasks of the port `key` of `realm` out of the unshipped
    /// port message queue (the port was shipped, or its twin was); returns how many.
    pub(crate) fn take_unshipped(&self, realm: u64, key: u64) -> usize {
        self.queues
            .borrow_mut()
            .extract(TaskSource::UnshippedPorts, |t| {
                !matches!(t, Task::Unshipped { realm: r, key: k, .. } if *r == realm && *k == key)
            })
            .iter()
            .map(|t| match t {
                Task::Unshipped { count, .. } => *count as usize,
                _ => 0,
            })
            .sum()
    }

    fn kick(&self) {
        if let Some(sim) = &self.sim {
            if let Some(world) = sim.upgrade() {
                world.wake();
            }
            return;
        }
        if !self.in_turn.get() && !self.kick_pending.replace(true) {
            self.addr.do_send(LoopMessage::Kick);
        }
    }

    /// Hosts a realm created from this thread (an iframe, an auxiliary window).
    pub(crate) fn add_host(&self, id: u64, host: H) {
        self.hosts
            .borrow_mut()
            .insert(id, Rc::new(RefCell::new(host)));
    }

    /// Queues a microtask of `realm`, run at the next microtask checkpoint.
    pub(crate) fn queue_microtask(&self, realm: u64, m: H::Microtask) {
        self.microtasks.borrow_mut().push_back((realm, m));
        self.kick();
    }

    /// Arms a timer of `realm` (the timer initialisation steps).
    pub(crate) fn set_timer(&self, realm: u64, timeout: Duration, repeat: bool) -> TimerId {
        let now = self.clock.now();
        let nesting = self.timer_nesting.get();
        let id = self
            .timers
            .borrow_mut()
            .set_nested(realm, timeout, repeat, now, nesting);
        self.kick();
        id
    }

    /// Clears a timer of `realm`.
    pub(crate) fn clear_timer(&self, realm: u64, id: TimerId) -> bool {
        self.timers.borrow_mut().clear(realm, id)
    }

    /// Clears every timer of `realm` (its document went away).
    pub(crate) fn clear_timers_of(&self, realm: u64) {
        self.timers.borrow_mut().clear_realm(realm);
    }

    /// Ends the loop after the current task: its queues are dropped, its hosts destroyed,
    /// its thread stopped.
    pub(crate) fn end(&self) {
        self.ending.set(true);
        self.kick();
    }

    /// A realm that keeps the loop alive started (a top-level window, a worker).
    pub(crate) fn retain(&self) {
        self.keep_alive.set(self.keep_alive.get() + 1);
    }

    /// A realm that kept the loop alive is gone; the last one ends the loop.
    pub(crate) fn release(&self) {
        let n = self.keep_alive.get().saturating_sub(1);
        self.keep_alive.set(n);
        if n == 0 {
            self.end();
        }
    }

    /// How many realms keep the loop alive.
    pub(crate) fn kept_by(&self) -> usize {
        self.keep_alive.get()
    }
}

/// What a host's task sees of its event loop (in place of an actix context).
pub(crate) struct LoopCx<H: Host> {
    shared: Rc<LoopShared<H>>,
    id: u64,
    stopped: bool,
}

impl<H: Host> LoopCx<H> {
    /// The running realm's address.
    pub(crate) fn address(&self) -> RealmAddr<H> {
        self.shared.realm_addr(self.id)
    }

    /// The event loop.
    pub(crate) fn event_loop(&self) -> &Rc<LoopShared<H>> {
        &self.shared
    }

    /// The realm is gone: the loop stops hosting it after this task.
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
    }

    /// Performs a microtask checkpoint inside the running task (between the tasks of a
    /// batch that runs as one queue entry): runs every queued microtask, those of the
    /// running realm on `host`.
    pub(crate) fn checkpoint(&mut self, host: &mut H) {
        loop {
            let next = self.shared.microtasks.borrow_mut().pop_front();
            let Some((id, m)) = next else { break };
            if id == self.id {
                host.microtask(m, self);
            } else {
                let mut m = Some(m);
                with_host(&self.shared, id, |h, cx| {
                    if let Some(m) = m.take() {
                        h.microtask(m, cx)
                    }
                });
            }
        }
        // No script runs now: a safe point for the cycle collector (a no-op until this
        // thread's candidate buffer is full).
        webmessaging_core::value::collect_cycles_if_due();
    }

    /// Queues a task for the running realm.
    pub(crate) fn notify(&self, msg: H::Message) {
        let source = H::source_of(&msg);
        // Counted in the loop's load like any posted message (a message that waited
        // for the first document comes back this way), unbounded: it was admitted once.
        if counts_in_load(source) {
            self.shared.load.try_admit(None);
        }
        self.shared.enqueue(source, Task::Realm(self.id, msg));
    }
}

/// The actor of one event loop.
pub(crate) struct EventLoop<H: Host> {
    shared: Option<Rc<LoopShared<H>>>,
    /// The timer wake-up armed, and for which deadline.
    timer_wake: Option<(Duration, SpawnHandle)>,
}

impl<H: Host> EventLoop<H> {
    /// Starts an event loop: on a new thread, or in the simulated mode (`sim`) on this
    /// thread, driven by the simulation. Returns its address, its id and its load.
    pub(crate) fn spawn(sim: Option<&Rc<World>>) -> (Addr<EventLoop<H>>, u64, Arc<LoopLoad>) {
        let id = NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed);
        let load = Arc::new(LoopLoad::default());
        let returned = load.clone();
        if let Some(world) = sim {
            let world = world.clone();
            let addr = EventLoop::create(move |ctx| {
                let shared = Rc::new(LoopShared::new(
                    id,
                    ctx.address(),
                    LoopClock::Virtual(world.clock().clone()),
                    Some(Rc::downgrade(&world)),
                    Box::new(OldestFirst),
                    load,
                ));
                SIMULATED_LOOPS.with(|m| {
                    m.borrow_mut()
                        .insert(id, shared.clone() as Rc<dyn std::any::Any>)
                });
                world.add_loop(shared.clone());
                EventLoop {
                    shared: Some(shared),
                    timer_wake: None,
                }
            });
            return (addr, id, returned);
        }
        let arbiter = actix::Arbiter::new();
        let handle = arbiter.handle();
        let addr = EventLoop::start_in_arbiter(&handle, move |ctx| {
            let shared = Rc::new(LoopShared::new(
                id,
                ctx.address(),
                LoopClock::Real(RealClock::new()),
                None,
                Box::new(OldestFirst),
                load,
            ));
            CURRENT_LOOP.with(|c| {
                *c.borrow_mut() = Some((id, shared.clone() as Rc<dyn std::any::Any>));
            });
            EventLoop {
                shared: Some(shared),
                timer_wake: None,
            }
        });
        (addr, id, returned)
    }

    fn shared(&self) -> Option<Rc<LoopShared<H>>> {
        self.shared.clone()
    }

    /// Runs tasks until the queues are empty or the budget is spent.
    fn turn(&mut self, ctx: &mut Context<Self>) {
        let Some(shared) = self.shared() else { return };
        if shared.is_simulated() {
            // The simulation runs the tasks, one at a time, when it picks this loop.
            if shared.ending.get() {
                self.finish(&shared, ctx);
            } else {
                shared.kick();
            }
            return;
        }
        if shared.in_turn.get() {
            return;
        }
        shared.in_turn.set(true);
        shared.kick_pending.set(false);
        self.queue_due_timers(&shared);
        // Microtasks queued outside any task (rare) run first.
        run_microtasks(&shared);
        shared.run_after_task();
        let mut budget = TURN_BUDGET;
        while budget > 0 && !shared.ending.get() {
            let next = {
                let mut scheduler = shared.scheduler.borrow_mut();
                shared.queues.borrow_mut().pop(&mut **scheduler)
            };
            let Some((_, seq, task)) = next else { break };
            run_task(&shared, seq, task);
            // Perform a microtask checkpoint.
            run_microtasks(&shared);
            shared.run_after_task();
            budget -= 1;
        }
        // What the last tasks deferred, if the loop is ending.
        shared.run_after_task();
        shared.in_turn.set(false);
        if shared.ending.get() {
            self.finish(&shared, ctx);
            return;
        }
        self.arm_timer_wake(&shared, ctx);
        if !shared.queues.borrow().is_empty() && !shared.kick_pending.replace(true) {
            // Go on in a later turn, through the mailbox: messages from other threads
            // that came meanwhile are queued first, and actix yields the thread to the
            // runtime (timers, `Arbiter::stop`) every few hundred mailbox messages.
            shared.addr.do_send(LoopMessage::Kick);
        }
    }

    fn queue_due_timers(&mut self, shared: &Rc<LoopShared<H>>) {
        let now = shared.clock.now();
        let due = shared.timers.borrow_mut().take_due(now);
        if !due.is_empty() {
            let mut q = shared.queues.borrow_mut();
            for d in due {
                q.push(TaskSource::Timers, Task::Timer(d));
            }
        }
    }

    fn arm_timer_wake(&mut self, shared: &Rc<LoopShared<H>>, ctx: &mut Context<Self>) {
        let next = shared.timers.borrow_mut().next_deadline();
        match (next, &self.timer_wake) {
            (None, None) => {}
            (Some(d), Some((armed, _))) if *armed == d => {}
            (next, _) => {
                if let Some((_, h)) = self.timer_wake.take() {
                    ctx.cancel_future(h);
                }
                if let Some(d) = next {
                    let wait = d.saturating_sub(shared.clock.now());
                    let h = ctx.run_later(wait, move |act, ctx| {
                        act.timer_wake = None;
                        act.turn(ctx);
                    });
                    self.timer_wake = Some((d, h));
                }
            }
        }
    }

    fn finish(&mut self, shared: &Rc<LoopShared<H>>, ctx: &mut Context<Self>) {
        shared.tear_down();
        self.shared = None;
        ctx.stop();
        if !shared.is_simulated() {
            actix::Arbiter::current().stop();
        }
    }
}

impl<H: Host> LoopShared<H> {
    /// The end of the loop: tasks still queued are dropped, never run; then every host
    /// is destroyed.
    fn tear_down(self: &Rc<Self>) {
        let dropped = self.queues.borrow_mut().clear();
        drop(dropped);
        self.microtasks.borrow_mut().clear();
        let hosts: Vec<(u64, Rc<RefCell<H>>)> = self.hosts.borrow_mut().drain().collect();
        for (id, h) in hosts {
            if let Ok(mut h) = h.try_borrow_mut() {
                let mut cx = LoopCx {
                    shared: self.clone(),
                    id,
                    stopped: true,
                };
                let _ = catch_unwind(AssertUnwindSafe(|| h.destroy(&mut cx)));
            }
        }
        self.queues.borrow_mut().clear();
        if self.is_simulated() {
            let _ = SIMULATED_LOOPS.try_with(|m| m.borrow_mut().remove(&self.id));
        } else {
            CURRENT_LOOP.with(|c| c.borrow_mut().take());
        }
    }
}

fn host_of<H: Host>(shared: &LoopShared<H>, id: u64) -> Option<Rc<RefCell<H>>> {
    shared.hosts.borrow().get(&id).cloned()
}

/// Runs `f` on host `id` with a context; removes the host if it stopped.
fn with_host<H: Host>(
    shared: &Rc<LoopShared<H>>,
    id: u64,
    f: impl FnOnce(&mut H, &mut LoopCx<H>),
) -> bool {
    let Some(host) = host_of(shared, id) else {
        return false;
    };
    let Ok(mut h) = host.try_borrow_mut() else {
        log::error!(target: "webmessaging::event_loop", "realm {id} is already running a task; task dropped");
        return false;
    };
    let mut cx = LoopCx {
        shared: shared.clone(),
        id,
        stopped: false,
    };
    f(&mut h, &mut cx);
    drop(h);
    if cx.stopped {
        let removed = shared.hosts.borrow_mut().remove(&id);
        drop(removed);
    }
    true
}
