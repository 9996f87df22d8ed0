//! A counting global allocator for the memory tests (`tests/cycles.rs`,
//! `tests/floods.rs`): bytes live now and the peak since a reset, exact and independent
//! of the system allocator's caching. A test binary installs it with
//! `#[global_allocator] static ALLOC: counting_alloc::Counting = counting_alloc::Counting;`.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};

/// Forwards to the system allocator, counting bytes.
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    /// Bytes this thread allocated minus bytes it freed (no destructor, const: safe to
    /// touch from inside the allocator).
    static HERE: Cell<isize> = const { Cell::new(0) };
}

fn count_here(delta: isize) {
    let _ = HERE.try_with(|h| h.set(h.get() + delta));
}

// SAFETY: forwards to the system allocator, counting bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        PEAK.fetch_max(now + layout.size() as isize, Ordering::Relaxed);
        count_here(layout.size() as isize);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        count_here(-(layout.size() as isize));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        let delta = new as isize - layout.size() as isize;
        let now = LIVE.fetch_add(delta, Ordering::Relaxed);
        PEAK.fetch_max(now + delta, Ordering::Relaxed);
        count_here(delta);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

/// Bytes allocated and not freed yet, by every thread.
pub fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Bytes this thread allocated and freed again, net (not what other threads did
/// meanwhile: the test harness's own bookkeeping on its main thread, say). Exact for
/// work that allocates and frees on one thread.
pub fn live_here() -> isize {
    HERE.try_with(Cell::get).unwrap_or(0)
}

/// The peak of live bytes since [`PeakMeter::start`], above what was live then.
pub struct PeakMeter(isize);

impl PeakMeter {
    /// Resets the peak to what is live now.
    pub fn start() -> PeakMeter {
        let now = live();
        PEAK.store(now, Ordering::Relaxed);
        PeakMeter(now)
    }

    /// The highest live bytes since the start, above the start.
    pub fn peak(&self) -> isize {
        PEAK.load(Ordering::Relaxed) - self.0
    }
}
