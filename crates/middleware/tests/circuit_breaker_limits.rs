//! Circuit breaker limits: configuration checked at build time, no panic on
//! huge durations, a half-open state that cannot stick, retry-after hints
//! that tell the real remaining time, decisions re-checked when they go
//! stale, and the event listener.
#![cfg(feature = "circuit-breaker")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use evenkeel_middleware::circuit_breaker::{
    Breaker, BreakerEvent, ConfigError, SlidingWindow, State,
};
use evenkeel_middleware::{CircuitBreakerLayer, Error};
use tokio_test::assert_ready_ok;
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_test::mock;

/// Answers `Ok` for `true`, an error for `false`, after `ms` of paused time.
fn flaky() -> impl Service<(bool, u64), Response = (), Error = std::io::Error, Future: Send> + Clone
{
    service_fn(|(ok, ms): (bool, u64)| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        if ok {
            Ok(())
        } else {
            Err(std::io::Error::other("down"))
        }
    })
}

/// One failure opens it; one trial call decides.
fn one_shot() -> evenkeel_middleware::circuit_breaker::Builder {
    Breaker::builder()
        .sliding_window(SlidingWindow::Count(1))
        .minimum_calls(1)
        .half_open_calls(1)
}

fn retry_after<T: std::fmt::Debug>(r: Result<T, Error<std::io::Error>>) -> Duration {
    match r {
        Err(Error::CircuitOpen { retry_after }) => retry_after,
        other => panic!("expected CircuitOpen, got {other:?}"),
    }
}

/// Thresholds outside (0, 100] are refused at build time with a typed
/// error naming the setting: 0 would trip on success, NaN or more than 100
/// never.
#[test]
fn bad_thresholds_are_refused() {
    for bad in [0.0, -1.0, 100.5, f64::NAN, f64::INFINITY] {
        let err = Breaker::builder()
            .failure_rate_threshold(bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::FailureRateThreshold { .. }),
            "{bad}"
        );
        let err = Breaker::builder()
            .slow_call_rate_threshold(bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::SlowCallRateThreshold { .. }),
            "{bad}"
        );
    }
    assert!(
        Breaker::builder()
            .failure_rate_threshold(100.0)
            .build()
            .is_ok()
    );
    assert!(
        Breaker::builder()
            .slow_call_rate_threshold(0.1)
            .build()
            .is_ok()
    );
}

/// `open_duration(Duration::MAX)` ("stay open until closed by hand") opens
/// without a panic and keeps refusing.
#[tokio::test(start_paused = true)]
async fn huge_open_duration_does_not_panic() {
    let b = one_shot().open_duration(Duration::MAX).build().unwrap();
    let svc = CircuitBreakerLayer::new(b.clone()).layer(flaky());
    let _ = svc.clone().oneshot((false, 0)).await;
    assert_eq!(b.state(), State::Open);
    tokio::time::advance(Duration::from_secs(86_400 * 365)).await;
    assert!(retry_after(svc.clone().oneshot((true, 0)).await) > Duration::from_secs(86_400));
    b.close();
    assert!(svc.oneshot((true, 0)).await.is_ok());
}

/// While open, the retry-after is what is left of the open duration; while
/// half-open with every trial slot taken, what is left of the half-open
/// wait; a trial that hangs past that wait does not keep the circuit
/// half-open: it opens again and later admits a fresh trial.
#[tokio::test(start_paused = true)]
async fn hung_trial_cannot_keep_it_half_open() {
    let b = one_shot()
        .open_duration(Duration::from_secs(10))
        .max_half_open_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    let svc = CircuitBreakerLayer::new(b.clone()).layer(flaky());
    let _ = svc.clone().oneshot((false, 0)).await;
    tokio::time::advance(Duration::from_secs(4)).await;
    assert_eq!(
        retry_after(svc.clone().oneshot((true, 0)).await),
        Duration::from_secs(6)
    );
    tokio::time::advance(Duration::from_secs(6)).await;

    // The trial hangs (an hour, far beyond any wait).
    let hung = tokio::spawn(svc.clone().oneshot((true, 3_600_000)));
    tokio::task::yield_now().await;
    assert_eq!(b.state(), State::HalfOpen);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(
        retry_after(svc.clone().oneshot((true, 0)).await),
        Duration::from_secs(3)
    );
    tokio::time::advance(Duration::from_secs(3)).await;
    // The wait ran out: open again, for the full open duration.
    assert_eq!(
        retry_after(svc.clone().oneshot((true, 0)).await),
        Duration::from_secs(10)
    );
    assert_eq!(b.state(), State::Open);
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(svc.clone().oneshot((true, 0)).await.is_ok());
    assert_eq!(b.state(), State::Closed);
    hung.abort();
}

/// A refusal decided by `poll_ready` is decided afresh by the next
/// `poll_ready`: a circuit that has since closed admits the call.
#[tokio::test(start_paused = true)]
async fn cached_refusal_is_rechecked() {
    let b = one_shot().build().unwrap();
    let (mut svc, mut handle) =
        mock::spawn_layer::<bool, (), _>(CircuitBreakerLayer::new(b.clone()));
    handle.allow(1);
    b.force_open();
    assert_ready_ok!(svc.poll_ready()); // open: decided "refuse"
    b.close();
    assert_ready_ok!(svc.poll_ready()); // polled again before calling
    let mut call = tokio_test::task::spawn(svc.call(true));
    tokio_test::assert_pending!(call.poll(), "reached the inner service, not refused");
    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(());
    assert!(call.await.is_ok());
}

/// An admission kept since `poll_ready` is decided again at `call` if the
/// circuit opened meanwhile: the call fails fast instead of reaching a
/// dependency the breaker now protects.
#[tokio::test(start_paused = true)]
async fn stale_admission_is_rechecked_at_call() {
    let b = one_shot().build().unwrap();
    let (mut svc, mut handle) =
        mock::spawn_layer::<bool, (), _>(CircuitBreakerLayer::new(b.clone()));
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready()); // closed: admitted
    b.force_open();
    let mut call = tokio_test::task::spawn(svc.call(true));
    assert!(matches!(
        call.poll(),
        std::task::Poll::Ready(Err(Error::CircuitOpen { .. }))
    ));
}

/// The listener hears transitions with the failure rate that decided
/// them, rejections with their hint, and slow calls.
#[tokio::test(start_paused = true)]
async fn events_report_rates_rejections_and_slow_calls() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let b = Breaker::builder()
        .sliding_window(SlidingWindow::Count(2))
        .minimum_calls(2)
        .slow_call_rate_threshold(100.0)
        .slow_call_duration(Duration::from_millis(100))
        .open_duration(Duration::from_secs(7))
        .on_event(move |e| log.lock().unwrap().push(*e))
        .build()
        .unwrap();
    let svc = CircuitBreakerLayer::new(b).layer(flaky());
    let _ = svc.clone().oneshot((true, 150)).await;
    let _ = svc.clone().oneshot((false, 0)).await;
    let _ = svc.oneshot((true, 0)).await;
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            BreakerEvent::SlowCall {
                elapsed: Duration::from_millis(150)
            },
            BreakerEvent::Transition {
                from: State::Closed,
                to: State::Open,
                failure_rate: Some(50.0),
                slow_call_rate: Some(50.0),
            },
            BreakerEvent::Rejected {
                state: State::Open,
                retry_after: Duration::from_secs(7)
            },
        ]
    );
}
