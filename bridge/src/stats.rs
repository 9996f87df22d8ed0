//! Counters of a bridged port or BroadcastChannel, and their snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// The live counters (shared by a link's tasks).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) queued: AtomicU64,
    pub(crate) stored: AtomicU64,
    pub(crate) resent: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) origin_mismatches: AtomicU64,
    pub(crate) bad_frames: AtomicU64,
    pub(crate) ports_dropped: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) voided: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            queued: g(&self.queued),
            stored: g(&self.stored),
            resent: g(&self.resent),
            delivered: g(&self.delivered),
            duplicates: g(&self.duplicates),
            origin_mismatches: g(&self.origin_mismatches),
            bad_frames: g(&self.bad_frames),
            ports_dropped: g(&self.ports_dropped),
            refused: g(&self.refused),
            voided: g(&self.voided),
        }
    }
}

/// What a link has done so far (a snapshot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames queued to send (messages and closes from the local side).
    pub queued: u64,
    /// Frames the store confirmed stored.
    pub stored: u64,
    /// Frames sent again after a failed or timed-out publish.
    pub resent: u64,
    /// Frames delivered to the local side (messages and closes).
    pub delivered: u64,
    /// Frames received again and dropped (redeliveries, resent copies).
    pub duplicates: u64,
    /// Frames dropped because their origin is not the one the local side admits.
    pub origin_mismatches: u64,
    /// Frames dropped because they could not be decoded.
    pub bad_frames: u64,
    /// Ports found in a message's transfer list, which cannot cross: closed instead.
    pub ports_dropped: u64,
    /// Frames not taken because too many waited ahead of a gap (delivered again later).
    pub refused: u64,
    /// Frames of a sender that died, dropped because a frame it posted before them was
    /// never stored (its successor declared them void).
    pub voided: u64,
}
