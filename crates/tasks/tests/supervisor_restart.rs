//! Supervisor restarts: the backoff schedule (exact instants, paused time),
//! the restart intensity, backoff exhaustion and reset, and the OTP restart
//! policies.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use evenkeel_retry::Backoff;
use evenkeel_shutdown::Shutdown;
use evenkeel_tasks::{ChildSpec, Restart, Supervisor, SupervisorError, SupervisorEvent, TaskError};
use support::Recorder;
use tokio_util::sync::CancellationToken;

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A child that fails its first `failures` starts at once, then serves until
/// its token is cancelled.
fn fails_first(name: &'static str, failures: u32) -> ChildSpec {
    let mut starts = 0;
    ChildSpec::new(name, move |token: CancellationToken| {
        starts += 1;
        let attempt = starts;
        async move {
            if attempt <= failures {
                return Err(format!("attempt {attempt}"));
            }
            token.cancelled().await;
            Ok(())
        }
    })
}

/// Triggers `shutdown` when `child` starts for the `nth` time (0-based).
fn stop_at_start(
    recorder: &Recorder,
    shutdown: &Shutdown,
    nth: u32,
) -> impl Fn(&SupervisorEvent) + Send + Sync + 'static {
    let record = recorder.callback();
    let shutdown = shutdown.clone();
    move |event| {
        record(event);
        if matches!(event, SupervisorEvent::Started { restarts, .. } if *restarts == nth) {
            support::drain_now(&shutdown);
        }
    }
}

/// Restarts happen exactly on the exponential schedule: 100, 200, 400,
/// 800 ms after each failure, so starts at 0, 100, 300, 700, 1500 ms.
#[tokio::test(start_paused = true)]
async fn restarts_follow_the_backoff_schedule_exactly() {
    let shutdown = Shutdown::new();
    let recorder = Recorder::new();
    let supervisor = Supervisor::new()
        .intensity(10, Duration::from_secs(10))
        .backoff(Backoff::exponential(ms(100)).without_max_attempts())
        .child(fails_first("flaky", 4))
        .on_event(stop_at_start(&recorder, &shutdown, 4));
    supervisor.run(shutdown).await.unwrap();
    let starts: Vec<u128> = recorder
        .matching("start")
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(starts, [0, 100, 300, 700, 1500]);
    let delays: Vec<String> = recorder
        .matching("restart")
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        delays,
        [
            "restart flaky #1 in 100ms",
            "restart flaky #2 in 200ms",
            "restart flaky #3 in 400ms",
            "restart flaky #4 in 800ms",
        ]
    );
}

/// With at most 2 restarts per second, the third failure within the second
/// makes the supervisor give up, at that instant, saying which child and
/// how it last exited.
#[tokio::test(start_paused = true)]
async fn gives_up_once_the_intensity_is_exceeded() {
    let recorder = Recorder::new();
    let supervisor = Supervisor::new()
        .intensity(2, Duration::from_secs(1))
        .backoff(Backoff::constant(ms(10)))
        .child(fails_first("crasher", u32::MAX))
        .on_event(recorder.callback());
    let start = tokio::time::Instant::now();
    let error = supervisor.run(Shutdown::new()).await.unwrap_err();
    assert_eq!(start.elapsed(), ms(20));
    match &error {
        SupervisorError::IntensityExceeded {
            child,
            restarts,
            window,
            last_exit: Some(TaskError::Failed { error, .. }),
        } => {
            assert_eq!(child, "crasher");
            assert_eq!((*restarts, *window), (2, Duration::from_secs(1)));
            assert_eq!(error.to_string(), "attempt 3");
        }
        other => panic!("unexpected: {other:?}"),
    }
    assert_eq!(
        recorder.descriptions().last().unwrap(),
        "gave up: child `crasher` needed more than 2 restarts within 1s"
    );
    assert_eq!(recorder.matching("start").len(), 3);
}

/// Failures spaced wider than the window never exceed the intensity.
#[tokio::test(start_paused = true)]
async fn spaced_out_failures_stay_within_the_intensity() {
    let shutdown = Shutdown::new();
    let recorder = Recorder::new();
    let mut starts = 0;
    let child = ChildSpec::new("slow-crasher", move |token: CancellationToken| {
        starts += 1;
        let attempt = starts;
        async move {
            if attempt > 5 {
                token.cancelled().await;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            Err(format!("attempt {attempt}"))
        }
    });
    let supervisor = Supervisor::new()
        .intensity(1, Duration::from_secs(1))
        .backoff(Backoff::constant(ms(100)))
        .child(child)
        .on_event(stop_at_start(&recorder, &shutdown, 5));
    supervisor.run(shutdown).await.unwrap();
    assert_eq!(recorder.matching("start").len(), 6);
}

/// A backoff schedule that runs out (`max_attempts(3)`: two delays) makes the
/// supervisor give up at the third failure.
#[tokio::test(start_paused = true)]
async fn an_exhausted_backoff_gives_up() {
    let supervisor = Supervisor::new()
        .intensity(100, Duration::from_secs(1))
        .child(fails_first("limited", u32::MAX).backoff(Backoff::constant(ms(10)).max_attempts(3)));
    let error = supervisor.run(Shutdown::new()).await.unwrap_err();
    assert!(matches!(
        error,
        SupervisorError::BackoffExhausted { ref child, restarts: 2, last_exit: Some(_) } if child == "limited"
    ));
}

/// A child that ran at least `reset_after` before failing starts its
/// backoff over: delays 100, 200, then 100 again after a stable run.
#[tokio::test(start_paused = true)]
async fn a_stable_run_resets_the_backoff() {
    let shutdown = Shutdown::new();
    let recorder = Recorder::new();
    let mut starts = 0;
    let child = ChildSpec::new("sometimes", move |token: CancellationToken| {
        starts += 1;
        let attempt = starts;
        async move {
            match attempt {
                1 | 2 => Err("early".to_string()),
                3 => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Err("after a stable run".to_string())
                }
                _ => {
                    token.cancelled().await;
                    Ok(())
                }
            }
        }
    });
    let supervisor = Supervisor::new()
        .intensity(100, Duration::from_secs(1))
        .reset_after(Duration::from_secs(1))
        .backoff(Backoff::exponential(ms(100)))
        .child(child)
        .on_event(stop_at_start(&recorder, &shutdown, 3));
    supervisor.run(shutdown).await.unwrap();
    let delays: Vec<String> = recorder
        .matching("restart")
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        delays,
        [
            "restart sometimes #1 in 100ms",
            "restart sometimes #2 in 200ms",
            "restart sometimes #3 in 100ms",
        ]
    );
}

/// The OTP policies: Permanent is restarted even after `Ok`, Transient only
/// after an error or panic, Temporary never.
#[tokio::test(start_paused = true)]
async fn restart_policies_follow_otp() {
    let counts: Vec<Arc<AtomicU32>> = (0..5).map(|_| Arc::default()).collect();
    let child =
        |name: &'static str, restart: Restart, index: usize, first: Result<(), &'static str>| {
            let count = Arc::clone(&counts[index]);
            ChildSpec::new(name, move |token: CancellationToken| {
                let n = count.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        assert!(first != Err("panic"), "first run panics");
                        return first.map_err(ToString::to_string);
                    }
                    token.cancelled().await;
                    Ok::<(), String>(())
                }
            })
            .restart(restart)
        };
    let shutdown = Shutdown::new();
    let supervisor = Supervisor::new()
        .intensity(100, Duration::from_secs(1))
        .child(child("permanent-ok", Restart::Permanent, 0, Ok(())))
        .child(child("transient-ok", Restart::Transient, 1, Ok(())))
        .child(child("transient-err", Restart::Transient, 2, Err("boom")))
        .child(child(
            "transient-panic",
            Restart::Transient,
            3,
            Err("panic"),
        ))
        .child(child("temporary-err", Restart::Temporary, 4, Err("boom")));
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.drain(Duration::from_secs(3600)).await;
    });
    supervisor.run(shutdown).await.unwrap();
    let starts: Vec<u32> = counts.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(starts, [2, 1, 2, 2, 1]);
}

/// When no child is left to run (all Temporary, done), `run` returns `Ok`
/// without any shutdown.
#[tokio::test(start_paused = true)]
async fn returns_when_no_child_is_left() {
    let recorder = Recorder::new();
    let supervisor = Supervisor::new()
        .child(
            ChildSpec::new("one-off", |_| async { Ok::<(), String>(()) })
                .restart(Restart::Temporary),
        )
        .child(
            ChildSpec::new("bad-one-off", |_| async { Err::<(), _>("nope") })
                .restart(Restart::Temporary),
        )
        .on_event(recorder.callback());
    supervisor.run(Shutdown::new()).await.unwrap();
    assert_eq!(
        recorder.descriptions(),
        [
            "start one-off #0",
            "start bad-one-off #0",
            "exit one-off ok",
            "exit bad-one-off failed: nope",
        ]
    );
}

/// A child that panics is reported with its message and restarted; so is a
/// factory that panics while building the future (the supervisor itself
/// does not go down).
#[tokio::test(start_paused = true)]
async fn panics_in_child_or_factory_are_reported_and_restarted() {
    let shutdown = Shutdown::new();
    let recorder = Recorder::new();
    let mut starts = 0;
    let child = ChildSpec::new("fragile", move |token: CancellationToken| {
        starts += 1;
        let attempt = starts;
        assert!(attempt != 2, "factory failed on attempt {attempt}");
        async move {
            assert!(attempt != 1, "child failed on attempt {attempt}");
            token.cancelled().await;
            Ok::<(), String>(())
        }
    })
    .restart(Restart::Transient);
    let supervisor = Supervisor::new()
        .backoff(Backoff::constant(ms(10)))
        .child(child)
        .on_event(stop_at_start(&recorder, &shutdown, 2));
    supervisor.run(shutdown).await.unwrap();
    let exits: Vec<String> = recorder
        .matching("exit")
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        exits,
        [
            "exit fragile panicked: child failed on attempt 1",
            "exit fragile panicked: factory failed on attempt 2",
            "exit fragile ok",
        ]
    );
}
