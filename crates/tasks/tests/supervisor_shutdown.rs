//! Supervisor shutdown through `evenkeel_shutdown`: children stop in
//! reverse start order, each with its own grace period, and a drain waits
//! for the supervisor.

mod support;

use std::time::Duration;

use evenkeel_shutdown::{DrainReport, Reason, Shutdown};
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
                trigger.trigger(Reason::Requested);
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

/// A supervisor run after the shutdown was triggered starts nothing.
#[tokio::test(start_paused = true)]
async fn an_already_triggered_shutdown_starts_nothing() {
    let shutdown = Shutdown::new();
    shutdown.trigger(Reason::Requested);
    let recorder = Recorder::new();
    Supervisor::new()
        .child(cooperative("never"))
        .on_event(recorder.callback())
        .run(shutdown)
        .await
        .unwrap();
    assert!(recorder.all().is_empty());
}
