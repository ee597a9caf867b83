//! Drain: a guard per in-flight request keeps the drain waiting; new
//! requests are refused once the drain has begun, without polling the
//! inner service.
#![cfg(feature = "drain")]

mod common;

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

/// A streaming response keeps the drain waiting until its body has ended,
/// not just until its headers are ready (the process must not exit
/// mid-stream).
#[tokio::test(start_paused = true)]
async fn streaming_body_holds_the_drain_until_its_end() {
    let shutdown = Shutdown::new();
    let (response, tx) = common::streaming_response();
    let response = std::sync::Mutex::new(Some(response));
    let svc = DrainLayer::new(shutdown.clone()).layer(service_fn(move |()| {
        let response = response.lock().unwrap().take().unwrap();
        async move { Ok::<_, std::io::Error>(response) }
    }));
    let response = svc.oneshot(()).await.unwrap();
    let drain = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.drain(Duration::from_secs(60)).await }
    });
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        !drain.is_finished(),
        "the drain must wait for the open body"
    );
    assert!(response.body().is_holding());

    tx.send(bytes::Bytes::from_static(b"event")).await.unwrap();
    drop(tx);
    assert_eq!(common::read_to_end(response.into_body()).await, 5);
    let report = drain.await.unwrap();
    assert!(
        matches!(report, DrainReport::Complete { elapsed } if elapsed == Duration::from_secs(10)),
        "{report:?}"
    );
}

/// A streaming body dropped before its end (the client went away) releases
/// the drain too.
#[tokio::test(start_paused = true)]
async fn dropped_body_releases_the_drain() {
    let shutdown = Shutdown::new();
    let svc = DrainLayer::new(shutdown.clone()).layer(service_fn(|()| async {
        Ok::<_, std::io::Error>(common::streaming_response().0)
    }));
    let response = svc.oneshot(()).await.unwrap();
    assert_eq!(shutdown.outstanding(), 1);
    drop(response);
    assert_eq!(shutdown.outstanding(), 0);
}

/// A guard taken by an early `poll_ready` is given back, and the request
/// refused, when readiness is polled again after the drain has begun (as
/// tower's balance does before calling).
#[tokio::test(start_paused = true)]
async fn guard_from_an_early_poll_ready_is_rechecked() {
    let shutdown = Shutdown::new();
    let (mut svc, mut handle) = mock::spawn_layer::<u32, u32, _>(DrainLayer::new(shutdown.clone()));
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());
    assert_eq!(shutdown.outstanding(), 1);
    let drain = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.drain(Duration::from_secs(60)).await }
    });
    tokio::task::yield_now().await;
    assert_ready_ok!(svc.poll_ready());
    assert!(matches!(svc.call(1).await, Err(Error::ShuttingDown { .. })));
    let report = drain.await.unwrap();
    assert!(
        matches!(report, DrainReport::Complete { elapsed } if elapsed.is_zero()),
        "{report:?}"
    );
}

/// The listener hears the drain begin once, then every refusal.
#[tokio::test(start_paused = true)]
async fn listener_reports_drain_begun_and_refusals() {
    use evenkeel_middleware::drain::DrainEvent;
    let shutdown = Shutdown::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    let svc = DrainLayer::new(shutdown.clone())
        .on_event(move |e| log.lock().unwrap().push(*e))
        .layer(service_fn(
            |x: u32| async move { Ok::<_, std::io::Error>(x) },
        ));
    shutdown.drain(Duration::from_secs(1)).await;
    assert!(svc.clone().oneshot(1).await.is_err());
    assert!(svc.oneshot(2).await.is_err());
    assert_eq!(
        *seen.lock().unwrap(),
        vec![DrainEvent::Begun, DrainEvent::Refused, DrainEvent::Refused]
    );
}
