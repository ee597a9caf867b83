//! The response future of [`CircuitBreaker`](crate::CircuitBreaker).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::breaker::Ticket;
use super::classify::Classify;
use crate::admit::Admit;
use crate::error::{Error, LayerError};

pin_project! {
    /// The inner response, whose outcome is recorded in the breaker when it
    /// completes; or [`Error::CircuitOpen`] on its first poll. A future
    /// dropped before completing records nothing (and gives a half-open
    /// trial slot back).
    ///
    /// ```
    /// use evenkeel_middleware::circuit_breaker::Breaker;
    /// use evenkeel_middleware::CircuitBreakerLayer;
    /// use tower::{Layer, Service, ServiceExt};
    ///
    /// # tokio_test::block_on(async {
    /// let mut svc = CircuitBreakerLayer::new(Breaker::builder().build().unwrap())
    ///     .layer(tower::service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
    /// let fut = svc.ready().await.unwrap().call(1);
    /// assert_eq!(fut.await.unwrap(), 1);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct ResponseFuture<F, C, E> {
        #[pin]
        inner: Admit<F, E>,
        ticket: Option<Ticket>,
        classifier: C,
        start: Option<Instant>,
    }
}

impl<F, C, E> ResponseFuture<F, C, E> {
    pub(crate) fn new(
        inner: Admit<F, E>,
        ticket: Option<Ticket>,
        classifier: C,
        timed: bool,
    ) -> Self {
        Self {
            inner,
            ticket,
            classifier,
            start: timed.then(Instant::now),
        }
    }
}

impl<F, C, T, SE> Future for ResponseFuture<F, C, SE::Inner>
where
    F: Future<Output = Result<T, SE>>,
    SE: LayerError,
    C: Classify<T, SE::Inner>,
{
    type Output = Result<T, Error<SE::Inner>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        if let Some(ticket) = this.ticket.take() {
            let outcome = this.classifier.classify(&out);
            // Only a timed breaker (slow calls, time window) reads the clock.
            let now = this.start.map(|_| Instant::now());
            let elapsed = match (*this.start, now) {
                (Some(start), Some(now)) => now.saturating_duration_since(start),
                _ => Duration::ZERO,
            };
            ticket.record(outcome, elapsed, now);
        }
        Poll::Ready(out)
    }
}
