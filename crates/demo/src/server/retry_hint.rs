//! `Retry-After` for a full queue, derived from what the server measures.
//!
//! A constant hint is wrong both ways: too long when the workers are fast
//! (clients idle while the queue empties in a blink), too short when they
//! are slow (clients come back to a queue that is still full, and are
//! refused again). The honest estimate of "when will there be room" is the
//! time the workers need to get through what is waiting:
//!
//! ```text
//! retry_after = clamp(waiting / completion_rate, MIN_HINT, MAX_HINT)
//! ```
//!
//! where `waiting` is the jobs waiting in the job store (ready or
//! delayed), and `completion_rate` is jobs finished (succeeded or dead) per
//! second over the last [`WINDOW`], from samples a background task takes
//! every [`SAMPLE_EVERY`]. Both numbers come from the store's counts
//! (`JobStore::stats`, which the sampler refreshes before each sample), so
//! with a shared PostgreSQL store they cover every server's workers. The
//! finished count drops when old records are pruned; an interval in which
//! it dropped counts as no completions (a moment's overestimate).
//!
//! The rate counts only the time when jobs were waiting. Over a window in
//! which the server sat idle, completions per second measure the demand,
//! not what the workers can do: after a quiet spell, a sudden burst that
//! fills the queue would be told to wait for minutes although the workers
//! clear it in milliseconds. So an interval between two samples counts only
//! if jobs were waiting at its start; the rate is the jobs finished in those
//! busy intervals over their total length.
//!
//! Without a second of busy history the hint is [`MIN_HINT`] (the queue
//! has only just filled: there is nothing to measure yet); with busy
//! history but no completion at all (the workers are stuck) it is
//! [`MAX_HINT`]. The bounds keep it sane: a hint under a second is not
//! expressible in the header, and a client told to wait minutes would
//! rather go elsewhere.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// How far back the completion rate looks.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);
/// How often the sampler records the completion count and the jobs
/// waiting.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// The smallest hint (and the hint before there is any history).
pub(crate) const MIN_HINT: Duration = Duration::from_secs(1);
/// The largest hint (and the hint when nothing completes).
pub(crate) const MAX_HINT: Duration = Duration::from_secs(30);

type Probe = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The estimator; cheap to clone (shared).
#[derive(Clone)]
pub(crate) struct RetryHint {
    waiting: Probe,
    finished: Probe,
    samples: Arc<Mutex<VecDeque<Sample>>>,
}

/// One sample: when, jobs finished so far, jobs waiting then.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    finished: u64,
    waiting: u64,
}

impl std::fmt::Debug for RetryHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryHint").finish_non_exhaustive()
    }
}

impl RetryHint {
    /// An estimator reading the jobs waiting and the jobs finished so far.
    pub(crate) fn new(
        waiting: impl Fn() -> u64 + Send + Sync + 'static,
        finished: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Self {
        Self {
            waiting: Arc::new(waiting),
            finished: Arc::new(finished),
            samples: Arc::default(),
        }
    }

    fn samples(&self) -> std::sync::MutexGuard<'_, VecDeque<Sample>> {
        // Push and pop leave the deque consistent: take a poisoned lock as is.
        self.samples.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> Sample {
        Sample {
            at: Instant::now(),
            finished: (self.finished)(),
            waiting: (self.waiting)(),
        }
    }

    /// Records the completion count and the jobs waiting now, forgetting
    /// samples older than the window.
    pub(crate) fn sample(&self) {
        let now = self.now();
        let mut samples = self.samples();
        samples.push_back(now);
        while samples
            .front()
            .is_some_and(|s| now.at.duration_since(s.at) > WINDOW)
        {
            samples.pop_front();
        }
    }

    /// Every [`SAMPLE_EVERY`], forever (spawn it): awaits `refresh` (which
    /// updates what the probes read, e.g. the store's counts), then samples.
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe if `refresh` is: otherwise it only sleeps and samples.
    pub(crate) async fn run_sampler<F, Fut>(self, mut refresh: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            refresh().await;
            self.sample();
        }
    }

    /// The hint for a `503 queue_full` now.
    pub(crate) fn queue_full(&self) -> Duration {
        let now = self.now();
        let samples = self.samples();
        let mut busy = Duration::ZERO;
        let mut completed = 0;
        let ends = samples.iter().skip(1).chain(std::iter::once(&now));
        for (start, end) in samples.iter().zip(ends) {
            if start.waiting > 0 {
                busy += end.at.duration_since(start.at);
                completed += end.finished.saturating_sub(start.finished);
            }
        }
        estimate(now.waiting, completed, busy)
    }
}

/// `waiting / (completed / busy)`, bounded to `[MIN_HINT, MAX_HINT]`; see
/// the module docs for the cases without a rate.
pub(crate) fn estimate(waiting: u64, completed: u64, busy: Duration) -> Duration {
    if busy < Duration::from_secs(1) {
        return MIN_HINT;
    }
    if completed == 0 {
        return MAX_HINT;
    }
    let seconds = waiting as f64 * busy.as_secs_f64() / completed as f64;
    Duration::try_from_secs_f64(seconds)
        .unwrap_or(MAX_HINT)
        .clamp(MIN_HINT, MAX_HINT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// The hint is the time to work through the queue at the measured rate,
    /// within its bounds.
    #[test]
    fn estimate_is_depth_over_rate_bounded() {
        let s = Duration::from_secs;
        // 40 waiting, 10 per second: 4 s.
        assert_eq!(estimate(40, 100, s(10)), s(4));
        // Fast workers: under a second rounds up to the floor.
        assert_eq!(estimate(5, 1_000, s(10)), MIN_HINT);
        // Slow workers: capped.
        assert_eq!(estimate(1_000, 1, s(10)), MAX_HINT);
        // Nothing completes: the cap. No history: the floor.
        assert_eq!(estimate(3, 0, s(10)), MAX_HINT);
        assert_eq!(estimate(3, 0, Duration::from_millis(500)), MIN_HINT);
    }

    /// The estimator reads its probes and its samples on tokio's clock, and
    /// counts only the time when jobs were waiting.
    #[tokio::test(start_paused = true)]
    async fn samples_give_the_rate_while_busy() {
        let finished = Arc::new(AtomicU64::new(0));
        let waiting = Arc::new(AtomicU64::new(0));
        let probe = |n: &Arc<AtomicU64>| {
            let n = Arc::clone(n);
            move || n.load(Ordering::Relaxed)
        };
        let hint = RetryHint::new(probe(&waiting), probe(&finished));
        assert_eq!(hint.queue_full(), MIN_HINT, "no history yet");

        // Idle for 4 s (a few jobs trickle through): not a measure of the
        // workers' pace.
        hint.sample();
        tokio::time::advance(Duration::from_secs(4)).await;
        finished.store(4, Ordering::Relaxed);
        hint.sample();
        waiting.store(60, Ordering::Relaxed);
        assert_eq!(hint.queue_full(), MIN_HINT, "no busy history yet");

        // Busy for 5 s at 10 jobs per second: 60 waiting is 6 s.
        hint.sample();
        tokio::time::advance(Duration::from_secs(5)).await;
        finished.store(54, Ordering::Relaxed);
        assert_eq!(hint.queue_full(), Duration::from_secs(6));

        // Samples older than the window are forgotten.
        tokio::time::advance(Duration::from_secs(20)).await;
        hint.sample();
        assert_eq!(hint.queue_full(), MIN_HINT, "only a fresh sample is left");
    }
}
