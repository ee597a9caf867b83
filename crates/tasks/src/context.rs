//! Naming a plain `tokio::spawn` result at the join boundary.
//!
//! `handle.await` gives `Result<T, JoinError>`, and a `JoinError` knows the
//! task's id but not what the task was for, while its panic payload is a
//! `Box<dyn Any>` that `?` cannot carry. The usual fix is written by hand at
//! every call site:
//!
//! ```text
//! let rows = handle.await.map_err(|e| anyhow!("loader: {e}"))??;
//! ```
//!
//! The two traits here do it once: [`JoinResultExt::named`] turns the
//! `JoinError` into a [`TaskError`] with the name and the panic message, and
//! [`TryJoinResultExt::try_named`] also folds the task's own `Err` into it,
//! so one `?` is enough. [`TaskError`] is `std::error::Error + Send + Sync +
//! 'static` whenever the task's error is, so `?` converts it into
//! `anyhow::Error` or `Box<dyn Error + Send + Sync>`; this crate does not
//! depend on anyhow.
//!
//! The methods are deliberately not called `context`: `JoinError` is a
//! `std::error::Error`, so a method of that name would be ambiguous with
//! `anyhow::Context::context` in any module that imports both.

use std::convert::Infallible;

use tokio::task::JoinError;

use crate::error::{TaskError, TaskName, from_join_error};

/// Names the result of awaiting a `JoinHandle`.
///
/// # Example
///
/// ```
/// use evenkeel_tasks::{JoinResultExt, TaskError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// async fn load() -> Result<u32, anyhow::Error> {
///     let handle = tokio::spawn(async { Ok::<_, std::io::Error>(42) });
///     // First `?`: the join (named, with the panic message); second: the task's own error.
///     let rows = handle.await.named("loader")??;
///     Ok(rows)
/// }
/// assert_eq!(load().await.unwrap(), 42);
///
/// let handle = tokio::spawn(async { panic!("index out of range") });
/// let err = handle.await.named("indexer").unwrap_err();
/// assert_eq!(err.to_string(), "task `indexer` panicked: index out of range");
/// # let _: TaskError<std::convert::Infallible> = err;
/// # }
/// ```
pub trait JoinResultExt<T> {
    /// Turns a `JoinError` into a [`TaskError`] naming the task: a panic
    /// becomes [`TaskError::Panicked`] with its message, an abort becomes
    /// [`TaskError::Cancelled`].
    ///
    /// # Errors
    ///
    /// When the task panicked or was cancelled.
    fn named(self, name: impl Into<TaskName>) -> Result<T, TaskError<Infallible>>;
}

impl<T> JoinResultExt<T> for Result<T, JoinError> {
    fn named(self, name: impl Into<TaskName>) -> Result<T, TaskError<Infallible>> {
        self.map_err(|error| from_join_error(name.into(), error))
    }
}

/// Names and flattens the result of awaiting a `JoinHandle` whose task
/// returns a `Result`.
///
/// # Example
///
/// ```
/// use evenkeel_tasks::{TaskError, TryJoinResultExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let handle = tokio::spawn(async { Err::<u32, _>(std::io::Error::other("connection reset")) });
/// let err = handle.await.try_named("fetch").unwrap_err();
/// assert_eq!(err.to_string(), "task `fetch` failed");
/// assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "connection reset");
///
/// // With anyhow, `{:#}` prints the whole chain.
/// let err = anyhow::Error::from(err);
/// assert_eq!(format!("{err:#}"), "task `fetch` failed: connection reset");
/// # }
/// ```
pub trait TryJoinResultExt<T, E> {
    /// Turns the join result into `Result<T, TaskError<E>>`: the task's
    /// `Err(e)` becomes [`TaskError::Failed`], a panic
    /// [`TaskError::Panicked`], an abort [`TaskError::Cancelled`], all
    /// carrying `name`.
    ///
    /// # Errors
    ///
    /// When the task returned `Err`, panicked or was cancelled.
    fn try_named(self, name: impl Into<TaskName>) -> Result<T, TaskError<E>>;
}

impl<T, E> TryJoinResultExt<T, E> for Result<Result<T, E>, JoinError> {
    fn try_named(self, name: impl Into<TaskName>) -> Result<T, TaskError<E>> {
        match self {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(TaskError::Failed {
                name: name.into(),
                error,
            }),
            Err(error) => Err(from_join_error(name.into(), error)),
        }
    }
}
