//! `evenkeel-demo serve`: the worker-pool job server.
//!
//! Clients `POST /jobs`; a bounded queue admits each job (202) or pushes
//! back (503 + `Retry-After`); supervised workers run the jobs with
//! timeouts and retries, calling a flaky downstream through a circuit
//! breaker; a signal starts a phased drain that finishes what it can and
//! spills the rest to a file that the next start loads back. Nothing
//! accepted is lost: every 202 ends `succeeded`, `dead`, or in the spill
//! file, and the final accounting record proves it.
//!
//! # The job
//!
//! `POST /jobs` takes a JSON object: `payload` (any JSON, required),
//! `work_ms` (simulated work per attempt, at most 60 000), `fail_rate`
//! (0 to 1, the chance an attempt fails transiently), `downstream` (each
//! attempt calls `--downstream`), `panic` (the first attempt panics, to
//! show panic capture), `max_attempts` (at most `--max-attempts`). Unknown
//! fields are refused (422). `GET /jobs/{id}` shows
//! `{"id", "state", "attempts", "error"?}` with the states `queued`,
//! `running`, `failed` (an attempt failed; the retry is pending),
//! `succeeded`, `dead` (attempts or deadline exhausted, or shed by
//! `--overflow drop-oldest`) and `spilled` (written to the spill file at
//! shutdown). Finished records are kept up to `--retain-finished`, oldest
//! forgotten first; live ones are never forgotten.
//!
//! # Metrics (`GET /metrics`)
//!
//! | metric | kind | what |
//! |---|---|---|
//! | `evenkeel_queue_depth`, `_capacity`, `_high_water` | gauge | the bounded queue |
//! | `evenkeel_backlog_depth` | gauge | restored or re-queued jobs waiting ahead of the queue |
//! | `evenkeel_admissions_total` | counter | 202 answers |
//! | `evenkeel_rejections_total{reason}` | counter | refused `POST /jobs`, by error code (`queue_full`, `draining`, `rate_limited`, `overloaded`, `request_timeout`, `invalid_job`, `invalid_json`, `body_too_large`, `body_timeout`, `unsupported_media_type`, …) |
//! | `evenkeel_jobs_accepted_total`, `evenkeel_jobs_restored_total` | counter | jobs this process took on |
//! | `evenkeel_jobs_total{outcome}` | counter | `succeeded`, `dead`, `spilled` |
//! | `evenkeel_dead_letters_total{reason}` | counter | dead jobs by reason: `attempts_exhausted`, `deadline`, `permanent`, `panicked`, `shed` |
//! | `evenkeel_jobs_live` | gauge | queued, running or waiting to retry |
//! | `evenkeel_job_queue_wait_seconds` | histogram | admission (or restore, or re-queue) to a worker's claim |
//! | `evenkeel_job_run_duration_seconds{outcome}` | histogram | claim to end, attempts and backoff included |
//! | `evenkeel_job_retries_total` | counter | attempts after the first |
//! | `evenkeel_job_panics_total`, `evenkeel_worker_restarts_total` | counter | panicking attempts, supervisor restarts |
//! | `evenkeel_jobs_in_flight` | gauge | attempts running now |
//! | `evenkeel_circuit_state{state}` | gauge | downstream breaker: 1 for the current state (`closed`, `half_open`, `open`), 0 for the others |
//! | `evenkeel_circuit_transitions_total{to}` | counter | breaker transitions |
//! | `evenkeel_drain_phase{phase}` | gauge | 1 for the current phase (`serving`, `pre_drain`, `draining`, `spilling`, `stopped`), 0 for the others |
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
//! - `retry_hint`: the measured `Retry-After` of a full queue;
//! - `intake`: admission into the bounded queue, with a drain guard;
//! - `store`: job records, retention, and the accounting;
//! - `execute`: one job's attempts, retries and panics; `worker`: the
//!   worker loop; `supervise`: the supervised worker pool;
//! - `downstream_client`: the HTTP client behind the client-side stack;
//! - `spill`: the JSON-lines file that carries jobs across a restart;
//! - `metrics`: the Prometheus registry;
//! - `run`: start-up, the shutdown sequence and exit codes ([`serve`]);
//!   `report`: the final accounting record.

mod api;
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
mod spill;
mod stack;
mod store;
mod supervise;
#[cfg(test)]
mod tests;
mod worker;

pub use config::{LogFormat, OverflowPolicy, ServeArgs, parse_duration};
pub use error::{ApiError, ErrorCode};
pub use extract::{ApiJson, BodyLimit, BodyReadTimeout};
pub use job::{JobId, JobRequest, JobSpec, Limits, MAX_WORK_MS};
pub use metrics::{CircuitState, DeadReason, InFlight, Metrics, Phase, QueueSnapshot};
pub use readiness::Readiness;
pub use run::{DrainOutcome, serve};
pub use spill::{SpilledJob, load as load_spill, write as write_spill};
pub use store::{Accounting, JobState, JobStore, JobView};
