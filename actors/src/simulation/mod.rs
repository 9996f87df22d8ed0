//! The simulated mode: the same [`Browser`] API, with every event loop driven from one
//! thread by a seeded scheduler on a virtual clock.
//!
//! A [`Simulation`] owns a `Browser` whose windows, iframes and workers all run on the
//! thread that made it. At each step one choice, drawn from a stream fixed by the seed,
//! picks the next task among every event loop and every non-empty task source, within
//! what the standard fixes (FIFO per task source, per port across moves, a microtask
//! checkpoint after each task) and nothing more. Timers run on a virtual clock that jumps
//! to the next due timer when nothing else can run. Faults (a crash, a worker terminated,
//! an iframe navigated, a port closed, an event loop held back) are choices of the same
//! stream, opt-in with a probability each ([`Faults`]). The record of a run ([`SimTrace`])
//! lists every task, fault, clock jump and observed event in order.
//!
//! **What is deterministic.** With the same seed, configuration and program (scripts
//! that do not read the wall clock, thread ids or other outside state), a simulation runs
//! the same tasks in the same order and records the same trace, byte for byte, on any
//! machine. The threaded runtime ([`Browser::new`]) is not deterministic across event
//! loops (they are threads); there only what the standard fixes holds.
//!
//! ```
//! use webmessaging::prelude::*;
//! use webmessaging::simulation::Simulation;
//!
//! # #[actix_rt::main]
//! # async fn main() -> webmessaging::Result<()> {
//! let run = |seed| async move {
//!     let sim = Simulation::new(seed);
//!     let browser = sim.browser();
//!     browser.route("https://widget.example/", |scope: &Scope| {
//!         let parent = scope.parent().unwrap();
//!         parent.post(scope, "ready", "https://app.example").unwrap();
//!     })?;
//!     browser.open_with("https://app.example/", |scope: &Scope| {
//!         scope.create_iframe("https://widget.example/").unwrap();
//!         scope.on_message(|_s: &Scope, e: &MessageEvent| {
//!             assert_eq!(e.data_as::<String>().unwrap(), "ready");
//!         });
//!     })?;
//!     sim.run().await;
//!     Ok::<_, Error>(sim.trace().to_string())
//! };
//! // The same seed gives the same trace, byte for byte.
//! assert_eq!(run(7).await?, run(7).await?);
//! # Ok(())
//! # }
//! ```

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::mpsc;
use webmessaging_core::clone::{deserialize_record, Transferred};

use crate::browser::Browser;
use crate::event_loop::sim::{DriverState, World, WorldConfig, WorldEntry};
use crate::kernel::{Clock, Fault, Faults, TaskSource};
use crate::observe::ObservedEvent;
use crate::observer::RecordSink;
use crate::runtime::Runtime;

mod explore;

pub use explore::{
    exhaustive, explore, replay, replay_choices, ExhaustiveReport, ExploreConfig, ExploreReport,
    Failure, Outcome,
};

/// How a simulation runs: its seed, its faults, its step limit.
///
/// ```
/// use webmessaging::kernel::{FaultKind, Faults};
/// use webmessaging::simulation::SimConfig;
///
/// let config = SimConfig::new(42)
///     .faults(Faults::none().with(FaultKind::Crash, 0.02))
///     .max_steps(10_000);
/// assert_eq!(config.seed(), 42);
/// ```
#[derive(Debug, Clone)]
pub struct SimConfig {
    seed: u64,
    faults: Faults,
    max_steps: u64,
    record: bool,
    script: Option<Vec<u32>>,
}

impl SimConfig {
    /// The configuration of seed `seed`: no faults, at most 1,000,000 steps, recording.
    pub fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            faults: Faults::none(),
            max_steps: 1_000_000,
            record: true,
            script: None,
        }
    }

    /// Injects these faults.
    pub fn faults(mut self, faults: Faults) -> SimConfig {
        self.faults = faults;
        self
    }

    /// Stops after `n` tasks (a scenario whose timers never stop still ends).
    pub fn max_steps(mut self, n: u64) -> SimConfig {
        self.max_steps = n;
        self
    }

    /// Whether the run's trace is recorded (on by default; off is faster).
    pub fn record(mut self, on: bool) -> SimConfig {
        self.record = on;
        self
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The faults.
    pub fn fault_config(&self) -> &Faults {
        &self.faults
    }

    /// The step limit.
    pub fn step_limit(&self) -> u64 {
        self.max_steps
    }

    /// Follows a script of choices instead of the seed (the exhaustive mode).
    pub(crate) fn scripted(mut self, script: Vec<u32>) -> SimConfig {
        self.script = Some(script);
        self
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Nothing can run any more and no timer is armed.
    Idle,
    /// The step limit was reached.
    StepLimit,
}

/// A simulated browser: a [`Browser`] whose event loops a seeded scheduler drives, on
/// this thread, in virtual time. Must be made inside an actix system (`#[actix_rt::main]`,
/// `#[actix_rt::test]`, `actix_rt::System::new().block_on(...)`).
pub struct Simulation {
    world: Rc<World>,
    browser: Browser,
    config: SimConfig,
    events: RefCell<mpsc::UnboundedReceiver<(u64, ObservedEvent)>>,
    entries: RefCell<Vec<(u64, SimEntry)>>,
}

impl fmt::Debug for Simulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulation")
            .field("seed", &self.config.seed)
            .field("steps", &self.world.steps())
            .finish()
    }
}

impl Simulation {
    /// A simulation of seed `seed` (see [`SimConfig::new`] for the defaults).
    pub fn new(seed: u64) -> Simulation {
        Simulation::with_config(SimConfig::new(seed))
    }

    /// A simulation as `config` says.
    pub fn with_config(config: SimConfig) -> Simulation {
        let world = World::new(WorldConfig {
            choices_seed: config.seed,
            script: config.script.clone(),
            faults: config.faults.clone(),
            max_steps: config.max_steps,
            record: config.record,
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let sink = config.record.then(|| RecordSink {
            seq: world.record_seq(),
            tx,
        });
        let browser = Browser(Runtime::simulated(world.id(), sink));
        actix_rt::spawn(World::drive(Rc::downgrade(&world)));
        Simulation {
            world,
            browser,
            config,
            events: RefCell::new(rx),
            entries: RefCell::new(Vec::new()),
        }
    }

    /// The simulated browser (cheap to clone).
    pub fn browser(&self) -> Browser {
        self.browser.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Runs until nothing can run any more and no timer is armed, or the step limit.
    /// Script that a test runs meanwhile (`WindowHandle::run`, say) is part of the run.
    pub async fn run(&self) -> RunStatus {
        match self.world.until_idle().await {
            DriverState::Exhausted => RunStatus::StepLimit,
            _ => RunStatus::Idle,
        }
    }

    /// The virtual time now.
    pub fn now(&self) -> Duration {
        self.world.clock().now()
    }

    /// How many tasks have run.
    pub fn steps(&self) -> u64 {
        self.world.steps()
    }

    /// How many faults were injected.
    pub fn faults_injected(&self) -> u32 {
        self.world.faults_injected()
    }

    /// The choices a scripted run made, with their number of options.
    pub(crate) fn choices_made(&self) -> Vec<(u32, u32)> {
        self.world.choices_made()
    }

    /// The record of the run so far: every task, fault, clock jump and observed event, in
    /// order (empty if recording is off).
    pub fn trace(&self) -> SimTrace {
        let mut entries = self.entries.borrow_mut();
        for (seq, e) in self.world.take_log() {
            entries.push((seq, SimEntry::from_world(e)));
        }
        let mut rx = self.events.borrow_mut();
        while let Ok((seq, ev)) = rx.try_recv() {
            entries.push((seq, SimEntry::Event(ev)));
        }
        entries.sort_by_key(|(seq, _)| *seq);
        SimTrace {
            seed: self.config.seed,
            entries: entries.iter().map(|(_, e)| e.clone()).collect(),
        }
    }
}

impl Drop for Simulation {
    fn drop(&mut self) {
        self.browser.shutdown();
        self.world.stop();
    }
}

/// One entry of a simulation's record.
#[derive(Debug, Clone)]
pub enum SimEntry {
    /// A task ran.
    Task {
        /// Its step number (from 0).
        step: u64,
        /// The virtual time.
        at: Duration,
        /// The realm it ran in (its name; a broadcast delivery names the first realm of
        /// its event loop).
        realm: String,
        /// Its task source.
        source: TaskSource,
        /// What kind of task (`"window message"`, `"port message"`, `"timer"`, ...).
        task: &'static str,
    },
    /// An event fired in a realm (message, messageerror, close, error).
    Event(ObservedEvent),
    /// A fault was injected.
    Fault(Fault),
    /// Nothing could run: the virtual clock jumped to the next due timer.
    Clock {
        /// Steps run before.
        step: u64,
        /// The new time.
        to: Duration,
    },
}

impl SimEntry {
    fn from_world(e: WorldEntry) -> SimEntry {
        match e {
            WorldEntry::Task {
                step,
                at,
                realm,
                source,
                task,
            } => SimEntry::Task {
                step,
                at,
                realm,
                source,
                task,
            },
            WorldEntry::Fault(f) => SimEntry::Fault(f),
            WorldEntry::Clock { step, to } => SimEntry::Clock { step, to },
        }
    }
}

/// The data of an observed event in words: the value's `Debug`, or its size when it
/// holds what cannot be shown outside its realm (ports).
pub(crate) fn data_text(e: &ObservedEvent) -> String {
    match &e.record {
        None => String::new(),
        Some(r) => match deserialize_record(r, &Transferred::default()) {
            Ok(v) => format!("{v:?}"),
            Err(_) => format!("<{} bytes>", r.len()),
        },
    }
}

impl fmt::Display for SimEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimEntry::Task {
                step,
                at,
                realm,
                source,
                task,
            } => write!(f, "#{step} {at:?} {realm} [{source}] {task}"),
            SimEntry::Event(e) => {
                write!(f, "  {} {} at {}", e.realm, e.event_type, e.target)?;
                if !e.origin.is_empty() {
                    write!(f, " origin={}", e.origin)?;
                }
                if let Some(s) = &e.source {
                    write!(f, " source={s}")?;
                }
                if e.ports > 0 {
                    write!(f, " ports={}", e.ports)?;
                }
                if e.record.is_some() {
                    write!(f, " data={}", data_text(e))?;
                }
                if let Some(m) = &e.error {
                    write!(f, " error={m}")?;
                }
                Ok(())
            }
            SimEntry::Fault(x) => write!(f, "! {x}"),
            SimEntry::Clock { step, to } => write!(f, "~ clock -> {to:?} (after {step} steps)"),
        }
    }
}

/// The record of one simulated run (see [`Simulation::trace`]). `Display` prints it as
/// text, one entry per line; [`SimTrace::to_mermaid`] and [`SimTrace::to_chrome_json`]
/// draw it.
#[derive(Debug, Clone)]
pub struct SimTrace {
    /// The run's seed.
    pub seed: u64,
    /// Its entries, in order.
    pub entries: Vec<SimEntry>,
}

impl SimTrace {
    /// The events observed, in order.
    pub fn events(&self) -> impl Iterator<Item = &ObservedEvent> {
        self.entries.iter().filter_map(|e| match e {
            SimEntry::Event(ev) => Some(ev),
            _ => None,
        })
    }

    /// The faults injected, in order.
    pub fn faults(&self) -> impl Iterator<Item = &Fault> {
        self.entries.iter().filter_map(|e| match e {
            SimEntry::Fault(f) => Some(f),
            _ => None,
        })
    }

    /// How many tasks ran.
    pub fn steps(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e, SimEntry::Task { .. }))
            .count()
    }
}

impl fmt::Display for SimTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {}", self.seed)?;
        for e in &self.entries {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}
