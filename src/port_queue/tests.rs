//! Unit and property tests of the entangled pair of port message queues.

use super::*;

type Pair = EntangledPair<u32, &'static str>;

fn drain(p: &mut Pair, end: End, generation: u64) -> Vec<Option<u32>> {
    let mut out = Vec::new();
    while let Next::Task(t) = p.next_task(end, generation) {
        out.push(match t {
            PortTask::Message(m) => Some(m),
            PortTask::Close => None,
        });
    }
    out
}

proptest::proptest! {
    /// A bounded queue with the drop-oldest policy (the runtime drops the oldest
    /// message when a post finds `cap` waiting): whatever the interleaving of posts
    /// and dispatches, what is dispatched is in posting order, each at most once, and
    /// every message is either dispatched or dropped (counted), never both.
    #[test]
    fn drop_oldest_keeps_order_and_accounts_for_every_message(
        cap in 1usize..8,
        ops in proptest::collection::vec(proptest::bool::weighted(0.7), 0..200),
    ) {
        let mut p = Pair::new("a", "b");
        p.start(End::Second);
        let (mut sent, mut dispatched, mut dropped) = (0u32, Vec::new(), Vec::new());
        for post in ops {
            if post {
                let full = p.queued(End::Second) >= cap;
                p.post(End::First, sent).unwrap();
                sent += 1;
                if full {
                    dropped.extend(p.drop_oldest(End::Second));
                }
                proptest::prop_assert!(p.queued(End::Second) <= cap);
            } else if let Next::Task(PortTask::Message(m)) = p.next_task(End::Second, 0) {
                dispatched.push(m);
            }
        }
        dispatched.extend(drain(&mut p, End::Second, 0).into_iter().flatten());
        proptest::prop_assert!(dispatched.windows(2).all(|w| w[0] < w[1]));
        let mut all: Vec<u32> = dispatched.iter().chain(&dropped).copied().collect();
        all.sort_unstable();
        proptest::prop_assert_eq!(all, (0..sent).collect::<Vec<u32>>());
    }
}

#[test]
fn queue_starts_disabled_and_start_wakes_once() {
    let mut p = Pair::new("a", "b");
    assert_eq!(p.post(End::First, 1).unwrap(), None, "disabled: no wake");
    assert_eq!(p.post(End::First, 2).unwrap(), None);
    let w = p.start(End::Second).expect("start wakes the owner");
    assert_eq!(w.owner, "b");
    // A second post while a wake is pending does not wake again.
    assert_eq!(p.post(End::First, 3).unwrap(), None);
    assert_eq!(
        drain(&mut p, End::Second, 0),
        vec![Some(1), Some(2), Some(3)]
    );
    // After going idle the next post wakes again.
    assert!(p.post(End::First, 4).unwrap().is_some());
}

#[test]
fn close_queues_close_after_earlier_messages_and_silences_posts() {
    let mut p = Pair::new("a", "b");
    p.start(End::Second);
    p.post(End::First, 1).unwrap();
    let (dropped, _) = p.close(End::First);
    assert!(dropped.is_empty());
    assert!(p.post(End::First, 2).is_err(), "closed port posts nothing");
    assert!(
        p.post(End::Second, 3).is_err(),
        "peer of closed port posts nothing"
    );
    assert_eq!(drain(&mut p, End::Second, 0), vec![Some(1), None]);
    assert!(!p.is_entangled());
}

#[test]
fn a_lost_channel_closes_both_ends_without_a_close_task() {
    let mut p = Pair::new("a", "b");
    p.start(End::First);
    p.start(End::Second);
    p.post(End::Second, 1).unwrap();
    p.ship(End::Second).unwrap();
    let dropped = p.lose();
    assert_eq!(dropped.len(), 1, "what waited at the first end is dropped");
    assert!(!p.is_entangled());
    assert!(p.post(End::First, 2).is_err());
    // Neither end has anything to run, not even `close`.
    assert_eq!(drain(&mut p, End::First, 0), Vec::<Option<u32>>::new());
    // The shipped holder's drop then closes its end: nothing is queued anywhere.
    let (more, wake) = p.close(End::Second);
    assert!(more.is_empty() && wake.is_none());
}

#[test]
fn transfer_keeps_queued_tasks_and_ignores_stale_wakes() {
    let mut p = Pair::new("a", "b");
    p.start(End::Second);
    p.post(End::First, 1).unwrap();
    let g = p.ship(End::Second).unwrap();
    assert_eq!(g, 1);
    assert!(matches!(p.next_task(End::Second, 0), Next::Stale));
    // Messages posted while in transit wait in the queue.
    assert_eq!(p.post(End::First, 2).unwrap(), None);
    assert!(p.ship(End::Second).is_none(), "cannot ship twice");
    assert!(p.receive(End::Second, g, "c"));
    assert!(
        matches!(p.next_task(End::Second, g), Next::Idle),
        "disabled after move"
    );
    assert_eq!(p.start(End::Second).unwrap().owner, "c");
    assert_eq!(drain(&mut p, End::Second, g), vec![Some(1), Some(2)]);
}

#[test]
fn close_while_peer_in_transit_is_delivered_after_arrival_and_start() {
    let mut p = Pair::new("a", "b");
    p.post(End::First, 1).unwrap();
    let g = p.ship(End::Second).unwrap();
    p.post(End::First, 2).unwrap();
    let (dropped, wake) = p.close(End::First);
    assert!(dropped.is_empty());
    assert!(wake.is_none(), "in transit: nobody to wake");
    assert!(p.receive(End::Second, g, "c"));
    assert_eq!(p.start(End::Second).unwrap().owner, "c");
    assert_eq!(drain(&mut p, End::Second, g), vec![Some(1), Some(2), None]);
}

#[test]
fn end_closed_in_transit_is_received_closed() {
    let mut p = Pair::new("a", "b");
    let g = p.ship(End::Second).unwrap();
    // The message carrying it was discarded: its data holder closes the end.
    p.close(End::Second);
    assert!(
        !p.receive(End::Second, g, "c"),
        "a closed end is not received"
    );
    assert_eq!(p.ownership(End::Second), &Ownership::Closed);
    assert!(p.post(End::First, 1).is_err());
    assert_eq!(
        drain(&mut p, End::First, 0),
        Vec::<Option<u32>>::new(),
        "queue disabled"
    );
    p.start(End::First);
    assert_eq!(
        drain(&mut p, End::First, 0),
        vec![None],
        "the survivor gets close"
    );
}

#[test]
fn receive_checks_generation_and_wakes_go_to_the_new_owner_only() {
    let mut p = Pair::new("a", "b");
    p.start(End::Second);
    assert!(p.post(End::First, 1).unwrap().is_some());
    // Shipped while a wake-up for owner "b" is pending.
    let g1 = p.ship(End::Second).unwrap();
    assert!(!p.receive(End::Second, g1 + 1, "x"), "wrong generation");
    assert!(p.receive(End::Second, g1, "c"));
    let g2 = p.ship(End::Second).unwrap();
    assert!(!p.receive(End::Second, g1, "x"), "an old generation");
    assert!(p.receive(End::Second, g2, "d"));
    assert!(matches!(p.next_task(End::Second, 0), Next::Stale));
    assert!(matches!(p.next_task(End::Second, g1), Next::Stale));
    let w = p.start(End::Second).unwrap();
    assert_eq!((w.owner, w.generation), ("d", g2));
    assert_eq!(drain(&mut p, End::Second, g2), vec![Some(1)]);
}

#[test]
fn both_ends_in_transit_keep_their_queues() {
    let mut p = Pair::new("a", "b");
    p.post(End::First, 1).unwrap();
    p.post(End::Second, 10).unwrap();
    let g1 = p.ship(End::First).unwrap();
    let g2 = p.ship(End::Second).unwrap();
    assert!(
        p.post(End::First, 2).is_err(),
        "an end in transit does not post"
    );
    assert!(p.receive(End::First, g1, "x"));
    assert!(
        p.post(End::First, 2).unwrap().is_none(),
        "peer still in transit"
    );
    assert!(p.receive(End::Second, g2, "y"));
    p.start(End::First);
    p.start(End::Second);
    assert_eq!(drain(&mut p, End::Second, g2), vec![Some(1), Some(2)]);
    assert_eq!(drain(&mut p, End::First, g1), vec![Some(10)]);
}

#[test]
fn close_is_the_last_task_and_never_dropped() {
    let mut p = Pair::new("a", "b");
    p.post(End::First, 1).unwrap();
    p.post(End::First, 2).unwrap();
    p.close(End::First);
    // Messages first, then `close`; counted in the queue.
    assert_eq!(p.queued(End::Second), 3);
    // Drop-oldest takes the messages, never `close`.
    assert_eq!(p.drop_oldest(End::Second), Some(1));
    assert_eq!(p.queued(End::Second), 2);
    p.start(End::Second);
    assert!(matches!(
        p.next_task(End::Second, 0),
        Next::Task(PortTask::Message(2))
    ));
    assert_eq!(p.drop_oldest(End::Second), None);
    assert_eq!(p.queued(End::Second), 1);
    assert!(matches!(
        p.next_task(End::Second, 0),
        Next::Task(PortTask::Close)
    ));
    assert!(matches!(p.next_task(End::Second, 0), Next::Idle));
    assert_eq!(p.queued(End::Second), 0);

    // Dismantled or lost, a waiting `close` comes out after the messages.
    let mut p = Pair::new("a", "b");
    p.post(End::Second, 7).unwrap();
    p.close(End::Second);
    let [(first, _, _), (second, _, closed)] = p.dismantle();
    assert!(matches!(first[..], [PortTask::Message(7), PortTask::Close]));
    assert!(second.is_empty() && closed);
    let mut p = Pair::new("a", "b");
    p.post(End::Second, 8).unwrap();
    p.close(End::Second);
    assert!(matches!(
        p.lose()[..],
        [PortTask::Message(8), PortTask::Close]
    ));
}

#[test]
fn closing_drops_own_queue() {
    let mut p = Pair::new("a", "b");
    p.post(End::First, 1).unwrap();
    let (dropped, wake) = p.close(End::Second);
    assert_eq!(dropped.len(), 1);
    assert!(wake.is_none(), "peer queue disabled: no wake");
    assert_eq!(p.queued(End::First), 1, "close task waits at the peer");
    let (again, _) = p.close(End::Second);
    assert!(again.is_empty());
}

/// Model-based property: random posts, transfers (ship then receive), starts, closes
/// and deliveries of pending wake-ups, in any interleaving. Afterwards (every end
/// received and started, every wake-up delivered): each open end received exactly what
/// was posted to it, in order; a closed end a prefix; `close` exactly once at the
/// survivor of a close, never at the closer; and no wake-up was lost.
mod model {
    use super::super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Post(bool),
        Ship(bool),
        Receive(bool),
        Start(bool),
        Close(bool),
        Deliver(usize),
    }

    fn end(b: bool) -> End {
        if b {
            End::Second
        } else {
            End::First
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => any::<bool>().prop_map(Op::Post),
            2 => any::<bool>().prop_map(Op::Ship),
            2 => any::<bool>().prop_map(Op::Receive),
            2 => any::<bool>().prop_map(Op::Start),
            1 => any::<bool>().prop_map(Op::Close),
            4 => (0usize..8).prop_map(Op::Deliver),
        ]
    }

    #[derive(Default)]
    struct Side {
        posted_to: Vec<u32>,
        received: Vec<u32>,
        closes: usize,
        closed: bool,
        in_transit: Option<u64>,
    }

    fn deliver(p: &mut EntangledPair<u32, u8>, w: Wake<u8>, e: End, sides: &mut [Side; 2]) {
        loop {
            match p.next_task(e, w.generation) {
                Next::Task(PortTask::Message(m)) => sides[e.index()].received.push(m),
                Next::Task(PortTask::Close) => sides[e.index()].closes += 1,
                Next::Idle | Next::Stale => return,
            }
        }
    }

    proptest! {
        #[test]
        fn queues_never_lose_duplicate_or_reorder(ops in prop::collection::vec(op(), 0..80)) {
            let mut p: EntangledPair<u32, u8> = EntangledPair::new(0, 1);
            let mut sides: [Side; 2] = Default::default();
            let mut wakes: Vec<(End, Wake<u8>)> = Vec::new();
            let mut seq = 0u32;
            let mut next_owner = 2u8;
            for op in ops {
                match op {
                    Op::Post(b) => {
                        let from = end(b);
                        seq += 1;
                        if let Ok(w) = p.post(from, seq) {
                            sides[from.peer().index()].posted_to.push(seq);
                            wakes.extend(w.map(|w| (from.peer(), w)));
                        }
                    }
                    Op::Ship(b) => {
                        if let Some(g) = p.ship(end(b)) {
                            sides[end(b).index()].in_transit = Some(g);
                        }
                    }
                    Op::Receive(b) => {
                        let s = &mut sides[end(b).index()];
                        if let Some(g) = s.in_transit.take() {
                            next_owner += 1;
                            prop_assert_eq!(p.receive(end(b), g, next_owner), !s.closed);
                        }
                    }
                    Op::Start(b) => wakes.extend(p.start(end(b)).map(|w| (end(b), w))),
                    Op::Close(b) => {
                        // At most one end closes (the model's close expectations).
                        if !sides[end(!b).index()].closed {
                            sides[end(b).index()].closed = true;
                            let (_dropped, w) = p.close(end(b));
                            wakes.extend(w.map(|w| (end(!b), w)));
                        }
                    }
                    Op::Deliver(i) => {
                        if !wakes.is_empty() {
                            let (e, w) = wakes.remove(i % wakes.len());
                            deliver(&mut p, w, e, &mut sides);
                        }
                    }
                }
            }
            // Quiesce: receive and start everything, deliver every wake-up.
            for b in [false, true] {
                let e = end(b);
                if let Some(g) = sides[e.index()].in_transit.take() {
                    next_owner += 1;
                    p.receive(e, g, next_owner);
                }
                wakes.extend(p.start(e).map(|w| (e, w)));
            }
            while let Some((e, w)) = wakes.pop() {
                deliver(&mut p, w, e, &mut sides);
            }
            for b in [false, true] {
                let (me, peer) = (&sides[end(b).index()], &sides[end(!b).index()]);
                if me.closed {
                    prop_assert!(me.posted_to.starts_with(&me.received));
                    prop_assert_eq!(me.closes, 0);
                } else {
                    prop_assert_eq!(&me.received, &me.posted_to);
                    prop_assert_eq!(me.closes, usize::from(peer.closed));
                }
            }
        }
    }
}
