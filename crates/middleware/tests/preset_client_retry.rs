//! The client preset's retry options: a retry deadline that returns the
//! last real error instead of an outer timeout, and an `on_retry` hook.
#![cfg(feature = "full")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evenkeel_middleware::Error;
use evenkeel_middleware::error::TimeoutScope;
use evenkeel_middleware::preset::ClientLayer;
use evenkeel_middleware::retry::RetryEvent;
use evenkeel_retry::Backoff;
use tokio::time::Instant;
use tower::{Layer, ServiceExt, service_fn};

/// A transport that refuses every connection at once, counting its calls.
fn refusing(
    calls: Arc<AtomicU32>,
) -> impl tower::Service<(), Response = (), Error = std::io::Error, Future: Send> + Clone {
    service_fn(move |()| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), _>(std::io::Error::other("connection refused")) }
    })
}

/// Attempts 5 s apart under an 8 s total: without a retry deadline the
/// caller gets a bare total timeout at 8 s (the third attempt's wait
/// crosses it); with `retry_deadline(8 s)` the wait that would cross it is
/// not started and the caller gets the second attempt's real error at 5 s.
#[tokio::test(start_paused = true)]
async fn retry_deadline_returns_the_last_real_error() {
    let backoff = Backoff::constant(Duration::from_secs(5)).max_attempts(5);
    let total = Duration::from_secs(8);

    let calls = Arc::new(AtomicU32::new(0));
    let plain = ClientLayer::new()
        .timeout(total)
        .backoff(backoff.clone())
        .layer(refusing(Arc::clone(&calls)));
    let start = Instant::now();
    let err = plain.oneshot(()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::TimedOut {
                scope: TimeoutScope::Total,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(start.elapsed(), total);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let calls = Arc::new(AtomicU32::new(0));
    let bounded = ClientLayer::new()
        .timeout(total)
        .backoff(backoff)
        .retry_deadline(total)
        .layer(refusing(Arc::clone(&calls)));
    let start = Instant::now();
    let err = bounded.oneshot(()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Inner(e) if e.to_string() == "connection refused"),
        "{err:?}"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// The hook hears every retry (attempt number and delay), never the final
/// result, and survives the builder's later options (backoff, policy).
#[tokio::test(start_paused = true)]
async fn on_retry_hears_each_retry() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let calls = Arc::new(AtomicU32::new(0));
    let client = ClientLayer::new()
        .on_retry(move |e: &RetryEvent<'_, (), std::io::Error>| {
            assert!(e.result.is_err());
            log.lock().unwrap().push((e.attempt, e.delay));
        })
        .backoff(Backoff::constant(Duration::from_millis(100)).max_attempts(3))
        .layer(refusing(Arc::clone(&calls)));

    let err = client.oneshot(()).await.unwrap_err();
    assert!(matches!(err, Error::Inner(_)));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let delay = Duration::from_millis(100);
    assert_eq!(*seen.lock().unwrap(), [(1, delay), (2, delay)]);
}
