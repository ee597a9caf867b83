//! The HTTP API: routes, handlers, and the layers around them.
//!
//! | route | answer |
//! |---|---|
//! | `POST /jobs` | 202 `{"id"}` + `Location: /jobs/{id}` once the job is durable; 200 with the first job's id for a repeated `Idempotency-Key`; 400, 408, 413, 415, 422, 429, 503 (+ `Retry-After`), 504 |
//! | `GET /jobs/{id}` | 200 `{"id","state","attempts","max_attempts","error"?,"retry_at_ms"?}`, `state` one of `queued`, `running`, `succeeded`, `dead`; 404 `unknown_job` (unknown, or pruned after `--retention`) |
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
//! A `503 queue_full` carries a `Retry-After` measured from the store's
//! waiting jobs and the recent completion rate (see `retry_hint`).

use std::sync::Arc;

use axum::extract::{FromRef, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use evenkeel_shutdown::Shutdown;
use serde_json::json;

use super::books::Books;
use super::error::ApiError;
use super::extract::{ApiJson, BodyLimit};
use super::intake::Intake;
use super::job::{JobId, JobRequest, Limits};
use super::metrics::Metrics;
use super::readiness::Readiness;
use super::retry_hint::RetryHint;
use super::store::{Enqueued, JobStore};

/// Everything the handlers share, behind one `Arc`: axum clones the state
/// for every request (the handler and each extractor that reads it), and a
/// clone of the fields one by one was a dozen atomic increments and as
/// many decrements per request (3 % of the server's samples under load,
/// by `perf`); one `Arc` makes it one of each.
#[derive(Debug, Clone)]
pub(crate) struct AppState(Arc<AppShared>);

impl AppState {
    /// Shares `parts` with every handler.
    pub(crate) fn new(parts: AppShared) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppShared;
    fn deref(&self) -> &AppShared {
        &self.0
    }
}

/// The fields of [`AppState`].
#[derive(Debug)]
pub(crate) struct AppShared {
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
    let enqueued = app.intake.admit(spec, key).await.map_err(|e| {
        if e.code() == "queue_full" {
            e.retry_after(app.retry_hint.queue_full())
        } else {
            e
        }
    })?;
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
    let not_found = || ApiError::unknown_job(format!("job {id}"));
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
