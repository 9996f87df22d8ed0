//! Property tests of the RPC state machines of `webmessaging_core::rpc`: the correlation
//! table (every call ends exactly once, answers only end the calls they belong to, ids are
//! never reused, in-flight calls are never resent after a reconnection) and stream credits
//! (never more than the window in flight, every item delivered in order).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use webmessaging_core::rpc::{CallId, CallTable, CreditReceiver, CreditSender, Phase, Start};

#[derive(Debug, Clone)]
enum Op {
    Start,
    Open,
    /// An answer for the n-th id handed out (or a made-up id past them).
    Answer(usize),
    Expire(usize),
    Cancel(usize),
    Disconnect {
        reconnect: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Start),
        2 => Just(Op::Open),
        3 => (0usize..40).prop_map(Op::Answer),
        1 => (0usize..40).prop_map(Op::Expire),
        1 => (0usize..40).prop_map(Op::Cancel),
        1 => any::<bool>().prop_map(|reconnect| Op::Disconnect { reconnect }),
    ]
}

/// What the model says about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Queued,
    InFlight(u32),
    Ended,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_call_ends_exactly_once(ops in proptest::collection::vec(op(), 0..80)) {
        let mut table: CallTable<CallId> = CallTable::new();
        // The waiter is the call's own id, so what comes back says which call ended.
        let mut model: BTreeMap<CallId, State> = BTreeMap::new();
        let mut ids: Vec<CallId> = Vec::new();
        let mut ended: BTreeSet<CallId> = BTreeSet::new();
        let end = |id: CallId, ended: &mut BTreeSet<CallId>| {
            assert!(ended.insert(id), "call {id} ended twice");
        };
        let mut sends: BTreeMap<CallId, u32> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Start => {
                    let next = ids.last().map_or(1, |l| l + 1);
                    match table.start(next) {
                        Start::Send(id) => {
                            prop_assert_eq!(table.phase(), Phase::Open);
                            prop_assert_eq!(id, next);
                            ids.push(id);
                            model.insert(id, State::InFlight(table.epoch()));
                            *sends.entry(id).or_default() += 1;
                        }
                        Start::Queued(id) => {
                            prop_assert_eq!(table.phase(), Phase::Connecting);
                            prop_assert_eq!(id, next);
                            ids.push(id);
                            model.insert(id, State::Queued);
                        }
                        Start::Refused(w) => {
                            prop_assert_eq!(table.phase(), Phase::Closed);
                            prop_assert_eq!(w, next);
                        }
                    }
                }
                Op::Open => {
                    let was_closed = table.phase() == Phase::Closed;
                    let sent = table.opened();
                    let expected: Vec<CallId> = model
                        .iter()
                        .filter(|(_, s)| **s == State::Queued)
                        .map(|(id, _)| *id)
                        .collect();
                    if was_closed {
                        prop_assert!(sent.is_empty());
                    } else {
                        // Queued calls go out once, in the order they were made.
                        prop_assert_eq!(&sent, &expected);
                        for id in sent {
                            model.insert(id, State::InFlight(table.epoch()));
                            *sends.entry(id).or_default() += 1;
                        }
                    }
                }
                Op::Answer(i) => {
                    let id = ids.get(i).copied().unwrap_or(1000 + i as u64);
                    let got = table.answer(id);
                    let expect = matches!(model.get(&id), Some(State::InFlight(e)) if *e == table.epoch());
                    prop_assert_eq!(got.is_some(), expect, "answer for {} in state {:?}", id, model.get(&id));
                    if let Some(w) = got {
                        prop_assert_eq!(w, id);
                        end(id, &mut ended);
                        model.insert(id, State::Ended);
                    }
                }
                Op::Expire(i) | Op::Cancel(i) => {
                    let id = ids.get(i).copied().unwrap_or(1000 + i as u64);
                    let live = matches!(model.get(&id), Some(State::Queued | State::InFlight(_)));
                    let got = if matches!(op, Op::Expire(_)) {
                        table.expire(id)
                    } else {
                        let in_flight = matches!(model.get(&id), Some(State::InFlight(_)));
                        table.cancel(id).map(|(w, told)| {
                            assert_eq!(told, in_flight, "tell the other side only if it was sent");
                            w
                        })
                    };
                    prop_assert_eq!(got.is_some(), live);
                    if let Some(w) = got {
                        prop_assert_eq!(w, id);
                        end(id, &mut ended);
                        model.insert(id, State::Ended);
                    }
                }
                Op::Disconnect { reconnect } => {
                    let closed = table.phase() == Phase::Closed;
                    let out = table.disconnected(reconnect);
                    let expect: Vec<CallId> = if closed {
                        Vec::new()
                    } else {
                        model
                            .iter()
                            .filter(|(_, s)| match s {
                                State::InFlight(_) => true,
                                State::Queued => !reconnect,
                                State::Ended => false,
                            })
                            .map(|(id, _)| *id)
                            .collect()
                    };
                    let got: Vec<CallId> = out.iter().map(|(id, w)| { assert_eq!(id, w); *id }).collect();
                    prop_assert_eq!(&got, &expect);
                    for id in got {
                        end(id, &mut ended);
                        model.insert(id, State::Ended);
                    }
                }
            }
            // The table holds exactly the calls the model says are pending.
            let pending = model.values().filter(|s| **s != State::Ended).count();
            prop_assert_eq!(table.len(), pending);
        }
        // No call is sent twice: a reconnection never resends what was in flight.
        prop_assert!(sends.values().all(|n| *n == 1), "{:?}", sends);
        // Ids were handed out in increasing order, never reused.
        prop_assert!(ids.windows(2).all(|w| w[0] < w[1]));
        // Closing ends whatever is left, and nothing can hang.
        let rest = table.close();
        for (id, _) in rest {
            end(id, &mut ended);
        }
        prop_assert_eq!(ended.len(), ids.len());
        prop_assert!(table.is_empty());
    }

    #[test]
    fn credits_bound_what_is_in_flight(
        window in 1u32..12,
        items in 0usize..60,
        schedule in proptest::collection::vec(0u8..3, 0..400),
    ) {
        let mut tx = CreditSender::new(window);
        let mut rx = CreditReceiver::new(window);
        // The channel between them (FIFO, like a port), for items and for grants.
        let mut wire: std::collections::VecDeque<usize> = Default::default();
        let mut grants: std::collections::VecDeque<u32> = Default::default();
        let mut held: std::collections::VecDeque<usize> = Default::default();
        let (mut produced, mut sent, mut consumed) = (0usize, 0usize, 0usize);
        let steps = schedule.into_iter().chain(std::iter::repeat_n(3, 10_000));
        for s in steps {
            match s {
                // The producer makes an item.
                0 if produced < items => {
                    if tx.offer() {
                        wire.push_back(sent);
                        sent += 1;
                    }
                    produced += 1;
                }
                // A message crosses: an item to the consumer, or a grant to the producer.
                1 | 3 if !wire.is_empty() => {
                    let item = wire.pop_front().unwrap();
                    prop_assert!(rx.received().is_ok(), "item {} sent without credit", item);
                    held.push_back(item);
                }
                2 | 3 if !grants.is_empty() => {
                    let n = grants.pop_front().unwrap();
                    for _ in 0..tx.grant(n) {
                        wire.push_back(sent);
                        sent += 1;
                    }
                }
                // The consumer consumes one item.
                _ if !held.is_empty() => {
                    let item = held.pop_front().unwrap();
                    prop_assert_eq!(item, consumed, "items arrive in order");
                    consumed += 1;
                    if let Some(n) = rx.consumed() {
                        grants.push_back(n);
                    }
                }
                3 if produced < items => {
                    if tx.offer() {
                        wire.push_back(sent);
                        sent += 1;
                    }
                    produced += 1;
                }
                _ => {}
            }
            // Never more than the window in flight or waiting at the consumer.
            prop_assert!(wire.len() + held.len() <= window as usize);
            prop_assert!(tx.credit() + (wire.len() + held.len()) as u32 <= window + grants.iter().sum::<u32>());
        }
        prop_assert_eq!(consumed, items, "every item was delivered");
        prop_assert_eq!(tx.queued(), 0);
    }
}

#[test]
fn a_receiver_refuses_an_overrun_and_caps_requests() {
    let mut rx = CreditReceiver::new(2);
    assert!(rx.received().is_ok());
    assert!(rx.received().is_ok());
    assert!(rx.received().is_err());
    assert_eq!(rx.request(10), 2, "at most the window outstanding");
    assert_eq!(rx.request(1), 0);
}
