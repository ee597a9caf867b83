//! `tracing` events, compiled in with the `tracing` feature and to nothing
//! without it.

use std::time::Duration;

use crate::{Phase, Reason};

#[cfg(feature = "tracing")]
pub(crate) fn triggered(reason: &Reason) {
    tracing::info!(target: "evenkeel_shutdown", %reason, exit_code = reason.exit_code(), "shutdown triggered");
}

#[cfg(feature = "tracing")]
pub(crate) fn phase(phase: Phase) {
    tracing::info!(target: "evenkeel_shutdown", ?phase, "shutdown phase changed");
}

#[cfg(feature = "tracing")]
pub(crate) fn forced() {
    tracing::warn!(target: "evenkeel_shutdown", "shutdown forced: the drain is being abandoned");
}

#[cfg(feature = "tracing")]
pub(crate) fn timed_out(outstanding: usize, elapsed: Duration) {
    tracing::warn!(
        target: "evenkeel_shutdown",
        outstanding,
        elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        "drain deadline passed with work still running"
    );
}

#[cfg(not(feature = "tracing"))]
pub(crate) fn triggered(_reason: &Reason) {}

#[cfg(not(feature = "tracing"))]
pub(crate) fn phase(_phase: Phase) {}

#[cfg(not(feature = "tracing"))]
pub(crate) fn forced() {}

#[cfg(not(feature = "tracing"))]
pub(crate) fn timed_out(_outstanding: usize, _elapsed: Duration) {}
