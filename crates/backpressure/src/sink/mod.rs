//! [`SendSink`]: a [`Sender`] as a [`futures_sink::Sink`], which is how the
//! ecosystem (`SinkExt::send_all`, `StreamExt::forward`, codecs) produces
//! into a queue. Behind the `sink` feature.
//!
//! A `Sink` is asked "may I give you an item?" (`poll_ready`) before it is
//! given one (`start_send`), and the second call cannot wait. The queue
//! already has that shape: a [`Permit`] is a slot taken before the item
//! exists, and sending through it never waits. So `poll_ready` reserves a
//! slot and `start_send` sends through it; the sink never holds an item
//! between calls, only a slot, and dropping the sink drops the permit,
//! which gives the slot back.
//!
//! `poll_ready` never fails: a closed queue makes it ready, so the item
//! reaches `start_send` and comes back inside [`SendError::Closed`]. The
//! item a combinator such as `send_all` holds between the two calls is
//! never dropped by an error it could not see.
//!
//! The slot accounting is the queue's own: the sink takes slots with the
//! calls [`Sender::try_reserve`] and [`Sender::reserve`] make (minus the
//! `rejected` count of a reservation that finds no room: the sink then
//! waits or lets `start_send` decide) and holds them as ordinary
//! [`Permit`]s. It adds no synchronisation of its own.

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

mod handle;

/// The wait for a slot, while the queue is full.
type Reserving<T> = Pin<Box<dyn Future<Output = Result<Permit<T>, Closed>> + Send>>;

/// A [`Sender`] as a [`Sink`] of items, from [`Sender::into_sink`] or
/// [`SendSink::new`]. Requires the `sink` feature.
///
/// `poll_ready` reserves a slot (a [`Permit`]) and `start_send` sends the
/// item through it. On a full queue the [`Overflow`] policy decides, as
/// for [`Sender::send`]:
///
/// - [`Overflow::Wait`]: `poll_ready` is pending until a slot is free, in
///   line with the queue's other waiting producers. That is the
///   backpressure.
/// - [`Overflow::Reject`]: `poll_ready` is ready at once without a slot;
///   `start_send` refuses the item with [`SendError::Full`] (counted as
///   `rejected`).
/// - [`Overflow::DropOldest`]: ready at once if something is queued;
///   `start_send` evicts the oldest item, which the sink keeps for
///   [`take_evicted`](SendSink::take_evicted). With nothing queued to evict
///   (every slot held by permits or sends in flight) `poll_ready` waits, as
///   `send` does; should the queue empty and fill with reservations between
///   the two calls, `start_send` hands the item back with `Full`.
///
/// Every item the queue does not take comes back inside the [`SendError`]
/// of `start_send` (and so of `send`, `feed`, `send_all`). `poll_flush` is
/// ready at once: an item is queued when `start_send` returns `Ok`.
/// `poll_close` gives back a reserved slot and drops this sink's `Sender`
/// (the last sender closes the queue behind its items; [`Sender::close`]
/// closes it for everyone); `start_send` then refuses items with
/// [`SendError::Closed`]. On a weighted queue a slot carries no weight
/// unless [`reserve_weight`](SendSink::reserve_weight) says so, and an item
/// whose weight is not free at send time comes back with `Full`.
///
/// # Cancellation safety
///
/// Dropping the sink between calls loses no item: it never holds one. A
/// slot reserved by `poll_ready` and not yet used is given back when the
/// sink is dropped (or closed, or [`abort_reserve`](SendSink::abort_reserve)
/// is called); a dropped wait for a slot takes nothing and leaves the line.
/// Items evicted under `DropOldest` and not yet taken are dropped with it.
///
/// # Compared with `tokio_util::sync::PollSender`
///
/// The same idea for tokio's `mpsc`: reserve in `poll_ready`, send in
/// `start_send`. There `poll_ready` reports a closed channel as an error
/// without the item; here the item goes through to `start_send`, whose
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
