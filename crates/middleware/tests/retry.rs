//! Retry: backoff timing under paused time, attempt limits, retry-after
//! hints from errors and responses, the budget, readiness before every
//! later attempt, and replayable HTTP bodies.
#![cfg(feature = "retry")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use evenkeel_middleware::retry::{HttpPolicy, replayable};
use evenkeel_middleware::{Error, RetryLayer};
use evenkeel_retry::{Backoff, RetryBudget};
use http_body_util::{BodyExt, Full};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_test::mock;

/// A service that fails its first `failures` calls with `error`, then
/// answers its call count; and the shared call counter.
fn failing<E: Send + 'static>(
    failures: u32,
    error: impl Fn() -> E + Clone + Send + 'static,
) -> (
    impl Service<u32, Response = u32, Error = E, Future: Send> + Clone,
    Arc<AtomicU32>,
) {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let svc = service_fn(move |_: u32| {
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        let error = error.clone();
        async move { if n <= failures { Err(error()) } else { Ok(n) } }
    });
    (svc, calls)
}

fn io_error() -> std::io::Error {
    std::io::Error::other("flaky")
}

/// Failures are retried after exactly the backoff's delays.
#[tokio::test(start_paused = true)]
async fn retries_on_the_backoff_schedule() {
    let (svc, calls) = failing(2, io_error);
    let backoff = Backoff::exponential(Duration::from_millis(100)).max_attempts(5);
    let svc = RetryLayer::new(backoff).layer(svc);
    let start = Instant::now();
    assert_eq!(svc.oneshot(0).await.unwrap(), 3);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(100 + 200));
}

/// When the backoff runs out, the last attempt's error comes back.
#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts() {
    let (svc, calls) = failing(10, io_error);
    let svc =
        RetryLayer::new(Backoff::constant(Duration::from_millis(10)).max_attempts(3)).layer(svc);
    let err = svc.oneshot(0).await.unwrap_err();
    assert!(matches!(err, Error::Inner(_)));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// A rate-limit rejection from below is retried after its retry-after,
/// not after the backoff's (much shorter) delay.
#[tokio::test(start_paused = true)]
async fn honours_error_retry_after() {
    let (svc, _) = failing(1, || Error::<std::io::Error>::RateLimited {
        retry_after: Duration::from_secs(3),
    });
    let svc = RetryLayer::new(Backoff::constant(Duration::from_millis(10))).layer(svc);
    let start = Instant::now();
    assert_eq!(svc.oneshot(0).await.unwrap(), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

/// A retry-after hint is capped at the backoff's `max_delay` and counts
/// against its `max_attempts`: a server cannot stretch the wait or the
/// number of attempts past the caps.
#[tokio::test(start_paused = true)]
async fn retry_after_hint_is_capped_and_counted() {
    let (svc, calls) = failing(10, || Error::<std::io::Error>::RateLimited {
        retry_after: Duration::from_secs(30),
    });
    let backoff = Backoff::constant(Duration::from_millis(10))
        .max_delay(Duration::from_secs(2))
        .max_attempts(3);
    let svc = RetryLayer::new(backoff).layer(svc);
    let start = Instant::now();
    let err = svc.oneshot(0).await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(start.elapsed(), Duration::from_secs(2 + 2));
}

/// A hint past the backoff's `max_retry_after` (60 s by default) stops at
/// once with the rejection that carried it, instead of sleeping an hour.
#[tokio::test(start_paused = true)]
async fn hint_past_max_retry_after_stops() {
    let (svc, calls) = failing(10, || Error::<std::io::Error>::RateLimited {
        retry_after: Duration::from_secs(3600),
    });
    let svc = RetryLayer::new(Backoff::constant(Duration::from_millis(10))).layer(svc);
    let start = Instant::now();
    let err = svc.oneshot(0).await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { retry_after } if retry_after.as_secs() == 3600));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

/// With `HttpPolicy`, a 503 response to a GET is retried after its
/// `Retry-After`; a 404 is returned as is.
#[tokio::test(start_paused = true)]
async fn http_policy_honours_retry_after_header() {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let inner = service_fn(move |req: http::Request<()>| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        let code: u16 = req.uri().path()[1..].parse().unwrap();
        async move {
            let resp = if n == 0 {
                http::Response::builder()
                    .status(503)
                    .header("retry-after", "2")
            } else {
                http::Response::builder().status(code)
            };
            Ok::<_, std::io::Error>(resp.body(()).unwrap())
        }
    });
    let svc = RetryLayer::new(Backoff::constant(Duration::from_millis(1)))
        .policy(HttpPolicy)
        .layer(inner);
    let get = |path: &str| http::Request::get(path).body(()).unwrap();
    let start = Instant::now();
    assert_eq!(
        svc.clone().oneshot(get("/200")).await.unwrap().status(),
        200
    );
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(svc.oneshot(get("/404")).await.unwrap().status(), 404);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// An empty budget refuses every retry: one attempt, its error returned.
#[tokio::test(start_paused = true)]
async fn exhausted_budget_stops_retries() {
    let (svc, calls) = failing(10, io_error);
    let budget = RetryBudget::new(Duration::from_secs(1), 0, 0.0);
    let svc = RetryLayer::new(Backoff::constant(Duration::from_millis(10)))
        .budget(budget)
        .layer(svc);
    assert!(svc.oneshot(0).await.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Every attempt after the first waits for the inner service to be ready
/// again before calling it.
#[tokio::test(start_paused = true)]
async fn later_attempts_poll_readiness() {
    let (mock, mut handle) = mock::pair::<u32, u32>();
    let svc =
        RetryLayer::new(Backoff::constant(Duration::from_millis(10)).max_attempts(2)).layer(mock);
    handle.allow(1);
    let task = tokio::spawn(svc.oneshot(5));
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req, 5);
    send.send_error(io_error());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!task.is_finished());
    handle.allow(1);
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req, 5);
    send.send_response(50);
    assert_eq!(task.await.unwrap().unwrap(), 50);
}

/// A buffered HTTP request is replayed with the same body on every attempt.
#[tokio::test(start_paused = true)]
async fn replayable_request_is_retried_with_its_body() {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let inner = service_fn(move |req: http::Request<Full<Bytes>>| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            if n == 0 { Err(io_error()) } else { Ok(body) }
        }
    });
    let svc = RetryLayer::new(Backoff::constant(Duration::from_millis(1))).layer(inner);
    let req = http::Request::post("/")
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    let req = replayable(req, 1024).await.unwrap();
    assert_eq!(
        svc.oneshot(req).await.unwrap(),
        Bytes::from_static(b"payload")
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
