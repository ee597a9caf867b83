//! The response future of [`Retry`](crate::Retry).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use evenkeel_retry::{Backoff, Decision, RetryBudget};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use super::policy::Policy;
use crate::error::{Error, LayerError};

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling { #[pin] future: F },
        Sleeping { #[pin] sleep: Sleep },
        Readying,
    }
}

pin_project! {
    /// Runs attempts until the policy says stop, the backoff runs out, or
    /// the budget refuses a retry; resolves to the last attempt's result.
    ///
    /// # Cancellation safety
    ///
    /// Dropping it cancels the attempt in flight (or the sleep between
    /// attempts); nothing else is left running.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_middleware::RetryLayer;
    /// use evenkeel_retry::Backoff;
    /// use tower::{Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut svc = RetryLayer::new(Backoff::constant(Duration::from_millis(10)).max_attempts(3))
    ///     .layer(tower::service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
    /// let fut = svc.ready().await.unwrap().call(1);
    /// assert_eq!(fut.await.unwrap(), 1);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<S, Req, P>
    where
        S: Service<Req>,
    {
        service: S,
        request: Req,
        backoff: Backoff,
        budget: Option<RetryBudget>,
        policy: P,
        attempts: u32,
        #[pin]
        state: State<S::Future>,
    }
}

impl<S: Service<Req>, Req, P> ResponseFuture<S, Req, P> {
    pub(crate) fn new(
        service: S,
        request: Req,
        first: S::Future,
        backoff: Backoff,
        budget: Option<RetryBudget>,
        policy: P,
    ) -> Self {
        Self {
            service,
            request,
            backoff,
            budget,
            policy,
            attempts: 1,
            state: State::Calling { future: first },
        }
    }
}

impl<S: Service<Req>, Req, P> fmt::Debug for ResponseFuture<S, Req, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl<S, Req, P> Future for ResponseFuture<S, Req, P>
where
    S: Service<Req>,
    S::Error: LayerError,
    Req: Clone,
    P: Policy<S::Response, <S::Error as LayerError>::Inner>,
{
    type Output = Result<S::Response, Error<<S::Error as LayerError>::Inner>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let result = std::task::ready!(future.poll(cx)).map_err(LayerError::into_error);
                    // The backoff's schedule bounds the attempts; the budget
                    // bounds retries across all requests. A retry-after hint
                    // takes a step of the same schedule, so it counts against
                    // `max_attempts` and `max_elapsed` and is capped at
                    // `max_delay` like any other wait.
                    let next = match this.policy.decide(&result) {
                        Decision::Stop => return Poll::Ready(result),
                        Decision::Retry => this.backoff.next(),
                        Decision::RetryAfter(hint) => this.backoff.next_retry_after(hint),
                    };
                    let Some(delay) = next else {
                        return Poll::Ready(result);
                    };
                    if let Some(budget) = this.budget.as_ref()
                        && !budget.withdraw()
                    {
                        return Poll::Ready(result);
                    }
                    let sleep = tokio::time::sleep(delay);
                    this.state.set(State::Sleeping { sleep });
                }
                StateProj::Sleeping { sleep } => {
                    std::task::ready!(sleep.poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    if let Err(e) = std::task::ready!(this.service.poll_ready(cx)) {
                        return Poll::Ready(Err(e.into_error()));
                    }
                    *this.attempts += 1;
                    let future = this.service.call(this.request.clone());
                    this.state.set(State::Calling { future });
                }
            }
        }
    }
}
