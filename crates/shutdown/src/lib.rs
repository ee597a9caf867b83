//! Coordinated graceful shutdown for tokio services: one trigger that every
//! task observes, drain guards that keep accepted work alive until it is done,
//! a drain with a deadline, OS signals with second-signal escalation, and an
//! exit code that reports how the shutdown ended.
//!
//! # The pattern
//!
//! A service asked to stop should, in order: report "not ready" so load
//! balancers stop sending it traffic, keep accepting for a moment while that
//! news spreads, stop accepting, finish the work it already accepted, and exit
//! within the orchestrator's grace period (Kubernetes sends SIGTERM, then
//! SIGKILL 30 s later) with an exit code that says how the stop went: `0`
//! when everything accepted was finished, non-zero when work was abandoned
//! (see [`ExitCodes`] for the table).
//!
//! # The naive version and its three traps
//!
//! The textbook version is a `watch::channel(false)`, `tx.send(true)` on
//! Ctrl+C, and in every worker a `select!` between the next item and
//! `rx.changed()`:
//!
//! ```ignore
//! tokio::select! {
//!     Some(job) = queue.recv() => process(job).await,
//!     _ = shutdown_rx.changed() => break,
//! }
//! ```
//!
//! 1. **A late subscriber waits forever.** A receiver made with
//!    `tx.subscribe()` after the send has already "seen" the value, so
//!    `changed()` never fires for it: a worker started during the shutdown
//!    hangs the drain.
//!
//!    ```
//!    # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//!    use std::time::Duration;
//!    let (tx, _rx) = tokio::sync::watch::channel(false);
//!    tx.send(true).unwrap();
//!    let mut late = tx.subscribe();
//!    let waited = tokio::time::timeout(Duration::from_secs(60), late.changed()).await;
//!    assert!(waited.is_err(), "the late subscriber never hears about the shutdown");
//!    # }
//!    ```
//!
//! 2. **`select!` abandons accepted work.** When both branches are ready,
//!    `select!` picks one at random; a burst of queued jobs followed by the
//!    shutdown loses a random share of them (the textbook worker-pool exercise
//!    loses 8 to 15 of 20).
//!
//! 3. **Ctrl+C is not how containers stop you.** `tokio::signal::ctrl_c()`
//!    catches SIGINT only; `docker stop`, Kubernetes and systemd send SIGTERM,
//!    which then kills the process on the spot, drain or not.
//!
//! # How this crate fixes each
//!
//! 1. [`Shutdown::triggered`] is built on tokio-util's [`CancellationToken`]:
//!    a future made before or after the trigger resolves, with the
//!    [`Reason`]. `triggered_after_the_fact_resolves` in `tests/trigger.rs`
//!    pins it.
//!
//!    ```
//!    # #[tokio::main(flavor = "current_thread")] async fn main() {
//!    use evenkeel_shutdown::{Reason, Shutdown};
//!    let shutdown = Shutdown::new();
//!    shutdown.trigger(Reason::Requested);
//!    let late = shutdown.clone().triggered(); // subscribed after the trigger
//!    assert!(late.await.is_clean());
//!    # }
//!    ```
//!
//! 2. Accepted work holds a [`DrainGuard`] (or runs under [`Shutdown::spawn`] /
//!    [`Shutdown::track`]); [`Shutdown::drain`] waits for every one of them, and
//!    refuses new ones from the moment it begins, decided atomically, so nothing
//!    slips in behind it. Workers no longer race the shutdown against the
//!    queue: intake stops, and they finish what was accepted. The example
//!    below accepts a burst of 20 jobs and then shuts down: all 20 are
//!    processed. `no_guard_slips_past_the_drain` in `tests/drain.rs` pins the
//!    race with many tasks, `burst_then_shutdown_loses_nothing` the worker
//!    pool, and `tests/model.rs` the counting under any sequence of scopes,
//!    guards and drains.
//!
//! 3. [`SignalListener`] listens for SIGINT *and* SIGTERM by default (SIGHUP
//!    and SIGQUIT on request, Ctrl+C and Ctrl+Break on Windows), and a second
//!    signal during the drain resolves [`Shutdown::forced`] so an operator can
//!    still make the process stop now. `signals_trigger_then_escalate` in
//!    `tests/signals.rs` raises real SIGTERM, SIGINT and SIGHUP at the test
//!    process.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::time::Duration;
//! use evenkeel_shutdown::{DrainGuard, DrainReport, Reason, Shutdown};
//! use tokio::sync::mpsc;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let shutdown = Shutdown::new();
//! let processed = Arc::new(AtomicUsize::new(0));
//! // Each accepted job travels with its guard.
//! let (queue, mut jobs) = mpsc::channel::<(u32, DrainGuard)>(64);
//!
//! let worker = {
//!     let processed = Arc::clone(&processed);
//!     tokio::spawn(async move {
//!         // No select! against the shutdown: the worker runs until the queue
//!         // is closed and empty.
//!         while let Some((_job, _guard)) = jobs.recv().await {
//!             tokio::time::sleep(Duration::from_millis(10)).await;
//!             processed.fetch_add(1, Ordering::Relaxed);
//!         }
//!     })
//! };
//!
//! // Intake: a burst of 20 accepted jobs, then the shutdown.
//! for job in 0..20 {
//!     let guard = shutdown.guard().expect("not draining yet");
//!     queue.send((job, guard)).await.unwrap();
//! }
//! shutdown.trigger(Reason::Requested);
//! drop(queue); // intake stops
//!
//! let report = shutdown.drain(Duration::from_secs(5)).await;
//! assert_eq!(report, DrainReport::Complete { elapsed: Duration::from_millis(200) });
//! assert_eq!(processed.load(Ordering::Relaxed), 20); // nothing accepted was lost
//! assert!(shutdown.guard().is_err()); // and nothing new gets in
//! worker.await.unwrap();
//! # }
//! ```
//!
//! # Scopes
//!
//! [`Shutdown::child`] makes a nested scope: the parent's trigger reaches it,
//! its own trigger stays local, and its guards also hold the parent's drain
//! open (a server's drain waits for the connections of its sub-systems).
//!
//! # Phases and the pre-drain delay
//!
//! [`Shutdown::phase`] moves `Running` → `PreDrain` (at the trigger: readiness
//! goes false, guards still granted) → `Draining` (intake stopped) → `Done`.
//! [`Builder::pre_drain_delay`] sets how long intake stays open after the
//! trigger, for load balancers to catch up.
//!
//! # Features
//!
//! - `signal` (default): [`SignalListener`] (tokio's `signal` feature).
//! - `tracing`: events for the trigger, each phase change, the escalation,
//!   and how much was outstanding when a drain timed out.
//!
//! [`CancellationToken`]: tokio_util::sync::CancellationToken

mod builder;
mod drain;
mod error;
mod exit;
mod force;
mod future;
mod guard;
#[cfg(loom)]
#[doc(hidden)]
pub mod model;
mod phase;
mod reason;
mod record;
mod shutdown;
// tokio has no signal driver under `--cfg loom` (the model builds).
#[cfg(all(feature = "signal", not(loom)))]
mod signal;
mod sync;
mod trace;
mod word;

pub use builder::Builder;
pub use drain::DrainReport;
pub use error::ShutdownError;
pub use exit::{ExitCodes, Outcome};
pub use future::{Forced, Triggered, WaitForPhase};
pub use guard::{DrainGuard, Tracked};
pub use phase::Phase;
pub use reason::{Reason, Signal};
pub use shutdown::Shutdown;
#[cfg(all(feature = "signal", not(loom)))]
pub use signal::SignalListener;

/// The README's example, compiled as a doc test so it cannot rot.
#[cfg(all(doctest, feature = "signal"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
