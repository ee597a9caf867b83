//! Supervisor shutdown through `evenkeel_shutdown`: children stop in
//! reverse start order, each with its own grace period, and a drain waits
//! for the supervisor.

mod support;

use std::time::Duration;

use evenkeel_shutdown::{DrainReport, Phase, Reason, Shutdown};
use evenkeel_tasks::{ChildSpec, Supervisor, SupervisorEvent};
use support::Recorder;
use tokio_util::sync::CancellationToken;

fn cooperative(name: &'static str) -> ChildSpec {
    ChildSpec::new(name, |token: CancellationToken| async move {
        token.cancelled().await;
        Ok::<(), String>(())
    })
}

fn stubborn(name: &'static str, grace: Duration) -> ChildSpec {
    ChildSpec::new(name, |_| async {
        std::future::pending::<Result<(), String>>().await
    })
    .grace_period(grace)
}

/// Children stop one at a time in reverse start order: `c` returns at once,
/// `b` (ignoring its token) is aborted after its 2 s grace, then `a` after
/// its own 1 s grace: 3 s in all.
#[tokio::test(start_paused = true)]
async fn children_stop_in_reverse_order_each_with_its_grace() {
    let shutdown = Shutdown::new();
    let recorder = Recorder::new();
    let record = recorder.callback();
    let trigger = shutdown.clone();
    let supervisor = Supervisor::new()
        .child(stubborn("a", Duration::from_secs(1)))
        .child(stubborn("b", Duration::from_secs(2)))
        .child(cooperative("c"))
        .on_event(move |event| {
            record(event);
            if matches!(event, SupervisorEvent::Started { child, .. } if child == "c") {
                support::drain_now(&trigger);
            }
        });
    supervisor.run(shutdown).await.unwrap();
    let events: Vec<String> = recorder
        .all()
        .into_iter()
        .map(|(t, d)| format!("{t} {d}"))
        .collect();
    assert_eq!(
        events,
        [
            "0 start a #0",
            "0 start b #0",
            "0 start c #0",
            "0 stop c",
            "0 exit c ok",
            "0 stop b",
            "2000 exit b cancelled",
            "2000 stop a",
            "3000 exit a cancelled",
        ]
    );
}

/// `Shutdown::drain` waits for the supervisor's orderly stop (it holds a
/// drain guard while running).
#[tokio::test(start_paused = true)]
async fn drain_waits_for_the_supervisor() {
    let shutdown = Shutdown::new();
    let supervisor = Supervisor::new()
        .child(cooperative("fast"))
        .child(stubborn("slow", Duration::from_millis(1500)));
    let running = tokio::spawn(supervisor.run(shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let report = shutdown.drain(Duration::from_secs(10)).await;
    assert_eq!(
        report,
        DrainReport::Complete {
            elapsed: Duration::from_millis(1500)
        }
    );
    running.await.unwrap().unwrap();
}

/// A supervisor run after the drain began starts nothing.
#[tokio::test(start_paused = true)]
async fn a_draining_shutdown_starts_nothing() {
    let shutdown = Shutdown::new();
    shutdown.drain(Duration::from_secs(1)).await;
    let recorder = Recorder::new();
    Supervisor::new()
        .child(cooperative("never"))
        .on_event(recorder.callback())
        .run(shutdown)
        .await
        .unwrap();
    assert!(recorder.all().is_empty());
}

/// The trigger does not stop the children: during the pre-drain delay (5 s
/// here) the service still serves, so its workers keep working (a worker
/// counting ticks every 100 ms keeps counting). They are stopped when the
/// drain begins, at 5 s, and the drain waits for that stop.
#[tokio::test(start_paused = true)]
async fn children_keep_working_through_the_pre_drain_delay() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    let shutdown = Shutdown::builder()
        .pre_drain_delay(Duration::from_secs(5))
        .build();
    let ticks = Arc::new(AtomicU32::new(0));
    let recorder = Recorder::new();
    let counted = Arc::clone(&ticks);
    let supervisor = Supervisor::new()
        .child(ChildSpec::new("worker", move |token: CancellationToken| {
            let ticks = Arc::clone(&counted);
            async move {
                loop {
                    tokio::select! {
                        () = token.cancelled() => return Ok::<(), String>(()),
                        () = tokio::time::sleep(Duration::from_millis(100)) => {
                            ticks.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            }
        }))
        .on_event(recorder.callback());
    let running = tokio::spawn(supervisor.run(shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(1050)).await;
    shutdown.trigger(Reason::Requested); // at 1.05 s: readiness false, intake open
    let drain = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.drain(Duration::from_secs(30)).await }
    });
    tokio::time::sleep(Duration::from_secs(4)).await; // 5.05 s: still pre-drain
    assert_eq!(shutdown.phase(), Phase::PreDrain);
    assert_eq!(
        recorder.matching("stop"),
        [],
        "nothing stopped before draining"
    );
    assert_eq!(ticks.load(Ordering::SeqCst), 50, "the worker kept working");
    let report = drain.await.unwrap();
    running.await.unwrap().unwrap();
    // The drain began at 6.05 s (5 s after the trigger) and stopped the worker then.
    assert_eq!(
        report,
        DrainReport::Complete {
            elapsed: Duration::from_secs(5)
        }
    );
    assert_eq!(
        recorder.matching("stop"),
        [(6050, "stop worker".to_string())]
    );
    assert_eq!(ticks.load(Ordering::SeqCst), 60);
}
