//! The evenkeel demo: a worker-pool job server that composes every evenkeel
//! crate, with the tools to exercise it.
//!
//! Clients post jobs over HTTP; a durable job store admits them (a 202 once
//! the job is on disk; its writer is fed through an `evenkeel-backpressure`
//! bounded queue and commits in groups) or answers 503 with `Retry-After`
//! when full; the server-side tower stack
//! (`evenkeel-middleware`) rate-limits and sheds load; supervised workers
//! (`evenkeel-tasks`) process the jobs with retries and backoff
//! (`evenkeel-retry`), calling a flaky downstream through the client-side
//! stack (timeout, retry with budget, circuit breaker); and SIGINT/SIGTERM
//! start a phased drain (`evenkeel-shutdown`) that finishes what it can and
//! hands the rest back to a durable job store, so that nothing accepted is
//! lost, not even to `kill -9`.
//!
//! The binary `evenkeel-demo` has four subcommands, one module each:
//!
//! - [`server`]: `serve`, the job server itself;
//! - [`downstream`]: a flaky HTTP service for the workers to call;
//! - [`load`]: a load generator that honours `Retry-After`;
//! - [`story`]: the end-to-end run behind `cargo xtask demo`: overflow,
//!   rate limit, downstream outage, SIGTERM under load, restart on the
//!   same job store, SIGKILL under load and restart, and a final
//!   accounting in which `lost` must be 0.

pub mod server;

pub mod downstream;
pub mod load;
pub mod story;
