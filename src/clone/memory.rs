//! The identity map of serialization and of the direct clone (the spec's
//! `memory`): object addresses to ids or copies.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A hasher for object addresses: one multiply, high bits folded down.
#[derive(Default)]
pub(crate) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_usize(&mut self, n: usize) {
        let h = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 29);
    }
}

pub(super) type AddrMap<V> = HashMap<usize, V, BuildHasherDefault<AddrHasher>>;
