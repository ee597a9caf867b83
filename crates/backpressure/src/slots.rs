//! [`Slots`]: the count of free places in a queue, with a way to wait for one.
//!
//! This is a counting semaphore cut down to what the queue needs: take one
//! slot (now or by waiting), give slots back, close. It exists because the
//! hot path runs it twice per item (a producer takes, a consumer gives), and
//! `tokio::sync::Semaphore` takes a mutex on every give.
//!
//! # Split counters
//!
//! Instead of one "free" count that producers and consumers both write
//! (its cache line would bounce between cores on every item), producers
//! count slots `admitted` and consumers count slots `released`, each on its
//! own cache line; the slots in use are `admitted - released`. A producer
//! also keeps the last `released` it read (`seen_released`): since
//! `released` only grows, a stale copy can only make the queue look fuller
//! than it is, never emptier, so the producer re-reads the consumers' line
//! only when the queue looks full. A consumer's give is one atomic add, plus
//! a wake-up only when someone is actually waiting.
//!
//! `released` is itself striped per thread (the stripes the consumer stats
//! use): consumers on different runtime threads would otherwise take its
//! line from each other on every item, which profiles of a 16-worker pool
//! showed as the costliest instruction of a give. A fresh read sums the
//! stripes; each only grows, so the sum still only ever lags.
//!
//! # Waiting
//!
//! A producer that finds no free slot waits on a [`Signal`] with one
//! wake-up in flight at most: a consumer's give wakes a producer only if
//! one waits and none is already being woken, and a woken producer that
//! takes a slot hands the wake-up on. The no-lost-wake-up argument is the
//! signal's: the waiter re-checks after announcing itself, the giver reads
//! the waiter count after its add.
//!
//! # Fairness
//!
//! Waiters are woken first come, first served (the [`Signal`]'s order).
//! A producer that arrives while one of them has a wake-up on its way (a
//! slot was freed for it, and it has not run yet) does not take that slot:
//! `try_send` and `try_reserve` answer `Full`, and `send` and `reserve`
//! queue up behind the waiters. So a waiting producer cannot be overtaken
//! indefinitely by newcomers, which is what happens when a freed slot goes
//! to whoever asks first (`async-channel`'s behaviour): a producer that
//! sends in a loop on the consumer's thread would otherwise take every slot
//! before the woken waiter runs. A newcomer can still get in ahead only in
//! the instants between a slot's release and its wake-up being sent, and
//! on a single-threaded runtime never: there, a waiting producer gets the
//! first slot freed after it started waiting (pinned by
//! `tests/fairness.rs`). The check costs producers one load of a line that
//! only changes when tasks sleep or wake.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};

use crate::shared::{Closed, NoRoom};
use crate::signal::Signal;
use crate::stats::{STRIPES, stripe};
use crate::sync::{AtomicBool, AtomicUsize};

/// Written by producers.
#[derive(Debug, Default)]
#[repr(align(64))]
struct ProducerLine {
    admitted: AtomicUsize,
    seen_released: AtomicUsize,
}

/// Written by consumers: one stripe per runtime thread (see the module
/// docs), each on its own line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct ConsumerLine {
    released: AtomicUsize,
}

#[derive(Debug)]
pub(crate) struct Slots {
    capacity: usize,
    producer: ProducerLine,
    consumer: [ConsumerLine; STRIPES],
    /// Set once by `close`; read by every take.
    closed: AtomicBool,
    /// Producers waiting for a slot.
    signal: Signal,
}

impl Slots {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            producer: ProducerLine::default(),
            consumer: Default::default(),
            closed: AtomicBool::new(false),
            signal: Signal::new(1),
        }
    }

    /// Takes one slot if one is free now (and, for a newcomer, not promised
    /// to a producer already woken for it: see "Fairness" in the module
    /// docs). Returns an upper bound on the slots in use just after (exact
    /// if `released` was read fresh).
    pub(crate) fn try_take(&self, newcomer: bool) -> Result<usize, NoRoom> {
        if self.closed.load(SeqCst) {
            return Err(NoRoom::Closed);
        }
        if newcomer && self.signal.wake_in_flight() {
            return Err(NoRoom::Full);
        }
        let admitted = self.producer.admitted.load(SeqCst);
        let released = self.producer.seen_released.load(Relaxed);
        self.take_from(admitted, released)
    }

    /// The admission loop of [`try_take`](Self::try_take), from a snapshot
    /// of `admitted` and a (possibly stale) copy of `released`.
    fn take_from(&self, mut admitted: usize, mut released: usize) -> Result<usize, NoRoom> {
        loop {
            if admitted.wrapping_sub(released) >= self.capacity {
                // Looks full: only fresh reads can tell. `admitted` is read
                // again *after* `released`: every slot counted released was
                // admitted before, so the new `admitted` is at least `fresh`
                // and the difference cannot wrap (keeping the old snapshot,
                // other producers' admissions released meanwhile would make
                // it wrap and report a free queue full).
                let fresh = self.released();
                let now = self.producer.admitted.load(SeqCst);
                if fresh == released && now == admitted {
                    // Neither count moved since the snapshot that showed
                    // `capacity` slots in use: it is full.
                    return Err(NoRoom::Full);
                }
                // A plain store: racing producers may leave an older value
                // here, which is still a value `released` once had, so the
                // copy stays at or below it (only ever "fuller").
                self.producer.seen_released.store(fresh, Relaxed);
                (admitted, released) = (now, fresh);
                continue;
            }
            match self.producer.admitted.compare_exchange_weak(
                admitted,
                admitted.wrapping_add(1),
                SeqCst,
                SeqCst,
            ) {
                Ok(_) => return Ok(admitted.wrapping_add(1).wrapping_sub(released)),
                Err(now) => admitted = now,
            }
        }
    }

    /// The slots in use now, from fresh reads of the counters.
    pub(crate) fn in_use(&self) -> usize {
        let released = self.released();
        self.producer.admitted.load(SeqCst).wrapping_sub(released)
    }

    /// Slots given back so far: the sum of the stripes, each read fresh.
    /// Read while gives go on, it lies between the total when the read
    /// began and the total when it ended, so it too only ever lags.
    fn released(&self) -> usize {
        self.consumer
            .iter()
            .fold(0, |sum, line| sum.wrapping_add(line.released.load(SeqCst)))
    }

    /// Takes one slot, waiting for one to be given back if none is free;
    /// returns an upper bound on the slots in use just after. Cancel-safe: a
    /// dropped future holds nothing.
    pub(crate) async fn take(&self) -> Result<usize, Closed> {
        self.signal
            .wait_for(|woken| match self.try_take(!woken) {
                Ok(in_use) => Some(Ok(in_use)),
                Err(NoRoom::Closed) => Some(Err(Closed)),
                Err(NoRoom::Full) => None,
            })
            .await
    }

    /// Gives `n` slots back and wakes a waiting producer (one woken producer
    /// hands the wake-up on, so `n` slots still reach `n` waiters).
    pub(crate) fn give(&self, n: usize) {
        self.consumer[stripe()].released.fetch_add(n, SeqCst);
        self.signal.wake_after_seqcst();
    }

    /// Refuses every later take and wakes every waiter.
    pub(crate) fn close(&self) {
        self.closed.store(true, SeqCst);
        self.signal.wake_all();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A producer whose snapshot of `admitted` went stale while other
    /// producers admitted and consumers released past it (so `released` now
    /// exceeds the snapshot) still finds the free slot: the admission loop
    /// re-reads `admitted` with `released` instead of letting the difference
    /// wrap into "full". (Before the fix this returned `Full` into an empty
    /// queue; `tests/loom.rs` finds the interleaving on its own.)
    #[test]
    fn a_stale_admitted_snapshot_does_not_report_full() {
        let slots = Slots::new(2);
        slots.try_take(true).unwrap();
        slots.try_take(true).unwrap();
        slots.give(1);
        // The stale view: two admitted, nothing seen released.
        let (admitted, seen) = (2, 0);
        // Meanwhile: the other item leaves, one more comes and goes.
        slots.give(1);
        slots.try_take(true).unwrap();
        slots.give(1);
        assert_eq!(slots.in_use(), 0);
        assert!(slots.take_from(admitted, seen).is_ok());
        assert_eq!(slots.in_use(), 1);
    }
}
