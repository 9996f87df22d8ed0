//! Running one task of the loop: a realm's task, a run of a never-shipped port's
//! tasks, a timer, a delivery across realms; and the microtask checkpoint.

use super::*;

/// Runs `task` (sequence number `seq`).
pub(super) fn run_task<H: Host>(shared: &Rc<LoopShared<H>>, seq: u64, task: Task<H>) {
    match task {
        Task::Realm(id, msg) => {
            if counts_in_load(H::source_of(&msg)) {
                shared.load.done();
                trace_load(shared.id, &shared.load);
            }
            let mut msg = Some(msg);
            let ran = with_host(shared, id, |h, cx| {
                if let Some(m) = msg.take() {
                    h.handle(m, cx)
                }
            });
            if !ran {
                log::debug!(target: "webmessaging::event_loop", "task for realm {id}, which this loop no longer hosts, dropped");
            }
        }
        Task::Unshipped {
            realm,
            key,
            generation,
            count,
        } => run_unshipped(shared, seq, realm, key, generation, count),
        Task::Timer(d) => {
            if shared.timers.borrow_mut().fired(d.realm, d.id) {
                // Timers set by this task are nested one level deeper.
                shared.timer_nesting.set(d.level);
                with_host(shared, d.realm, |h, cx| h.timer(d.id, cx));
                shared.timer_nesting.set(0);
            }
        }
        Task::Delivery(d) => {
            shared.load.done();
            trace_load(shared.id, &shared.load);
            H::deliver(d)
        }
    }
}

/// Runs tasks of one never-shipped port, from the entry `seq` holding `count` of them.
///
/// The rest of the entry goes back in front of the unshipped port message queue,
/// numbered as its next task, before the first task runs, and each next task is taken
/// from it in place (so that the queue is whole while script runs: a listener that
/// transfers the port takes every waiting task with it).
/// While no other source has a task, the next tasks of the same port run in this turn
/// entry, each after a microtask checkpoint: the order any scheduler would give, without
/// the round trip through it.
fn run_unshipped<H: Host>(
    shared: &Rc<LoopShared<H>>,
    seq: u64,
    realm: u64,
    key: u64,
    generation: u64,
    count: u32,
) {
    let rest = |count| Task::Unshipped {
        realm,
        key,
        generation,
        count,
    };
    with_host(shared, realm, |h, cx| {
        for i in 0..shared.unshipped_run {
            if i > 0 {
                if cx.stopped {
                    break;
                }
                // The next task of the same run, taken from its entry in place (the
                // rest stays in front, whole, as a `push_front` would leave it).
                let next = shared.queues.borrow_mut().take_front_if_alone(
                    TaskSource::UnshippedPorts,
                    |s, t| match t {
                        Task::Unshipped {
                            realm: r,
                            key: k,
                            generation: g,
                            count: c,
                        } if *r == realm && *k == key && *g == generation => {
                            if *c == 1 {
                                return Some(true);
                            }
                            *s += 1;
                            *c -= 1;
                            Some(false)
                        }
                        _ => None,
                    },
                );
                if next.is_none() {
                    break;
                }
                cx.checkpoint(h);
            } else if count > 1 {
                shared.queues.borrow_mut().push_front(
                    TaskSource::UnshippedPorts,
                    seq + 1,
                    rest(count - 1),
                );
            }
            h.port_task(key, generation, cx);
        }
    });
}

pub(super) fn run_microtasks<H: Host>(shared: &Rc<LoopShared<H>>) {
    loop {
        let next = shared.microtasks.borrow_mut().pop_front();
        let Some((id, m)) = next else { break };
        let mut m = Some(m);
        with_host(shared, id, |h, cx| {
            if let Some(m) = m.take() {
                h.microtask(m, cx)
            }
        });
    }
    // No script runs now: a safe point for the cycle collector (a no-op until this
    // thread's candidate buffer is full).
    webmessaging_core::value::collect_cycles_if_due();
}

impl<H: Host> Actor for EventLoop<H> {
    type Context = Context<Self>;
}

impl<H: Host> Handler<LoopMessage<H>> for EventLoop<H> {
    type Result = ();

    fn handle(&mut self, msg: LoopMessage<H>, ctx: &mut Self::Context) {
        let Some(shared) = self.shared() else { return };
        match msg {
            LoopMessage::Task(id, m) => {
                let source = H::source_of(&m);
                shared.queues.borrow_mut().push(source, Task::Realm(id, m));
            }
            LoopMessage::Delivery(d) => {
                shared
                    .queues
                    .borrow_mut()
                    .push(TaskSource::DomManipulation, Task::Delivery(d));
            }
            LoopMessage::Add { id, host, first } => {
                shared.add_host(id, host());
                if let Some(m) = first {
                    let source = H::source_of(&m);
                    shared.queues.borrow_mut().push(source, Task::Realm(id, m));
                }
            }
            LoopMessage::Kick => {}
        }
        self.turn(ctx);
    }
}
