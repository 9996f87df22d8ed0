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
    /// The source whose back entry took the last sequence number handed out (by
    /// [`TaskQueues::push_or_extend`]), so that it may take the next one too: a run of
    /// consecutive numbers, with nothing in between on this event loop.
    extendable: Option<TaskSource>,
    candidates: Vec<Candidate>,
}

impl<T> Default for TaskQueues<T> {
    fn default() -> Self {
        TaskQueues {
            queues: Default::default(),
            non_empty: 0,
            next_seq: 1,
            extendable: None,
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
        self.extendable = None;
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

    /// Queues `task` at the end of `source`, or, when the back entry of `source` took the
    /// last sequence number handed out and `extend` accepts to count `task` in it (a run
    /// of tasks of one kind, such as the messages of one port), adds it to that entry.
    /// Returns the task's sequence number either way.
    ///
    /// A run entry stands for tasks with consecutive sequence numbers, in a row in its
    /// source, with no other task of this event loop numbered in between: running them
    /// one by one from it is the order they would have had as entries of their own. A
    /// burst of a million messages on one port is one entry instead of a million.
    pub fn push_or_extend(
        &mut self,
        source: TaskSource,
        task: T,
        extend: impl FnOnce(&mut T) -> bool,
    ) -> u64 {
        if self.extendable == Some(source) {
            if let Some((_, back)) = self.queues[source.index()].back_mut() {
                if extend(back) {
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    return seq;
                }
            }
        }
        let seq = self.push(source, task);
        self.extendable = Some(source);
        seq
    }

    /// Puts `task` back at the front of `source` with sequence number `seq` (the rest of a
    /// run entry whose first tasks ran: `seq` is its next task's number, lower than every
    /// other entry's of `source`).
    pub fn push_front(&mut self, source: TaskSource, seq: u64, task: T) {
        self.extendable = None;
        let q = &mut self.queues[source.index()];
        debug_assert!(q.front().is_none_or(|(s, _)| *s > seq));
        q.push_front((seq, task));
        self.non_empty |= 1 << source.index();
    }

    /// Whether every source other than `source` is empty (so that any scheduler would
    /// take `source`'s next task, or the rest of a run of it, next).
    pub fn only_source(&self, source: TaskSource) -> bool {
        self.non_empty & !(1 << source.index()) == 0
    }

    /// Queues `task` in `source` at the place its (earlier taken) `seq` gives it, so that
    /// the source stays in sequence order.
    pub fn insert(&mut self, source: TaskSource, seq: u64, task: T) {
        self.extendable = None;
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
        self.extendable = None;
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
        self.extendable = None;
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

    /// The sources that have tasks, in the order of [`TaskSource::ALL`] (added to `out`).
    pub fn sources(&self, out: &mut Vec<TaskSource>) {
        let mut bits = self.non_empty;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            out.push(TaskSource::ALL[i]);
            bits &= bits - 1;
        }
    }

    /// The front task of `source`.
    pub fn front_of(&self, source: TaskSource) -> Option<&T> {
        self.queues[source.index()].front().map(|(_, t)| t)
    }

    /// Takes the front task of `source` (a simulation's pick among [`sources`](Self::sources)).
    pub fn pop_from(&mut self, source: TaskSource) -> Option<(u64, T)> {
        self.extendable = None;
        let index = source.index();
        let q = &mut self.queues[index];
        let entry = q.pop_front()?;
        if q.is_empty() {
            self.non_empty &= !(1 << index);
        }
        Some(entry)
    }

    /// Takes one task from the front entry of `source`, leaving the rest of the entry in
    /// place, when `source` is the only source with tasks (so that any scheduler would
    /// take it next). `take` sees the entry's sequence number and task and returns `None`
    /// to leave it, `Some(true)` when the entry stood for one task (it is removed), or
    /// `Some(false)` when it stood for more and now stands for the rest (`take` updated
    /// the task and moved the number on to the rest's first task). Returns the taken
    /// task's sequence number. A runner works off a run entry (see
    /// [`TaskQueues::push_or_extend`]) this way without moving it out and back in for
    /// each of its tasks, and the queue is whole while each task runs.
    pub fn take_front_if_alone(
        &mut self,
        source: TaskSource,
        take: impl FnOnce(&mut u64, &mut T) -> Option<bool>,
    ) -> Option<u64> {
        if self.non_empty != 1 << source.index() {
            return None;
        }
        let q = &mut self.queues[source.index()];
        let (seq, task) = q.front_mut()?;
        let taken = *seq;
        let last = take(seq, task)?;
        debug_assert!(last || *seq > taken);
        // Nothing new may extend the entry: its run no longer ends at the last number.
        self.extendable = None;
        if last {
            q.pop_front();
            if q.is_empty() {
                self.non_empty = 0;
            }
        }
        Some(taken)
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
        self.extendable = None;
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

    /// [`TaskQueues::take_front_if_alone`]'s `take` for runs `(port, count)` of `port`.
    fn one_of(
        port: &'static str,
    ) -> impl FnOnce(&mut u64, &mut (&'static str, u32)) -> Option<bool> {
        move |seq, run| {
            if run.0 != port {
                return None;
            }
            if run.1 == 1 {
                return Some(true);
            }
            *seq += 1;
            run.1 -= 1;
            Some(false)
        }
    }

    #[test]
    fn a_run_is_worked_off_in_place_while_no_other_source_waits() {
        let mut q = TaskQueues::new();
        let u = TaskSource::UnshippedPorts;
        for _ in 0..3 {
            q.push_or_extend(u, ("a", 1), same_port("a"));
        }
        // Refused by `take`: nothing changes.
        assert_eq!(q.take_front_if_alone(u, one_of("b")), None);
        // Task 1 taken; the entry stays, standing for 2 and 3.
        assert_eq!(q.take_front_if_alone(u, one_of("a")), Some(1));
        assert_eq!(q.len_of(u), 1);
        // A task of the same port posted now is an entry of its own (4).
        q.push_or_extend(u, ("a", 1), same_port("a"));
        assert_eq!(q.len_of(u), 2);
        assert_eq!(q.take_front_if_alone(u, one_of("a")), Some(2));
        // The entry's last task removes it; the next entry is the front then.
        assert_eq!(q.take_front_if_alone(u, one_of("a")), Some(3));
        assert_eq!(q.len_of(u), 1);
        // Another source has a task: nothing is taken.
        q.push(TaskSource::Timers, ("t", 1));
        assert_eq!(q.take_front_if_alone(u, one_of("a")), None);
        let entries: Vec<_> =
            std::iter::from_fn(|| q.pop(&mut OldestFirst).map(|(_, seq, t)| (seq, t))).collect();
        assert_eq!(entries, [(4, ("a", 1)), (5, ("t", 1))]);
        // Empty queues: nothing to take.
        assert_eq!(q.take_front_if_alone(u, one_of("a")), None);
        assert!(q.is_empty());
    }

    /// A run: `(port, count)`; extends only the same port.
    fn same_port(port: &'static str) -> impl FnOnce(&mut (&'static str, u32)) -> bool {
        move |back| {
            let same = back.0 == port;
            if same {
                back.1 += 1;
            }
            same
        }
    }

    #[test]
    fn consecutive_tasks_of_one_kind_share_an_entry() {
        let mut q = TaskQueues::new();
        let u = TaskSource::UnshippedPorts;
        let s1 = q.push_or_extend(u, ("a", 1), same_port("a"));
        let s2 = q.push_or_extend(u, ("a", 1), same_port("a"));
        let s3 = q.push_or_extend(u, ("a", 1), same_port("a"));
        // Numbers as if each had an entry; one entry holds all three.
        assert_eq!((s1, s2, s3), (1, 2, 3));
        assert_eq!(q.len_of(u), 1);
        // Another port's task ends the run; so does any number taken in between.
        q.push_or_extend(u, ("b", 1), same_port("b"));
        q.push_or_extend(u, ("a", 1), same_port("a"));
        let pending = q.next_seq();
        q.push_or_extend(u, ("a", 1), same_port("a"));
        q.push(TaskSource::Timers, ("t", 1));
        q.push_or_extend(u, ("a", 1), same_port("a"));
        assert_eq!(pending, 6);
        let entries: Vec<_> =
            std::iter::from_fn(|| q.pop(&mut OldestFirst).map(|(_, seq, t)| (seq, t))).collect();
        assert_eq!(
            entries,
            [
                (1, ("a", 3)),
                (4, ("b", 1)),
                (5, ("a", 1)),
                (7, ("a", 1)),
                (8, ("t", 1)),
                (9, ("a", 1)),
            ]
        );
    }

    #[test]
    fn a_run_is_not_extended_after_a_pop_or_an_insert() {
        let mut q = TaskQueues::new();
        let u = TaskSource::UnshippedPorts;
        q.push_or_extend(u, ("a", 1), same_port("a"));
        q.push_or_extend(u, ("a", 1), same_port("a"));
        let late = q.next_seq();
        q.push_or_extend(u, ("a", 1), same_port("a"));
        // A task numbered earlier joins in its place: between the two entries of `a`.
        q.insert(u, late, ("p", 1));
        q.push_or_extend(u, ("a", 1), same_port("a"));
        assert_eq!(q.len_of(u), 4);
        let (_, seq, first) = q.pop(&mut OldestFirst).unwrap();
        assert_eq!((seq, first), (1, ("a", 2)));
        q.push_or_extend(u, ("a", 1), same_port("a"));
        assert_eq!(q.len_of(u), 4, "a pop ends the run");
    }

    #[test]
    fn the_rest_of_a_run_goes_back_in_front() {
        let mut q = TaskQueues::new();
        let u = TaskSource::UnshippedPorts;
        for _ in 0..5 {
            q.push_or_extend(u, ("a", 1), same_port("a"));
        }
        q.push(u, ("b", 1));
        let (_, seq, (port, n)) = q.pop(&mut OldestFirst).unwrap();
        assert_eq!((seq, port, n), (1, "a", 5));
        // Two of the five ran: the rest is next, numbered as its next task.
        assert!(q.only_source(u));
        q.push_front(u, seq + 2, ("a", 3));
        q.push(TaskSource::Timers, ("t", 1));
        assert!(!q.only_source(u));
        let order: Vec<_> =
            std::iter::from_fn(|| q.pop(&mut OldestFirst).map(|(_, seq, t)| (seq, t))).collect();
        assert_eq!(order, [(3, ("a", 3)), (6, ("b", 1)), (7, ("t", 1))]);
    }

    /// One step of a random program over the queues.
    #[derive(Debug, Clone)]
    enum Op {
        /// A task of port `0..3` on the unshipped source.
        Port(u8),
        /// A task on another source.
        Other,
        /// A number taken for later; joins the unshipped source at the next `Join`.
        Reserve(u8),
        Join,
        /// Run up to `n` tasks (the runner takes one task out of a run at a time and puts
        /// the rest back in front, as the event loop does).
        Run(u8),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            6 => (0u8..3).prop_map(Op::Port),
            2 => Just(Op::Other),
            1 => (0u8..3).prop_map(Op::Reserve),
            1 => Just(Op::Join),
            2 => (1u8..6).prop_map(Op::Run),
        ]
    }

    /// Runs `ops`; with `runs`, port tasks go through `push_or_extend`, else each gets an
    /// entry of its own. Returns the tasks in the order they ran, by name and number.
    fn execute(ops: &[Op], runs: bool) -> Vec<(String, u64)> {
        let u = TaskSource::UnshippedPorts;
        let mut q: TaskQueues<(String, u32)> = TaskQueues::new();
        let mut reserved: Vec<(u64, String)> = Vec::new();
        let mut ran = Vec::new();
        let mut n = 0;
        let run_one = |q: &mut TaskQueues<(String, u32)>, ran: &mut Vec<(String, u64)>| {
            let Some((source, seq, (name, count))) = q.pop(&mut OldestFirst) else {
                return false;
            };
            if count > 1 {
                q.push_front(source, seq + 1, (name.clone(), count - 1));
            }
            ran.push((name, seq));
            true
        };
        for o in ops {
            match o {
                Op::Port(p) => {
                    let name = format!("port{p}");
                    if runs {
                        let same = name.clone();
                        q.push_or_extend(u, (name, 1), move |back| {
                            let ok = back.0 == same;
                            if ok {
                                back.1 += 1;
                            }
                            ok
                        });
                    } else {
                        q.push(u, (name, 1));
                    }
                }
                Op::Other => {
                    n += 1;
                    q.push(TaskSource::Timers, (format!("other{n}"), 1));
                }
                Op::Reserve(p) => reserved.push((q.next_seq(), format!("late{p}"))),
                Op::Join => {
                    for (seq, name) in reserved.drain(..) {
                        q.insert(u, seq, (name, 1));
                    }
                }
                Op::Run(k) => {
                    for _ in 0..*k {
                        if !run_one(&mut q, &mut ran) {
                            break;
                        }
                    }
                }
            }
        }
        for (seq, name) in reserved.drain(..) {
            q.insert(u, seq, (name, 1));
        }
        while run_one(&mut q, &mut ran) {}
        ran
    }

    proptest::proptest! {
        /// Run entries are invisible: every task runs once, with the number and in the
        /// place it would have had as an entry of its own.
        #[test]
        fn runs_keep_the_order_and_numbers_of_single_entries(
            ops in proptest::collection::vec(op(), 0..80)
        ) {
            let single = execute(&ops, false);
            let with_runs = execute(&ops, true);
            proptest::prop_assert_eq!(with_runs, single);
        }
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
