//! Lifecycle data: what a supervisor may do with a crashed realm, and the events a
//! realm's life produces (crashes, restarts, stops, escalations).
//!
//! Plain data, shared by the supervision decision (the `supervisor` module), the realms that
//! carry it out ([`crate::supervision`]) and the trace hooks ([`crate::kernel::trace`]).

use std::time::Duration;

/// What a supervisor does when this realm crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    /// Load a new document at the same URL (or restart the worker's script).
    #[default]
    Reload,
    /// Close the realm, like a crashed tab (a worker is terminated).
    Stop,
    /// Crash the supervisor.
    Escalate,
}

/// How a supervisor's other children are affected when one of them is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Restart only the child that crashed.
    #[default]
    OneForOne,
    /// Restart every child.
    OneForAll,
    /// Restart the child that crashed and every child created after it.
    RestForOne,
}

/// Restart intensity: at most `max_restarts` restarts within `within`; one more and the
/// supervisor gives up (the child is stopped and the supervisor crashes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    /// Restarts allowed in the window.
    pub max_restarts: u32,
    /// The sliding time window.
    pub within: Duration,
}

impl Default for Intensity {
    fn default() -> Self {
        Intensity {
            max_restarts: 3,
            within: Duration::from_secs(5),
        }
    }
}

/// How a realm supervises its children (iframes and workers it created).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SupervisorSpec {
    /// The strategy.
    pub strategy: Strategy,
    /// The restart intensity.
    pub intensity: Intensity,
}

/// A lifecycle event of a supervised realm, observable from outside
/// ([`Browser::lifecycle_events`](crate::Browser::lifecycle_events)) and by the
/// supervising realm ([`Scope::on_child_lifecycle`](crate::Scope::on_child_lifecycle)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleEvent {
    /// The realm crashed; `message` is the panic message.
    Crashed {
        /// The realm's name (its browsing context's or worker's).
        realm: String,
        /// The panic message.
        message: String,
    },
    /// The realm was restarted; `count` counts its restarts so far.
    Restarted {
        /// The realm's name.
        realm: String,
        /// Restarts of this realm so far, this one included.
        count: u32,
    },
    /// The realm was stopped (policy `Stop`, or given up on).
    Stopped {
        /// The realm's name.
        realm: String,
    },
    /// The crash was escalated to the supervisor `to`.
    Escalated {
        /// The realm's name.
        realm: String,
        /// The supervisor's name (`"root"` for a top-level window).
        to: String,
    },
    /// A sender flooded the realm: a limit (`Limits`) started refusing its messages.
    /// Recorded once per (document, sender origin, limit), when
    /// `Limits::report_floods` is set.
    Flooded {
        /// The name of the realm the messages were for.
        realm: String,
        /// The sender's serialized origin.
        origin: String,
        /// Which limit refused them (the drop reason).
        reason: String,
    },
}

impl LifecycleEvent {
    /// The name of the realm the event is about.
    pub fn realm(&self) -> &str {
        match self {
            LifecycleEvent::Crashed { realm, .. }
            | LifecycleEvent::Restarted { realm, .. }
            | LifecycleEvent::Stopped { realm }
            | LifecycleEvent::Escalated { realm, .. }
            | LifecycleEvent::Flooded { realm, .. } => realm,
        }
    }
}
