//! Retry with backoff, an optional retry budget, and a policy that honours
//! retry-after hints.
//!
//! tower's `Retry` asks you to write a `Policy` by hand: there is no ready
//! policy with backoff, jitter and a budget (tower#682), and its budget and
//! backoff live in separate corners of the crate. Here the schedule is an
//! [`evenkeel_retry::Backoff`] (an iterator of delays: exponential, jitter,
//! `max_attempts`, `max_elapsed`), an optional [`RetryBudget`] caps retries
//! to a fraction of traffic so retries cannot multiply an outage, and a
//! [`Policy`] decides per result: retry, retry after a given delay (a
//! rate limiter's retry-after, or a response's `Retry-After` with
//! [`HttpPolicy`]), or stop.
//!
//! Retrying needs the request again, so the request type must be `Clone`:
//! the `Service` impl requires `Req: Clone` and a non-cloneable request is
//! a compile error, not a runtime surprise. For `http::Request`s with a
//! streaming body, buffer the body first with [`replayable`].
//!
//! ```compile_fail
//! use std::time::Duration;
//! use evenkeel_middleware::RetryLayer;
//! use evenkeel_retry::Backoff;
//! use tower::{Layer, ServiceExt};
//!
//! struct NotClone;
//! let svc = RetryLayer::new(Backoff::constant(Duration::from_millis(1)))
//!     .layer(tower::service_fn(|_: NotClone| async { Ok::<_, std::io::Error>(()) }));
//! let _ = svc.oneshot(NotClone); // error: `NotClone: Clone` is not satisfied
//! ```
//!
//! Place it under a total [`Timeout`](crate::Timeout) (which bounds all
//! attempts and sleeps together) and above the circuit breaker and an
//! [`AttemptTimeout`](crate::AttemptTimeout) (which bound each attempt).

mod body;
pub mod future;
mod policy;

use std::task::{Context, Poll};

use evenkeel_retry::{Backoff, RetryBudget};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{Error, LayerError};
use crate::ready_call::take_service;

pub use body::replayable;
pub use policy::{DefaultPolicy, HttpPolicy, Policy};

/// Retries failed calls on a backoff schedule.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use evenkeel_middleware::RetryLayer;
/// use evenkeel_retry::Backoff;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let calls = Arc::new(AtomicU32::new(0));
/// let seen = Arc::clone(&calls);
/// let svc = ServiceBuilder::new()
///     .layer(RetryLayer::new(Backoff::exponential(Duration::from_millis(100)).max_attempts(4)))
///     .service_fn(move |x: u32| {
///         let n = seen.fetch_add(1, Ordering::SeqCst);
///         async move {
///             if n < 2 { Err(std::io::Error::other("flaky")) } else { Ok(x) }
///         }
///     });
/// assert_eq!(svc.oneshot(7).await.unwrap(), 7);
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Retry<S, P = DefaultPolicy> {
    inner: S,
    backoff: Backoff,
    budget: Option<RetryBudget>,
    policy: P,
}

impl<S, P> Retry<S, P> {
    /// Retries `inner` on `backoff` (cloned fresh for every request), with an
    /// optional shared `budget`, as `policy` decides.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_middleware::{retry::DefaultPolicy, Retry};
    /// use evenkeel_retry::Backoff;
    ///
    /// let svc = Retry::new((), Backoff::constant(Duration::from_millis(5)), None, DefaultPolicy);
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S, backoff: Backoff, budget: Option<RetryBudget>, policy: P) -> Self {
        Self {
            inner,
            backoff,
            budget,
            policy,
        }
    }

    /// The shared retry budget, if any.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_middleware::{retry::DefaultPolicy, Retry};
    /// use evenkeel_retry::Backoff;
    ///
    /// let svc = Retry::new((), Backoff::constant(Duration::from_millis(5)), None, DefaultPolicy);
    /// assert!(svc.budget().is_none());
    /// ```
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.budget.as_ref()
    }
}

impl<S, P, Req> Service<Req> for Retry<S, P>
where
    S: Service<Req> + Clone,
    S::Error: LayerError,
    Req: Clone,
    P: Policy<S::Response, <S::Error as LayerError>::Inner> + Clone,
{
    type Response = S::Response;
    type Error = Error<<S::Error as LayerError>::Inner>;
    type Future = future::ResponseFuture<S, Req, P>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The first attempt uses the readiness the caller waited for.
        self.inner.poll_ready(cx).map_err(LayerError::into_error)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        if let Some(budget) = &self.budget {
            budget.deposit();
        }
        // Take the service that was polled ready; later attempts poll it again.
        let mut service = take_service(&mut self.inner);
        let first = service.call(req.clone());
        future::ResponseFuture::new(
            service,
            req,
            first,
            self.backoff.clone(),
            self.budget.clone(),
            self.policy.clone(),
        )
    }
}

/// Applies [`Retry`].
///
/// # Defaults
///
/// No budget; the [`DefaultPolicy`] (retry transient errors, honour
/// error retry-after hints, never retry a response or an open circuit).
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::{retry::HttpPolicy, RetryLayer};
/// use evenkeel_retry::{Backoff, Jitter, RetryBudget};
///
/// let layer = RetryLayer::new(
///     Backoff::exponential(Duration::from_millis(50))
///         .jitter(Jitter::Full)
///         .max_delay(Duration::from_secs(2))
///         .max_attempts(4),
/// )
/// .budget(RetryBudget::new(Duration::from_secs(10), 10, 0.2))
/// .policy(HttpPolicy);
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct RetryLayer<P = DefaultPolicy> {
    backoff: Backoff,
    budget: Option<RetryBudget>,
    policy: P,
}

impl RetryLayer {
    /// Retries on `backoff` (its schedule is cloned fresh for each request).
    ///
    /// ```
    /// let layer = evenkeel_middleware::RetryLayer::new(evenkeel_retry::Backoff::grpc());
    /// # let _ = layer;
    /// ```
    pub fn new(backoff: Backoff) -> Self {
        Self {
            backoff,
            budget: None,
            policy: DefaultPolicy,
        }
    }
}

impl<P> RetryLayer<P> {
    /// Caps retries with `budget`, shared by every service this layer makes
    /// (and by the budget's other clones).
    ///
    /// ```
    /// use std::time::Duration;
    /// let layer = evenkeel_middleware::RetryLayer::new(evenkeel_retry::Backoff::grpc())
    ///     .budget(evenkeel_retry::RetryBudget::new(Duration::from_secs(10), 10, 0.2));
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Replaces the policy.
    ///
    /// ```
    /// use evenkeel_middleware::{retry::HttpPolicy, RetryLayer};
    /// let layer = RetryLayer::new(evenkeel_retry::Backoff::grpc()).policy(HttpPolicy);
    /// # let _ = layer;
    /// ```
    pub fn policy<P2>(self, policy: P2) -> RetryLayer<P2> {
        RetryLayer {
            backoff: self.backoff,
            budget: self.budget,
            policy,
        }
    }
}

impl<P> RetryLayer<P> {
    #[cfg_attr(not(feature = "full"), allow(dead_code))]
    pub(crate) fn policy_ref(&self) -> &P {
        &self.policy
    }
}

impl<S, P: Clone> Layer<S> for RetryLayer<P> {
    type Service = Retry<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::new(
            inner,
            self.backoff.clone(),
            self.budget.clone(),
            self.policy.clone(),
        )
    }
}
