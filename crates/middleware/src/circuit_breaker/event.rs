//! What a circuit breaker reports: [`StateChange`] and [`BreakerEvent`].
//!
//! Events are delivered after the breaker's lock is released, on the task
//! whose call caused them, to the listeners set with
//! [`Builder::on_event`](super::Builder::on_event) and
//! [`Builder::on_state_change`](super::Builder::on_state_change); with the
//! `tracing` feature they are also `tracing` events (target
//! `evenkeel_middleware::circuit_breaker`: transitions at `warn` when
//! opening and `info` otherwise, rejections at `debug`, slow calls at
//! `debug`).

use std::time::Duration;

use super::breaker::State;

/// A state transition, passed to the
/// [`on_state_change`](super::Builder::on_state_change) callback.
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

/// Everything a breaker reports to its
/// [`on_event`](super::Builder::on_event) listener.
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::circuit_breaker::{BreakerEvent, State};
///
/// let e = BreakerEvent::Rejected { state: State::Open, retry_after: Duration::from_secs(3) };
/// assert!(matches!(e, BreakerEvent::Rejected { state: State::Open, .. }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum BreakerEvent {
    /// The state changed.
    Transition {
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
        /// The failure rate (percent) that decided it: over the window when
        /// a closed circuit opens, over the trial calls when half-open
        /// decides; `None` for time-driven and manual transitions.
        failure_rate: Option<f64>,
        /// The slow-call rate (percent) that decided it, when slow calls
        /// are measured; `None` otherwise.
        slow_call_rate: Option<f64>,
    },
    /// A call was refused (open, forced open, or every half-open trial
    /// slot taken).
    Rejected {
        /// The state that refused it.
        state: State,
        /// The retry-after hint it carried.
        retry_after: Duration,
    },
    /// A call admitted by this breaker took at least the slow-call
    /// duration.
    SlowCall {
        /// How long it took (to its response; see the module docs).
        elapsed: Duration,
    },
}

impl BreakerEvent {
    /// Reports this event to `tracing` (feature `tracing`; without it this
    /// does nothing, and `self` goes unused).
    #[cfg_attr(not(feature = "tracing"), allow(clippy::unused_self))]
    pub(super) fn trace(&self) {
        #[cfg(feature = "tracing")]
        match *self {
            Self::Transition {
                from,
                to,
                failure_rate,
                slow_call_rate,
            } => {
                if matches!(to, State::Open | State::ForcedOpen) {
                    tracing::warn!(target: "evenkeel_middleware::circuit_breaker", ?from, ?to, ?failure_rate, ?slow_call_rate, "circuit breaker opened");
                } else {
                    tracing::info!(target: "evenkeel_middleware::circuit_breaker", ?from, ?to, ?failure_rate, ?slow_call_rate, "circuit breaker state change");
                }
            }
            Self::Rejected { state, retry_after } => {
                tracing::debug!(target: "evenkeel_middleware::circuit_breaker", ?state, ?retry_after, "circuit breaker rejected a call");
            }
            Self::SlowCall { elapsed } => {
                tracing::debug!(target: "evenkeel_middleware::circuit_breaker", ?elapsed, "slow call");
            }
        }
    }
}
