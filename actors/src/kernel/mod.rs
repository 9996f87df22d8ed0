//! The event-loop kernel: what every event loop of the runtime is made of, without actors.
//!
//! | standard ([event loops](https://html.spec.whatwg.org/multipage/webappapis.html#event-loops)) | here |
//! | --- | --- |
//! | task source | [`TaskSource`] |
//! | task queue, one per source | [`TaskQueues`] (a FIFO per source, a sequence number per task) |
//! | "choose a task queue in an implementation-defined manner" | a [`Scheduler`]: [`OldestFirst`] in the threaded runtime, [`Seeded`] for a simulation |
//! | the event loop's current high resolution time | a [`Clock`]: [`RealClock`], or a [`VirtualClock`] for a simulation |
//! | map of active timers, timer initialisation steps | [`Timers`] |
//! | (simulation, not in the standard) faults injected as scheduler choices | [`Faults`], [`FaultKind`], [`Fault`] |
//! | (supervision, not in the standard) a realm's lifecycle | [`lifecycle`]: [`RestartPolicy`], [`LifecycleEvent`], ... |
//!
//! The actor that runs an event loop ([`crate::event_loop`]) owns one of each and applies
//! them; the pieces here are plain data structures with unit tests of their own.

pub mod clock;
pub mod fault;
pub mod lifecycle;
pub mod metrics;
pub mod queues;
pub mod source;
pub mod timers;
pub mod trace;

pub use clock::{Clock, RealClock, VirtualClock};
pub use fault::{Fault, FaultKind, Faults};
pub use lifecycle::{Intensity, LifecycleEvent, RestartPolicy, Strategy, SupervisorSpec};
pub use metrics::{Metrics, MetricsSnapshot};
pub use queues::TaskQueues;
pub use source::{Candidate, OldestFirst, Scheduler, Seeded, TaskSource};
pub use timers::{DueTimer, TimerId, Timers};
