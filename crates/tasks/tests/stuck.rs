//! Tasks that never yield cannot be aborted (tokio aborts at an `.await`):
//! the group's `cancel` and the supervisor's stop wait for an abort only up
//! to the abort wait, then report the task as `TaskError::Stuck` by name and
//! let it go, so one stuck task does not hold the whole shutdown. Also:
//! durations that do not fit in an `Instant` saturate instead of panicking.
//!
//! A task that never yields has to block a real thread, so the stuck-task
//! tests run on a multi-thread runtime (paused time needs the current-thread
//! one). The only wall-clock wait is the abort wait under test (100 ms); the
//! blocked thread is released at the end of each test.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use evenkeel_shutdown::Shutdown;
use evenkeel_tasks::{ChildSpec, Supervisor, TaskError, TaskGroup};
use support::Recorder;
use tokio_util::sync::CancellationToken;

const ABORT_WAIT: Duration = Duration::from_millis(100);

/// Blocks the calling worker thread until `release` is sent to or dropped:
/// called inside a task body, the task never reaches an `.await` meanwhile.
fn blocks_until(release: &mpsc::Receiver<()>) {
    let _ = release.recv();
}

/// `cancel` returns although one task never yields: that task is reported
/// `Stuck` with its name, the polite one `Ok`, and the stats count it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_cancel_reports_a_task_that_never_yields() {
    let (release, blocked) = mpsc::channel();
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let mut group = TaskGroup::<(), String>::new()
        .grace_period(Duration::from_millis(10))
        .abort_wait(ABORT_WAIT);
    let token = group.token();
    group.spawn("polite", async move {
        token.cancelled().await;
        Ok(())
    });
    group.spawn("spinner", async move {
        let _ = started_tx.send(());
        blocks_until(&blocked);
        Ok(())
    });
    started.await.unwrap();
    group.cancel().await;
    let outcomes = group.join_all().await;
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.iter().any(Result::is_ok));
    assert!(
        outcomes.iter().any(|o| matches!(
            o,
            Err(TaskError::Stuck { name, waited }) if name == "spinner" && *waited == ABORT_WAIT
        )),
        "{outcomes:?}"
    );
    assert_eq!(group.stats().stuck, 1);
    assert!(group.is_empty());
    release.send(()).unwrap();
}

/// The supervisor's stop on shutdown does not wait forever for a child that
/// never yields: it reports it `Stuck` by name, stops the others, and the
/// drain completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_reports_a_stuck_child_and_finishes_the_stop() {
    let (release, blocked) = mpsc::channel::<()>();
    let blocked = std::sync::Arc::new(std::sync::Mutex::new(Some(blocked)));
    let (started_tx, started) = tokio::sync::mpsc::unbounded_channel::<()>();
    let shutdown = Shutdown::new();
    let recorder = Recorder::new();
    let supervisor = Supervisor::new()
        .abort_wait(ABORT_WAIT)
        .child(ChildSpec::new(
            "polite",
            |token: CancellationToken| async move {
                token.cancelled().await;
                Ok::<(), String>(())
            },
        ))
        .child(
            ChildSpec::new("spinner", move |_token| {
                let blocked = blocked.lock().unwrap().take();
                let started = started_tx.clone();
                async move {
                    let _ = started.send(());
                    if let Some(blocked) = blocked {
                        blocks_until(&blocked);
                    }
                    Ok::<(), String>(())
                }
            })
            .grace_period(Duration::from_millis(10)),
        )
        .on_event(recorder.callback());
    let running = tokio::spawn(supervisor.run(shutdown.clone()));
    let mut started = started;
    started.recv().await.unwrap();
    let report = shutdown.drain(Duration::from_secs(30)).await;
    assert!(report.is_complete(), "{report:?}");
    running.await.unwrap().unwrap();
    let events = recorder.descriptions();
    assert!(
        events.contains(&"exit spinner stuck".to_string()),
        "{events:?}"
    );
    assert!(events.contains(&"exit polite ok".to_string()), "{events:?}");
    release.send(()).unwrap();
}

/// A grace period of `Duration::MAX` ("wait as long as it takes") does not
/// overflow the deadline: `cancel` waits for the polite task and returns.
#[tokio::test(start_paused = true)]
async fn a_huge_grace_period_saturates_instead_of_panicking() {
    let mut group = TaskGroup::<(), String>::new()
        .grace_period(Duration::MAX)
        .abort_wait(Duration::MAX);
    let token = group.token();
    group.spawn("polite", async move {
        token.cancelled().await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        Ok(())
    });
    group.cancel().await;
    assert_eq!(group.join_all().await.len(), 1);
}

/// The supervisor's grace period and abort wait saturate the same way.
#[tokio::test(start_paused = true)]
async fn supervisor_huge_durations_saturate() {
    let shutdown = Shutdown::new();
    let supervisor = Supervisor::new().abort_wait(Duration::MAX).child(
        ChildSpec::new("polite", |token: CancellationToken| async move {
            token.cancelled().await;
            Ok::<(), String>(())
        })
        .grace_period(Duration::MAX),
    );
    let running = tokio::spawn(supervisor.run(shutdown.clone()));
    tokio::task::yield_now().await;
    assert!(shutdown.drain(Duration::MAX).await.is_complete());
    running.await.unwrap().unwrap();
}
