//! Choosing a queue's shape: capacity, overflow policy, weight budget.
//!
//! [`bounded`](crate::bounded) covers the common case (wait for room);
//! [`Queue::builder`] covers the rest, and is the only place a policy is
//! chosen: the policy belongs to the queue, not to each send, so every
//! producer behaves the same way under overload.

use std::fmt;

use crate::clock::{Clock, TimeSource};
use crate::codel::{Codel, CodelState, OnShed};
use crate::error::Error;
use crate::receiver::Receiver;
use crate::sender::Sender;
use crate::shared::{Shared, Weigher, Weight};
use crate::sync::Arc;

/// What [`Sender::send`] does when the queue is full.
///
/// | policy | `send` on a full queue | counted as |
/// |---|---|---|
/// | `Wait` | waits for room | nothing |
/// | `Reject` | `Err(SendError::Full(item))` | `rejected` |
/// | `DropOldest` | admits the item, returns `Ok(Some(oldest))` | `dropped`, `evicted` |
///
/// In every case the item that does not end up in the queue is handed back
/// to the caller: nothing vanishes.
///
/// There is no "drop newest" policy: refusing the incoming item is
/// [`Reject`](Self::Reject) (the caller gets it back and discards it, or
/// not), and evicting the most recently queued item instead would need a
/// ring that pops from its back, which the lock-free ring does not offer.
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::{Overflow, Queue};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (tx, rx) = Queue::builder(1).overflow(Overflow::DropOldest).build().unwrap();
/// assert_eq!(tx.send("old").await.unwrap(), None);
/// assert_eq!(tx.send("new").await.unwrap(), Some("old")); // evicted, handed back
/// assert_eq!(rx.recv().await, Some("new"));
/// # }
/// ```
///
/// [`Sender::send`]: crate::Sender::send
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// Wait for room (backpressure reaches the producer).
    #[default]
    Wait,
    /// Refuse the new item and hand it back (the producer answers 503).
    Reject,
    /// Evict the oldest queued item, hand it back, admit the new one (fresh
    /// data beats stale data: telemetry, latest-state updates).
    ///
    /// Under contention the eviction and the push happen as one step with
    /// respect to other evicting senders and to `close`: the evicted item
    /// goes back to the sender whose item replaced it (never to a receiver,
    /// never nowhere), and a close cannot land between the two.
    ///
    /// If the queue is full but holds nothing to evict (every slot is held
    /// by an unsent [`Permit`](crate::Permit)), `send` waits for a slot and
    /// `try_send` returns `Full`.
    DropOldest,
}

/// Entry point for building a queue with options: see [`Queue::builder`].
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::{Overflow, Queue};
///
/// let (tx, rx) = Queue::builder::<String>(64).overflow(Overflow::Reject).build().unwrap();
/// assert_eq!(tx.capacity(), 64);
/// # drop(rx);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Queue;

impl Queue {
    /// Starts building a queue that holds at most `capacity` items.
    ///
    /// `capacity` 0 is accepted here and refused by
    /// [`Builder::build`] with [`Error::ZeroCapacity`].
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::Queue;
    ///
    /// let (tx, _rx) = Queue::builder::<u64>(8).build().unwrap();
    /// assert_eq!(tx.capacity(), 8);
    /// ```
    pub fn builder<T>(capacity: usize) -> Builder<T> {
        Builder {
            capacity,
            overflow: Overflow::Wait,
            weight: None,
            clock: Clock::Auto,
            track_wait: true,
            codel: None,
        }
    }
}

/// Builds a queue; created by [`Queue::builder`].
///
/// # Defaults
///
/// - overflow: [`Overflow::Wait`]
/// - weight budget: none (only the count bound applies)
/// - queue-delay shedding: off
/// - queue-wait tracking: on, with [`Clock::Auto`] (tokio's clock on a
///   current-thread runtime, so queue-wait stats follow paused time in
///   tests; the CPU's time-stamp counter elsewhere)
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::{Overflow, Queue};
///
/// // At most 100 jobs and at most 1 MiB of payload, whichever binds first.
/// let (tx, _rx) = Queue::builder::<Vec<u8>>(100)
///     .overflow(Overflow::Reject)
///     .weight_budget(1 << 20, |job| u32::try_from(job.len()).unwrap_or(u32::MAX))
///     .build()
///     .unwrap();
/// assert_eq!(tx.stats().weight_budget, Some(1 << 20));
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<T> {
    capacity: usize,
    overflow: Overflow,
    weight: Option<(u32, Weigher<T>)>,
    clock: Clock,
    track_wait: bool,
    codel: Option<(Codel, OnShed<T>)>,
}

impl<T> fmt::Debug for Builder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("capacity", &self.capacity)
            .field("overflow", &self.overflow)
            .field("weight_budget", &self.weight.as_ref().map(|(b, _)| *b))
            .field("codel", &self.codel.as_ref().map(|(c, _)| *c))
            .finish_non_exhaustive()
    }
}

impl<T> Builder<T> {
    /// Sets what a send does on a full queue. Default: [`Overflow::Wait`].
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{Overflow, Queue};
    ///
    /// let (tx, _rx) = Queue::builder::<u8>(4).overflow(Overflow::Reject).build().unwrap();
    /// assert_eq!(tx.overflow(), Overflow::Reject);
    /// ```
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Admits items by weight as well as by count: the items in the queue
    /// (plus outstanding permits) weigh at most `budget` in total, with
    /// `weigher` giving each item's weight (bytes, say). The count bound
    /// stays as a backstop. Default: no weight budget.
    ///
    /// An item heavier than the whole `budget` is refused at once with
    /// `TooHeavy` (its weight could never fit). A heavy item waiting for
    /// weight to free up holds its place in line: lighter items behind it
    /// wait too (first come, first served), so it cannot starve.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{Queue, TrySendError};
    ///
    /// let (tx, _rx) = Queue::builder::<Vec<u8>>(10)
    ///     .weight_budget(100, |v| v.len() as u32)
    ///     .build()
    ///     .unwrap();
    /// tx.try_send(vec![0; 60]).unwrap();
    /// assert!(matches!(tx.try_send(vec![0; 60]), Err(TrySendError::Full(_))));
    /// assert!(matches!(tx.try_send(vec![0; 101]), Err(TrySendError::TooHeavy(_))));
    /// ```
    pub fn weight_budget<F>(mut self, budget: u32, weigher: F) -> Self
    where
        F: Fn(&T) -> u32 + Send + Sync + 'static,
    {
        self.weight = Some((budget, Box::new(weigher)));
        self
    }

    /// Sets where enqueue and dequeue timestamps (queue-wait stats,
    /// [`codel`](Self::codel) shedding) come from. Default: [`Clock::Auto`],
    /// which picks [`Clock::Tokio`] on a current-thread runtime (where tests
    /// pause time) and the cheaper [`Clock::Fast`] elsewhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{Clock, Queue};
    ///
    /// // Follow tokio's clock wherever the queue is built.
    /// let (tx, _rx) = Queue::builder::<u8>(4).clock(Clock::Tokio).build().unwrap();
    /// assert_eq!(tx.clock(), Some(Clock::Tokio));
    /// ```
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Turns queue-wait tracking on or off. Default: on.
    ///
    /// Tracking reads the clock twice per item (at enqueue and at dequeue);
    /// for a queue that hands off millions of tiny items per second that is
    /// a measurable share of the cost (see the crate's benchmark). Off, the
    /// [`WaitStats`](crate::WaitStats) in [`Stats`](crate::Stats) stay zero;
    /// every other counter is kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::Queue;
    ///
    /// let (tx, rx) = Queue::builder(4).track_wait(false).build().unwrap();
    /// tx.try_send(1).unwrap();
    /// rx.try_recv().unwrap();
    /// assert_eq!(rx.stats().dequeued, 1);
    /// assert_eq!(rx.stats().wait.count, 0);
    /// ```
    pub fn track_wait(mut self, on: bool) -> Self {
        self.track_wait = on;
        self
    }

    /// Sheds items that waited too long, `CoDel`-style (see [`Codel`]): at
    /// dequeue, an item that waited past the limit is handed to `on_shed`
    /// instead of to the receiver, and counted in
    /// [`Stats::shed`](crate::Stats::shed). Default: off.
    ///
    /// `on_shed` runs on the receiving task, inside `recv`/`try_recv`: keep
    /// it short (answer the client, count, log). [`Receiver::drain`] never
    /// sheds. Needs queue-wait tracking (the default).
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{Codel, Queue};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let (tx, rx) = Queue::builder(64)
    ///     .codel(Codel::default(), |job: u32| println!("job {job} shed: waited too long"))
    ///     .build()
    ///     .unwrap();
    /// tx.send(1).await.unwrap();
    /// tokio::time::advance(Duration::from_millis(150)).await; // over the 100 ms interval
    /// tx.send(2).await.unwrap();
    /// assert_eq!(rx.recv().await, Some(2)); // 1 waited 150 ms: shed
    /// assert_eq!(rx.stats().shed, 1);
    /// # }
    /// ```
    ///
    /// [`Receiver::drain`]: crate::Receiver::drain
    pub fn codel<F>(mut self, codel: Codel, on_shed: F) -> Self
    where
        F: Fn(T) + Send + Sync + 'static,
    {
        self.codel = Some((codel, Box::new(on_shed)));
        self
    }

    /// Builds the queue and returns its two halves.
    ///
    /// # Errors
    ///
    /// - [`Error::ZeroCapacity`] for capacity 0;
    /// - [`Error::CapacityTooLarge`] above
    ///   [`tokio::sync::Semaphore::MAX_PERMITS`];
    /// - [`Error::ZeroWeightBudget`] for a weight budget of 0;
    /// - [`Error::DropOldestWithWeight`] for `DropOldest` with a weight budget;
    /// - [`Error::CodelWithoutWaitTracking`] for [`codel`](Self::codel)
    ///   with [`track_wait(false)`](Self::track_wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{Error, Overflow, Queue};
    ///
    /// assert_eq!(Queue::builder::<u8>(0).build().unwrap_err(), Error::ZeroCapacity);
    /// let err = Queue::builder::<u8>(4)
    ///     .overflow(Overflow::DropOldest)
    ///     .weight_budget(10, |_| 1)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err, Error::DropOldestWithWeight);
    /// ```
    pub fn build(self) -> Result<(Sender<T>, Receiver<T>), Error> {
        if self.capacity == 0 {
            return Err(Error::ZeroCapacity);
        }
        if self.capacity > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(Error::CapacityTooLarge(self.capacity));
        }
        let weight = match self.weight {
            None => None,
            Some((0, _)) => return Err(Error::ZeroWeightBudget),
            Some(_) if self.overflow == Overflow::DropOldest => {
                return Err(Error::DropOldestWithWeight);
            }
            Some((budget, weigher)) => Some(Weight {
                budget,
                units: tokio::sync::Semaphore::new(budget as usize),
                weigher,
            }),
        };
        let codel = match (self.codel, self.track_wait) {
            (None, _) => None,
            (Some(_), false) => return Err(Error::CodelWithoutWaitTracking),
            (Some((config, on_shed)), true) => Some(CodelState::new(config, on_shed)),
        };
        let clock = self.track_wait.then(|| TimeSource::new(self.clock));
        let shared = Arc::new(Shared::new(
            self.capacity,
            self.overflow,
            weight,
            clock,
            codel,
        ));
        Ok((Sender::new(Arc::clone(&shared)), Receiver::new(shared)))
    }
}
