//! [`ClientLayer`]: total timeout → retry (with a budget) → circuit
//! breaker → attempt timeout.

use std::time::Duration;

use evenkeel_retry::{Backoff, Jitter, RetryBudget};
use tower_layer::Layer;

use crate::circuit_breaker::{Breaker, DefaultClassifier};
use crate::retry::DefaultPolicy;
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
pub type ClientService<S, P = DefaultPolicy, C = DefaultClassifier> =
    Timeout<Retry<CircuitBreaker<AttemptTimeout<S>, C>, P>>;

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
pub struct ClientLayer<P = DefaultPolicy, C = DefaultClassifier> {
    timeout: TimeoutLayer,
    retry: RetryLayer<P>,
    breaker: CircuitBreakerLayer<C>,
    attempt_timeout: AttemptTimeoutLayer,
    backoff: Backoff,
    budget: RetryBudget,
}

impl ClientLayer {
    /// The stack with its defaults.
    ///
    /// ```
    /// let layer = evenkeel_middleware::preset::ClientLayer::new();
    /// # let _ = layer;
    /// ```
    pub fn new() -> Self {
        let backoff = Backoff::exponential(Duration::from_millis(100))
            .jitter(Jitter::Full)
            .max_delay(Duration::from_secs(5))
            .max_attempts(3);
        let budget = RetryBudget::new(Duration::from_secs(10), 10, 0.2);
        Self {
            timeout: TimeoutLayer::new(Duration::from_secs(30)),
            retry: RetryLayer::new(backoff.clone()).budget(budget.clone()),
            breaker: CircuitBreakerLayer::new(Breaker::default()),
            attempt_timeout: AttemptTimeoutLayer::new(Duration::from_secs(10)),
            backoff,
            budget,
        }
    }
}

impl Default for ClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Clone, C> ClientLayer<P, C> {
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
        self.rebuild_retry()
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
        self.rebuild_retry()
    }

    fn rebuild_retry(mut self) -> Self {
        self.retry = RetryLayer::new(self.backoff.clone())
            .budget(self.budget.clone())
            .policy(self.retry_policy());
        self
    }

    fn retry_policy(&self) -> P {
        self.retry.policy_ref().clone()
    }

    /// The retry policy.
    ///
    /// ```
    /// use evenkeel_middleware::{preset::ClientLayer, retry::HttpPolicy};
    /// let layer = ClientLayer::new().policy(HttpPolicy);
    /// # let _ = layer;
    /// ```
    pub fn policy<P2: Clone>(self, policy: P2) -> ClientLayer<P2, C> {
        ClientLayer {
            timeout: self.timeout,
            retry: RetryLayer::new(self.backoff.clone())
                .budget(self.budget.clone())
                .policy(policy),
            breaker: self.breaker,
            attempt_timeout: self.attempt_timeout,
            backoff: self.backoff,
            budget: self.budget,
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
    pub fn classifier<C2>(self, classifier: C2) -> ClientLayer<P, C2> {
        ClientLayer {
            timeout: self.timeout,
            retry: self.retry,
            breaker: self.breaker.classifier(classifier),
            attempt_timeout: self.attempt_timeout,
            backoff: self.backoff,
            budget: self.budget,
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

impl<S, P: Clone, C: Clone> Layer<S> for ClientLayer<P, C> {
    type Service = ClientService<S, P, C>;

    fn layer(&self, inner: S) -> Self::Service {
        let inner = self.attempt_timeout.layer(inner);
        let inner = self.breaker.layer(inner);
        let inner = self.retry.layer(inner);
        self.timeout.layer(inner)
    }
}
