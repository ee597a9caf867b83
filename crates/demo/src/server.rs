//! `evenkeel-demo serve`: the worker-pool job server.
//!
//! Clients `POST /jobs`; the job store admits each job once it is on disk
//! (202) or pushes back (503 + `Retry-After`); supervised workers claim the
//! jobs from the store under a lease and run them with timeouts, calling a
//! flaky downstream through a circuit breaker; failed attempts wait in the
//! store for their retry; a signal starts a phased drain that finishes what
//! it can and hands the rest back to the store for the next start. Nothing
//! accepted is lost, not even to `kill -9`: every 202 ends `succeeded` or
//! `dead`, in this process or a later one on the same store.
//!
//! # The job
//!
//! `POST /jobs` takes a JSON object: `payload` (any JSON, required),
//! `work_ms` (simulated work per attempt, at most 60 000), `fail_rate`
//! (0 to 1, the chance an attempt fails transiently), `downstream` (each
//! attempt calls `--downstream`), `panic` (the first attempt panics, to
//! show panic capture), `max_attempts` (at most `--max-attempts`). Unknown
//! fields are refused (422). An `Idempotency-Key` header makes a repeated
//! post return the first job (200, same id). `GET /jobs/{id}` shows
//! `{"id", "state", "attempts", "max_attempts", "error"?, "retry_at_ms"?}`
//! with the states `queued` (ready, or waiting for its retry), `running`
//! (leased to a worker), `succeeded` and `dead`. Finished records keep
//! their outcome (not their payload) for `--retention`, then are pruned.
//!
//! # Metrics (`GET /metrics`)
//!
//! | metric | kind | what |
//! |---|---|---|
//! | `evenkeel_queue_depth`, `_capacity`, `_high_water` | gauge | jobs waiting in the store (ready or delayed), against `--queue-capacity` |
//! | `evenkeel_store_jobs{state}` | gauge | the store's jobs: `ready`, `delayed`, `leased`, `succeeded`, `dead` |
//! | `evenkeel_store_oldest_ready_age_seconds` | gauge | how long the oldest ready job has waited |
//! | `evenkeel_admissions_total` | counter | 202 answers |
//! | `evenkeel_rejections_total{reason}` | counter | refused `POST /jobs`, by error code (`queue_full`, `draining`, `store_unavailable`, `rate_limited`, `overloaded`, `request_timeout`, `invalid_job`, `invalid_json`, `body_too_large`, `body_timeout`, `unsupported_media_type`, …) |
//! | `evenkeel_jobs_accepted_total`, `evenkeel_jobs_restored_total` | counter | 202s of this process; live jobs found in the store at start |
//! | `evenkeel_jobs_total{outcome}` | counter | `succeeded`, `dead`, `released` by this process |
//! | `evenkeel_dead_letters_total{reason}` | counter | dead jobs by reason: `attempts_exhausted`, `deadline`, `permanent`, `panicked` |
//! | `evenkeel_jobs_live` | gauge | jobs in the store still to run |
//! | `evenkeel_job_queue_wait_seconds` | histogram | enqueue to first claim (store clock) |
//! | `evenkeel_job_run_duration_seconds{outcome}` | histogram | one attempt: claim to the store's answer (`succeeded`, `retrying`, `dead`) |
//! | `evenkeel_job_retries_total` | counter | attempts after the first |
//! | `evenkeel_job_panics_total`, `evenkeel_worker_restarts_total` | counter | panicking attempts, worker restarts (after a job's panic or by the supervisor) |
//! | `evenkeel_jobs_in_flight` | gauge | attempts running now |
//! | `evenkeel_circuit_state{state}` | gauge | downstream breaker: 1 for the current state (`closed`, `half_open`, `open`), 0 for the others |
//! | `evenkeel_circuit_transitions_total{to}` | counter | breaker transitions |
//! | `evenkeel_drain_phase{phase}` | gauge | 1 for the current phase (`serving`, `pre_drain`, `draining`, `releasing`, `stopped`), 0 for the others |
//! | `evenkeel_http_request_duration_seconds{method,route,status}` | histogram | request latency |
//! | `evenkeel_http_requests_in_flight{route}` | gauge | requests being served |
//! | `evenkeel_http_connections` | gauge | connections open |
//! | `evenkeel_http_connections_refused_total` | counter | connections refused past `--max-connections` |
//!
//! The pieces, one idea per file:
//!
//! - `config`: the flags ([`ServeArgs`]; each also an `EVENKEEL_*`
//!   variable);
//! - `job`: ids, the request body and its validation;
//! - `extract`, `error`: the JSON extractor (axum's, with its rejections
//!   mapped) and the one error shape with its stable codes;
//! - `api`: routes and handlers; `stack`: the edge stack (request id,
//!   access log, metrics, error shape, catch-panic) and the protective
//!   stack in front of `POST /jobs`;
//! - `serve`: the accept loop, with the header, keep-alive and body read
//!   bounds and the connection cap;
//! - `readiness`: readiness goes false when the worker supervisor dies;
//! - `retry_hint`: the measured `Retry-After` of a full queue, from the
//!   store's counts;
//! - `intake`: admission into the store, with a drain guard;
//! - [`store`]: the job store trait, its backends and its conformance
//!   suite; `books`: what this process did, for the final record;
//! - `execute`: one attempt of a claimed job, and its answer to the
//!   store; `worker`: the claim loop; `supervise`: the supervised worker
//!   pool;
//! - `downstream_client`: the HTTP client behind the client-side stack;
//! - `metrics`: the Prometheus registry;
//! - `run`: start-up, the shutdown sequence and exit codes ([`serve`](fn@serve));
//!   `report`: the final accounting record.

mod api;
mod books;
mod config;
mod downstream_client;
mod error;
mod execute;
mod extract;
mod intake;
mod job;
mod metrics;
mod readiness;
mod report;
mod retry_hint;
mod run;
mod serve;
mod stack;
pub mod store;
mod supervise;
#[cfg(test)]
mod tests;
mod worker;

pub use books::Accounting;
pub use config::{LogFormat, OverflowPolicy, ServeArgs, StoreKind, parse_duration};
pub use error::{ApiError, ErrorCode};
pub use extract::{ApiJson, BodyLimit, BodyReadTimeout};
pub use job::{JobId, JobRequest, JobSpec, Limits, MAX_WORK_MS};
pub use metrics::{CircuitState, DeadReason, InFlight, Metrics, Phase, QueueSnapshot};
pub use readiness::Readiness;
pub use run::{DrainOutcome, serve};
pub use store::{JobState, JobStore};
