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
//! goes away.
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
//!   then report that failure", and neither restarts a failed task.
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
//! # Example
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

mod context;
mod error;
mod group;
mod id_map;
mod join;
mod stats;
mod supervisor;

pub use context::{JoinResultExt, TryJoinResultExt};
pub use error::{ChildError, NON_STRING_PANIC, SupervisorError, TaskError, TaskName};
pub use group::TaskGroup;
pub use stats::TaskStats;
pub use supervisor::{ChildSpec, Restart, Strategy, Supervisor, SupervisorEvent};
