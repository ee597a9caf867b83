//! The state both halves of a queue share, and the admission rule.
//!
//! # How admission works
//!
//! Items travel through a lock-free MPMC queue
//! ([`concurrent_queue::ConcurrentQueue`], the one `async-channel` is built
//! on) bounded to the queue's capacity. Admission, though, is decided by a
//! count of free slots ([`Slots`], a small semaphore), because a channel
//! cannot lend out a slot before the item exists (reserve-then-send) and
//! cannot say "wait for room" apart from "push". The rule every path
//! follows:
//!
//! 1. take a slot (wait, or fail at once);
//! 2. push the item into the queue (and wake a waiting receiver, if any);
//! 3. a receiver pops an item, *then* gives its slot back.
//!
//! So every item in the queue is backed by a taken slot, and the queue
//! (same capacity) always has room for a slot holder: capacity is never
//! exceeded and the push in step 2 can only fail if the queue was closed
//! meanwhile, in which case the slot is given back and the item is handed
//! back to the caller.
//!
//! # Why not `async-channel` itself
//!
//! Earlier versions pushed through `async-channel`. Since admission is the
//! slots' job, its channel never filled and no sender ever waited on it,
//! yet every receive still notified its (empty) list of blocked senders,
//! and every send its list of blocked receivers, each under the list's
//! mutex: two lock round trips per item, the largest cost left in profiles
//! of a busy worker pool. Here receivers wait on a [`Signal`], which a push
//! notifies only when a receiver sleeps without a wake-up already on its
//! way, and producers wait only on the slots (with the same kind of
//! signal), never on the ring.
//!
//! A weighted queue adds a second semaphore (tokio's, for its fair
//! `acquire_many`), of weight units; an item takes
//! a slot and its weight, and gives both back when dequeued.
//!
//! [`Overflow::DropOldest`] on a full queue pops the oldest item and pushes
//! the new one in its slot. That pair runs under a small mutex that
//! [`Shared::close`] also takes, so a close can never land between the
//! eviction and the push (which would leave two items and one to hand back).

use tokio::sync::{Semaphore, TryAcquireError};

use concurrent_queue::{ConcurrentQueue, PopError, PushError};

use crate::clock::TimeSource;
use crate::signal::Signal;
use crate::slots::Slots;

use crate::Overflow;
use crate::codel::CodelState;
use crate::error::TrySendError;
use crate::stats::{Counters, Stats};
use crate::sync::{AtomicUsize, Mutex};
use std::sync::atomic::Ordering::{AcqRel, Relaxed};

/// An item on its way through the queue, with what its dequeue needs.
#[derive(Debug)]
pub(crate) struct Envelope<T> {
    pub(crate) item: T,
    /// When it was enqueued, on the queue's clock (0 when the queue does not
    /// track queue wait).
    pub(crate) enqueued_at: u64,
    pub(crate) weight: u32,
}

/// The weighing function of a weighted queue.
pub(crate) type Weigher<T> = Box<dyn Fn(&T) -> u32 + Send + Sync>;

/// The weight budget of a weighted queue.
pub(crate) struct Weight<T> {
    pub(crate) budget: u32,
    pub(crate) units: Semaphore,
    pub(crate) weigher: Weigher<T>,
}

/// The queue is closed (admission failed for that reason).
#[derive(Debug)]
pub(crate) struct Closed;

/// Why an admission that must not wait failed.
#[derive(Debug)]
pub(crate) enum NoRoom {
    Full,
    Closed,
}

pub(crate) struct Shared<T> {
    /// The items, in order; never fuller than the slots taken.
    queue: ConcurrentQueue<Envelope<T>>,
    /// Receivers waiting for an item (or for the close).
    items: Signal,
    pub(crate) slots: Slots,
    pub(crate) weight: Option<Weight<T>>,
    pub(crate) capacity: usize,
    pub(crate) overflow: Overflow,
    pub(crate) counters: Counters,
    pub(crate) senders: AtomicUsize,
    pub(crate) receivers: AtomicUsize,
    /// Where enqueue and dequeue timestamps come from; `None` turns queue-wait
    /// tracking off.
    clock: Option<TimeSource>,
    /// Queue-delay shedding, if configured (requires `clock`).
    codel: Option<CodelState<T>>,
    /// Serializes a `DropOldest` eviction-and-push against `close`.
    evict_lock: Mutex<()>,
}

impl<T> Shared<T> {
    pub(crate) fn new(
        capacity: usize,
        overflow: Overflow,
        weight: Option<Weight<T>>,
        clock: Option<TimeSource>,
        codel: Option<CodelState<T>>,
    ) -> Self {
        Self {
            queue: ConcurrentQueue::bounded(capacity),
            items: Signal::new(usize::MAX),
            slots: Slots::new(capacity),
            weight,
            capacity,
            overflow,
            counters: Counters::default(),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            clock,
            codel,
            evict_lock: Mutex::new(()),
        }
    }

    /// The weight of `item` (0 for an unweighted queue).
    pub(crate) fn weigh(&self, item: &T) -> u32 {
        self.weight.as_ref().map_or(0, |w| (w.weigher)(item))
    }

    /// `true` if an item of this weight could never be admitted.
    pub(crate) fn too_heavy(&self, weight: u32) -> bool {
        self.weight.as_ref().is_some_and(|w| weight > w.budget)
    }

    /// Takes a slot and `weight` units, waiting for them. Cancel-safe: a
    /// dropped future gives back whatever it had taken.
    pub(crate) async fn admit(&self, weight: u32) -> Result<(), Closed> {
        let in_use = self.slots.take().await?;
        if let Some(w) = &self.weight
            && weight > 0
        {
            // Gives the slot back if the weight wait fails or is cancelled.
            let refund = Refund(&self.slots);
            w.units
                .acquire_many(weight)
                .await
                .map_err(|_| Closed)?
                .forget();
            std::mem::forget(refund);
        }
        self.note_in_use(in_use);
        Ok(())
    }

    /// Takes a slot and `weight` units if both are free now.
    pub(crate) fn try_admit(&self, weight: u32) -> Result<(), NoRoom> {
        let in_use = self.slots.try_take(true)?;
        if let Some(w) = &self.weight
            && weight > 0
        {
            match w.units.try_acquire_many(weight) {
                Ok(units) => units.forget(),
                Err(err) => {
                    self.slots.give(1);
                    return Err(no_room(&err));
                }
            }
        }
        self.note_in_use(in_use);
        Ok(())
    }

    /// Updates the high water mark from a take's upper bound on slots in
    /// use, confirming a would-be new maximum with a fresh count.
    fn note_in_use(&self, upper_bound: usize) {
        if upper_bound > self.counters.high_water() {
            self.counters.on_admit(self.slots.in_use().min(upper_bound));
        }
    }

    /// Gives back a slot and `weight` units.
    pub(crate) fn release(&self, weight: u32) {
        self.slots.give(1);
        if let Some(w) = &self.weight
            && weight > 0
        {
            w.units.add_permits(weight as usize);
        }
    }

    /// Pushes an admitted item. On failure (the queue closed meanwhile) the
    /// slot is given back and the item returned.
    pub(crate) fn push(&self, item: T, weight: u32) -> Result<(), T> {
        let env = self.stamp(item, weight);
        let enqueued_at = env.enqueued_at;
        match self.enqueue(env) {
            Ok(()) => {
                // The first item into an empty queue: it was empty until now.
                if let Some(codel) = &self.codel
                    && self.queue.len() == 1
                {
                    codel.mark_empty(enqueued_at);
                }
                Ok(())
            }
            Err(env) => {
                self.release(weight);
                Err(env.item)
            }
        }
    }

    /// Wraps an item for the queue, stamped with the queue clock's time.
    fn stamp(&self, item: T, weight: u32) -> Envelope<T> {
        Envelope {
            item,
            enqueued_at: self.now().unwrap_or(0),
            weight,
        }
    }

    /// Pushes an admitted envelope, wakes a waiting receiver and counts it
    /// as enqueued: the one way into the ring. Hands the envelope back if
    /// the queue closed meanwhile.
    fn enqueue(&self, env: Envelope<T>) -> Result<(), Envelope<T>> {
        self.queue.push(env).map_err(PushError::into_inner)?;
        self.items.wake();
        self.counters.on_enqueue();
        Ok(())
    }

    /// The `DropOldest` path for a queue with no free slot: evict the oldest
    /// item and push `item` in its slot. `Err(Full)` means nothing was
    /// queued to evict (every slot is held by a permit or a send in flight).
    pub(crate) fn evict_and_push(&self, item: T) -> Result<Option<T>, TrySendError<T>> {
        // The guarded data is `()`: a poisoned lock protects nothing broken.
        let _guard = self
            .evict_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.queue.is_closed() {
            return Err(TrySendError::Closed(item));
        }
        let Ok(old) = self.queue.pop() else {
            return Err(TrySendError::Full(item));
        };
        // `old`'s slot now backs `item`. The push cannot fail: `close` needs
        // the lock we hold, and popping `old` left the channel a free place.
        self.counters.on_evict();
        match self.enqueue(self.stamp(item, 0)) {
            Ok(()) => Ok(Some(old.item)),
            Err(env) => {
                self.release(0);
                Err(TrySendError::Closed(env.item))
            }
        }
    }

    /// Unwraps a dequeued envelope: gives its slot back and records stats.
    /// Returns `None` if queue-delay shedding took the item (it has been
    /// handed to the shed callback).
    pub(crate) fn take(&self, env: Envelope<T>) -> Option<T> {
        self.release(env.weight);
        let Some(now) = self.now() else {
            self.counters.on_dequeue(None);
            return Some(env.item);
        };
        let wait = now.saturating_sub(env.enqueued_at);
        if let Some(codel) = &self.codel {
            let shed = codel.should_shed(now, wait);
            if self.queue.is_empty() {
                codel.mark_empty(now);
            }
            if shed {
                self.counters.on_shed();
                (codel.on_shed)(env.item);
                return None;
            }
        }
        self.counters.on_dequeue(Some(wait));
        Some(env.item)
    }

    /// Unwraps a dequeued envelope without shedding (for `drain`).
    pub(crate) fn take_unshed(&self, env: Envelope<T>) -> T {
        self.release(env.weight);
        let wait = self.now().map(|now| now.saturating_sub(env.enqueued_at));
        self.counters.on_dequeue(wait);
        env.item
    }

    /// The queue clock's time now, if the queue tracks queue wait.
    #[inline]
    fn now(&self) -> Option<u64> {
        self.clock.as_ref().map(TimeSource::now)
    }

    /// The clock the queue uses, if it tracks queue wait.
    pub(crate) fn clock(&self) -> Option<crate::Clock> {
        self.clock.as_ref().map(TimeSource::kind)
    }

    /// Tells the shedder the queue is empty (a receiver is about to wait).
    pub(crate) fn note_empty(&self) {
        if let Some(codel) = &self.codel
            && self.queue.is_empty()
            && let Some(now) = self.now()
        {
            codel.mark_empty(now);
        }
    }

    /// `true` if this queue sheds by queue delay.
    pub(crate) fn sheds(&self) -> bool {
        self.codel.is_some()
    }

    /// Counts one more sender (a `Sender` clone or an outstanding `Permit`).
    pub(crate) fn add_sender(&self) {
        self.senders.fetch_add(1, Relaxed);
    }

    /// Counts a sender gone; the last one closes the queue.
    pub(crate) fn drop_sender(&self) {
        if self.senders.fetch_sub(1, AcqRel) == 1 {
            self.close();
        }
    }

    /// Closes intake. Returns `true` if this call closed the queue.
    pub(crate) fn close(&self) -> bool {
        let _guard = self
            .evict_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let closed_now = self.queue.close();
        self.items.wake_all();
        self.slots.close();
        if let Some(w) = &self.weight {
            w.units.close();
        }
        closed_now
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }

    /// Items in the queue now.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Pops the oldest item without waiting.
    pub(crate) fn try_pop(&self) -> Result<Envelope<T>, PopError> {
        self.queue.pop()
    }

    /// Pops the oldest item, waiting for one; `None` once the queue is
    /// closed and empty. Cancel-safe: an item leaves the queue only in the
    /// poll that returns it.
    pub(crate) async fn pop(&self) -> Option<Envelope<T>> {
        self.items
            .wait_for(|_| match self.queue.pop() {
                Ok(env) => Some(Some(env)),
                Err(PopError::Closed) => Some(None),
                Err(PopError::Empty) => None,
            })
            .await
    }

    pub(crate) fn stats(&self) -> Stats {
        let mut stats = self.counters.snapshot(self.queue.len(), self.capacity);
        if self.clock.is_none() {
            stats.wait = crate::stats::WaitStats::default();
        }
        if let Some(w) = &self.weight {
            let free = w.units.available_permits();
            stats.weight = u64::from(w.budget).saturating_sub(free as u64);
            stats.weight_budget = Some(w.budget);
        }
        stats
    }
}

/// Gives one slot back when dropped (unless forgotten).
struct Refund<'a>(&'a Slots);

impl Drop for Refund<'_> {
    fn drop(&mut self) {
        self.0.give(1);
    }
}

fn no_room(err: &TryAcquireError) -> NoRoom {
    match err {
        TryAcquireError::Closed => NoRoom::Closed,
        TryAcquireError::NoPermits => NoRoom::Full,
    }
}
