//! [`Breaker`]: the shared state machine behind every clone of a
//! [`CircuitBreaker`](crate::CircuitBreaker).
//!
//! ```text
//!            failure or slow-call rate ≥ threshold
//!            (over ≥ minimum_calls in the window)
//!   Closed ───────────────────────────────────────▶ Open
//!     ▲                                              │ open_duration elapsed
//!     │ trial calls below thresholds                 ▼ (on the next request)
//!     └──────────────────────────────────────── HalfOpen ──▶ Open (trials failed,
//!                                                              or max_half_open_wait
//!                                                              passed with trials
//!                                                              still running)
//!
//!   force_open() ─▶ ForcedOpen (until close())      close() ─▶ Closed, window cleared
//! ```
//!
//! Every transition bumps an epoch; a call records its outcome only if the
//! epoch it was admitted in is still current, so slow calls admitted while
//! closed cannot trip (or close) a circuit that has moved on. A ticket kept
//! between `poll_ready` and `call` is checked against the epoch again, so a
//! decision does not outlive the state that made it.
//!
//! Time is compared, never added: a state's age is
//! `now.saturating_duration_since(since)`, so any open duration (even
//! `Duration::MAX`, "until closed by hand") works without an overflow.

use std::fmt;
use std::sync::PoisonError;
use std::time::Duration;

use tokio::time::Instant;

use super::builder::{Builder, EventListener, Listener};
use super::classify::Outcome;
use super::event::{BreakerEvent, StateChange};
use super::window::{SlidingWindow, Totals, Window};
use crate::sync::{Arc, AtomicU64, Mutex, MutexGuard, Ordering};

/// The state of a circuit breaker.
///
/// ```
/// use evenkeel_middleware::circuit_breaker::{Breaker, State};
/// assert_eq!(Breaker::builder().build().unwrap().state(), State::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls flow; outcomes are recorded in the sliding window.
    Closed,
    /// Calls fail fast until the open duration has passed.
    Open,
    /// A limited number of trial calls decide between closed and open.
    HalfOpen,
    /// Opened by hand ([`Breaker::force_open`]); stays open until
    /// [`Breaker::close`].
    ForcedOpen,
}

/// A circuit breaker's shared state; clones share it.
///
/// Obtain one from [`Breaker::builder`], hand it to
/// [`CircuitBreakerLayer::new`](crate::CircuitBreakerLayer::new), and keep a
/// clone to watch or steer the circuit.
///
/// # Examples
///
/// ```
/// use evenkeel_middleware::circuit_breaker::{Breaker, State};
///
/// let breaker = Breaker::builder().build()?;
/// let handle = breaker.clone();
/// handle.force_open();
/// assert_eq!(breaker.state(), State::ForcedOpen);
/// breaker.close();
/// assert_eq!(handle.state(), State::Closed);
/// # Ok::<(), evenkeel_middleware::circuit_breaker::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Breaker {
    shared: Arc<Shared>,
}

impl Default for Breaker {
    /// A breaker with [`Builder`]'s documented defaults (always valid).
    ///
    /// ```
    /// use evenkeel_middleware::circuit_breaker::{Breaker, State};
    /// assert_eq!(Breaker::default().state(), State::Closed);
    /// ```
    fn default() -> Self {
        Self::from_builder(Builder::with_defaults())
    }
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("state", &self.state())
            .field("window", &self.shared.window)
            .finish_non_exhaustive()
    }
}

struct Shared {
    /// `epoch << 2 | state`, mirrored from `machine` on every transition so
    /// a closed circuit admits with one atomic load and no lock.
    gate: AtomicU64,
    machine: Mutex<Machine>,
    window: SlidingWindow,
    minimum_calls: u64,
    failure_rate: f64,
    slow_rate: Option<f64>,
    slow_duration: Duration,
    /// Whether calls must be timed (slow-call rate on, or a time window).
    timed: bool,
    open_duration: Duration,
    half_open_calls: u32,
    max_half_open_wait: Duration,
    listener: Option<Listener>,
    events: Option<EventListener>,
}

struct Machine {
    state: State,
    epoch: u64,
    /// When the current state was entered.
    since: Instant,
    window: Window,
    trials: Trials,
}

/// What a locked section has to report once the lock is released.
#[derive(Default, Clone, Copy)]
struct Report {
    change: Option<BreakerEvent>,
    other: Option<BreakerEvent>,
}

/// Half-open bookkeeping.
#[derive(Debug, Default, Clone, Copy)]
struct Trials {
    admitted: u32,
    completed: u32,
    failures: u32,
    slow: u32,
}

/// A call's admission: remembers the epoch it was admitted in, and gives a
/// half-open trial slot back if the call never completes.
#[derive(Debug)]
pub(crate) struct Ticket {
    breaker: Breaker,
    epoch: u64,
    trial: bool,
    done: bool,
}

/// The gate's state code for `Closed` (the only one read without the lock).
const CLOSED: u64 = 3;

/// Packs an epoch and a state into the lock-free gate word.
fn gate(epoch: u64, state: State) -> u64 {
    let code = match state {
        State::Closed => CLOSED,
        State::Open => 1,
        State::HalfOpen => 2,
        State::ForcedOpen => 0,
    };
    (epoch << 2) | code
}

/// Whether `part` out of `whole` reaches `percent`, computed exactly.
fn reaches(part: u64, whole: u64, percent: f64) -> bool {
    whole > 0 && rate(part, whole) >= percent
}

/// `part` out of `whole` as a percentage (`whole > 0`).
#[allow(clippy::cast_precision_loss, reason = "call counts far below 2^52")]
fn rate(part: u64, whole: u64) -> f64 {
    (part as f64 * 100.0) / whole as f64
}

impl Breaker {
    /// A builder with the documented defaults.
    ///
    /// ```
    /// let breaker = evenkeel_middleware::circuit_breaker::Breaker::builder().build().unwrap();
    /// # let _ = breaker;
    /// ```
    pub fn builder() -> Builder {
        Builder::with_defaults()
    }

    pub(super) fn from_builder(b: Builder) -> Self {
        let minimum_calls = match b.window {
            SlidingWindow::Count(n) => b.minimum_calls.min(n.max(1) as u64),
            SlidingWindow::Time(_) => b.minimum_calls,
        };
        Breaker {
            shared: Arc::new(Shared {
                gate: AtomicU64::new(gate(0, State::Closed)),
                machine: Mutex::new(Machine {
                    state: State::Closed,
                    epoch: 0,
                    since: Instant::now(),
                    window: Window::new(b.window),
                    trials: Trials::default(),
                }),
                window: b.window,
                minimum_calls,
                failure_rate: b.failure_rate,
                slow_rate: b.slow_rate,
                slow_duration: b.slow_duration,
                timed: b.slow_rate.is_some() || matches!(b.window, SlidingWindow::Time(_)),
                open_duration: b.open_duration,
                half_open_calls: b.half_open_calls,
                max_half_open_wait: b.max_half_open_wait,
                listener: b.listener,
                events: b.events,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Machine> {
        // A panic while the lock was held (only a listener could panic,
        // and listeners run outside it) leaves a consistent machine.
        self.shared
            .machine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The current state. An open circuit whose open duration has passed
    /// still reads `Open` until the next request moves it to half-open.
    ///
    /// ```
    /// use evenkeel_middleware::circuit_breaker::{Breaker, State};
    /// assert_eq!(Breaker::builder().build().unwrap().state(), State::Closed);
    /// ```
    pub fn state(&self) -> State {
        self.lock().state
    }

    /// Opens the circuit by hand; it stays open (no half-open trials) until
    /// [`close`](Breaker::close).
    ///
    /// ```
    /// use evenkeel_middleware::circuit_breaker::{Breaker, State};
    /// let b = Breaker::builder().build().unwrap();
    /// b.force_open();
    /// assert_eq!(b.state(), State::ForcedOpen);
    /// ```
    pub fn force_open(&self) {
        self.transition_now(State::ForcedOpen);
    }

    /// Closes the circuit by hand and clears the window, from any state.
    ///
    /// ```
    /// use evenkeel_middleware::circuit_breaker::{Breaker, State};
    /// let b = Breaker::builder().build().unwrap();
    /// b.force_open();
    /// b.close();
    /// assert_eq!(b.state(), State::Closed);
    /// ```
    pub fn close(&self) {
        self.transition_now(State::Closed);
    }

    fn transition_now(&self, to: State) {
        let change = {
            let mut m = self.lock();
            self.transition(&mut m, to, Instant::now(), None)
        };
        self.report(Report {
            change,
            other: None,
        });
    }

    /// Moves to `to`; `rates` are the (failure, slow-call) rates that
    /// decided it, if any. Returns the event to report, for a real change.
    fn transition(
        &self,
        m: &mut Machine,
        to: State,
        now: Instant,
        rates: Option<(f64, Option<f64>)>,
    ) -> Option<BreakerEvent> {
        let from = m.state;
        m.state = to;
        m.epoch += 1;
        m.since = now;
        self.shared.gate.store(gate(m.epoch, to), Ordering::Release);
        m.trials = Trials::default();
        if to == State::Closed {
            m.window = Window::new(self.shared.window);
        }
        (from != to).then_some(BreakerEvent::Transition {
            from,
            to,
            failure_rate: rates.map(|(f, _)| f),
            slow_call_rate: rates.and_then(|(_, s)| s),
        })
    }

    /// Delivers what a locked section decided, after the lock is released.
    fn report(&self, report: Report) {
        let s = &*self.shared;
        for event in [report.change, report.other].into_iter().flatten() {
            event.trace();
            if let (BreakerEvent::Transition { from, to, .. }, Some(listener)) =
                (event, &s.listener)
            {
                listener(StateChange { from, to });
            }
            if let Some(events) = &s.events {
                events(&event);
            }
        }
    }

    /// Admits a call, or says how long until the circuit lets one through.
    pub(crate) fn acquire(&self) -> Result<Ticket, Duration> {
        let s = &*self.shared;
        let word = s.gate.load(Ordering::Acquire);
        if word & 3 == CLOSED {
            // Closed: admit without the lock. A transition racing with this
            // load bumps the epoch, so the outcome is dropped as stale.
            return Ok(self.ticket(word >> 2, false));
        }
        let now = Instant::now();
        let mut report = Report::default();
        let result = {
            let mut m = self.lock();
            let age = now.saturating_duration_since(m.since);
            if m.state == State::Open && age >= s.open_duration {
                report.change = self.transition(&mut m, State::HalfOpen, now, None);
            } else if m.state == State::HalfOpen
                && m.trials.admitted >= s.half_open_calls
                && age >= s.max_half_open_wait
            {
                // The trials did not all complete in time (a hung call
                // holds its slot): give up on them and open again.
                report.change = self.transition(&mut m, State::Open, now, None);
            }
            let age = now.saturating_duration_since(m.since);
            match m.state {
                State::Closed => Ok(self.ticket(m.epoch, false)),
                State::HalfOpen if m.trials.admitted < s.half_open_calls => {
                    m.trials.admitted += 1;
                    Ok(self.ticket(m.epoch, true))
                }
                // Trial slots all taken: the next decision is at the latest
                // when the half-open wait runs out.
                State::HalfOpen => Err((State::HalfOpen, s.max_half_open_wait.saturating_sub(age))),
                State::Open => Err((State::Open, s.open_duration.saturating_sub(age))),
                // No deadline: the configured open duration is the hint.
                State::ForcedOpen => Err((State::ForcedOpen, s.open_duration)),
            }
        };
        let result = result.map_err(|(state, retry_after)| {
            report.other = Some(BreakerEvent::Rejected { state, retry_after });
            retry_after
        });
        self.report(report);
        result
    }

    fn ticket(&self, epoch: u64, trial: bool) -> Ticket {
        Ticket {
            breaker: self.clone(),
            epoch,
            trial,
            done: false,
        }
    }

    /// Whether calls must be timed for this breaker.
    pub(crate) fn timed(&self) -> bool {
        self.shared.timed
    }

    /// Records a completed call admitted in `epoch`.
    fn record(&self, epoch: u64, outcome: Outcome, elapsed: Duration, now: Option<Instant>) {
        let s = &*self.shared;
        let slow = s.slow_rate.is_some() && elapsed >= s.slow_duration;
        let mut report = Report {
            change: None,
            other: slow.then_some(BreakerEvent::SlowCall { elapsed }),
        };
        {
            let mut m = self.lock();
            if m.epoch != epoch {
                drop(m);
                return self.report(report);
            }
            let failed = outcome == Outcome::Failure;
            // The rates of `t`, and whether they trip the thresholds.
            let judge = |t: Totals| {
                let failure = (t.calls > 0).then(|| rate(t.failures, t.calls));
                let slow_rate = s
                    .slow_rate
                    .and_then(|_| failure.map(|_| rate(t.slow, t.calls)));
                let trips = reaches(t.failures, t.calls, s.failure_rate)
                    || s.slow_rate.is_some_and(|p| reaches(t.slow, t.calls, p));
                (trips, failure.map(|f| (f, slow_rate)))
            };
            let now_or_read = || now.unwrap_or_else(Instant::now);
            report.change = match (m.state, outcome) {
                (State::HalfOpen, Outcome::Ignore) => {
                    m.trials.admitted = m.trials.admitted.saturating_sub(1);
                    None
                }
                (_, Outcome::Ignore) | (State::Open | State::ForcedOpen, _) => None,
                (State::Closed, _) => {
                    m.window.record(failed, slow, now);
                    let t = m.window.totals(now);
                    match judge(t) {
                        (true, rates) if t.calls >= s.minimum_calls => {
                            self.transition(&mut m, State::Open, now_or_read(), rates)
                        }
                        _ => None,
                    }
                }
                (State::HalfOpen, _) => {
                    m.trials.completed += 1;
                    m.trials.failures += u32::from(failed);
                    m.trials.slow += u32::from(slow);
                    let t = m.trials;
                    if t.completed >= s.half_open_calls {
                        let (reopen, rates) = judge(Totals {
                            calls: u64::from(t.completed),
                            failures: u64::from(t.failures),
                            slow: u64::from(t.slow),
                        });
                        let to = if reopen { State::Open } else { State::Closed };
                        self.transition(&mut m, to, now_or_read(), rates)
                    } else {
                        None
                    }
                }
            };
        }
        self.report(report);
    }

    /// Whether two handles share one breaker.
    ///
    /// ```
    /// let a = evenkeel_middleware::circuit_breaker::Breaker::builder().build().unwrap();
    /// assert!(a.shares_state_with(&a.clone()));
    /// ```
    pub fn shares_state_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Ticket {
    /// Whether the state this ticket was admitted in is still current
    /// (a decision kept since `poll_ready` may have gone stale).
    pub(crate) fn is_current(&self) -> bool {
        self.breaker.shared.gate.load(Ordering::Acquire) >> 2 == self.epoch
    }

    /// Records the completed call this ticket admitted.
    pub(crate) fn record(mut self, outcome: Outcome, elapsed: Duration, now: Option<Instant>) {
        // Recorded now: the drop below must not give a trial slot back.
        self.done = true;
        self.breaker.record(self.epoch, outcome, elapsed, now);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.done || !self.trial {
            return;
        }
        // A trial call that never completed gives its slot back.
        let mut m = self.breaker.lock();
        if m.epoch == self.epoch && m.state == State::HalfOpen {
            m.trials.admitted = m.trials.admitted.saturating_sub(1);
        }
    }
}
