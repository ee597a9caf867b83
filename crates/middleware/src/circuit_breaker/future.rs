//! The response future of [`CircuitBreaker`](crate::CircuitBreaker), and
//! the admitted call it hands to the response.
//!
//! A call is over when its response is *complete*: for an
//! `http::Response<B>`, at the end of its body (see
//! [`ResponseHold`]), not when its headers arrive.
//! The future classifies the result when it resolves and moves the call
//! (its ticket, that outcome and its start time) into the response's
//! [`Hold`]; the call is recorded when the hold is released: at the end of
//! the body with the headers' outcome, on a body error as a failure, or
//! when the body is dropped (timed to the drop, with the headers'
//! outcome). An error, or a response that is complete on arrival, is
//! recorded at once, as before.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::breaker::Ticket;
use super::classify::{Classify, Outcome};
use crate::admit::Admit;
use crate::error::{Error, LayerError};
use crate::hold::{Hold, ResponseHold};

/// An admitted call waiting for its response to be complete; recorded in
/// the breaker when dropped.
#[derive(Debug)]
pub(crate) struct Call {
    ticket: Option<Ticket>,
    outcome: Outcome,
    start: Option<Instant>,
}

impl Call {
    /// The response failed after its headers (a body error).
    pub(crate) fn fail(&mut self) {
        self.outcome = Outcome::Failure;
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            // Only a timed breaker (slow calls, time window) reads the clock.
            let now = self.start.map(|_| Instant::now());
            let elapsed = match (self.start, now) {
                (Some(start), Some(now)) => now.saturating_duration_since(start),
                _ => Duration::ZERO,
            };
            ticket.record(self.outcome, elapsed, now);
        }
    }
}

pin_project! {
    /// The inner response, whose outcome is recorded in the breaker when
    /// the response is complete (for an `http::Response<B>`, when its body
    /// ends, fails or is dropped); or [`Error::CircuitOpen`] on its first
    /// poll. A future dropped before completing records nothing (and gives
    /// a half-open trial slot back).
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
    T: ResponseHold,
{
    type Output = Result<T::Held, Error<SE::Inner>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        let Some(ticket) = this.ticket.take() else {
            // Rejected: nothing to record.
            return Poll::Ready(out.map(|response| response.hold(Hold::default())));
        };
        let call = Call {
            outcome: this.classifier.classify(&out),
            ticket: Some(ticket),
            start: *this.start,
        };
        // An error is complete now (the call is recorded as it drops); a
        // response keeps the call until it is complete.
        Poll::Ready(out.map(|response| response.hold(Hold::call(call))))
    }
}
