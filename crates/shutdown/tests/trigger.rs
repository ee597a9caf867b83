//! The trigger: first reason wins, observers made before or after it see it,
//! and the tokio-util token follows it.

use std::sync::{Arc, Barrier};
use std::thread;

use evenkeel_shutdown::{Forced, Reason, Shutdown, Signal, Triggered, WaitForPhase};

fn assert_send_static<T: Send + 'static>() {}

/// `Triggered`, `Forced` and `WaitForPhase` can be moved into spawned tasks.
#[test]
fn futures_are_send_and_static() {
    assert_send_static::<Triggered>();
    assert_send_static::<Forced>();
    assert_send_static::<WaitForPhase>();
    assert_send_static::<evenkeel_shutdown::DrainGuard>();
}

/// A `triggered()` future created before the trigger resolves with its reason.
#[tokio::test]
async fn triggered_before_the_fact_resolves() {
    let shutdown = Shutdown::new();
    let waiter = tokio::spawn(shutdown.triggered());
    tokio::task::yield_now().await;
    assert!(shutdown.trigger(Reason::Signal(Signal::Terminate)));
    let reason = waiter.await.unwrap();
    assert_eq!(reason.exit_code(), 143);
}

/// A `triggered()` future created after the trigger (from a clone made after
/// it, too) resolves at once: the watch-channel trap of a late subscriber.
#[tokio::test]
async fn triggered_after_the_fact_resolves() {
    let shutdown = Shutdown::new();
    shutdown.trigger(Reason::Requested);
    let late_clone = shutdown.clone();
    assert!(late_clone.triggered().await.is_clean());
    assert!(shutdown.triggered().await.is_clean());
}

/// Dropping a `triggered()` future before the trigger loses nothing: a new
/// one still resolves (cancel safety).
#[tokio::test]
async fn triggered_is_cancel_safe() {
    let shutdown = Shutdown::new();
    let first = shutdown.triggered();
    let polled_once = tokio::select! {
        biased;
        _ = first => false,
        () = std::future::ready(()) => true,
    };
    assert!(polled_once);
    shutdown.trigger(Reason::DeadlineExceeded);
    assert_eq!(shutdown.triggered().await.exit_code(), 124);
}

/// The first trigger wins: later calls return false and keep the first reason.
#[test]
fn first_trigger_wins() {
    let shutdown = Shutdown::new();
    assert!(shutdown.reason().is_none());
    assert!(shutdown.trigger(Reason::Signal(Signal::Interrupt)));
    assert!(!shutdown.trigger(Reason::fatal("late")));
    assert!(!shutdown.trigger(Reason::Requested));
    assert_eq!(shutdown.reason().unwrap().exit_code(), 130);
}

/// Under concurrent triggers from many threads exactly one call returns
/// true, and its reason is the one everybody reads.
#[test]
fn concurrent_triggers_first_reason_wins() {
    const THREADS: usize = 16;
    for _round in 0..50 {
        let shutdown = Shutdown::new();
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let shutdown = shutdown.clone();
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    shutdown.trigger(Reason::fatal(i.to_string())).then_some(i)
                })
            })
            .collect();
        let winners: Vec<usize> = handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(winners.len(), 1, "exactly one trigger is first");
        let Some(Reason::Fatal(error)) = shutdown.reason() else {
            panic!("a fatal reason was recorded");
        };
        assert_eq!(error.to_string(), winners[0].to_string());
    }
}

/// `token()` is cancelled by the trigger, whether taken before or after it,
/// and cancelling it does not trigger the shutdown.
#[tokio::test]
async fn token_follows_trigger_but_does_not_drive_it() {
    let shutdown = Shutdown::new();
    let early = shutdown.token();
    early.cancel();
    assert!(!shutdown.is_triggered(), "an interop token cannot trigger");

    let before = shutdown.token();
    shutdown.trigger(Reason::Requested);
    before.cancelled().await;
    assert!(shutdown.token().is_cancelled());
}

/// `force()` resolves `forced()` futures made before and after it, triggers
/// with `Reason::Forced` when nothing triggered first, and keeps an earlier
/// reason otherwise.
#[tokio::test]
async fn force_escalates_and_keeps_the_first_reason() {
    let shutdown = Shutdown::new();
    let early = shutdown.forced();
    assert!(shutdown.force());
    assert!(!shutdown.force());
    assert_eq!(early.await.exit_code(), Reason::EXIT_FORCED);
    assert_eq!(shutdown.forced().await.exit_code(), Reason::EXIT_FORCED);
    assert!(matches!(shutdown.reason(), Some(Reason::Forced)));

    let signalled = Shutdown::new();
    signalled.trigger(Reason::Signal(Signal::Terminate));
    signalled.force();
    assert!(signalled.is_forced());
    assert_eq!(signalled.reason().unwrap().exit_code(), 143);
}

/// The exit-code table: 0 requested, 128+N signals, documented constants
/// for the rest.
#[test]
fn exit_codes_follow_the_convention() {
    assert_eq!(Reason::Requested.exit_code(), 0);
    assert_eq!(Reason::Signal(Signal::Interrupt).exit_code(), 130);
    assert_eq!(Reason::Signal(Signal::Terminate).exit_code(), 143);
    assert_eq!(Reason::Signal(Signal::Hangup).exit_code(), 129);
    assert_eq!(Reason::Signal(Signal::Quit).exit_code(), 131);
    assert_eq!(Reason::fatal("boom").exit_code(), 1);
    assert_eq!(Reason::DeadlineExceeded.exit_code(), 124);
    assert_eq!(Reason::Forced.exit_code(), 137);
    for reason in [
        Reason::fatal("boom"),
        Reason::DeadlineExceeded,
        Reason::Forced,
    ] {
        assert_ne!(reason.exit_code(), 0, "{reason} must not look clean");
    }
}

/// A fatal reason keeps its source error.
#[test]
fn fatal_keeps_its_source() {
    let reason = Reason::fatal(std::io::Error::other("disk full"));
    let Reason::Fatal(source) = &reason else {
        panic!("fatal() builds Reason::Fatal");
    };
    assert_eq!(source.to_string(), "disk full");
    assert_eq!(reason.to_string(), "fatal error: disk full");
}
