//! Rate limiting: a token bucket, as a plain state machine driven by the caller's clock.
//!
//! The standard warns that any origin can flood a page with messages and suggests that
//! user agents rate-limit cross-origin traffic
//! (<https://html.spec.whatwg.org/multipage/web-messaging.html#authors>, "a user agent
//! may also wish to ... rate-limit"). A [`TokenBucket`] holds up to `burst` tokens and
//! gains `rate` tokens per second; each message takes one, and a message that finds
//! none is refused at once (the runtime drops and counts it): refused messages are
//! never delivered later, so a flood cannot come back as a burst.
//!
//! ```
//! use std::time::Duration;
//! use webmessaging_core::rate_limit::{RateLimit, TokenBucket};
//!
//! let mut bucket = TokenBucket::new(RateLimit::new(10.0, 3), Duration::ZERO);
//! let admitted = (0..5).filter(|_| bucket.try_take(Duration::ZERO)).count();
//! assert_eq!(admitted, 3); // the burst
//! assert!(!bucket.try_take(Duration::from_millis(50))); // half a token so far
//! assert!(bucket.try_take(Duration::from_millis(100))); // one token after 100 ms
//! ```

use std::time::Duration;

/// Rounding slack when deciding whether a whole token is there.
const EPSILON: f64 = 1e-6;

/// How fast one sender may send to one target: `rate` messages per second on average,
/// `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens gained per second (non-negative, finite; 0 admits only the first burst).
    pub rate: f64,
    /// The bucket's capacity: how many messages may go at once after a quiet time.
    pub burst: u32,
}

impl RateLimit {
    /// A limit of `rate` messages per second with bursts of `burst`. A negative or
    /// non-finite rate counts as 0.
    pub fn new(rate: f64, burst: u32) -> RateLimit {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            0.0
        };
        RateLimit { rate, burst }
    }
}

/// A token bucket (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket at time `now`.
    pub fn new(limit: RateLimit, now: Duration) -> TokenBucket {
        let limit = RateLimit::new(limit.rate, limit.burst);
        TokenBucket {
            limit,
            tokens: f64::from(limit.burst),
            last: now,
        }
    }

    /// The limit this bucket applies.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes a token at time `now` if there is one (true: the message may go). A `now`
    /// earlier than the last call counts as the last call's time (clocks never run back
    /// for the bucket).
    pub fn try_take(&mut self, now: Duration) -> bool {
        self.refill(now);
        // A hair of slack for rounding: 10 ms at 100 per second is one whole token.
        if self.tokens >= 1.0 - EPSILON {
            self.tokens = (self.tokens - 1.0).max(0.0);
            true
        } else {
            false
        }
    }

    /// The tokens available at time `now` (whole ones can be taken).
    pub fn available(&mut self, now: Duration) -> f64 {
        self.refill(now);
        self.tokens
    }

    fn refill(&mut self, now: Duration) {
        if now > self.last {
            let gained = (now - self.last).as_secs_f64() * self.limit.rate;
            self.tokens = (self.tokens + gained).min(f64::from(self.limit.burst));
            self.last = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_then_the_rate() {
        let mut b = TokenBucket::new(RateLimit::new(100.0, 5), ms(0));
        assert_eq!((0..10).filter(|_| b.try_take(ms(0))).count(), 5);
        // 100 per second: one every 10 ms.
        assert!(!b.try_take(ms(9)));
        assert!(b.try_take(ms(10)));
        assert!(!b.try_take(ms(10)));
        // A long quiet time refills up to the burst, not beyond.
        assert_eq!((0..10).filter(|_| b.try_take(ms(10_000))).count(), 5);
    }

    #[test]
    fn zero_rate_and_bad_rates_admit_only_the_burst() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut b = TokenBucket::new(RateLimit::new(rate, 2), ms(0));
            let admitted = (0..100u64).filter(|i| b.try_take(ms(i * 1000))).count();
            assert_eq!(admitted, 2, "rate {rate}");
        }
    }

    #[test]
    fn time_running_back_gains_nothing() {
        let mut b = TokenBucket::new(RateLimit::new(1.0, 1), ms(5_000));
        assert!(b.try_take(ms(5_000)));
        assert!(!b.try_take(ms(0)));
        assert!(!b.try_take(ms(5_999)));
        assert!(b.try_take(ms(6_000)));
    }

    proptest! {
        /// Never more than the burst plus what the rate allows over the elapsed time,
        /// whatever the request times.
        #[test]
        fn admits_at_most_burst_plus_rate_times_elapsed(
            rate in 0.0f64..1000.0,
            burst in 0u32..50,
            mut times in proptest::collection::vec(0u64..10_000, 0..400),
        ) {
            times.sort_unstable();
            let mut b = TokenBucket::new(RateLimit::new(rate, burst), ms(0));
            let mut admitted = 0u64;
            for &t in &times {
                if b.try_take(ms(t)) {
                    admitted += 1;
                }
                let allowed = f64::from(burst) + rate * (t as f64 / 1000.0);
                // Up to the rounding slack per admitted message.
                let slack = EPSILON * (admitted + 1) as f64;
                prop_assert!(admitted as f64 <= allowed + slack, "{admitted} > {allowed}");
            }
        }

        /// A sender that keeps to the rate is never refused.
        #[test]
        fn a_sender_within_the_rate_is_always_admitted(
            rate in 1.0f64..1000.0,
            burst in 1u32..50,
            n in 0usize..300,
        ) {
            let mut b = TokenBucket::new(RateLimit::new(rate, burst), ms(0));
            let step = 1.0 / rate;
            for i in 0..n {
                // Rounded up to the clock's nanosecond, so the sender is never early.
                let t = Duration::from_nanos((step * (i + 1) as f64 * 1e9).ceil() as u64);
                prop_assert!(b.try_take(t), "refused at {i}");
            }
        }

        /// Tokens stay within [0, burst] at any time.
        #[test]
        fn tokens_stay_within_the_capacity(
            rate in 0.0f64..1000.0,
            burst in 0u32..50,
            times in proptest::collection::vec(0u64..10_000, 0..200),
        ) {
            let mut b = TokenBucket::new(RateLimit::new(rate, burst), ms(0));
            for &t in &times {
                b.try_take(ms(t));
                let a = b.available(ms(t));
                prop_assert!((0.0..=f64::from(burst)).contains(&a), "{a}");
            }
        }
    }
}
