//! [`SendSink`]: a [`Sender`] as a [`futures_sink::Sink`], which is how the
//! ecosystem (`SinkExt::send_all`, `StreamExt::forward`, codecs) produces
//! into a queue. Behind the `sink` feature.
//!
//! A `Sink` is asked "may I give you an item?" (`poll_ready`) before it is
//! given one (`start_send`), and the second call cannot wait. The queue
//! already has that shape: a [`Permit`] is a slot taken before the item
//! exists, and sending through it never waits. So `poll_ready` reserves a
//! slot and `start_send` sends through it; the sink never holds an item
//! between calls, only a slot, and dropping the sink drops the slot's
//! permit, which gives the slot back.
//!
//! The overflow policy decides what `poll_ready` does on a full queue,
//! exactly as it decides what [`Sender::send`] does:
//!
//! - [`Overflow::Wait`]: `poll_ready` is pending until a slot is free (in
//!   line with the queue's other waiting producers, first come first
//!   served). That pending is the backpressure.
//! - [`Overflow::Reject`]: `poll_ready` is ready at once without a slot, and
//!   `start_send` refuses the item with [`SendError::Full`], item inside
//!   (counted as `rejected`, as `try_send` does).
//! - [`Overflow::DropOldest`]: ready at once if something is queued to
//!   evict; `start_send` evicts the oldest item and pushes the new one, and
//!   the evicted item is kept for [`SendSink::take_evicted`]. When every
//!   slot is held by a permit or a send in flight there is nothing to
//!   evict, and `poll_ready` waits, as `send` does. (Should the queued
//!   items all be taken, and every slot reserved by others, between the
//!   two calls, `start_send` finds nothing to evict and hands the item
//!   back with [`SendError::Full`].)
//!
//! `poll_ready` never fails. A closed queue makes it ready, so that the item
//! reaches `start_send` and comes back inside [`SendError::Closed`]: the
//! item a combinator such as `send_all` holds between the two calls is
//! never dropped by an error it could not see.
//!
//! The slot accounting is the queue's own: the sink takes slots with the
//! same calls as [`Sender::try_reserve`] and [`Sender::reserve`] (minus the
//! `rejected` count of a reservation that finds no room, since the sink
//! then either waits or lets `start_send` decide) and holds them as
//! ordinary [`Permit`]s. It adds no synchronisation of its own.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_sink::Sink;

use crate::Overflow;
use crate::error::SendError;
use crate::permit::Permit;
use crate::sender::Sender;
use crate::shared::{Closed, NoRoom};
use crate::sync::Arc;

/// The wait for a slot, while the queue is full.
type Reserving<T> = Pin<Box<dyn Future<Output = Result<Permit<T>, Closed>> + Send>>;

/// A [`Sender`] as a [`Sink`] of items, from [`Sender::into_sink`] or
/// [`SendSink::new`]. Requires the `sink` feature.
///
/// `poll_ready` reserves a slot (a [`Permit`]), waiting for one if the
/// queue's [`Overflow`] policy waits; `start_send` sends the item through
/// it. Every item the queue does not take comes back inside the
/// [`SendError`] that `start_send` (and so `send`, `send_all`, `feed`)
/// returns; under [`Overflow::DropOldest`] the items evicted to make room
/// are kept for [`take_evicted`](SendSink::take_evicted).
///
/// `poll_flush` is ready at once: an item is in the queue as soon as
/// `start_send` returns `Ok`. `poll_close` gives back a reserved slot and
/// drops this sink's `Sender`: if it was the last sender, the queue closes
/// behind what it holds, as when any last `Sender` is dropped. It does not
/// close the queue for the other senders ([`Sender::close`] does that).
/// After `poll_close`, `start_send` refuses items with
/// [`SendError::Closed`].
///
/// On a weighted queue the reserved slot carries no weight unless
/// [`reserve_weight`](SendSink::reserve_weight) says otherwise, and an
/// item whose weight is not free when it is sent comes back with
/// [`SendError::Full`].
///
/// # Cancellation safety
///
/// Dropping the sink between calls loses no item: it never holds one. A
/// slot reserved by `poll_ready` and not yet used is given back when the
/// sink is dropped (or closed, or [`abort_reserve`](SendSink::abort_reserve)
/// is called), and a wait for a slot that is dropped takes nothing and
/// gives up its place in line. The items evicted under `DropOldest` and not
/// yet taken are dropped with the sink.
///
/// # Compared with `tokio_util::sync::PollSender`
///
/// The same idea for tokio's `mpsc`: reserve in `poll_ready`, send in
/// `start_send`. There `poll_ready` reports a closed channel as an error
/// without the item; here it lets the item through to `start_send`, whose
/// error carries it, and the queue's overflow policy applies.
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::bounded;
/// use futures_util::{SinkExt, StreamExt, stream};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (tx, rx) = bounded(2);
/// let consumer = tokio::spawn(rx.into_stream().collect::<Vec<u32>>());
///
/// // Five items through a queue of two: `send_all` waits whenever it is full.
/// let mut sink = tx.into_sink();
/// sink.send_all(&mut stream::iter(1..=5).map(Ok)).await.unwrap();
/// sink.close().await.unwrap(); // the last sender: the queue closes behind the items
///
/// assert_eq!(consumer.await.unwrap(), [1, 2, 3, 4, 5]);
/// # }
/// ```
#[must_use = "sinks do nothing unless polled"]
pub struct SendSink<T> {
    /// `None` once the sink is closed.
    sender: Option<Sender<T>>,
    /// The slot `poll_ready` reserved, until `start_send` uses it.
    permit: Option<Permit<T>>,
    /// The wait for a slot, while the queue is full.
    reserving: Option<Reserving<T>>,
    /// Weight units each reservation takes along with its slot.
    weight: u32,
    /// Items evicted (`DropOldest`) to make room for ours.
    evicted: Vec<T>,
}

impl<T> SendSink<T> {
    /// Wraps `sender` in a sink. Same as [`Sender::into_sink`].
    ///
    /// # Defaults
    ///
    /// Each reservation takes one slot and no weight
    /// ([`reserve_weight`](Self::reserve_weight) changes that).
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{SendSink, bounded};
    /// use futures_util::SinkExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = bounded(1);
    /// let mut sink = SendSink::new(tx.clone());
    /// sink.send("hello").await.unwrap();
    /// assert_eq!(rx.recv().await, Some("hello"));
    /// # }
    /// ```
    pub fn new(sender: Sender<T>) -> Self {
        Self {
            sender: Some(sender),
            permit: None,
            reserving: None,
            weight: 0,
            evicted: Vec::new(),
        }
    }

    /// Makes each reservation also take `units` of a weighted queue's
    /// budget (clamped to the budget), so that on a waiting queue
    /// `poll_ready` waits for weight as well as for a slot. At send time the
    /// item's real weight is topped up (if free) or the difference given
    /// back, as with [`Sender::reserve_weight`]. No effect on an unweighted
    /// queue. Takes effect from the next reservation.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::Queue;
    /// use futures_util::SinkExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = Queue::builder::<Vec<u8>>(8)
    ///     .weight_budget(1024, |v| v.len() as u32)
    ///     .build()
    ///     .unwrap();
    /// let mut sink = tx.into_sink().reserve_weight(512);
    /// sink.send(vec![0; 100]).await.unwrap();
    /// assert_eq!(rx.stats().weight, 100);
    /// # }
    /// ```
    pub fn reserve_weight(mut self, units: u32) -> Self {
        let budget = self
            .sender
            .as_ref()
            .and_then(|tx| tx.shared.weight.as_ref())
            .map_or(0, |w| w.budget);
        self.weight = units.min(budget);
        self
    }

    /// The sender inside, or `None` once the sink is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// let (tx, _rx) = bounded::<u8>(4);
    /// let sink = tx.into_sink();
    /// assert_eq!(sink.get_ref().unwrap().capacity(), 4);
    /// ```
    pub fn get_ref(&self) -> Option<&Sender<T>> {
        self.sender.as_ref()
    }

    /// Returns the sender (`None` once the sink is closed). A reserved slot
    /// is given back and the items evicted but not taken are dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// let (tx, _rx) = bounded::<u8>(4);
    /// let tx = tx.into_sink().into_inner().unwrap();
    /// tx.try_send(1).unwrap();
    /// ```
    pub fn into_inner(mut self) -> Option<Sender<T>> {
        self.abort_reserve();
        self.sender.take()
    }

    /// Returns `true` while the sink holds a reserved slot (a `poll_ready`
    /// returned ready with a slot, and no item used it yet).
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    /// use futures_util::{SinkExt, future::poll_fn};
    /// use futures_util::sink::Sink;
    /// use std::pin::Pin;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, _rx) = bounded::<u8>(4);
    /// let mut sink = tx.into_sink();
    /// assert!(!sink.is_reserved());
    /// poll_fn(|cx| Pin::new(&mut sink).poll_ready(cx)).await.unwrap();
    /// assert!(sink.is_reserved());
    /// sink.send(1).await.unwrap(); // `send` uses the slot already reserved
    /// assert!(!sink.is_reserved());
    /// # }
    /// ```
    pub fn is_reserved(&self) -> bool {
        self.permit.is_some()
    }

    /// Gives back the reserved slot, or stops waiting for one. Returns
    /// `true` if there was either. The next `poll_ready` reserves again.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    /// use futures_util::future::poll_fn;
    /// use futures_util::sink::Sink;
    /// use std::pin::Pin;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, _rx) = bounded::<u8>(1);
    /// let mut sink = tx.clone().into_sink();
    /// poll_fn(|cx| Pin::new(&mut sink).poll_ready(cx)).await.unwrap();
    /// assert!(tx.try_send(1).is_err(), "the sink holds the only slot");
    /// assert!(sink.abort_reserve());
    /// tx.try_send(1).unwrap();
    /// # }
    /// ```
    pub fn abort_reserve(&mut self) -> bool {
        let had_permit = self.permit.take().is_some();
        let was_waiting = self.reserving.take().is_some();
        had_permit || was_waiting
    }

    /// Takes the items the queue evicted ([`Overflow::DropOldest`]) to make
    /// room for items sent through this sink, oldest first. They are the
    /// sink's until taken, and dropped with it.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{Overflow, Queue};
    /// use futures_util::SinkExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = Queue::builder(2).overflow(Overflow::DropOldest).build().unwrap();
    /// let mut sink = tx.into_sink();
    /// for reading in [1, 2, 3] {
    ///     sink.send(reading).await.unwrap();
    /// }
    /// assert_eq!(sink.take_evicted(), [1]);
    /// assert_eq!(rx.drain(), [2, 3]);
    /// # }
    /// ```
    pub fn take_evicted(&mut self) -> Vec<T> {
        std::mem::take(&mut self.evicted)
    }
}

impl<T: Send + 'static> SendSink<T> {
    /// Reserves a slot if the policy says to, waiting if it says to wait.
    /// Ready with no slot when `start_send` should decide instead: the
    /// queue or the sink is closed, or the policy does not wait.
    fn poll_reserve(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.permit.is_some() {
            return Poll::Ready(());
        }
        let Some(sender) = &self.sender else {
            return Poll::Ready(());
        };
        if self.reserving.is_none() {
            let shared = &sender.shared;
            match shared.try_admit(self.weight) {
                Ok(()) => {
                    self.permit = Some(Permit::new(Arc::clone(shared), self.weight));
                    return Poll::Ready(());
                }
                Err(NoRoom::Closed) => return Poll::Ready(()),
                Err(NoRoom::Full) => {}
            }
            let waits = match shared.overflow {
                Overflow::Wait => true,
                Overflow::Reject => false,
                // Nothing queued means nothing to evict: wait, as `send` does.
                Overflow::DropOldest => shared.len() == 0,
            };
            if !waits {
                return Poll::Ready(());
            }
            let shared = Arc::clone(shared);
            let weight = self.weight;
            self.reserving = Some(Box::pin(async move {
                shared.admit(weight).await?;
                Ok(Permit::new(shared, weight))
            }));
        }
        let Some(reserving) = self.reserving.as_mut() else {
            // Set just above when it was `None`.
            return Poll::Ready(());
        };
        let Poll::Ready(reserved) = reserving.as_mut().poll(cx) else {
            return Poll::Pending;
        };
        self.reserving = None;
        // `Err`: the queue closed while we waited; `start_send` hands the
        // item back with `Closed`.
        self.permit = reserved.ok();
        Poll::Ready(())
    }
}

impl<T: Send + 'static> Sink<T> for SendSink<T> {
    type Error = SendError<T>;

    /// Reserves a slot as the queue's overflow policy says (see the type
    /// docs). Never fails: every refusal is reported by `start_send`, with
    /// the item.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_reserve(cx).map(Ok)
    }

    /// Sends `item` through the reserved slot, or, with none reserved, tries
    /// it once without waiting ([`Sender::try_send`]). Called without a
    /// ready `poll_ready` on a full waiting queue, that try answers `Full`.
    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        let this = self.get_mut();
        if let Some(permit) = this.permit.take() {
            return permit.send(item);
        }
        this.reserving = None;
        let Some(sender) = &this.sender else {
            return Err(SendError::Closed(item));
        };
        match sender.try_send(item) {
            Ok(None) => Ok(()),
            Ok(Some(evicted)) => {
                this.evicted.push(evicted);
                Ok(())
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Ready at once: items are in the queue when `start_send` returns.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    /// Gives back a reserved slot and drops this sink's sender.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        this.abort_reserve();
        this.sender = None;
        Poll::Ready(Ok(()))
    }
}

// The sink never pins its fields: the wait is pinned in its own box, and
// items are only moved in and out of the `Vec`. So it is `Unpin` whatever `T`
// is (a `Vec<T>` alone would make it `Unpin` only for `T: Unpin`).
impl<T> Unpin for SendSink<T> {}

impl<T> Clone for SendSink<T> {
    /// A sink over a clone of the sender, with the same reservation weight,
    /// no reserved slot and no evicted items.
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
            permit: None,
            reserving: None,
            weight: self.weight,
            evicted: Vec::new(),
        }
    }
}

impl<T> fmt::Debug for SendSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendSink")
            .field("sender", &self.sender)
            .field("reserved", &self.permit.is_some())
            .field("waiting", &self.reserving.is_some())
            .field("weight", &self.weight)
            .field("evicted", &self.evicted.len())
            .finish()
    }
}

impl<T> Sender<T> {
    /// Turns the sender into a [`Sink`] of items ([`SendSink`]). Clone the
    /// sender first to keep one. Requires the `sink` feature.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    /// use futures_util::SinkExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = bounded(4);
    /// let mut sink = tx.into_sink();
    /// sink.send("job").await.unwrap();
    /// assert_eq!(rx.recv().await, Some("job"));
    /// # }
    /// ```
    pub fn into_sink(self) -> SendSink<T> {
        SendSink::new(self)
    }
}

impl<T> From<Sender<T>> for SendSink<T> {
    fn from(sender: Sender<T>) -> Self {
        SendSink::new(sender)
    }
}
