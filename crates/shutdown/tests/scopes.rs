//! Child scopes: triggers flow down, never up; drain accounting flows up.

use std::time::Duration;

use evenkeel_shutdown::{DrainReport, Phase, Reason, Shutdown, ShutdownError};

/// The parent's trigger reaches the child (and a grandchild), with the
/// parent's reason, and a child created after the trigger is born triggered.
#[tokio::test]
async fn parent_trigger_reaches_children() {
    let parent = Shutdown::new();
    let child = parent.child();
    let grandchild = child.child();
    let waiting = grandchild.triggered();
    parent.trigger(Reason::fatal("gone"));
    assert_eq!(waiting.await.exit_code(), 1);
    assert!(child.is_triggered());
    assert!(
        !child.trigger(Reason::Requested),
        "already triggered via parent"
    );
    assert_eq!(child.reason().unwrap().exit_code(), 1);

    let late_child = parent.child();
    assert!(late_child.is_triggered());
    assert_eq!(late_child.phase(), Phase::PreDrain);
}

/// The child's own trigger stays in the child; a later parent trigger does
/// not overwrite the child's reason.
#[tokio::test]
async fn child_trigger_does_not_reach_parent() {
    let parent = Shutdown::new();
    let child = parent.child();
    let sibling = parent.child();
    assert!(child.trigger(Reason::DeadlineExceeded));
    assert!(!parent.is_triggered());
    assert!(!sibling.is_triggered());
    assert!(!parent.token().is_cancelled());

    parent.trigger(Reason::Requested);
    assert_eq!(child.reason().unwrap().exit_code(), 124);
    assert!(sibling.reason().unwrap().is_clean());
}

/// A parent's drain waits for guards taken in its children, and refuses new
/// ones in the children too.
#[tokio::test(start_paused = true)]
async fn parent_drain_waits_for_child_guards() {
    let parent = Shutdown::new();
    let child = parent.child();
    let guard = child.guard().unwrap();
    assert_eq!(parent.outstanding(), 1);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(guard);
    });
    let report = parent.drain(Duration::from_secs(10)).await;
    assert_eq!(
        report,
        DrainReport::Complete {
            elapsed: Duration::from_secs(3)
        }
    );
    assert!(matches!(child.guard(), Err(ShutdownError::Draining)));
    assert_eq!(child.phase(), Phase::Done);
}

/// Draining a child stops only the child's intake; the parent still admits
/// work and the child's drain does not wait for the parent's own guards.
#[tokio::test(start_paused = true)]
async fn child_drain_is_local() {
    let parent = Shutdown::new();
    let child = parent.child();
    let _parent_work = parent.guard().unwrap();
    let report = child.drain(Duration::from_secs(1)).await;
    assert_eq!(
        report,
        DrainReport::Complete {
            elapsed: Duration::ZERO
        }
    );
    assert!(child.guard().is_err());
    assert!(parent.guard().is_ok());
    assert_eq!(parent.phase(), Phase::Running);
    assert_eq!(child.phase(), Phase::Done);
}

/// A child's timed-out drain counts its grandchildren's guards.
#[tokio::test(start_paused = true)]
async fn child_drain_counts_grandchildren() {
    let parent = Shutdown::new();
    let child = parent.child();
    let grandchild = child.child();
    let _a = grandchild.guard().unwrap();
    let _b = child.guard().unwrap();
    let report = child.drain(Duration::from_secs(2)).await;
    assert_eq!(
        report,
        DrainReport::TimedOut {
            elapsed: Duration::from_secs(2),
            outstanding: 2
        }
    );
    assert_eq!(parent.outstanding(), 2);
    assert!(
        grandchild.guard().is_err(),
        "an enclosing scope is draining"
    );
}
