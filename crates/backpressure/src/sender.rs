//! The producing half: [`Sender`].
//!
//! Every path runs the same two steps (see the `shared` module): take a slot
//! (and weight), then push. What differs is what happens when no slot is
//! free, and that is the queue's [`Overflow`] policy. Whatever the path, an
//! item that does not end up in the queue comes back to the caller.

use std::fmt;
use std::time::Duration;

use crate::Overflow;
use crate::clock::Clock;
use crate::error::{SendError, TrySendError};
use crate::shared::{NoRoom, Shared};
use crate::stats::Stats;
use crate::sync::Arc;

/// The producing half of a queue. Cheap to clone: clones share the queue.
///
/// When the last `Sender` (and the last [`Permit`](crate::Permit) reserved
/// through one) is dropped the queue closes: receivers get what is queued,
/// then `None`.
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
    pub(crate) shared: Arc<Shared<T>>,
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
    ///   [`Reject`](Overflow::Reject);
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
    /// [`TrySendError::Full`] (counted as `rejected`).
    ///
    /// Producers waiting for room come first: a slot freed while one of them
    /// has been woken for it, and has not yet run, is theirs, and `try_send`
    /// reports `Full` until it is taken. So a waiting producer is never
    /// overtaken indefinitely by producers that keep trying.
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
            TrySendError::Full(_) | TrySendError::TooHeavy(_) => counters.on_reject(),
            TrySendError::Closed(_) => {}
        }
        err
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
        self.shared.len()
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
        self.shared.len() == 0
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

    /// The clock the queue reads for queue-wait stats ([`Clock::Auto`]
    /// resolved when the queue was built), or `None` if it does not track
    /// queue wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{Clock, Queue};
    ///
    /// let (tx, rx) = Queue::builder::<u8>(4).clock(Clock::Fast).build().unwrap();
    /// assert_eq!(tx.clock(), Some(Clock::Fast));
    /// let (tx, rx) = Queue::builder::<u8>(4).track_wait(false).build().unwrap();
    /// assert_eq!(tx.clock(), None);
    /// ```
    pub fn clock(&self) -> Option<Clock> {
        self.shared.clock()
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
        self.shared.add_sender();
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.drop_sender();
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
