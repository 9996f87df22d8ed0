//! A hasher for the runtime's own `u64` ids (port keys, broadcast channel ids): they are
//! sequential numbers the runtime hands out, never chosen by script, so SipHash's
//! protection against chosen keys buys nothing there, and its cost shows up once per
//! delivered message (the owner realm looks the port up by key on every wake-up; a
//! broadcast delivery looks its channel up by id).

use std::hash::{BuildHasher, Hasher};

/// Builds [`IdHasher`]s.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHash;

impl BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

/// Fibonacci hashing of `u64` keys (one multiply).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        // hashbrown takes the top 7 bits for its control bytes and the low bits for the
        // bucket: fold the well-mixed high half down so both are spread.
        let h = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 32);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::IdHash;

    #[test]
    fn sequential_ids_spread_over_buckets() {
        let mut m: HashMap<u64, u64, IdHash> = HashMap::default();
        for i in 0..100_000 {
            m.insert(i, i * 2);
        }
        assert!((0..100_000).all(|i| m[&i] == i * 2));
        m.retain(|k, _| k % 2 == 0);
        assert_eq!(m.len(), 50_000);
    }
}
