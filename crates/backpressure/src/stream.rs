//! [`RecvStream`]: a [`Receiver`] as a [`futures_core::Stream`], which is how
//! the ecosystem (`StreamExt`, `tokio-stream`, `select!` over streams)
//! consumes a queue.
//!
//! `Receiver::recv` borrows the receiver, so its future cannot live inside
//! the receiver itself; the stream is a separate, owned type that keeps the
//! in-progress wait between polls. It takes items without waiting while
//! there are any (no allocation on that path) and only when the queue is
//! empty creates the wait, boxed once per sleep: the allocation happens
//! exactly when the task is about to go idle anyway.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use concurrent_queue::PopError;
use futures_core::{FusedStream, Stream};

use crate::receiver::Receiver;
use crate::shared::Envelope;
use crate::sync::Arc;

type Wait<T> = Pin<Box<dyn Future<Output = Option<Envelope<T>>> + Send>>;

/// A [`Receiver`] as a [`Stream`] of items, from [`Receiver::into_stream`].
///
/// Yields each item as [`Receiver::recv`] would (queue-delay shedding
/// included), and ends once the queue is closed and empty. Like
/// `Receiver` clones, several streams (and receivers) over one queue
/// compete for items: each item is yielded once.
///
/// # Cancellation safety
///
/// Dropping the stream, or a `next()` future, between items loses nothing:
/// an item leaves the queue only in the poll that yields it.
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::bounded;
/// use futures_util::StreamExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (tx, rx) = bounded(8);
/// for i in 1..=3 {
///     tx.send(i).await.unwrap();
/// }
/// drop(tx); // the stream ends after what is queued
/// let doubled: Vec<u32> = rx.into_stream().map(|i| i * 2).collect().await;
/// assert_eq!(doubled, [2, 4, 6]);
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct RecvStream<T> {
    rx: Receiver<T>,
    /// The wait for an item, while the queue is empty.
    wait: Option<Wait<T>>,
    /// The queue was found closed and empty.
    done: bool,
}

impl<T: Send + 'static> RecvStream<T> {
    pub(crate) fn new(rx: Receiver<T>) -> Self {
        Self {
            rx,
            wait: None,
            done: false,
        }
    }

    /// Returns the receiver. A wait in progress is dropped; no item is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// let (tx, rx) = bounded::<u8>(1);
    /// let rx = rx.into_stream().into_inner();
    /// tx.try_send(1).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn into_inner(self) -> Receiver<T> {
        self.rx
    }
}

impl<T: Send + 'static> Stream for RecvStream<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let env = if let Some(wait) = this.wait.as_mut() {
                let Poll::Ready(env) = wait.as_mut().poll(cx) else {
                    return Poll::Pending;
                };
                this.wait = None;
                env
            } else {
                let shared = this.rx.shared();
                match shared.try_pop() {
                    Ok(env) => Some(env),
                    Err(PopError::Closed) => None,
                    Err(PopError::Empty) => {
                        shared.note_empty();
                        let shared = Arc::clone(shared);
                        this.wait = Some(Box::pin(async move { shared.pop().await }));
                        continue;
                    }
                }
            };
            match env {
                None => this.done = true,
                Some(env) => {
                    // `None`: queue-delay shedding took it; look again.
                    if let Some(item) = this.rx.shared().take(env) {
                        return Poll::Ready(Some(item));
                    }
                }
            }
        }
    }
}

impl<T: Send + 'static> FusedStream for RecvStream<T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> fmt::Debug for RecvStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvStream")
            .field("rx", &self.rx)
            .field("waiting", &self.wait.is_some())
            .field("done", &self.done)
            .finish()
    }
}

impl<T: Send + 'static> Receiver<T> {
    /// Turns the receiver into a [`Stream`] of its items ([`RecvStream`]).
    /// Clone the receiver first to keep one.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    /// use futures_util::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = bounded(4);
    /// let mut jobs = rx.clone().into_stream();
    /// tx.send("job").await.unwrap();
    /// assert_eq!(jobs.next().await, Some("job"));
    /// rx.close();
    /// assert_eq!(jobs.next().await, None);
    /// # }
    /// ```
    pub fn into_stream(self) -> RecvStream<T> {
        RecvStream::new(self)
    }
}

impl<T: Send + 'static> From<Receiver<T>> for RecvStream<T> {
    fn from(rx: Receiver<T>) -> Self {
        rx.into_stream()
    }
}
