//! The producing half: [`Sender`].
//!
//! Every path runs the same two steps (see the `shared` module): take a slot
//! (and weight), then push. What differs is what happens when no slot is
//! free, and that is the queue's [`Overflow`] policy. Whatever the path, an
//! item that does not end up in the queue comes back to the caller.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::Overflow;
use crate::error::{SendError, TrySendError};
use crate::permit::Permit;
use crate::shared::{NoRoom, Shared};
use crate::stats::Stats;

/// The producing half of a queue. Cheap to clone: clones share the queue.
///
/// When the last `Sender` is dropped the queue closes: receivers get what is
/// queued, then `None`.
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::bounded;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (tx, rx) = bounded(8);
/// let tx2 = tx.clone();
/// tx.send("from one").await.unwrap();
/// tx2.send("from two").await.unwrap();
/// drop((tx, tx2));
/// assert_eq!(rx.recv().await, Some("from one"));
/// assert_eq!(rx.recv().await, Some("from two"));
/// assert_eq!(rx.recv().await, None);
/// # }
/// ```
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>) -> Self {
        Self { shared }
    }

    /// Sends `item` following the queue's [`Overflow`] policy.
    ///
    /// Returns `Ok(None)` when the item was queued, `Ok(Some(evicted))` when
    /// it was queued by evicting the oldest item ([`Overflow::DropOldest`]),
    /// and an error carrying the item otherwise:
    ///
    /// - [`SendError::Full`]: the queue is full and the policy is
    ///   [`Reject`](Overflow::Reject) or [`DropNewest`](Overflow::DropNewest);
    /// - [`SendError::Closed`]: the queue is closed (also wakes a send that
    ///   was waiting for room);
    /// - [`SendError::TooHeavy`]: the item weighs more than the whole budget.
    ///
    /// # Cancellation safety
    ///
    /// Dropping the future before it completes (in `select!`, under a
    /// timeout) drops the item with it, exactly like tokio's `mpsc`
    /// `send`. Nothing is enqueued and no slot leaks. To keep the item, use
    /// [`send_timeout`](Self::send_timeout) (which hands it back on
    /// timeout), or [`reserve`](Self::reserve) in the `select!` and send
    /// through the permit once it is granted: `reserve` owns no item.
    ///
    /// # Errors
    ///
    /// See above: every error carries the item.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{SendError, bounded};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = bounded(1);
    /// assert_eq!(tx.send(1).await.unwrap(), None);
    /// rx.close();
    /// assert!(matches!(tx.send(2).await, Err(SendError::Closed(2))));
    /// # }
    /// ```
    pub async fn send(&self, item: T) -> Result<Option<T>, SendError<T>> {
        self.send_inner(item, None).await
    }

    /// Like [`send`](Self::send), but gives up after `timeout` and returns
    /// [`SendError::Timeout`] with the item. Only the waiting policies
    /// ([`Wait`](Overflow::Wait), and [`DropOldest`](Overflow::DropOldest)
    /// when nothing is evictable) ever wait.
    ///
    /// # Cancellation safety
    ///
    /// As for [`send`](Self::send): dropping the future drops the item. The
    /// timeout is the cancel-free way to bound the wait.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), plus [`SendError::Timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{SendError, bounded};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let (tx, _rx) = bounded(1);
    /// tx.send(1).await.unwrap();
    /// let err = tx.send_timeout(2, Duration::from_millis(10)).await.unwrap_err();
    /// assert!(matches!(err, SendError::Timeout(2)));
    /// # }
    /// ```
    pub async fn send_timeout(
        &self,
        item: T,
        timeout: Duration,
    ) -> Result<Option<T>, SendError<T>> {
        self.send_inner(item, Some(timeout)).await
    }

    async fn send_inner(
        &self,
        item: T,
        timeout: Option<Duration>,
    ) -> Result<Option<T>, SendError<T>> {
        let shared = &*self.shared;
        let weight = shared.weigh(&item);
        let item = match self.try_enqueue(item, weight) {
            Err(TrySendError::Full(item))
                if matches!(shared.overflow, Overflow::Wait | Overflow::DropOldest) =>
            {
                item
            }
            other => return other.map_err(|err| self.count(err).into()),
        };
        let admitted = match timeout {
            None => shared.admit(weight).await,
            Some(timeout) => {
                if let Ok(admitted) = tokio::time::timeout(timeout, shared.admit(weight)).await {
                    admitted
                } else {
                    shared.counters.on_reject();
                    return Err(SendError::Timeout(item));
                }
            }
        };
        if admitted.is_err() {
            return Err(SendError::Closed(item));
        }
        shared
            .push(item, weight)
            .map(|()| None)
            .map_err(SendError::Closed)
    }

    /// Sends `item` without waiting.
    ///
    /// On a full queue: [`Overflow::DropOldest`] evicts the oldest item and
    /// returns it as `Ok(Some(evicted))`; every other policy returns
    /// [`TrySendError::Full`] (counted as `dropped` for
    /// [`DropNewest`](Overflow::DropNewest), `rejected` otherwise).
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`], [`TrySendError::Closed`] or
    /// [`TrySendError::TooHeavy`], each with the item.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{TrySendError, bounded};
    ///
    /// let (tx, rx) = bounded(1);
    /// assert_eq!(tx.try_send("a").unwrap(), None);
    /// assert!(matches!(tx.try_send("b"), Err(TrySendError::Full("b"))));
    /// assert_eq!(rx.try_recv().unwrap(), "a");
    /// ```
    pub fn try_send(&self, item: T) -> Result<Option<T>, TrySendError<T>> {
        let weight = self.shared.weigh(&item);
        self.try_enqueue(item, weight)
            .map_err(|err| self.count(err))
    }

    /// The no-wait path, without counting refusals.
    fn try_enqueue(&self, item: T, weight: u32) -> Result<Option<T>, TrySendError<T>> {
        let shared = &*self.shared;
        if shared.too_heavy(weight) {
            return Err(TrySendError::TooHeavy(item));
        }
        match shared.try_admit(weight) {
            Ok(()) => shared
                .push(item, weight)
                .map(|()| None)
                .map_err(TrySendError::Closed),
            Err(NoRoom::Closed) => Err(TrySendError::Closed(item)),
            Err(NoRoom::Full) if shared.overflow == Overflow::DropOldest => {
                shared.evict_and_push(item)
            }
            Err(NoRoom::Full) => Err(TrySendError::Full(item)),
        }
    }

    /// Counts a refusal in the stats and passes it on.
    fn count<E>(&self, err: TrySendError<E>) -> TrySendError<E> {
        let counters = &self.shared.counters;
        match &err {
            TrySendError::Full(_) if self.shared.overflow == Overflow::DropNewest => {
                counters.on_drop_newest();
            }
            TrySendError::Full(_) | TrySendError::TooHeavy(_) => counters.on_reject(),
            TrySendError::Closed(_) => {}
        }
        err
    }

    /// Waits for a free slot and returns it as a [`Permit`], before the item
    /// exists: a server can admit a request (or answer 503 with
    /// [`try_reserve`](Self::try_reserve)) before it builds the job.
    ///
    /// The permit holds one slot (and no weight; see
    /// [`reserve_weight`](Self::reserve_weight)). Dropping it unsent gives
    /// the slot back. It waits whatever the overflow policy: a permit is a
    /// promise of room, so it never evicts.
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe: dropping the future gives back anything it had taken, and
    /// it owns no item. It keeps its place in line only while it lives.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] if the queue is or becomes closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = bounded(1);
    /// let permit = tx.reserve().await.unwrap();
    /// assert!(tx.try_send("no room: the permit holds the slot").is_err());
    /// permit.send("built after admission").unwrap();
    /// assert_eq!(rx.recv().await, Some("built after admission"));
    /// # }
    /// ```
    pub async fn reserve(&self) -> Result<Permit<T>, SendError<()>> {
        self.reserve_weight(0).await
    }

    /// Like [`reserve`](Self::reserve), for a weighted queue: also reserves
    /// `weight` units of the budget. [`Permit::send`] tops up or gives back
    /// the difference from the item's actual weight.
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe, as [`reserve`](Self::reserve).
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`]; [`SendError::TooHeavy`] if `weight` exceeds the
    /// whole budget.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::Queue;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, _rx) = Queue::builder::<Vec<u8>>(8)
    ///     .weight_budget(1024, |v| v.len() as u32)
    ///     .build()
    ///     .unwrap();
    /// let permit = tx.reserve_weight(512).await.unwrap();
    /// assert_eq!(tx.stats().weight, 512);
    /// permit.send(vec![0; 100]).unwrap();
    /// assert_eq!(tx.stats().weight, 100);
    /// # }
    /// ```
    pub async fn reserve_weight(&self, weight: u32) -> Result<Permit<T>, SendError<()>> {
        if self.shared.too_heavy(weight) {
            self.shared.counters.on_reject();
            return Err(SendError::TooHeavy(()));
        }
        match self.shared.admit(weight).await {
            Ok(()) => Ok(Permit::new(Arc::clone(&self.shared), weight)),
            Err(_) => Err(SendError::Closed(())),
        }
    }

    /// Takes a free slot now, or fails: the admission check of a server
    /// that answers 503 rather than queueing a request it cannot serve.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] (counted as `rejected`) or
    /// [`TrySendError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{TrySendError, bounded};
    ///
    /// let (tx, _rx) = bounded::<String>(1);
    /// let permit = tx.try_reserve().unwrap();
    /// assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
    /// drop(permit); // unsent: the slot comes back
    /// assert!(tx.try_reserve().is_ok());
    /// ```
    pub fn try_reserve(&self) -> Result<Permit<T>, TrySendError<()>> {
        match self.shared.try_admit(0) {
            Ok(()) => Ok(Permit::new(Arc::clone(&self.shared), 0)),
            Err(NoRoom::Closed) => Err(TrySendError::Closed(())),
            Err(NoRoom::Full) => {
                self.shared.counters.on_reject();
                Err(TrySendError::Full(()))
            }
        }
    }

    /// Closes the queue: no item is admitted any more, blocked sends and
    /// reservations wake with [`SendError::Closed`] (and their items), and
    /// receivers still get everything queued. Returns `true` if this call
    /// closed it.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// let (tx, rx) = bounded(2);
    /// tx.try_send(1).unwrap();
    /// assert!(tx.close());
    /// assert!(!tx.close());
    /// assert!(tx.try_send(2).unwrap_err().is_closed());
    /// assert_eq!(rx.try_recv().unwrap(), 1);
    /// ```
    pub fn close(&self) -> bool {
        self.shared.close()
    }

    /// Returns `true` once the queue is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// let (tx, rx) = bounded::<u8>(2);
    /// assert!(!tx.is_closed());
    /// drop(rx); // the last receiver closes the queue
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// The number of items in the queue now.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// let (tx, _rx) = bounded(2);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.shared.tx.len()
    }

    /// Returns `true` if no item is queued.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// let (tx, _rx) = bounded::<u8>(2);
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.shared.tx.is_empty()
    }

    /// The queue's capacity (count bound).
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// let (tx, _rx) = bounded::<u8>(16);
    /// assert_eq!(tx.capacity(), 16);
    /// ```
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// The queue's overflow policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{Overflow, bounded};
    ///
    /// let (tx, _rx) = bounded::<u8>(1);
    /// assert_eq!(tx.overflow(), Overflow::Wait);
    /// ```
    pub fn overflow(&self) -> Overflow {
        self.shared.overflow
    }

    /// A snapshot of the queue's counters (shared by both halves).
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// let (tx, _rx) = bounded(1);
    /// tx.try_send(1).unwrap();
    /// let _ = tx.try_send(2);
    /// let s = tx.stats();
    /// assert_eq!((s.enqueued, s.rejected, s.len), (1, 1, 1));
    /// ```
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.close();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("overflow", &self.overflow())
            .field("closed", &self.is_closed())
            .finish()
    }
}
