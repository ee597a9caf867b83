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
//! The pieces, one idea per file:
//!
//! - `config`: the flags ([`ServeArgs`]; each also an `EVENKEEL_*`
//!   variable);
//! - `job`: ids, the request body and its validation;
//! - `extract`, `error`: the JSON extractor and the one error shape;
//! - `api`: routes and handlers; `stack`: the middleware stacks;
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
mod report;
mod run;
mod spill;
mod stack;
mod store;
mod supervise;
#[cfg(test)]
mod tests;
mod worker;

pub use config::{LogFormat, OverflowPolicy, ServeArgs, parse_duration};
pub use error::{ApiError, RejectReason};
pub use extract::{ApiJson, BodyLimit, parse as parse_json};
pub use job::{JobId, JobRequest, JobSpec, Limits, MAX_WORK_MS};
pub use metrics::{CircuitState, InFlight, Metrics, Phase, QueueSnapshot};
pub use run::{DrainOutcome, serve};
pub use spill::{SpilledJob, load as load_spill, write as write_spill};
pub use store::{Accounting, JobState, JobStore, JobView};
