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
//!
//! A sender that dies can leave a hole: frame n lost with its connection, n + 1 stored on
//! the new one, and the process gone before n was resent. Its next incarnation finds the
//! hole ([`resume_point`]) and says so in band: a resume frame numbered one past the
//! highest frame stored, declaring void every number after the last one with no hole
//! below it. [`Reorder::skip`] takes that declaration: the receiver gets a prefix of what
//! the dead sender posted, then what its successor posts (a crash truncates, it does not
//! punch holes).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

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
    /// Already delivered: acknowledge it and drop it.
    Duplicate(T),
    /// Declared void by a restarted sender ([`Reorder::skip`]): acknowledge it and drop it.
    Void(T),
    /// Ahead of a gap: held until the gap fills (a copy of a frame already held replaces
    /// it, so what is eventually acknowledged is the newest delivery; the older is dropped
    /// unacknowledged: nothing held is acknowledged before it is delivered).
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
    /// Void ranges declared by restarted senders: first void number -> the resume
    /// frame's number (the first one after the range).
    skips: BTreeMap<u64, u64>,
    limit: usize,
}

impl<T> Reorder<T> {
    /// A cursor expecting `expected` next (`None`: whatever arrives first), holding at
    /// most `limit` frames ahead of a gap.
    pub fn new(expected: Option<u64>, limit: usize) -> Reorder<T> {
        Reorder {
            expected,
            held: BTreeMap::new(),
            skips: BTreeMap::new(),
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
        if self.is_void(seq) {
            return Received::Void(item);
        }
        if seq > expected {
            if self.held.insert(seq, item).is_some() {
                // The older copy is dropped unacknowledged; the newer is kept.
                return Received::Held;
            }
            if self.held.len() > self.limit {
                let refused = self.held.remove(&seq);
                return refused.map_or(Received::Held, Received::Refused);
            }
            return Received::Held;
        }
        let mut out = vec![(seq, item)];
        let mut next = seq + 1;
        loop {
            // Step 1: a void range starting here is passed over, to its resume frame.
            if let Some(to) = self.skips.remove(&next) {
                next = to;
                continue;
            }
            // Step 2: a held successor is delivered.
            match self.held.remove(&next) {
                Some(item) => {
                    out.push((next, item));
                    next += 1;
                }
                None => break,
            }
        }
        self.expected = Some(next);
        Received::Deliver(out)
    }

    fn is_void(&self, seq: u64) -> bool {
        self.skips
            .range(..=seq)
            .next_back()
            .is_some_and(|(_, to)| seq < *to)
    }

    /// A restarted sender's resume frame, numbered `resume`, declares void every number
    /// after `after` and before `resume` (its predecessor died with a hole in them).
    /// Returns the held frames it voids (acknowledge and drop them). Call it before
    /// passing the resume frame itself to [`receive`](Reorder::receive).
    ///
    /// What was already delivered stays delivered: the range starts no lower than the
    /// next expected number, and a resume frame already passed changes nothing.
    pub fn skip(&mut self, after: u64, resume: u64) -> Vec<(u64, T)> {
        // Step 1: the range still ahead of the cursor (a lazy cursor starts at the
        // resume frame itself).
        let expected = *self.expected.get_or_insert(resume);
        let from = after.saturating_add(1).max(expected);
        if from >= resume || self.is_void(from) {
            return Vec::new();
        }
        // Step 2: remember it; the cursor passes over it once it reaches `from`.
        self.skips.insert(from, resume);
        // Step 3: what is held inside it will never be delivered.
        let voided: Vec<u64> = self.held.range(from..resume).map(|(s, _)| *s).collect();
        let out = voided
            .into_iter()
            .filter_map(|s| self.held.remove(&s).map(|item| (s, item)))
            .collect();
        if from == expected {
            self.skips.remove(&from);
            self.expected = Some(resume);
        }
        out
    }
}

/// Where a restarted sender continues a direction ([`resume_point`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResumePoint {
    /// The number its first frame gets: one past the highest number stored.
    pub next_seq: u64,
    /// `Some(k)`: the store has a hole after `k` (a predecessor died before a frame was
    /// stored, with later ones stored); the first frame must be a resume frame declaring
    /// `k + 1 .. next_seq` void.
    pub void_after: Option<u64>,
}

/// What a restarted sender derives from the receiver's durable cursor (`delivered`: the
/// highest number delivered in order, 0 for none) and the frames of its direction the
/// receiver has not acknowledged (`stored`: each frame's number and, for a resume frame,
/// the number its void range starts after), in any order.
///
/// Every frame acknowledged is at or below the cursor (the receiver writes the cursor
/// before it acknowledges), so the highest number stored is the larger of the cursor
/// and the highest unacknowledged frame, and a hole can only lie above the cursor.
pub fn resume_point(
    delivered: u64,
    stored: impl IntoIterator<Item = (u64, Option<u64>)>,
) -> ResumePoint {
    let mut seqs = BTreeSet::new();
    let mut voids: BTreeMap<u64, u64> = BTreeMap::new();
    for (seq, resume_after) in stored {
        seqs.insert(seq);
        if let Some(after) = resume_after {
            let to = voids.entry(after.saturating_add(1)).or_insert(seq);
            *to = (*to).max(seq);
        }
    }
    let highest = seqs.last().copied().unwrap_or(0).max(delivered);
    // Step 1: walk up from the cursor over stored frames and declared void ranges.
    let mut s = delivered.saturating_add(1);
    loop {
        if seqs.contains(&s) {
            s += 1;
        } else if let Some(to) = voids
            .range(..=s)
            .map(|(_, to)| *to)
            .filter(|to| *to > s)
            .max()
        {
            s = to;
        } else {
            break;
        }
    }
    // Step 2: a hole below the highest number must be declared void.
    let contiguous = s - 1;
    ResumePoint {
        next_seq: highest + 1,
        void_after: (contiguous < highest).then_some(contiguous),
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
        assert_eq!(
            r.receive(2, 'B'),
            Received::Held,
            "the newer copy replaces it"
        );
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
    fn a_resume_frame_voids_the_dead_senders_tail_and_nothing_before_it() {
        // Frames 1..=2 delivered, 4 and 5 held (3 was never stored: the sender died);
        // its successor's resume frame 6 declares 3..=5 void.
        let mut r = Reorder::new(Some(1), 8);
        assert_eq!(r.receive(1, 1), Received::Deliver(vec![(1, 1)]));
        assert_eq!(r.receive(4, 4), Received::Held);
        assert_eq!(r.receive(2, 2), Received::Deliver(vec![(2, 2)]));
        assert_eq!(r.receive(5, 5), Received::Held);
        assert_eq!(r.skip(2, 6), vec![(4, 4), (5, 5)]);
        assert_eq!(r.receive(6, 6), Received::Deliver(vec![(6, 6)]));
        assert_eq!(r.receive(4, 4), Received::Duplicate(4));
        // A resume frame already passed changes nothing.
        assert_eq!(r.skip(0, 6), vec![]);
        assert_eq!(r.expected(), Some(7));
    }

    #[test]
    fn a_void_range_ahead_waits_for_the_frames_before_it() {
        // The receiver is at 1; the stored 1..=2 are still to come when the resume
        // frame (6, void after 2) arrives.
        let mut r = Reorder::new(Some(1), 8);
        assert_eq!(r.receive(4, 4), Received::Held);
        assert_eq!(r.skip(2, 6), vec![(4, 4)]);
        assert_eq!(r.receive(6, 6), Received::Held);
        assert_eq!(r.receive(7, 7), Received::Held);
        assert_eq!(r.receive(5, 5), Received::Void(5));
        assert_eq!(r.receive(1, 1), Received::Deliver(vec![(1, 1)]));
        assert_eq!(
            r.receive(2, 2),
            Received::Deliver(vec![(2, 2), (6, 6), (7, 7)])
        );
        assert_eq!((r.expected(), r.held()), (Some(8), 0));
    }

    #[test]
    fn a_restarted_sender_resumes_past_the_highest_frame_and_declares_holes() {
        // Nothing stored: start at 1.
        assert_eq!(
            resume_point(0, []),
            ResumePoint {
                next_seq: 1,
                void_after: None
            }
        );
        // Everything acknowledged: one past the cursor.
        assert_eq!(
            resume_point(9, []),
            ResumePoint {
                next_seq: 10,
                void_after: None
            }
        );
        // Stored out of order (4 before 3), no hole: past the highest, 4, not the last.
        let plain = resume_point(2, [(4, None), (3, None)]);
        assert_eq!(
            plain,
            ResumePoint {
                next_seq: 5,
                void_after: None
            }
        );
        // 3 never stored: 4 and 5 follow a hole.
        let hole = resume_point(2, [(4, None), (5, None)]);
        assert_eq!(
            hole,
            ResumePoint {
                next_seq: 6,
                void_after: Some(2)
            }
        );
        // An earlier resume frame (6, void after 2) covers its own hole.
        let covered = resume_point(2, [(4, None), (6, Some(2)), (7, None)]);
        assert_eq!(
            covered,
            ResumePoint {
                next_seq: 8,
                void_after: None
            }
        );
        let again = resume_point(2, [(6, Some(2)), (7, None), (9, None)]);
        assert_eq!(
            again,
            ResumePoint {
                next_seq: 10,
                void_after: Some(7)
            }
        );
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
