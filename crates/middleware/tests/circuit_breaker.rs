//! Circuit breaker: transitions exactly at the thresholds, minimum calls,
//! open duration, half-open trials, slow calls, time windows, classifiers,
//! manual control, events, and state shared by clones.
#![cfg(feature = "circuit-breaker")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use evenkeel_middleware::circuit_breaker::{
    Breaker, HttpClassifier, Outcome, SlidingWindow, State, StateChange,
};
use evenkeel_middleware::{CircuitBreakerLayer, Error};
use tower::{Layer, Service, ServiceExt, service_fn};

/// A service answering `Ok` for `true` and an error for `false`, after
/// `delay_ms` of (paused) time.
fn flaky() -> impl Service<(bool, u64), Response = (), Error = std::io::Error, Future: Send> + Clone
{
    service_fn(|(ok, delay_ms): (bool, u64)| async move {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        if ok {
            Ok(())
        } else {
            Err(std::io::Error::other("down"))
        }
    })
}

fn breaker(window: usize, min: u64) -> Breaker {
    Breaker::builder()
        .sliding_window(SlidingWindow::Count(window))
        .minimum_calls(min)
        .failure_rate_threshold(50.0)
        .open_duration(Duration::from_secs(10))
        .half_open_calls(2)
        .build()
        .unwrap()
}

async fn run<S>(svc: &S, outcomes: &[bool])
where
    S: Service<(bool, u64), Response = (), Error = Error<std::io::Error>> + Clone,
{
    for &ok in outcomes {
        let _ = svc.clone().oneshot((ok, 0)).await;
    }
}

/// With a 10-call window and a 50% threshold, 4 failures in 10 calls keep
/// the circuit closed; the failure that makes it 5 in 10 opens it.
#[tokio::test(start_paused = true)]
async fn opens_exactly_at_failure_threshold() {
    let b = breaker(10, 10);
    let svc = CircuitBreakerLayer::new(b.clone()).layer(flaky());
    run(
        &svc,
        &[true, true, true, true, true, false, false, false, false],
    )
    .await;
    assert_eq!(b.state(), State::Closed);
    run(&svc, &[true]).await; // 4 failures in 10 calls: 40%
    assert_eq!(b.state(), State::Closed);
    run(&svc, &[false]).await; // the oldest success slides out: 5 failures in 10: 50%
    assert_eq!(b.state(), State::Open);
}

/// Below the minimum number of calls, even 100% failures do not trip.
#[tokio::test(start_paused = true)]
async fn minimum_calls_gate_the_rate() {
    let b = breaker(100, 5);
    let svc = CircuitBreakerLayer::new(b.clone()).layer(flaky());
    run(&svc, &[false; 4]).await;
    assert_eq!(b.state(), State::Closed);
    run(&svc, &[false]).await;
    assert_eq!(b.state(), State::Open);
}

/// An open circuit rejects with the remaining open time, lets a trial call
/// through exactly when the open duration has passed, and closes when the
/// trials succeed.
#[tokio::test(start_paused = true)]
async fn open_then_half_open_then_closed() {
    let b = breaker(2, 2);
    let svc = CircuitBreakerLayer::new(b.clone()).layer(flaky());
    run(&svc, &[false, false]).await;
    assert_eq!(b.state(), State::Open);

    tokio::time::advance(Duration::from_secs(4)).await;
    let err = svc.clone().oneshot((true, 0)).await.unwrap_err();
    assert!(
        matches!(err, Error::CircuitOpen { retry_after } if retry_after == Duration::from_secs(6))
    );

    tokio::time::advance(Duration::from_millis(5999)).await;
    assert!(svc.clone().oneshot((true, 0)).await.is_err());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(svc.clone().oneshot((true, 0)).await.is_ok());
    assert_eq!(b.state(), State::HalfOpen);
    assert!(svc.clone().oneshot((true, 0)).await.is_ok());
    assert_eq!(b.state(), State::Closed);
}

/// Half-open admits only the permitted number of concurrent trials, and a
/// failed trial round opens the circuit again.
#[tokio::test(start_paused = true)]
async fn half_open_limits_trials_and_reopens_on_failure() {
    let b = breaker(2, 2);
    let svc = CircuitBreakerLayer::new(b.clone()).layer(flaky());
    run(&svc, &[false, false]).await;
    tokio::time::advance(Duration::from_secs(10)).await;

    let t1 = tokio::spawn(svc.clone().oneshot((false, 100)));
    let t2 = tokio::spawn(svc.clone().oneshot((false, 100)));
    tokio::task::yield_now().await;
    assert_eq!(b.state(), State::HalfOpen);
    // Both trial slots are taken.
    assert!(matches!(
        svc.clone().oneshot((true, 0)).await,
        Err(Error::CircuitOpen { .. })
    ));
    assert!(t1.await.unwrap().is_err());
    assert!(t2.await.unwrap().is_err());
    assert_eq!(b.state(), State::Open);
}

/// A trial call dropped before completing gives its slot back.
#[tokio::test(start_paused = true)]
async fn dropped_trial_returns_its_slot() {
    let b = Breaker::builder()
        .sliding_window(SlidingWindow::Count(1))
        .minimum_calls(1)
        .half_open_calls(1)
        .open_duration(Duration::from_secs(1))
        .build()
        .unwrap();
    let svc = CircuitBreakerLayer::new(b.clone()).layer(flaky());
    run(&svc, &[false]).await;
    tokio::time::advance(Duration::from_secs(1)).await;
    let mut s = svc.clone();
    let fut = s.ready().await.unwrap().call((true, 1000));
    assert!(matches!(
        svc.clone().oneshot((true, 0)).await,
        Err(Error::CircuitOpen { .. })
    ));
    drop(fut);
    assert!(svc.clone().oneshot((true, 0)).await.is_ok());
    assert_eq!(b.state(), State::Closed);
}

/// Slow calls trip the slow-call-rate threshold even when they succeed.
#[tokio::test(start_paused = true)]
async fn slow_call_rate_opens() {
    let b = Breaker::builder()
        .sliding_window(SlidingWindow::Count(4))
        .minimum_calls(4)
        .slow_call_duration(Duration::from_millis(500))
        .slow_call_rate_threshold(75.0)
        .build()
        .unwrap();
    let svc = CircuitBreakerLayer::new(b.clone()).layer(flaky());
    for delay in [10, 500, 600, 499] {
        svc.clone().oneshot((true, delay)).await.unwrap();
    }
    assert_eq!(b.state(), State::Closed); // 2 slow of 4: 50%
    svc.clone().oneshot((true, 700)).await.unwrap(); // the fast one slides out: 3 of 4: 75%
    assert_eq!(b.state(), State::Open);
}

/// In a time window, failures older than the window no longer count.
#[tokio::test(start_paused = true)]
async fn time_window_forgets_old_calls() {
    let b = Breaker::builder()
        .sliding_window(SlidingWindow::Time(Duration::from_secs(10)))
        .minimum_calls(4)
        .build()
        .unwrap();
    let svc = CircuitBreakerLayer::new(b.clone()).layer(flaky());
    run(&svc, &[false, false]).await;
    tokio::time::advance(Duration::from_secs(11)).await;
    run(&svc, &[true, true, false]).await; // 1 of 3 in the window
    assert_eq!(b.state(), State::Closed);
    run(&svc, &[true]).await; // 1 of 4: 25%
    assert_eq!(b.state(), State::Closed);
    run(&svc, &[false]).await; // 2 of 5: 40%
    assert_eq!(b.state(), State::Closed);
    run(&svc, &[false]).await; // 3 of 6: 50%
    assert_eq!(b.state(), State::Open);
}

/// The HTTP classifier counts 5xx as failures and 4xx as successes.
#[tokio::test(start_paused = true)]
async fn http_classifier_counts_5xx_not_4xx() {
    let b = breaker(4, 4);
    let svc = CircuitBreakerLayer::new(b.clone())
        .classifier(HttpClassifier)
        .layer(service_fn(|code: u16| async move {
            Ok::<_, std::io::Error>(http::Response::builder().status(code).body(()).unwrap())
        }));
    for code in [404, 429, 400, 500] {
        svc.clone().oneshot(code).await.unwrap();
    }
    assert_eq!(b.state(), State::Closed);
    svc.clone().oneshot(503).await.unwrap();
    assert_eq!(b.state(), State::Open);
}

/// Results the classifier ignores do not count at all.
#[tokio::test(start_paused = true)]
async fn ignored_outcomes_do_not_count() {
    let b = breaker(2, 2);
    let svc = CircuitBreakerLayer::new(b.clone())
        .classifier(|r: &Result<(), Error<std::io::Error>>| {
            if r.is_ok() {
                Outcome::Success
            } else {
                Outcome::Ignore
            }
        })
        .layer(flaky());
    run(&svc, &[false; 10]).await;
    assert_eq!(b.state(), State::Closed);
}

/// Clones of the service and services from cloned layers share one breaker;
/// manual force-open and close apply to all; every change is reported once.
#[tokio::test(start_paused = true)]
async fn clones_share_state_manual_control_and_events() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let b = Breaker::builder()
        .sliding_window(SlidingWindow::Count(2))
        .minimum_calls(2)
        .on_state_change(move |c| log.lock().unwrap().push(c))
        .build()
        .unwrap();
    let layer = CircuitBreakerLayer::new(b.clone());
    let one = layer.clone().layer(flaky());
    let two = layer.layer(flaky());
    run(&one, &[false]).await;
    run(&two, &[false]).await;
    assert_eq!(one.breaker().state(), State::Open);
    assert!(matches!(
        two.clone().oneshot((true, 0)).await,
        Err(Error::CircuitOpen { .. })
    ));

    b.close();
    assert!(one.clone().oneshot((true, 0)).await.is_ok());
    b.force_open();
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert!(matches!(
        two.clone().oneshot((true, 0)).await,
        Err(Error::CircuitOpen { .. })
    ));
    assert_eq!(b.state(), State::ForcedOpen);
    b.close();

    let change = |from, to| StateChange { from, to };
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            change(State::Closed, State::Open),
            change(State::Open, State::Closed),
            change(State::Closed, State::ForcedOpen),
            change(State::ForcedOpen, State::Closed),
        ]
    );
}

/// Calls admitted while closed that complete after the circuit opened do
/// not count towards the next state.
#[tokio::test(start_paused = true)]
async fn stale_outcomes_are_dropped() {
    let b = breaker(2, 2);
    let svc = CircuitBreakerLayer::new(b.clone()).layer(flaky());
    let slow_success = tokio::spawn(svc.clone().oneshot((true, 5_000)));
    tokio::task::yield_now().await;
    run(&svc, &[false, false]).await;
    assert_eq!(b.state(), State::Open);
    b.close();
    b.force_open();
    assert!(slow_success.await.unwrap().is_ok());
    assert_eq!(b.state(), State::ForcedOpen);
}

proptest::proptest! {
    /// For any sequence of outcomes, a count window of `n` calls with a
    /// minimum of `min` calls opens at exactly the first call after which
    /// the failures among the last `n` calls (once at least `min` were
    /// made) reach the threshold, computed naively.
    #[test]
    fn count_window_opens_exactly_at_the_naive_threshold(
        n in 1_usize..12,
        min in 1_u64..12,
        percent in 1_u32..=100,
        outcomes in proptest::collection::vec(proptest::bool::ANY, 1..60),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        rt.block_on(async {
            let b = Breaker::builder()
                .sliding_window(SlidingWindow::Count(n))
                .minimum_calls(min)
                .failure_rate_threshold(f64::from(percent))
                .build()
        .unwrap();
            let svc = CircuitBreakerLayer::new(b.clone()).layer(flaky());
            let min = min.min(n as u64);
            for (i, &ok) in outcomes.iter().enumerate() {
                let _ = svc.clone().oneshot((ok, 0)).await;
                let window = &outcomes[(i + 1).saturating_sub(n)..=i];
                let calls = window.len() as u64;
                let failures = window.iter().filter(|ok| !**ok).count() as u64;
                let trips = calls >= min && failures * 100 >= u64::from(percent) * calls;
                proptest::prop_assert_eq!(b.state() == State::Open, trips, "after call {}", i);
                if trips {
                    break;
                }
            }
            Ok(())
        })?;
    }
}
