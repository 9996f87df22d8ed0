//! How the simulation's [`World`](super::sim::World) drives one event loop: the
//! [`SimLoop`] trait, and its implementation for every loop's shared state.

use std::rc::Rc;
use std::time::Duration;

use super::run::{run_microtasks, run_task};
use super::sim::{enter, Choices, FaultTargets};
use super::*;
use crate::kernel::FaultKind;

/// What a world tells an event loop it drives, and asks of it.
pub(crate) trait SimLoop {
    fn loop_id(&self) -> u64;
    /// Whether it has anything to run (a task, or work deferred outside tasks).
    fn has_work(&self) -> bool;
    /// Its non-empty task sources.
    fn sources(&self, out: &mut Vec<TaskSource>);
    /// The realm's name and what the front task of `source` is.
    fn peek(&self, source: TaskSource) -> Option<(String, &'static str)>;
    /// Runs the front task of `source` and its microtask checkpoint.
    fn run_one(self: Rc<Self>, source: TaskSource);
    /// Runs work deferred outside tasks (rare).
    fn run_deferred(self: Rc<Self>);
    /// Its next timer deadline.
    fn next_deadline(&self) -> Option<Duration>;
    /// Queues its due timers' tasks.
    fn queue_due_timers(&self, now: Duration);
    /// Tears it down if it is ending; true if it ended.
    fn settle(self: Rc<Self>) -> bool;
    /// Tears it down now.
    fn end_now(self: Rc<Self>);
    /// Its hosts and the faults that can hit each, in a fixed order.
    fn fault_targets(&self, out: &mut Vec<(u64, String, FaultTargets)>);
    /// Injects `kind` into host `realm`.
    fn inject(self: Rc<Self>, realm: u64, kind: FaultKind, choices: &mut Choices)
        -> Option<String>;
    /// The name of its first host (for records about the loop as a whole).
    fn first_name(&self) -> String;
}

impl<H: Host> SimLoop for LoopShared<H> {
    fn loop_id(&self) -> u64 {
        self.id
    }

    fn has_work(&self) -> bool {
        // An ending loop has its teardown left to do.
        self.ending.get()
            || !self.queues.borrow().is_empty()
            || !self.microtasks.borrow().is_empty()
            || !self.after_task.borrow().is_empty()
    }

    fn sources(&self, out: &mut Vec<TaskSource>) {
        if self.ending.get() {
            return;
        }
        self.queues.borrow().sources(out);
    }

    fn peek(&self, source: TaskSource) -> Option<(String, &'static str)> {
        let q = self.queues.borrow();
        Some(match q.front_of(source)? {
            Task::Realm(id, m) => (self.host_name(*id), H::describe(m)),
            Task::Unshipped { realm, .. } => (self.host_name(*realm), "port message"),
            Task::Timer(d) => (self.host_name(d.realm), "timer"),
            Task::Delivery(_) => (self.first_name(), "broadcast"),
        })
    }

    fn run_one(self: Rc<Self>, source: TaskSource) {
        let Some((seq, task)) = self.queues.borrow_mut().pop_from(source) else {
            return;
        };
        self.in_turn.set(true);
        run_task(&self, seq, task);
        run_microtasks(&self);
        self.run_after_task();
        self.in_turn.set(false);
    }

    fn run_deferred(self: Rc<Self>) {
        if self.microtasks.borrow().is_empty() && self.after_task.borrow().is_empty() {
            return;
        }
        enter(self.id, || {
            run_microtasks(&self);
            self.run_after_task();
        });
    }

    fn next_deadline(&self) -> Option<Duration> {
        if self.ending.get() {
            return None;
        }
        self.timers.borrow_mut().next_deadline()
    }

    fn queue_due_timers(&self, now: Duration) {
        let due = self.timers.borrow_mut().take_due(now);
        let mut q = self.queues.borrow_mut();
        for d in due {
            q.push(TaskSource::Timers, Task::Timer(d));
        }
    }

    fn settle(self: Rc<Self>) -> bool {
        if !self.ending.get() {
            return false;
        }
        self.tear_down();
        // The loop's actor stops when it handles this.
        self.addr.do_send(LoopMessage::Kick);
        true
    }

    fn end_now(self: Rc<Self>) {
        self.ending.set(true);
        self.settle();
    }

    fn fault_targets(&self, out: &mut Vec<(u64, String, FaultTargets)>) {
        if self.ending.get() {
            return;
        }
        let mut hosts: Vec<(u64, Rc<RefCell<H>>)> = self
            .hosts
            .borrow()
            .iter()
            .map(|(id, h)| (*id, h.clone()))
            .collect();
        hosts.sort_by_key(|(id, _)| *id);
        for (id, h) in hosts {
            if let Ok(h) = h.try_borrow() {
                out.push((id, h.name(), h.fault_targets()));
            }
        }
    }

    fn inject(
        self: Rc<Self>,
        realm: u64,
        kind: FaultKind,
        choices: &mut Choices,
    ) -> Option<String> {
        let mut out = None;
        self.in_turn.set(true);
        with_host(&self, realm, |h, cx| {
            out = h.inject(kind, &mut |n| choices.choose(n), cx);
        });
        run_microtasks(&self);
        self.run_after_task();
        self.in_turn.set(false);
        out
    }

    fn first_name(&self) -> String {
        let first = self.hosts.borrow().keys().min().copied();
        first.map(|id| self.host_name(id)).unwrap_or_default()
    }
}

impl<H: Host> LoopShared<H> {
    fn host_name(&self, id: u64) -> String {
        match host_of(self, id) {
            Some(h) => h.try_borrow().map(|h| h.name()).unwrap_or_default(),
            None => String::new(),
        }
    }
}
