//! The protocol over a simulated network: packets between incarnations arrive in any
//! order except FIFO per (sender, receiver) pair (as actix mailboxes are), whatever is
//! addressed to a stopped incarnation is lost, and the test interleaves posts,
//! dispatches, transfers (both ends at once too), discarded transfers, closes and owners
//! going away. Checked: each end dispatches exactly what its peer sent, once, in order,
//! `close` last and only when due.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

type A = u32;
/// The directory's address.
const DIR: A = 0;

#[derive(Debug)]
enum Payload {
    Deliver(End, Vec<Envelope<u32>>),
    Ack(End, u64),
    PeerMoved(End, Location<A>),
    Register(End, Location<A>),
}

#[derive(Debug)]
struct Packet {
    from: A,
    to: A,
    payload: Payload,
}

#[derive(Debug, Clone)]
enum Op {
    Post(usize),
    Dispatch(usize, u8),
    Ship(usize),
    Receive(usize),
    Discard(usize),
    Close(usize),
    Crash(usize),
    Net(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0usize..2).prop_map(Op::Post),
        4 => (0usize..2, 1u8..4).prop_map(|(e, n)| Op::Dispatch(e, n)),
        2 => (0usize..2).prop_map(Op::Ship),
        2 => (0usize..4).prop_map(Op::Receive),
        1 => (0usize..4).prop_map(Op::Discard),
        1 => (0usize..2).prop_map(Op::Close),
        1 => (0usize..2).prop_map(Op::Crash),
        10 => (0usize..64).prop_map(Op::Net),
    ]
}

fn end_of(i: usize) -> End {
    if i == 0 {
        End::First
    } else {
        End::Second
    }
}

struct Sim {
    alive: HashMap<A, PortEnd<A, u32>>,
    current: [Option<A>; 2],
    holders: Vec<ShippedEnd<A, u32>>,
    net: Vec<Packet>,
    dir: Directory<A, u32>,
    next_addr: A,
    sent: [Vec<u32>; 2],
    got: [Vec<Body<u32>>; 2],
    /// The end was closed, crashed or discarded: no more posts or dispatches.
    gone: [bool; 2],
}

impl Sim {
    fn new() -> Sim {
        let (a, b) = (1, 2);
        let mut alive = HashMap::new();
        alive.insert(a, PortEnd::new(End::First, a, b));
        alive.insert(b, PortEnd::new(End::Second, b, a));
        Sim {
            alive,
            current: [Some(a), Some(b)],
            holders: Vec::new(),
            net: Vec::new(),
            dir: Directory::new(a, b),
            next_addr: 3,
            sent: [Vec::new(), Vec::new()],
            got: [Vec::new(), Vec::new()],
            gone: [false, false],
        }
    }

    fn apply(&mut self, from: A, effects: impl IntoIterator<Item = Effect<A, u32>>) {
        for e in effects {
            let (to, payload) = match e {
                Effect::Deliver { to, end, envelopes } => (to, Payload::Deliver(end, envelopes)),
                Effect::Ack { to, end, upto } => (to, Payload::Ack(end, upto)),
                Effect::PeerMoved { to, end, peer } => (to, Payload::PeerMoved(end, peer)),
                Effect::Register { end, location } => (DIR, Payload::Register(end, location)),
            };
            self.net.push(Packet { from, to, payload });
        }
    }

    /// The indexes of packets that are first in line for their (sender, receiver) pair.
    fn deliverable(&self) -> Vec<usize> {
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for (i, p) in self.net.iter().enumerate() {
            if !seen.contains(&(p.from, p.to)) {
                seen.push((p.from, p.to));
                out.push(i);
            }
        }
        out
    }

    fn deliver(&mut self, k: usize) {
        let d = self.deliverable();
        if d.is_empty() {
            return;
        }
        let p = self.net.remove(d[k % d.len()]);
        if p.to == DIR {
            if let Payload::Register(end, loc) = p.payload {
                let out = self.dir.register(end, loc);
                self.apply(DIR, out);
            }
            return;
        }
        // Lost if that incarnation stopped.
        let Some(port) = self.alive.get_mut(&p.to) else {
            return;
        };
        let out = match p.payload {
            Payload::Deliver(end, envs) => {
                assert_eq!(end, port.end());
                port.on_deliver(envs);
                Vec::new()
            }
            Payload::Ack(end, upto) => {
                assert_eq!(end, port.end());
                port.on_ack(upto);
                Vec::new()
            }
            Payload::PeerMoved(end, loc) => {
                assert_eq!(end, port.end());
                port.on_peer_moved(loc)
            }
            Payload::Register(..) => unreachable!("only the directory gets registrations"),
        };
        self.apply(p.to, out);
    }

    fn port(&mut self, e: usize) -> Option<(A, &mut PortEnd<A, u32>)> {
        let a = self.current[e]?;
        self.alive.get_mut(&a).map(|p| (a, p))
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Post(e) if !self.gone[e] => {
                let n = self.sent[e].len() as u32;
                if let Some((a, p)) = self.port(e) {
                    let out = p.post(n);
                    if out.is_some() {
                        self.sent[e].push(n);
                    }
                    self.apply(a, out);
                }
            }
            Op::Dispatch(e, n) if !self.gone[e] => self.dispatch(e, n as usize),
            Op::Ship(e) => {
                if let Some(a) = self.current[e].take() {
                    let p = self.alive.remove(&a).expect("current is alive");
                    self.holders.push(p.ship());
                }
            }
            Op::Receive(i) if !self.holders.is_empty() => {
                let h = self.holders.remove(i % self.holders.len());
                let (e, addr) = (h.end().index(), self.next_addr);
                self.next_addr += 1;
                let (port, register) = h.receive(addr);
                self.alive.insert(addr, port);
                self.current[e] = Some(addr);
                self.apply(addr, [register]);
            }
            Op::Discard(i) if !self.holders.is_empty() => {
                let h = self.holders.remove(i % self.holders.len());
                let end = h.end();
                self.gone[end.index()] = true;
                let out = self.dir.orphan(end, h.discard());
                self.apply(DIR, out);
            }
            Op::Close(e) if !self.gone[e] => {
                if let Some((a, p)) = self.port(e) {
                    let out = p.close();
                    self.gone[e] = true;
                    self.apply(a, out);
                }
            }
            Op::Crash(e) => {
                if let Some(a) = self.current[e].take() {
                    let p = self.alive.remove(&a).expect("current is alive");
                    self.gone[e] = true;
                    let out = self.dir.orphan(end_of(e), p.orphan());
                    self.apply(DIR, out);
                }
            }
            Op::Net(k) => self.deliver(k),
            _ => {}
        }
    }

    fn dispatch(&mut self, e: usize, n: usize) {
        let Some((a, p)) = self.port(e) else { return };
        p.start();
        let mut got = Vec::new();
        while got.len() < n {
            match p.next_dispatch() {
                Some(b) => got.push(b),
                None => break,
            }
        }
        let ack = p.ack();
        self.got[e].extend(got);
        self.apply(a, ack);
    }

    /// Everything in flight arrives, every transfer is received, every open end is
    /// started and dispatches, until nothing moves.
    fn quiesce(&mut self) {
        for _ in 0..10_000 {
            let before = (self.got[0].len(), self.got[1].len());
            while !self.net.is_empty() {
                self.deliver(0);
            }
            while !self.holders.is_empty() {
                self.step(&Op::Receive(0));
            }
            for e in 0..2 {
                if !self.gone[e] {
                    self.dispatch(e, usize::MAX);
                }
            }
            if self.net.is_empty() && (self.got[0].len(), self.got[1].len()) == before {
                return;
            }
        }
        panic!("the protocol does not settle");
    }

    fn check(&self) {
        for r in 0..2 {
            let s = 1 - r;
            let got = &self.got[r];
            let closes = got.iter().filter(|b| **b == Body::Close).count();
            assert!(closes <= 1, "end {r}: {closes} closes: {got:?}");
            if closes == 1 {
                assert_eq!(got.last(), Some(&Body::Close), "end {r}: close is last");
            }
            let msgs: Vec<u32> = got
                .iter()
                .filter_map(|b| match b {
                    Body::Message(m) => Some(*m),
                    Body::Close => None,
                })
                .collect();
            let sent = &self.sent[s];
            assert!(
                msgs.len() <= sent.len() && msgs[..] == sent[..msgs.len()],
                "end {r} dispatched {msgs:?}, its peer sent {sent:?}"
            );
            if !self.gone[r] {
                assert_eq!(&msgs, sent, "end {r} is open: it got everything");
                assert_eq!(
                    closes == 1,
                    self.gone[s],
                    "end {r}: close iff the peer went"
                );
            }
            // Acks reach wherever the sender lives: an open end whose peer is open keeps
            // nothing.
            if !self.gone[r] && !self.gone[s] {
                let a = self.current[s].expect("received at quiescence");
                assert_eq!(
                    self.alive[&a].unacked(),
                    0,
                    "end {s} still holds sent messages"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(2000)
    ))]

    /// Exactly once, in order, `close` last and only when due, whatever moves and when.
    #[test]
    fn every_message_once_in_order_across_moves(ops in proptest::collection::vec(op(), 0..120)) {
        let mut sim = Sim::new();
        for o in &ops {
            sim.step(o);
        }
        sim.quiesce();
        sim.check();
    }
}

#[test]
fn both_ends_moving_at_once_converge() {
    let mut sim = Sim::new();
    for o in [
        Op::Post(0),
        Op::Post(1),
        Op::Ship(0),
        Op::Ship(1),
        Op::Post(0), // nobody: the end is in transit
        Op::Receive(0),
        Op::Receive(0),
        Op::Post(0),
        Op::Post(1),
    ] {
        sim.step(&o);
    }
    sim.quiesce();
    sim.check();
    assert_eq!(sim.got[0], [Body::Message(0), Body::Message(1)]);
    assert_eq!(sim.got[1], [Body::Message(0), Body::Message(1)]);
}

#[test]
fn a_discarded_transfer_closes_after_what_was_sent() {
    let mut sim = Sim::new();
    for o in [Op::Post(0), Op::Post(0), Op::Ship(0), Op::Discard(0)] {
        sim.step(&o);
    }
    sim.quiesce();
    sim.check();
    assert_eq!(
        sim.got[1],
        [Body::Message(0), Body::Message(1), Body::Close]
    );
}

#[test]
fn an_owner_gone_mid_move_of_its_peer_still_delivers() {
    let mut sim = Sim::new();
    // End 1 moves; end 0 sends to its old address, which drops it; then end 0's owner
    // goes away before learning the new address.
    for o in [
        Op::Ship(1),
        Op::Post(0),
        Op::Net(0),
        Op::Crash(0),
        Op::Receive(0),
    ] {
        sim.step(&o);
    }
    sim.quiesce();
    sim.check();
    assert_eq!(sim.got[1], [Body::Message(0), Body::Close]);
}

#[test]
fn a_stale_registration_is_ignored() {
    let mut d: Directory<A, u32> = Directory::new(1, 2);
    let at = |addr, epoch| Location {
        addr,
        epoch,
        resume_after: None,
    };
    assert_eq!(d.register(End::First, at(5, 2)).len(), 2);
    assert!(d.register(End::First, at(4, 1)).is_empty());
    assert_eq!(d.location(End::First).addr, 5);
}
