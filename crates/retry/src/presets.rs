//! Ready-made [`Backoff`] schedules with well-known parameters.
//!
//! Presets are plain builder chains: each can be refined further (for
//! instance `Backoff::grpc().max_attempts(5)`).

use std::time::Duration;

use crate::{Backoff, Jitter};

impl Backoff {
    /// gRPC's connection backoff: 1 s initial delay, factor 1.6, ±20 % jitter
    /// ([`Jitter::Proportional(20)`](Jitter::Proportional)), capped at 120 s
    /// with the jitter drawn within the cap (unlike the gRPC spec, which
    /// jitters past it, so here the cap is a hard bound and the delays at the
    /// cap spread over 96..=120 s). The crate's default attempt limit (4
    /// attempts) applies; add
    /// [`without_max_attempts`](Backoff::without_max_attempts) for the spec's
    /// endless reconnect loop.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// let first = Backoff::grpc().seed(1).next().unwrap();
    /// assert!(first >= Duration::from_millis(800) && first <= Duration::from_millis(1200));
    /// let endless = Backoff::grpc().without_max_attempts();
    /// assert!(endless.take(50).all(|d| d <= Duration::from_secs(120)));
    /// ```
    pub fn grpc() -> Self {
        Self::exponential(Duration::from_secs(1))
            .factor(1.6)
            .jitter(Jitter::Proportional(20))
            .max_delay(Duration::from_secs(120))
    }

    /// The AWS SDKs' "standard" retry mode: full jitter over an exponential
    /// schedule starting at 1 s with factor 2, capped at 20 s, 3 attempts in
    /// all (so at most 2 delays).
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// let delays: Vec<_> = Backoff::aws().collect();
    /// assert_eq!(delays.len(), 2);
    /// assert!(delays[0] <= Duration::from_secs(1) && delays[1] <= Duration::from_secs(2));
    /// ```
    pub fn aws() -> Self {
        Self::exponential(Duration::from_secs(1))
            .jitter(Jitter::Full)
            .max_delay(Duration::from_secs(20))
            .max_attempts(3)
    }
}
