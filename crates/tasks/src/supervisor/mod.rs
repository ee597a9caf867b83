//! The [`Supervisor`]: long-lived children restarted by policy, on a
//! backoff schedule, within a restart intensity, and stopped in order on
//! shutdown.
//!
//! The building blocks live next door: `child.rs` (what is supervised and
//! the OTP policies), `intensity.rs` (the sliding restart window),
//! `event.rs` (what is reported) and `runner.rs` (the loop itself).

mod child;
mod event;
mod intensity;
mod runner;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use evenkeel_retry::Backoff;
use evenkeel_shutdown::Shutdown;

pub use child::{ChildSpec, Restart, Strategy};
pub use event::SupervisorEvent;

use crate::error::SupervisorError;
use event::Emitter;

/// Runs named children and restarts them when they exit, Erlang/OTP style.
///
/// Each child is a [`ChildSpec`]: a name, a factory that builds the child's
/// future anew for every start, a [`Restart`] policy and a grace period.
/// The supervisor starts the children in the order they were added, and when
/// one exits it decides, from the child's policy and the supervisor's
/// [`Strategy`], which children to restart:
///
/// - **Delays** come from an `evenkeel_retry::Backoff`: each child gets its
///   own clone of the template (its own [`ChildSpec::backoff`] or the
///   supervisor's [`backoff`](Supervisor::backoff)) and takes its next delay
///   at each restart. **Reset rule:** a child that ran for at least
///   [`reset_after`](Supervisor::reset_after) before exiting starts again
///   from a fresh clone of its template (its first delay). Siblings restarted
///   along with a child (`OneForAll`, `RestForOne`) wait that child's delay
///   and leave their own schedules untouched.
/// - **Intensity.** At most `max_restarts` restarts within any `window`
///   ([`intensity`](Supervisor::intensity)); a restart counts at the instant
///   it is decided (the exit), and a sibling-restart counts once. One restart
///   too many, or a backoff schedule that runs out, and the supervisor gives
///   up: it stops every child and [`run`](Supervisor::run) returns the
///   [`SupervisorError`] that says why.
/// - **Shutdown.** [`run`](Supervisor::run) takes an
///   `evenkeel_shutdown::Shutdown`. When it triggers, the children are
///   stopped one at a time in reverse start order, each by cancelling its
///   token, waiting up to its own grace period, then aborting it. The
///   supervisor holds a drain guard while it runs, so `Shutdown::drain`
///   waits for this orderly stop.
/// - **Events.** Every start, exit, scheduled restart, stop and give-up is a
///   [`SupervisorEvent`] passed to the [`on_event`](Supervisor::on_event)
///   callback (and logged through `tracing` with the `tracing` feature).
///
/// [`run`](Supervisor::run) returns `Ok(())` after a shutdown, or when no
/// child is left to run (every child was `Temporary`, or `Transient` and
/// done).
///
/// # Defaults
///
/// - strategy [`Strategy::OneForOne`];
/// - intensity: at most 3 restarts within 5 seconds;
/// - backoff: `Backoff::exponential(100 ms)` (factor 2), capped at 10 s, no
///   jitter, no attempt limit;
/// - `reset_after`: the intensity window (5 s);
/// - no event callback.
///
/// # Example
///
/// ```
/// use evenkeel_retry::Backoff;
/// use evenkeel_shutdown::{Reason, Shutdown};
/// use evenkeel_tasks::{ChildSpec, Restart, Strategy, Supervisor, SupervisorEvent};
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use tokio_util::sync::CancellationToken;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let shutdown = Shutdown::new();
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let seen = Arc::clone(&log);
/// let stop = shutdown.clone();
/// let mut attempts = 0;
/// let supervisor = Supervisor::new()
///     .strategy(Strategy::OneForOne)
///     .backoff(Backoff::constant(Duration::from_millis(100)))
///     .child(ChildSpec::new("flaky", move |token: CancellationToken| {
///         attempts += 1;
///         let attempt = attempts;
///         async move {
///             if attempt < 3 {
///                 return Err(format!("attempt {attempt} failed"));
///             }
///             token.cancelled().await; // third time lucky: serve until stopped
///             Ok(())
///         }
///     }))
///     .on_event(move |event| {
///         if let SupervisorEvent::Started { restarts: 2, .. } = event {
///             stop.trigger(Reason::Requested); // enough for this example
///         }
///         seen.lock().unwrap().push(format!("{event:?}"));
///     });
/// supervisor.run(shutdown).await.unwrap();
/// assert_eq!(log.lock().unwrap().iter().filter(|e| e.starts_with("Started")).count(), 3);
/// # }
/// ```
pub struct Supervisor {
    children: Vec<ChildSpec>,
    strategy: Strategy,
    max_restarts: u32,
    window: Duration,
    backoff: Backoff,
    reset_after: Option<Duration>,
    emitter: Emitter,
}

impl Supervisor {
    /// The default intensity: at most this many restarts…
    pub const DEFAULT_MAX_RESTARTS: u32 = 3;
    /// …within this window.
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5);

    /// A supervisor with no children and the [defaults](Supervisor#defaults).
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::Supervisor;
    ///
    /// let supervisor = Supervisor::new();
    /// # let _ = supervisor;
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            children: Vec::new(),
            strategy: Strategy::default(),
            max_restarts: Self::DEFAULT_MAX_RESTARTS,
            window: Self::DEFAULT_WINDOW,
            backoff: Backoff::exponential(Duration::from_millis(100))
                .max_delay(Duration::from_secs(10))
                .without_max_attempts(),
            reset_after: None,
            emitter: Emitter::default(),
        }
    }

    /// Adds a child; children start in the order they are added and stop in
    /// the reverse order.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::{ChildSpec, Supervisor};
    ///
    /// let supervisor = Supervisor::new()
    ///     .child(ChildSpec::new("db-pool", |_| async { Ok::<(), String>(()) }))
    ///     .child(ChildSpec::new("http", |_| async { Ok::<(), String>(()) }));
    /// # let _ = supervisor;
    /// ```
    #[must_use]
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }

    /// Sets the restart strategy.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::{Strategy, Supervisor};
    ///
    /// let supervisor = Supervisor::new().strategy(Strategy::RestForOne);
    /// # let _ = supervisor;
    /// ```
    #[must_use]
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Allows at most `max_restarts` restarts within any `window`; one more
    /// and the supervisor gives up. `max_restarts = 0` gives up at the first
    /// exit that needs a restart.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::Supervisor;
    /// use std::time::Duration;
    ///
    /// let supervisor = Supervisor::new().intensity(10, Duration::from_secs(60));
    /// # let _ = supervisor;
    /// ```
    #[must_use]
    pub fn intensity(mut self, max_restarts: u32, window: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.window = window;
        self
    }

    /// Sets the backoff template for children without their own. Each child
    /// clones it, so schedules are independent.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_retry::{Backoff, Jitter};
    /// use evenkeel_tasks::Supervisor;
    /// use std::time::Duration;
    ///
    /// let supervisor = Supervisor::new().backoff(
    ///     Backoff::exponential(Duration::from_millis(50))
    ///         .max_delay(Duration::from_secs(5))
    ///         .jitter(Jitter::Full),
    /// );
    /// # let _ = supervisor;
    /// ```
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long a child must have run before exiting for its backoff to
    /// start over from its first delay. Defaults to the intensity window.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::Supervisor;
    /// use std::time::Duration;
    ///
    /// let supervisor = Supervisor::new().reset_after(Duration::from_secs(60));
    /// # let _ = supervisor;
    /// ```
    #[must_use]
    pub fn reset_after(mut self, stable_for: Duration) -> Self {
        self.reset_after = Some(stable_for);
        self
    }

    /// Calls `callback` with every [`SupervisorEvent`], synchronously, from
    /// the supervisor's task: keep it quick (record, count, send on a
    /// channel).
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::{Supervisor, SupervisorEvent};
    ///
    /// let supervisor = Supervisor::new().on_event(|event: &SupervisorEvent| eprintln!("{event:?}"));
    /// # let _ = supervisor;
    /// ```
    #[must_use]
    pub fn on_event(mut self, callback: impl Fn(&SupervisorEvent) + Send + Sync + 'static) -> Self {
        self.emitter.callback = Some(Arc::new(callback));
        self
    }

    /// Starts the children and supervises them until `shutdown` triggers,
    /// no child is left to run, or the supervisor gives up.
    ///
    /// If `shutdown` has already triggered, or its drain has begun, no
    /// child is started and this returns `Ok(())` at once. The returned
    /// future is `Send + 'static`, so it can be spawned.
    ///
    /// Time is measured with tokio's clock (the runtime needs its time
    /// driver).
    ///
    /// # Errors
    ///
    /// [`SupervisorError`] when the restart intensity is exceeded or a
    /// child's backoff runs out; every child has been stopped by then.
    ///
    /// # Cancellation safety
    ///
    /// Not cancel-safe: dropping the future aborts the children at once
    /// (they are owned by it) without their grace periods. Trigger the
    /// `shutdown` to stop them in order.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_shutdown::{Reason, Shutdown};
    /// use evenkeel_tasks::{ChildSpec, Supervisor};
    /// use tokio_util::sync::CancellationToken;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::new();
    /// let supervisor = Supervisor::new().child(ChildSpec::new("server", |token: CancellationToken| async move {
    ///     token.cancelled().await;
    ///     Ok::<(), std::io::Error>(())
    /// }));
    /// let running = tokio::spawn(supervisor.run(shutdown.clone()));
    /// shutdown.trigger(Reason::Requested);
    /// running.await.unwrap().unwrap();
    /// # }
    /// ```
    pub async fn run(self, shutdown: Shutdown) -> Result<(), SupervisorError> {
        runner::run(self, shutdown).await
    }
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("children", &self.children)
            .field("strategy", &self.strategy)
            .field("max_restarts", &self.max_restarts)
            .field("window", &self.window)
            .field("backoff", &self.backoff)
            .field("reset_after", &self.reset_after)
            .field("emitter", &self.emitter)
            .finish()
    }
}
