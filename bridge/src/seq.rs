//! The bridge's own sequencing, as plain state machines (no actix, no NATS): the
//! sender's window of frames not yet stored ([`Outbox`]) and the receiver's reorder
//! and dedup step ([`Reorder`]).
//!
//! The sender numbers the frames of a direction 1, 2, 3, ... and keeps each until the
//! server says it is stored; a publish that failed or timed out sends it and every
//! later unconfirmed frame again, in order (go-back-N), under the same message id, so
//! JetStream's dedup window drops the copies it already has. What still reaches the
//! receiver twice (a redelivery whose ack was lost, a copy outside the window) or out of
//! order (a frame lost on a dying connection while the next went out on the new one) is
//! put right by [`Reorder`]: below the expected number it is a duplicate, at it it is
//! delivered with every held successor, above it it waits.

use std::collections::{BTreeMap, VecDeque};

/// The sender's frames not yet confirmed stored, oldest first, and how many of them are
/// in flight.
#[derive(Debug)]
pub struct Outbox<P> {
    next_seq: u64,
    unconfirmed: VecDeque<(u64, P)>,
    /// How many of `unconfirmed` (from the front) were sent since the last rewind.
    sent: usize,
}

impl<P> Outbox<P> {
    /// An empty outbox whose first frame gets `first_seq` (1 for a new direction, one
    /// past the last stored frame for a restarted sender).
    pub fn new(first_seq: u64) -> Outbox<P> {
        Outbox {
            next_seq: first_seq.max(1),
            unconfirmed: VecDeque::new(),
            sent: 0,
        }
    }

    /// Queues a frame and returns its sequence number.
    pub fn push(&mut self, payload: P) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.unconfirmed.push_back((seq, payload));
        seq
    }

    /// The next frame to send (and counts it as sent), if any is queued and unsent.
    pub fn next_to_send(&mut self) -> Option<(u64, &P)> {
        let (seq, p) = self.unconfirmed.get(self.sent)?;
        self.sent += 1;
        Some((*seq, p))
    }

    /// The server confirmed `seq` stored. Confirmations come oldest first (the sender
    /// awaits them in order): anything but the oldest sent frame is ignored (`false`).
    pub fn confirm(&mut self, seq: u64) -> bool {
        match self.unconfirmed.front() {
            Some((front, _)) if *front == seq && self.sent > 0 => {
                self.unconfirmed.pop_front();
                self.sent -= 1;
                true
            }
            _ => false,
        }
    }

    /// A publish failed: every unconfirmed frame will be sent again, oldest first.
    /// Returns how many were in flight.
    pub fn rewind(&mut self) -> usize {
        std::mem::take(&mut self.sent)
    }

    /// Frames sent and not yet confirmed.
    pub fn in_flight(&self) -> usize {
        self.sent
    }

    /// Frames not confirmed (sent or not).
    pub fn unconfirmed(&self) -> usize {
        self.unconfirmed.len()
    }

    /// The number the next pushed frame will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

/// What [`Reorder::receive`] did with an arrival.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<T> {
    /// These, in order (the arrival and the held frames it unblocked): deliver them.
    Deliver(Vec<(u64, T)>),
    /// Already delivered or superseded by a newer copy: acknowledge it and drop it.
    Duplicate(T),
    /// Ahead of a gap: held until the gap fills.
    Held,
    /// Ahead of a gap with the hold full: not taken (leave it unacknowledged, so the
    /// server delivers it again later).
    Refused(T),
}

/// The receiver's cursor over one direction: delivers each sequence number once, in
/// order, whatever order and how many times the frames arrive.
#[derive(Debug)]
pub struct Reorder<T> {
    /// The next number to deliver; `None` until the first arrival (a broadcast sender
    /// first heard of mid-stream).
    expected: Option<u64>,
    held: BTreeMap<u64, T>,
    limit: usize,
}

impl<T> Reorder<T> {
    /// A cursor expecting `expected` next (`None`: whatever arrives first), holding at
    /// most `limit` frames ahead of a gap.
    pub fn new(expected: Option<u64>, limit: usize) -> Reorder<T> {
        Reorder {
            expected,
            held: BTreeMap::new(),
            limit: limit.max(1),
        }
    }

    /// The next number to deliver, once known.
    pub fn expected(&self) -> Option<u64> {
        self.expected
    }

    /// How many frames wait ahead of a gap.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// One arrival of frame `seq`.
    pub fn receive(&mut self, seq: u64, item: T) -> Received<T> {
        let expected = *self.expected.get_or_insert(seq);
        if seq < expected {
            return Received::Duplicate(item);
        }
        if seq > expected {
            if let Some(old) = self.held.insert(seq, item) {
                return Received::Duplicate(old);
            }
            if self.held.len() > self.limit {
                let refused = self.held.remove(&seq);
                return refused.map_or(Received::Held, Received::Refused);
            }
            return Received::Held;
        }
        let mut out = vec![(seq, item)];
        let mut next = seq + 1;
        while let Some(item) = self.held.remove(&next) {
            out.push((next, item));
            next += 1;
        }
        self.expected = Some(next);
        Received::Deliver(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reorder_delivers_in_order_and_drops_copies() {
        let mut r = Reorder::new(Some(1), 8);
        assert_eq!(r.receive(2, 'b'), Received::Held);
        assert_eq!(r.receive(2, 'B'), Received::Duplicate('b'));
        assert_eq!(
            r.receive(1, 'a'),
            Received::Deliver(vec![(1, 'a'), (2, 'B')])
        );
        assert_eq!(r.receive(1, 'x'), Received::Duplicate('x'));
        assert_eq!(r.expected(), Some(3));
        assert_eq!(r.held(), 0);
    }

    #[test]
    fn a_full_hold_refuses_and_a_lazy_cursor_starts_at_the_first_arrival() {
        let mut r = Reorder::new(Some(1), 2);
        assert_eq!(r.receive(3, 3), Received::Held);
        assert_eq!(r.receive(4, 4), Received::Held);
        assert_eq!(r.receive(5, 5), Received::Refused(5));
        assert_eq!(r.held(), 2);
        let mut lazy = Reorder::new(None, 2);
        assert_eq!(lazy.receive(40, ()), Received::Deliver(vec![(40, ())]));
        assert_eq!(lazy.expected(), Some(41));
    }

    #[test]
    fn outbox_goes_back_to_the_oldest_unconfirmed() {
        let mut o = Outbox::new(1);
        for c in ['a', 'b', 'c'] {
            o.push(c);
        }
        assert_eq!(o.next_to_send(), Some((1, &'a')));
        assert_eq!(o.next_to_send(), Some((2, &'b')));
        assert!(!o.confirm(2), "only the oldest sent frame can be confirmed");
        assert!(o.confirm(1));
        assert_eq!(o.rewind(), 1);
        assert_eq!(o.next_to_send(), Some((2, &'b')));
        assert_eq!(o.next_to_send(), Some((3, &'c')));
        assert_eq!(o.next_to_send(), None);
        assert!(o.confirm(2) && o.confirm(3));
        assert_eq!((o.unconfirmed(), o.in_flight(), o.next_seq()), (0, 0, 4));
    }

    /// One step of the simulated network between an outbox and a reorder cursor.
    #[derive(Clone, Debug)]
    enum Step {
        /// Push a new frame.
        Push,
        /// Send up to n frames; each may be lost before the store, stored with its ack
        /// lost, or stored and confirmed.
        Send(u8, Vec<u8>),
        /// Deliver the stored frame at this index (mod len) to the receiver again
        /// (a redelivery: a duplicate, or a late one).
        Redeliver(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => Just(Step::Push),
            3 => (1u8..6, proptest::collection::vec(0u8..10, 6)).prop_map(|(n, f)| Step::Send(n, f)),
            1 => any::<usize>().prop_map(Step::Redeliver),
        ]
    }

    proptest! {
        /// Whatever is lost, duplicated or reordered on the way, and however the
        /// confirmations fail, once the network heals the receiver has delivered every
        /// pushed frame exactly once, in order.
        #[test]
        fn exactly_once_in_order_over_a_faulty_network(steps in proptest::collection::vec(step(), 1..120)) {
            let mut outbox = Outbox::new(1);
            let mut store: Vec<u64> = Vec::new();
            let mut stored = std::collections::HashSet::new();
            let mut reorder = Reorder::new(Some(1), 1000);
            let mut delivered: Vec<u64> = Vec::new();
            let mut pushed = 0u64;
            let arrive = |seq: u64, reorder: &mut Reorder<u64>, delivered: &mut Vec<u64>| {
                if let Received::Deliver(items) = reorder.receive(seq, seq) {
                    delivered.extend(items.into_iter().map(|(s, _)| s));
                }
            };
            for s in steps {
                match s {
                    Step::Push => { pushed += 1; let seq = outbox.push(pushed); prop_assert_eq!(seq, pushed); }
                    Step::Send(n, fates) => {
                        let mut sent = Vec::new();
                        for _ in 0..n {
                            match outbox.next_to_send() { Some((seq, _)) => sent.push(seq), None => break }
                        }
                        let mut failed = false;
                        for (i, seq) in sent.into_iter().enumerate() {
                            let fate = fates[i % fates.len()];
                            if fate < 2 { failed = true; continue } // lost before the store
                            if stored.insert(seq) { store.push(seq); arrive(seq, &mut reorder, &mut delivered); }
                            if fate < 4 || failed { failed = true; continue } // ack lost
                            prop_assert!(outbox.confirm(seq));
                        }
                        if failed { outbox.rewind(); }
                    }
                    Step::Redeliver(i) => if !store.is_empty() { arrive(store[i % store.len()], &mut reorder, &mut delivered) },
                }
            }
            // The network heals: the sender sends until everything is confirmed.
            outbox.rewind();
            while let Some((seq, _)) = outbox.next_to_send() {
                if stored.insert(seq) { store.push(seq); arrive(seq, &mut reorder, &mut delivered); }
                prop_assert!(outbox.confirm(seq));
            }
            prop_assert_eq!(outbox.unconfirmed(), 0);
            let want: Vec<u64> = (1..=pushed).collect();
            prop_assert_eq!(delivered, want);
            prop_assert_eq!(reorder.held(), 0);
        }
    }
}
