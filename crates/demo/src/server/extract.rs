//! The JSON body extractor: axum's own [`Json`] extractor, with its
//! rejections mapped to the one error shape, and a bound on the time the
//! body may take to arrive.
//!
//! axum already does the work: it checks the content type
//! (`application/json` or `application/*+json`), reads the body under the
//! [`DefaultBodyLimit`](axum::extract::DefaultBodyLimit) the edge stack sets
//! from `--max-body`, and tells a syntax error from a document of the wrong
//! shape. Each of its [`JsonRejection`]s becomes an [`ApiError`]:
//!
//! | axum's rejection | answer |
//! |---|---|
//! | `MissingJsonContentType` | 415 `unsupported_media_type` |
//! | `BytesRejection` with status 413 (the body limit) | 413 `body_too_large` |
//! | `BytesRejection`, any other | 400 `bad_request` |
//! | `JsonSyntaxError` | 400 `invalid_json` |
//! | `JsonDataError` | 422 `invalid_job` |
//!
//! The body is first extracted as a JSON *object* and only then as `T`:
//! serde would otherwise accept a struct written as an array
//! (`[1, 2]` as `{"payload": 1, "work_ms": 2}`).
//!
//! # The body read bound
//!
//! A client that sends its headers promptly and then its body one byte at
//! a time would hold a handler (and a bulkhead permit) as long as it liked.
//! The whole extraction runs under the [`BodyReadTimeout`] the edge stack
//! puts in the request's extensions (`--body-read-timeout`); past it the
//! answer is 408 `body_timeout` and the connection is closed after the
//! response (hyper does not keep alive a connection whose body was not
//! read to the end).

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::ApiError;

/// The largest body [`ApiJson`] reads, taken from the router state (for the
/// 413 message; the limit itself is axum's `DefaultBodyLimit`, set by the
/// edge stack from the same flag).
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

/// How long [`ApiJson`] waits for a whole body; the edge stack inserts it
/// into every request's extensions (`--body-read-timeout`). Without it
/// there is no bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyReadTimeout(pub Duration);

/// Extracts a JSON object body as `T`, answering failures with
/// [`ApiError`] (see the module docs for the mapping).
///
/// ```
/// use axum::body::Body;
/// use axum::extract::{FromRequest, Request};
/// use evenkeel_demo::server::{ApiJson, BodyLimit, JobRequest};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let request = Request::post("/jobs")
///     .header("content-type", "application/json")
///     .body(Body::from("[1, 2]"))
///     .unwrap();
/// let err = ApiJson::<JobRequest>::from_request(request, &BodyLimit(1024)).await.unwrap_err();
/// assert_eq!(err.code(), "invalid_job");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
    BodyLimit: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let BodyLimit(limit) = BodyLimit::from_ref(state);
        let timeout = req.extensions().get::<BodyReadTimeout>().copied();
        let extract = Json::<Map<String, Value>>::from_request(req, state);
        let extracted = match timeout {
            Some(BodyReadTimeout(after)) => tokio::time::timeout(after, extract)
                .await
                .map_err(|_elapsed| ApiError::body_timeout(after))?,
            None => extract.await,
        };
        let Json(object) = extracted.map_err(|rejection| rejected(&rejection, limit))?;
        T::deserialize(Value::Object(object))
            .map(ApiJson)
            .map_err(ApiError::invalid)
    }
}

/// Maps axum's rejection to the error body.
fn rejected(rejection: &JsonRejection, limit: usize) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::unsupported_media_type(),
        JsonRejection::JsonSyntaxError(e) => ApiError::invalid_json(e.body_text()),
        JsonRejection::JsonDataError(e) => ApiError::invalid(e.body_text()),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::body_too_large(limit)
        }
        other => ApiError::bad_request(format!("could not read the body: {}", other.body_text())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    /// Extracts behind axum's body limit layer at 16 bytes, as the edge
    /// stack sets it.
    async fn extract(content_type: &str, body: &'static str) -> Result<Value, ApiError> {
        use tower::{Layer as _, ServiceExt as _};
        let request = Request::post("/jobs")
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        let service = axum::extract::DefaultBodyLimit::max(16).layer(tower::service_fn(
            |request: Request| async move {
                let extracted = ApiJson::<Value>::from_request(request, &BodyLimit(16)).await;
                Ok::<_, std::convert::Infallible>(extracted.map(|ApiJson(v)| v))
            },
        ));
        match service.oneshot(request).await {
            Ok(result) => result,
            Err(never) => match never {},
        }
    }

    /// Each of axum's rejections maps to its documented code.
    #[tokio::test]
    async fn rejections_map_to_codes() {
        let code = |r: Result<Value, ApiError>| r.unwrap_err().code();
        assert_eq!(
            code(extract("text/plain", "{}").await),
            "unsupported_media_type"
        );
        assert_eq!(
            code(extract("application/json", "{ nope").await),
            "invalid_json"
        );
        assert_eq!(
            code(extract("application/json", "[1]").await),
            "invalid_job"
        );
        assert_eq!(
            code(extract("application/json", r#"{"a": "0123456789abcdef"}"#).await),
            "body_too_large"
        );
        assert!(extract("application/vnd.job+json", "{}").await.is_ok());
    }

    /// Unknown fields and wrong types are shape errors (422), not syntax
    /// errors (400); an array is not an object.
    #[tokio::test]
    async fn shape_errors_and_syntax_errors_are_told_apart() {
        use crate::server::JobRequest;
        let status = |body: &'static str| async move {
            let request = Request::post("/jobs")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            ApiJson::<JobRequest>::from_request(request, &BodyLimit(1024))
                .await
                .unwrap_err()
                .status()
        };
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        assert_eq!(status(r#"{"payload": 1, "extra": 2}"#).await, unprocessable);
        assert_eq!(
            status(r#"{"payload": 1, "work_ms": "fast"}"#).await,
            unprocessable
        );
        assert_eq!(status("[1, 2]").await, unprocessable);
        assert_eq!(status(r#"{"payload": 1,}"#).await, StatusCode::BAD_REQUEST);
        assert_eq!(status("").await, StatusCode::BAD_REQUEST);
    }

    /// A body that never arrives is cut off at the body read timeout.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_times_out() {
        let (_tx, body) = http_body_util::channel::Channel::<axum::body::Bytes>::new(1);
        let mut request = Request::post("/jobs")
            .header("content-type", "application/json")
            .body(Body::new(body))
            .unwrap();
        request
            .extensions_mut()
            .insert(BodyReadTimeout(Duration::from_secs(3)));
        let err = ApiJson::<Value>::from_request(request, &BodyLimit(16))
            .await
            .unwrap_err();
        assert_eq!(
            (err.status(), err.code()),
            (StatusCode::REQUEST_TIMEOUT, "body_timeout")
        );
    }
}
