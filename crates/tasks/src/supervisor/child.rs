//! What a supervisor supervises: a [`ChildSpec`] (name, factory, restart
//! policy, grace period, optional backoff), and the two policy enums,
//! [`Restart`] (per child) and [`Strategy`] (per supervisor), with the
//! meanings they have in Erlang/OTP.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use evenkeel_retry::Backoff;
use tokio_util::sync::CancellationToken;

use crate::error::{ChildError, TaskName};

/// When a child that exited is restarted (OTP's restart types).
///
/// "Abnormal" means the child returned `Err` or panicked. A child stopped by
/// the supervisor itself (shutdown, or a sibling's restart under
/// [`Strategy::OneForAll`] / [`Strategy::RestForOne`]) is not judged by this
/// policy, except that a `Temporary` child stopped for a sibling is not
/// started again.
///
/// # Example
///
/// ```
/// use evenkeel_tasks::Restart;
///
/// assert_eq!(Restart::default(), Restart::Permanent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Always restarted, even after returning `Ok` (a server loop that
    /// should never end).
    #[default]
    Permanent,
    /// Restarted only after an abnormal exit (a job that may finish).
    Transient,
    /// Never restarted (a one-off).
    Temporary,
}

/// Which children are restarted when one child needs a restart (OTP's
/// restart strategies). Children keep the order in which they were added.
///
/// # Example
///
/// ```
/// use evenkeel_tasks::Strategy;
///
/// assert_eq!(Strategy::default(), Strategy::OneForOne);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Only the child that exited is restarted.
    #[default]
    OneForOne,
    /// Every other child still running is stopped (in reverse start order),
    /// then all are started again (in start order): for children that only
    /// make sense together.
    OneForAll,
    /// The child that exited and every child started after it are stopped
    /// (in reverse order) and started again (in order): for children that
    /// depend on those started before them.
    RestForOne,
}

/// The boxed future a factory builds.
pub(crate) type ChildFuture = Pin<Box<dyn Future<Output = Result<(), ChildError>> + Send>>;
/// A child's factory, boxed.
type Factory = Box<dyn FnMut(CancellationToken) -> ChildFuture + Send>;

/// A supervised child: a name, a factory that builds the child's future
/// anew for every (re)start, and its policies.
///
/// The factory receives a fresh [`CancellationToken`] per start; the child
/// should return (with `Ok(())`) soon after the token is cancelled, which is
/// how the supervisor asks it to stop. A child that does not return within
/// its [grace period](ChildSpec::grace_period) is aborted. A factory that
/// panics is reported (and restarted) like a child that panicked.
///
/// # Defaults
///
/// - restart policy [`Restart::Permanent`];
/// - grace period [`ChildSpec::DEFAULT_GRACE_PERIOD`] (5 s);
/// - restart delays from the supervisor's backoff template (see
///   [`Supervisor::backoff`](crate::Supervisor::backoff)).
///
/// # Example
///
/// ```
/// use evenkeel_tasks::{ChildSpec, Restart};
/// use std::time::Duration;
///
/// let spec = ChildSpec::new("ticker", |token: tokio_util::sync::CancellationToken| async move {
///     token.cancelled().await;
///     Ok::<(), std::io::Error>(())
/// })
/// .restart(Restart::Transient)
/// .grace_period(Duration::from_secs(1));
/// assert_eq!(spec.name(), "ticker");
/// ```
pub struct ChildSpec {
    pub(crate) name: TaskName,
    pub(crate) factory: Factory,
    pub(crate) restart: Restart,
    pub(crate) grace: Duration,
    pub(crate) backoff: Option<Backoff>,
}

impl ChildSpec {
    /// The grace period a child gets to return after its token is
    /// cancelled, unless [`grace_period`](ChildSpec::grace_period) says
    /// otherwise: 5 seconds.
    pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(5);

    /// A child named `name`, built by `factory` at each start.
    ///
    /// The future's error type is anything that converts into
    /// `Box<dyn Error + Send + Sync>` (`std::io::Error`, `String`, your own
    /// error enum, `anyhow::Error` via `Into`, …).
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::ChildSpec;
    /// use tokio_util::sync::CancellationToken;
    ///
    /// let spec = ChildSpec::new("worker", |token: CancellationToken| async move {
    ///     while !token.is_cancelled() {
    ///         // ... one unit of work ...
    ///         # break;
    ///     }
    ///     Ok::<(), String>(())
    /// });
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn new<F, Fut, E>(name: impl Into<TaskName>, mut factory: F) -> Self
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<Box<dyn Error + Send + Sync>>,
    {
        Self {
            name: name.into(),
            factory: Box::new(move |token| {
                let future = factory(token);
                Box::pin(
                    async move { future.await.map_err(|error| ChildError::from(error.into())) },
                )
            }),
            restart: Restart::default(),
            grace: Self::DEFAULT_GRACE_PERIOD,
            backoff: None,
        }
    }

    /// Sets the restart policy.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::{ChildSpec, Restart};
    ///
    /// let spec = ChildSpec::new("once", |_| async { Ok::<(), String>(()) }).restart(Restart::Temporary);
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Sets how long the child gets to return after its token is cancelled
    /// before it is aborted.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::ChildSpec;
    /// use std::time::Duration;
    ///
    /// let spec = ChildSpec::new("flusher", |_| async { Ok::<(), String>(()) })
    ///     .grace_period(Duration::from_secs(30));
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Gives this child its own restart backoff template instead of the
    /// supervisor's.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_retry::Backoff;
    /// use evenkeel_tasks::ChildSpec;
    /// use std::time::Duration;
    ///
    /// let spec = ChildSpec::new("connector", |_| async { Ok::<(), String>(()) })
    ///     .backoff(Backoff::exponential(Duration::from_secs(1)).max_delay(Duration::from_secs(60)));
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// The child's name.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::ChildSpec;
    ///
    /// assert_eq!(ChildSpec::new("x", |_| async { Ok::<(), String>(()) }).name(), "x");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .field("grace", &self.grace)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}
