//! [`ClientLayer`]: total timeout → retry (with a budget) → circuit
//! breaker → attempt timeout.

use std::time::Duration;

use evenkeel_retry::{Backoff, Jitter, RetryBudget};
use tower_layer::Layer;

use crate::circuit_breaker::{Breaker, DefaultClassifier};
use crate::retry::{DefaultPolicy, NoHook};
use crate::{
    AttemptTimeout, AttemptTimeoutLayer, CircuitBreaker, CircuitBreakerLayer, Retry, RetryLayer,
    Timeout, TimeoutLayer,
};

/// The service a [`ClientLayer`] builds around `S`.
///
/// `S`'s error must be a [`LayerError`](crate::LayerError): an application
/// error (wrapped once as [`Error::Inner`](crate::Error::Inner)) or a stack
/// of this crate's layers, whose `Error<E>` passes through unnested. For
/// any other error type, put [`WrapErrorLayer`](crate::WrapErrorLayer)
/// under the preset.
pub type ClientService<S, P = DefaultPolicy, C = DefaultClassifier, H = NoHook> =
    Timeout<Retry<CircuitBreaker<AttemptTimeout<S>, C>, P, H>>;

/// The client-side stack in the recommended order, as one layer.
///
/// # Defaults
///
/// | part | default | change with |
/// |---|---|---|
/// | total timeout | 30 s | [`timeout`](ClientLayer::timeout) |
/// | retry backoff | exponential from 100 ms, full jitter, at most 5 s apart, 3 attempts | [`backoff`](ClientLayer::backoff) |
/// | retry budget | 20 % of requests plus 10 retries/s over 10 s (tower's) | [`budget`](ClientLayer::budget) |
/// | retry policy | [`DefaultPolicy`] | [`policy`](ClientLayer::policy) |
/// | retry deadline | none: the total timeout cuts retries off | [`retry_deadline`](ClientLayer::retry_deadline) |
/// | retry hook | none ([`NoHook`]) | [`on_retry`](ClientLayer::on_retry) |
/// | circuit breaker | [`Breaker::builder`]'s defaults, [`DefaultClassifier`] | [`breaker`](ClientLayer::breaker), [`classifier`](ClientLayer::classifier) |
/// | attempt timeout | 10 s | [`attempt_timeout`](ClientLayer::attempt_timeout) |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::circuit_breaker::{Breaker, State};
/// use evenkeel_middleware::preset::ClientLayer;
/// use evenkeel_middleware::Error;
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let breaker = Breaker::builder().minimum_calls(3).build().unwrap();
/// let client = ClientLayer::new()
///     .timeout(Duration::from_secs(5))
///     .attempt_timeout(Duration::from_secs(1))
///     .breaker(breaker.clone());
/// let svc = client.layer(tower::service_fn(|_: ()| async {
///     Err::<(), _>(std::io::Error::other("connection refused"))
/// }));
///
/// // Three attempts fail; the breaker has seen enough and opens.
/// let err = svc.clone().oneshot(()).await.unwrap_err();
/// assert!(matches!(err, Error::Inner(_)));
/// assert_eq!(breaker.state(), State::Open);
/// // Now the call fails fast, without retrying an open circuit.
/// assert!(matches!(svc.oneshot(()).await, Err(Error::CircuitOpen { .. })));
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a layer does nothing until applied to a service"]
pub struct ClientLayer<P = DefaultPolicy, C = DefaultClassifier, H = NoHook> {
    timeout: TimeoutLayer,
    breaker: CircuitBreakerLayer<C>,
    attempt_timeout: AttemptTimeoutLayer,
    // The retry layer's parts; it is built in `layer`.
    backoff: Backoff,
    budget: RetryBudget,
    policy: P,
    retry_deadline: Option<Duration>,
    on_retry: H,
}

impl ClientLayer {
    /// The stack with its defaults.
    ///
    /// ```
    /// let layer = evenkeel_middleware::preset::ClientLayer::new();
    /// # let _ = layer;
    /// ```
    pub fn new() -> Self {
        Self {
            timeout: TimeoutLayer::new(Duration::from_secs(30)),
            breaker: CircuitBreakerLayer::new(Breaker::default()),
            attempt_timeout: AttemptTimeoutLayer::new(Duration::from_secs(10)),
            backoff: Backoff::exponential(Duration::from_millis(100))
                .jitter(Jitter::Full)
                .max_delay(Duration::from_secs(5))
                .max_attempts(3),
            budget: RetryBudget::new(Duration::from_secs(10), 10, 0.2),
            policy: DefaultPolicy,
            retry_deadline: None,
            on_retry: NoHook,
        }
    }
}

impl Default for ClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<P, C, H> ClientLayer<P, C, H> {
    /// The total timeout over all attempts and the sleeps between them.
    ///
    /// ```
    /// let layer = evenkeel_middleware::preset::ClientLayer::new().timeout(std::time::Duration::from_secs(3));
    /// # let _ = layer;
    /// ```
    pub fn timeout(mut self, after: Duration) -> Self {
        self.timeout = TimeoutLayer::new(after);
        self
    }

    /// The retry schedule.
    ///
    /// ```
    /// let layer = evenkeel_middleware::preset::ClientLayer::new().backoff(evenkeel_retry::Backoff::grpc());
    /// # let _ = layer;
    /// ```
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The retry budget (shared with its clones).
    ///
    /// ```
    /// use std::time::Duration;
    /// let layer = evenkeel_middleware::preset::ClientLayer::new()
    ///     .budget(evenkeel_retry::RetryBudget::new(Duration::from_secs(10), 1, 0.1));
    /// # let _ = layer;
    /// ```
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = budget;
        self
    }

    /// The retry policy.
    ///
    /// ```
    /// use evenkeel_middleware::{preset::ClientLayer, retry::HttpPolicy};
    /// let layer = ClientLayer::new().policy(HttpPolicy);
    /// # let _ = layer;
    /// ```
    pub fn policy<P2>(self, policy: P2) -> ClientLayer<P2, C, H> {
        ClientLayer {
            timeout: self.timeout,
            breaker: self.breaker,
            attempt_timeout: self.attempt_timeout,
            backoff: self.backoff,
            budget: self.budget,
            policy,
            retry_deadline: self.retry_deadline,
            on_retry: self.on_retry,
        }
    }

    /// Bounds the retries of each request to `total` from its call, as
    /// [`RetryLayer::deadline`]: a wait between attempts that could end
    /// past it is not started, and the last attempt's own result (a 503, a
    /// refused connection) is returned instead of a bare
    /// [`Error::TimedOut`](crate::Error::TimedOut) from the total
    /// [`timeout`](ClientLayer::timeout). Give it the same value as the
    /// total timeout. Default: none (the backoff's own limits bound the
    /// retries, and the total timeout cuts them off).
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_middleware::preset::ClientLayer;
    /// use evenkeel_middleware::Error;
    /// use evenkeel_retry::Backoff;
    /// use tower::{Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let total = Duration::from_secs(8);
    /// let svc = ClientLayer::new()
    ///     .timeout(total)
    ///     .retry_deadline(total)
    ///     .backoff(Backoff::constant(Duration::from_secs(5)).max_attempts(5))
    ///     .layer(tower::service_fn(|_: ()| async {
    ///         Err::<(), _>(std::io::Error::other("connection refused"))
    ///     }));
    /// // The second attempt fails at 5 s; waiting 5 s more would cross 8 s.
    /// assert!(matches!(svc.oneshot(()).await, Err(Error::Inner(_))));
    /// # }
    /// ```
    pub fn retry_deadline(mut self, total: Duration) -> Self {
        self.retry_deadline = Some(total);
        self
    }

    /// Calls `hook` before every retry with the attempt that failed, the
    /// delay before the next one and the failed result, as
    /// [`RetryLayer::on_retry`]; never for the final result. Replaces any
    /// earlier hook. Default: [`NoHook`]. The result's response type is
    /// the circuit breaker's (for an `http::Response<B>` transport,
    /// `http::Response<`[`HoldBody<B>`](crate::HoldBody)`>`).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use evenkeel_middleware::preset::ClientLayer;
    /// use evenkeel_middleware::retry::RetryEvent;
    /// use evenkeel_retry::Backoff;
    /// use tower::{Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let retries = Arc::new(AtomicU32::new(0));
    /// let counted = Arc::clone(&retries);
    /// let svc = ClientLayer::new()
    ///     .backoff(Backoff::constant(Duration::from_millis(100)).max_attempts(3))
    ///     .on_retry(move |e: &RetryEvent<'_, (), std::io::Error>| {
    ///         counted.fetch_add(1, Ordering::Relaxed);
    ///         eprintln!("retry {} in {:?}", e.attempt, e.delay);
    ///     })
    ///     .layer(tower::service_fn(|_: ()| async {
    ///         Err::<(), _>(std::io::Error::other("connection refused"))
    ///     }));
    /// assert!(svc.oneshot(()).await.is_err());
    /// assert_eq!(retries.load(Ordering::Relaxed), 2); // 3 attempts, 2 retries
    /// # }
    /// ```
    pub fn on_retry<H2>(self, hook: H2) -> ClientLayer<P, C, H2> {
        ClientLayer {
            timeout: self.timeout,
            breaker: self.breaker,
            attempt_timeout: self.attempt_timeout,
            backoff: self.backoff,
            budget: self.budget,
            policy: self.policy,
            retry_deadline: self.retry_deadline,
            on_retry: hook,
        }
    }

    /// The circuit breaker (keep a clone to watch or steer it).
    ///
    /// ```
    /// use evenkeel_middleware::{circuit_breaker::Breaker, preset::ClientLayer};
    /// let layer = ClientLayer::new().breaker(Breaker::builder().half_open_calls(1).build().unwrap());
    /// # let _ = layer;
    /// ```
    pub fn breaker(self, breaker: Breaker) -> Self
    where
        C: Clone,
    {
        let classifier = self.breaker.classifier_ref().clone();
        Self {
            breaker: CircuitBreakerLayer::new(breaker).classifier(classifier),
            ..self
        }
    }

    /// What counts as a failure for the breaker.
    ///
    /// ```
    /// use evenkeel_middleware::{circuit_breaker::HttpClassifier, preset::ClientLayer};
    /// let layer = ClientLayer::new().classifier(HttpClassifier);
    /// # let _ = layer;
    /// ```
    pub fn classifier<C2>(self, classifier: C2) -> ClientLayer<P, C2, H> {
        ClientLayer {
            timeout: self.timeout,
            breaker: self.breaker.classifier(classifier),
            attempt_timeout: self.attempt_timeout,
            backoff: self.backoff,
            budget: self.budget,
            policy: self.policy,
            retry_deadline: self.retry_deadline,
            on_retry: self.on_retry,
        }
    }

    /// The timeout for each attempt.
    ///
    /// ```
    /// let layer = evenkeel_middleware::preset::ClientLayer::new().attempt_timeout(std::time::Duration::from_millis(500));
    /// # let _ = layer;
    /// ```
    pub fn attempt_timeout(mut self, after: Duration) -> Self {
        self.attempt_timeout = AttemptTimeoutLayer::new(after);
        self
    }

    /// The shared breaker.
    ///
    /// ```
    /// use evenkeel_middleware::{circuit_breaker::State, preset::ClientLayer};
    /// assert_eq!(ClientLayer::new().breaker_handle().state(), State::Closed);
    /// ```
    pub fn breaker_handle(&self) -> &Breaker {
        self.breaker.breaker()
    }

    /// The shared retry budget.
    ///
    /// ```
    /// let layer = evenkeel_middleware::preset::ClientLayer::new();
    /// assert!(layer.retry_budget().available() > 0);
    /// ```
    pub fn retry_budget(&self) -> &RetryBudget {
        &self.budget
    }
}

impl<S, P: Clone, C: Clone, H: Clone> Layer<S> for ClientLayer<P, C, H> {
    type Service = ClientService<S, P, C, H>;

    fn layer(&self, inner: S) -> Self::Service {
        let inner = self.attempt_timeout.layer(inner);
        let inner = self.breaker.layer(inner);
        let retry = RetryLayer::new(self.backoff.clone())
            .budget(self.budget.clone())
            .policy(self.policy.clone())
            .on_retry(self.on_retry.clone());
        let retry = match self.retry_deadline {
            Some(total) => retry.deadline(total),
            None => retry,
        };
        let inner = retry.layer(inner);
        self.timeout.layer(inner)
    }
}
