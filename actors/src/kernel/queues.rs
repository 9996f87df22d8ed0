//! The task queues of one event loop: one FIFO per [`TaskSource`], a sequence number per
//! task, and the pick of the next task through a [`Scheduler`].
//!
//! Spec: <https://html.spec.whatwg.org/multipage/webappapis.html#task-queue>. A plain
//! data structure, generic over the task type: no actors here, so it is driven by unit
//! tests and can be driven by a simulator.

use std::collections::VecDeque;

use super::source::{Candidate, Scheduler, TaskSource};

const SOURCES: usize = TaskSource::ALL.len();

/// The task queues of one event loop.
///
/// ```
/// use webmessaging::kernel::{OldestFirst, TaskQueues, TaskSource};
///
/// let mut q = TaskQueues::new();
/// q.push(TaskSource::PostedMessage, "message");
/// q.push(TaskSource::Timers, "timer");
/// q.push(TaskSource::PostedMessage, "later message");
/// let order: Vec<_> = std::iter::from_fn(|| q.pop(&mut OldestFirst).map(|(_, _, t)| t)).collect();
/// assert_eq!(order, ["message", "timer", "later message"]);
/// ```
pub struct TaskQueues<T> {
    queues: [VecDeque<(u64, T)>; SOURCES],
    /// Bit `i` is set when `queues[i]` is not empty.
    non_empty: u8,
    next_seq: u64,
    candidates: Vec<Candidate>,
}

impl<T> Default for TaskQueues<T> {
    fn default() -> Self {
        TaskQueues {
            queues: Default::default(),
            non_empty: 0,
            next_seq: 1,
            candidates: Vec::with_capacity(SOURCES),
        }
    }
}

impl<T> TaskQueues<T> {
    /// Empty queues.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next sequence number (for a task that waits elsewhere first, such as a
    /// message in a disabled port message queue, and joins a source later in its order).
    pub fn next_seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    /// Queues `task` at the end of `source`; returns its sequence number.
    pub fn push(&mut self, source: TaskSource, task: T) -> u64 {
        let seq = self.next_seq();
        self.queues[source.index()].push_back((seq, task));
        self.non_empty |= 1 << source.index();
        seq
    }

    /// Queues `task` in `source` at the place its (earlier taken) `seq` gives it, so that
    /// the source stays in sequence order.
    pub fn insert(&mut self, source: TaskSource, seq: u64, task: T) {
        let q = &mut self.queues[source.index()];
        let at = match q.back() {
            Some((last, _)) if *last > seq => q.partition_point(|(s, _)| *s < seq),
            _ => q.len(),
        };
        q.insert(at, (seq, task));
        self.non_empty |= 1 << source.index();
    }

    /// Removes the tasks of `source` for which `keep` is false, in order, and returns them.
    pub fn extract(&mut self, source: TaskSource, mut keep: impl FnMut(&T) -> bool) -> Vec<T> {
        let q = &mut self.queues[source.index()];
        let mut out = Vec::new();
        if q.iter().all(|(_, t)| keep(t)) {
            return out;
        }
        let old = std::mem::take(q);
        for (seq, t) in old {
            if keep(&t) {
                q.push_back((seq, t));
            } else {
                out.push(t);
            }
        }
        if q.is_empty() {
            self.non_empty &= !(1 << source.index());
        }
        out
    }

    /// Takes the next task: from the only non-empty source, or from the one `scheduler`
    /// picks when several have tasks.
    pub fn pop(&mut self, scheduler: &mut dyn Scheduler) -> Option<(TaskSource, u64, T)> {
        let index = match self.non_empty.count_ones() {
            0 => return None,
            1 => self.non_empty.trailing_zeros() as usize,
            _ => {
                self.candidates.clear();
                for s in TaskSource::ALL {
                    if let Some((seq, _)) = self.queues[s.index()].front() {
                        self.candidates.push(Candidate {
                            source: s,
                            seq: *seq,
                        });
                    }
                }
                let i = scheduler.pick(&self.candidates);
                self.candidates
                    .get(i)
                    .unwrap_or(&self.candidates[0])
                    .source
                    .index()
            }
        };
        let q = &mut self.queues[index];
        let (seq, task) = q.pop_front()?;
        if q.is_empty() {
            self.non_empty &= !(1 << index);
        }
        Some((TaskSource::ALL[index], seq, task))
    }

    /// Takes the front task of `source` if `source` is the only one with tasks (so that
    /// any scheduler would take it next) and `pred` accepts it: lets a runner go on with
    /// the next task of the same kind without a round through the scheduler.
    pub fn pop_if_alone(&mut self, source: TaskSource, pred: impl FnOnce(&T) -> bool) -> Option<T> {
        if self.non_empty != 1 << source.index() {
            return None;
        }
        let q = &mut self.queues[source.index()];
        if !pred(&q.front()?.1) {
            return None;
        }
        let (_, t) = q.pop_front()?;
        if q.is_empty() {
            self.non_empty = 0;
        }
        Some(t)
    }

    /// How many tasks wait in `source`.
    pub fn len_of(&self, source: TaskSource) -> usize {
        self.queues[source.index()].len()
    }

    /// How many tasks wait in all sources.
    pub fn len(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }

    /// Whether no task waits.
    pub fn is_empty(&self) -> bool {
        self.non_empty == 0
    }

    /// Drops every task (the event loop ends).
    pub fn clear(&mut self) -> Vec<T> {
        self.non_empty = 0;
        let mut out = Vec::new();
        for q in &mut self.queues {
            out.extend(q.drain(..).map(|(_, t)| t));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::source::OldestFirst;
    use super::*;

    fn drain(q: &mut TaskQueues<&'static str>) -> Vec<&'static str> {
        let mut out = Vec::new();
        while let Some((_, _, t)) = q.pop(&mut OldestFirst) {
            out.push(t);
        }
        out
    }

    #[test]
    fn fifo_within_a_source_and_oldest_first_across() {
        let mut q = TaskQueues::new();
        q.push(TaskSource::PostedMessage, "p1");
        q.push(TaskSource::Timers, "t1");
        q.push(TaskSource::PostedMessage, "p2");
        q.push(TaskSource::Runtime, "r1");
        assert_eq!(q.len(), 4);
        assert_eq!(drain(&mut q), ["p1", "t1", "p2", "r1"]);
        assert!(q.is_empty());
    }

    #[test]
    fn insert_keeps_sequence_order() {
        let mut q = TaskQueues::new();
        let early = q.next_seq();
        q.push(TaskSource::UnshippedPorts, "b");
        let mid = q.next_seq();
        q.push(TaskSource::UnshippedPorts, "d");
        q.insert(TaskSource::UnshippedPorts, mid, "c");
        q.insert(TaskSource::UnshippedPorts, early, "a");
        assert_eq!(drain(&mut q), ["a", "b", "c", "d"]);
    }

    #[test]
    fn pop_if_alone_only_when_no_other_source_waits() {
        let mut q = TaskQueues::new();
        q.push(TaskSource::UnshippedPorts, "a");
        q.push(TaskSource::UnshippedPorts, "b");
        assert_eq!(
            q.pop_if_alone(TaskSource::UnshippedPorts, |t| *t == "x"),
            None
        );
        assert_eq!(
            q.pop_if_alone(TaskSource::UnshippedPorts, |t| *t == "a"),
            Some("a")
        );
        q.push(TaskSource::Timers, "t");
        assert_eq!(q.pop_if_alone(TaskSource::UnshippedPorts, |_| true), None);
        assert_eq!(drain(&mut q), ["b", "t"]);
    }

    #[test]
    fn extract_removes_in_order() {
        let mut q = TaskQueues::new();
        for t in ["a1", "b1", "a2", "b2"] {
            q.push(TaskSource::UnshippedPorts, t);
        }
        let out = q.extract(TaskSource::UnshippedPorts, |t| !t.starts_with('a'));
        assert_eq!(out, ["a1", "a2"]);
        assert_eq!(drain(&mut q), ["b1", "b2"]);
    }

    /// A policy that always takes the last candidate: FIFO per source still holds.
    struct Last;
    impl Scheduler for Last {
        fn pick(&mut self, c: &[Candidate]) -> usize {
            c.len() - 1
        }
    }

    #[test]
    fn any_policy_keeps_fifo_per_source() {
        let mut q = TaskQueues::new();
        q.push(TaskSource::PostedMessage, "p1");
        q.push(TaskSource::PostedMessage, "p2");
        q.push(TaskSource::Runtime, "r1");
        let mut out = Vec::new();
        while let Some((_, _, t)) = q.pop(&mut Last) {
            out.push(t);
        }
        assert_eq!(out, ["r1", "p1", "p2"]);
    }

    #[test]
    fn a_self_posting_loop_does_not_starve_older_tasks() {
        // A task that, each time it runs, queues another one in the same source: tasks
        // queued before in other sources still run after at most the ones before them.
        let mut q = TaskQueues::new();
        q.push(TaskSource::PostedMessage, "loop");
        q.push(TaskSource::Runtime, "probe");
        let mut ran = Vec::new();
        for _ in 0..4 {
            let (_, _, t) = q.pop(&mut OldestFirst).unwrap();
            ran.push(t);
            if t == "loop" {
                q.push(TaskSource::PostedMessage, "loop");
            }
        }
        assert_eq!(ran, ["loop", "probe", "loop", "loop"]);
    }
}
