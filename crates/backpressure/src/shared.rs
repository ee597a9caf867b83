//! The state both halves of a queue share, and the admission rule.
//!
//! # How admission works
//!
//! Items travel through an [`async_channel`] bounded to the queue's
//! capacity. Admission, though, is decided by a count of free slots
//! ([`Slots`], a small semaphore), because the channel alone cannot lend out a slot before the item
//! exists (reserve-then-send) and cannot say "wait for room" apart from
//! "push". The rule every path follows:
//!
//! 1. take a slot (wait, or fail at once);
//! 2. push the item into the channel with `try_send`;
//! 3. a receiver pops an item from the channel, *then* gives its slot back.
//!
//! So every item in the channel is backed by a taken slot, and the
//! channel (same capacity) always has room for a slot holder: capacity is
//! never exceeded and `try_send` in step 2 can only fail if the queue was
//! closed meanwhile, in which case the slot is given back and the item is
//! handed back to the caller.
//!
//! A weighted queue adds a second semaphore (tokio's, for its fair
//! `acquire_many`), of weight units; an item takes
//! a slot and its weight, and gives both back when dequeued.
//!
//! [`Overflow::DropOldest`] on a full queue pops the oldest item and pushes
//! the new one in its slot. That pair runs under a small mutex that
//! [`Shared::close`] also takes, so a close can never land between the
//! eviction and the push (which would leave two items and one to hand back).

use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;

use tokio::sync::{Semaphore, TryAcquireError};

use crate::slots::Slots;
use tokio::time::Instant;

use crate::Overflow;
use crate::codel::CodelState;
use crate::error::TrySendError;
use crate::stats::{Counters, Stats};

/// An item on its way through the channel, with what its dequeue needs.
#[derive(Debug)]
pub(crate) struct Envelope<T> {
    pub(crate) item: T,
    /// `None` when the queue does not track queue wait.
    pub(crate) enqueued_at: Option<Instant>,
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
    pub(crate) tx: async_channel::Sender<Envelope<T>>,
    pub(crate) rx: async_channel::Receiver<Envelope<T>>,
    pub(crate) slots: Slots,
    pub(crate) weight: Option<Weight<T>>,
    pub(crate) capacity: usize,
    pub(crate) overflow: Overflow,
    pub(crate) counters: Counters,
    pub(crate) senders: AtomicUsize,
    pub(crate) receivers: AtomicUsize,
    /// Where enqueue and dequeue timestamps come from; `None` turns queue-wait
    /// tracking off.
    clock: Option<fn() -> Instant>,
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
        clock: Option<fn() -> Instant>,
        codel: Option<CodelState<T>>,
    ) -> Self {
        let (tx, rx) = async_channel::bounded(capacity);
        Self {
            tx,
            rx,
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
        let in_use = self.slots.try_take()?;
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
        let enqueued_at = self.clock.map(|now| now());
        let env = Envelope {
            item,
            enqueued_at,
            weight,
        };
        match self.tx.try_send(env) {
            Ok(()) => {
                self.counters.on_enqueue();
                // The first item into an empty queue: it was empty until now.
                if let (Some(codel), Some(at)) = (&self.codel, enqueued_at)
                    && self.tx.len() == 1
                {
                    codel.mark_empty(at);
                }
                Ok(())
            }
            Err(err) => {
                self.release(weight);
                Err(err.into_inner().item)
            }
        }
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
        if self.tx.is_closed() {
            return Err(TrySendError::Closed(item));
        }
        let Ok(old) = self.rx.try_recv() else {
            return Err(TrySendError::Full(item));
        };
        // `old`'s slot now backs `item`. The push cannot fail: `close` needs
        // the lock we hold, and popping `old` left the channel a free place.
        self.counters.on_evict();
        let env = Envelope {
            item,
            enqueued_at: self.clock.map(|now| now()),
            weight: 0,
        };
        match self.tx.try_send(env) {
            Ok(()) => {
                self.counters.on_enqueue();
                Ok(Some(old.item))
            }
            Err(err) => {
                self.release(0);
                Err(TrySendError::Closed(err.into_inner().item))
            }
        }
    }

    /// Unwraps a dequeued envelope: gives its slot back and records stats.
    /// Returns `None` if queue-delay shedding took the item (it has been
    /// handed to the shed callback).
    pub(crate) fn take(&self, env: Envelope<T>) -> Option<T> {
        self.release(env.weight);
        let (Some(clock), Some(at)) = (self.clock, env.enqueued_at) else {
            self.counters.on_dequeue(None);
            return Some(env.item);
        };
        let now = clock();
        let wait = now.saturating_duration_since(at);
        if let Some(codel) = &self.codel {
            let shed = codel.should_shed(now, wait);
            if self.rx.is_empty() {
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
        let wait = match (self.clock, env.enqueued_at) {
            (Some(clock), Some(at)) => Some(clock().saturating_duration_since(at)),
            _ => None,
        };
        self.counters.on_dequeue(wait);
        env.item
    }

    /// Tells the shedder the queue is empty (a receiver is about to wait).
    pub(crate) fn note_empty(&self) {
        if let (Some(codel), Some(clock)) = (&self.codel, self.clock)
            && self.rx.is_empty()
        {
            codel.mark_empty(clock());
        }
    }

    /// `true` if this queue sheds by queue delay.
    pub(crate) fn sheds(&self) -> bool {
        self.codel.is_some()
    }

    /// Closes intake. Returns `true` if this call closed the queue.
    pub(crate) fn close(&self) -> bool {
        let _guard = self
            .evict_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let closed_now = self.tx.close();
        self.slots.close();
        if let Some(w) = &self.weight {
            w.units.close();
        }
        closed_now
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    pub(crate) fn stats(&self) -> Stats {
        let mut stats = self.counters.snapshot(self.tx.len(), self.capacity);
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
