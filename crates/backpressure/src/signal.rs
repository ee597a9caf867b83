//! [`Signal`]: tasks waiting for a condition, and a cheap way to wake them.
//!
//! The queue has two places where a task waits: a producer for a free slot
//! ([`Slots`](crate::slots::Slots)) and a receiver for an item (the `items`
//! signal in `shared`). Both follow one pattern, written once here:
//!
//! - a waiter checks its condition; if it does not hold, it announces
//!   itself (`waiters += 1`), registers with a [`Notify`], and checks again
//!   before it sleeps;
//! - whoever makes the condition true (frees a slot, pushes an item) then
//!   reads `waiters`, and only if someone waits calls `notify_one`.
//!
//! So the hot path of an uncontended queue is one extra load per operation,
//! with no lock and no read-modify-write on a shared line.
//!
//! # The no-lost-wake-up argument
//!
//! The waiter's announcement and the waker's change are both followed by a
//! sequentially consistent fence before each side reads what the other
//! wrote. Of two such fences one comes first in the single total order of
//! `SeqCst` operations, so at least one side sees the other: either the
//! waiter's second check finds the condition true, or the waker sees a
//! waiter and calls `notify_one`, which reaches a registered waiter (or is
//! stored for the next one to register). A waiter dropped after being
//! notified passes the notification on (tokio's `Notified` does this), so a
//! cancelled wait cannot swallow a wake-up meant for someone else.
//!
//! # Coalescing
//!
//! A waker that finds a wake-up already on its way (the `pending` flag)
//! does not send another: the waiter it reaches will re-check anyway, and
//! its check sees this waker's change too (the waker set the condition and
//! fenced before it read the flag; the waiter clears the flag and fences
//! before it checks). A waiter that succeeds after being woken passes one
//! wake-up on, so wake-ups skipped meanwhile are not lost when there is
//! more for the other waiters. This turns "one `notify_one` per freed slot"
//! into "one per sleep" when a producer outpaces its consumers.
//!
//! The flag is only ever left set while some waiter (or a wake-up stored in
//! the [`Notify`] for the next one to register) is bound to clear it: a
//! waiter clears it whenever it has been woken or has consumed a stored
//! wake-up, and one cancelled after being woken hands its wake-up to the
//! next waiter, which then clears it. Clearing it without holding the
//! wake-up is harmless: it only allows an extra wake-up.
//!
//! Waiters are woken in the order tokio's [`Notify`] keeps (first come,
//! first served), but a task that arrives just as the condition comes true
//! may get there first; a woken waiter that finds nothing checks again and
//! goes back to sleep. Every wake-up is still followed by a fresh check, so
//! no waiter sleeps through a change while the queue makes progress.

use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst, fence};

use tokio::sync::Notify;

/// The waiter count, alone on its cache line: it is read on every
/// operation and written only when a task goes to sleep or wakes.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Waiters(AtomicUsize);

/// Tasks waiting for a condition (see the module docs).
#[derive(Debug)]
pub(crate) struct Signal {
    /// Whether wake-ups coalesce (see the module docs).
    coalesce: bool,
    waiters: Waiters,
    /// Set while a wake-up is on its way to a waiter that has not yet
    /// re-checked (see "Coalescing" in the module docs).
    pending: Pending,
    notify: Notify,
}

/// The coalescing flag, on its own line for the same reason.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Pending(AtomicBool);

impl Signal {
    /// A signal nobody waits on yet. With `coalesce`, at most one wake-up is
    /// on its way at a time (for producers waiting for slots); without, every
    /// wake reaches a sleeping waiter (for receivers: several items pushed in
    /// a row wake several receivers at once, as `async-channel` does).
    pub(crate) fn new(coalesce: bool) -> Self {
        Self {
            coalesce,
            waiters: Waiters::default(),
            pending: Pending::default(),
            notify: Notify::new(),
        }
    }

    /// Runs `attempt` until it returns `Some`, sleeping between tries until
    /// a [`wake`](Self::wake) says the condition may have changed.
    ///
    /// Cancel-safe as long as `attempt` is: a dropped future holds nothing
    /// and passes on any wake-up it was given.
    pub(crate) async fn wait_for<R>(&self, mut attempt: impl FnMut() -> Option<R>) -> R {
        let mut woken = false;
        loop {
            if let Some(done) = attempt() {
                if woken && self.coalesce {
                    // Wake-ups skipped while ours was pending: pass one on,
                    // in case there is more for the others.
                    self.wake();
                }
                return done;
            }
            let announce = Announce::new(&self.waiters.0);
            let mut notified = pin!(self.notify.notified());
            // May consume a wake-up stored by a `notify_one` that found
            // nobody registered.
            notified.as_mut().enable();
            let done = attempt();
            if done.is_none() {
                notified.as_mut().await;
            }
            drop(announce);
            if !self.coalesce {
                if let Some(done) = done {
                    return done;
                }
                continue;
            }
            // This waiter may now hold the pending wake-up (it was woken,
            // or `enable` consumed a stored one), and nothing else will
            // clear the flag for it. Clearing it when it held none only
            // allows one extra wake-up later. No `.await` lies between the
            // wake-up and this store, so cancellation cannot skip it.
            self.pending.0.store(false, SeqCst);
            fence(SeqCst);
            woken = true;
            if let Some(done) = done {
                self.wake();
                return done;
            }
        }
    }

    /// Wakes a waiter, if there is one (and, when coalescing, no wake-up is
    /// already on its way). Call it *after* the change that makes the condition true.
    pub(crate) fn wake(&self) {
        fence(SeqCst);
        if self.waiters.0.load(SeqCst) == 0 {
            return;
        }
        if !self.coalesce || (!self.pending.0.load(SeqCst) && !self.pending.0.swap(true, SeqCst)) {
            self.notify.notify_one();
        }
    }

    /// Wakes every waiter (for close: each one's check then sees it).
    pub(crate) fn wake_all(&self) {
        fence(SeqCst);
        self.notify.notify_waiters();
    }
}

/// Counts a waiter for as long as it waits (including if it is cancelled).
struct Announce<'a>(&'a AtomicUsize);

impl<'a> Announce<'a> {
    fn new(waiters: &'a AtomicUsize) -> Self {
        waiters.fetch_add(1, SeqCst);
        // Orders the announcement before the second check's reads, which
        // may not be `SeqCst` themselves (the item queue's are not).
        fence(SeqCst);
        Self(waiters)
    }
}

impl Drop for Announce<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}
