//! Teaching lessons for evenkeel, one per pattern.
//!
//! Each lesson runs the naive version of a pattern beside the evenkeel
//! crate's version and shows where the naive one fails: lost work on
//! shutdown, unbounded memory under load, retry stampedes, leaked tasks.
//!
//! Every lesson is three files:
//!
//! - `src/<lesson>.rs` (a module here): the naive version and the evenkeel
//!   version side by side, as functions that run the scenario and return
//!   what they measured, with a module doc that teaches the pattern;
//! - `examples/<lesson>.rs`: runs both and prints the comparison
//!   (`cargo xtask lesson <lesson>`);
//! - `tests/<lesson>.rs`: pins the difference, on tokio's paused clock, so
//!   it is exact and instant (`worker-pool` and `crash` run on the real
//!   clock: they raise a real signal or kill a real process).
//!
//! The lessons:
//!
//! - [`backpressure`]: an unbounded, mutex-shared pool hoards a backlog
//!   that grows with the overload; a bounded queue rejects, hands the job
//!   back, and stays within capacity.
//! - [`crash`]: kill -9 mid-load; a server that keeps accepted jobs in
//!   memory restarts with nothing and they never run; one that commits
//!   each job to redb before saying "accepted" runs every one after the
//!   restart (a job caught between running and its record runs twice).
//! - [`errors`]: `handle.await??` with no context logs "connection refused"
//!   and a panic by tokio's task id; context added at the spawn boundary
//!   and a named join say which task, which input, and what it was doing;
//!   the crates' typed errors hand back the refused item and the attempts.
//! - [`middleware`]: tower's `ConcurrencyLimit` queues an overload for
//!   seconds and nothing stops calls to a dead dependency; `RateLimit`,
//!   `Bulkhead` and `CircuitBreaker` refuse at once with a typed error and
//!   a retry-after.
//! - [`retry`]: the textbook retry loop panics on zero attempts and on a
//!   long outage, and its clients return in waves; capped, jittered
//!   `evenkeel-retry` spreads them and always ends with a value.
//! - [`shutdown`]: a `watch` + `select!` worker pool loses accepted jobs
//!   and deafens late subscribers; drain guards finish every job.
//! - [`tasks`]: `JoinSet` and `tokio::spawn` run everything at once, panic
//!   on a cancelled task and leak tasks past their owner; a `TaskGroup`
//!   limits, reports, cancels on the first error and aborts on drop.
//! - [`worker_pool`]: the chapter's closing exercise, a worker pool that
//!   stops on a real Ctrl+C: the textbook version drops what is queued; the
//!   crates composed (bounded queue, task group, retry, shutdown) account
//!   for every job.
//! - [`timeouts`]: a timeout that replaces the call's error, one timeout
//!   around all the attempts, and one that starts only in `call`; beside a
//!   timeout that keeps the error, per-attempt limits under a deadline, and
//!   a layer whose clock covers the wait for readiness.

pub mod backpressure;
pub mod crash;
pub mod errors;
pub mod middleware;
pub mod retry;
pub mod shutdown;
pub mod tasks;
pub mod timeouts;
pub mod worker_pool;
