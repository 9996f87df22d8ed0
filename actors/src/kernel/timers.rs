//! The timers of one event loop: `setTimeout` and `setInterval` as a plain state machine.
//!
//! Spec: <https://html.spec.whatwg.org/multipage/timers-and-user-prompts.html#timers>.
//! The map of active timers belongs to each global; here one table serves the whole event
//! loop, keyed by the owning realm, so that a document's timers can be cleared when it
//! goes away. When a timer is due, its task is queued on the timer task source; the
//! callback itself lives with the realm, not here.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

/// A timer's handle (the number `setTimeout` returns). Never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub u32);

/// What a due timer asks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueTimer {
    /// The timer.
    pub id: TimerId,
    /// The realm (document or worker global) that owns it.
    pub realm: u64,
    /// The timer nesting level of its task: timers set while it runs are nested one
    /// level deeper (see [`Timers::set_nested`]).
    pub level: u32,
}

/// Past this timer nesting level, timeouts under [`MIN_NESTED_TIMEOUT`] are raised to it.
pub const NESTING_CLAMP_LEVEL: u32 = 5;

/// The smallest timeout of a deeply nested timer (4 ms, as the standard says).
pub const MIN_NESTED_TIMEOUT: Duration = Duration::from_millis(4);

/// Timer initialisation step 5: "If nesting level is greater than 5, and timeout is less
/// than 4, then set timeout to 4."
fn clamp(timeout: Duration, nesting: u32) -> Duration {
    if nesting > NESTING_CLAMP_LEVEL && timeout < MIN_NESTED_TIMEOUT {
        MIN_NESTED_TIMEOUT
    } else {
        timeout
    }
}

#[derive(Debug)]
struct Entry {
    realm: u64,
    /// The timer nesting level of its task.
    level: u32,
    /// `Some` for `setInterval`.
    repeat: Option<Duration>,
    /// The deadline of the heap entry that is current for this timer.
    due: Duration,
}

/// The active timers of one event loop.
///
/// ```
/// use std::time::Duration;
/// use webmessaging::kernel::Timers;
///
/// let ms = Duration::from_millis;
/// let mut timers = Timers::new();
/// let slow = timers.set(1, ms(20), false, Duration::ZERO);
/// let fast = timers.set(1, ms(5), false, Duration::ZERO);
/// let due: Vec<_> = timers.take_due(ms(20)).into_iter().map(|d| d.id).collect();
/// assert_eq!(due, [fast, slow]);
/// assert!(timers.clear(1, slow), "cleared after it was due: its task will not run");
/// assert!(!timers.fired(1, slow));
/// ```
#[derive(Debug, Default)]
pub struct Timers {
    active: HashMap<TimerId, Entry>,
    /// (deadline, order of arming, id): ties run in the order they were set.
    heap: BinaryHeap<Reverse<(Duration, u64, TimerId)>>,
    next_id: u32,
    armed: u64,
}

impl Timers {
    /// No timers.
    pub fn new() -> Timers {
        Timers::default()
    }

    /// The timer initialisation steps: a timer of `realm` due `timeout` after `now`
    /// (negative timeouts do not exist here; 0 is "as soon as possible"), repeating every
    /// `timeout` if `repeat`.
    pub fn set(&mut self, realm: u64, timeout: Duration, repeat: bool, now: Duration) -> TimerId {
        self.set_nested(realm, timeout, repeat, now, 0)
    }

    /// [`set`](Self::set) from inside a task with timer nesting level `nesting` (the
    /// level of the timer task running now, 0 outside timer tasks): past level 5 a
    /// timeout under 4 ms becomes 4 ms, and the new timer's task is one level deeper. An
    /// interval goes one level deeper with every repetition.
    pub fn set_nested(
        &mut self,
        realm: u64,
        timeout: Duration,
        repeat: bool,
        now: Duration,
        nesting: u32,
    ) -> TimerId {
        // Step 5: the clamp of deeply nested timers.
        let timeout = clamp(timeout, nesting);
        // Step: "If previousId was given ... otherwise, let id be an implementation-defined
        // integer that is greater than zero".
        self.next_id = self.next_id.wrapping_add(1).max(1);
        while self.active.contains_key(&TimerId(self.next_id)) {
            self.next_id = self.next_id.wrapping_add(1).max(1);
        }
        let id = TimerId(self.next_id);
        let due = now + timeout;
        self.active.insert(
            id,
            Entry {
                realm,
                // Step 6: the task's timer nesting level.
                level: nesting.saturating_add(1),
                repeat: repeat.then_some(timeout),
                due,
            },
        );
        self.arm(id, due);
        id
    }

    fn arm(&mut self, id: TimerId, due: Duration) {
        self.armed += 1;
        self.heap.push(Reverse((due, self.armed, id)));
    }

    /// `clearTimeout(id)` / `clearInterval(id)` by `realm`: removes the timer if that realm
    /// owns it. Returns whether it did.
    pub fn clear(&mut self, realm: u64, id: TimerId) -> bool {
        match self.active.get(&id) {
            Some(e) if e.realm == realm => {
                self.active.remove(&id);
                true
            }
            _ => false,
        }
    }

    /// Clears every timer of `realm` (its document went away, or the worker closed).
    pub fn clear_realm(&mut self, realm: u64) -> usize {
        let before = self.active.len();
        self.active.retain(|_, e| e.realm != realm);
        before - self.active.len()
    }

    /// Whether `id` is active and owned by `realm`.
    pub fn is_active(&self, realm: u64, id: TimerId) -> bool {
        self.active.get(&id).is_some_and(|e| e.realm == realm)
    }

    /// The earliest deadline of an active timer.
    pub fn next_deadline(&mut self) -> Option<Duration> {
        self.prune();
        self.heap.peek().map(|Reverse((d, _, _))| *d)
    }

    fn prune(&mut self) {
        while let Some(Reverse((due, _, id))) = self.heap.peek() {
            match self.active.get(id) {
                Some(e) if e.due == *due => return,
                _ => {
                    self.heap.pop();
                }
            }
        }
    }

    /// Takes the timers due at `now`, in deadline order (ties in the order they were set).
    /// An interval is re-armed at `now + interval`; a timeout stays active until
    /// [`fired`](Self::fired) (its task may still be cleared before it runs).
    pub fn take_due(&mut self, now: Duration) -> Vec<DueTimer> {
        let mut out = Vec::new();
        loop {
            self.prune();
            let Some(Reverse((due, _, id))) = self.heap.peek().copied() else {
                break;
            };
            if due > now {
                break;
            }
            self.heap.pop();
            let Some(e) = self.active.get_mut(&id) else {
                continue;
            };
            out.push(DueTimer {
                id,
                realm: e.realm,
                level: e.level,
            });
            match e.repeat {
                Some(every) => {
                    // The repetition is set again from inside this task: one level
                    // deeper, clamped like any nested timer.
                    let every = clamp(every, e.level);
                    e.level = e.level.saturating_add(1);
                    let next = now + every.max(Duration::from_millis(1));
                    e.due = next;
                    self.arm(id, next);
                }
                // Not re-armed: `due` no longer matches a heap entry.
                None => e.due = Duration::MAX,
            }
        }
        out
    }

    /// The task of a due timer is about to run: a timeout is removed from the map of
    /// active timers (an interval stays). Returns false if the timer was cleared after it
    /// became due, in which case its callback must not run.
    pub fn fired(&mut self, realm: u64, id: TimerId) -> bool {
        match self.active.get(&id) {
            Some(e) if e.realm == realm => {
                if e.repeat.is_none() {
                    self.active.remove(&id);
                }
                true
            }
            _ => false,
        }
    }

    /// How many timers are active.
    pub fn len(&self) -> usize {
        self.active.len()
    }

    /// Whether no timer is active.
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn deeply_nested_timeouts_are_clamped_to_4_ms() {
        let mut t = Timers::new();
        // A chain of 0 ms timeouts, each set from the previous one's task.
        let mut nesting = 0;
        let mut now = Duration::ZERO;
        let mut delays = Vec::new();
        for _ in 0..8 {
            t.set_nested(1, Duration::ZERO, false, now, nesting);
            let deadline = t.next_deadline().unwrap();
            delays.push((deadline - now).as_millis());
            now = deadline;
            let due = t.take_due(now);
            assert_eq!(due.len(), 1);
            assert!(t.fired(1, due[0].id));
            nesting = due[0].level;
        }
        // Levels 1..=5 run at once; from the sixth nesting on, 4 ms.
        assert_eq!(delays, [0, 0, 0, 0, 0, 0, 4, 4]);
    }

    #[test]
    fn an_interval_is_clamped_after_five_repetitions() {
        let mut t = Timers::new();
        let i = t.set(1, MS, true, Duration::ZERO);
        let mut now = Duration::ZERO;
        let mut gaps = Vec::new();
        for _ in 0..8 {
            let deadline = t.next_deadline().unwrap();
            gaps.push((deadline - now).as_millis());
            now = deadline;
            assert_eq!(t.take_due(now)[0].id, i);
        }
        assert_eq!(gaps, [1, 1, 1, 1, 1, 1, 4, 4]);
    }

    #[test]
    fn due_in_deadline_order_ties_in_set_order() {
        let mut t = Timers::new();
        let a = t.set(1, 10 * MS, false, Duration::ZERO);
        let b = t.set(1, 5 * MS, false, Duration::ZERO);
        let c = t.set(2, 10 * MS, false, Duration::ZERO);
        assert!(t.take_due(4 * MS).is_empty());
        assert_eq!(t.next_deadline(), Some(5 * MS));
        let due: Vec<TimerId> = t.take_due(10 * MS).iter().map(|d| d.id).collect();
        assert_eq!(due, [b, a, c]);
        assert!(t.fired(1, b) && t.fired(1, a) && t.fired(2, c));
        assert!(t.is_empty());
    }

    #[test]
    fn cleared_timers_never_fire() {
        let mut t = Timers::new();
        let a = t.set(1, MS, false, Duration::ZERO);
        assert!(!t.clear(2, a), "another realm cannot clear it");
        assert!(t.clear(1, a));
        assert!(t.take_due(5 * MS).is_empty());
        // Cleared after becoming due, before its task ran.
        let b = t.set(1, MS, false, Duration::ZERO);
        assert_eq!(t.take_due(5 * MS).len(), 1);
        t.clear(1, b);
        assert!(!t.fired(1, b));
    }

    #[test]
    fn intervals_rearm_until_cleared() {
        let mut t = Timers::new();
        let i = t.set(7, 10 * MS, true, Duration::ZERO);
        assert_eq!(t.take_due(10 * MS).len(), 1);
        assert!(t.fired(7, i));
        assert_eq!(t.next_deadline(), Some(20 * MS));
        assert_eq!(t.take_due(20 * MS).len(), 1);
        assert_eq!(t.clear_realm(7), 1);
        assert!(t.take_due(100 * MS).is_empty());
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn ids_are_positive_and_distinct() {
        let mut t = Timers::new();
        let a = t.set(1, MS, false, Duration::ZERO);
        let b = t.set(1, MS, false, Duration::ZERO);
        assert!(a.0 > 0 && b.0 > 0 && a != b);
    }
}
