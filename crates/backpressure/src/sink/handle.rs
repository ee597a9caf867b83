//! The parts of [`SendSink`] that are not the `Sink` protocol: getting at
//! the sender, the reservation and the evicted items, cloning, and the
//! conversions from a [`Sender`]. The protocol itself is in `mod.rs`.

use std::fmt;

use crate::sender::Sender;

use super::SendSink;

impl<T> SendSink<T> {
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

    /// Takes the items the queue evicted ([`Overflow::DropOldest`](crate::Overflow::DropOldest)) to make
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
    /// Turns the sender into a [`Sink`](futures_sink::Sink) of items ([`SendSink`]). Clone the
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
