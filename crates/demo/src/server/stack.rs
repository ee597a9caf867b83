//! The tower stacks: the edge stack around every route, and the protective
//! stack in front of `POST /jobs`.
//!
//! # The edge stack (every route), outermost first
//!
//! 1. **request id** (tower-http `SetRequestId` + `PropagateRequestId`):
//!    a request's `x-request-id` is kept, or a random (version 4) UUID is
//!    generated ([`RequestIds`]), and the response carries the same header.
//! 2. **trace** (tower-http `Trace`): one span per request with its id,
//!    method and route, so every log line of the request carries them; and
//!    one access-log line when the response is ready (target
//!    `evenkeel_demo::access`, level `info`): status, latency, error code.
//! 3. **metrics** (`observe`): the latency histogram, requests in flight,
//!    and `POST /jobs` rejections counted by error code.
//! 4. **body limits**: axum's `DefaultBodyLimit` at `--max-body`, and the
//!    [`BodyReadTimeout`] the JSON extractor enforces.
//! 5. **one error shape** (`json_errors`): any error response without a
//!    JSON body (axum's 404 and 405, the middleware stack's plain-text
//!    429/503/504) gets `{"error", "code"}`, headers such as `Retry-After`
//!    kept.
//! 6. **catch panic** (tower-http `CatchPanic`), innermost: a handler that
//!    panics answers 500 `internal` with the JSON body; the connection and
//!    the server carry on. It is a layer, not a process-wide panic hook, so
//!    it answers the request that panicked.
//!
//! With `--debug-panic-route` the stack also serves `GET /debug/panic`,
//! which panics: the honest way for a test (or an operator checking a
//! deployment) to see the catch-panic layer answer. It is off by default.
//!
//! # The protective stack (`POST /jobs` only)
//!
//! The middleware crate's server preset, outermost first (its
//! `ServerLayer` builds exactly this):
//!
//! 1. **rate limit** (`--rate-limit` per second, `--rate-limit-burst`): one
//!    GCRA limiter shared by every connection; a request over the rate is
//!    refused at once with 429 and a `Retry-After` that says when a slot
//!    frees up. With `--rate-limit 0` the limiter is unlimited.
//! 2. **total timeout** (`--request-timeout`): a request that takes longer
//!    gets 504.
//! 3. **bulkhead** (`--max-concurrent-requests`): at most that many
//!    requests in the handler at once; one more is refused with 503 and
//!    `Retry-After` instead of queueing.
//! 4. **drain**: each request holds a drain guard of the server's
//!    `Shutdown` while it runs, so the drain also waits for requests in
//!    flight; once the drain has begun (after the pre-drain delay), new
//!    requests are refused with 503 and `Retry-After`. Requests routed here
//!    during the pre-drain delay are still admitted. The admission itself
//!    takes a second guard for the job (see `intake`), which covers the
//!    race of a request that passed this layer just before the drain.
//!
//! Each layer fails with the middleware crate's typed `Error`, and
//! `ErrorResponseLayer` turns it into its HTTP response (status and
//! `Retry-After`); the edge stack's `json_errors` then gives it the JSON
//! error shape and its code.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use evenkeel_middleware::preset::ServerLayer;
use evenkeel_middleware::rate_limit::RateLimiter;
use evenkeel_middleware::{BulkheadLayer, ErrorResponseLayer};
use evenkeel_shutdown::Shutdown;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::Span;

use super::config::ServeArgs;
use super::error::{ApiError, ErrorCode};
use super::extract::BodyReadTimeout;
use super::metrics::Metrics;

/// The server-side stack for `POST /jobs`: the middleware crate's
/// [`ServerLayer`] preset, behind the layer that turns its typed errors
/// into responses.
pub(crate) fn server(args: &ServeArgs, shutdown: &Shutdown) -> (ErrorResponseLayer, ServerLayer) {
    let mut preset = ServerLayer::new(shutdown.clone())
        .timeout(args.request_timeout)
        .bulkhead(
            BulkheadLayer::builder(args.max_concurrent_requests as usize)
                .retry_after(Duration::from_secs(1))
                .build(),
        )
        .drain_retry_after(Duration::from_secs(5));
    if args.rate_limit > 0 {
        let burst = args.rate_limit_burst.unwrap_or(args.rate_limit).max(1);
        preset = preset.rate_limit(RateLimiter::with_burst(
            args.rate_limit,
            Duration::from_secs(1),
            burst,
        ));
    }
    (ErrorResponseLayer::new(), preset)
}

/// Wraps every route of `router` in the edge stack (see the module docs).
pub(crate) fn edge(router: Router, args: &ServeArgs, metrics: Arc<Metrics>) -> Router {
    let router = if args.debug_panic_route {
        router.route("/debug/panic", get(panic_on_purpose))
    } else {
        router
    };
    // One layer around each route, not one per middleware: every
    // `Router::layer` call boxes the route again, and each box is cloned
    // and its future boxed on every request.
    router.layer(
        tower::ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(RequestIds))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_request(())
                    .on_response(access_log)
                    .on_failure(()),
            )
            .layer(middleware::from_fn_with_state(metrics, observe))
            .layer(Extension(BodyReadTimeout(args.body_read_timeout)))
            .layer(DefaultBodyLimit::max(args.max_body))
            .layer(middleware::map_response(json_errors))
            .layer(CatchPanicLayer::custom(panic_response)),
    )
}

/// Request ids for requests that came without one: random (version 4)
/// UUIDs from the thread's RNG.
///
/// tower-http's `MakeRequestUuid` draws each id from the operating system
/// (one `getrandom` call per request, a system call as costly as the
/// request's own read); an id that only correlates log lines needs no
/// secret randomness, so the thread-local generator does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestIds;

impl RequestIds {
    /// A fresh id, as the header value.
    pub(crate) fn next() -> HeaderValue {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = [0_u8; uuid::fmt::Hyphenated::LENGTH];
        // 36 ASCII characters: always a valid header value.
        HeaderValue::from_bytes(id.hyphenated().encode_lower(&mut text).as_bytes())
            .unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        Some(RequestId::new(Self::next()))
    }
}

/// `GET /debug/panic` (with `--debug-panic-route`): panics, to show the
/// catch-panic layer at work.
async fn panic_on_purpose() -> Response {
    panic!("GET /debug/panic panics on purpose (--debug-panic-route)")
}

/// The 500 for a handler that panicked; the panic message goes to the log
/// (inside the request's span), not to the client.
// The layer hands the payload over by value.
#[allow(clippy::needless_pass_by_value)]
fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-string payload".to_owned());
    tracing::error!(panic = %message, "handler panicked; answered 500");
    ApiError::internal("the handler panicked").into_response()
}

/// The route a request matched, or `unmatched`.
fn route_of<B>(request: &axum::http::Request<B>) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned())
}

/// The span every log line of a request is written in.
fn request_span<B>(request: &axum::http::Request<B>) -> Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        route = %route_of(request),
    )
}

/// The access-log line: one per request, inside its span.
fn access_log<B>(response: &axum::http::Response<B>, latency: Duration, _span: &Span) {
    let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
    tracing::info!(
        target: "evenkeel_demo::access",
        status = response.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1e3,
        code,
        "request"
    );
}

/// The code of an error response that did not come from an [`ApiError`]:
/// from its status, and for a 503 from the middleware's message.
fn code_for(status: StatusCode, message: &str) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "body_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE if message.starts_with("shutting down") => "draining",
        StatusCode::SERVICE_UNAVAILABLE => "overloaded",
        StatusCode::GATEWAY_TIMEOUT => "request_timeout",
        StatusCode::INTERNAL_SERVER_ERROR => "internal",
        _ => "error",
    }
}

/// Gives every error response without a JSON body the
/// `{"error", "code"}` shape, keeping its status and headers: the
/// plain-text message of a middleware rejection becomes the `error`
/// string, an empty body becomes the status's reason phrase.
async fn json_errors<B>(response: axum::http::Response<B>) -> Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let status = response.status();
    let response = response.map(axum::body::Body::new);
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    } else {
        text
    };
    let code = parts
        .extensions
        .get::<ErrorCode>()
        .map_or_else(|| code_for(status, &message), |c| c.0);
    parts.extensions.insert(ErrorCode(code));
    let body = serde_json::json!({ "error": message, "code": code });
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
}

/// Times every request and counts `POST /jobs` rejections by code.
async fn observe(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let route = route_of(&request);
    let in_flight = metrics.http_request(&route);
    let response = next.run(request).await;
    drop(in_flight);
    let status = response.status();
    metrics.observe_http(
        method.as_str(),
        &route,
        status.as_u16(),
        start.elapsed().as_secs_f64(),
    );
    if method == Method::POST && route == "/jobs" && !status.is_success() {
        let code = response
            .extensions()
            .get::<ErrorCode>()
            .map_or("error", |c| c.0);
        metrics.rejected(code);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_fresh_version_4_uuids() {
        let a = RequestIds::next();
        let b = RequestIds::next();
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(a.to_str().unwrap()).unwrap();
        assert_eq!(parsed.get_version(), Some(uuid::Version::Random));
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(a.len(), 36);
    }

    /// Responses from outside the handlers get the documented codes.
    #[test]
    fn codes_from_status_and_message() {
        let s = StatusCode::SERVICE_UNAVAILABLE;
        assert_eq!(code_for(s, "shutting down, retry after 5s"), "draining");
        assert_eq!(code_for(s, "overloaded, retry after 1s"), "overloaded");
        assert_eq!(code_for(StatusCode::TOO_MANY_REQUESTS, ""), "rate_limited");
        assert_eq!(code_for(StatusCode::GATEWAY_TIMEOUT, ""), "request_timeout");
        assert_eq!(
            code_for(StatusCode::METHOD_NOT_ALLOWED, ""),
            "method_not_allowed"
        );
    }
}
