//! The port receiver's cursor pipeline, as a plain state machine (no actix, no NATS):
//! which rounds have been handed to the realm without the store having a cursor that
//! covers them, which cursor to write next, and which acknowledgements a stored cursor
//! releases.
//!
//! A round hands at most [`BATCH`](crate::link::BATCH) frames to the realm and ends at
//! the highest number it handed. Its acknowledgements (of the frames it handed, and of
//! the copies and void frames it dropped) wait until the store has a cursor at or above
//! that number. One cursor write is in flight at a time, and it is always of the latest
//! number handed (a write covers every round before it: only the latest cursor
//! matters); it starts once [`WRITE_AFTER_ROUNDS`] rounds wait for it or the oldest has
//! waited [`LINGER`]. While a write is in flight the receiver goes on handing rounds, but
//! at most [`UNSTORED_ROUNDS`] rounds are ever handed and not covered by a stored
//! cursor: that is the at-least-once window's bound.

use std::collections::VecDeque;

/// How many rounds may have been handed to the realm without the store having a cursor
/// that covers them, at most. A receiving process that dies hands at most this many
/// rounds of at most [`BATCH`](crate::link::BATCH) frames again to its next incarnation.
pub(crate) const UNSTORED_ROUNDS: usize = 8;

/// A cursor write starts (when none is in flight) once this many rounds wait for it...
pub(crate) const WRITE_AFTER_ROUNDS: usize = 4;

/// ... or once the oldest of them has waited this long (a write per round would cost the
/// store as much as the frames themselves in a ping-pong, and sit in front of them).
pub(crate) const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

/// One round handed to the realm and not yet covered by a stored cursor.
#[derive(Debug)]
struct Round<A> {
    /// The highest number it handed.
    upto: u64,
    /// What it may acknowledge once a cursor at or above `upto` is stored.
    acks: Vec<A>,
}

/// The cursor pipeline of one port direction (`A`: an acknowledgement to send).
#[derive(Debug)]
pub(crate) struct Pipeline<A> {
    /// The highest cursor the store has (0: none).
    stored: u64,
    /// The highest number handed to the realm.
    handed: u64,
    /// The cursor being written, if a write is in flight.
    writing: Option<u64>,
    /// Rounds handed and not covered by `stored`, oldest first.
    rounds: VecDeque<Round<A>>,
    limit: usize,
    write_after: usize,
}

impl<A> Pipeline<A> {
    /// A pipeline whose store has `stored` (what the receiver resumes after), letting at
    /// most `limit` rounds be handed and not stored, and writing the cursor once
    /// `write_after` rounds wait for it (or sooner, when told it is due).
    pub(crate) fn new(stored: u64, limit: usize, write_after: usize) -> Pipeline<A> {
        let limit = limit.max(1);
        Pipeline {
            stored,
            handed: stored,
            writing: None,
            rounds: VecDeque::new(),
            limit,
            write_after: write_after.clamp(1, limit),
        }
    }

    /// True if another round may be handed to the realm now (fewer than the limit are
    /// handed and not stored).
    pub(crate) fn can_hand(&self) -> bool {
        self.rounds.len() < self.limit
    }

    /// How many rounds are handed and not covered by a stored cursor.
    #[cfg(test)]
    pub(crate) fn unstored(&self) -> usize {
        self.rounds.len()
    }

    /// A round ended: it handed frames up to `upto` (`None`: it handed none) and has
    /// `acks` to send. Returns those that may go now (a round that handed nothing, with
    /// every earlier round stored); the rest wait for [`stored`](Pipeline::stored).
    pub(crate) fn round(&mut self, upto: Option<u64>, acks: Vec<A>) -> Vec<A> {
        match (upto, self.rounds.back_mut()) {
            (Some(upto), _) => {
                debug_assert!(upto > self.handed, "rounds hand increasing numbers");
                debug_assert!(self.can_hand(), "a round handed past the limit");
                self.handed = self.handed.max(upto);
                self.rounds.push_back(Round { upto, acks });
                Vec::new()
            }
            // Its copies are acknowledged with the round before it, which covers as much.
            (None, Some(last)) => {
                last.acks.extend(acks);
                Vec::new()
            }
            (None, None) => acks,
        }
    }

    /// How many rounds wait for a cursor write not yet started.
    pub(crate) fn waiting(&self) -> usize {
        match self.writing {
            Some(w) => self.rounds.iter().filter(|r| r.upto > w).count(),
            None => self.rounds.len(),
        }
    }

    /// The cursor to write now, if no write is in flight, the realm has frames the
    /// store's cursor does not cover, and the write is `due` (the caller's timer ran
    /// out, or the link is closing) or enough rounds wait for it. It is the latest
    /// number handed: one write for every round since the last. The caller writes it
    /// and reports [`stored`](Pipeline::stored).
    pub(crate) fn start_write(&mut self, due: bool) -> Option<u64> {
        if self.writing.is_some() || self.handed <= self.stored {
            return None;
        }
        if !due && self.rounds.len() < self.write_after {
            return None;
        }
        self.writing = Some(self.handed);
        self.writing
    }

    /// The write of `value` is stored: returns the acknowledgements of the rounds it
    /// covers, oldest first.
    pub(crate) fn stored(&mut self, value: u64) -> Vec<A> {
        if self.writing == Some(value) {
            self.writing = None;
        }
        self.stored = self.stored.max(value);
        let mut out = Vec::new();
        while self.rounds.front().is_some_and(|r| r.upto <= self.stored) {
            if let Some(r) = self.rounds.pop_front() {
                out.extend(r.acks);
            }
        }
        out
    }

    /// True when nothing waits: every round handed is covered by a stored cursor and no
    /// write is in flight.
    pub(crate) fn settled(&self) -> bool {
        self.rounds.is_empty() && self.writing.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_round_is_acknowledged_once_a_cursor_covering_it_is_stored() {
        let mut p = Pipeline::new(0, 2, 1);
        assert_eq!(
            p.round(None, vec!['d']),
            vec!['d'],
            "nothing handed, nothing waits"
        );
        assert!(p.round(Some(3), vec!['1', '2', '3']).is_empty());
        assert_eq!(p.start_write(true), Some(3));
        assert_eq!(p.start_write(true), None, "one write in flight");
        // The next round is handed while the write is in flight; then the limit holds.
        assert!(p.round(Some(5), vec!['4', '5']).is_empty());
        assert!(
            p.round(None, vec!['x']).is_empty(),
            "a copy waits with round 2"
        );
        assert!(!p.can_hand());
        assert_eq!(p.stored(3), vec!['1', '2', '3']);
        assert!(p.can_hand());
        // One write covers every round since the last.
        assert!(p.round(Some(7), vec!['6', '7']).is_empty());
        assert_eq!(p.start_write(true), Some(7));
        assert_eq!(p.stored(7), vec!['4', '5', 'x', '6', '7']);
        assert!(p.settled());
        assert_eq!(p.start_write(true), None);
    }

    proptest! {
        /// Whatever the order of rounds and write completions, no more than the limit of
        /// rounds is ever handed and not stored, nothing is acknowledged before a cursor
        /// covering it is stored, and everything is acknowledged once the writes finish.
        #[test]
        fn never_more_than_the_limit_unstored(
            steps in proptest::collection::vec(0u8..5, 1..200),
            limit in 1usize..5,
            after in 1usize..5,
        ) {
            let mut p: Pipeline<u64> = Pipeline::new(10, limit, after);
            let mut handed = 10u64;
            let mut store = 10u64;
            let mut in_flight: Option<u64> = None;
            let mut acked = Vec::new();
            let check = |acks: Vec<u64>, store: u64, acked: &mut Vec<u64>| {
                for a in acks {
                    prop_assert!(a <= store, "ack of {} with the store at {}", a, store);
                    acked.push(a);
                }
                Ok(())
            };
            for s in steps {
                match s {
                    0 | 1 if p.can_hand() => {
                        let upto = handed + 1 + u64::from(s);
                        let acks: Vec<u64> = (handed + 1..=upto).collect();
                        handed = upto;
                        check(p.round(Some(upto), acks), store, &mut acked)?;
                    }
                    0 | 1 => check(p.round(None, vec![]), store, &mut acked)?,
                    2 | 3 => if in_flight.is_none() {
                        let waiting = p.waiting();
                        in_flight = p.start_write(s == 3);
                        // Not due: it waits for enough rounds (never past the limit).
                        if s == 2 && waiting > 0 {
                            prop_assert_eq!(in_flight.is_some(), waiting >= after.min(limit));
                        }
                    },
                    _ => if let Some(v) = in_flight.take() {
                        store = v;
                        check(p.stored(v), store, &mut acked)?;
                    },
                }
                prop_assert!(p.unstored() <= limit);
            }
            if let Some(v) = in_flight.take() {
                store = v;
                check(p.stored(v), store, &mut acked)?;
            }
            while let Some(v) = p.start_write(true) {
                store = v;
                check(p.stored(v), store, &mut acked)?;
            }
            prop_assert!(p.settled());
            let want: Vec<u64> = (11..=handed).collect();
            prop_assert_eq!(acked, want);
        }
    }
}
