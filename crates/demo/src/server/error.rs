//! Every error the job API can answer, as one type with one JSON shape.
//!
//! A client should not have to guess the shape of a failure: every non-2xx
//! response from this server carries
//! `{"error": "<one sentence>", "code": "<stable code>"}`. The sentence is
//! for people and may change; the code is for programs and does not (the
//! table of codes is in the crate README and in [`ApiError`]'s docs). The
//! statuses that ask the client to come back later (429, 503) carry a
//! `Retry-After` header in whole seconds.
//!
//! The code also travels on the response as an [`ErrorCode`] extension, so
//! that the metrics layer, which sees every response, can count rejections
//! by code without parsing bodies. Responses produced outside the handlers
//! (the middleware stack's 429/503/504, axum's 404/405, a caught panic) are
//! given their code by the edge stack (`stack`), from their status and
//! message.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The stable machine code of an error response, attached to the response
/// as an extension for the metrics layer and the access log.
///
/// ```
/// use axum::response::IntoResponse;
/// use evenkeel_demo::server::{ApiError, ErrorCode};
///
/// let response = ApiError::queue_full().into_response();
/// assert_eq!(response.extensions().get::<ErrorCode>(), Some(&ErrorCode("queue_full")));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

/// An error response: a status, a stable code, a sentence, and perhaps a
/// retry-after hint.
///
/// # Codes
///
/// | status | code | when |
/// |---|---|---|
/// | 400 | `invalid_json` | the body is not well-formed JSON |
/// | 400 | `bad_request` | the body could not be read (the connection broke mid-body) |
/// | 404 | `unknown_job` | `GET /jobs/{id}`: no such job (never existed, or its record was forgotten) |
/// | 404 | `not_found` | no such route |
/// | 405 | `method_not_allowed` | the route exists, the method does not |
/// | 408 | `body_timeout` | the body did not arrive within `--body-read-timeout` |
/// | 413 | `body_too_large` | the body is larger than `--max-body` |
/// | 415 | `unsupported_media_type` | the body is not declared as JSON |
/// | 422 | `invalid_job` | well-formed JSON that is not a valid job |
/// | 429 | `rate_limited` | over `--rate-limit` (+ `Retry-After`) |
/// | 500 | `internal` | a handler panicked, or another bug |
/// | 503 | `queue_full` | `--queue-capacity` jobs already wait in the store (+ `Retry-After` from measurements) |
/// | 503 | `draining` | the server is shutting down (+ `Retry-After`) |
/// | 503 | `overloaded` | more than `--max-concurrent-requests` in flight (+ `Retry-After`) |
/// | 503 | `not_ready` | `GET /readyz` while not ready |
/// | 503 | `store_unavailable` | the job store failed to take the job (+ `Retry-After`) |
/// | 503 | `too_many_connections` | a connection past `--max-connections` (+ `Retry-After`) |
/// | 504 | `request_timeout` | `POST /jobs` took longer than `--request-timeout` |
///
/// ```
/// use axum::http::StatusCode;
/// use axum::response::IntoResponse;
/// use evenkeel_demo::server::ApiError;
///
/// let response = ApiError::queue_full().into_response();
/// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(response.headers()["retry-after"], "1");
/// assert_eq!(ApiError::unknown_job("job 7").code(), "unknown_job");
/// ```
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 `invalid_json`: the body is not JSON.
    pub fn invalid_json(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("malformed JSON: {detail}"),
        )
    }

    /// 400 `bad_request`: the body could not be read.
    pub fn bad_request(detail: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail.to_string())
    }

    /// 408 `body_timeout`: the body did not arrive within `after`.
    pub fn body_timeout(after: Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!("the request body did not arrive within {after:?}"),
        )
    }

    /// 413 `body_too_large`: the body is larger than `limit` bytes.
    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body is larger than {limit} bytes"),
        )
    }

    /// 415 `unsupported_media_type`: the body is not declared as JSON.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected a body with content-type application/json",
        )
    }

    /// 422 `invalid_job`: well-formed JSON that is not a valid job.
    pub fn invalid(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_job",
            format!("invalid job: {detail}"),
        )
    }

    /// 404 `unknown_job`: no such job (never existed, or its record was
    /// forgotten).
    pub fn unknown_job(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_job",
            format!("{what} not found"),
        )
    }

    /// 404 `not_found`: no such route.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 503 `queue_full`: the queue is full; retry after a second (the
    /// handler replaces the hint with a measured one, see `retry_hint`).
    pub fn queue_full() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "queue_full",
            "the job queue is full; retry later",
        )
        .retry_after(Duration::from_secs(1))
    }

    /// 503 `draining`: the server is draining and takes no new jobs.
    pub fn draining() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "the server is shutting down and takes no new jobs",
        )
        .retry_after(Duration::from_secs(5))
    }

    /// 503 `store_unavailable`: the job store could not take the job (disk
    /// full or read-only, an I/O error, the database unreachable); nothing
    /// was stored. Comes with a `Retry-After` of two seconds (the intake
    /// may raise it).
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// use evenkeel_demo::server::ApiError;
    ///
    /// let response = ApiError::store_unavailable("disk full").into_response();
    /// assert_eq!(response.status(), 503);
    /// assert_eq!(response.headers()["retry-after"], "2");
    /// ```
    pub fn store_unavailable(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("the job store cannot take jobs right now; retry later ({detail})"),
        )
        .retry_after(Duration::from_secs(2))
    }

    /// 500 `internal`: something broke inside the server.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error: {detail}"),
        )
    }

    /// Any status with a code and a sentence (used to re-shape responses
    /// from the middleware stack).
    pub fn other(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::new(status, code, message)
    }

    /// Adds (or replaces) the `Retry-After` hint, rounded up to whole
    /// seconds.
    #[must_use]
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The sentence sent to the client.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Whole seconds for a `Retry-After` header: rounded up, at least 1.
pub(crate) fn retry_after_secs(after: Duration) -> u64 {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    secs.max(1)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.message, "code": self.code });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(after) = self.retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(after)),
            );
        }
        response.extensions_mut().insert(ErrorCode(self.code));
        response
    }
}
