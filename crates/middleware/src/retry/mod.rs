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
//! Retrying needs the request again, and not every request may be sent
//! twice. The [`Policy`] sees the request: it makes the copy for the next
//! attempt ([`Policy::clone_request`], which may refuse, making that
//! request not retryable) and decides from the request *and* the result.
//! [`HttpPolicy`] uses that to retry a `POST` only when it carries an
//! `Idempotency-Key`. The built-in policies need `Req: Clone`, so a
//! non-cloneable request is a compile error, not a runtime surprise. For
//! `http::Request`s with a streaming body, buffer the body first with
//! [`replayable`].
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
//! Give the layer the same total as its own
//! [`deadline`](RetryLayer::deadline): it then never starts a wait that
//! would outlast the outer timeout, and the caller gets the last real error
//! (a 503, a refused connection) instead of a bare "timed out".
//! [`on_retry`](RetryLayer::on_retry) observes every retry (attempt, delay,
//! what failed), for logs and metrics.
//!
//! The schedule is cloned per request from the layer's [`Backoff`]; a
//! seeded backoff gives each request its own
//! [`seed_stream`](Backoff::seed_stream) (a counter shared by the clones of
//! the service the layer made), so requests do not jitter in lockstep while a seeded test
//! stays reproducible.

mod body;
pub mod future;
mod hook;
mod policy;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::task::{Context, Poll};
use std::time::Duration;

use evenkeel_retry::{Backoff, RetryBudget, saturating_deadline};
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{Error, LayerError};
use crate::ready_call::take_service;

pub use body::replayable;
pub use hook::{NoHook, OnRetry, RetryEvent};
pub use policy::{
    DefaultPolicy, HttpPolicy, Policy, PolicyFn, is_idempotent, policy_fn, retry_after,
};

/// What each request needs once it fails, copied into its response future
/// at the call. Copied rather than shared behind an `Arc`: a compact
/// [`Backoff`] copies faster than an `Arc`'s two atomic operations per
/// request, and a request that succeeds never looks at it.
#[derive(Debug, Clone)]
pub(crate) struct Config<P, H> {
    backoff: Backoff,
    budget: Option<RetryBudget>,
    policy: P,
    on_retry: H,
    /// The next request's jitter stream (see [`Backoff::seed_stream`]),
    /// shared by the service's clones; only a seeded backoff needs one.
    streams: Option<Arc<AtomicU64>>,
}

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
pub struct Retry<S, P = DefaultPolicy, H = NoHook> {
    inner: S,
    config: Config<P, H>,
    /// Read at the call (it becomes the request's deadline instant), so it
    /// is not copied into the response future.
    deadline: Option<Duration>,
}

impl<S, P> Retry<S, P> {
    /// Retries `inner` on `backoff` (cloned fresh for every request), with an
    /// optional shared `budget`, as `policy` decides; no deadline, no hook
    /// (use [`RetryLayer`] for those).
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
        RetryLayer {
            backoff,
            budget,
            policy,
            deadline: None,
            on_retry: NoHook,
        }
        .into_service(inner)
    }
}

impl<S, P, H> Retry<S, P, H> {
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
        self.config.budget.as_ref()
    }
}

impl<S, P, H, Req> Service<Req> for Retry<S, P, H>
where
    S: Service<Req> + Clone,
    S::Error: LayerError,
    P: Policy<Req, S::Response, <S::Error as LayerError>::Inner> + Clone,
    H: OnRetry<S::Response, <S::Error as LayerError>::Inner> + Clone,
{
    type Response = S::Response;
    type Error = Error<<S::Error as LayerError>::Inner>;
    type Future = future::ResponseFuture<S, Req, P, H>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The first attempt uses the readiness the caller waited for.
        self.inner.poll_ready(cx).map_err(LayerError::into_error)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        if let Some(budget) = &self.config.budget {
            budget.deposit();
        }
        let spare = self.config.policy.clone_request(&req);
        let (service, first, config) = if spare.is_some() {
            // Take the service that was polled ready; later attempts poll
            // it again.
            let mut service = take_service(&mut self.inner);
            let first = service.call(req);
            (Some(service), first, Some(self.config.clone()))
        } else {
            // Not retryable: one call, and no service kept for later ones.
            (None, self.inner.call(req), None)
        };
        // The clock is read only if a deadline needs it.
        let deadline_at = match (&config, self.deadline) {
            (Some(_), Some(total)) => Some(saturating_deadline(Instant::now(), total)),
            _ => None,
        };
        future::ResponseFuture::new(service, spare, first, config, deadline_at)
    }
}

/// Applies [`Retry`].
///
/// # Defaults
///
/// - No budget.
/// - The [`DefaultPolicy`] (retry transient errors, honour error
///   retry-after hints, never retry a response or an open circuit).
/// - No deadline: the backoff's own limits (by default 4 attempts, hints up
///   to 60 s; see [`Backoff`]'s `# Defaults`) bound the retries.
/// - No hook ([`NoHook`]).
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
/// .deadline(Duration::from_secs(5))
/// .policy(HttpPolicy);
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct RetryLayer<P = DefaultPolicy, H = NoHook> {
    backoff: Backoff,
    budget: Option<RetryBudget>,
    policy: P,
    deadline: Option<Duration>,
    on_retry: H,
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
            deadline: None,
            on_retry: NoHook,
        }
    }
}

impl<P, H> RetryLayer<P, H> {
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

    /// Bounds each request's retries to `total` from its call: a wait that
    /// could end past it (counting tokio's 1 ms timer tick) is not started,
    /// and the last attempt's own result is returned instead. Attempts
    /// themselves are not cut short (bound them with an
    /// [`AttemptTimeout`](crate::AttemptTimeout) below, and the whole with a
    /// [`Timeout`](crate::Timeout) above, of the same `total`). The clock is
    /// read once per call, only when a deadline is set. Default: none.
    ///
    /// ```
    /// use std::time::Duration;
    /// let layer = evenkeel_middleware::RetryLayer::new(evenkeel_retry::Backoff::grpc())
    ///     .deadline(Duration::from_secs(3));
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn deadline(mut self, total: Duration) -> Self {
        self.deadline = Some(total);
        self
    }

    /// Replaces the policy.
    ///
    /// ```
    /// use evenkeel_middleware::{retry::HttpPolicy, RetryLayer};
    /// let layer = RetryLayer::new(evenkeel_retry::Backoff::grpc()).policy(HttpPolicy);
    /// # let _ = layer;
    /// ```
    pub fn policy<P2>(self, policy: P2) -> RetryLayer<P2, H> {
        RetryLayer {
            backoff: self.backoff,
            budget: self.budget,
            policy,
            deadline: self.deadline,
            on_retry: self.on_retry,
        }
    }

    /// Calls `hook` before every retry with the attempt that failed, the
    /// delay before the next one and the failed result (see
    /// [`RetryEvent`]); never for the final result. Replaces any earlier
    /// hook. Default: [`NoHook`]. The hook is cloned into each request, so
    /// keep it small (state it shares belongs behind an `Arc`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_middleware::{retry::RetryEvent, RetryLayer};
    ///
    /// let layer = RetryLayer::new(evenkeel_retry::Backoff::grpc()).on_retry(
    ///     |e: &RetryEvent<'_, u32, std::io::Error>| eprintln!("retry {} in {:?}", e.attempt, e.delay),
    /// );
    /// # let _ = layer;
    /// ```
    pub fn on_retry<H2>(self, hook: H2) -> RetryLayer<P, H2> {
        RetryLayer {
            backoff: self.backoff,
            budget: self.budget,
            policy: self.policy,
            deadline: self.deadline,
            on_retry: hook,
        }
    }

    fn into_service<S>(self, inner: S) -> Retry<S, P, H> {
        Retry {
            inner,
            config: Config {
                streams: self
                    .backoff
                    .is_seeded()
                    .then(|| Arc::new(AtomicU64::new(0))),
                backoff: self.backoff,
                budget: self.budget,
                policy: self.policy,
                on_retry: self.on_retry,
            },
            deadline: self.deadline,
        }
    }
}

impl<S, P: Clone, H: Clone> Layer<S> for RetryLayer<P, H> {
    type Service = Retry<S, P, H>;

    fn layer(&self, inner: S) -> Self::Service {
        self.clone().into_service(inner)
    }
}
