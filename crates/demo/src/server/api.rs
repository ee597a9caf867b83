//! The HTTP API: routes, handlers, and the layers around them.
//!
//! | route | answer |
//! |---|---|
//! | `POST /jobs` | 202 `{"id"}`; 400, 408, 413, 415, 422, 429, 503 (+ `Retry-After`), 504 |
//! | `GET /jobs/{id}` | 200 `{"id","state","attempts","error"?}`; 404 |
//! | `GET /healthz` | 200 while the process runs |
//! | `GET /readyz` | 200 while accepting with workers running; 503 from the moment the drain starts, or once the worker supervisor has died |
//! | `GET /metrics` | Prometheus text format |
//!
//! Only `POST /jobs` sits behind the protective stack (rate limit, total
//! timeout, bulkhead, drain; see `stack`): probes, job lookups and metrics
//! must keep answering while the server sheds load or drains, or an
//! operator is blind exactly when it matters.
//!
//! Every route sits inside the edge stack (request id, access log,
//! metrics, the one error shape, catch-panic; see `stack`), which `run`
//! puts around this router.
//!
//! A `503 queue_full` carries a `Retry-After` measured from the queue
//! depth and the recent completion rate (see `retry_hint`).

use std::sync::Arc;

use axum::extract::{FromRef, Path, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use evenkeel_shutdown::Shutdown;
use serde_json::json;

use super::error::ApiError;
use super::extract::{ApiJson, BodyLimit};
use super::intake::Intake;
use super::job::{JobId, JobRequest, Limits};
use super::metrics::Metrics;
use super::readiness::Readiness;
use super::retry_hint::RetryHint;
use super::store::JobStore;

/// Everything the handlers share.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    /// Job records.
    pub(crate) store: JobStore,
    /// Metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// Admission into the queue.
    pub(crate) intake: Intake,
    /// The shutdown coordinator (readiness reads its phase).
    pub(crate) shutdown: Shutdown,
    /// What validation checks against.
    pub(crate) limits: Limits,
    /// Largest request body.
    pub(crate) body_limit: usize,
    /// Whether the workers are still there (readiness reads it).
    pub(crate) readiness: Readiness,
    /// The measured `Retry-After` of a full queue.
    pub(crate) retry_hint: RetryHint,
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
    Router::new()
        .route("/jobs", post(submit).route_layer(intake_stack))
        .route("/jobs/{id}", get(lookup))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .fallback(not_found)
        .with_state(state)
}

async fn submit(
    State(app): State<AppState>,
    ApiJson(request): ApiJson<JobRequest>,
) -> Result<Response, ApiError> {
    let spec = request.validate(app.limits).map_err(ApiError::invalid)?;
    let id = app.intake.admit(spec).await.map_err(|e| {
        if e.code() == "queue_full" {
            e.retry_after(app.retry_hint.queue_full())
        } else {
            e
        }
    })?;
    app.metrics.admitted();
    tracing::debug!(%id, "job admitted");
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id }))).into_response())
}

async fn lookup(State(app): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let not_found = || ApiError::unknown_job(format!("job {id}"));
    let parsed: JobId = id.parse().map_err(|_| not_found())?;
    let view = app.store.get(parsed).ok_or_else(not_found)?;
    Ok(Json(view).into_response())
}

async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

async fn readyz(State(app): State<AppState>) -> Response {
    let phase = app.shutdown.phase();
    if let Some(why) = app.readiness.why_not() {
        ApiError::other(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!("not ready: {why}"),
        )
        .into_response()
    } else if phase.is_ready() {
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
