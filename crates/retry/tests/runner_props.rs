//! Property tests for the runner's limits, each case in its own paused-time
//! runtime: attempts never exceed `max_attempts`, and the deadline is never
//! overshot, whatever the delays and attempt durations.

use std::cell::Cell;
use std::time::Duration;

use evenkeel_retry::{Backoff, Decision, Jitter, RetryError, retry};
use proptest::prelude::*;
use tokio::time::{Instant, sleep};

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("test setup: a current-thread runtime builds")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// An always-failing operation is called exactly `max(1, max_attempts)`
    /// times, with or without retry-after hints.
    #[test]
    fn attempts_never_exceed_max_attempts(n in 0u32..40, hint in any::<bool>(), seed in any::<u64>()) {
        let calls = Cell::new(0u32);
        let result = paused_runtime().block_on(
            retry(
                Backoff::exponential(Duration::from_millis(1)).jitter(Jitter::Full).seed(seed).max_attempts(n),
                || {
                    calls.set(calls.get() + 1);
                    async { Err::<(), _>(()) }
                },
            )
            .classify(|()| if hint { Decision::RetryAfter(Duration::from_secs(1)) } else { Decision::Retry }),
        );
        prop_assert_eq!(calls.get(), n.max(1));
        prop_assert_eq!(result.map_err(|e| e.attempts()), Err(n.max(1)));
    }

    /// Whatever the delays, hints and attempt durations, the loop ends no
    /// later than its deadline, and ends `TimedOut` when it did not succeed.
    #[test]
    fn deadline_is_never_overshot(
        delay_ms in 0u64..800,
        work_ms in prop::collection::vec(0u64..1_500, 1..20),
        deadline_ms in 0u64..3_000,
        hint_ms in prop::option::of(0u64..2_000),
        succeed_at in 0usize..25,
    ) {
        let deadline = Duration::from_millis(deadline_ms);
        let call = Cell::new(0usize);
        let rt = paused_runtime();
        let (elapsed, result) = rt.block_on(async {
            let start = Instant::now();
            let endless = Backoff::constant(Duration::from_millis(delay_ms)).without_max_attempts();
            let result = retry(endless, || {
                let n = call.get();
                call.set(n + 1);
                let work = Duration::from_millis(work_ms[n % work_ms.len()]);
                async move {
                    sleep(work).await;
                    if n == succeed_at { Ok(n) } else { Err(n) }
                }
            })
            .classify(|_| hint_ms.map_or(Decision::Retry, |ms| Decision::RetryAfter(Duration::from_millis(ms))))
            .deadline(deadline)
            .await;
            (start.elapsed(), result)
        });
        prop_assert!(elapsed <= deadline, "{elapsed:?} > {deadline:?}");
        if let Err(e) = result {
            prop_assert!(matches!(e, RetryError::TimedOut { .. }), "{e:?}");
        }
    }
}
