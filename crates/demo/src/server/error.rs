//! Every error the job API can answer, as one type with one JSON shape.
//!
//! A client should not have to guess the shape of a failure: every non-2xx
//! response from this server carries `{"error": "<one sentence>"}`, and the
//! statuses that ask the client to come back later (429, 503) carry a
//! `Retry-After` header in whole seconds. [`ApiError`] is that response.
//!
//! Each error also names a short *reason* (`queue_full`, `draining`,
//! `invalid`...). The handler attaches it to the response as an extension,
//! so that the metrics layer, which sees every response, can count
//! rejections by reason without parsing bodies; responses produced by the
//! middleware stack (429 from the rate limiter, 503 from the bulkhead) carry
//! no reason and are classified by status there.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The reason a request was rejected, attached to the response as an
/// extension for the metrics layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RejectReason(pub &'static str);

/// An error response: a status, a reason label, a sentence, and perhaps a
/// retry-after hint.
///
/// ```
/// use axum::http::StatusCode;
/// use axum::response::IntoResponse;
/// use evenkeel_demo::server::ApiError;
///
/// let response = ApiError::queue_full().into_response();
/// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(response.headers()["retry-after"], "1");
/// ```
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    reason: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

impl ApiError {
    fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400: the body is not JSON.
    pub fn malformed(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("malformed JSON: {detail}"),
        )
    }

    /// 413: the body is larger than `limit` bytes.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("request body is larger than {limit} bytes"),
        )
    }

    /// 415: the body is not declared as JSON.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected a body with content-type application/json",
        )
    }

    /// 422: well-formed JSON that is not a valid job.
    pub fn invalid(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("invalid job: {detail}"),
        )
    }

    /// 404: no such job (never existed, or its record was forgotten).
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 503: the queue is full; retry after a second.
    pub fn queue_full() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "queue_full",
            "the job queue is full; retry later",
        )
        .retry_after(Duration::from_secs(1))
    }

    /// 503: the server is draining and takes no new jobs.
    pub fn draining() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "the server is shutting down and takes no new jobs",
        )
        .retry_after(Duration::from_secs(5))
    }

    /// 500: something broke inside the server.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error: {detail}"),
        )
    }

    /// Any status with a reason label and a sentence (used to re-shape
    /// responses from the middleware stack).
    pub fn other(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(status, reason, message)
    }

    /// Adds a `Retry-After` hint, rounded up to whole seconds.
    #[must_use]
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The reason label.
    pub fn reason(&self) -> &'static str {
        self.reason
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
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(after) = self.retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(after)),
            );
        }
        response.extensions_mut().insert(RejectReason(self.reason));
        response
    }
}
