//! Drain: a guard per in-flight request keeps the drain waiting; new
//! requests are refused once the drain has begun, without polling the
//! inner service.
#![cfg(feature = "drain")]

use std::time::Duration;

use evenkeel_middleware::{DrainLayer, Error};
use evenkeel_shutdown::{DrainReport, Reason, Shutdown};
use tokio_test::assert_ready_ok;
use tower::{Layer, ServiceExt, service_fn};
use tower_test::mock;

/// The drain waits for a request in flight and completes when its response
/// is done.
#[tokio::test(start_paused = true)]
async fn in_flight_request_holds_the_drain() {
    let shutdown = Shutdown::new();
    let svc = DrainLayer::new(shutdown.clone()).layer(service_fn(|ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, std::io::Error>(ms)
    }));
    let request = tokio::spawn(svc.oneshot(300));
    tokio::task::yield_now().await;
    let report = shutdown.drain(Duration::from_secs(5)).await;
    assert!(
        matches!(report, DrainReport::Complete { elapsed } if elapsed == Duration::from_millis(300))
    );
    assert_eq!(request.await.unwrap().unwrap(), 300);
}

/// Once the drain has begun, a new request is refused with the configured
/// retry-after, and the inner service is not polled for it.
#[tokio::test(start_paused = true)]
async fn refuses_new_requests_once_draining() {
    let shutdown = Shutdown::new();
    let layer = DrainLayer::new(shutdown.clone()).retry_after(Duration::from_secs(2));
    let (mut svc, mut handle) = mock::spawn_layer::<u32, u32, _>(layer);
    handle.allow(0);
    let report = shutdown.drain(Duration::from_secs(1)).await;
    assert!(matches!(report, DrainReport::Complete { .. }));
    assert_ready_ok!(svc.poll_ready());
    let err = svc.call(1).await.unwrap_err();
    assert!(
        matches!(err, Error::ShuttingDown { retry_after } if retry_after == Duration::from_secs(2))
    );
}

/// Triggered but not yet draining (the pre-drain phase), requests are still
/// admitted: load balancers may still route here.
#[tokio::test(start_paused = true)]
async fn admits_while_triggered_before_drain() {
    let shutdown = Shutdown::new();
    shutdown.trigger(Reason::Requested);
    let svc = DrainLayer::new(shutdown.clone()).layer(service_fn(|x: u32| async move {
        Ok::<_, std::io::Error>(x)
    }));
    assert_eq!(svc.oneshot(4).await.unwrap(), 4);
}
