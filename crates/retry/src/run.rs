//! The state machine behind [`Retry`]'s `Future` impl.
//!
//! One poll loop over the phases: `Start` (first poll: fix the deadline,
//! deposit in the budget), `Attempting` (poll the operation's future, armed
//! with a timer only if an attempt timeout or deadline is set), `Sleeping`
//! (wait out the delay), `Ready` (after a zero delay: start the next attempt)
//! and `Done`. The cancellation future is polled first on every poll, so
//! cancellation is prompt in every phase.
//!
//! After a failure the checks run in a fixed order: classify (a permanent
//! error, or a retry-after hint past `max_retry_after`, stops here), take the next delay from the backoff (exhausted
//! stops here), check the wait against the deadline, withdraw from the
//! budget (last, so a retry that would not happen anyway spends nothing),
//! notify (and, with the `tracing` feature, a `debug` event with the attempt
//! and the delay), then wait.
//!
//! Nothing is allocated per attempt: the attempt's future lives inline in
//! the pinned `Retry`, and one `Sleep` is boxed the first time a timer is
//! needed (a non-zero wait, an attempt timeout or a deadline) and then
//! re-armed with `Sleep::reset`. Boxing it keeps the future 100 bytes
//! smaller, which is what the no-timer success path pays for in moves; a
//! call that needs a timer pays one allocation, next to a timer-wheel
//! registration that costs more. A zero delay does not touch the timer at
//! all: the next attempt starts within the same poll, spending one unit of
//! tokio's cooperative budget, and the task yields once that budget (or a
//! fixed 32 inline retries) is spent, so a zero-delay loop cannot starve its
//! executor.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::task::coop;
use tokio::time::{Instant, Sleep, sleep_until};

use crate::retry::{Phase, Retry};
use crate::timeout::deadline_after;
use crate::{Decision, RetryError};

/// The granularity of tokio's timer: a sleep ends up to this much late.
const TIMER_TICK: Duration = Duration::from_millis(1);

/// Zero-delay retries made within one poll before yielding regardless of
/// tokio's cooperative budget.
const MAX_INLINE_RETRIES: u32 = 32;

/// How an attempt failed.
enum Failure<E> {
    /// The operation returned an error.
    Error(E),
    /// The attempt timeout fired.
    Timeout,
}

/// Arms `timer` for `at`, creating the `Sleep` only the first time.
fn arm(timer: &mut Option<Pin<Box<Sleep>>>, at: Instant) {
    match timer {
        Some(sleep) => sleep.as_mut().reset(at),
        None => *timer = Some(Box::pin(sleep_until(at))),
    }
}

impl<Op, Fut, T, E, C, N> Future for Retry<Op, Fut, E, C, N>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: FnMut(&E) -> Decision,
    N: FnMut(&E, u32, Duration),
{
    type Output = Result<T, RetryError<E>>;

    #[allow(clippy::too_many_lines)] // one state machine reads best in one place
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut inline_retries = 0_u32;
        loop {
            if *this.phase == Phase::Done {
                return Poll::Pending;
            }
            if let Some(cancel) = this.cancel.as_mut()
                && cancel.as_mut().poll(cx).is_ready()
            {
                this.attempt.set(None);
                *this.timer = None;
                *this.phase = Phase::Done;
                return Poll::Ready(Err(RetryError::Cancelled {
                    attempts: *this.attempts,
                    last: this.last.take(),
                }));
            }
            let start_attempt = match *this.phase {
                Phase::Done => return Poll::Pending,
                Phase::Start => {
                    *this.deadline_at = this.deadline.map(|d| deadline_after(Instant::now(), d));
                    if let Some(budget) = this.budget.as_ref() {
                        budget.deposit();
                    }
                    true
                }
                Phase::Sleeping => {
                    if let Some(timer) = this.timer.as_mut()
                        && timer.as_mut().poll(cx).is_pending()
                    {
                        return Poll::Pending;
                    }
                    true
                }
                Phase::Ready => true,
                Phase::Attempting => false,
            };
            if start_attempt {
                *this.attempts = this.attempts.saturating_add(1);
                this.attempt.set(Some((this.operation)()));
                // The clock is read only when a limit needs it.
                let limit = match (*this.attempt_timeout, *this.deadline_at) {
                    (Some(t), d) => {
                        let at = deadline_after(Instant::now(), t);
                        Some(d.map_or(at, |d| at.min(d)))
                    }
                    (None, d) => d,
                };
                if let Some(at) = limit {
                    arm(this.timer, at);
                }
                *this.phase = Phase::Attempting;
            }
            let Some(attempt) = this.attempt.as_mut().as_pin_mut() else {
                // Invariant: `attempt` is Some while Attempting. Should it
                // ever not be, start a fresh attempt rather than panic.
                *this.phase = Phase::Ready;
                continue;
            };
            let failure = match attempt.poll(cx) {
                Poll::Ready(Ok(value)) => {
                    this.attempt.set(None);
                    *this.phase = Phase::Done;
                    return Poll::Ready(Ok(value));
                }
                Poll::Ready(Err(e)) => {
                    this.attempt.set(None);
                    Failure::Error(e)
                }
                Poll::Pending => {
                    // The timer guards the attempt only if a limit armed it;
                    // otherwise it may still hold the last (past) wait.
                    let limited = this.attempt_timeout.is_some() || this.deadline_at.is_some();
                    let fired = limited
                        && this
                            .timer
                            .as_mut()
                            .is_some_and(|timer| timer.as_mut().poll(cx).is_ready());
                    if !fired {
                        return Poll::Pending;
                    }
                    this.attempt.set(None);
                    if this.deadline_at.is_some_and(|d| Instant::now() >= d) {
                        *this.phase = Phase::Done;
                        return Poll::Ready(Err(RetryError::TimedOut {
                            attempts: *this.attempts,
                            last: this.last.take(),
                        }));
                    }
                    Failure::Timeout
                }
            };
            let attempts = *this.attempts;
            let (hint, timed_out) = match failure {
                Failure::Timeout => (None, true),
                Failure::Error(e) => {
                    let hint = match (this.classify)(&e) {
                        Decision::Retry => None,
                        Decision::RetryAfter(after) if !this.backoff.accepts_retry_after(after) => {
                            *this.phase = Phase::Done;
                            return Poll::Ready(Err(RetryError::RetryAfterTooLong {
                                attempts,
                                retry_after: after,
                                last: e,
                            }));
                        }
                        Decision::RetryAfter(after) => Some(after),
                        Decision::Stop => {
                            *this.phase = Phase::Done;
                            return Poll::Ready(Err(RetryError::Stopped { attempts, last: e }));
                        }
                    };
                    *this.last = Some(e);
                    (hint, false)
                }
            };
            let Some(delay) = this.backoff.next_delay(hint) else {
                *this.phase = Phase::Done;
                let last = this.last.take();
                return Poll::Ready(Err(match last {
                    Some(last) if !timed_out => RetryError::Exhausted { attempts, last },
                    last => RetryError::TimedOut { attempts, last },
                }));
            };
            // The clock is read only if there is a deadline or a real wait.
            let wake_at = (this.deadline_at.is_some() || !delay.is_zero())
                .then(|| deadline_after(Instant::now(), delay));
            // tokio's timer fires on the first 1 ms tick at or after
            // `wake_at`: only a wait whose latest possible end is still
            // before the deadline may start.
            if let (Some(d), Some(wake_at)) = (*this.deadline_at, wake_at)
                && deadline_after(wake_at, TIMER_TICK) > d
            {
                *this.phase = Phase::Done;
                let last = this.last.take();
                return Poll::Ready(Err(RetryError::TimedOut { attempts, last }));
            }
            if let Some(budget) = this.budget.as_ref()
                && !budget.withdraw()
            {
                *this.phase = Phase::Done;
                let last = this.last.take();
                return Poll::Ready(Err(RetryError::BudgetExhausted { attempts, last }));
            }
            if !timed_out && let Some(e) = this.last.as_ref() {
                (this.notify)(e, attempts, delay);
            }
            #[cfg(feature = "tracing")]
            tracing::debug!(
                target: "evenkeel_retry",
                attempt = attempts,
                ?delay,
                attempt_timed_out = timed_out,
                "retrying"
            );
            if delay.is_zero() {
                // No timer for a zero delay. Retry within this poll while the
                // task has tokio's cooperative budget (and at most
                // `MAX_INLINE_RETRIES` times, for executors without one);
                // otherwise yield, so a loop of instant failures cannot
                // starve the executor.
                *this.phase = Phase::Ready;
                inline_retries += 1;
                if inline_retries > MAX_INLINE_RETRIES {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                // Out of budget: tokio has arranged for this task to be woken.
                let progress = std::task::ready!(coop::poll_proceed(cx));
                progress.made_progress();
                continue;
            }
            *this.phase = Phase::Sleeping;
            if let Some(wake_at) = wake_at {
                arm(this.timer, wake_at);
            }
        }
    }
}
