//! The job mix: what each submitted job asks the server to do.
//!
//! A job is `{"payload": {...}, "work_ms": N, "fail_rate": F, "downstream":
//! B}`. `work_ms` is drawn uniformly from a range so the workers see uneven
//! jobs (as real queues do); `downstream` is true for a configurable share
//! of jobs, so only those exercise the flaky downstream and its circuit
//! breaker. The draws come from the caller's RNG, seeded per job by the
//! generator, so a seed replays the same mix.

use bytes::Bytes;
use rand::Rng;

/// The distribution jobs are drawn from.
///
/// # Defaults
///
/// `work_ms` 10..=100, `fail_rate` 0, `downstream_share` 0.
///
/// # Example
///
/// ```
/// use evenkeel_demo::load::JobMix;
///
/// let mix = JobMix { downstream_share: 1.0, ..JobMix::default() };
/// assert_eq!(mix.work_ms, (10, 100));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JobMix {
    /// Inclusive range of simulated work per attempt, in milliseconds.
    pub work_ms: (u64, u64),
    /// Chance (0..=1) that an attempt of the job fails transiently.
    pub fail_rate: f64,
    /// Share (0..=1) of jobs that call the downstream.
    pub downstream_share: f64,
}

impl Default for JobMix {
    fn default() -> Self {
        Self {
            work_ms: (10, 100),
            fail_rate: 0.0,
            downstream_share: 0.0,
        }
    }
}

impl JobMix {
    /// The JSON body of job number `seq`, drawn with `rng`.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_demo::load::JobMix;
    /// use rand::SeedableRng;
    ///
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    /// let body = JobMix::default().body(7, "demo", &mut rng);
    /// let job: serde_json::Value = serde_json::from_slice(&body).unwrap();
    /// assert_eq!(job["payload"]["seq"], 7);
    /// assert!(job["work_ms"].as_u64().unwrap() <= 100);
    /// ```
    pub fn body(&self, seq: u64, label: &str, rng: &mut impl Rng) -> Bytes {
        let (low, high) = self.work_ms;
        let work_ms = rng.random_range(low..=high.max(low));
        let downstream = rng.random::<f64>() < self.downstream_share;
        let job = serde_json::json!({
            "payload": {"seq": seq, "from": label},
            "work_ms": work_ms,
            "fail_rate": self.fail_rate,
            "downstream": downstream,
        });
        Bytes::from(job.to_string())
    }
}
