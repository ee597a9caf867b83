//! The supervisor's defaults, OTP style: the restart backoff fits inside the
//! intensity window, so a child that fails continuously is restarted with
//! backoff for the documented period (about 43 s) before the supervisor
//! gives up, instead of giving up within a second.

mod support;

use std::time::Duration;

use evenkeel_shutdown::Shutdown;
use evenkeel_tasks::{ChildSpec, Supervisor, SupervisorError};
use support::Recorder;

/// The documented defaults: 10 restarts within 60 s, and the default
/// backoff's first 10 delays (0.1 s doubling, capped at 10 s) sum to 42.7 s,
/// inside the window.
#[test]
fn the_backoff_fits_inside_the_intensity_window() {
    assert_eq!(Supervisor::DEFAULT_MAX_RESTARTS, 10);
    assert_eq!(Supervisor::DEFAULT_WINDOW, Duration::from_secs(60));
    let delays: Vec<Duration> = Supervisor::default_backoff()
        .take(Supervisor::DEFAULT_MAX_RESTARTS as usize)
        .collect();
    let sum: Duration = delays.iter().sum();
    assert_eq!(sum, Duration::from_millis(42_700));
    assert!(sum < Supervisor::DEFAULT_WINDOW);
}

/// A child that fails at once on every start, under the defaults, is
/// restarted on the backoff schedule (starts at 0, 0.1, 0.3, 0.7, 1.5, 3.1,
/// 6.3, 12.7, 22.7, 32.7 and 42.7 s) and the supervisor gives up at its
/// eleventh failure, 42.7 s in: ten restarts within the 60 s window.
#[tokio::test(start_paused = true)]
async fn a_continuously_failing_child_is_restarted_for_the_documented_period() {
    let recorder = Recorder::new();
    let supervisor = Supervisor::new()
        .child(ChildSpec::new("broken", |_| async {
            Err::<(), _>("no database")
        }))
        .on_event(recorder.callback());
    let error = supervisor.run(Shutdown::new()).await.unwrap_err();
    let starts: Vec<u128> = recorder
        .matching("start")
        .into_iter()
        .map(|(at, _)| at)
        .collect();
    assert_eq!(
        starts,
        [
            0, 100, 300, 700, 1_500, 3_100, 6_300, 12_700, 22_700, 32_700, 42_700
        ]
    );
    let gave_up = recorder.matching("gave up");
    assert_eq!(gave_up.len(), 1);
    assert_eq!(gave_up[0].0, 42_700, "gives up at the eleventh failure");
    assert!(matches!(
        error,
        SupervisorError::IntensityExceeded { restarts: 10, window, .. }
            if window == Duration::from_secs(60)
    ));
}
