//! Errors: every one that concerns an item carries the item back.
//!
//! A queue that "never loses an item" has to say so in its types. Each send
//! path returns the item inside its error ([`SendError`], [`TrySendError`]),
//! so the caller decides what happens to work the queue did not take: answer
//! 503, retry later, spill it to disk. [`Error`] is the crate's one plain
//! error enum, for the failures that involve no item (building a queue,
//! reserving a slot).

/// What went wrong without an item involved: building a queue or a pool.
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::{Error, Queue};
///
/// let err = Queue::builder::<u32>(0).build().unwrap_err();
/// assert_eq!(err, Error::ZeroCapacity);
/// assert_eq!(err.to_string(), "a queue needs a capacity of at least 1");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The builder was given capacity 0: such a queue could never hold an
    /// item, so every send would wait forever or fail.
    #[error("a queue needs a capacity of at least 1")]
    ZeroCapacity,
    /// The capacity exceeds what the admission semaphore can count
    /// ([`tokio::sync::Semaphore::MAX_PERMITS`]).
    #[error("a queue capacity of {0} is larger than the supported maximum")]
    CapacityTooLarge(usize),
    /// A weighted queue was given a weight budget of 0.
    #[error("a weighted queue needs a weight budget of at least 1")]
    ZeroWeightBudget,
    /// [`Overflow::DropOldest`](crate::Overflow::DropOldest) was combined with
    /// a weight budget: evicting one item may not free enough weight, and
    /// evicting several would hand back more than one item per send.
    #[error("drop-oldest overflow cannot be combined with a weight budget")]
    DropOldestWithWeight,
    /// Queue-delay shedding was asked for with queue-wait tracking off: it
    /// needs the enqueue timestamps.
    #[error("queue-delay shedding needs queue-wait tracking")]
    CodelWithoutWaitTracking,
    /// A worker pool was asked for 0 workers.
    #[error("a worker pool needs at least 1 worker")]
    ZeroWorkers,
}

/// Why [`Sender::send`](crate::Sender::send),
/// [`Sender::send_timeout`](crate::Sender::send_timeout) or
/// [`Permit::send`](crate::Permit::send) did not enqueue an item; the item is
/// inside.
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::{Overflow, Queue, SendError};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (tx, _rx) = Queue::builder(1).overflow(Overflow::Reject).build().unwrap();
/// tx.send("a").await.unwrap();
/// let err = tx.send("b").await.unwrap_err();
/// assert!(matches!(err, SendError::Full("b")));
/// assert_eq!(err.into_inner(), "b");
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError<T> {
    /// The queue had no room and its overflow policy
    /// ([`Reject`](crate::Overflow::Reject)) refused the item.
    #[error("the queue is full")]
    Full(T),
    /// The queue is closed: no item is admitted any more.
    #[error("the queue is closed")]
    Closed(T),
    /// The item weighs more than the queue's whole weight budget: it could
    /// never be admitted, so it is refused at once instead of waiting forever.
    #[error("the item is heavier than the queue's whole weight budget")]
    TooHeavy(T),
    /// [`Sender::send_timeout`](crate::Sender::send_timeout) found no room
    /// before its deadline.
    #[error("no room in the queue before the deadline")]
    Timeout(T),
}

/// Why [`Sender::try_send`](crate::Sender::try_send) or
/// [`Sender::try_reserve`](crate::Sender::try_reserve) did not succeed; the
/// item (if any) is inside.
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::{TrySendError, bounded};
///
/// let (tx, _rx) = bounded(1);
/// tx.try_send(1).unwrap();
/// match tx.try_send(2) {
///     Err(TrySendError::Full(item)) => assert_eq!(item, 2), // answer 503, keep the item
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrySendError<T> {
    /// No room right now (and the overflow policy does not make room).
    #[error("the queue is full")]
    Full(T),
    /// The queue is closed: no item is admitted any more.
    #[error("the queue is closed")]
    Closed(T),
    /// The item weighs more than the queue's whole weight budget.
    #[error("the item is heavier than the queue's whole weight budget")]
    TooHeavy(T),
}

macro_rules! item_error_impls {
    ($name:ident { $($variant:ident),* }) => {
        impl<T> $name<T> {
            /// Returns the item the queue did not take.
            ///
            /// # Examples
            ///
            /// ```
            /// use evenkeel_backpressure::bounded;
            ///
            /// let (tx, rx) = bounded(1);
            /// rx.close();
            /// assert_eq!(tx.try_send(7).unwrap_err().into_inner(), 7);
            /// ```
            pub fn into_inner(self) -> T {
                match self {
                    $(Self::$variant(item) => item,)*
                }
            }

            /// Returns a reference to the item the queue did not take.
            ///
            /// # Examples
            ///
            /// ```
            /// use evenkeel_backpressure::bounded;
            ///
            /// let (tx, rx) = bounded(1);
            /// rx.close();
            /// assert_eq!(*tx.try_send(7).unwrap_err().item(), 7);
            /// ```
            pub fn item(&self) -> &T {
                match self {
                    $(Self::$variant(item) => item,)*
                }
            }

            /// Returns `true` if the queue was closed.
            ///
            /// # Examples
            ///
            /// ```
            /// use evenkeel_backpressure::bounded;
            ///
            /// let (tx, rx) = bounded(1);
            /// rx.close();
            /// assert!(tx.try_send(7).unwrap_err().is_closed());
            /// ```
            pub fn is_closed(&self) -> bool {
                matches!(self, Self::Closed(_))
            }
        }

        // Manual so that `T` need not be `Debug` (items are often not).
        impl<T> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    $(Self::$variant(_) => f.write_str(concat!(stringify!($name), "::", stringify!($variant), "(..)")),)*
                }
            }
        }
    };
}

item_error_impls!(SendError {
    Full,
    Closed,
    TooHeavy,
    Timeout
});
item_error_impls!(TrySendError {
    Full,
    Closed,
    TooHeavy
});

impl<T> From<TrySendError<T>> for SendError<T> {
    fn from(err: TrySendError<T>) -> Self {
        match err {
            TrySendError::Full(item) => SendError::Full(item),
            TrySendError::Closed(item) => SendError::Closed(item),
            TrySendError::TooHeavy(item) => SendError::TooHeavy(item),
        }
    }
}
