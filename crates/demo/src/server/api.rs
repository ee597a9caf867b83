//! The HTTP API: routes, handlers, and the layers around them.
//!
//! | route | answer |
//! |---|---|
//! | `POST /jobs` | 202 `{"id"}` + `Location: /jobs/{id}` once the job is durable; 200 with the first job's id for a repeated `Idempotency-Key`; 400, 413, 415, 422, 429, 503 (+ `Retry-After`), 504 |
//! | `GET /jobs/{id}` | 200 `{"id","state","attempts","max_attempts","error"?,"retry_at_ms"?}`, `state` one of `queued`, `running`, `succeeded`, `dead`; 404 (unknown, or pruned after `--retention`) |
//! | `GET /healthz` | 200 while the process runs |
//! | `GET /readyz` | 200 while accepting, 503 from the moment the drain starts |
//! | `GET /metrics` | Prometheus text format |
//!
//! Only `POST /jobs` sits behind the protective stack (rate limit, total
//! timeout, bulkhead, drain; see `stack`): probes, job lookups and metrics
//! must keep answering while the server sheds load or drains, or an
//! operator is blind exactly when it matters.
//!
//! Two layers wrap every route. The outer one times each request into the
//! latency histogram and counts `POST /jobs` rejections by reason. The
//! inner one guarantees the one error shape: any error response that does
//! not already carry a JSON body (axum's 404 for an unknown route, its 405,
//! a rejection produced by a middleware layer) gets `{"error": "..."}`,
//! headers such as `Retry-After` kept.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRef, MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use evenkeel_shutdown::Shutdown;
use serde_json::json;

use super::books::Books;
use super::error::{ApiError, RejectReason};
use super::extract::{ApiJson, BodyLimit};
use super::intake::Intake;
use super::job::{JobId, JobRequest, Limits};
use super::metrics::Metrics;
use super::store::{Enqueued, JobStore};

/// Everything the handlers share.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    /// The job store.
    pub(crate) store: Arc<dyn JobStore>,
    /// This process's counts (and the store's, for the metrics).
    pub(crate) books: Arc<Books>,
    /// Metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// Admission into the store.
    pub(crate) intake: Intake,
    /// The shutdown coordinator (readiness reads its phase).
    pub(crate) shutdown: Shutdown,
    /// What validation checks against.
    pub(crate) limits: Limits,
    /// Largest request body.
    pub(crate) body_limit: usize,
}

impl FromRef<AppState> for BodyLimit {
    fn from_ref(state: &AppState) -> Self {
        BodyLimit(state.body_limit)
    }
}

/// The router: `intake_stack` wraps `POST /jobs` only.
pub(crate) fn router<L>(state: AppState, intake_stack: L) -> Router
where
    L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
    L::Service:
        tower::Service<Request, Error = std::convert::Infallible> + Clone + Send + Sync + 'static,
    <L::Service as tower::Service<Request>>::Response: IntoResponse + 'static,
    <L::Service as tower::Service<Request>>::Future: Send + 'static,
{
    let metrics = Arc::clone(&state.metrics);
    Router::new()
        .route("/jobs", post(submit).route_layer(intake_stack))
        .route("/jobs/{id}", get(lookup))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .fallback(not_found)
        .with_state(state)
        .layer(middleware::map_response(json_errors))
        .layer(middleware::from_fn_with_state(metrics, observe))
}

/// The longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

async fn submit(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<JobRequest>,
) -> Result<Response, ApiError> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => match value.to_str() {
            Ok(key) if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY => Some(key.to_owned()),
            _ => {
                return Err(ApiError::invalid(format!(
                    "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
                )));
            }
        },
    };
    let spec = request.validate(app.limits).map_err(ApiError::invalid)?;
    let enqueued = app.intake.admit(spec, key).await?;
    let (status, id) = match enqueued {
        Enqueued::Created(id) => {
            app.metrics.admitted();
            tracing::debug!(%id, "job admitted");
            (StatusCode::ACCEPTED, id)
        }
        Enqueued::Existing(id) => (StatusCode::OK, id),
    };
    let location = HeaderValue::try_from(format!("/jobs/{id}"))
        .map_err(|e| ApiError::internal(format!("location header: {e}")))?;
    Ok((
        status,
        [(header::LOCATION, location)],
        Json(json!({ "id": id })),
    )
        .into_response())
}

async fn lookup(State(app): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(format!("job {id}"));
    let parsed: JobId = id.parse().map_err(|_| not_found())?;
    let record = app
        .store
        .get(parsed)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(not_found)?;
    let mut view = json!({
        "id": record.id,
        "state": record.state,
        "attempts": record.attempts,
        "max_attempts": record.max_attempts,
    });
    if let Some(error) = record.error {
        view["error"] = json!(error);
    }
    if let Some(at) = record.run_at_ms {
        view["retry_at_ms"] = json!(at);
    }
    Ok(Json(view).into_response())
}

async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

async fn readyz(State(app): State<AppState>) -> Response {
    let phase = app.shutdown.phase();
    if phase.is_ready() {
        Json(json!({ "ready": true })).into_response()
    } else {
        ApiError::other(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!("not ready: shutting down ({phase:?})"),
        )
        .into_response()
    }
}

async fn render_metrics(State(app): State<AppState>) -> Response {
    match app.store.stats().await {
        Ok(stats) => app.books.set_store(stats),
        Err(e) => tracing::warn!(error = %e, "could not read the job store's counts"),
    }
    let body = app.metrics.render();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("{method} {}", uri.path()))
}

/// Gives every error response without a JSON body the `{"error": ...}`
/// shape, keeping its status and headers: the plain-text message of a
/// middleware rejection becomes the `error` string, an empty body becomes
/// the status's reason phrase. Such responses also get their rejection
/// reason here, from the status and message, for the metrics.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
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
    if parts.extensions.get::<RejectReason>().is_none() {
        let reason = match status {
            StatusCode::TOO_MANY_REQUESTS => "rate_limited",
            StatusCode::SERVICE_UNAVAILABLE if message.starts_with("shutting down") => "draining",
            StatusCode::SERVICE_UNAVAILABLE => "overloaded",
            StatusCode::GATEWAY_TIMEOUT => "timeout",
            _ => "other",
        };
        parts.extensions.insert(RejectReason(reason));
    }
    let body = serde_json::to_vec(&json!({ "error": message })).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Times every request and counts `POST /jobs` rejections by reason.
async fn observe(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
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
        let reason = response
            .extensions()
            .get::<RejectReason>()
            .map_or("other", |r| r.0);
        metrics.rejected(reason);
    }
    response
}
