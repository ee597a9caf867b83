//! Restart intensity: at most `max` restarts within any `window`.
//!
//! The supervisor records the instant of each restart it decides on. A new
//! restart is allowed when fewer than `max` recorded restarts lie within the
//! `window` that ends now; otherwise the supervisor gives up. Old entries are
//! dropped as the window slides, so the memory used is at most `max` entries.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// The sliding record of recent restarts.
#[derive(Debug, Clone)]
pub(crate) struct Intensity {
    max: u32,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl Intensity {
    pub(crate) fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            recent: VecDeque::new(),
        }
    }

    pub(crate) fn max(&self) -> u32 {
        self.max
    }

    pub(crate) fn window(&self) -> Duration {
        self.window
    }

    /// Records a restart at `now` if the intensity allows it; returns whether
    /// it did. Instants must not go backwards (tokio's clock does not).
    pub(crate) fn try_record(&mut self, now: Instant) -> bool {
        // A restart at `t` is inside the window ending at `now` when
        // `now - t < window`.
        while let Some(&oldest) = self.recent.front() {
            if now.saturating_duration_since(oldest) >= self.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        let within = u32::try_from(self.recent.len()).unwrap_or(u32::MAX);
        if within >= self.max {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    /// Exactly `max` restarts fit in one window; the next one is refused,
    /// and once the oldest slides out, one more fits.
    #[test]
    fn allows_max_then_refuses_until_the_window_slides() {
        let base = Instant::now();
        let mut i = Intensity::new(2, Duration::from_secs(1));
        assert!(i.try_record(at(base, 0)));
        assert!(i.try_record(at(base, 100)));
        assert!(!i.try_record(at(base, 999)));
        assert!(i.try_record(at(base, 1000)));
    }

    /// With a maximum of zero no restart is ever allowed.
    #[test]
    fn zero_means_never() {
        let mut i = Intensity::new(0, Duration::from_secs(1));
        assert!(!i.try_record(Instant::now()));
    }

    proptest! {
        /// For any sequence of restart times, the accepted ones never put
        /// more than `max` restarts in any window, and a refusal only
        /// happens when `max` accepted restarts lie in the window ending
        /// then (so nothing is refused needlessly).
        #[test]
        fn accepted_restarts_never_exceed_max_in_any_window(
            max in 0u32..6,
            window_ms in 1u64..500,
            gaps in proptest::collection::vec(0u64..200, 0..60),
        ) {
            let base = Instant::now();
            let window = Duration::from_millis(window_ms);
            let mut intensity = Intensity::new(max, window);
            let mut now = 0;
            let mut accepted: Vec<u64> = Vec::new();
            for gap in gaps {
                now += gap;
                let in_window = accepted.iter().filter(|&&t| now - t < window_ms).count();
                let ok = intensity.try_record(at(base, now));
                prop_assert_eq!(ok, in_window < max as usize);
                if ok {
                    accepted.push(now);
                }
            }
            for (k, &start) in accepted.iter().enumerate() {
                let inside = accepted[k..].iter().filter(|&&t| t - start < window_ms).count();
                prop_assert!(inside <= max as usize);
            }
        }
    }
}
