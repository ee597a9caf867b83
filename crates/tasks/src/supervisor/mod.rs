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
///   `evenkeel_shutdown::Shutdown`. When its drain begins
///   ([`Phase::Draining`](evenkeel_shutdown::Phase::Draining), set by
///   `Shutdown::drain` once the pre-drain delay is over), the children are
///   stopped one at a time in reverse start order, each by cancelling its
///   token, waiting up to its own grace period, then aborting it. The
///   *trigger* alone does not stop them: during the pre-drain phase the
///   service is still serving (readiness false, intake open) and its
///   workers must keep working. The supervisor holds a drain guard while it
///   runs, so `Shutdown::drain` waits for this orderly stop; call `drain`
///   (not only `trigger`) to stop a supervisor.
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
/// - intensity: at most [`DEFAULT_MAX_RESTARTS`](Supervisor::DEFAULT_MAX_RESTARTS)
///   (10) restarts within [`DEFAULT_WINDOW`](Supervisor::DEFAULT_WINDOW) (60 s);
/// - backoff: [`default_backoff`](Supervisor::default_backoff),
///   `Backoff::exponential(100 ms)` (factor 2), capped at 10 s, no jitter, no
///   attempt limit;
/// - `reset_after`: the intensity window (60 s);
/// - abort wait: [`DEFAULT_ABORT_WAIT`](Supervisor::DEFAULT_ABORT_WAIT) (1 s);
/// - no event callback.
///
/// The defaults are chosen so that the backoff fits inside the intensity
/// window, as OTP users expect: the first 10 delays (0.1, 0.2, 0.4, 0.8,
/// 1.6, 3.2, 6.4, 10, 10, 10 s) sum to 42.7 s, less than 60 s. A child that
/// fails at once on every start is therefore restarted with backoff for
/// 42.7 s (11 starts) and the supervisor gives up at its eleventh failure;
/// a child that fails less often than 10 times a minute (once its backoff
/// has grown) is restarted forever. Keep that property when changing one of
/// them: with a backoff whose first `N` delays sum to more than the window,
/// the intensity never trips and a crash-looping child is retried forever;
/// with one whose sum is far below it, the supervisor gives up after a
/// fraction of a second of failures (the old default, 3 within 5 s with
/// this backoff, gave up after 0.7 s).
///
/// # Example
///
/// ```
/// use evenkeel_retry::Backoff;
/// use evenkeel_shutdown::Shutdown;
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
///             // Enough for this example: drain (the trigger alone does not
///             // stop the children; the drain does).
///             let stop = stop.clone();
///             tokio::spawn(async move { stop.drain(Duration::from_secs(5)).await });
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
    abort_wait: Duration,
}

impl Supervisor {
    /// The default intensity: at most this many restarts…
    pub const DEFAULT_MAX_RESTARTS: u32 = 10;
    /// …within this window.
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
    /// How long an abort is waited for before the child is reported stuck.
    pub const DEFAULT_ABORT_WAIT: Duration = Duration::from_secs(1);

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
            backoff: Self::default_backoff(),
            reset_after: None,
            emitter: Emitter::default(),
            abort_wait: Self::DEFAULT_ABORT_WAIT,
        }
    }

    /// The default restart backoff: `Backoff::exponential(100 ms)` (factor
    /// 2), capped at 10 s, no jitter, no attempt limit. Its first
    /// [`DEFAULT_MAX_RESTARTS`](Supervisor::DEFAULT_MAX_RESTARTS) delays sum
    /// to 42.7 s, inside the default window (see `# Defaults`).
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::Supervisor;
    /// use std::time::Duration;
    ///
    /// let first: Vec<Duration> = Supervisor::default_backoff().take(3).collect();
    /// assert_eq!(first, [100, 200, 400].map(Duration::from_millis));
    /// ```
    pub fn default_backoff() -> Backoff {
        // The restart intensity bounds restarts; the schedule itself must not
        // run out first.
        Backoff::exponential(Duration::from_millis(100))
            .max_delay(Duration::from_secs(10))
            .without_max_attempts()
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

    /// How long to wait, after aborting a child that outlived its grace
    /// period, for the abort to land. A child still running then never
    /// yields (a blocking call or busy loop in async code; tokio aborts only
    /// at an `.await`): it is reported as an [`Exited`](SupervisorEvent::Exited)
    /// event with [`TaskError::Stuck`](crate::TaskError::Stuck) and its name,
    /// and let go, so it cannot hold the shutdown.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::Supervisor;
    /// use std::time::Duration;
    ///
    /// let supervisor = Supervisor::new().abort_wait(Duration::from_millis(200));
    /// # let _ = supervisor;
    /// ```
    #[must_use]
    pub fn abort_wait(mut self, wait: Duration) -> Self {
        self.abort_wait = wait;
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

    /// Starts the children and supervises them until the drain of
    /// `shutdown` begins ([`Phase::Draining`](evenkeel_shutdown::Phase::Draining)),
    /// no child is left to run, or the supervisor gives up.
    ///
    /// The trigger alone does not stop the children (during the pre-drain
    /// delay they keep working); `Shutdown::drain` does, and waits for them.
    /// If the drain has already begun, no child is started and this returns
    /// `Ok(())` at once; a supervisor run after the trigger but before the
    /// drain starts its children as usual. The returned
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
    /// (they are owned by it) without their grace periods. Drain the
    /// `shutdown` to stop them in order.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
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
    /// shutdown.trigger(Reason::Requested); // the children keep running...
    /// shutdown.drain(Duration::from_secs(10)).await; // ...until the drain stops them
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
            .field("abort_wait", &self.abort_wait)
            .finish()
    }
}
