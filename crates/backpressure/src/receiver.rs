//! The consuming half: [`Receiver`].
//!
//! Every way out of the queue (`recv`, `try_recv`, `recv_many`, `drain`)
//! pops an envelope from the channel and then gives its slot back, in that
//! order, so a producer woken by the freed slot always finds channel room.
//! Receivers are clones sharing one MPMC channel: each item goes to exactly
//! one of them, with no lock held across an `.await` (the flaw of the
//! textbook `Arc<Mutex<mpsc::Receiver>>` pool).

use std::fmt;
use std::sync::atomic::Ordering;

use crate::clock::Clock;
use crate::shared::Shared;
use crate::stats::Stats;
use crate::sync::Arc;

/// Why [`Receiver::try_recv`] returned no item.
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::{TryRecvError, bounded};
///
/// let (tx, rx) = bounded::<u8>(1);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// Nothing queued right now; the queue is open.
    #[error("the queue is empty")]
    Empty,
    /// Nothing queued and the queue is closed: nothing will come.
    #[error("the queue is empty and closed")]
    Closed,
}

/// The consuming half of a queue. Cheap to clone: clones compete for items
/// (each item is received once), which is how a worker pool shares work.
///
/// When the last `Receiver` is dropped the queue closes and senders get
/// their items back; items still queued are dropped with the queue, so
/// [`drain`](Self::drain) first if they matter.
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::bounded;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (tx, rx) = bounded(4);
/// tx.send(1).await.unwrap();
/// let rx2 = rx.clone();
/// assert_eq!(rx2.recv().await, Some(1));
/// # }
/// ```
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>) -> Self {
        Self { shared }
    }

    /// The queue this receiver takes from.
    pub(crate) fn shared(&self) -> &Arc<Shared<T>> {
        &self.shared
    }

    /// Waits for the next item. Returns `None` once the queue is closed and
    /// empty. On a queue with [`Builder::codel`](crate::Builder::codel),
    /// items that waited too long are handed to the shed callback and
    /// skipped.
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe: if the future is dropped (in `select!`, under a
    /// timeout) no item is lost; an item is only taken out of the queue in
    /// the same poll that returns it. A wake-up meant for a dropped `recv`
    /// is passed on to another waiting receiver.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = bounded(4);
    /// tx.send("job").await.unwrap();
    /// tx.close();
    /// assert_eq!(rx.recv().await, Some("job")); // queued items survive close
    /// assert_eq!(rx.recv().await, None);
    /// # }
    /// ```
    pub async fn recv(&self) -> Option<T> {
        loop {
            if self.shared.sheds() {
                self.shared.note_empty();
            }
            let env = self.shared.pop().await?;
            if let Some(item) = self.shared.take(env) {
                return Some(item);
            }
        }
    }

    /// Takes the next item if one is queued, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] or, once closed and empty,
    /// [`TryRecvError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// let (tx, rx) = bounded(4);
    /// tx.try_send(5).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(5));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        loop {
            match self.shared.try_pop() {
                Ok(env) => {
                    if let Some(item) = self.shared.take(env) {
                        return Ok(item);
                    }
                }
                Err(concurrent_queue::PopError::Empty) => {
                    self.shared.note_empty();
                    return Err(TryRecvError::Empty);
                }
                Err(concurrent_queue::PopError::Closed) => return Err(TryRecvError::Closed),
            }
        }
    }

    /// Waits for at least one item, then appends up to `limit` items to
    /// `buf` without waiting further. Returns how many were appended: 0 only
    /// if `limit` is 0 or the queue is closed and empty.
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe: the only `.await` is the first item's, which is
    /// cancel-safe like [`recv`](Self::recv); the rest are taken without
    /// waiting in the poll that returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = bounded(8);
    /// for i in 0..5 {
    ///     tx.send(i).await.unwrap();
    /// }
    /// let mut batch = Vec::new();
    /// assert_eq!(rx.recv_many(&mut batch, 3).await, 3);
    /// assert_eq!(batch, [0, 1, 2]);
    /// # }
    /// ```
    pub async fn recv_many(&self, buf: &mut Vec<T>, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        let Some(first) = self.recv().await else {
            return 0;
        };
        buf.push(first);
        let mut taken = 1;
        while taken < limit {
            let Ok(item) = self.try_recv() else { break };
            buf.push(item);
            taken += 1;
        }
        taken
    }

    /// Closes the queue (as [`Sender::close`](crate::Sender::close) does):
    /// intake stops, blocked producers wake with their items, and queued
    /// items can still be received. Returns `true` if this call closed it.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// let (tx, rx) = bounded(2);
    /// tx.try_send(1).unwrap();
    /// assert!(rx.close());
    /// assert!(tx.try_send(2).is_err());
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn close(&self) -> bool {
        self.shared.close()
    }

    /// Closes the queue and returns every item still in it, oldest first,
    /// so a shutting-down service can spill them. Items count as dequeued;
    /// queue-delay shedding does not apply (spilled items are kept, not
    /// shed).
    ///
    /// Other receivers may take items concurrently; each item goes to
    /// exactly one place.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// let (tx, rx) = bounded(4);
    /// tx.try_send("a").unwrap();
    /// tx.try_send("b").unwrap();
    /// assert_eq!(rx.drain(), ["a", "b"]);
    /// assert!(tx.is_closed());
    /// ```
    pub fn drain(&self) -> Vec<T> {
        self.shared.close();
        let mut items = Vec::with_capacity(self.len());
        while let Ok(env) = self.shared.try_pop() {
            items.push(self.shared.take_unshed(env));
        }
        items
    }

    /// Returns `true` once the queue is closed (it may still hold items).
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// let (tx, rx) = bounded::<u8>(1);
    /// drop(tx);
    /// assert!(rx.is_closed());
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
    /// let (tx, rx) = bounded(2);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(rx.len(), 1);
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
    /// let (_tx, rx) = bounded::<u8>(2);
    /// assert!(rx.is_empty());
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
    /// let (_tx, rx) = bounded::<u8>(3);
    /// assert_eq!(rx.capacity(), 3);
    /// ```
    pub fn capacity(&self) -> usize {
        self.shared.capacity
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
    /// assert_eq!(rx.clock(), Some(Clock::Fast));
    /// let (tx, rx) = Queue::builder::<u8>(4).track_wait(false).build().unwrap();
    /// assert_eq!(rx.clock(), None);
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
    /// let (tx, rx) = bounded(2);
    /// tx.try_send(1).unwrap();
    /// rx.try_recv().unwrap();
    /// assert_eq!(rx.stats().dequeued, 1);
    /// ```
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.receivers.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.shared.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.close();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}
