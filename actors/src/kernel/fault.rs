//! Faults the simulated mode can inject, as choices of its scheduler: what kinds there
//! are, how likely each is per step, and the record of one that was injected.
//!
//! A fault is never a random event outside the schedule: at each step the simulation
//! draws, from the same seeded stream that picks the tasks, whether a fault happens and
//! which realm it hits. So a run with faults replays exactly from its seed, like one
//! without.

use std::fmt;
use std::time::Duration;

/// The kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// The realm crashes, as a panic in its script would: its document (or worker
    /// global) is torn down and its supervisor applies its restart policy.
    Crash,
    /// A dedicated worker is terminated (as `worker.terminate()` does: its queued tasks
    /// are discarded and its event loop ends).
    Terminate,
    /// An iframe navigates (reloads its URL): its document is replaced by a new one.
    Navigate,
    /// One of the realm's entangled ports is closed (as `port.close()` does).
    ClosePort,
    /// An event loop is held back: none of its tasks run for a few steps while the
    /// others go on (a slow thread).
    Delay,
}

impl FaultKind {
    /// Every kind, in a fixed order.
    pub const ALL: [FaultKind; 5] = [
        FaultKind::Crash,
        FaultKind::Terminate,
        FaultKind::Navigate,
        FaultKind::ClosePort,
        FaultKind::Delay,
    ];

    /// The kind's name in traces (`crash`, `terminate`, `navigate`, `close-port`, `delay`).
    pub const fn as_str(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Terminate => "terminate",
            FaultKind::Navigate => "navigate",
            FaultKind::ClosePort => "close-port",
            FaultKind::Delay => "delay",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which faults a simulation injects: a probability per step for each kind, and a cap on
/// how many in one run. The default injects none.
///
/// ```
/// use webmessaging::kernel::{FaultKind, Faults};
///
/// let faults = Faults::none().with(FaultKind::Crash, 0.01).with(FaultKind::Delay, 0.05).at_most(3);
/// assert_eq!(faults.probability(FaultKind::Crash), 0.01);
/// assert_eq!(faults.probability(FaultKind::Navigate), 0.0);
/// assert!(faults.any());
/// assert!(!Faults::none().any());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    probabilities: [f64; 5],
    max: u32,
}

impl Default for Faults {
    fn default() -> Self {
        Faults::none()
    }
}

impl Faults {
    /// No faults.
    pub const fn none() -> Faults {
        Faults {
            probabilities: [0.0; 5],
            max: u32::MAX,
        }
    }

    /// Injects `kind` with probability `p` (clamped to 0..=1) at each step.
    pub fn with(mut self, kind: FaultKind, p: f64) -> Faults {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        self.probabilities[kind as usize] = p;
        self
    }

    /// At most `n` faults in one run (unlimited by default).
    pub fn at_most(mut self, n: u32) -> Faults {
        self.max = n;
        self
    }

    /// The probability per step of `kind`.
    pub fn probability(&self, kind: FaultKind) -> f64 {
        self.probabilities[kind as usize]
    }

    /// The cap on faults per run.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// Whether any kind has a non-zero probability (and the cap is not zero).
    pub fn any(&self) -> bool {
        self.max > 0 && self.probabilities.iter().any(|p| *p > 0.0)
    }
}

/// One fault a simulation injected: when, what, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The step it was injected before (the count of tasks run so far).
    pub step: u64,
    /// The virtual time then.
    pub at: Duration,
    /// What kind.
    pub kind: FaultKind,
    /// The realm (or, for [`FaultKind::Delay`], a realm of the event loop) it hit, by
    /// name; what happened to it, in words (`"port3.1 closed"`, `"held for 4 steps"`).
    pub target: String,
    /// What was done, in words.
    pub detail: String,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fault {} at step {} ({:?}): {} ({})",
            self.kind, self.step, self.at, self.target, self.detail
        )
    }
}
