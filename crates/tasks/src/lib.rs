//! Structured concurrency for tokio: every spawned task is named, limited,
//! joined, and cancelled with its group.
//!
//! # The problem
//!
//! A task spawned with `tokio::spawn` and forgotten can outlive the request
//! that started it, panic where no one looks, or run unbounded in number.
//! Structured concurrency ties tasks to an owner: the owner limits how many
//! run, cancels the rest when one fails, turns panics into errors that say
//! which task failed and why, and does not let a task escape when the owner
//! goes away. Long-lived tasks (a consumer loop, a connection keeper) need
//! one more thing: someone who restarts them when they fail, without
//! restarting them in a tight loop forever.
//!
//! # The naive version and its gaps
//!
//! tokio ships two owners, and each leaves gaps that get filled by hand:
//!
//! ```
//! use tokio::task::JoinSet;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut set = JoinSet::new();
//! for id in 0..100 {
//!     // No limit: all 100 run at once unless a Semaphore is added by hand.
//!     set.spawn(async move { fetch(id).await });
//! }
//! while let Some(joined) = set.join_next().await {
//!     // A JoinError knows a task id, not which fetch it was; a panic
//!     // payload is a Box<dyn Any>. The first `?` would return early and
//!     // leave the other 99 running until `set` is dropped (and aborted,
//!     // without a chance to clean up).
//!     let _value: Result<u32, std::io::Error> = joined.expect("task panicked");
//! }
//! # }
//! # async fn fetch(id: u32) -> Result<u32, std::io::Error> { Ok(id) }
//! ```
//!
//! - `JoinSet` has no concurrency limit, its `join_all` panics when a task
//!   was cancelled, and task names need `tokio_unstable`.
//! - `tokio_util::task::TaskTracker` only waits: it hands back no outcomes,
//!   does not cancel its tasks on drop, and its `close()` does not stop new
//!   spawns (tokio#6759).
//! - Neither turns "the first failure" into "cancel the others, gracefully,
//!   then report that failure", and neither restarts a failed task: the
//!   hand-written `loop { if let Err(e) = run().await { sleep(1s) } }` has no
//!   backoff, no limit, no order between dependent tasks, and no way to stop
//!   it cleanly.
//!
//! # How this crate fixes it
//!
//! [`TaskGroup`] is a `JoinSet` (plus a `Semaphore` for the limit, plus a
//! `CancellationToken`) that keeps each task's name and reports each outcome
//! as `Ok(T)` or a [`TaskError`] that is `Failed`, `Panicked` (with the
//! message) or `Cancelled`, always with the name.
//! [`try_join_all`](TaskGroup::try_join_all) returns the first failure after
//! cancelling the siblings (cooperatively through the token, then by abort
//! after a grace period); dropping the group aborts what is left.
//! [`JoinResultExt`] and [`TryJoinResultExt`] name the result of a plain
//! `JoinHandle` at the join boundary, so `?` into `anyhow` keeps the task's
//! name and panic message.
//!
//! [`Supervisor`] runs long-lived children the Erlang/OTP way: a factory per
//! child builds its future anew at each start; a [`Restart`] policy
//! (`Permanent`, `Transient`, `Temporary`) says whether an exit is
//! restarted, a [`Strategy`] (`OneForOne`, `OneForAll`, `RestForOne`) which
//! siblings go with it; delays come from an `evenkeel_retry::Backoff`; a
//! restart intensity (at most N restarts within a window) makes it give up
//! with a [`SupervisorError`] instead of looping; an
//! `evenkeel_shutdown::Shutdown` stops the children in reverse start order,
//! each with its own grace period, when its drain begins (not at the
//! trigger: during the pre-drain delay the workers keep working). Every start, exit and restart is a
//! [`SupervisorEvent`].
//!
//! # Examples
//!
//! A bounded fan-out that stops at the first failure:
//!
//! ```
//! use evenkeel_tasks::{TaskError, TaskGroup};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut group = TaskGroup::<u32, std::io::Error>::with_limit(8);
//! for id in 0..100 {
//!     group.spawn(format!("fetch-{id}"), fetch(id));
//! }
//! match group.try_join_all().await {
//!     Ok(values) => assert_eq!(values.len(), 100),
//!     Err(TaskError::Failed { name, error }) => eprintln!("{name} failed: {error}"),
//!     Err(other) => eprintln!("{other}"), // panicked (with message) or cancelled
//! }
//! # }
//! # async fn fetch(id: u32) -> Result<u32, std::io::Error> { Ok(id) }
//! ```
//!
//! Supervised workers that restart with backoff and stop on shutdown:
//!
//! ```
//! use evenkeel_retry::Backoff;
//! use evenkeel_shutdown::{Reason, Shutdown};
//! use evenkeel_tasks::{ChildSpec, Strategy, Supervisor};
//! use std::time::Duration;
//! use tokio_util::sync::CancellationToken;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let shutdown = Shutdown::new();
//! let mut supervisor = Supervisor::new()
//!     .strategy(Strategy::OneForOne)
//!     .intensity(5, Duration::from_secs(10))
//!     .backoff(Backoff::exponential(Duration::from_millis(100)).max_delay(Duration::from_secs(5)));
//! for n in 0..4 {
//!     supervisor = supervisor.child(ChildSpec::new(format!("worker-{n}"), |token: CancellationToken| async move {
//!         // A real worker would take jobs from a queue until cancelled.
//!         token.cancelled().await;
//!         Ok::<(), std::io::Error>(())
//!     }));
//! }
//! let running = tokio::spawn(supervisor.run(shutdown.clone()));
//! // ... later, on SIGTERM: the children keep working through the pre-drain
//! // delay and are stopped (in reverse order) when the drain begins.
//! shutdown.trigger(Reason::Requested);
//! shutdown.drain(Duration::from_secs(30)).await;
//! if let Err(gave_up) = running.await.unwrap() {
//!     eprintln!("supervisor gave up: {gave_up}");
//! }
//! # }
//! ```

mod body;
mod context;
mod error;
mod group;
mod join;
mod names;
mod spawn;
mod stats;
mod supervisor;

pub use context::{JoinResultExt, TryJoinResultExt};
pub use error::{ChildError, NON_STRING_PANIC, SupervisorError, TaskError, TaskName};
pub use group::TaskGroup;
pub use stats::TaskStats;
pub use supervisor::{ChildSpec, Restart, Strategy, Supervisor, SupervisorEvent};
