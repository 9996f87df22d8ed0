//! Exploring the orders a scenario allows: many seeds in parallel, the first failing seed
//! shrunk and reported with a replay call and its trace; and a bounded exhaustive mode
//! that tries every order of the first choices.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::browser::Browser;
use crate::kernel::{FaultKind, Faults, LifecycleEvent};
use crate::observe::ObservedEvent;

use super::{RunStatus, SimConfig, SimTrace, Simulation};

/// What a property sees of one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The configuration it ran with (its seed, faults, step limit).
    pub config: SimConfig,
    /// How it ended.
    pub status: RunStatus,
    /// Tasks run.
    pub steps: u64,
    /// Faults injected.
    pub faults: u32,
    /// The virtual time at the end.
    pub time: Duration,
    /// Its record.
    pub trace: SimTrace,
    /// Supervision's lifecycle events (crashes, restarts).
    pub lifecycle: Vec<LifecycleEvent>,
    /// The scenario's setup failed with this error.
    pub setup_error: Option<String>,
}

impl Outcome {
    /// The events observed, in order.
    pub fn events(&self) -> impl Iterator<Item = &ObservedEvent> {
        self.trace.events()
    }

    /// Whether the run ended because nothing could run any more (not at the step limit).
    /// A property that holds only of complete runs (liveness: "the echo arrives") returns
    /// `Ok(())` for an incomplete one.
    pub fn is_complete(&self) -> bool {
        self.status == RunStatus::Idle
    }
}

/// Runs `scenario` once, as `config` says, on this thread's actix system.
async fn run_once<S>(config: SimConfig, scenario: &S) -> (Outcome, Vec<(u32, u32)>)
where
    S: Fn(&Browser) -> crate::Result<()>,
{
    let sim = Simulation::with_config(config.clone());
    let browser = sim.browser();
    let setup_error = scenario(&browser).err().map(|e| e.to_string());
    let status = sim.run().await;
    let outcome = Outcome {
        config,
        status,
        steps: sim.steps(),
        faults: sim.faults_injected(),
        time: sim.now(),
        trace: sim.trace(),
        lifecycle: browser.lifecycle_events(),
        setup_error,
    };
    let made = sim.choices_made();
    (outcome, made)
}

/// Runs `scenario` under `config` on a thread of its own (an actix system of its own),
/// and returns what the property needs: the replay of one seed.
///
/// ```
/// use webmessaging::prelude::*;
/// use webmessaging::simulation::{replay, SimConfig};
///
/// let scenario = |browser: &Browser| -> webmessaging::Result<()> {
///     browser.open_with("https://a.example/", |scope: &Scope| {
///         scope.set_timeout(std::time::Duration::from_secs(30), |_s: &Scope| {});
///     })?;
///     Ok(())
/// };
/// let outcome = replay(SimConfig::new(3), scenario);
/// assert!(outcome.is_complete());
/// assert_eq!(outcome.time, std::time::Duration::from_secs(30), "virtual time, exact");
/// ```
pub fn replay<S>(config: SimConfig, scenario: S) -> Outcome
where
    S: Fn(&Browser) -> crate::Result<()> + Send + 'static,
{
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move { run_once(config, &scenario).await.0 })
    })
    .join()
    .expect("the simulation thread panicked")
}

/// How [`explore`] runs.
#[derive(Debug, Clone)]
pub struct ExploreConfig {
    seeds: Range<u64>,
    threads: usize,
    faults: Faults,
    max_steps: u64,
    shrink: bool,
}

impl ExploreConfig {
    /// Explores `seeds`, on as many threads as the machine has cores, without faults, at
    /// most 100,000 steps per run, shrinking the failure found.
    pub fn new(seeds: Range<u64>) -> ExploreConfig {
        ExploreConfig {
            seeds,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            faults: Faults::none(),
            max_steps: 100_000,
            shrink: true,
        }
    }

    /// Runs on `n` threads (at least 1).
    pub fn threads(mut self, n: usize) -> ExploreConfig {
        self.threads = n.max(1);
        self
    }

    /// Injects these faults in every run.
    pub fn faults(mut self, faults: Faults) -> ExploreConfig {
        self.faults = faults;
        self
    }

    /// At most `n` tasks per run.
    pub fn max_steps(mut self, n: u64) -> ExploreConfig {
        self.max_steps = n;
        self
    }

    /// Whether the failure found is shrunk (on by default).
    pub fn shrink(mut self, on: bool) -> ExploreConfig {
        self.shrink = on;
        self
    }

    fn sim_config(&self, seed: u64) -> SimConfig {
        SimConfig::new(seed)
            .faults(self.faults.clone())
            .max_steps(self.max_steps)
    }
}

/// A run that broke the property, as small as shrinking made it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What the property said.
    pub reason: String,
    /// The configuration that replays it (seed, faults, step limit), after shrinking.
    pub config: SimConfig,
    /// For a failure of the exhaustive mode, the choices that replay it.
    pub choices: Option<Vec<u32>>,
    /// The failing run.
    pub outcome: Outcome,
    /// Faults and steps of the run first found failing, before shrinking.
    pub found_with: (u32, u64),
}

impl Failure {
    /// The call that replays this failure, as Rust source.
    pub fn replay_call(&self) -> String {
        let c = &self.config;
        let mut faults = String::from("Faults::none()");
        for kind in FaultKind::ALL {
            let p = c.fault_config().probability(kind);
            if p > 0.0 {
                faults.push_str(&format!(".with(FaultKind::{kind:?}, {p:?})"));
            }
        }
        if c.fault_config().max() != u32::MAX {
            faults.push_str(&format!(".at_most({})", c.fault_config().max()));
        }
        format!(
            "replay(SimConfig::new({}).faults({faults}).max_steps({}), scenario)",
            c.seed(),
            c.step_limit()
        )
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "property broken: {}", self.reason)?;
        match &self.choices {
            Some(ch) => writeln!(f, "choices: {ch:?}")?,
            None => writeln!(f, "seed {}", self.config.seed())?,
        }
        writeln!(
            f,
            "found with {} faults in {} steps; shrunk to {} faults in {} steps",
            self.found_with.0, self.found_with.1, self.outcome.faults, self.outcome.steps
        )?;
        writeln!(f, "replay: {}", self.replay_call())?;
        write!(f, "{}", self.outcome.trace)
    }
}

/// What [`explore`] found.
#[derive(Debug, Clone)]
pub struct ExploreReport {
    /// Runs made (seeds tried, shrinking included).
    pub runs: u64,
    /// The smallest failing seed's failure, shrunk; `None` if every seed passed.
    pub failure: Option<Failure>,
    /// Wall time spent.
    pub elapsed: Duration,
    /// Threads used.
    pub threads: usize,
}

impl ExploreReport {
    /// Runs per second of wall time.
    pub fn schedules_per_second(&self) -> f64 {
        self.runs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for ExploreReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} runs on {} threads in {:?} ({:.0} schedules/s)",
            self.runs,
            self.threads,
            self.elapsed,
            self.schedules_per_second()
        )?;
        match &self.failure {
            None => write!(f, "every run kept the property"),
            Some(x) => write!(f, "{x}"),
        }
    }
}

/// Runs `scenario` under every seed of `config` (in parallel over its threads) and checks
/// `property` on each run; stops at the smallest seed whose run breaks it, shrinks that
/// run (fewer faults, then fewer steps, while it still fails) and reports it with a replay
/// call and its trace ([`SimTrace::to_mermaid`], [`SimTrace::to_chrome_json`]).
///
/// The scenario sets the browser up (routes, windows); the simulation then runs until
/// nothing can run or the step limit. The property sees the [`Outcome`]; a property that
/// holds only of complete runs returns `Ok(())` when [`Outcome::is_complete`] is false
/// (then shrinking by steps keeps only runs that fail on their own).
pub fn explore<S, P>(config: ExploreConfig, scenario: S, property: P) -> ExploreReport
where
    S: Fn(&Browser) -> crate::Result<()> + Send + Sync + 'static,
    P: Fn(&Outcome) -> Result<(), String> + Send + Sync + 'static,
{
    let start = Instant::now();
    let scenario = Arc::new(scenario);
    let property = Arc::new(property);
    let best = Arc::new(AtomicU64::new(u64::MAX));
    let found: Arc<Mutex<Option<(Outcome, String)>>> = Arc::new(Mutex::new(None));
    let runs = Arc::new(AtomicU64::new(0));
    let threads = config.threads;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (scenario, property, best, found, runs, config) = (
                scenario.clone(),
                property.clone(),
                best.clone(),
                found.clone(),
                runs.clone(),
                config.clone(),
            );
            std::thread::spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let mut seed = config.seeds.start + t as u64;
                    while seed < config.seeds.end && seed < best.load(Ordering::Acquire) {
                        let (outcome, _) = run_once(config.sim_config(seed), &*scenario).await;
                        runs.fetch_add(1, Ordering::Relaxed);
                        if let Err(reason) = check(&*property, &outcome) {
                            if best.fetch_min(seed, Ordering::AcqRel) > seed {
                                let mut f = found.lock().unwrap_or_else(|p| p.into_inner());
                                let smaller =
                                    f.as_ref().is_none_or(|(o, _)| o.config.seed() > seed);
                                if smaller {
                                    *f = Some((outcome, reason));
                                }
                            }
                            break;
                        }
                        seed += threads as u64;
                    }
                })
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    let found = found.lock().unwrap_or_else(|p| p.into_inner()).take();
    let failure = found.map(|(outcome, reason)| {
        if config.shrink {
            shrink(outcome, reason, scenario.clone(), property.clone(), &runs)
        } else {
            let found_with = (outcome.faults, outcome.steps);
            Failure {
                reason,
                config: outcome.config.clone(),
                choices: None,
                outcome,
                found_with,
            }
        }
    });
    ExploreReport {
        runs: runs.load(Ordering::Relaxed),
        failure,
        elapsed: start.elapsed(),
        threads,
    }
}

fn check<P>(property: &P, outcome: &Outcome) -> Result<(), String>
where
    P: Fn(&Outcome) -> Result<(), String>,
{
    if let Some(e) = &outcome.setup_error {
        return Err(format!("the scenario's setup failed: {e}"));
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| property(outcome))) {
        Ok(r) => r,
        Err(p) => Err(crate::dispatch::panic_message(&p)),
    }
}

/// Retries a failing run with fewer faults, then fewer steps, keeping each change while
/// the run still fails.
fn shrink<S, P>(
    outcome: Outcome,
    reason: String,
    scenario: Arc<S>,
    property: Arc<P>,
    runs: &AtomicU64,
) -> Failure
where
    S: Fn(&Browser) -> crate::Result<()> + Send + Sync + 'static,
    P: Fn(&Outcome) -> Result<(), String> + Send + Sync + 'static,
{
    let found_with = (outcome.faults, outcome.steps);
    let candidates = {
        let c = outcome.config.clone();
        let mut v = Vec::new();
        // Fewer faults: none, one, two, ... up to one fewer than the run had.
        for n in 0..outcome.faults {
            v.push(c.clone().faults(c.fault_config().clone().at_most(n)));
        }
        v
    };
    let (best, reason, tried) = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let mut best = outcome;
            let mut reason = reason;
            let mut tried = 0u64;
            for c in candidates {
                if c.fault_config().max() >= best.faults {
                    continue;
                }
                tried += 1;
                let (o, _) = run_once(c, &*scenario).await;
                if let Err(r) = check(&*property, &o) {
                    best = o;
                    reason = r;
                    break;
                }
            }
            // Then each fault kind left out, one at a time.
            for kind in FaultKind::ALL {
                if best.config.fault_config().probability(kind) == 0.0 || best.faults == 0 {
                    continue;
                }
                let c = best.config.clone();
                let c = c.clone().faults(c.fault_config().clone().with(kind, 0.0));
                tried += 1;
                let (o, _) = run_once(c, &*scenario).await;
                if let Err(r) = check(&*property, &o) {
                    best = o;
                    reason = r;
                }
            }
            // Fewer steps: the smallest step limit under which the run still fails.
            let (mut lo, mut hi) = (0u64, best.steps);
            while lo + 1 < hi {
                let mid = lo + (hi - lo) / 2;
                let c = best.config.clone().max_steps(mid);
                tried += 1;
                let (o, _) = run_once(c, &*scenario).await;
                match check(&*property, &o) {
                    Err(r) => {
                        hi = mid;
                        best = o;
                        reason = r;
                    }
                    Ok(()) => lo = mid,
                }
            }
            (best, reason, tried)
        })
    })
    .join()
    .expect("the shrinking thread panicked");
    runs.fetch_add(tried, Ordering::Relaxed);
    Failure {
        reason,
        config: best.config.clone(),
        choices: None,
        outcome: best,
        found_with,
    }
}

/// What [`exhaustive`] found.
#[derive(Debug, Clone)]
pub struct ExhaustiveReport {
    /// Runs made (one per distinct order of the first choices).
    pub runs: u64,
    /// Whether every order up to the depth was tried (false if `max_runs` stopped it).
    pub complete: bool,
    /// The first failing order, if any.
    pub failure: Option<Failure>,
}

/// Tries every order of the first `depth` scheduling choices of `scenario` (choices past
/// the depth take the first candidate), up to `max_runs` runs, and checks `property` on
/// each; stops at the first failing order (its choices replay it). No faults: this mode
/// explores orders.
pub fn exhaustive<S, P>(depth: usize, max_runs: u64, scenario: S, property: P) -> ExhaustiveReport
where
    S: Fn(&Browser) -> crate::Result<()> + Send + 'static,
    P: Fn(&Outcome) -> Result<(), String> + Send + 'static,
{
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let mut script: Vec<u32> = Vec::new();
            let mut runs = 0u64;
            loop {
                if runs >= max_runs {
                    return ExhaustiveReport {
                        runs,
                        complete: false,
                        failure: None,
                    };
                }
                let config = SimConfig::new(0).scripted(script.clone());
                let (outcome, made) = run_once(config, &scenario).await;
                runs += 1;
                if let Err(reason) = check(&property, &outcome) {
                    let choices: Vec<u32> = made.iter().map(|(c, _)| *c).collect();
                    let found_with = (0, outcome.steps);
                    return ExhaustiveReport {
                        runs,
                        complete: false,
                        failure: Some(Failure {
                            reason,
                            config: outcome.config.clone(),
                            choices: Some(choices),
                            outcome,
                            found_with,
                        }),
                    };
                }
                // The next order: the last choice within the depth that has an untried
                // option, taken one further; everything after it from the first option.
                let within = made.len().min(depth);
                let Some(i) = (0..within).rev().find(|&i| made[i].0 + 1 < made[i].1) else {
                    return ExhaustiveReport {
                        runs,
                        complete: true,
                        failure: None,
                    };
                };
                script = made[..i].iter().map(|(c, _)| *c).collect();
                script.push(made[i].0 + 1);
            }
        })
    })
    .join()
    .expect("the exhaustive thread panicked")
}

/// Replays one order found by [`exhaustive`] (its [`Failure::choices`]).
pub fn replay_choices<S>(choices: Vec<u32>, scenario: S) -> Outcome
where
    S: Fn(&Browser) -> crate::Result<()> + Send + 'static,
{
    replay(SimConfig::new(0).scripted(choices), scenario)
}
