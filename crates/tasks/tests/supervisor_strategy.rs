//! Supervisor strategies: which siblings are stopped (in reverse order) and
//! started again (in order) when one child needs a restart.

mod support;

use std::time::Duration;

use evenkeel_retry::Backoff;
use evenkeel_shutdown::Shutdown;
use evenkeel_tasks::{ChildSpec, Restart, Strategy, Supervisor};
use support::Recorder;
use tokio_util::sync::CancellationToken;

/// A cooperative child; `fails_once_after` makes its first run fail after
/// that long.
fn child(name: &'static str, fails_once_after: Option<Duration>) -> ChildSpec {
    let mut starts = 0;
    ChildSpec::new(name, move |token: CancellationToken| {
        starts += 1;
        let first = starts == 1;
        async move {
            if let (true, Some(after)) = (first, fails_once_after) {
                tokio::time::sleep(after).await;
                return Err("broken pipe".to_string());
            }
            token.cancelled().await;
            Ok(())
        }
    })
}

/// Runs `children` under `strategy` with a 100 ms constant backoff, triggers
/// shutdown at 1 s, and returns the recorded events from the first exit on
/// (the initial starts are checked separately).
async fn scenario(strategy: Strategy, children: Vec<ChildSpec>) -> (Recorder, Vec<String>) {
    let recorder = Recorder::new();
    let shutdown = Shutdown::new();
    let mut supervisor = Supervisor::new()
        .strategy(strategy)
        .backoff(Backoff::constant(Duration::from_millis(100)))
        .on_event(recorder.callback());
    for child in children {
        supervisor = supervisor.child(child);
    }
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.drain(Duration::from_secs(3600)).await;
    });
    supervisor.run(shutdown).await.unwrap();
    let after_starts: Vec<String> = recorder
        .all()
        .into_iter()
        .filter(|(t, _)| *t > 0)
        .map(|(t, d)| format!("{t} {d}"))
        .collect();
    (recorder, after_starts)
}

fn abcd(failing: &'static str) -> Vec<ChildSpec> {
    ["a", "b", "c", "d"]
        .into_iter()
        .map(|name| child(name, (name == failing).then(|| Duration::from_millis(50))))
        .collect()
}

/// `RestForOne`: when `b` fails, exactly `b`, `c` and `d` restart: `d` then
/// `c` are stopped, all three start again in order after the delay, and `a`
/// is left alone. On shutdown everything stops in reverse order.
#[tokio::test(start_paused = true)]
async fn rest_for_one_restarts_exactly_the_later_children() {
    let (recorder, events) = scenario(Strategy::RestForOne, abcd("b")).await;
    assert_eq!(
        events,
        [
            "50 exit b failed: broken pipe",
            "50 stop d",
            "50 exit d ok",
            "50 stop c",
            "50 exit c ok",
            "50 restart b #1 in 100ms",
            "50 restart c #1 in 100ms",
            "50 restart d #1 in 100ms",
            "150 start b #1",
            "150 start c #1",
            "150 start d #1",
            "1000 stop d",
            "1000 exit d ok",
            "1000 stop c",
            "1000 exit c ok",
            "1000 stop b",
            "1000 exit b ok",
            "1000 stop a",
            "1000 exit a ok",
        ]
    );
    assert_eq!(recorder.matching("start a").len(), 1);
}

/// `OneForAll`: when `b` fails, every other child is stopped (reverse order:
/// `d`, `c`, `a`) and all four start again in order.
#[tokio::test(start_paused = true)]
async fn one_for_all_restarts_everyone() {
    let (_, events) = scenario(Strategy::OneForAll, abcd("b")).await;
    let until_restart: Vec<&str> = events.iter().map(String::as_str).take(15).collect();
    assert_eq!(
        until_restart,
        [
            "50 exit b failed: broken pipe",
            "50 stop d",
            "50 exit d ok",
            "50 stop c",
            "50 exit c ok",
            "50 stop a",
            "50 exit a ok",
            "50 restart a #1 in 100ms",
            "50 restart b #1 in 100ms",
            "50 restart c #1 in 100ms",
            "50 restart d #1 in 100ms",
            "150 start a #1",
            "150 start b #1",
            "150 start c #1",
            "150 start d #1",
        ]
    );
}

/// `OneForOne`: only the failed child restarts; its siblings see nothing.
#[tokio::test(start_paused = true)]
async fn one_for_one_restarts_only_the_failed_child() {
    let (_, events) = scenario(Strategy::OneForOne, abcd("c")).await;
    let until_restart: Vec<&str> = events.iter().map(String::as_str).take(3).collect();
    assert_eq!(
        until_restart,
        [
            "50 exit c failed: broken pipe",
            "50 restart c #1 in 100ms",
            "150 start c #1"
        ]
    );
    assert_eq!(events.iter().filter(|e| e.contains(" start ")).count(), 1);
}

/// Under `OneForAll` a `Temporary` sibling is stopped with the others but not
/// started again (OTP semantics).
#[tokio::test(start_paused = true)]
async fn temporary_sibling_is_stopped_but_not_restarted() {
    let children = vec![
        child("a", None).restart(Restart::Temporary),
        child("b", Some(Duration::from_millis(50))),
    ];
    let (recorder, _) = scenario(Strategy::OneForAll, children).await;
    assert_eq!(recorder.matching("start a").len(), 1);
    assert_eq!(recorder.matching("start b").len(), 2);
    assert!(recorder.descriptions().contains(&"exit a ok".to_string()));
}
