//! Task sources and the scheduler that picks among them.
//!
//! Spec: <https://html.spec.whatwg.org/multipage/webappapis.html#task-source> and the
//! event loop processing model,
//! <https://html.spec.whatwg.org/multipage/webappapis.html#event-loop-processing-model>:
//! "Let taskQueue be one such task queue, chosen in an implementation-defined manner."
//! That choice is the [`Scheduler`] here: one small trait, so that the threaded runtime's
//! fair policy ([`OldestFirst`]) and a seeded policy can stand in for each other.

use std::fmt;

/// The task sources of one event loop.
///
/// Each is a FIFO queue; the standard fixes the order of tasks within one source and
/// leaves the choice between sources to the user agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskSource {
    /// The posted message task source: `window.postMessage` and worker messages.
    PostedMessage,
    /// The unshipped port message queue: the tasks of every never-shipped, enabled port
    /// of this event loop, in the order they were added.
    UnshippedPorts,
    /// The port message queues of shipped ports, each a first-class task source, served
    /// round-robin within this group.
    ShippedPorts,
    /// The DOM manipulation task source: `BroadcastChannel` deliveries.
    DomManipulation,
    /// The timer task source: `setTimeout` and `setInterval` callbacks that are due.
    Timers,
    /// The navigation and traversal task source, and document lifecycle: creating a
    /// document, `pagehide`, `unload`, `load`.
    Navigation,
    /// Tasks the runtime itself queues: closures run from outside the runtime
    /// (`WindowHandle::run`), supervision and teardown.
    Runtime,
}

impl TaskSource {
    /// Every source, in a fixed order (the order [`Candidate`] lists are built in).
    pub const ALL: [TaskSource; 7] = [
        TaskSource::PostedMessage,
        TaskSource::UnshippedPorts,
        TaskSource::ShippedPorts,
        TaskSource::DomManipulation,
        TaskSource::Timers,
        TaskSource::Navigation,
        TaskSource::Runtime,
    ];

    /// The source's index in [`TaskSource::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The name used in logs and traces.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskSource::PostedMessage => "posted message",
            TaskSource::UnshippedPorts => "unshipped port message queue",
            TaskSource::ShippedPorts => "port message queue",
            TaskSource::DomManipulation => "DOM manipulation",
            TaskSource::Timers => "timer",
            TaskSource::Navigation => "navigation",
            TaskSource::Runtime => "runtime",
        }
    }
}

impl fmt::Display for TaskSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-empty task source offered to the scheduler: the source and the sequence number of
/// its oldest task (sequence numbers count up per event loop as tasks are queued).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The source.
    pub source: TaskSource,
    /// When its front task was queued, in this event loop's sequence.
    pub seq: u64,
}

/// The policy that picks the task queue an event loop takes its next task from.
///
/// It is asked only when two or more sources have tasks; `candidates` lists them in the
/// order of [`TaskSource::ALL`], and the answer is an index into it (an index out of
/// range is taken as 0). The runtime keeps FIFO order within each source whatever the
/// policy answers, so no policy can break what the standard fixes.
pub trait Scheduler: Send {
    /// Picks one of `candidates` (at least two).
    fn pick(&mut self, candidates: &[Candidate]) -> usize;
}

/// The threaded runtime's fair policy: the oldest task first, across every source.
///
/// A realm that posts to itself in a loop, or a ping-pong on a port, queues each new task
/// behind every task that was already waiting, so no other realm of the event loop, and
/// no other source (a due timer, a window message, a closure run from outside), waits
/// for more than the tasks queued before it.
///
/// ```
/// use webmessaging::kernel::{Candidate, OldestFirst, Scheduler, TaskSource};
///
/// let waiting = [
///     Candidate { source: TaskSource::PostedMessage, seq: 7 },
///     Candidate { source: TaskSource::Timers, seq: 3 },
/// ];
/// assert_eq!(OldestFirst.pick(&waiting), 1, "the timer's task was queued first");
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct OldestFirst;

impl Scheduler for OldestFirst {
    fn pick(&mut self, candidates: &[Candidate]) -> usize {
        let mut best = 0;
        for (i, c) in candidates.iter().enumerate().skip(1) {
            if c.seq < candidates[best].seq {
                best = i;
            }
        }
        best
    }
}

/// A seeded policy for the simulated mode: among the sources that have tasks, a choice
/// drawn from a pseudo-random stream (xorshift) fixed by the seed. The same seed and the
/// same program give the same choices, on any machine; FIFO order within each source
/// holds whatever it picks, as the standard requires and nothing more.
///
/// ```
/// use webmessaging::kernel::{Candidate, Scheduler, Seeded, TaskSource};
///
/// let waiting = [
///     Candidate { source: TaskSource::PostedMessage, seq: 7 },
///     Candidate { source: TaskSource::Timers, seq: 3 },
/// ];
/// let picks = |seed| {
///     let mut s = Seeded::new(seed);
///     (0..16).map(|_| s.pick(&waiting)).collect::<Vec<_>>()
/// };
/// assert_eq!(picks(42), picks(42), "replayable");
/// assert_ne!(picks(42), picks(43), "another seed, another order");
/// ```
#[derive(Debug, Clone)]
pub struct Seeded {
    seed: u64,
    rng: rand_xorshift::XorShiftRng,
    picks: u64,
}

impl Seeded {
    /// The policy for `seed`.
    pub fn new(seed: u64) -> Seeded {
        use rand_core::SeedableRng;
        Seeded {
            seed,
            rng: rand_xorshift::XorShiftRng::seed_from_u64(seed),
            picks: 0,
        }
    }

    /// The seed it was made with (what a replay needs).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many choices it has made.
    pub fn picks(&self) -> u64 {
        self.picks
    }
}

impl Scheduler for Seeded {
    fn pick(&mut self, candidates: &[Candidate]) -> usize {
        use rand_core::Rng;
        self.picks += 1;
        // Multiply-shift instead of `%`: unbiased enough for a handful of sources.
        ((u64::from(self.rng.next_u32()) * candidates.len() as u64) >> 32) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_first_picks_the_smallest_sequence() {
        let c = [
            Candidate {
                source: TaskSource::PostedMessage,
                seq: 9,
            },
            Candidate {
                source: TaskSource::Timers,
                seq: 3,
            },
            Candidate {
                source: TaskSource::Runtime,
                seq: 5,
            },
        ];
        assert_eq!(OldestFirst.pick(&c), 1);
    }

    #[test]
    fn seeded_picks_every_source_and_replays() {
        let c = [
            Candidate {
                source: TaskSource::PostedMessage,
                seq: 1,
            },
            Candidate {
                source: TaskSource::Timers,
                seq: 2,
            },
            Candidate {
                source: TaskSource::Runtime,
                seq: 3,
            },
        ];
        let run = |seed| {
            let mut s = Seeded::new(seed);
            (0..300).map(|_| s.pick(&c)).collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        for i in 0..3 {
            let n = a.iter().filter(|&&p| p == i).count();
            assert!(n > 50, "source {i} picked {n} times of 300");
        }
        assert!(a.iter().all(|&p| p < 3));
        let mut s = Seeded::new(7);
        s.pick(&c);
        assert_eq!((s.seed(), s.picks()), (7, 1));
    }

    #[test]
    fn indices_follow_all() {
        for (i, s) in TaskSource::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
    }
}
