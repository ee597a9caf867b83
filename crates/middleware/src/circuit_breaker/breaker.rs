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

type Listener = Arc<dyn Fn(StateChange) + Send + Sync>;

/// Configures a [`Breaker`].
///
/// # Defaults
///
/// | setting | default |
/// |---|---|
/// | [`sliding_window`](Builder::sliding_window) | `SlidingWindow::Count(100)` |
/// | [`minimum_calls`](Builder::minimum_calls) | 20 (capped at a count window's size) |
/// | [`failure_rate_threshold`](Builder::failure_rate_threshold) | 50 (%) |
/// | [`slow_call_rate_threshold`](Builder::slow_call_rate_threshold) | 100 (%) |
/// | [`slow_call_duration`](Builder::slow_call_duration) | 60 s |
/// | [`open_duration`](Builder::open_duration) | 30 s |
/// | [`half_open_calls`](Builder::half_open_calls) | 5 |
/// | [`on_state_change`](Builder::on_state_change) | none |
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::circuit_breaker::{Breaker, SlidingWindow};
///
/// let breaker = Breaker::builder()
///     .sliding_window(SlidingWindow::Time(Duration::from_secs(10)))
///     .minimum_calls(10)
///     .failure_rate_threshold(50.0)
///     .slow_call_rate_threshold(80.0)
///     .slow_call_duration(Duration::from_secs(2))
///     .open_duration(Duration::from_secs(5))
///     .half_open_calls(3)
///     .on_state_change(|c| eprintln!("breaker: {:?} -> {:?}", c.from, c.to))
///     .build();
/// # let _ = breaker;
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Clone)]
pub struct Builder {
    window: SlidingWindow,
    minimum_calls: u64,
    failure_rate: f64,
    slow_rate: f64,
    slow_duration: Duration,
    open_duration: Duration,
    half_open_calls: u32,
    listener: Option<Listener>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("window", &self.window)
            .field("minimum_calls", &self.minimum_calls)
            .field("failure_rate", &self.failure_rate)
            .field("slow_rate", &self.slow_rate)
            .field("slow_duration", &self.slow_duration)
            .field("open_duration", &self.open_duration)
            .field("half_open_calls", &self.half_open_calls)
            .field("listener", &self.listener.is_some())
            .finish()
    }
}

impl Builder {
    /// The window the rates are computed over.
    ///
    /// ```
    /// use evenkeel_middleware::circuit_breaker::{Breaker, SlidingWindow};
    /// let b = Breaker::builder().sliding_window(SlidingWindow::Count(10)).build();
    /// # let _ = b;
    /// ```
    pub fn sliding_window(mut self, window: SlidingWindow) -> Self {
        self.window = window;
        self
    }

    /// How many calls the window must hold before the rates can trip it.
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder().minimum_calls(5).build();
    /// # let _ = b;
    /// ```
    pub fn minimum_calls(mut self, n: u64) -> Self {
        self.minimum_calls = n.max(1);
        self
    }

    /// Trip when at least this percentage (0–100] of the window's calls failed.
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder().failure_rate_threshold(25.0).build();
    /// # let _ = b;
    /// ```
    pub fn failure_rate_threshold(mut self, percent: f64) -> Self {
        self.failure_rate = percent;
        self
    }

    /// Trip when at least this percentage (0–100] of the window's calls were slow.
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder().slow_call_rate_threshold(50.0).build();
    /// # let _ = b;
    /// ```
    pub fn slow_call_rate_threshold(mut self, percent: f64) -> Self {
        self.slow_rate = percent;
        self
    }

    /// A call taking at least this long is slow.
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder().slow_call_duration(std::time::Duration::from_secs(1)).build();
    /// # let _ = b;
    /// ```
    pub fn slow_call_duration(mut self, d: Duration) -> Self {
        self.slow_duration = d;
        self
    }

    /// How long the circuit stays open before letting trial calls through.
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder().open_duration(std::time::Duration::from_secs(10)).build();
    /// # let _ = b;
    /// ```
    pub fn open_duration(mut self, d: Duration) -> Self {
        self.open_duration = d;
        self
    }

    /// How many trial calls half-open admits; when they have all completed,
    /// their rates decide between closed and open (0 is treated as 1).
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder().half_open_calls(1).build();
    /// # let _ = b;
    /// ```
    pub fn half_open_calls(mut self, n: u32) -> Self {
        self.half_open_calls = n.max(1);
        self
    }

    /// Calls `f` after every state change (outside the breaker's lock, so
    /// `f` may query the breaker).
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder().on_state_change(|change| println!("{change:?}")).build();
    /// # let _ = b;
    /// ```
    pub fn on_state_change(mut self, f: impl Fn(StateChange) + Send + Sync + 'static) -> Self {
        self.listener = Some(Arc::new(f));
        self
    }

    /// Builds the breaker, closed.
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder().build();
    /// # let _ = b;
    /// ```
    pub fn build(self) -> Breaker {
        let minimum_calls = match self.window {
            SlidingWindow::Count(n) => self.minimum_calls.min(n.max(1) as u64),
            SlidingWindow::Time(_) => self.minimum_calls,
        };
        Breaker {
            shared: Arc::new(Shared {
                gate: AtomicU64::new(gate(0, State::Closed)),
                machine: Mutex::new(Machine {
                    state: State::Closed,
                    epoch: 0,
                    opened_at: Instant::now(),
                    window: Window::new(self.window),
                    trials: Trials::default(),
                }),
                window: self.window,
                minimum_calls,
                failure_rate: self.failure_rate,
                slow_rate: self.slow_rate,
                slow_duration: self.slow_duration,
                open_duration: self.open_duration,
                half_open_calls: self.half_open_calls,
                listener: self.listener,
            }),
        }
    }
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
    slow_rate: f64,
    slow_duration: Duration,
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
        Builder {
            window: SlidingWindow::Count(100),
            minimum_calls: 20,
            failure_rate: 50.0,
            slow_rate: 100.0,
            slow_duration: Duration::from_secs(60),
            open_duration: Duration::from_secs(30),
            half_open_calls: 5,
            listener: None,
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

    /// Records a completed call admitted with `ticket`.
    pub(crate) fn record(
        &self,
        mut ticket: Ticket,
        outcome: Outcome,
        elapsed: Duration,
        now: Instant,
    ) {
        ticket.done = true;
        let s = &*self.shared;
        let change = {
            let mut m = self.lock();
            if m.epoch != ticket.epoch {
                return;
            }
            let failed = outcome == Outcome::Failure;
            let slow = elapsed >= s.slow_duration;
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
                            || reaches(t.slow, t.calls, s.slow_rate));
                    if trip {
                        self.transition(&mut m, State::Open, now)
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
                            || reaches(u64::from(t.slow), total, s.slow_rate);
                        let to = if reopen { State::Open } else { State::Closed };
                        self.transition(&mut m, to, now)
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
    pub(crate) fn record(self, outcome: Outcome, elapsed: Duration, now: Instant) {
        let breaker = self.breaker.clone();
        breaker.record(self, outcome, elapsed, now);
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
