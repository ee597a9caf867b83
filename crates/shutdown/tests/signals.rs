//! Real OS signals raised at this test process (its own binary, so no other
//! test shares the process-wide handlers). Each scenario installs the listener
//! *before* raising, so the default action never kills the process.
#![cfg(all(unix, feature = "signal"))]

use evenkeel_shutdown::{Reason, Shutdown, Signal, SignalListener};
use nix::sys::signal::{Signal as Os, raise};

/// SIGTERM triggers with `Reason::Signal(Terminate)` (exit code 143) and a
/// second signal (SIGINT) during the drain resolves `forced()`; SIGINT alone
/// triggers with exit code 130 and a configured SIGHUP escalates; after a
/// programmatic trigger the first signal keeps the drain going and only the
/// second escalates (it counts signals, not triggers). One test, because signals
/// are process-wide and tests in one binary run in parallel.
#[tokio::test]
async fn signals_trigger_then_escalate() {
    // SIGTERM, then SIGINT escalates.
    let shutdown = Shutdown::new();
    let listener = SignalListener::new().install(&shutdown).unwrap();
    let forced = shutdown.forced();
    raise(Os::SIGTERM).unwrap();
    let reason = shutdown.triggered().await;
    assert!(matches!(reason, Reason::Signal(Signal::Terminate)));
    assert_eq!(reason.exit_code(), 143);
    assert!(!shutdown.is_forced());
    assert!(
        shutdown.guard().is_ok(),
        "a signal triggers; it does not drain"
    );
    raise(Os::SIGINT).unwrap();
    assert_eq!(forced.await.exit_code(), Reason::EXIT_FORCED);
    listener.await.unwrap(); // the listener ends after escalating
    assert_eq!(
        shutdown.reason().unwrap().exit_code(),
        143,
        "first reason kept"
    );

    // SIGINT, then a configured SIGHUP escalates.
    let shutdown = Shutdown::new();
    let listener = SignalListener::new()
        .signal(Signal::Hangup)
        .install(&shutdown)
        .unwrap();
    raise(Os::SIGINT).unwrap();
    assert_eq!(shutdown.triggered().await.exit_code(), 130);
    raise(Os::SIGHUP).unwrap();
    shutdown.forced().await;
    listener.await.unwrap();

    // Already triggered by the program (an admin endpoint, an idle timeout):
    // the first signal does not force, the drain goes on; the second does.
    let shutdown = Shutdown::new();
    let listener = shutdown.listen_for_signals().unwrap();
    shutdown.trigger(Reason::Requested);
    signal_seen_by_listener(Os::SIGTERM).await;
    assert!(
        !shutdown.is_forced(),
        "the first signal after a programmatic trigger must not force"
    );
    assert!(
        !listener.is_finished(),
        "the listener waits for a second signal"
    );
    raise(Os::SIGTERM).unwrap();
    shutdown.forced().await;
    listener.await.unwrap();
    assert!(shutdown.reason().unwrap().is_clean(), "first reason kept");
}

/// Raises `signal` and returns once the listener tasks woken by it have run:
/// a stream of our own sees the same delivery, and the listener, woken by the
/// same driver event, is queued before this task resumes (current-thread
/// runtime); yielding lets it run. No wall-clock wait.
async fn signal_seen_by_listener(signal: Os) {
    use tokio::signal::unix::{SignalKind, signal as listen};
    let mut ours = listen(SignalKind::from_raw(signal as i32)).unwrap();
    raise(signal).unwrap();
    ours.recv().await.unwrap();
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
}

/// Asking for a signal the platform lacks is an error, not a panic.
#[tokio::test]
async fn unsupported_signal_is_an_error() {
    let error = SignalListener::new()
        .signal(Signal::CtrlBreak)
        .install(&Shutdown::new())
        .unwrap_err();
    assert!(matches!(
        error,
        evenkeel_shutdown::ShutdownError::UnsupportedSignal {
            signal: Signal::CtrlBreak
        }
    ));
}
