//! [`Breaker`]: the shared state machine behind every clone of a
//! [`CircuitBreaker`](crate::CircuitBreaker).
//!
//! ```text
//!            failure or slow-call rate ≥ threshold
//!            (over ≥ minimum_calls in the window)
//!   Closed ───────────────────────────────────────▶ Open
//!     ▲                                              │ open_duration elapsed
//!     │ trial calls below thresholds                 ▼ (on the next request)
//!     └──────────────────────────────────────── HalfOpen ──▶ Open (trials failed)
//!
//!   force_open() ─▶ ForcedOpen (until close())      close() ─▶ Closed, window cleared
//! ```
//!
//! Every transition bumps an epoch; a call records its outcome only if the
//! epoch it was admitted in is still current, so slow calls admitted while
//! closed cannot trip (or close) a circuit that has moved on.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::builder::{Builder, Listener};
use super::classify::Outcome;
use super::window::{SlidingWindow, Window};

/// The state of a circuit breaker.
///
/// ```
/// use evenkeel_middleware::circuit_breaker::{Breaker, State};
/// assert_eq!(Breaker::builder().build().state(), State::Closed);
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

/// A state transition, passed to the [`on_state_change`](Builder::on_state_change) callback.
///
/// ```
/// use evenkeel_middleware::circuit_breaker::{State, StateChange};
/// let change = StateChange { from: State::Closed, to: State::Open };
/// assert_eq!(change.to, State::Open);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
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
/// let breaker = Breaker::builder().build();
/// let handle = breaker.clone();
/// handle.force_open();
/// assert_eq!(breaker.state(), State::ForcedOpen);
/// breaker.close();
/// assert_eq!(handle.state(), State::Closed);
/// ```
#[derive(Clone)]
pub struct Breaker {
    shared: Arc<Shared>,
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
    listener: Option<Listener>,
}

struct Machine {
    state: State,
    epoch: u64,
    opened_at: Instant,
    window: Window,
    trials: Trials,
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
    whole > 0 && (part as f64 * 100.0) / whole as f64 >= percent
}

impl Breaker {
    /// A builder with the documented defaults.
    ///
    /// ```
    /// let breaker = evenkeel_middleware::circuit_breaker::Breaker::builder().build();
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
                    opened_at: Instant::now(),
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
                listener: b.listener,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Machine> {
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
    /// assert_eq!(Breaker::builder().build().state(), State::Closed);
    /// ```
    pub fn state(&self) -> State {
        self.lock().state
    }

    /// Opens the circuit by hand; it stays open (no half-open trials) until
    /// [`close`](Breaker::close).
    ///
    /// ```
    /// use evenkeel_middleware::circuit_breaker::{Breaker, State};
    /// let b = Breaker::builder().build();
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
    /// let b = Breaker::builder().build();
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
            self.transition(&mut m, to, Instant::now())
        };
        self.notify(change);
    }

    fn transition(&self, m: &mut Machine, to: State, now: Instant) -> Option<StateChange> {
        let from = m.state;
        m.state = to;
        m.epoch += 1;
        self.shared.gate.store(gate(m.epoch, to), Ordering::Release);
        m.trials = Trials::default();
        match to {
            State::Open | State::ForcedOpen => m.opened_at = now,
            State::Closed => m.window = Window::new(self.shared.window),
            State::HalfOpen => {}
        }
        (from != to).then_some(StateChange { from, to })
    }

    fn notify(&self, change: Option<StateChange>) {
        if let (Some(change), Some(listener)) = (change, &self.shared.listener) {
            listener(change);
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
        let mut change = None;
        let result = {
            let mut m = self.lock();
            if m.state == State::Open {
                let reopen = m.opened_at + s.open_duration;
                if now < reopen {
                    return Err(reopen - now);
                }
                change = self.transition(&mut m, State::HalfOpen, now);
            }
            match m.state {
                State::Closed => Ok(self.ticket(m.epoch, false)),
                State::HalfOpen if m.trials.admitted < s.half_open_calls => {
                    m.trials.admitted += 1;
                    Ok(self.ticket(m.epoch, true))
                }
                // Trial slots all taken, or forced open.
                State::HalfOpen | State::Open | State::ForcedOpen => Err(s.open_duration),
            }
        };
        self.notify(change);
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

    /// Records a completed call admitted in `epoch`.
    /// Whether calls must be timed for this breaker.
    pub(crate) fn timed(&self) -> bool {
        self.shared.timed
    }

    fn record(&self, epoch: u64, outcome: Outcome, elapsed: Duration, now: Option<Instant>) {
        let s = &*self.shared;
        let change = {
            let mut m = self.lock();
            if m.epoch != epoch {
                return;
            }
            let failed = outcome == Outcome::Failure;
            let slow = s.slow_rate.is_some() && elapsed >= s.slow_duration;
            let slow_trips =
                |slow: u64, calls: u64| s.slow_rate.is_some_and(|p| reaches(slow, calls, p));
            match (m.state, outcome) {
                (State::HalfOpen, Outcome::Ignore) => {
                    m.trials.admitted = m.trials.admitted.saturating_sub(1);
                    None
                }
                (_, Outcome::Ignore) | (State::Open | State::ForcedOpen, _) => None,
                (State::Closed, _) => {
                    m.window.record(failed, slow, now);
                    let t = m.window.totals(now);
                    let trip = t.calls >= s.minimum_calls
                        && (reaches(t.failures, t.calls, s.failure_rate)
                            || slow_trips(t.slow, t.calls));
                    if trip {
                        self.transition(&mut m, State::Open, now.unwrap_or_else(Instant::now))
                    } else {
                        None
                    }
                }
                (State::HalfOpen, _) => {
                    m.trials.completed += 1;
                    m.trials.failures += u32::from(failed);
                    m.trials.slow += u32::from(slow);
                    let t = m.trials;
                    if t.completed >= s.half_open_calls {
                        let total = u64::from(t.completed);
                        let reopen = reaches(u64::from(t.failures), total, s.failure_rate)
                            || slow_trips(u64::from(t.slow), total);
                        let to = if reopen { State::Open } else { State::Closed };
                        self.transition(&mut m, to, now.unwrap_or_else(Instant::now))
                    } else {
                        None
                    }
                }
            }
        };
        self.notify(change);
    }

    /// Whether two handles share one breaker.
    ///
    /// ```
    /// let a = evenkeel_middleware::circuit_breaker::Breaker::builder().build();
    /// assert!(a.shares_state_with(&a.clone()));
    /// ```
    pub fn shares_state_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Ticket {
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
