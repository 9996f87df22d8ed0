//! One incarnation of one end of a shipped channel: its send half (sequence numbers and
//! the messages kept until acked) and its receive half (the next sequence number it
//! expects, what waits to be dispatched, the dispatch cursor).

use std::collections::{BTreeMap, VecDeque};

use super::{after, Body, Effect, Envelope, Location};
use crate::port_queue::End;

/// One end of a shipped channel at its current owner (one incarnation).
#[derive(Debug)]
pub struct PortEnd<A, M> {
    end: End,
    epoch: u64,
    me: A,
    /// Where the peer lives, as far as this incarnation knows.
    peer: Location<A>,
    /// The next sequence number to send.
    next_seq: u64,
    /// Sent and not acked yet, in order.
    unacked: VecDeque<Envelope<M>>,
    /// `close()` was called (here or in an earlier incarnation): nothing more is sent.
    closed: bool,
    /// The next sequence number to accept from the peer.
    expected: u64,
    /// Accepted in order, not dispatched yet.
    queue: VecDeque<Envelope<M>>,
    /// Arrived ahead of `expected` (a resend overtook by a newer link, say).
    held: BTreeMap<u64, Body<M>>,
    /// The last sequence number dispatched.
    dispatched: Option<u64>,
    /// The last sequence number acked to the peer.
    acked: Option<u64>,
    /// The port message queue is enabled (`start()`).
    enabled: bool,
    /// The peer's `Close` was dispatched: the channel is over.
    peer_closed: bool,
    /// The peer's `Close` was accepted (it may wait to be dispatched): the peer will
    /// dispatch nothing more, so nothing is kept for it or sent to it any more.
    peer_closing: bool,
}

/// An end in transit: what the data holder of a transferred port carries (step 2).
#[derive(Debug)]
pub struct ShippedEnd<A, M> {
    end: End,
    epoch: u64,
    peer: Location<A>,
    next_seq: u64,
    unacked: VecDeque<Envelope<M>>,
    closed: bool,
    dispatched: Option<u64>,
    peer_closed: bool,
    peer_closing: bool,
}

impl<A: Clone + PartialEq, M: Clone> PortEnd<A, M> {
    /// The first incarnation of `end` at `me`, entangled with `peer` (both made by one
    /// `MessageChannel`, epoch 0 each). Its queue is disabled.
    pub fn new(end: End, me: A, peer: A) -> Self {
        PortEnd {
            end,
            epoch: 0,
            me,
            peer: Location {
                addr: peer,
                epoch: 0,
                resume_after: None,
            },
            next_seq: 0,
            unacked: VecDeque::new(),
            closed: false,
            expected: 0,
            queue: VecDeque::new(),
            held: BTreeMap::new(),
            dispatched: None,
            acked: None,
            enabled: false,
            peer_closed: false,
            peer_closing: false,
        }
    }

    /// Which end this is.
    pub fn end(&self) -> End {
        self.end
    }

    /// This incarnation's epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Where this incarnation lives.
    pub fn location(&self) -> Location<A> {
        Location {
            addr: self.me.clone(),
            epoch: self.epoch,
            resume_after: self.dispatched,
        }
    }

    /// How many sent messages wait for the peer's ack.
    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }

    /// The messages sent and not acked yet, oldest first (a bounded queue's drop-oldest
    /// policy empties the oldest of them that was not dispatched).
    pub fn unacked_messages(&self) -> impl Iterator<Item = &M> {
        self.unacked.iter().filter_map(|e| match &e.body {
            Body::Message(m) => Some(m),
            Body::Close => None,
        })
    }

    /// How many delivered tasks wait for dispatch.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether the peer's `Close` was dispatched here (nothing more will arrive).
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Step 1: sends `message` to the peer; it is kept until acked. Nothing is sent
    /// after `close()` or once the peer's `Close` was dispatched (the channel is over).
    pub fn post(&mut self, message: M) -> Option<Effect<A, M>> {
        self.send(Body::Message(message))
    }

    /// Step 7: `close()`: an in-band, numbered `Close` after everything sent before.
    pub fn close(&mut self) -> Option<Effect<A, M>> {
        let e = self.send(Body::Close);
        self.closed = true;
        e
    }

    fn send(&mut self, body: Body<M>) -> Option<Effect<A, M>> {
        let (to, env) = self.send_one(body)?;
        Some(Effect::Deliver {
            to,
            end: self.end.peer(),
            envelopes: vec![env],
        })
    }

    /// [`post`](Self::post) without the `Vec` of an [`Effect`]: the peer's address and
    /// the one envelope to deliver there (for a runtime that batches envelopes itself).
    pub fn post_one(&mut self, message: M) -> Option<(A, Envelope<M>)> {
        self.send_one(Body::Message(message))
    }

    fn send_one(&mut self, body: Body<M>) -> Option<(A, Envelope<M>)> {
        if self.closed || self.peer_closed || self.peer_closing {
            return None;
        }
        let env = Envelope {
            seq: self.next_seq,
            body,
        };
        self.next_seq += 1;
        self.unacked.push_back(env.clone());
        Some((self.peer.addr.clone(), env))
    }

    /// Envelopes from the peer: each sequence number is accepted once, in order; one seen
    /// before is dropped, one ahead of the next expected waits for the gap to fill.
    pub fn on_deliver(&mut self, envelopes: Vec<Envelope<M>>) {
        // The common case of a batch: the next messages in order, none held, none a
        // `Close`, nothing waiting: the batch becomes the queue as it is (no copy).
        let in_order = !self.closed
            && self.queue.is_empty()
            && self.held.is_empty()
            && envelopes
                .iter()
                .enumerate()
                .all(|(i, e)| e.seq == self.expected + i as u64 && !matches!(e.body, Body::Close));
        if in_order {
            self.expected += envelopes.len() as u64;
            self.queue = VecDeque::from(envelopes);
            return;
        }
        for env in envelopes {
            self.on_deliver_one(env);
        }
    }

    /// [`on_deliver`](Self::on_deliver) for one envelope.
    pub fn on_deliver_one(&mut self, env: Envelope<M>) {
        if self.closed {
            // A closed port dispatches nothing more.
            return;
        }
        if env.seq < self.expected {
            return;
        }
        if env.seq > self.expected {
            self.held.entry(env.seq).or_insert(env.body);
            return;
        }
        self.accept(env);
        while let Some(body) = self.held.remove(&self.expected) {
            let seq = self.expected;
            self.accept(Envelope { seq, body });
        }
    }

    fn accept(&mut self, env: Envelope<M>) {
        if matches!(env.body, Body::Close) {
            // The peer closed: it will dispatch nothing of ours.
            self.peer_closing = true;
            self.unacked.clear();
        }
        self.queue.push_back(env);
        self.expected += 1;
    }

    /// The channel is lost (the peer was posted through its own channel): nothing more
    /// is sent, dispatched or kept, and no `close` fires here.
    pub fn lose(&mut self) {
        self.closed = true;
        self.peer_closed = true;
        self.unacked.clear();
        self.queue.clear();
        self.held.clear();
    }

    /// Whether `close()` was called on this end.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the channel is still entangled: neither end closed, as far as this end
    /// knows.
    pub fn is_entangled(&self) -> bool {
        !self.closed && !self.peer_closed && !self.peer_closing
    }

    /// Whether the queue is enabled and a task waits in it.
    pub fn has_task(&self) -> bool {
        self.enabled && !self.closed && !self.peer_closed && !self.queue.is_empty()
    }

    /// `start()`: enables the port message queue.
    pub fn start(&mut self) {
        self.enabled = true;
    }

    /// The next task of the port message queue, if it is enabled: the body to fire
    /// (`message` or `close`). After a `Close`, nothing more is sent or dispatched.
    pub fn next_dispatch(&mut self) -> Option<Body<M>> {
        if !self.enabled || self.closed || self.peer_closed {
            return None;
        }
        let env = self.queue.pop_front()?;
        self.dispatched = Some(env.seq);
        if matches!(env.body, Body::Close) {
            self.peer_closed = true;
            self.unacked.clear();
            self.queue.clear();
            self.held.clear();
        }
        Some(env.body)
    }

    /// Step 1: a cumulative ack for what was dispatched since the last one, if anything
    /// was (the runtime calls this after a batch of dispatches, or when idle).
    pub fn ack(&mut self) -> Option<Effect<A, M>> {
        if self.dispatched.is_none() || self.dispatched == self.acked {
            return None;
        }
        self.acked = self.dispatched;
        Some(Effect::Ack {
            to: self.peer.addr.clone(),
            end: self.end.peer(),
            upto: self.dispatched?,
        })
    }

    /// The peer dispatched everything up to `upto`: those messages are dropped here.
    pub fn on_ack(&mut self, upto: u64) {
        while self.unacked.front().is_some_and(|e| e.seq <= upto) {
            self.unacked.pop_front();
        }
    }

    /// Step 6: the peer lives at `peer` now. If that is a newer incarnation than the one
    /// known, the address is swapped, every unacked message after its resume point is
    /// sent again in order, and what was dispatched here is acked to it.
    pub fn on_peer_moved(&mut self, peer: Location<A>) -> Vec<Effect<A, M>> {
        if peer.epoch <= self.peer.epoch {
            return Vec::new();
        }
        let resume = peer.resume_after;
        self.peer = peer;
        let mut out = Vec::new();
        let resend: Vec<Envelope<M>> = self
            .unacked
            .iter()
            .filter(|e| after(e.seq, resume))
            .cloned()
            .collect();
        if !resend.is_empty() {
            out.push(Effect::Deliver {
                to: self.peer.addr.clone(),
                end: self.end.peer(),
                envelopes: resend,
            });
        }
        if let Some(upto) = self.dispatched {
            self.acked = Some(upto);
            out.push(Effect::Ack {
                to: self.peer.addr.clone(),
                end: self.end.peer(),
                upto,
            });
        }
        out
    }

    /// Step 2: the transfer steps: this incarnation stops; what the next one needs goes
    /// into the data holder. What was accepted and not dispatched stays behind: the peer
    /// still holds it unacked and sends it again to the next incarnation.
    pub fn ship(self) -> ShippedEnd<A, M> {
        ShippedEnd {
            end: self.end,
            epoch: self.epoch + 1,
            peer: self.peer,
            next_seq: self.next_seq,
            unacked: self.unacked,
            closed: self.closed,
            dispatched: self.dispatched,
            peer_closed: self.peer_closed,
            peer_closing: self.peer_closing,
        }
    }

    /// Step 7: the owner is torn down (closed, crashed, terminated): the end closes in
    /// band, and its unacked messages with the `Close` are returned for the directory
    /// ([`Directory::orphan`](super::Directory::orphan)), which delivers them to the
    /// peer wherever it lives next.
    pub fn orphan(mut self) -> Vec<Envelope<M>> {
        self.close();
        self.unacked.into()
    }
}

impl<A: Clone + PartialEq, M: Clone> ShippedEnd<A, M> {
    /// Which end this is.
    pub fn end(&self) -> End {
        self.end
    }

    /// The epoch the next incarnation gets.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Step 4: the transfer-receiving steps at the new owner `me`: the next incarnation,
    /// its queue disabled, expecting the message after the dispatch cursor; and its
    /// registration for the directory.
    pub fn receive(self, me: A) -> (PortEnd<A, M>, Effect<A, M>) {
        let expected = self.dispatched.map_or(0, |d| d + 1);
        let port = PortEnd {
            end: self.end,
            epoch: self.epoch,
            me,
            peer: self.peer,
            next_seq: self.next_seq,
            unacked: self.unacked,
            closed: self.closed,
            expected,
            queue: VecDeque::new(),
            held: BTreeMap::new(),
            dispatched: self.dispatched,
            // The cursor is acked again from here: the previous incarnation's ack may
            // have gone to an address the peer has left.
            acked: None,
            enabled: false,
            peer_closed: self.peer_closed,
            peer_closing: self.peer_closing,
        };
        let register = Effect::Register {
            end: port.end,
            location: port.location(),
        };
        (port, register)
    }

    /// Step 3: the message carrying this end was discarded (never received): the end
    /// closes in band; its unacked messages and the `Close` are returned for the
    /// directory to deliver to the peer.
    pub fn discard(self) -> Vec<Envelope<M>> {
        let mut unacked = self.unacked;
        if !self.closed && !self.peer_closed && !self.peer_closing {
            unacked.push_back(Envelope {
                seq: self.next_seq,
                body: Body::Close,
            });
        }
        unacked.into()
    }
}
