//! [`Slots`]: the count of free places in a queue, with a way to wait for one.
//!
//! This is a counting semaphore cut down to what the queue needs: take one
//! slot (now or by waiting), give slots back, close. It exists because the
//! hot path runs it twice per item (a producer takes, a consumer gives), and
//! `tokio::sync::Semaphore` takes a mutex on every give; here a give is one
//! atomic add, plus a wake-up only when someone is actually waiting.
//!
//! # The no-lost-wake-up argument
//!
//! A waiter announces itself (`waiters += 1`), registers with the
//! [`Notify`], then checks `free` again before sleeping. A giver adds to
//! `free`, then reads `waiters`. All four are sequentially consistent, so at
//! least one side sees the other: either the waiter's re-check finds the new
//! slot, or the giver sees a waiter and calls `notify_one`, which reaches the
//! registered waiter (or is stored for the next one). A waiter dropped after
//! being notified passes the notification on (tokio's `Notified` does this),
//! so a cancelled `take` cannot swallow a wake-up meant for someone else.
//!
//! Waiters are not served first-come-first-served: a producer arriving just
//! as a slot frees up may take it ahead of one that was waiting (as with
//! `async-channel` itself). Every waiter is still woken while slots come
//! back, so none waits forever while the queue makes progress.

use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use tokio::sync::Notify;

use crate::shared::{Closed, NoRoom};

/// Aligned to a cache line of its own: producers and consumers both write
/// `free`, and nothing else should share the line it bounces on.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct Slots {
    capacity: usize,
    free: AtomicUsize,
    waiters: AtomicUsize,
    closed: AtomicBool,
    notify: Notify,
}

impl Slots {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            free: AtomicUsize::new(capacity),
            waiters: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            notify: Notify::new(),
        }
    }

    /// Takes one slot if one is free now; returns how many slots are in use
    /// just after.
    pub(crate) fn try_take(&self) -> Result<usize, NoRoom> {
        if self.closed.load(SeqCst) {
            return Err(NoRoom::Closed);
        }
        let mut free = self.free.load(SeqCst);
        loop {
            if free == 0 {
                return Err(NoRoom::Full);
            }
            match self
                .free
                .compare_exchange_weak(free, free - 1, SeqCst, SeqCst)
            {
                Ok(_) => return Ok(self.capacity - (free - 1)),
                Err(now) => free = now,
            }
        }
    }

    /// Takes one slot, waiting for one to be given back if none is free;
    /// returns how many slots are in use just after. Cancel-safe: a dropped
    /// future holds nothing.
    pub(crate) async fn take(&self) -> Result<usize, Closed> {
        loop {
            match self.try_take() {
                Ok(in_use) => return Ok(in_use),
                Err(NoRoom::Closed) => return Err(Closed),
                Err(NoRoom::Full) => {}
            }
            let _waiting = WaiterGuard::new(&self.waiters);
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
        self.free.fetch_add(n, SeqCst);
        if self.waiters.load(SeqCst) > 0 {
            for _ in 0..n {
                self.notify.notify_one();
            }
        }
    }

    /// Refuses every later take and wakes every waiter.
    pub(crate) fn close(&self) {
        self.closed.store(true, SeqCst);
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
