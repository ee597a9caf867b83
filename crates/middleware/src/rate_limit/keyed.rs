//! [`KeyedRateLimiter`]: one GCRA cell per key, in a sharded table of
//! bounded size.
//!
//! # The table
//!
//! Keys live in a [`dashmap::DashMap`], a hash map split into shards with
//! a read-write lock each, so requests for different keys rarely meet on a
//! lock and requests for one key share a read lock: each key's arrival time
//! is an atomic, updated by the same compare-and-swap as
//! [`RateLimiter`](super::RateLimiter)'s. Only a key's first request takes
//! its shard's write lock, to insert it.
//!
//! # Bounded memory, amortised eviction
//!
//! A key whose arrival time has passed is indistinguishable from a key
//! never seen, so dropping it loses nothing. When an insert takes the table
//! past `max_keys`, one caller sweeps it while the others go on: it drops every
//! replenished key and, if that leaves more than `max_keys − max_keys/8`
//! (active keys all), also the active keys closest to replenishment, which
//! regain at most part of one burst. A sweep is linear in the table, but it
//! leaves an eighth of the table free, so a client rotating keys as fast as
//! it can (spoofed forwarding headers, addresses from an IPv6 /64) pays for
//! one sweep every `max_keys / 8` new keys, shard by shard, while every
//! other key keeps being served. While a sweep runs, other callers may
//! insert up to `max_keys / 8` more keys; past that a new key is admitted
//! (a key not in the table is rested anyway) but not remembered until the
//! sweep is done, so the table never holds much more than `9/8 × max_keys`
//! entries (plus one per thread racing that check). The previous table, one mutex scanned
//! under the lock for every new key once full, serialised the whole server
//! on such a client.

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use super::clock::{Clock, TimeSource};
use super::event::Listener;
use super::gcra::{decide, params};
use super::keyed_builder::KeyedRateLimiterBuilder;
use super::status::RateLimitStatus;

/// A rate limiter with one GCRA cell per key; clones share the table.
///
/// # Defaults
///
/// Burst `num` (as [`RateLimiter::new`](super::RateLimiter::new)); at most
/// 10 000 keys; no event listener. See [`KeyedRateLimiterBuilder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::rate_limit::KeyedRateLimiter;
///
/// let limiter = KeyedRateLimiter::new(1, Duration::from_secs(1));
/// assert!(limiter.check("alice").is_ok());
/// assert!(limiter.check("bob").is_ok());
/// assert!(limiter.check("alice").is_err());
/// assert_eq!(limiter.len(), 2);
/// ```
#[derive(Debug)]
pub struct KeyedRateLimiter<K> {
    state: Arc<KeyedState<K>>,
}

impl<K> Clone for KeyedRateLimiter<K> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
        }
    }
}

struct KeyedState<K> {
    clock: TimeSource,
    emission: u64,
    tolerance: u64,
    burst: u32,
    max_keys: usize,
    table: DashMap<K, AtomicU64>,
    /// Entries in `table`, kept here so an insert need not lock every shard
    /// to count them.
    len: AtomicUsize,
    /// Set while one caller sweeps, so the others do not pile on.
    sweeping: AtomicBool,
    listener: Listener<K>,
}

impl<K> std::fmt::Debug for KeyedState<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedState")
            .field("emission_ns", &self.emission)
            .field("tolerance_ns", &self.tolerance)
            .field("max_keys", &self.max_keys)
            .field("len", &self.len)
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq> KeyedRateLimiter<K> {
    /// The limiter a [`KeyedRateLimiterBuilder`] describes.
    pub(super) fn from_parts(
        num: u32,
        per: Duration,
        burst: u32,
        max_keys: usize,
        clock: Clock,
        listener: Listener<K>,
    ) -> Self {
        let (emission, tolerance) = params(num, per, burst);
        Self {
            state: Arc::new(KeyedState {
                clock: TimeSource::new(clock),
                emission,
                tolerance,
                burst: burst.max(1),
                max_keys: max_keys.max(1),
                table: DashMap::new(),
                len: AtomicUsize::new(0),
                sweeping: AtomicBool::new(false),
                listener,
            }),
        }
    }

    /// `num` requests per `per` for each key, burst `num`, at most 10 000 keys.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::KeyedRateLimiter::<u32>::new(10, std::time::Duration::from_secs(1));
    /// assert!(l.is_empty());
    /// ```
    pub fn new(num: u32, per: Duration) -> Self {
        Self::builder(num, per).build()
    }

    /// A builder for `num` requests per `per` per key (see
    /// [`KeyedRateLimiterBuilder`]).
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::KeyedRateLimiter::<u32>::builder(10, std::time::Duration::from_secs(1)).build();
    /// assert_eq!(l.burst(), 10);
    /// ```
    pub fn builder(num: u32, per: Duration) -> KeyedRateLimiterBuilder<K> {
        KeyedRateLimiterBuilder::new(num, per)
    }

    /// The burst per key.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::KeyedRateLimiter::<u8>::new(4, std::time::Duration::from_secs(1));
    /// assert_eq!(l.burst(), 4);
    /// ```
    pub fn burst(&self) -> u32 {
        self.state.burst
    }

    /// Admits one request for `key` now, or says how long until one would be.
    ///
    /// # Errors
    ///
    /// `Err(retry_after)` when `key`'s rate is spent.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::KeyedRateLimiter::new(1, std::time::Duration::from_secs(1));
    /// assert!(l.check("k").is_ok());
    /// assert!(l.check("k").unwrap_err() <= std::time::Duration::from_secs(1));
    /// ```
    pub fn check(&self, key: K) -> Result<(), Duration> {
        let s = &*self.state;
        if s.emission == 0 {
            return Ok(());
        }
        let now = s.clock.now();
        // A known key: a shard read lock and the CAS loop.
        if let Some(cell) = s.table.get(&key) {
            return s.admit(&cell, &key, now);
        }
        // Far over the bound while another caller sweeps (a flood of new
        // keys): admit this key as the rested key it is, without
        // remembering it, so the table stays bounded without waiting.
        if s.len.load(Ordering::Relaxed) >= s.max_keys + s.max_keys / 8
            && s.sweeping.load(Ordering::Relaxed)
        {
            return Ok(());
        }
        let inserted = match s.table.entry(key) {
            // Inserted by a concurrent first request since the lookup.
            Entry::Occupied(e) => return s.admit(e.get(), e.key(), now),
            Entry::Vacant(v) => {
                // A fresh key starts rested: `decide(0, ..)` always admits.
                let tat = decide(0, now, s.emission, s.tolerance).unwrap_or(now);
                // Counted before it is visible, so `len` never undercounts
                // what a concurrent sweep removes.
                let len = s.len.fetch_add(1, Ordering::Relaxed) + 1;
                v.insert(AtomicU64::new(tat));
                len
            }
        };
        // The shard's write lock is released here, before any sweep.
        if inserted > s.max_keys {
            s.sweep(now);
        }
        Ok(())
    }

    /// The burst left to `key` now and when it is whole again (what
    /// rate-limit headers report). Spends nothing; an unknown key is rested.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::KeyedRateLimiter::new(3, std::time::Duration::from_secs(1));
    /// l.check("a").unwrap();
    /// assert_eq!(l.status(&"a").remaining, 2);
    /// assert_eq!(l.status(&"b").remaining, 3);
    /// ```
    pub fn status(&self, key: &K) -> RateLimitStatus {
        let s = &*self.state;
        let tat = s
            .table
            .get(key)
            .map_or(0, |cell| cell.load(Ordering::Relaxed));
        RateLimitStatus::of(tat, s.clock.now(), s.emission, s.tolerance, s.burst)
    }

    /// How many keys the table holds now.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::KeyedRateLimiter::new(1, std::time::Duration::from_secs(1));
    /// l.check('a').ok();
    /// assert_eq!(l.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.state.len.load(Ordering::Relaxed)
    }

    /// Whether the table is empty.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::KeyedRateLimiter::<u8>::new(1, std::time::Duration::from_secs(1));
    /// assert!(l.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether two handles share one table.
    ///
    /// ```
    /// let a = evenkeel_middleware::rate_limit::KeyedRateLimiter::<u8>::new(1, std::time::Duration::from_secs(1));
    /// assert!(a.shares_state_with(&a.clone()));
    /// ```
    pub fn shares_state_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.state, &other.state)
    }
}

impl<K: Hash + Eq> KeyedState<K> {
    /// The GCRA compare-and-swap loop on one key's cell.
    fn admit(&self, cell: &AtomicU64, key: &K, now: u64) -> Result<(), Duration> {
        let mut tat = cell.load(Ordering::Relaxed);
        loop {
            let next = match decide(tat, now, self.emission, self.tolerance) {
                Ok(next) => next,
                Err(retry_after) => {
                    self.listener.rejected(key, retry_after);
                    return Err(retry_after);
                }
            };
            match cell.compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(actual) => tat = actual,
            }
        }
    }

    /// Brings the table back to at most `max_keys − max_keys/8` entries:
    /// replenished keys first, then the active keys nearest replenishment.
    fn sweep(&self, now: u64) {
        if self.sweeping.swap(true, Ordering::Acquire) {
            return; // Another caller is sweeping.
        }
        let target = self.max_keys - self.max_keys / 8;
        let mut evicted = 0_usize;
        self.table.retain(|_, tat| {
            let keep = tat.load(Ordering::Relaxed) > now;
            evicted += usize::from(!keep);
            keep
        });
        let mut evicted_active = 0_usize;
        let mut tats: Vec<u64> = self
            .table
            .iter()
            .map(|cell| cell.value().load(Ordering::Relaxed))
            .collect();
        let excess = tats.len().saturating_sub(target);
        if excess > 0 {
            // The `excess` smallest arrival times: the keys closest to
            // replenishment, which lose the least by going.
            let (_, threshold, _) = tats.select_nth_unstable(excess - 1);
            let threshold = *threshold;
            self.table.retain(|_, tat| {
                let go = evicted_active < excess && tat.load(Ordering::Relaxed) <= threshold;
                evicted_active += usize::from(go);
                !go
            });
        }
        evicted += evicted_active;
        let remaining = self
            .len
            .fetch_sub(evicted, Ordering::Relaxed)
            .saturating_sub(evicted);
        self.sweeping.store(false, Ordering::Release);
        self.listener.swept(evicted, evicted_active, remaining);
    }
}
