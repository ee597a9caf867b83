//! [`retry`] and its builder-future [`Retry`]: run a fallible async operation
//! until it succeeds or a limit says stop.
//!
//! The builder holds the configuration; awaiting it runs the loop (see
//! `run.rs` for the state machine). Everything a caller may want to bound is
//! a builder call: which errors are worth retrying, per-attempt timeout,
//! overall deadline, cancellation, a shared retry budget.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::{Backoff, Decision, RetryBudget};

/// A boxed cancellation future (boxed once, when it is given).
pub(crate) type CancelFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The default classifier: every error is worth retrying. Passed as its
/// function item, which is zero-sized and called directly (a `fn` pointer
/// would add 8 bytes to every retry future and an indirect call).
fn retry_every_error<E>(_: &E) -> Decision {
    Decision::Retry
}

/// The default notifier: does nothing (zero-sized, like the classifier).
fn ignore<E>(_: &E, _: u32, _: Duration) {}

/// Where the loop is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not polled yet.
    Start,
    /// An attempt is in flight (`attempt` is `Some`).
    Attempting,
    /// Waiting out a delay (`timer` is armed).
    Sleeping,
    /// Ready to start the next attempt (after a zero delay).
    Ready,
    /// The output has been returned.
    Done,
}

/// Retries `operation` on the schedule `backoff` until it succeeds or a limit
/// ends it with a [`RetryError`](crate::RetryError).
///
/// Returns a builder that is itself the future: configure it, then `.await`
/// it. `operation` is called once per attempt and must return a fresh
/// future each time.
///
/// # Defaults
///
/// - Every error is retried (see [`Retry::when`] and [`Retry::classify`]).
/// - No notification, no attempt timeout, no deadline, no cancellation, no
///   budget.
/// - The only limits are the backoff's own: by default 4 attempts, and a
///   server hint longer than 60 s stops (see [`Backoff`]'s `# Defaults`).
///   Only a backoff built
///   [`without_max_attempts`](Backoff::without_max_attempts), with no
///   `max_elapsed` and no deadline, retries until the operation succeeds.
///
/// A zero delay retries within the same poll, spending one unit of tokio's
/// cooperative budget per retry, and yields to the executor when the budget
/// runs out: a loop of instant failures stays cheap without starving other
/// tasks.
///
/// # Cancellation safety
///
/// Dropping the future drops the attempt in flight, if any; nothing else is
/// left behind. Polling it again after it completed returns `Pending`.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use evenkeel_retry::{retry, Backoff, Jitter};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let mut calls = 0;
/// let backoff = Backoff::exponential(Duration::from_millis(100))
///     .jitter(Jitter::Full)
///     .max_delay(Duration::from_secs(5))
///     .max_attempts(5);
/// let value = retry(backoff, || {
///     calls += 1;
///     let n = calls;
///     async move { if n < 3 { Err("busy") } else { Ok(n) } }
/// })
/// .when(|e: &&str| *e == "busy")
/// .await;
/// assert_eq!(value, Ok(3));
/// # }
/// ```
#[allow(
    clippy::type_complexity,
    reason = "the default hooks are zero-sized function items, which only `impl Trait` can name"
)]
pub fn retry<Op, Fut, T, E>(
    backoff: Backoff,
    operation: Op,
) -> Retry<Op, Fut, E, impl FnMut(&E) -> Decision, impl FnMut(&E, u32, Duration)>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    Retry {
        backoff,
        operation,
        classify: retry_every_error::<E>,
        notify: ignore::<E>,
        attempt_timeout: None,
        deadline: None,
        cancel: None,
        budget: None,
        phase: Phase::Start,
        attempts: 0,
        deadline_at: None,
        last: None,
        attempt: None,
        timer: None,
    }
}

pin_project! {
    /// The builder-future returned by [`retry`]: configure, then `.await`.
    ///
    /// Resolves to `Result<T, RetryError<E>>`. The type parameters are the
    /// operation, its future, its error, the classifier and the notifier; you
    /// rarely need to name them.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::{retry, Backoff, RetryError};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let r = retry(Backoff::constant(Duration::from_secs(1)), || async { Err::<(), _>(()) })
    ///     .deadline(Duration::from_millis(2500))
    ///     .await;
    /// // Attempts at 0 s, 1 s and 2 s; a third wait would end at 3 s > 2.5 s.
    /// assert!(matches!(r, Err(RetryError::TimedOut { attempts: 3, .. })));
    /// # }
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Retry<Op, Fut, E, C, N> {
        pub(crate) backoff: Backoff,
        pub(crate) operation: Op,
        pub(crate) classify: C,
        pub(crate) notify: N,
        pub(crate) attempt_timeout: Option<Duration>,
        pub(crate) deadline: Option<Duration>,
        pub(crate) cancel: Option<CancelFuture>,
        pub(crate) budget: Option<RetryBudget>,
        pub(crate) phase: Phase,
        pub(crate) attempts: u32,
        pub(crate) deadline_at: Option<Instant>,
        pub(crate) last: Option<E>,
        #[pin]
        pub(crate) attempt: Option<Fut>,
        pub(crate) timer: Option<Pin<Box<Sleep>>>,
    }
}

impl<Op, Fut, T, E, C, N> Retry<Op, Fut, E, C, N>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    fn rebuild<C2, N2>(self, hooks: impl FnOnce(C, N) -> (C2, N2)) -> Retry<Op, Fut, E, C2, N2> {
        let (classify, notify) = hooks(self.classify, self.notify);
        Retry {
            backoff: self.backoff,
            operation: self.operation,
            classify,
            notify,
            attempt_timeout: self.attempt_timeout,
            deadline: self.deadline,
            cancel: self.cancel,
            budget: self.budget,
            phase: self.phase,
            attempts: self.attempts,
            deadline_at: self.deadline_at,
            last: self.last,
            attempt: self.attempt,
            timer: self.timer,
        }
    }

    /// Retries only the errors for which `predicate` is true; the others end
    /// the loop with [`RetryError::Stopped`](crate::RetryError::Stopped).
    /// Replaces any earlier `when` or `classify`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::{retry, Backoff, RetryError};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let r = retry(Backoff::constant(Duration::ZERO), || async { Err::<(), _>(404) })
    ///     .when(|status: &u16| *status >= 500)
    ///     .await;
    /// assert!(matches!(r, Err(RetryError::Stopped { attempts: 1, last: 404 })));
    /// # }
    /// ```
    pub fn when<W>(self, mut predicate: W) -> Retry<Op, Fut, E, impl FnMut(&E) -> Decision, N>
    where
        W: FnMut(&E) -> bool,
    {
        self.classify(move |e: &E| {
            if predicate(e) {
                Decision::Retry
            } else {
                Decision::Stop
            }
        })
    }

    /// Decides per error: [`Decision::Retry`], [`Decision::RetryAfter`] (a
    /// server's hint, used instead of the backoff's delay but still counted
    /// against its limits, capped at `max_delay`; a hint that would end past
    /// the deadline ends the loop with `TimedOut` at once) or
    /// [`Decision::Stop`]. Replaces any earlier `when` or `classify`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::{retry, Backoff, Decision};
    /// use tokio::time::Instant;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let start = Instant::now();
    /// let mut first = true;
    /// let r = retry(Backoff::constant(Duration::from_millis(10)), || {
    ///     let fail = std::mem::take(&mut first);
    ///     async move { if fail { Err(Duration::from_secs(2)) } else { Ok(()) } }
    /// })
    /// .classify(|after: &Duration| Decision::RetryAfter(*after))
    /// .await;
    /// assert_eq!(r.ok(), Some(()));
    /// assert_eq!(start.elapsed(), Duration::from_secs(2));
    /// # }
    /// ```
    pub fn classify<F>(self, classify: F) -> Retry<Op, Fut, E, F, N>
    where
        F: FnMut(&E) -> Decision,
    {
        self.rebuild(|_, notify| (classify, notify))
    }

    /// Calls `notify(error, attempt, delay)` before each wait: the error of
    /// attempt number `attempt` (1-based) and the delay before the next one.
    /// Not called for the final error (it is in the result) nor for attempts
    /// that hit their attempt timeout (they have no error value).
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::{retry, Backoff};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let mut seen = Vec::new();
    /// let _ = retry(Backoff::exponential(Duration::from_secs(1)).max_attempts(3), || async {
    ///     Err::<(), _>("nope")
    /// })
    /// .notify(|_e: &&str, attempt, delay| seen.push((attempt, delay.as_secs())))
    /// .await;
    /// assert_eq!(seen, [(1, 1), (2, 2)]);
    /// # }
    /// ```
    pub fn notify<F>(self, notify: F) -> Retry<Op, Fut, E, C, F>
    where
        F: FnMut(&E, u32, Duration),
    {
        self.rebuild(|classify, _| (classify, notify))
    }

    /// Bounds each attempt: one still running after `d` is dropped and counts
    /// as a failed attempt that is retried (classifiers and `notify` are not
    /// consulted: there is no error value). If the schedule allows no further
    /// attempt, the loop ends with
    /// [`RetryError::TimedOut`](crate::RetryError::TimedOut). Default: none.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::{retry, Backoff};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let mut slow = true;
    /// let r = retry(Backoff::constant(Duration::ZERO), || {
    ///     let wait = if std::mem::take(&mut slow) { 60 } else { 0 };
    ///     async move {
    ///         tokio::time::sleep(Duration::from_secs(wait)).await;
    ///         Ok::<_, ()>(wait)
    ///     }
    /// })
    /// .attempt_timeout(Duration::from_secs(1))
    /// .await;
    /// assert_eq!(r.ok(), Some(0)); // the first, hung attempt was abandoned
    /// # }
    /// ```
    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.attempt_timeout = Some(d);
        self
    }

    /// Bounds the whole loop to `d` of wall-clock time from the first poll,
    /// attempts and waits included: an attempt still running at the deadline
    /// is dropped, and a wait that could end past the deadline (counting
    /// tokio's 1 ms timer granularity) is not started. Either way the result is
    /// [`RetryError::TimedOut`](crate::RetryError::TimedOut). Default: none.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::{retry, Backoff, RetryError};
    /// use tokio::time::Instant;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let start = Instant::now();
    /// let endless = Backoff::exponential(Duration::from_secs(1)).without_max_attempts();
    /// let r = retry(endless, || async { Err::<(), _>(()) })
    ///     .deadline(Duration::from_secs(10))
    ///     .await;
    /// assert!(matches!(r, Err(RetryError::TimedOut { .. })));
    /// // Waits of 1, 2 and 4 s fit; the next (8 s, ending at 15 s) would not.
    /// assert_eq!(start.elapsed(), Duration::from_secs(7));
    /// # }
    /// ```
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }

    /// Stops the loop as soon as `signal` completes, during an attempt (which
    /// is dropped) or a wait, with
    /// [`RetryError::Cancelled`](crate::RetryError::Cancelled). Any future
    /// works and its output is ignored: a `CancellationToken`'s
    /// `cancelled_owned()`, a shutdown trigger, a `oneshot` receiver. It is
    /// boxed once, here. Default: never cancelled.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::{retry, Backoff, RetryError};
    /// use tokio_util::sync::CancellationToken;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let token = CancellationToken::new();
    /// let stopper = token.clone();
    /// tokio::spawn(async move {
    ///     tokio::time::sleep(Duration::from_secs(3)).await;
    ///     stopper.cancel();
    /// });
    /// let endless = Backoff::constant(Duration::from_secs(1)).without_max_attempts();
    /// let r = retry(endless, || async { Err::<(), _>(()) })
    ///     .cancel_on(token.cancelled_owned())
    ///     .await;
    /// assert!(matches!(r, Err(RetryError::Cancelled { .. })));
    /// # }
    /// ```
    pub fn cancel_on<S>(mut self, signal: S) -> Self
    where
        S: Future + Send + 'static,
    {
        self.cancel = Some(Box::pin(async move {
            signal.await;
        }));
        self
    }

    /// Shares a [`RetryBudget`]: the loop deposits once when it starts and
    /// withdraws before every retry; a refusal ends it with
    /// [`RetryError::BudgetExhausted`](crate::RetryError::BudgetExhausted).
    /// The budget is cloned (clones share state). Default: no budget.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::{retry, Backoff, RetryBudget, RetryError};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.0); // no retries at all
    /// let r = retry(Backoff::constant(Duration::ZERO), || async { Err::<(), _>(()) })
    ///     .budget(&budget)
    ///     .await;
    /// assert!(matches!(r, Err(RetryError::BudgetExhausted { attempts: 1, .. })));
    /// # }
    /// ```
    pub fn budget(mut self, budget: &RetryBudget) -> Self {
        self.budget = Some(budget.clone());
        self
    }
}

impl<Op, Fut, E, C, N> fmt::Debug for Retry<Op, Fut, E, C, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("backoff", &self.backoff)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("deadline", &self.deadline)
            .field("cancellable", &self.cancel.is_some())
            .field("budget", &self.budget)
            .field("phase", &self.phase)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}
