//! [`RateLimitStatus`]: what a limiter has left, as rate-limit headers and
//! dashboards want it, read from a GCRA arrival time without changing it.
//!
//! With arrival time `TAT`, interval `T` and tolerance `τ`, a limiter at
//! `now` is `ahead = max(TAT, now) − now` into its burst: it admits
//! `⌊(τ − ahead) / T⌋ + 1` more requests at once (none if `ahead > τ`), and
//! is whole again after `ahead`.

use std::time::Duration;

/// How much of a limiter's burst is left now.
///
/// A reading, not a reservation: another request may spend what it shows.
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::rate_limit::RateLimiter;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let limiter = RateLimiter::new(4, Duration::from_secs(1));
/// limiter.check().unwrap();
/// let status = limiter.status();
/// assert_eq!((status.limit, status.remaining), (4, 3));
/// assert_eq!(status.reset, Duration::from_millis(250));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitStatus {
    /// The burst: requests a rested limiter admits at once.
    pub limit: u32,
    /// Requests it would admit at once now.
    pub remaining: u32,
    /// Time until the whole burst is available again.
    pub reset: Duration,
}

impl RateLimitStatus {
    pub(crate) fn of(tat: u64, now: u64, emission: u64, tolerance: u64, burst: u32) -> Self {
        if emission == 0 {
            return Self {
                limit: burst,
                remaining: burst,
                reset: Duration::ZERO,
            };
        }
        let ahead = tat.max(now) - now;
        let remaining = if ahead > tolerance {
            0
        } else {
            ((tolerance - ahead) / emission).saturating_add(1)
        };
        Self {
            limit: burst,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX).min(burst),
            reset: Duration::from_nanos(ahead),
        }
    }
}
