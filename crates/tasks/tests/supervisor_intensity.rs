//! Property test of the restart intensity on the real supervisor (paused
//! time): for any run-then-fail script, any intensity and any restart delay,
//! the supervisor never makes more than `max_restarts` restarts within any
//! `window`, and it gives up exactly at the first exit that would need one
//! restart too many, not earlier and not later.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use evenkeel_retry::Backoff;
use evenkeel_shutdown::Shutdown;
use evenkeel_tasks::{ChildSpec, Supervisor, SupervisorError};
use proptest::prelude::*;
use support::Recorder;
use tokio_util::sync::CancellationToken;

/// What the intensity rule predicts: the instants (ms) of the restarts, and
/// the instant of the give-up if there is one.
fn predict(runs: &[u64], delay: u64, max: u32, window: u64) -> (Vec<u64>, Option<u64>) {
    let mut restarts: Vec<u64> = Vec::new();
    let mut start = 0;
    for &run in runs {
        let exit = start + run;
        let recent = restarts.iter().filter(|&&at| exit - at < window).count();
        if recent >= max as usize {
            return (restarts, Some(exit));
        }
        restarts.push(exit);
        start = exit + delay;
    }
    (restarts, None)
}

/// Runs the supervisor over the script: start `k` runs `runs[k]` ms and
/// fails; after the script the child serves until the drain stops it.
fn observe(runs: Vec<u64>, delay: u64, max: u32, window: u64) -> (Vec<u64>, Option<u64>, bool) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let script = Arc::new(runs);
        let starts = Arc::new(AtomicUsize::new(0));
        let total: u64 = script.iter().map(|run| run + delay).sum();
        let recorder = Recorder::new();
        let supervisor = Supervisor::new()
            .intensity(max, Duration::from_millis(window))
            .backoff(Backoff::constant(Duration::from_millis(delay)).without_max_attempts())
            .reset_after(Duration::MAX)
            .child(ChildSpec::new(
                "scripted",
                move |token: CancellationToken| {
                    let run = script.get(starts.fetch_add(1, Ordering::SeqCst)).copied();
                    async move {
                        if let Some(run) = run {
                            tokio::time::sleep(Duration::from_millis(run)).await;
                            Err("scripted failure")
                        } else {
                            token.cancelled().await;
                            Ok(())
                        }
                    }
                },
            ))
            .on_event(recorder.callback());
        let shutdown = Shutdown::new();
        let running = tokio::spawn(supervisor.run(shutdown.clone()));
        tokio::time::sleep(Duration::from_millis(total + 1_000)).await;
        shutdown.drain(Duration::from_secs(60)).await;
        let outcome = running.await.expect("the supervisor does not panic");
        let ms = |at: u128| u64::try_from(at).expect("short test");
        let restarts = recorder
            .matching("restart")
            .into_iter()
            .map(|(at, _)| ms(at))
            .collect();
        let gave_up = recorder.matching("gave up").first().map(|(at, _)| ms(*at));
        let exceeded = matches!(outcome, Err(SupervisorError::IntensityExceeded { .. }));
        (restarts, gave_up, exceeded)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Never more than `max` restarts within any window, and the give-up
    /// happens exactly at the first exit that would exceed the intensity.
    #[test]
    fn never_more_than_the_intensity_and_gives_up_exactly_when_exceeded(
        runs in proptest::collection::vec(0u64..400, 0..24),
        delay in 0u64..200,
        max in 0u32..6,
        window in 1u64..2_000,
    ) {
        let (restarts, gave_up, exceeded) = observe(runs.clone(), delay, max, window);
        for (k, &first) in restarts.iter().enumerate() {
            let within = restarts[k..].iter().filter(|&&at| at - first < window).count();
            prop_assert!(within <= max as usize, "{within} restarts within {window} ms: {restarts:?}");
        }
        let (expected_restarts, expected_give_up) = predict(&runs, delay, max, window);
        prop_assert_eq!(&restarts, &expected_restarts);
        prop_assert_eq!(gave_up, expected_give_up);
        prop_assert_eq!(exceeded, expected_give_up.is_some());
    }
}
