//! Retry and HTTP: the policy sees the request (no duplicate POSTs), the
//! `Retry-After` header in both forms and its cap, the layer's deadline and
//! its per-retry hook, and per-request jitter from a seeded backoff.
#![cfg(feature = "retry")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use evenkeel_middleware::retry::{HttpPolicy, Policy, RetryEvent};
use evenkeel_middleware::{Error, RetryLayer};
use evenkeel_retry::{Backoff, Decision, Jitter};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};

type Resp = http::Response<()>;

/// A server that answers `status` (with `headers`) to its first `failures`
/// requests, then 200; and its call counter.
fn server(
    failures: u32,
    status: u16,
    headers: Vec<(&'static str, String)>,
) -> (
    impl Service<http::Request<()>, Response = Resp, Error = std::io::Error, Future: Send> + Clone,
    Arc<AtomicU32>,
) {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let svc = service_fn(move |_: http::Request<()>| {
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        let mut resp = http::Response::builder().status(if n <= failures { status } else { 200 });
        if n <= failures {
            for (name, value) in &headers {
                resp = resp.header(*name, value.as_str());
            }
        }
        let resp = resp.body(()).unwrap();
        async move { Ok::<_, std::io::Error>(resp) }
    });
    (svc, calls)
}

fn backoff() -> Backoff {
    Backoff::constant(Duration::from_millis(10)).max_attempts(5)
}

/// A POST that meets a 503 is sent exactly once: it may have been acted on.
#[tokio::test(start_paused = true)]
async fn post_is_not_retried_on_503() {
    let (inner, calls) = server(10, 503, vec![]);
    let svc = RetryLayer::new(backoff()).policy(HttpPolicy).layer(inner);
    let post = http::Request::post("/jobs").body(()).unwrap();
    assert_eq!(svc.oneshot(post).await.unwrap().status(), 503);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A POST with an `Idempotency-Key` is retried (the server deduplicates),
/// and so is a PUT.
#[tokio::test(start_paused = true)]
async fn keyed_post_and_put_are_retried() {
    let (inner, calls) = server(2, 503, vec![]);
    let svc = RetryLayer::new(backoff()).policy(HttpPolicy).layer(inner);
    let keyed = http::Request::post("/jobs")
        .header("Idempotency-Key", "job-42")
        .body(())
        .unwrap();
    assert_eq!(svc.oneshot(keyed).await.unwrap().status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    let (inner, calls) = server(1, 502, vec![]);
    let svc = RetryLayer::new(backoff()).policy(HttpPolicy).layer(inner);
    let put = http::Request::put("/jobs/1").body(()).unwrap();
    assert_eq!(svc.oneshot(put).await.unwrap().status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A POST refused by a layer *below* the retry (never sent) is retried.
#[tokio::test(start_paused = true)]
async fn post_refused_below_is_retried() {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let inner = service_fn(move |_: http::Request<()>| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                Err(Error::<std::io::Error>::Overloaded {
                    retry_after: Duration::from_millis(5),
                })
            } else {
                Ok(http::Response::new(()))
            }
        }
    });
    let svc = RetryLayer::new(backoff()).policy(HttpPolicy).layer(inner);
    let post = http::Request::post("/jobs").body(()).unwrap();
    assert!(svc.oneshot(post).await.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A policy whose `clone_request` refuses makes the request not retryable:
/// one call, its result returned, `decide` never asked.
#[tokio::test(start_paused = true)]
async fn refused_clone_means_one_call() {
    #[derive(Clone)]
    struct Never;
    impl Policy<http::Request<()>, Resp, std::io::Error> for Never {
        fn decide(
            &self,
            _: &http::Request<()>,
            _: &Result<Resp, Error<std::io::Error>>,
        ) -> Decision {
            Decision::Retry
        }
        fn clone_request(&self, _: &http::Request<()>) -> Option<http::Request<()>> {
            None
        }
    }
    let (inner, calls) = server(10, 503, vec![]);
    let svc = RetryLayer::new(backoff()).policy(Never).layer(inner);
    let get = http::Request::get("/").body(()).unwrap();
    assert_eq!(svc.oneshot(get).await.unwrap().status(), 503);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A `Retry-After` given as an HTTP-date is honoured.
#[tokio::test(start_paused = true)]
async fn http_date_retry_after_is_honoured() {
    // Whole seconds: an HTTP-date has no finer resolution.
    let now = SystemTime::now();
    let at = httpdate_in(now, 3);
    let (inner, calls) = server(1, 503, vec![("retry-after", at)]);
    let svc = RetryLayer::new(backoff()).policy(HttpPolicy).layer(inner);
    let start = Instant::now();
    let get = http::Request::get("/").body(()).unwrap();
    assert_eq!(svc.oneshot(get).await.unwrap().status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited <= Duration::from_secs(4),
        "{waited:?}"
    );
}

/// `now + secs` as an HTTP-date (IMF-fixdate).
fn httpdate_in(now: SystemTime, secs: u64) -> String {
    httpdate::fmt_http_date(now + Duration::from_secs(secs))
}

/// `Retry-After: 86400` stops at once: the 503 (with its header) is
/// returned instead of a day's sleep.
#[tokio::test(start_paused = true)]
async fn day_long_retry_after_stops() {
    let (inner, calls) = server(1, 503, vec![("retry-after", "86400".into())]);
    let svc = RetryLayer::new(backoff()).policy(HttpPolicy).layer(inner);
    let start = Instant::now();
    let resp = svc
        .oneshot(http::Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "86400");
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Under an outer timeout, a layer with the same deadline never starts a
/// wait that would cross it: the caller gets the last real response, not
/// `TimedOut`. Without the deadline, the outer timeout fires mid-sleep.
#[cfg(feature = "timeout")]
#[tokio::test(start_paused = true)]
async fn deadline_returns_the_last_real_result() {
    use evenkeel_middleware::TimeoutLayer;

    let total = Duration::from_millis(250);
    let slow = Backoff::constant(Duration::from_millis(100)).max_attempts(10);
    let (inner, calls) = server(10, 503, vec![]);
    let svc = TimeoutLayer::new(total).layer(
        RetryLayer::new(slow.clone())
            .policy(HttpPolicy)
            .deadline(total)
            .layer(inner),
    );
    let start = Instant::now();
    let resp = svc
        .oneshot(http::Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(calls.load(Ordering::SeqCst), 3); // at 0, 100 and 200 ms
    assert_eq!(start.elapsed(), Duration::from_millis(200));

    let (inner, _) = server(10, 503, vec![]);
    let svc = TimeoutLayer::new(total).layer(RetryLayer::new(slow).policy(HttpPolicy).layer(inner));
    let err = svc
        .oneshot(http::Request::get("/").body(()).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err:?}");
}

/// `on_retry` sees every retry with its attempt number, delay and the
/// result being retried, and not the final result.
#[tokio::test(start_paused = true)]
async fn on_retry_sees_each_retry() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let (inner, _) = server(2, 503, vec![("retry-after", "1".into())]);
    let svc = RetryLayer::new(backoff())
        .policy(HttpPolicy)
        .on_retry(move |e: &RetryEvent<'_, Resp, std::io::Error>| {
            let status = e.result.as_ref().map(|r| r.status().as_u16()).ok();
            log.lock().unwrap().push((e.attempt, e.delay, status));
        })
        .layer(inner);
    let resp = svc
        .oneshot(http::Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let s = Duration::from_secs(1);
    assert_eq!(
        *seen.lock().unwrap(),
        [(1, s, Some(503)), (2, s, Some(503))]
    );
}

/// Two requests through one layer with a seeded backoff get different
/// jitter (each draws its own stream), and the same seed reproduces both.
#[tokio::test(start_paused = true)]
async fn requests_get_their_own_jitter() {
    async fn two_requests() -> Vec<Vec<Duration>> {
        let delays = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&delays);
        let backoff = Backoff::exponential(Duration::from_millis(100))
            .jitter(Jitter::Full)
            .max_attempts(4)
            .seed(5);
        let (inner, _) = server(u32::MAX, 503, vec![]);
        let svc = RetryLayer::new(backoff)
            .policy(HttpPolicy)
            .on_retry(move |e: &RetryEvent<'_, Resp, std::io::Error>| {
                log.lock().unwrap().push(e.delay);
            })
            .layer(inner);
        let mut per_request = Vec::new();
        for _ in 0..2 {
            let _ = svc
                .clone()
                .oneshot(http::Request::get("/").body(()).unwrap())
                .await;
            per_request.push(std::mem::take(&mut *delays.lock().unwrap()));
        }
        per_request
    }
    let first = two_requests().await;
    assert_eq!(first[0].len(), 3);
    assert_ne!(first[0], first[1], "requests jittered in lockstep");
    assert_eq!(first, two_requests().await, "not reproducible");
}
