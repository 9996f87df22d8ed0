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

/// A virtual clock for the simulated mode: time stands still until the simulation moves
/// it, forward only (to the next due timer when nothing else can run, so a scenario that
/// waits 30 simulated seconds takes microseconds). Clones share one time.
///
/// ```
/// use std::time::Duration;
/// use webmessaging::kernel::{Clock, VirtualClock};
///
/// let clock = VirtualClock::new();
/// let reader = clock.clone();
/// assert_eq!(reader.now(), Duration::ZERO);
/// clock.advance_to(Duration::from_secs(30));
/// assert_eq!(reader.now(), Duration::from_secs(30));
/// clock.advance_to(Duration::from_secs(1)); // never backwards
/// assert_eq!(reader.now(), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Default)]
pub struct VirtualClock {
    nanos: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl VirtualClock {
    /// A clock at time zero.
    pub fn new() -> VirtualClock {
        VirtualClock::default()
    }

    /// Moves the clock to `t`, if that is later than now.
    pub fn advance_to(&self, t: Duration) {
        let n = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_max(n, std::sync::atomic::Ordering::AcqRel);
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.advance_to(self.now().saturating_add(by));
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(std::sync::atomic::Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_time_moves_only_forward_and_is_shared() {
        let c = VirtualClock::new();
        let d = c.clone();
        c.advance(Duration::from_millis(5));
        d.advance(Duration::from_millis(5));
        assert_eq!(c.now(), Duration::from_millis(10));
        c.advance_to(Duration::from_millis(3));
        assert_eq!(d.now(), Duration::from_millis(10));
        c.advance(Duration::MAX);
        assert_eq!(c.now(), Duration::from_nanos(u64::MAX), "saturates");
    }
}
