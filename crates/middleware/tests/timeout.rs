//! Timeouts: the total timeout covers waiting for readiness; the attempt
//! timeout covers the call only; a ready response beats the timer.
#![cfg(feature = "timeout")]

use std::time::Duration;

use evenkeel_middleware::{AttemptTimeoutLayer, Error, TimeoutLayer};
use tokio_test::{assert_pending, assert_ready_ok};
use tower::{Layer, ServiceExt};
use tower_test::mock;

/// A service that never becomes ready times out under `Timeout` (tower's
/// timeout would wait forever: tower#648).
#[tokio::test(start_paused = true)]
async fn total_timeout_covers_readiness() {
    let (mock, mut handle) = mock::pair::<u32, u32>();
    handle.allow(0);
    let svc = TimeoutLayer::new(Duration::from_secs(2)).layer(mock);
    let started = tokio::time::Instant::now();
    let err = svc.oneshot(1).await.unwrap_err();
    assert!(matches!(err, Error::TimedOut { after, .. } if after == Duration::from_secs(2)));
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}

/// The total timeout covers readiness plus the call together, not each.
#[tokio::test(start_paused = true)]
async fn total_timeout_is_one_budget() {
    let (mock, mut handle) = mock::pair::<u32, u32>();
    handle.allow(0);
    let svc = TimeoutLayer::new(Duration::from_secs(2)).layer(mock);
    let task = tokio::spawn(svc.oneshot(1));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    handle.allow(1);
    let (_, send) = handle.next_request().await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    drop(send);
    assert!(matches!(task.await.unwrap(), Err(Error::TimedOut { .. })));
}

/// A response in time passes through untouched.
#[tokio::test(start_paused = true)]
async fn response_within_deadline_passes() {
    let (mock, mut handle) = mock::pair::<u32, u32>();
    handle.allow(1);
    let svc = TimeoutLayer::new(Duration::from_secs(2)).layer(mock);
    let task = tokio::spawn(svc.oneshot(1));
    let (_, send) = handle.next_request().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1999)).await;
    send.send_response(7);
    assert_eq!(task.await.unwrap().unwrap(), 7);
}

/// The attempt timeout passes readiness through (pending stays pending)
/// and bounds the call.
#[tokio::test(start_paused = true)]
async fn attempt_timeout_covers_call_only() {
    let (mut svc, mut handle) =
        mock::spawn_layer::<u32, u32, _>(AttemptTimeoutLayer::new(Duration::from_secs(1)));
    handle.allow(0);
    assert_pending!(svc.poll_ready());
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_pending!(svc.poll_ready());
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());
    let fut = svc.call(1);
    let _pending_request = handle.next_request().await.unwrap();
    let err = fut.await.unwrap_err();
    assert!(matches!(err, Error::TimedOut { after, .. } if after == Duration::from_secs(1)));
}

/// An inner error comes out as `Error::Inner`, not as a timeout.
#[tokio::test(start_paused = true)]
async fn inner_error_passes_through() {
    let (mock, mut handle) = mock::pair::<u32, u32>();
    handle.allow(1);
    let svc = TimeoutLayer::new(Duration::from_secs(2)).layer(mock);
    let task = tokio::spawn(svc.oneshot(1));
    let (_, send) = handle.next_request().await.unwrap();
    send.send_error(std::io::Error::other("boom"));
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.to_string(), "boom");
    assert!(matches!(err, Error::Inner(_)));
}

/// A total timeout that expires while the inner service is still not ready
/// releases what the inner layers reserved for the request: here a
/// bulkhead permit taken in `poll_ready`, which would otherwise stay with
/// the (long-lived) service after the request has failed.
#[cfg(feature = "bulkhead")]
#[tokio::test(start_paused = true)]
async fn expired_request_releases_the_permit_below() {
    use evenkeel_middleware::BulkheadLayer;
    let bulkhead = BulkheadLayer::new(1);
    let layer =
        tower::layer::util::Stack::new(bulkhead.clone(), TimeoutLayer::new(Duration::from_secs(1)));
    let (mut svc, mut handle) = mock::spawn_layer::<u32, u32, _>(layer);
    handle.allow(0);
    assert_pending!(svc.poll_ready());
    assert_eq!(bulkhead.available(), 0);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_ready_ok!(svc.poll_ready());
    assert!(matches!(svc.call(1).await, Err(Error::TimedOut { .. })));
    assert_eq!(bulkhead.available(), 1, "the expired request holds nothing");
}
