//! Bulkhead: rejects when full without polling the inner service, releases
//! permits on completion and on drop, shares permits across clones, and
//! optionally waits a bounded time for a permit.
#![cfg(feature = "bulkhead")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use evenkeel_middleware::bulkhead::BulkheadEvent;
use evenkeel_middleware::{BulkheadLayer, Error};
use tokio_test::{assert_pending, assert_ready_ok};
use tower::{Layer, ServiceExt, service_fn};
use tower_test::mock;

/// With every permit taken, the next request is refused with the
/// configured retry-after, and the inner service is never polled for it.
#[tokio::test(start_paused = true)]
async fn rejects_when_full_without_polling_inner() {
    let layer = BulkheadLayer::builder(1)
        .retry_after(Duration::from_secs(3))
        .build();
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
    let layer = BulkheadLayer::builder(1)
        .max_wait(Duration::from_millis(100))
        .build();
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

/// A streaming response holds its permit until its body ends: open
/// streams count against the limit, so they cannot grow without bound.
#[tokio::test(start_paused = true)]
async fn open_streams_count_against_the_limit() {
    let layer = BulkheadLayer::new(1);
    let senders = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&senders);
    let svc = layer.layer(service_fn(move |()| {
        let (response, tx) = common::streaming_response();
        keep.lock().unwrap().push(tx);
        async move { Ok::<_, std::io::Error>(response) }
    }));
    let first = svc.clone().oneshot(()).await.unwrap();
    assert_eq!(layer.available(), 0, "the open body holds the permit");
    assert!(matches!(
        svc.clone().oneshot(()).await,
        Err(Error::Overloaded { .. })
    ));

    let tx = senders.lock().unwrap().pop().unwrap();
    tx.send(bytes::Bytes::from_static(b"chunk")).await.unwrap();
    drop(tx);
    assert_eq!(common::read_to_end(first.into_body()).await, 5);
    assert_eq!(layer.available(), 1, "the body's end gives the permit back");

    let second = svc.oneshot(()).await.unwrap();
    assert_eq!(layer.available(), 0);
    drop(second);
    assert_eq!(layer.available(), 1, "a dropped body gives it back too");
}

/// Two permits released while two requests wait admit both waiters: no
/// lost wake-up leaves one refused while a permit is free.
#[tokio::test(start_paused = true)]
async fn two_releases_admit_two_waiters() {
    let layer = BulkheadLayer::builder(2)
        .max_wait(Duration::from_secs(1))
        .build();
    let (mut a, mut handle) = mock::spawn_layer::<u32, u32, _>(layer.clone());
    handle.allow(4);
    let spawn = || mock::Spawn::new(layer.layer(a.get_ref().get_ref().clone()));
    let (mut w1, mut w2) = (spawn(), spawn());
    assert_ready_ok!(a.poll_ready());
    let first = a.call(1);
    assert_ready_ok!(a.poll_ready());
    let second = a.call(2);

    assert_pending!(w1.poll_ready());
    assert_pending!(w2.poll_ready());
    drop(first);
    drop(second);
    assert!(w1.is_woken() && w2.is_woken());
    assert_ready_ok!(w1.poll_ready());
    assert_ready_ok!(w2.poll_ready());
    let (r1, r2) = (w1.call(3), w2.call(4));
    assert_eq!(layer.available(), 0);
    drop((r1, r2));
}

/// A newcomer does not overtake a request already waiting: the freed
/// permit goes to the waiter.
#[tokio::test(start_paused = true)]
async fn waiters_are_served_before_newcomers() {
    let layer = BulkheadLayer::builder(1)
        .max_wait(Duration::from_secs(1))
        .build();
    let (mut a, mut handle) = mock::spawn_layer::<u32, u32, _>(layer.clone());
    handle.allow(4);
    let spawn = || mock::Spawn::new(layer.layer(a.get_ref().get_ref().clone()));
    let (mut waiter, mut newcomer) = (spawn(), spawn());
    assert_ready_ok!(a.poll_ready());
    let first = a.call(1);
    assert_pending!(waiter.poll_ready());
    drop(first);
    // The newcomer polls before the woken waiter does.
    assert_pending!(newcomer.poll_ready());
    assert_ready_ok!(waiter.poll_ready());
    let admitted = waiter.call(2);
    drop(admitted);
    assert_ready_ok!(newcomer.poll_ready());
    drop(newcomer.call(3));
}

/// A refusal cached by `poll_ready` is re-checked by the next
/// `poll_ready`: a permit freed in between is not refused.
#[tokio::test(start_paused = true)]
async fn cached_refusal_is_rechecked() {
    let layer = BulkheadLayer::new(1);
    let (mut a, mut handle) = mock::spawn_layer::<u32, u32, _>(layer.clone());
    let mut b = mock::Spawn::new(layer.layer(a.get_ref().get_ref().clone()));
    handle.allow(2);
    assert_ready_ok!(a.poll_ready());
    let first = a.call(1);
    assert_ready_ok!(b.poll_ready()); // full: decided "refuse"
    drop(first);
    assert_ready_ok!(b.poll_ready()); // polled again before calling
    let mut second = tokio_test::task::spawn(b.call(2));
    assert_pending!(second.poll(), "reached the inner service, not refused");
    let _first_request = handle.next_request().await.unwrap();
    let (request, send) = handle.next_request().await.unwrap();
    assert_eq!(request, 2);
    send.send_response(2);
    assert_eq!(second.await.unwrap(), 2);
}

/// Every refusal reaches the listener with the limit and the time waited.
#[tokio::test(start_paused = true)]
async fn listener_hears_rejections() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let layer = BulkheadLayer::builder(0)
        .max_wait(Duration::from_millis(20))
        .on_event(move |e| log.lock().unwrap().push(e.clone()))
        .build();
    let svc = layer.layer(service_fn(
        |x: u32| async move { Ok::<_, std::io::Error>(x) },
    ));
    assert!(svc.oneshot(1).await.is_err());
    assert_eq!(
        *seen.lock().unwrap(),
        vec![BulkheadEvent::Rejected {
            max_concurrency: 0,
            waited: Duration::from_millis(20)
        }]
    );
}
