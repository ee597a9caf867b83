//! The exit code reports how the shutdown ended (drained, timed out,
//! forced), not what triggered it; the `128 + N` convention is opt-in.

use std::time::Duration;

use evenkeel_shutdown::{DrainReport, ExitCodes, Outcome, Reason, Shutdown, Signal};

/// A clean, complete drain after SIGTERM exits 0, not 143: the service did
/// everything it was asked to.
#[tokio::test(start_paused = true)]
async fn clean_drain_after_sigterm_exits_zero() {
    let shutdown = Shutdown::new();
    let guard = shutdown.guard().unwrap();
    shutdown.trigger(Reason::Signal(Signal::Terminate));
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(guard);
    });
    let report = shutdown.drain(Duration::from_secs(5)).await;
    assert!(report.is_complete());
    assert_eq!(shutdown.exit_code(Outcome::from(&report)), 0);
    // The trigger alone still names the signal, for logs.
    assert_eq!(shutdown.reason().unwrap().exit_code(), 143);
}

/// A drain whose deadline passes with work outstanding exits 124, whatever
/// triggered it; a forced one exits 137.
#[tokio::test(start_paused = true)]
async fn timed_out_and_forced_have_their_own_codes() {
    let shutdown = Shutdown::new();
    let _stuck = shutdown.guard().unwrap();
    shutdown.trigger(Reason::Signal(Signal::Interrupt));
    let report = shutdown.drain(Duration::from_secs(1)).await;
    assert!(matches!(report, DrainReport::TimedOut { .. }));
    assert_eq!(shutdown.exit_code(Outcome::from(report)), 124);
    assert_eq!(shutdown.exit_code(Outcome::Forced), 137);
    assert_eq!(Outcome::EXIT_TIMED_OUT, 124);
    assert_eq!(Outcome::EXIT_FORCED, 137);
}

/// Every row of the documented table, for both conventions.
#[test]
fn the_documented_table() {
    use Outcome::{Drained, Forced, TimedOut};
    let term = Reason::Signal(Signal::Terminate);
    let int = Reason::Signal(Signal::Interrupt);
    let fatal = Reason::fatal("disk gone");
    let rows: [(Option<&Reason>, [i32; 3], [i32; 3]); 7] = [
        (None, [0, 124, 137], [0, 124, 137]),
        (Some(&Reason::Requested), [0, 124, 137], [0, 124, 137]),
        (Some(&term), [0, 124, 137], [143, 124, 137]),
        (Some(&int), [0, 124, 137], [130, 124, 137]),
        (Some(&Reason::Forced), [0, 124, 137], [0, 124, 137]),
        (
            Some(&Reason::DeadlineExceeded),
            [124, 124, 137],
            [124, 124, 137],
        ),
        (Some(&fatal), [1, 1, 1], [1, 1, 1]),
    ];
    for (reason, by_outcome, by_signal) in rows {
        for (i, outcome) in [Drained, TimedOut, Forced].into_iter().enumerate() {
            assert_eq!(
                ExitCodes::Outcome.exit_code(reason, outcome),
                by_outcome[i],
                "{reason:?} {outcome:?} (outcome table)"
            );
            assert_eq!(
                ExitCodes::SignalConvention.exit_code(reason, outcome),
                by_signal[i],
                "{reason:?} {outcome:?} (signal convention)"
            );
        }
    }
    assert_eq!(ExitCodes::default(), ExitCodes::Outcome);
}

/// The signal convention is an explicit option on the handle.
#[test]
fn signal_convention_is_opt_in() {
    let shutdown = Shutdown::new();
    shutdown.trigger(Reason::Signal(Signal::Terminate));
    assert_eq!(shutdown.exit_code(Outcome::Drained), 0);
    assert_eq!(
        shutdown.exit_code_with(Outcome::Drained, ExitCodes::SignalConvention),
        143
    );
}
