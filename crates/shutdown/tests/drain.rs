//! The drain: it waits for exactly the guards it admitted, refuses the rest,
//! and reports what was outstanding at the deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use evenkeel_shutdown::{DrainReport, Phase, Reason, Shutdown, ShutdownError};

/// With nothing running, the drain completes at once and triggers with
/// `Reason::Requested` when nothing triggered before.
#[tokio::test(start_paused = true)]
async fn empty_drain_completes_at_once_and_triggers() {
    let shutdown = Shutdown::new();
    let report = shutdown.drain(Duration::from_secs(5)).await;
    assert_eq!(
        report,
        DrainReport::Complete {
            elapsed: Duration::ZERO
        }
    );
    assert!(shutdown.reason().unwrap().is_clean());
    assert_eq!(shutdown.phase(), Phase::Done);
}

/// The drain waits for the last guard and reports the exact elapsed time.
#[tokio::test(start_paused = true)]
async fn drain_completes_when_the_last_guard_drops() {
    let shutdown = Shutdown::new();
    for secs in [1, 2, 3] {
        let guard = shutdown.guard().unwrap();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500 * secs)).await;
            drop(guard);
        });
    }
    let report = shutdown.drain(Duration::from_secs(2)).await;
    assert_eq!(
        report,
        DrainReport::Complete {
            elapsed: Duration::from_millis(1500)
        }
    );
    assert_eq!(shutdown.outstanding(), 0);
}

/// At the deadline the drain returns `TimedOut` with the exact number of
/// guards and tracked tasks still running.
#[tokio::test(start_paused = true)]
async fn drain_times_out_with_exact_outstanding_count() {
    let shutdown = Shutdown::new();
    let mut stuck = Vec::new();
    for _ in 0..3 {
        stuck.push(shutdown.guard().unwrap());
    }
    for secs in [1, 5] {
        shutdown
            .spawn(tokio::time::sleep(Duration::from_secs(secs)))
            .unwrap();
    }
    let quick = shutdown.guard().unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(quick);
    });
    let report = shutdown.drain(Duration::from_secs(2)).await;
    // 3 stuck guards + the 5 s task; the 1 s task and the quick guard are done.
    assert_eq!(
        report,
        DrainReport::TimedOut {
            elapsed: Duration::from_secs(2),
            outstanding: 4
        }
    );
    assert_eq!(report.outstanding(), 4);
    drop(stuck);
    assert_eq!(shutdown.outstanding(), 1);
}

/// Guards are refused once the drain has begun; `spawn` and `track` too.
#[tokio::test(start_paused = true)]
async fn guards_refused_after_drain_begins() {
    let shutdown = Shutdown::new();
    let held = shutdown.guard().unwrap();
    let drain = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.drain(Duration::from_secs(10)).await }
    });
    shutdown.wait_for_phase(Phase::Draining).await;
    assert!(matches!(shutdown.guard(), Err(ShutdownError::Draining)));
    assert!(matches!(
        shutdown.spawn(async {}),
        Err(ShutdownError::Draining)
    ));
    assert!(matches!(
        shutdown.track(async {}),
        Err(ShutdownError::Draining)
    ));
    assert_eq!(shutdown.outstanding(), 1, "refusals leave no count behind");
    drop(held);
    assert!(drain.await.unwrap().is_complete());
}

/// Race: many tasks keep taking guards while the drain begins. Every guard
/// that was granted had finished its work when the drain returned, and no
/// guard was granted afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_guard_slips_past_the_drain() {
    const TASKS: usize = 200;
    let shutdown = Shutdown::new();
    let granted = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let shutdown = shutdown.clone();
        let granted = Arc::clone(&granted);
        let finished = Arc::clone(&finished);
        tasks.push(tokio::spawn(async move {
            while let Ok(guard) = shutdown.guard() {
                granted.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await; // the in-flight work
                finished.fetch_add(1, Ordering::SeqCst);
                drop(guard);
                tokio::task::yield_now().await;
            }
        }));
    }
    // Let the intake run until plenty of guards have been granted.
    while granted.load(Ordering::SeqCst) < 5 * TASKS {
        tokio::task::yield_now().await;
    }
    let report = shutdown.drain(Duration::MAX).await;
    let finished_at_drain = finished.load(Ordering::SeqCst);
    let granted_at_drain = granted.load(Ordering::SeqCst);
    assert!(report.is_complete());
    assert_eq!(
        finished_at_drain, granted_at_drain,
        "the drain returned while granted work was still running"
    );
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        granted.load(Ordering::SeqCst),
        granted_at_drain,
        "granted after the drain"
    );
}

/// `track` holds the drain only until the future completes, not until the
/// `Tracked` value is dropped.
#[tokio::test]
async fn tracked_future_releases_on_completion() {
    let shutdown = Shutdown::new();
    let mut tracked = Box::pin(shutdown.track(async { 7 }).unwrap());
    assert_eq!(shutdown.outstanding(), 1);
    assert_eq!(tracked.as_mut().await, 7);
    assert_eq!(shutdown.outstanding(), 0);
}

/// A tracked future that is dropped unfinished releases its guard.
#[tokio::test]
async fn dropped_tracked_future_releases() {
    let shutdown = Shutdown::new();
    let tracked = shutdown.track(std::future::pending::<()>()).unwrap();
    assert_eq!(shutdown.outstanding(), 1);
    drop(tracked);
    assert_eq!(shutdown.outstanding(), 0);
}

/// `spawn` outside a runtime is an error, not a panic, and takes no guard.
#[test]
fn spawn_outside_a_runtime_is_an_error() {
    let shutdown = Shutdown::new();
    assert!(matches!(
        shutdown.spawn(async {}),
        Err(ShutdownError::NoRuntime)
    ));
    assert_eq!(shutdown.outstanding(), 0);
}

/// The pre-drain delay: readiness goes false at the trigger, guards are
/// still granted during the delay, and intake stops when it ends. The delay
/// counts from the trigger, not from the `drain` call.
#[tokio::test(start_paused = true)]
async fn pre_drain_delay_keeps_intake_open_after_trigger() {
    let shutdown = Shutdown::builder()
        .pre_drain_delay(Duration::from_secs(5))
        .build();
    assert!(shutdown.phase().is_ready());
    shutdown.trigger(Reason::Requested);
    assert_eq!(shutdown.phase(), Phase::PreDrain);
    assert!(!shutdown.phase().is_ready());

    tokio::time::sleep(Duration::from_secs(2)).await;
    let drain = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.drain(Duration::from_secs(20)).await }
    });
    tokio::time::sleep(Duration::from_millis(2900)).await;
    let late_admission = shutdown.guard().expect("still in the pre-drain delay");
    assert_eq!(shutdown.phase(), Phase::PreDrain);

    let phase = shutdown.wait_for_phase(Phase::Draining).await;
    assert_eq!(phase, Phase::Draining);
    assert!(shutdown.guard().is_err());
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(late_admission);
    // 3 s of remaining delay + 1 s of work after intake stopped.
    assert_eq!(
        drain.await.unwrap(),
        DrainReport::Complete {
            elapsed: Duration::from_secs(4)
        }
    );
}

/// A pre-drain delay longer than the deadline is cut at the deadline: the
/// drain never takes longer than asked.
#[tokio::test(start_paused = true)]
async fn deadline_bounds_the_pre_drain_delay() {
    let shutdown = Shutdown::builder()
        .pre_drain_delay(Duration::from_secs(60))
        .build();
    let _held = shutdown.guard().unwrap();
    let report = shutdown.drain(Duration::from_secs(10)).await;
    assert_eq!(
        report,
        DrainReport::TimedOut {
            elapsed: Duration::from_secs(10),
            outstanding: 1
        }
    );
    assert!(shutdown.guard().is_err());
}

/// Phases only move forward, and `wait_for_phase` sees each one.
#[tokio::test(start_paused = true)]
async fn phases_move_forward() {
    let shutdown = Shutdown::new();
    let pre = tokio::spawn(shutdown.wait_for_phase(Phase::PreDrain));
    let done = tokio::spawn(shutdown.wait_for_phase(Phase::Done));
    tokio::task::yield_now().await;
    assert!(!pre.is_finished());
    shutdown.trigger(Reason::Requested);
    assert_eq!(pre.await.unwrap(), Phase::PreDrain);
    let guard = shutdown.guard().unwrap();
    let drain = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.drain(Duration::from_secs(1)).await }
    });
    assert_eq!(
        shutdown.wait_for_phase(Phase::Draining).await,
        Phase::Draining
    );
    drop(guard);
    assert_eq!(done.await.unwrap(), Phase::Done);
    assert!(drain.await.unwrap().is_complete());
}

/// Dropping a drain future does not reopen intake; a second drain finishes
/// the wait without a second pre-drain delay.
#[tokio::test(start_paused = true)]
async fn cancelled_drain_keeps_intake_closed() {
    let shutdown = Shutdown::builder()
        .pre_drain_delay(Duration::from_secs(1))
        .build();
    let guard = shutdown.guard().unwrap();
    let first = tokio::time::timeout(Duration::from_secs(3), shutdown.drain(Duration::MAX)).await;
    assert!(first.is_err(), "the guard is still held");
    assert!(shutdown.guard().is_err());
    assert_eq!(shutdown.phase(), Phase::Draining);
    drop(guard);
    assert_eq!(
        shutdown.drain(Duration::from_secs(1)).await,
        DrainReport::Complete {
            elapsed: Duration::ZERO
        }
    );
}

/// The textbook worker-pool exercise, done with guards: four workers, a
/// burst of 20 accepted jobs, then the shutdown. Every accepted job is
/// processed before the drain completes (the `select!` version loses some).
#[tokio::test(start_paused = true)]
async fn burst_then_shutdown_loses_nothing() {
    use tokio::sync::{Mutex, mpsc};

    let shutdown = Shutdown::new();
    let processed = Arc::new(AtomicUsize::new(0));
    let (queue, jobs) = mpsc::channel(32);
    let jobs = Arc::new(Mutex::new(jobs));
    for _ in 0..4 {
        let jobs = Arc::clone(&jobs);
        let processed = Arc::clone(&processed);
        tokio::spawn(async move {
            loop {
                let next = jobs.lock().await.recv().await;
                let Some((job, guard)) = next else { break };
                tokio::time::sleep(Duration::from_millis(10 * job)).await;
                processed.fetch_add(1, Ordering::SeqCst);
                drop(guard);
            }
        });
    }
    for job in 0..20u64 {
        queue.send((job, shutdown.guard().unwrap())).await.unwrap();
    }
    shutdown.trigger(Reason::Requested);
    drop(queue);
    let report = shutdown.drain(Duration::from_secs(60)).await;
    assert!(report.is_complete());
    assert_eq!(processed.load(Ordering::SeqCst), 20);
}

/// `stop_intake` stops intake at once from synchronous code: it triggers,
/// cuts the pre-drain delay short, announces `Draining` (a phase waiter
/// wakes), refuses new guards, and a later `drain` waits only for the
/// guards, with no pre-drain delay.
#[tokio::test(start_paused = true)]
async fn stop_intake_begins_the_drain_at_once() {
    let shutdown = Shutdown::builder()
        .pre_drain_delay(Duration::from_secs(5))
        .build();
    let draining = tokio::spawn(shutdown.wait_for_phase(Phase::Draining));
    tokio::task::yield_now().await;
    let guard = shutdown.guard().unwrap();
    assert!(shutdown.stop_intake());
    assert!(shutdown.is_triggered());
    assert_eq!(draining.await.unwrap(), Phase::Draining);
    assert!(shutdown.guard().is_err());
    assert!(
        !shutdown.stop_intake(),
        "only the first call begins the drain"
    );
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(guard);
    });
    let report = shutdown.drain(Duration::from_secs(10)).await;
    assert_eq!(
        report,
        DrainReport::Complete {
            elapsed: Duration::from_millis(300)
        }
    );
}
