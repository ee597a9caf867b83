//! Bulkhead: rejects when full without polling the inner service, releases
//! permits on completion and on drop, shares permits across clones, and
//! optionally waits a bounded time for a permit.
#![cfg(feature = "bulkhead")]

use std::time::Duration;

use evenkeel_middleware::{BulkheadLayer, Error};
use tokio_test::{assert_pending, assert_ready_ok};
use tower::Layer;
use tower_test::mock;

/// With every permit taken, the next request is refused with the
/// configured retry-after, and the inner service is never polled for it.
#[tokio::test(start_paused = true)]
async fn rejects_when_full_without_polling_inner() {
    let layer = BulkheadLayer::builder(1).retry_after(Duration::from_secs(3)).build();
    let (mut a, mut handle) = mock::spawn_layer::<u32, u32, _>(layer.clone());
    let mut b = mock::Spawn::new(layer.layer(a.get_ref().get_ref().clone()));
    handle.allow(1);
    assert_ready_ok!(a.poll_ready());
    let in_flight = a.call(1);
    assert_eq!(layer.available(), 0);

    // The inner mock has no readiness left: a rejection must not need it.
    assert_ready_ok!(b.poll_ready());
    let err = b.call(2).await.unwrap_err();
    assert!(
        matches!(err, Error::Overloaded { retry_after } if retry_after == Duration::from_secs(3))
    );

    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(10);
    assert_eq!(in_flight.await.unwrap(), 10);
    assert_eq!(layer.available(), 1);
}

/// Dropping an in-flight response future gives its permit back.
#[tokio::test(start_paused = true)]
async fn permit_released_on_drop() {
    let layer = BulkheadLayer::new(2);
    let (mut svc, mut handle) = mock::spawn_layer::<u32, u32, _>(layer.clone());
    handle.allow(2);
    assert_ready_ok!(svc.poll_ready());
    let first = svc.call(1);
    assert_ready_ok!(svc.poll_ready());
    let second = svc.call(2);
    assert_eq!(layer.available(), 0);
    drop(first);
    assert_eq!(layer.available(), 1);
    drop(second);
    assert_eq!(layer.available(), 2);
}

/// A permit taken in `poll_ready` is held by that service until `call`,
/// like tower's `ConcurrencyLimit`, and a clone does not inherit it.
#[tokio::test(start_paused = true)]
async fn permit_taken_in_poll_ready_not_cloned() {
    let layer = BulkheadLayer::new(1);
    let (mut svc, mut handle) = mock::spawn_layer::<u32, u32, _>(layer.clone());
    handle.allow(0);
    assert_pending!(svc.poll_ready());
    assert_eq!(layer.available(), 0);
    let clone = svc.get_ref().clone();
    assert_eq!(clone.available(), 0);
    drop(svc);
    assert_eq!(layer.available(), 1);
}

/// In waiting mode a request gets a permit freed within `max_wait`, and is
/// refused once `max_wait` has passed.
#[tokio::test(start_paused = true)]
async fn waits_up_to_max_wait() {
    let layer = BulkheadLayer::builder(1).max_wait(Duration::from_millis(100)).build();
    let (mut a, mut handle) = mock::spawn_layer::<u32, u32, _>(layer.clone());
    let mut b = mock::Spawn::new(layer.layer(a.get_ref().get_ref().clone()));
    handle.allow(2);
    assert_ready_ok!(a.poll_ready());
    let first = a.call(1);

    assert_pending!(b.poll_ready());
    tokio::time::advance(Duration::from_millis(50)).await;
    assert_pending!(b.poll_ready());
    drop(first);
    assert!(b.is_woken());
    assert_ready_ok!(b.poll_ready());
    let second = b.call(2);

    let mut c = mock::Spawn::new(layer.layer(a.get_ref().get_ref().clone()));
    assert_pending!(c.poll_ready());
    tokio::time::advance(Duration::from_millis(100)).await;
    assert!(c.is_woken());
    assert_ready_ok!(c.poll_ready());
    assert!(matches!(c.call(3).await, Err(Error::Overloaded { .. })));
    drop(second);
}
