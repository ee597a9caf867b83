//! Seeding a [`Backoff`]'s jitter: a fixed seed for reproducible delays,
//! and streams of one seed for the clones a runner makes per request.
//!
//! An unseeded backoff draws fresh entropy for every clone, which is what
//! production wants. A test wants the opposite, the same delays on every
//! run; and a tower layer that clones one seeded template per request wants
//! both: reproducible, yet different from one request to the next (or its
//! requests would retry in lockstep). Streams give that: stream `n` of a
//! seed is its own reproducible sequence.

use super::{Backoff, schedule};

impl Backoff {
    /// Makes the jitter deterministic: the same seed gives the same delays.
    /// Default: a random seed per backoff.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::{Backoff, Jitter};
    ///
    /// let b = || Backoff::exponential(Duration::from_millis(10)).jitter(Jitter::Full);
    /// let a: Vec<_> = b().seed(42).take(5).collect();
    /// assert_eq!(a, b().seed(42).take(5).collect::<Vec<_>>());
    /// ```
    #[must_use]
    #[inline]
    pub fn seed(mut self, seed: u64) -> Self {
        self.c.seed = seed;
        self.c.flags.set_seeded();
        if let Some(p) = self.p.as_mut() {
            p.rng = None; // drawn from the seed on the next jittered delay
        }
        self
    }

    /// Moves a seeded backoff to stream `n` of its seed: the same seed and
    /// stream always give the same jitter, while different streams of one
    /// seed give independent jitter. Stream 0 is the seed's own, so
    /// `seed(s)` alone is `seed(s).seed_stream(0)`; streams compose (stream
    /// `m` of stream `n` is another stream of the seed). No effect on an
    /// unseeded backoff (it draws fresh entropy anyway).
    ///
    /// A runner that clones one seeded template per request gives each clone
    /// its own stream (a counter), so requests do not jitter in lockstep and
    /// a test stays reproducible.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::{Backoff, Jitter};
    ///
    /// let template = Backoff::exponential(Duration::from_millis(10)).jitter(Jitter::Full).seed(7);
    /// let a: Vec<_> = template.clone().seed_stream(1).collect();
    /// let b: Vec<_> = template.clone().seed_stream(2).collect();
    /// assert_ne!(a, b);
    /// assert_eq!(a, template.clone().seed_stream(1).collect::<Vec<_>>());
    /// ```
    #[must_use]
    #[inline]
    pub fn seed_stream(mut self, n: u64) -> Self {
        if self.c.flags.seeded() {
            self.c.seed = schedule::stream_seed(self.c.seed, n);
            if let Some(p) = self.p.as_mut() {
                p.rng = None; // drawn from the new seed on the next jittered delay
            }
        }
        self
    }

    /// Whether [`seed`](Backoff::seed) was called: the jitter is then
    /// reproducible (and clones repeat it unless given their own
    /// [`seed_stream`](Backoff::seed_stream)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// assert!(!Backoff::constant(Duration::ZERO).is_seeded());
    /// assert!(Backoff::constant(Duration::ZERO).seed(1).is_seeded());
    /// ```
    #[inline]
    pub fn is_seeded(&self) -> bool {
        self.c.flags.seeded()
    }
}
