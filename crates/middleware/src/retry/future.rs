//! The response future of [`Retry`](crate::Retry).
//!
//! The success path is kept as cheap as a plain call: before the first
//! failure the future holds only the in-flight attempt, the service, the
//! spare copy of the request and a handle on the layer's configuration. The
//! backoff schedule (and its random generator) and the timer are created at
//! the first failure, boxed, and reused after that; the clock is read at the
//! call only when a deadline is set.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use evenkeel_retry::{Backoff, Decision, saturating_deadline};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use super::Config;
use super::hook::{OnRetry, RetryEvent};
use super::policy::Policy;
use crate::error::{Error, LayerError};

/// The granularity of tokio's timer: a sleep ends up to this much late.
const TIMER_TICK: Duration = Duration::from_millis(1);

pin_project! {
    #[project = StateProj]
    #[project_replace = StateReplace]
    enum State<F, S, Req> {
        // An attempt is in flight.
        Calling { #[pin] future: F },
        // Between attempts: the service and the request for the next one
        // move in here, so they are there by construction when it starts.
        Waiting { service: S, request: Req, slept: bool },
        Done,
    }
}

/// What a request needs once it has failed: its own schedule and a timer.
struct Retrying {
    backoff: Backoff,
    sleep: Option<Pin<Box<Sleep>>>,
}

pin_project! {
    /// Runs attempts until the policy says stop, the backoff runs out, the
    /// budget refuses a retry or the next wait would cross the deadline;
    /// resolves to the last attempt's result (the real error or response,
    /// never a made-up timeout).
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
    pub struct ResponseFuture<S, Req, P, H>
    where
        S: Service<Req>,
    {
        // `None` when the request is not retryable: nothing to call again.
        service: Option<S>,
        // The copy for the next attempt; `None`: not retryable.
        request: Option<Req>,
        // The layer's configuration; `None` when the request is not retryable.
        config: Option<Config<P, H>>,
        attempts: u32,
        deadline_at: Option<Instant>,
        retrying: Option<Box<Retrying>>,
        #[pin]
        state: State<S::Future, S, Req>,
    }
}

impl<S: Service<Req>, Req, P, H> ResponseFuture<S, Req, P, H> {
    #[inline]
    pub(crate) fn new(
        service: Option<S>,
        request: Option<Req>,
        first: S::Future,
        config: Option<Config<P, H>>,
        deadline_at: Option<Instant>,
    ) -> Self {
        Self {
            service,
            request,
            config,
            attempts: 1,
            deadline_at,
            retrying: None,
            state: State::Calling { future: first },
        }
    }
}

impl<S: Service<Req>, Req, P, H> fmt::Debug for ResponseFuture<S, Req, P, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("attempts", &self.attempts)
            .field("retryable", &self.request.is_some())
            .field("deadline_at", &self.deadline_at)
            .finish_non_exhaustive()
    }
}

impl<S, Req, P, H> Future for ResponseFuture<S, Req, P, H>
where
    S: Service<Req>,
    S::Error: LayerError,
    P: Policy<Req, S::Response, <S::Error as LayerError>::Inner>,
    H: OnRetry<S::Response, <S::Error as LayerError>::Inner>,
{
    type Output = Result<S::Response, Error<<S::Error as LayerError>::Inner>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let result = std::task::ready!(future.poll(cx)).map_err(LayerError::into_error);
                    // Until a retry is scheduled, a poll after the result
                    // was returned finds `Done`, not a finished future.
                    this.state.set(State::Done);
                    let (Some(request), Some(service), Some(config)) = (
                        this.request.take(),
                        this.service.take(),
                        this.config.as_ref(),
                    ) else {
                        return Poll::Ready(result); // not retryable
                    };
                    // The backoff's schedule bounds the attempts; the budget
                    // bounds retries across all requests; the deadline bounds
                    // the waits. A retry-after hint takes a step of the same
                    // schedule, so it counts against `max_attempts` and
                    // `max_elapsed` and is capped at `max_delay` like any
                    // other wait; a hint past `max_retry_after` stops.
                    let hint = match config.policy.decide(&request, &result) {
                        Decision::Stop => return Poll::Ready(result),
                        Decision::Retry => None,
                        Decision::RetryAfter(hint) => Some(hint),
                    };
                    let retrying = this.retrying.get_or_insert_with(|| {
                        // Each request draws its own jitter stream from a
                        // seeded template, so requests do not retry in
                        // lockstep and a seeded test stays reproducible.
                        let stream = config
                            .streams
                            .as_ref()
                            .map_or(0, |n| n.fetch_add(1, Ordering::Relaxed));
                        Box::new(Retrying {
                            backoff: config.backoff.clone().seed_stream(stream),
                            sleep: None,
                        })
                    });
                    let next = match hint {
                        None => retrying.backoff.next(),
                        Some(hint) => retrying.backoff.next_retry_after(hint),
                    };
                    let Some(delay) = next else {
                        return Poll::Ready(result);
                    };
                    let wake_at = saturating_deadline(Instant::now(), delay);
                    // tokio's timer may fire up to a tick late: only a wait
                    // whose latest end is still before the deadline starts.
                    if let Some(deadline) = *this.deadline_at
                        && saturating_deadline(wake_at, TIMER_TICK) > deadline
                    {
                        return Poll::Ready(result);
                    }
                    if let Some(budget) = config.budget.as_ref()
                        && !budget.withdraw()
                    {
                        return Poll::Ready(result);
                    }
                    config.on_retry.on_retry(&RetryEvent {
                        attempt: *this.attempts,
                        delay,
                        result: &result,
                    });
                    match retrying.sleep.as_mut() {
                        Some(sleep) => sleep.as_mut().reset(wake_at),
                        None => retrying.sleep = Some(Box::pin(tokio::time::sleep_until(wake_at))),
                    }
                    this.state.set(State::Waiting {
                        service,
                        request,
                        slept: false,
                    });
                }
                StateProj::Waiting { service, slept, .. } => {
                    if !*slept {
                        if let Some(sleep) = this.retrying.as_mut().and_then(|r| r.sleep.as_mut()) {
                            std::task::ready!(sleep.as_mut().poll(cx));
                        }
                        *slept = true;
                    }
                    if let Err(e) = std::task::ready!(service.poll_ready(cx)) {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(e.into_error()));
                    }
                    // We are in `Waiting`, so the replacement hands back its
                    // service and request; the other arm cannot happen.
                    let StateReplace::Waiting {
                        mut service,
                        request,
                        ..
                    } = this.state.as_mut().project_replace(State::Done)
                    else {
                        return Poll::Pending;
                    };
                    *this.attempts += 1;
                    // Keep a copy (and the service) for the attempt after
                    // this one, if the policy allows another.
                    *this.request = this
                        .config
                        .as_ref()
                        .and_then(|c| c.policy.clone_request(&request));
                    let future = service.call(request);
                    if this.request.is_some() {
                        *this.service = Some(service);
                    }
                    this.state.set(State::Calling { future });
                }
                StateProj::Done => return Poll::Pending,
            }
        }
    }
}
