//! Circuit breaker and streaming `http::Response` bodies: a call is timed
//! and judged at the end of its body (or its drop), not when its headers
//! arrive; a body that fails mid-stream is a failure; a half-open trial
//! keeps its slot until its body is done.
#![cfg(feature = "circuit-breaker")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use evenkeel_middleware::circuit_breaker::{
    Breaker, BreakerEvent, HttpClassifier, SlidingWindow, State,
};
use evenkeel_middleware::{CircuitBreakerLayer, Error};
use tower::{Layer, Service, ServiceExt, service_fn};

use common::{fallible_response, read_to_end, streaming_response};

/// A service that answers with the response it is given (or fails with
/// the message it is given): the test holds the body's other end.
fn answer<B: Send + 'static>() -> impl Service<
    Result<http::Response<B>, &'static str>,
    Response = http::Response<B>,
    Error = std::io::Error,
> + Clone {
    service_fn(|r: Result<http::Response<B>, &'static str>| async move {
        r.map_err(std::io::Error::other)
    })
}

/// A breaker that opens on one slow call (over 1 s) or one failure.
fn one_call_breaker(events: Arc<Mutex<Vec<BreakerEvent>>>) -> Breaker {
    Breaker::builder()
        .sliding_window(SlidingWindow::Count(1))
        .minimum_calls(1)
        .failure_rate_threshold(100.0)
        .slow_call_duration(Duration::from_secs(1))
        .slow_call_rate_threshold(100.0)
        .open_duration(Duration::from_secs(10))
        .half_open_calls(1)
        .on_event(move |e| events.lock().unwrap().push(*e))
        .build()
        .unwrap()
}

fn slow_calls(events: &Mutex<Vec<BreakerEvent>>) -> Vec<Duration> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            BreakerEvent::SlowCall { elapsed } => Some(*elapsed),
            _ => None,
        })
        .collect()
}

/// Headers that arrive at once followed by a body that streams for 2 s
/// make a slow call (threshold 1 s), recorded when the body ends, with
/// the whole 2 s as its duration.
#[tokio::test(start_paused = true)]
async fn a_body_that_ends_after_the_threshold_is_a_slow_call() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let b = one_call_breaker(Arc::clone(&events));
    let svc = CircuitBreakerLayer::new(b.clone()).layer(answer());

    let (response, tx) = streaming_response();
    let response = svc.oneshot(Ok(response)).await.unwrap();
    // The headers are here; the call is not over.
    assert_eq!(b.state(), State::Closed);
    assert!(slow_calls(&events).is_empty());

    let reader = tokio::spawn(read_to_end(response.into_body()));
    tx.send(Bytes::from_static(b"event: 1\n\n")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(b.state(), State::Closed, "still streaming");
    drop(tx); // the stream ends
    assert_eq!(reader.await.unwrap(), 10);

    assert_eq!(slow_calls(&events), [Duration::from_secs(2)]);
    assert_eq!(b.state(), State::Open);
}

/// A body the reader drops before its end (the client went away after
/// 2 s) is timed to the drop: a slow call, with its headers' outcome.
#[tokio::test(start_paused = true)]
async fn a_body_dropped_after_the_threshold_is_a_slow_call() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let b = one_call_breaker(Arc::clone(&events));
    let svc = CircuitBreakerLayer::new(b.clone()).layer(answer());

    let (response, _tx) = streaming_response();
    let response = svc.oneshot(Ok(response)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(b.state(), State::Closed);
    drop(response);

    assert_eq!(slow_calls(&events), [Duration::from_secs(2)]);
    assert_eq!(b.state(), State::Open);
}

/// A fast body that ends before the threshold is neither slow nor a
/// failure: the circuit stays closed.
#[tokio::test(start_paused = true)]
async fn a_fast_body_is_a_success() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let b = one_call_breaker(Arc::clone(&events));
    let svc = CircuitBreakerLayer::new(b.clone()).layer(answer());

    let (response, tx) = streaming_response();
    let response = svc.oneshot(Ok(response)).await.unwrap();
    tx.send(Bytes::from_static(b"ok")).await.unwrap();
    drop(tx);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(read_to_end(response.into_body()).await, 2);

    assert!(slow_calls(&events).is_empty());
    assert_eq!(b.state(), State::Closed);
}

/// A 200 whose body fails mid-stream is a failure (the classifier saw a
/// success at the headers), recorded when the error is read.
#[tokio::test(start_paused = true)]
async fn a_body_that_fails_mid_stream_is_a_failure() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let b = one_call_breaker(events);
    let svc = CircuitBreakerLayer::new(b.clone())
        .classifier(HttpClassifier)
        .layer(answer());

    let (response, tx) = fallible_response();
    let response = svc.oneshot(Ok(response)).await.unwrap();
    assert_eq!(response.status(), 200);
    tx.send(Ok(Bytes::from_static(b"part"))).await.unwrap();
    tx.send(Err(std::io::Error::other("connection reset")))
        .await
        .unwrap();
    let mut body = std::pin::pin!(response.into_body());
    let first = std::future::poll_fn(|cx| http_body::Body::poll_frame(body.as_mut(), cx)).await;
    assert!(matches!(first, Some(Ok(_))));
    assert_eq!(b.state(), State::Closed, "one good frame decides nothing");
    let second = std::future::poll_fn(|cx| http_body::Body::poll_frame(body.as_mut(), cx)).await;
    assert!(matches!(second, Some(Err(_))));

    assert_eq!(b.state(), State::Open);
}

/// A half-open trial keeps its slot until its body ends: while it streams
/// every other call is refused and the circuit stays half-open; the end
/// of the body closes it.
#[tokio::test(start_paused = true)]
async fn a_trial_holds_its_slot_until_its_body_ends() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let b = one_call_breaker(events);
    let svc = CircuitBreakerLayer::new(b.clone()).layer(answer());

    // One failure opens the circuit.
    let failed = svc.clone().oneshot(Err("refused")).await;
    assert!(matches!(failed, Err(Error::Inner(_))));
    assert_eq!(b.state(), State::Open);
    tokio::time::sleep(Duration::from_secs(10)).await;

    // The trial: headers at once, the body streams.
    let (response, tx) = streaming_response();
    let trial = svc.clone().oneshot(Ok(response)).await.unwrap();
    assert_eq!(b.state(), State::HalfOpen, "the trial is not over");
    let (other, _tx) = streaming_response();
    let refused = svc.clone().oneshot(Ok(other)).await;
    assert!(matches!(refused, Err(Error::CircuitOpen { .. })));

    tx.send(Bytes::from_static(b"ok")).await.unwrap();
    drop(tx);
    assert_eq!(read_to_end(trial.into_body()).await, 2);
    assert_eq!(b.state(), State::Closed);
}

/// A half-open trial whose body fails mid-stream opens the circuit again.
#[tokio::test(start_paused = true)]
async fn a_trial_whose_body_fails_reopens() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let b = one_call_breaker(events);
    let svc = CircuitBreakerLayer::new(b.clone()).layer(answer());

    let _ = svc.clone().oneshot(Err("refused")).await;
    tokio::time::sleep(Duration::from_secs(10)).await;

    let (response, tx) = fallible_response();
    let trial = svc.clone().oneshot(Ok(response)).await.unwrap();
    tx.send(Err(std::io::Error::other("reset"))).await.unwrap();
    let mut body = std::pin::pin!(trial.into_body());
    let frame = std::future::poll_fn(|cx| http_body::Body::poll_frame(body.as_mut(), cx)).await;
    assert!(matches!(frame, Some(Err(_))));
    assert_eq!(b.state(), State::Open);
}
