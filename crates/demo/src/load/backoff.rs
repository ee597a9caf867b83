//! How the load generator waits after a rejection.
//!
//! A polite client that gets `503` or `429` with `Retry-After: N` does not
//! come back before N seconds. If every client came back at exactly N,
//! though, they would all arrive together and be rejected together again (a
//! thundering herd), so the wait is N *plus* a random share of N: the hint
//! is a floor, the jitter only spreads clients out after it. Without a hint
//! (a transport error, a 503 from an outage) the wait grows exponentially
//! from `initial`. Every wait is capped by `max`, which also protects the
//! demo from an absurd hint such as `Retry-After: 86400`.

use std::time::Duration;

use rand::Rng;

/// The shape of the waits between a rejected request and its next attempt.
///
/// # Defaults
///
/// `initial` 100 ms, `jitter` 0.5 (up to half the wait again), `max` 5 s.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use evenkeel_demo::load::BackoffPolicy;
///
/// let policy = BackoffPolicy::default();
/// assert_eq!(policy.max, Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackoffPolicy {
    /// The first wait when the server gave no hint; doubles per attempt.
    pub initial: Duration,
    /// Fraction of the base wait added at random, in `0..=1`.
    pub jitter: f64,
    /// Upper bound of every wait, hint or not.
    pub max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            jitter: 0.5,
            max: Duration::from_secs(5),
        }
    }
}

impl BackoffPolicy {
    /// The wait before retry number `attempt` (0 for the first retry), given
    /// the server's `Retry-After` hint if it sent one.
    ///
    /// The result is `min(max, base × (1 + u × jitter))` with `u` uniform in
    /// `[0, 1)` drawn from `rng`, and `base` the hint, or
    /// `initial × 2^attempt` without one.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_demo::load::BackoffPolicy;
    /// use rand::SeedableRng;
    ///
    /// let policy = BackoffPolicy::default();
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    /// let wait = policy.delay(Some(Duration::from_secs(2)), 0, &mut rng);
    /// assert!(wait >= Duration::from_secs(2) && wait <= Duration::from_secs(3));
    /// ```
    pub fn delay(&self, hint: Option<Duration>, attempt: u32, rng: &mut impl Rng) -> Duration {
        let base = hint.unwrap_or_else(|| {
            // 2^16 × initial is already far beyond any sensible cap.
            self.initial.saturating_mul(1 << attempt.min(16))
        });
        let share: f64 = rng.random::<f64>() * self.jitter.clamp(0.0, 1.0);
        let jittered = base.saturating_add(base.mul_f64(share));
        jittered.min(self.max)
    }
}
