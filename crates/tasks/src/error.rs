//! The crate's errors: why a task did not produce its value, and why a
//! supervisor gave up.
//!
//! [`TaskError`] is the one shape every failed task takes, whether it came out
//! of a [`TaskGroup`](crate::TaskGroup), a plain `JoinHandle` named with
//! [`JoinResultExt`](crate::JoinResultExt), or a supervised child. It always
//! carries the task's name, so a log line says *which* task failed, and a
//! panic arrives as its message rather than as an opaque `Box<dyn Any>`.
//!
//! Both types implement `std::error::Error + Send + Sync + 'static` (for
//! `TaskError<E>`, when `E` does), so `?` converts them into `anyhow::Error`,
//! `Box<dyn Error + Send + Sync>` or any error type with a `From` impl.

use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// The name of a task: a `&'static str` costs nothing, a `String` is kept
/// as is.
pub type TaskName = Cow<'static, str>;

/// The error a supervised child returns, shared so that events can be cloned.
pub type ChildError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a task did not produce its value.
///
/// Every variant carries the task's `name`. `E` is the task's own error type
/// (the `E` of its `Result<T, E>`).
///
/// The `Display` text of [`Failed`](TaskError::Failed) names the task only;
/// the task's own error is the [`source`](std::error::Error::source), so
/// error reporters (`anyhow`'s `{:#}`, `tracing`'s error chains) print it
/// once, after the name.
///
/// # Example
///
/// ```
/// use evenkeel_tasks::{TaskError, TaskGroup};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut group = TaskGroup::<(), String>::new();
/// group.spawn("parser", async { Err("bad input".to_string()) });
/// match group.join_next().await {
///     Some(Err(TaskError::Failed { name, error })) => {
///         assert_eq!(name, "parser");
///         assert_eq!(error, "bad input");
///     }
///     other => panic!("unexpected outcome: {other:?}"),
/// }
/// # }
/// ```
#[derive(Debug, Clone, thiserror::Error)]
pub enum TaskError<E> {
    /// The task ran to completion and returned `Err(error)`.
    #[error("task `{name}` failed")]
    Failed {
        /// The task's name.
        name: TaskName,
        /// The error the task returned.
        #[source]
        error: E,
    },
    /// The task panicked; the panic payload is turned into `message`.
    #[error("task `{name}` panicked: {message}")]
    Panicked {
        /// The task's name.
        name: TaskName,
        /// The panic message (`&str` and `String` payloads are kept as
        /// they are; any other payload becomes a fixed placeholder text).
        message: String,
    },
    /// The task was cancelled: aborted, or never started because its group
    /// was cancelled first.
    #[error("task `{name}` was cancelled")]
    Cancelled {
        /// The task's name.
        name: TaskName,
    },
    /// The task was aborted but had not stopped `waited` later: it never
    /// yields (a blocking call or a busy loop in async code), and tokio can
    /// only abort a task at an `.await`. It was let go (detached) so the
    /// shutdown is not held by it; it may still be running.
    #[error("task `{name}` did not stop within {waited:?} of being aborted (it never yields)")]
    Stuck {
        /// The task's name.
        name: TaskName,
        /// How long the abort was waited for.
        waited: Duration,
    },
}

impl<E> TaskError<E> {
    /// The name of the task this error is about.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskError;
    ///
    /// let e = TaskError::<()>::Cancelled { name: "worker".into() };
    /// assert_eq!(e.name(), "worker");
    /// ```
    pub fn name(&self) -> &str {
        match self {
            Self::Failed { name, .. }
            | Self::Panicked { name, .. }
            | Self::Cancelled { name }
            | Self::Stuck { name, .. } => name,
        }
    }

    /// Changes the task's own error type, keeping the name and the variant.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskError;
    ///
    /// let e = TaskError::Failed { name: "io".into(), error: 2 };
    /// let e = e.map_err(|code| format!("exit code {code}"));
    /// assert!(matches!(e, TaskError::Failed { error, .. } if error == "exit code 2"));
    /// ```
    pub fn map_err<F, O>(self, f: O) -> TaskError<F>
    where
        O: FnOnce(E) -> F,
    {
        match self {
            Self::Failed { name, error } => TaskError::Failed {
                name,
                error: f(error),
            },
            Self::Panicked { name, message } => TaskError::Panicked { name, message },
            Self::Cancelled { name } => TaskError::Cancelled { name },
            Self::Stuck { name, waited } => TaskError::Stuck { name, waited },
        }
    }
}

/// The message text used when a panic payload is neither a `&str` nor a
/// `String` (for example `std::panic::panic_any(42)`).
pub const NON_STRING_PANIC: &str = "non-string panic payload";

/// Turns a panic payload into its message: `&'static str` and `String`
/// payloads (what `panic!` produces) are kept, anything else becomes
/// [`NON_STRING_PANIC`].
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        NON_STRING_PANIC.to_owned()
    }
}

/// Turns a tokio `JoinError` into a [`TaskError`] for the task `name`.
pub(crate) fn from_join_error<E>(name: TaskName, error: tokio::task::JoinError) -> TaskError<E> {
    match error.try_into_panic() {
        Ok(payload) => TaskError::Panicked {
            name,
            message: panic_message(&*payload),
        },
        // Not a panic: tokio's only other join error is cancellation (abort
        // or runtime shutdown).
        Err(_) => TaskError::Cancelled { name },
    }
}
/// Why a [`Supervisor`](crate::Supervisor) gave up.
///
/// A supervisor that gives up has already stopped every child it still ran
/// (in reverse start order, each with its grace period). It does not trigger
/// the process's shutdown itself: the caller decides, typically with
/// `shutdown.trigger(Reason::fatal(error))`.
///
/// # Example
///
/// ```
/// use evenkeel_tasks::{SupervisorError, TaskError};
/// use std::time::Duration;
///
/// let e = SupervisorError::IntensityExceeded {
///     child: "worker".into(),
///     restarts: 3,
///     window: Duration::from_secs(5),
///     last_exit: Some(TaskError::Cancelled { name: "worker".into() }),
/// };
/// assert_eq!(
///     e.to_string(),
///     "child `worker` needed more than 3 restarts within 5s",
/// );
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// More restarts were needed than the restart intensity allows (at most
    /// `restarts` within `window`).
    #[error("child `{child}` needed more than {restarts} restarts within {window:?}")]
    IntensityExceeded {
        /// The child whose exit would have needed one restart too many.
        child: TaskName,
        /// The configured maximum number of restarts within `window`.
        restarts: u32,
        /// The configured window.
        window: Duration,
        /// How the child last exited: `None` for a normal exit (a
        /// [`Permanent`](crate::Restart::Permanent) child is restarted even
        /// after returning `Ok`).
        #[source]
        last_exit: Option<TaskError<ChildError>>,
    },
    /// The child's restart `Backoff` schedule ran
    /// out (its `max_attempts` or `max_elapsed` was reached).
    #[error("child `{child}` exhausted its restart backoff after {restarts} restarts")]
    BackoffExhausted {
        /// The child whose backoff ran out.
        child: TaskName,
        /// How many times the child had been restarted.
        restarts: u32,
        /// How the child last exited: `None` for a normal exit (a
        /// [`Permanent`](crate::Restart::Permanent) child is restarted even
        /// after returning `Ok`).
        #[source]
        last_exit: Option<TaskError<ChildError>>,
    },
}
