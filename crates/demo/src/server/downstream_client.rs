//! The client that jobs use to call the downstream service.
//!
//! At the bottom is [`HttpCall`], a plain tower service: one `POST` of the
//! job's payload to the `--downstream` URL over a pooled hyper client,
//! where a 2xx is success and anything else is a [`CallError`] that says
//! whether the failure is worth retrying and what `Retry-After` the service
//! sent. Its request type, [`Call`], is cheap to clone (an id and a
//! reference-counted body), which is what lets a retry layer replay it.
//!
//! [`DownstreamClient`] wraps that service in the middleware crate's
//! client-side preset (`ClientLayer`): total timeout → retry with a budget
//! → circuit breaker → attempt timeout. The job's own retry loop sits above
//! all of it; the client's retry budget is what keeps the two layers of
//! retries from multiplying into a storm against a struggling downstream.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::{Method, Request, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;

use evenkeel_middleware::Error;
use evenkeel_middleware::circuit_breaker::{Breaker, Outcome, SlidingWindow, State};
use evenkeel_middleware::preset::ClientLayer;
use evenkeel_retry::{Backoff, Decision, Jitter, RetryBudget};
use tower::util::BoxCloneSyncService;
use tower::{Layer as _, ServiceExt as _};

use super::config::ServeArgs;
use super::metrics::{CircuitState, Metrics};

use super::job::JobId;

/// One call: which job, and the body to send.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    /// The job making the call (sent as `x-job-id`).
    pub(crate) id: JobId,
    /// The JSON body.
    pub(crate) body: Bytes,
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CallError {
    /// The service answered with a non-2xx status.
    Status {
        /// The status.
        status: u16,
        /// Its `Retry-After`, in seconds, if it sent one.
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused, reset, or a malformed response.
    Transport(String),
}

impl CallError {
    /// Whether another try could succeed: transport errors, 5xx and 429.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            Self::Transport(_) => true,
        }
    }

    /// The service's `Retry-After`, if any.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            Self::Transport(_) => None,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status {
                status,
                retry_after: Some(after),
            } => write!(f, "status {status} (retry after {}s)", after.as_secs()),
            Self::Status { status, .. } => write!(f, "status {status}"),
            Self::Transport(e) => write!(f, "transport error: {e}"),
        }
    }
}

impl std::error::Error for CallError {}

/// The call's own failure, carried once in [`Error::Inner`] by every layer
/// of the client stack.
impl evenkeel_middleware::LayerError for CallError {
    type Inner = Self;

    fn into_error(self) -> Error<Self> {
        Error::Inner(self)
    }
}

/// The bare HTTP call as a tower service.
#[derive(Clone, Debug)]
pub(crate) struct HttpCall {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: Uri,
}

impl HttpCall {
    /// A service that posts to `url`.
    ///
    /// # Errors
    ///
    /// A message when `url` is not an `http://` URL.
    pub(crate) fn new(url: &str) -> Result<Self, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("--downstream `{url}` is not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(format!(
                "--downstream `{url}` must be an http:// URL with a host"
            ));
        }
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build_http();
        Ok(Self { client, uri })
    }
}

impl tower::Service<Call> for HttpCall {
    type Response = ();
    type Error = CallError;
    type Future = Pin<Box<dyn Future<Output = Result<(), CallError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let client = self.client.clone();
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-job-id", call.id.to_string())
            .body(Full::new(call.body));
        Box::pin(async move {
            let request = request.map_err(|e| CallError::Transport(e.to_string()))?;
            let response = client
                .request(request)
                .await
                .map_err(|e| CallError::Transport(e.to_string()))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::load::parse_retry_after);
            // Read the body to the end so the connection goes back to the pool.
            let _ = response.into_body().collect().await;
            if status.is_success() {
                Ok(())
            } else {
                Err(CallError::Status {
                    status: status.as_u16(),
                    retry_after,
                })
            }
        })
    }
}

/// First wait of the client's own retries.
const RETRY_INITIAL: Duration = Duration::from_millis(20);
/// Cap on a client retry wait (and on a `Retry-After` it honours).
const RETRY_MAX: Duration = Duration::from_millis(200);
/// The retry budget: retries may add at most 20 % to the calls of the last
/// 10 s, plus 5 per second so that a quiet client can still retry.
const BUDGET_TTL: Duration = Duration::from_secs(10);
const BUDGET_MIN_PER_SEC: u32 = 5;
const BUDGET_RATIO: f32 = 0.2;

/// How a downstream call failed, after the client stack.
pub(crate) type DownstreamError = Error<CallError>;

/// Whether the job should try again after `e`: everything but a 4xx the
/// downstream answered on purpose.
pub(crate) fn is_retryable(e: &DownstreamError) -> bool {
    match e {
        Error::Inner(e) => e.is_retryable(),
        _ => true,
    }
}

/// The wait `e` asks for: a rejection's hint (an open circuit says when it
/// lets a trial call through), or the downstream's own `Retry-After`.
pub(crate) fn retry_after(e: &DownstreamError) -> Option<Duration> {
    match e {
        Error::Inner(e) => e.retry_after(),
        other => other.retry_after(),
    }
}

/// Whether the client stack retries a call at once (its own, small retry
/// loop, under the retry budget): transport errors, 5xx, 429 and attempt
/// timeouts, after the downstream's `Retry-After` when it sent one (capped
/// at `cap`, so a polite "come back in a second" does not eat the job's
/// attempt). Not retried: successes, 4xx, an open circuit (failing fast is
/// the point of the breaker; the job's own retry loop comes back later)
/// and other rejections.
fn client_policy(cap: Duration) -> impl Fn(&Result<(), DownstreamError>) -> Decision + Clone {
    move |result| match result {
        Err(Error::Inner(e)) if e.is_retryable() => {
            e.retry_after().map_or(Decision::Retry, |after| {
                Decision::RetryAfter(after.min(cap))
            })
        }
        Err(Error::TimedOut { .. }) => Decision::Retry,
        _ => Decision::Stop,
    }
}

/// What counts against the breaker: transport errors, 5xx (and 429) and
/// timeouts are failures; a 4xx is the caller's fault and a success as far
/// as the downstream's health goes; rejections by layers below are ignored.
fn classify(result: &Result<(), DownstreamError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Success,
        Err(Error::Inner(e)) if !e.is_retryable() => Outcome::Success,
        Err(e) if e.is_rejection() => Outcome::Ignore,
        Err(_) => Outcome::Failure,
    }
}

fn circuit_state(state: State) -> CircuitState {
    match state {
        State::Closed => CircuitState::Closed,
        State::HalfOpen => CircuitState::HalfOpen,
        State::Open | State::ForcedOpen => CircuitState::Open,
    }
}

/// The downstream client jobs use (cheap to clone; clones share the
/// breaker).
#[derive(Clone)]
pub(crate) struct DownstreamClient {
    service: BoxCloneSyncService<Call, (), DownstreamError>,
    breaker: Breaker,
}

impl fmt::Debug for DownstreamClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownstreamClient")
            .field("breaker", &self.breaker.state())
            .finish_non_exhaustive()
    }
}

impl DownstreamClient {
    /// A client for `url` behind the client-side stack: total timeout (the
    /// job's `--attempt-timeout`) → retry (`--downstream-attempts`, full
    /// jitter, under a shared retry budget) → circuit breaker → attempt
    /// timeout (`--downstream-timeout`). Breaker transitions go to
    /// `metrics`.
    ///
    /// # Errors
    ///
    /// A message when `url` is unusable.
    pub(crate) fn new(url: &str, args: &ServeArgs, metrics: Arc<Metrics>) -> Result<Self, String> {
        let http = HttpCall::new(url)?;
        let breaker = Breaker::builder()
            .sliding_window(SlidingWindow::Count(args.breaker_window as usize))
            .minimum_calls(u64::from(args.breaker_min_calls))
            .failure_rate_threshold(args.breaker_failure_rate)
            .open_duration(args.breaker_open)
            .half_open_calls(args.breaker_half_open_calls)
            .on_state_change(move |change| {
                tracing::warn!(from = ?change.from, to = ?change.to, "downstream circuit breaker");
                metrics.circuit(circuit_state(change.to));
            })
            .build()
            .map_err(|e| format!("the circuit breaker flags: {e}"))?;
        let backoff = Backoff::exponential(RETRY_INITIAL)
            .max_delay(RETRY_MAX)
            .jitter(Jitter::Full)
            .max_attempts(args.downstream_attempts);
        let service = ClientLayer::new()
            .timeout(args.attempt_timeout)
            .backoff(backoff)
            .budget(RetryBudget::new(
                BUDGET_TTL,
                BUDGET_MIN_PER_SEC,
                BUDGET_RATIO,
            ))
            .policy(client_policy(RETRY_MAX))
            .breaker(breaker.clone())
            .classifier(classify)
            .attempt_timeout(args.downstream_timeout)
            .layer(http);
        Ok(Self {
            service: BoxCloneSyncService::new(service),
            breaker,
        })
    }

    /// Posts `payload` for job `id`.
    ///
    /// # Errors
    ///
    /// The failure, typed by the layer that produced it.
    pub(crate) async fn call(
        &self,
        id: JobId,
        payload: &serde_json::Value,
    ) -> Result<(), DownstreamError> {
        // Serializing a `Value` cannot fail.
        let body = Bytes::from(serde_json::to_vec(payload).unwrap_or_default());
        self.service.clone().oneshot(Call { id, body }).await
    }
}
