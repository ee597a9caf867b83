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
//! # The no-lost-wake-up argument
//!
//! A waiter announces itself (`waiters += 1`), registers with the
//! [`Notify`], then tries again, reading `released` fresh before it
//! concludes the queue is full. A giver adds to `released`, then reads
//! `waiters`. All four are sequentially consistent, so at least one side
//! sees the other: either the waiter's fresh read finds the new slot, or the
//! giver sees a waiter and calls `notify_one`, which reaches the registered
//! waiter (or is stored for the next one). A waiter dropped after being
//! notified passes the notification on (tokio's `Notified` does this), so a
//! cancelled `take` cannot swallow a wake-up meant for someone else.
//!
//! Waiters are not served first-come-first-served: a producer arriving just
//! as a slot frees up may take it ahead of one that was waiting (as with
//! `async-channel` itself). Every waiter is still woken while slots come
//! back, so none waits forever while the queue makes progress.

use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};

use tokio::sync::Notify;

use crate::shared::{Closed, NoRoom};

/// Written by producers.
#[derive(Debug, Default)]
#[repr(align(64))]
struct ProducerLine {
    admitted: AtomicUsize,
    seen_released: AtomicUsize,
}

/// Written by consumers.
#[derive(Debug, Default)]
#[repr(align(64))]
struct ConsumerLine {
    released: AtomicUsize,
}

/// Read on every operation, written rarely.
#[derive(Debug, Default)]
#[repr(align(64))]
struct WaitLine {
    waiters: AtomicUsize,
    closed: AtomicBool,
}

#[derive(Debug)]
pub(crate) struct Slots {
    capacity: usize,
    producer: ProducerLine,
    consumer: ConsumerLine,
    wait: WaitLine,
    notify: Notify,
}

impl Slots {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            producer: ProducerLine::default(),
            consumer: ConsumerLine::default(),
            wait: WaitLine::default(),
            notify: Notify::new(),
        }
    }

    /// Takes one slot if one is free now. Returns an upper bound on the
    /// slots in use just after (exact if `released` was read fresh).
    pub(crate) fn try_take(&self) -> Result<usize, NoRoom> {
        if self.wait.closed.load(SeqCst) {
            return Err(NoRoom::Closed);
        }
        let mut admitted = self.producer.admitted.load(SeqCst);
        let mut released = self.producer.seen_released.load(Relaxed);
        loop {
            if admitted.wrapping_sub(released) >= self.capacity {
                // Looks full: only a fresh read of `released` can tell.
                let fresh = self.consumer.released.load(SeqCst);
                if fresh == released {
                    return Err(NoRoom::Full);
                }
                released = fresh;
                // A plain store: racing producers may leave an older value
                // here, which is still a value `released` once had, so the
                // copy stays at or below it (only ever "fuller").
                self.producer.seen_released.store(fresh, Relaxed);
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

    /// The slots in use now, from fresh reads of both counters.
    pub(crate) fn in_use(&self) -> usize {
        let released = self.consumer.released.load(SeqCst);
        self.producer.admitted.load(SeqCst).wrapping_sub(released)
    }

    /// Takes one slot, waiting for one to be given back if none is free;
    /// returns an upper bound on the slots in use just after. Cancel-safe: a
    /// dropped future holds nothing.
    pub(crate) async fn take(&self) -> Result<usize, Closed> {
        loop {
            match self.try_take() {
                Ok(in_use) => return Ok(in_use),
                Err(NoRoom::Closed) => return Err(Closed),
                Err(NoRoom::Full) => {}
            }
            let _waiting = WaiterGuard::new(&self.wait.waiters);
            let mut notified = pin!(self.notify.notified());
            notified.as_mut().enable();
            match self.try_take() {
                Ok(in_use) => return Ok(in_use),
                Err(NoRoom::Closed) => return Err(Closed),
                Err(NoRoom::Full) => notified.await,
            }
        }
    }

    /// Gives `n` slots back and wakes as many waiters.
    pub(crate) fn give(&self, n: usize) {
        self.consumer.released.fetch_add(n, SeqCst);
        if self.wait.waiters.load(SeqCst) > 0 {
            for _ in 0..n {
                self.notify.notify_one();
            }
        }
    }

    /// Refuses every later take and wakes every waiter.
    pub(crate) fn close(&self) {
        self.wait.closed.store(true, SeqCst);
        self.notify.notify_waiters();
    }
}

/// Counts a waiter for as long as it waits (including if it is cancelled).
struct WaiterGuard<'a>(&'a AtomicUsize);

impl<'a> WaiterGuard<'a> {
    fn new(waiters: &'a AtomicUsize) -> Self {
        waiters.fetch_add(1, SeqCst);
        Self(waiters)
    }
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}
