//! A map keyed by tokio task id, with a hasher made for such keys.
//!
//! A task id is a process-wide counter, unique and already well spread in
//! its low bits, so the protection of std's `SipHash` against chosen keys buys nothing
//! here while costing a measurable slice of a spawn + join. The hasher
//! below multiplies the id by a large odd constant (Fibonacci hashing),
//! which spreads it over the high bits too.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use tokio::task::Id;

/// Task id to `V`.
pub(crate) type IdMap<V> = HashMap<Id, V, BuildHasherDefault<IdHasher>>;

/// Hashes the `u64` inside a task id; any other input is folded in bytewise.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

/// 2^64 divided by the golden ratio, rounded to odd.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(GOLDEN);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(GOLDEN);
    }
}
