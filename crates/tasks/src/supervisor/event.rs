//! What a supervisor reports while it works: every start, exit, scheduled
//! restart, stop request and give-up, as a [`SupervisorEvent`] handed to
//! the callback set with [`Supervisor::on_event`](crate::Supervisor::on_event)
//! and, with the `tracing` feature, logged as a `tracing` event.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{ChildError, SupervisorError, TaskError, TaskName};

/// One thing a [`Supervisor`](crate::Supervisor) did or saw.
///
/// Events are emitted from the supervisor's own task, in the order things
/// happen, so a callback sees a consistent story.
///
/// # Example
///
/// ```
/// use evenkeel_tasks::SupervisorEvent;
///
/// fn describe(event: &SupervisorEvent) -> String {
///     match event {
///         SupervisorEvent::Started { child, restarts } => format!("{child} started (restarts: {restarts})"),
///         SupervisorEvent::Exited { child, exit: Ok(()) } => format!("{child} returned"),
///         SupervisorEvent::Exited { exit: Err(e), .. } => e.to_string(),
///         SupervisorEvent::RestartScheduled { child, delay, .. } => format!("{child} restarts in {delay:?}"),
///         SupervisorEvent::Stopping { child } => format!("stopping {child}"),
///         SupervisorEvent::GaveUp { error } => format!("gave up: {error}"),
///         _ => String::from("other"),
///     }
/// }
/// let e = SupervisorEvent::Stopping { child: "db".into() };
/// assert_eq!(describe(&e), "stopping db");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SupervisorEvent {
    /// A child's future was built and spawned.
    Started {
        /// The child.
        child: TaskName,
        /// How many times this child had been restarted before this start
        /// (0 for its first start).
        restarts: u32,
    },
    /// A child's task ended, for whatever reason (including being stopped
    /// by the supervisor).
    Exited {
        /// The child.
        child: TaskName,
        /// `Ok(())`, or how it ended abnormally: `Failed`, `Panicked` (with
        /// the message) or `Cancelled` (aborted after its grace period).
        exit: Result<(), TaskError<ChildError>>,
    },
    /// A child will be started again after `delay`.
    RestartScheduled {
        /// The child.
        child: TaskName,
        /// The wait before the start, from the child's backoff schedule (the
        /// schedule of the child whose exit caused the restart, for the
        /// siblings restarted with it).
        delay: Duration,
        /// The number this restart will have (1 for the first restart).
        restart: u32,
    },
    /// The supervisor cancelled a child's token and waits (up to the
    /// child's grace period) for it to return: because of shutdown, because
    /// a sibling's restart takes it along, or because the supervisor gives up.
    Stopping {
        /// The child.
        child: TaskName,
    },
    /// The supervisor gave up; [`run`](crate::Supervisor::run) returns this
    /// error once the remaining children are stopped.
    GaveUp {
        /// Why.
        error: SupervisorError,
    },
}

/// The callback events go to.
pub(crate) type Callback = Arc<dyn Fn(&SupervisorEvent) + Send + Sync>;

/// Hands events to the callback and, with the `tracing` feature, to `tracing`.
#[derive(Clone, Default)]
pub(crate) struct Emitter {
    pub(crate) callback: Option<Callback>,
}

impl Emitter {
    pub(crate) fn emit(&self, event: &SupervisorEvent) {
        #[cfg(feature = "tracing")]
        trace(event);
        if let Some(callback) = &self.callback {
            callback(event);
        }
    }
}

impl fmt::Debug for Emitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field(
                "callback",
                &self.callback.as_ref().map(|_| "Fn(&SupervisorEvent)"),
            )
            .finish()
    }
}

#[cfg(feature = "tracing")]
fn trace(event: &SupervisorEvent) {
    match event {
        SupervisorEvent::Started { child, restarts } => {
            tracing::info!(child = %child, restarts, "child started");
        }
        SupervisorEvent::Exited {
            child,
            exit: Ok(()),
        } => {
            tracing::info!(child = %child, "child exited");
        }
        SupervisorEvent::Exited {
            child,
            exit: Err(error),
        } => {
            let source = std::error::Error::source(error).map(ToString::to_string);
            tracing::warn!(child = %child, error = %error, source, "child exited abnormally");
        }
        SupervisorEvent::RestartScheduled {
            child,
            delay,
            restart,
        } => {
            tracing::info!(child = %child, ?delay, restart, "child restart scheduled");
        }
        SupervisorEvent::Stopping { child } => {
            tracing::info!(child = %child, "stopping child");
        }
        SupervisorEvent::GaveUp { error } => {
            tracing::error!(error = %error, "supervisor gave up");
        }
    }
}
