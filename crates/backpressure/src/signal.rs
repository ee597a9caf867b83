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
//! So the hot path is a fence and a load or two per operation, with no
//! lock and no read-modify-write on a shared line.
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
//! # Wake-ups in flight
//!
//! A task woken by `notify_one` can sit in the run queue for a while before
//! it runs and leaves the wait. Counting only `waiters`, every push in that
//! time would send another `notify_one` (a read-modify-write on the
//! [`Notify`]'s state, shared by every thread): measured on a 16-worker
//! pool, one per item. So the signal also counts the wake-ups in flight
//! (`pending`), and a waker sends one only while `pending` is below both
//! the number of waiters and the signal's limit: unbounded for receivers
//! (a burst of items wakes as many receivers at once), 1 for producers (a
//! burst of freed slots wakes one producer, which hands the wake-up on).
//!
//! A skipped wake-up is not lost. The waker changed the condition and
//! fenced before it read `pending`; a waiter that wakes resets `pending`
//! to 0 and fences before its next check. A waker only skips when
//! `pending` is at least 1, so some wake-up sent since the last reset is
//! still on its way, and the waiter it reaches resets after the waker's
//! read and so sees the waker's change. A waiter that succeeds after being
//! woken sends one wake-up on (skipped wake-ups may have been meant for the
//! others).
//!
//! The count is only ever left above 0 while some waiter, or a wake-up
//! stored in the [`Notify`] for the next waiter to register, is bound to
//! reset it: a waiter resets it whenever it has been woken or has consumed a
//! stored wake-up, and one cancelled after being woken hands its wake-up to
//! the next waiter, which then resets it. Resetting rather than counting
//! down matters: several `notify_one` calls made while nobody was registered
//! merge into one stored wake-up, and the one waiter that consumes it
//! clears them all. Resetting too much is harmless: it only allows extra
//! wake-ups.
//!
//! Waiters are woken in the order tokio's [`Notify`] keeps (first come,
//! first served). A task that arrives just as the condition comes true may
//! get there first unless the caller defers to the waiters: the producers
//! do ([`wake_in_flight`](Signal::wake_in_flight) tells a newcomer a freed
//! slot is on its way to a waiter), receivers do not (any receiver may take
//! any item). A woken waiter that finds nothing checks again and goes back
//! to sleep. Every wake-up is still followed by a fresh check, so
//! no waiter sleeps through a change while the queue makes progress.

use std::pin::pin;
use std::sync::atomic::Ordering::SeqCst;

use crate::sync::{AtomicUsize, Notify, fence};

/// The two counts every wake reads, together on one cache line: it is
/// read on every operation and written only when a task goes to sleep,
/// wakes, or is sent a wake-up.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Counts {
    /// Tasks between announcing themselves and leaving the wait.
    waiters: AtomicUsize,
    /// Wake-ups sent (or stored) that no waiter has yet acted on; reset to
    /// 0 by each waiter that wakes (see "Wake-ups in flight").
    pending: AtomicUsize,
}

/// Tasks waiting for a condition (see the module docs).
#[derive(Debug)]
pub(crate) struct Signal {
    /// At most this many wake-ups in flight at once.
    limit: usize,
    counts: Counts,
    notify: Notify,
}

impl Signal {
    /// A signal nobody waits on yet, that has at most `limit` wake-ups on
    /// their way at a time (never more than there are waiters): 1 for
    /// producers waiting for slots (the one woken hands it on), unbounded
    /// for receivers, so items pushed in a burst wake as many receivers at
    /// once.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            counts: Counts::default(),
            notify: Notify::new(),
        }
    }

    /// Runs `attempt` until it returns `Some`, sleeping between tries until
    /// a [`wake`](Self::wake) says the condition may have changed.
    ///
    /// Cancel-safe as long as `attempt` is: a dropped future holds nothing
    /// and passes on any wake-up it was given.
    /// `attempt` is told whether this waiter has been woken at least once
    /// (a newcomer that has not may defer to those that have: see
    /// [`wake_in_flight`](Self::wake_in_flight)).
    pub(crate) async fn wait_for<R>(&self, mut attempt: impl FnMut(bool) -> Option<R>) -> R {
        let mut woken = false;
        loop {
            if let Some(done) = attempt(woken) {
                if woken {
                    // Wake-ups may have been skipped while ours was in
                    // flight: pass one on, in case there is more for the
                    // others.
                    self.wake();
                }
                return done;
            }
            let announce = Announce::new(&self.counts.waiters);
            let mut notified = pin!(self.notify.notified());
            // May consume a wake-up stored by a `notify_one` that found
            // nobody registered.
            notified.as_mut().enable();
            let done = attempt(woken);
            if done.is_none() {
                notified.as_mut().await;
            }
            drop(announce);
            // This waiter may now hold a wake-up in flight (it was woken, or
            // `enable` consumed a stored one), and nothing else will count
            // it off. Resetting the count, rather than taking one off, also
            // clears wake-ups that merged into one stored permit; a reset
            // that clears too much only allows extra wake-ups later. No
            // `.await` lies between the wake-up and this store, so
            // cancellation cannot skip it.
            self.counts.pending.store(0, SeqCst);
            fence(SeqCst);
            woken = true;
            if let Some(done) = done {
                self.wake();
                return done;
            }
        }
    }

    /// `true` while some task waits and a wake-up sent to one of them has
    /// not yet been acted on: whatever the waker changed is meant for that
    /// waiter, and a newcomer that defers to it keeps the order first come,
    /// first served. The waiter it reaches resets the count and re-checks,
    /// so deferring never strands the change.
    pub(crate) fn wake_in_flight(&self) -> bool {
        self.counts.waiters.load(SeqCst) > 0 && self.counts.pending.load(SeqCst) > 0
    }

    /// Wakes a waiter, if one is waiting without a wake-up already on its
    /// way (and fewer than the limit are). Call it *after* the change that
    /// makes the condition true.
    pub(crate) fn wake(&self) {
        fence(SeqCst);
        self.wake_after_seqcst();
    }

    /// [`wake`](Self::wake) for a caller whose change was itself a `SeqCst`
    /// read-modify-write: that already takes part in the single total
    /// order the argument needs, so the fence (an `mfence` on x86) can go.
    ///
    /// Under loom the fence stays: loom models `SeqCst` accesses as
    /// acquire/release only (no single total order; see loom's README), so
    /// without it the models would report the lost wake-up that the total
    /// order rules out. `fence(SeqCst)` it does model, so the models check
    /// the argument with the fence standing in for the order.
    pub(crate) fn wake_after_seqcst(&self) {
        #[cfg(loom)]
        fence(SeqCst);
        let waiters = self.counts.waiters.load(SeqCst);
        if waiters == 0 {
            return;
        }
        let most = waiters.min(self.limit);
        let mut pending = self.counts.pending.load(SeqCst);
        while pending < most {
            match self
                .counts
                .pending
                .compare_exchange_weak(pending, pending + 1, SeqCst, SeqCst)
            {
                Ok(_) => {
                    self.notify.notify_one();
                    return;
                }
                Err(now) => pending = now,
            }
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
