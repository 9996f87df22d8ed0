//! Credit-based flow control for a stream of items over a port.
//!
//! The consumer opens the stream with a window of `w` credits. The producer sends one
//! item per credit and queues the rest on its side ([`CreditSender`]); the consumer
//! grants more credit as it consumes ([`CreditReceiver`]), in batches of at least half its
//! window, so at most `w` items are ever in flight or waiting at the consumer, whatever
//! the producer does. A producer that sends without credit is an [`Overrun`].

/// The producer's side: credit left, and items waiting for credit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreditSender {
    credit: u32,
    queued: usize,
}

impl CreditSender {
    /// A producer starting with the consumer's initial window.
    pub fn new(initial: u32) -> Self {
        CreditSender {
            credit: initial,
            queued: 0,
        }
    }

    /// Credit left.
    pub fn credit(&self) -> u32 {
        self.credit
    }

    /// Items waiting for credit.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// The producer has one more item: `true` if it may be sent now (a credit is spent;
    /// nothing is waiting before it), `false` if it must wait in the queue.
    pub fn offer(&mut self) -> bool {
        if self.credit > 0 && self.queued == 0 {
            self.credit -= 1;
            true
        } else {
            self.queued += 1;
            false
        }
    }

    /// The consumer granted `n` more credits: returns how many queued items to send now
    /// (oldest first); their credits are spent.
    pub fn grant(&mut self, n: u32) -> usize {
        self.credit = self.credit.saturating_add(n);
        let now = self.queued.min(self.credit as usize);
        self.queued -= now;
        self.credit -= now as u32;
        now
    }

    /// Drops the queue (the stream was cancelled or its port closed): returns how many
    /// items were waiting.
    pub fn clear(&mut self) -> usize {
        std::mem::take(&mut self.queued)
    }
}

/// An item arrived without credit for it: the producer broke the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overrun;

/// The consumer's side: its window, credits granted and not yet used, and items consumed
/// since the last grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditReceiver {
    window: u32,
    outstanding: u32,
    unacked: u32,
}

impl CreditReceiver {
    /// A consumer with a window of `window` items (at least 1); the whole window is
    /// granted when the stream opens.
    pub fn new(window: u32) -> Self {
        let window = window.max(1);
        CreditReceiver {
            window,
            outstanding: window,
            unacked: 0,
        }
    }

    /// The window.
    pub fn window(&self) -> u32 {
        self.window
    }

    /// Credits granted and not yet used by the producer.
    pub fn outstanding(&self) -> u32 {
        self.outstanding
    }

    /// An item arrived: uses one credit, or is an [`Overrun`] if none was granted.
    pub fn received(&mut self) -> Result<(), Overrun> {
        if self.outstanding == 0 {
            return Err(Overrun);
        }
        self.outstanding -= 1;
        Ok(())
    }

    /// The consumer is done with one item. Returns the credit to grant now, if any: once
    /// at least half the window was consumed, everything consumed since the last grant.
    pub fn consumed(&mut self) -> Option<u32> {
        self.unacked += 1;
        if self.unacked >= self.window.div_ceil(2) {
            self.grant_now()
        } else {
            None
        }
    }

    /// Grants at once whatever was consumed since the last grant (for example before
    /// pausing); `None` if nothing was.
    pub fn grant_now(&mut self) -> Option<u32> {
        // Never more than the window in flight: grant what brings it back to the window.
        let room = self.window - self.outstanding.min(self.window);
        let n = self.unacked.min(room);
        self.unacked = 0;
        if n == 0 {
            return None;
        }
        self.outstanding += n;
        Some(n)
    }

    /// Grants `n` more credits by hand (a consumer that pulls), capped so that at most
    /// the window is outstanding. Returns what was granted.
    pub fn request(&mut self, n: u32) -> u32 {
        let room = self.window - self.outstanding.min(self.window);
        let n = n.min(room);
        self.outstanding += n;
        n
    }
}
