//! The simulated mode's driver: every event loop of a simulation on one thread, and one
//! seeded stream of choices picking, at each step, the next task among all of them.
//!
//! | standard | here |
//! | --- | --- |
//! | each event loop runs its tasks one at a time, in parallel with the others | the [`World`] runs one task of one loop per step, so the loops interleave at task granularity, in any order the choices give |
//! | "choose a task queue in an implementation-defined manner" | the same choice: every non-empty (loop, task source) pair is a candidate; FIFO within a source is kept whatever is chosen |
//! | the event loop's current high resolution time | one [`VirtualClock`] for the whole simulation, moved to the next due timer when no task can run |
//!
//! What is fixed, as the standard fixes it: FIFO per task source per loop (so per port,
//! per window-message sender and receiver, per broadcast sender within a loop), the
//! microtask checkpoint after each task, tasks never nested. What varies with the seed:
//! which loop runs next, which of a loop's sources runs next, when time moves (only
//! when nothing can run), and the injected [faults](crate::kernel::Faults).
//!
//! Deliveries between loops are queued at once (there is no transit to reorder): the
//! order of two posts to one target from different loops is the order in which their
//! tasks ran, which the choices vary. Messages that the runtime's own actors relay (the
//! port directory) are handled by the actix runtime of the same thread between steps, in
//! the order they were sent; a broadcast's deliveries are queued by its post (the
//! registry is shared state, not an actor).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use super::sim_loop::SimLoop;
use super::*;
use crate::kernel::{Clock, Fault, FaultKind, Faults, VirtualClock};

/// How many times the driver yields to the actix runtime, when no task can run, before it
/// concludes that nothing is in flight (relayed messages between actors of the thread).
const SETTLE_YIELDS: usize = 4;

/// How many rounds without a runnable task, while work is reported, end a run.
const MAX_STALLS: u32 = 10_000;

/// Which faults can hit one host now.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FaultTargets {
    /// It has a document or global that can crash.
    pub(crate) crash: bool,
    /// It is a dedicated worker that can be terminated.
    pub(crate) terminate: bool,
    /// It is an iframe that can navigate.
    pub(crate) navigate: bool,
    /// It has an entangled port that can be closed.
    pub(crate) close_port: bool,
}

impl FaultTargets {
    fn allows(&self, kind: FaultKind) -> bool {
        match kind {
            FaultKind::Crash => self.crash,
            FaultKind::Terminate => self.terminate,
            FaultKind::Navigate => self.navigate,
            FaultKind::ClosePort => self.close_port,
            FaultKind::Delay => false,
        }
    }
}

/// The stream of choices a simulation makes.
pub(crate) enum Choices {
    /// Drawn from a seeded xorshift stream.
    Seeded(rand_xorshift::XorShiftRng),
    /// Following a script (the bounded exhaustive mode): choice `i` is `script[i]` (0 past
    /// its end); every choice's number of options is recorded.
    Scripted {
        script: Vec<u32>,
        made: Vec<(u32, u32)>,
    },
}

impl Choices {
    /// The stream of `seed`.
    pub(crate) fn seeded(seed: u64) -> Choices {
        use rand_core::SeedableRng;
        Choices::Seeded(rand_xorshift::XorShiftRng::seed_from_u64(seed))
    }

    /// One of `n` options (`n` at least 1).
    pub(super) fn choose(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        match self {
            Choices::Seeded(rng) => {
                use rand_core::Rng;
                ((u64::from(rng.next_u32()) * n as u64) >> 32) as usize
            }
            Choices::Scripted { script, made } => {
                let i = made.len();
                let c = script.get(i).copied().unwrap_or(0).min(n as u32 - 1);
                made.push((c, n as u32));
                c as usize
            }
        }
    }

    /// True with probability `p` (never in a scripted run: the exhaustive mode explores
    /// orders, not faults).
    fn chance(&mut self, p: f64) -> bool {
        match self {
            Choices::Seeded(rng) => {
                use rand_core::Rng;
                (f64::from(rng.next_u32()) / 4_294_967_296.0) < p
            }
            Choices::Scripted { .. } => false,
        }
    }
}

/// One entry of a simulation's record.
#[derive(Debug, Clone)]
pub(crate) enum WorldEntry {
    /// A task ran.
    Task {
        step: u64,
        at: Duration,
        realm: String,
        source: TaskSource,
        task: &'static str,
    },
    /// A fault was injected.
    Fault(Fault),
    /// Nothing could run: the clock moved to the next due timer.
    Clock { step: u64, to: Duration },
}

/// Why a simulation stopped stepping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DriverState {
    /// It runs tasks.
    Running,
    /// Nothing can run and no timer is due: it waits for work from outside.
    Idle,
    /// It ran its step limit.
    Exhausted,
}

thread_local! {
    /// The simulations of this thread, by id.
    static WORLDS: RefCell<HashMap<u64, Weak<World>, IdHash>> = RefCell::new(HashMap::default());
}

static NEXT_WORLD: AtomicU64 = AtomicU64::new(1);

/// What configures a world.
#[derive(Debug, Clone)]
pub(crate) struct WorldConfig {
    pub(crate) choices_seed: u64,
    pub(crate) script: Option<Vec<u32>>,
    pub(crate) faults: Faults,
    pub(crate) max_steps: u64,
    pub(crate) record: bool,
}

/// A simulation's driver: its event loops, clock, choices and record.
pub(crate) struct World {
    id: u64,
    clock: VirtualClock,
    loops: RefCell<Vec<Rc<dyn SimLoop>>>,
    choices: RefCell<Choices>,
    faults: Faults,
    faults_done: Cell<u32>,
    max_steps: u64,
    steps: Cell<u64>,
    /// Loops held back by a delay fault, with the steps left.
    delayed: RefCell<Vec<(u64, u32)>>,
    record: bool,
    log: RefCell<Vec<(u64, WorldEntry)>>,
    seq: Arc<AtomicU64>,
    wake: tokio::sync::Notify,
    idle: tokio::sync::Notify,
    state: Cell<DriverState>,
    stopped: Cell<bool>,
    candidates: RefCell<Vec<(usize, TaskSource)>>,
}

impl World {
    /// A new world, registered on this thread.
    pub(crate) fn new(config: WorldConfig) -> Rc<World> {
        let id = NEXT_WORLD.fetch_add(1, Ordering::Relaxed);
        let choices = match config.script {
            Some(script) => Choices::Scripted {
                script,
                made: Vec::new(),
            },
            None => Choices::seeded(config.choices_seed),
        };
        let world = Rc::new(World {
            id,
            clock: VirtualClock::new(),
            loops: RefCell::new(Vec::new()),
            choices: RefCell::new(choices),
            faults: config.faults,
            faults_done: Cell::new(0),
            max_steps: config.max_steps,
            steps: Cell::new(0),
            delayed: RefCell::new(Vec::new()),
            record: config.record,
            log: RefCell::new(Vec::new()),
            seq: Arc::new(AtomicU64::new(0)),
            wake: tokio::sync::Notify::new(),
            idle: tokio::sync::Notify::new(),
            state: Cell::new(DriverState::Running),
            stopped: Cell::new(false),
            candidates: RefCell::new(Vec::new()),
        });
        WORLDS.with(|w| w.borrow_mut().insert(id, Rc::downgrade(&world)));
        world
    }

    /// The world `id` of this thread, if it is still there.
    pub(crate) fn lookup(id: u64) -> Option<Rc<World>> {
        WORLDS
            .try_with(|w| w.borrow().get(&id).and_then(Weak::upgrade))
            .ok()
            .flatten()
    }

    /// Its id (what a runtime in the simulated mode keeps).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The simulation's clock.
    pub(crate) fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    /// How many tasks have run.
    pub(crate) fn steps(&self) -> u64 {
        self.steps.get()
    }

    /// The faults injected so far.
    pub(crate) fn faults_injected(&self) -> u32 {
        self.faults_done.get()
    }

    /// The record so far (empty unless recording).
    pub(crate) fn take_log(&self) -> Vec<(u64, WorldEntry)> {
        std::mem::take(&mut *self.log.borrow_mut())
    }

    /// The choices made so far, with their number of options (a scripted run).
    pub(crate) fn choices_made(&self) -> Vec<(u32, u32)> {
        match &*self.choices.borrow() {
            Choices::Scripted { made, .. } => made.clone(),
            Choices::Seeded(_) => Vec::new(),
        }
    }

    pub(super) fn add_loop(&self, l: Rc<dyn SimLoop>) {
        self.loops.borrow_mut().push(l);
        self.wake();
    }

    /// Work was queued: the driver goes on if it waits.
    pub(crate) fn wake(&self) {
        if self.state.get() == DriverState::Idle {
            self.wake.notify_one();
        }
    }

    /// Waits until the driver is idle (nothing runs, no timer is due) or exhausted.
    pub(crate) async fn until_idle(&self) -> DriverState {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.state.get() {
                DriverState::Running => {}
                s => {
                    if s == DriverState::Exhausted || !self.has_work() {
                        return s;
                    }
                }
            }
            notified.await;
        }
    }

    fn has_work(&self) -> bool {
        self.loops.borrow().iter().any(|l| l.has_work())
    }

    fn log(&self, entry: impl FnOnce() -> WorldEntry) {
        if self.record {
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            self.log.borrow_mut().push((seq, entry()));
        }
    }

    /// The sequence shared by the record's entries and the events recorded beside it.
    pub(crate) fn record_seq(&self) -> Arc<AtomicU64> {
        self.seq.clone()
    }

    /// Runs the world until it is dropped: steps while something can run, moves the
    /// clock when only timers wait, waits for work otherwise.
    pub(crate) async fn drive(world: Weak<World>) {
        // Rounds in a row where some loop reported work and none could run: a bug guard,
        // so a run that cannot progress ends (as at the step limit) instead of spinning.
        let mut stalled = 0u32;
        loop {
            let Some(w) = world.upgrade() else { return };
            if w.stopped.get() {
                return;
            }
            if w.steps.get() >= w.max_steps {
                w.state.set(DriverState::Exhausted);
                w.idle.notify_waiters();
                return;
            }
            if w.step() {
                stalled = 0;
                drop(w);
                tokio::task::yield_now().await;
                continue;
            }
            drop(w);
            // Nothing can run: let what the thread's actors relay arrive first.
            let mut found = false;
            for _ in 0..SETTLE_YIELDS {
                tokio::task::yield_now().await;
                match world.upgrade() {
                    Some(w) if w.has_work() => {
                        found = true;
                        break;
                    }
                    Some(_) => {}
                    None => return,
                }
            }
            if found {
                stalled += 1;
                if stalled < MAX_STALLS {
                    continue;
                }
                log::error!(target: "webmessaging::simulation", "work reported but none can run: the run ends here");
                if let Some(w) = world.upgrade() {
                    w.state.set(DriverState::Exhausted);
                    w.idle.notify_waiters();
                }
                return;
            }
            let Some(w) = world.upgrade() else { return };
            if w.release_delayed() || w.advance_clock() {
                continue;
            }
            w.state.set(DriverState::Idle);
            w.idle.notify_waiters();
            {
                let wake = w.wake.notified();
                tokio::pin!(wake);
                wake.as_mut().enable();
                if !w.has_work() && !w.stopped.get() {
                    wake.await;
                }
            }
            if w.stopped.get() {
                return;
            }
            w.state.set(DriverState::Running);
        }
    }

    /// Stops the driver (the simulation is dropped) and tears every loop down: tasks
    /// still queued are dropped, never run; every realm is destroyed.
    pub(crate) fn stop(&self) {
        self.stopped.set(true);
        self.wake.notify_one();
        let loops: Vec<Rc<dyn SimLoop>> = std::mem::take(&mut *self.loops.borrow_mut());
        for l in loops {
            enter(l.loop_id(), || l.end_now());
        }
    }

    /// One step: maybe a fault, then one task. False if no task could run.
    fn step(&self) -> bool {
        self.settle_loops();
        let loops: Vec<Rc<dyn SimLoop>> = self.loops.borrow().clone();
        for l in &loops {
            l.clone().run_deferred();
        }
        if self.faults.any() && self.faults_done.get() < self.faults.max() {
            self.maybe_inject(&loops);
        }
        let mut cands = self.candidates.borrow_mut();
        cands.clear();
        let mut sources = Vec::new();
        // Held-back loops are skipped; when only they have tasks, time passes for them
        // too (they are released) rather than the world stalling.
        for pass in 0..2 {
            {
                let delayed = self.delayed.borrow();
                for (i, l) in loops.iter().enumerate() {
                    if delayed.iter().any(|(id, _)| *id == l.loop_id()) {
                        continue;
                    }
                    sources.clear();
                    l.sources(&mut sources);
                    cands.extend(sources.iter().map(|s| (i, *s)));
                }
            }
            if !cands.is_empty() || pass == 1 || !self.release_delayed() {
                break;
            }
        }
        if cands.is_empty() {
            return false;
        }
        let pick = self.choices.borrow_mut().choose(cands.len());
        let (i, source) = cands[pick];
        drop(cands);
        let l = loops[i].clone();
        let step = self.steps.get();
        self.steps.set(step + 1);
        self.tick_delayed();
        if self.record {
            if let Some((realm, task)) = l.peek(source) {
                self.log(|| WorldEntry::Task {
                    step,
                    at: self.clock.now(),
                    realm,
                    source,
                    task,
                });
            }
        }
        enter(l.loop_id(), || l.clone().run_one(source));
        self.settle_loops();
        true
    }

    /// Removes the loops that ended.
    fn settle_loops(&self) {
        let loops: Vec<Rc<dyn SimLoop>> = self.loops.borrow().clone();
        let mut ended = Vec::new();
        for l in loops {
            let id = l.loop_id();
            if enter(id, || l.settle()) {
                ended.push(id);
            }
        }
        if !ended.is_empty() {
            self.loops
                .borrow_mut()
                .retain(|l| !ended.contains(&l.loop_id()));
            self.delayed
                .borrow_mut()
                .retain(|(id, _)| !ended.contains(id));
        }
    }

    fn tick_delayed(&self) {
        let mut d = self.delayed.borrow_mut();
        for (_, left) in d.iter_mut() {
            *left = left.saturating_sub(1);
        }
        d.retain(|(_, left)| *left > 0);
    }

    /// Only held-back loops have work: time passes for them too.
    fn release_delayed(&self) -> bool {
        let mut d = self.delayed.borrow_mut();
        if d.is_empty() {
            return false;
        }
        d.clear();
        true
    }

    /// Moves the clock to the next due timer and queues the timers due then.
    fn advance_clock(&self) -> bool {
        let loops: Vec<Rc<dyn SimLoop>> = self.loops.borrow().clone();
        let Some(next) = loops.iter().filter_map(|l| l.next_deadline()).min() else {
            return false;
        };
        self.clock.advance_to(next);
        let now = self.clock.now();
        for l in &loops {
            l.queue_due_timers(now);
        }
        self.log(|| WorldEntry::Clock {
            step: self.steps.get(),
            to: now,
        });
        true
    }

    fn maybe_inject(&self, loops: &[Rc<dyn SimLoop>]) {
        for kind in FaultKind::ALL {
            let p = self.faults.probability(kind);
            if p <= 0.0 || !self.choices.borrow_mut().chance(p) {
                continue;
            }
            if self.inject(kind, loops) {
                self.faults_done.set(self.faults_done.get() + 1);
                return;
            }
        }
    }

    fn inject(&self, kind: FaultKind, loops: &[Rc<dyn SimLoop>]) -> bool {
        let step = self.steps.get();
        if kind == FaultKind::Delay {
            let busy: Vec<&Rc<dyn SimLoop>> = loops.iter().filter(|l| l.has_work()).collect();
            if busy.len() < 2 {
                return false;
            }
            let mut c = self.choices.borrow_mut();
            let l = busy[c.choose(busy.len())];
            let n = 1 + c.choose(16) as u32;
            drop(c);
            self.delayed.borrow_mut().push((l.loop_id(), n));
            self.log(|| {
                WorldEntry::Fault(Fault {
                    step,
                    at: self.clock.now(),
                    kind,
                    target: l.first_name(),
                    detail: format!("its event loop held for {n} steps"),
                })
            });
            return true;
        }
        let mut targets = Vec::new();
        let mut all = Vec::new();
        for (i, l) in loops.iter().enumerate() {
            targets.clear();
            l.fault_targets(&mut targets);
            all.extend(
                targets
                    .drain(..)
                    .filter(|(_, _, t)| t.allows(kind))
                    .map(|(id, name, _)| (i, id, name)),
            );
        }
        if all.is_empty() {
            return false;
        }
        let (i, realm, name) = {
            let pick = self.choices.borrow_mut().choose(all.len());
            all.swap_remove(pick)
        };
        let l = loops[i].clone();
        let detail = {
            let mut c = self.choices.borrow_mut();
            enter(l.loop_id(), || l.clone().inject(realm, kind, &mut c))
        };
        let Some(detail) = detail else { return false };
        log::debug!(target: "webmessaging::simulation", "step {step}: {kind} {name}: {detail}");
        self.log(|| {
            WorldEntry::Fault(Fault {
                step,
                at: self.clock.now(),
                kind,
                target: name,
                detail,
            })
        });
        self.settle_loops();
        true
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = WORLDS.try_with(|w| w.borrow_mut().remove(&self.id));
    }
}

/// Runs `f` with loop `id` as this thread's current loop.
pub(super) fn enter<R>(id: u64, f: impl FnOnce() -> R) -> R {
    let entry = SIMULATED_LOOPS
        .try_with(|m| m.borrow().get(&id).cloned())
        .ok()
        .flatten();
    let previous =
        CURRENT_LOOP.with(|c| std::mem::replace(&mut *c.borrow_mut(), entry.map(|e| (id, e))));
    struct Restore(Option<(u64, Rc<dyn std::any::Any>)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let p = self.0.take();
            let _ = CURRENT_LOOP.try_with(|c| *c.borrow_mut() = p);
        }
    }
    let _restore = Restore(previous);
    f()
}
