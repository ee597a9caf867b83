//! The label sets of the server's metric families, and the states they
//! name: a state is a label value, never a number in a gauge.

use prometheus_client::encoding::EncodeLabelSet;

/// The drain phase, as `evenkeel_drain_phase{phase}` shows it (the
/// discriminants order the phases: a phase only moves forward).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i64)]
pub enum Phase {
    /// Accepting jobs.
    Serving = 0,
    /// Readiness is false; intake still open (pre-drain delay).
    PreDrain = 1,
    /// Intake stopped; queued and running jobs finishing.
    Draining = 2,
    /// Handing unfinished jobs back to the store.
    Releasing = 3,
    /// Done.
    Stopped = 4,
}

impl Phase {
    pub(super) const ALL: [Phase; 5] = [
        Phase::Serving,
        Phase::PreDrain,
        Phase::Draining,
        Phase::Releasing,
        Phase::Stopped,
    ];

    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Serving => "serving",
            Self::PreDrain => "pre_drain",
            Self::Draining => "draining",
            Self::Releasing => "releasing",
            Self::Stopped => "stopped",
        }
    }
}

/// The circuit breaker's state, as `evenkeel_circuit_state{state}` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls pass.
    Closed,
    /// A few trial calls pass.
    HalfOpen,
    /// Calls are refused.
    Open,
}

impl CircuitState {
    pub(super) const ALL: [CircuitState; 3] = [Self::Closed, Self::HalfOpen, Self::Open];

    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half_open",
            Self::Open => "open",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ReasonLabel {
    pub(super) reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct OpLabel {
    pub(super) op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct StateLabel {
    pub(super) to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct CircuitLabel {
    pub(super) state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct PhaseLabel {
    pub(super) phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct OutcomeLabel {
    pub(super) outcome: &'static str,
}

/// Why a job ended `dead`, the label of `evenkeel_dead_letters_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeadReason {
    /// Every allowed attempt failed (or, for a job whose attempts crashed
    /// the process, the store refused to lease it again).
    AttemptsExhausted,
    /// The job's deadline (`--job-timeout`) passed.
    Deadline,
    /// An error that retrying cannot fix (a downstream 4xx, no downstream
    /// configured).
    Permanent,
    /// Its last allowed attempt panicked.
    Panicked,
}

impl DeadReason {
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::AttemptsExhausted => "attempts_exhausted",
            Self::Deadline => "deadline",
            Self::Permanent => "permanent",
            Self::Panicked => "panicked",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct DeadLabel {
    pub(super) reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct HttpLabels {
    pub(super) method: String,
    pub(super) route: String,
    pub(super) status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RouteLabel {
    pub(super) route: String,
}
