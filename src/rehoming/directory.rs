//! The directory of one shipped channel: where each end lives now, and the messages of
//! an end whose owner went away, for the peer's next incarnations.

use super::{after, Effect, Envelope, Location};
use crate::port_queue::End;

/// Where the two ends of one channel live (steps 5 and 7).
#[derive(Debug)]
pub struct Directory<A, M> {
    ends: [Location<A>; 2],
    /// Per end: what it had sent and not seen acked when its owner went away (ending
    /// with its `Close`), delivered to every later incarnation of the peer.
    orphans: [Vec<Envelope<M>>; 2],
}

impl<A: Clone + PartialEq, M: Clone> Directory<A, M> {
    /// The directory of a channel whose ends are at `first` and `second` (epoch 0).
    pub fn new(first: A, second: A) -> Self {
        let at = |addr| Location {
            addr,
            epoch: 0,
            resume_after: None,
        };
        Directory {
            ends: [at(first), at(second)],
            orphans: [Vec::new(), Vec::new()],
        }
    }

    /// Where `end` lives, as registered last.
    pub fn location(&self, end: End) -> &Location<A> {
        &self.ends[end.index()]
    }

    /// Step 5: `end` lives at `location` now. A registration whose epoch is not newer
    /// than the one known is ignored. Otherwise the peer's current incarnation is told the
    /// new address, the newcomer is told the peer's latest address, and the newcomer gets
    /// what the peer left behind if its owner went away.
    pub fn register(&mut self, end: End, location: Location<A>) -> Vec<Effect<A, M>> {
        let i = end.index();
        if location.epoch <= self.ends[i].epoch {
            return Vec::new();
        }
        self.ends[i] = location.clone();
        let peer = self.ends[1 - i].clone();
        let mut out = vec![
            Effect::PeerMoved {
                to: peer.addr.clone(),
                end: end.peer(),
                peer: location.clone(),
            },
            Effect::PeerMoved {
                to: location.addr.clone(),
                end,
                peer,
            },
        ];
        let left: Vec<Envelope<M>> = self.orphans[1 - i]
            .iter()
            .filter(|e| after(e.seq, location.resume_after))
            .cloned()
            .collect();
        if !left.is_empty() {
            out.push(Effect::Deliver {
                to: location.addr,
                end,
                envelopes: left,
            });
        }
        out
    }

    /// Steps 3 and 7: `end`'s owner went away (or the message carrying it was
    /// discarded) with `envelopes` unacked, its `Close` last: they go to the peer's
    /// current incarnation now, and to its later ones when they register.
    pub fn orphan(&mut self, end: End, envelopes: Vec<Envelope<M>>) -> Vec<Effect<A, M>> {
        let i = end.index();
        for e in envelopes {
            if self.orphans[i].last().is_none_or(|l| l.seq < e.seq) {
                self.orphans[i].push(e);
            }
        }
        if self.orphans[i].is_empty() {
            return Vec::new();
        }
        vec![Effect::Deliver {
            to: self.ends[1 - i].addr.clone(),
            end: end.peer(),
            envelopes: self.orphans[i].clone(),
        }]
    }
}
