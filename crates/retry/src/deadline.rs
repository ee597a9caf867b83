//! Deadlines that never overflow.
//!
//! `Instant + Duration` panics when the sum does not fit, and a caller who
//! means "no limit" naturally writes `Duration::MAX`. Every evenkeel crate
//! that turns a duration into a deadline goes through [`saturating_deadline`],
//! so a huge duration means "effectively never" instead of a panic. This is
//! the one copy of that rule in the workspace.

use std::time::Duration;

use tokio::time::Instant;

/// How far ahead "never" is: about thirty years. tokio's timer wheel accepts
/// deadlines this far out, and no process waits that long.
pub const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `start + after`, saturated: a sum that would overflow (or lie further
/// ahead than [`FAR_FUTURE`]) becomes `start + FAR_FUTURE`.
///
/// Never panics, for any input.
///
/// ```
/// use std::time::Duration;
/// use evenkeel_retry::saturating_deadline;
/// use tokio::time::Instant;
///
/// let now = Instant::now();
/// assert_eq!(saturating_deadline(now, Duration::from_secs(5)), now + Duration::from_secs(5));
/// // `Duration::MAX` means "never", not a panic.
/// assert!(saturating_deadline(now, Duration::MAX) > now + Duration::from_secs(86_400 * 365));
/// ```
#[must_use]
pub fn saturating_deadline(start: Instant, after: Duration) -> Instant {
    let after = after.min(FAR_FUTURE);
    start.checked_add(after).unwrap_or(start)
}

/// `Instant::now() + after`, saturated as [`saturating_deadline`] does.
///
/// ```
/// use std::time::Duration;
/// use evenkeel_retry::deadline_after;
///
/// let _never = deadline_after(Duration::MAX); // no panic
/// ```
#[must_use]
pub fn deadline_after(after: Duration) -> Instant {
    saturating_deadline(Instant::now(), after)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins that the largest durations saturate instead of panicking, and
    /// that ordinary sums are exact.
    #[test]
    fn saturates_instead_of_panicking() {
        let now = Instant::now();
        assert_eq!(saturating_deadline(now, Duration::ZERO), now);
        assert_eq!(
            saturating_deadline(now, Duration::from_millis(1500)),
            now + Duration::from_millis(1500)
        );
        assert_eq!(saturating_deadline(now, Duration::MAX), now + FAR_FUTURE);
        assert_eq!(
            saturating_deadline(now, FAR_FUTURE + Duration::from_secs(1)),
            now + FAR_FUTURE
        );
    }
}
