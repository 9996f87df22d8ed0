//! The clock an event loop reads: one trait, so that a virtual clock can replace the real
//! one without the timers knowing.

use std::time::{Duration, Instant};

/// A monotonic clock, read as the time since an origin of its own.
pub trait Clock: Send {
    /// Now, as the time since the clock's origin.
    fn now(&self) -> Duration;
}

/// The real, monotonic clock (`Instant`), counted from its creation.
///
/// ```
/// use webmessaging::kernel::{Clock, RealClock};
///
/// let clock = RealClock::new();
/// let a = clock.now();
/// assert!(clock.now() >= a, "monotonic");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RealClock {
    origin: Instant,
}

impl RealClock {
    /// A clock whose origin is now.
    pub fn new() -> RealClock {
        RealClock {
            origin: Instant::now(),
        }
    }

    /// The `Instant` a reading of this clock stands for.
    pub fn instant_of(&self, t: Duration) -> Instant {
        self.origin + t
    }
}

impl Default for RealClock {
    fn default() -> Self {
        RealClock::new()
    }
}

impl Clock for RealClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}
