//! Presets: the server and client stacks behave as their documented order
//! says (what refuses first, what each timeout covers, an open circuit is
//! not retried).
#![cfg(feature = "full")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use evenkeel_middleware::circuit_breaker::{Breaker, SlidingWindow, State};
use evenkeel_middleware::preset::{ClientLayer, ServerLayer};
use evenkeel_middleware::rate_limit::RateLimiter;
use evenkeel_middleware::{BulkheadLayer, Error};
use evenkeel_retry::Backoff;
use evenkeel_shutdown::Shutdown;
use tokio::time::Instant;
use tower::{Layer, ServiceExt, service_fn};

fn sleeper()
-> impl tower::Service<u64, Response = u64, Error = std::convert::Infallible, Future: Send> + Clone
{
    service_fn(|ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(ms)
    })
}

/// The rate limit refuses before anything else; the total timeout covers
/// waiting for a bulkhead permit; the drain refuses once draining.
#[tokio::test(start_paused = true)]
async fn server_preset_order() {
    let shutdown = Shutdown::new();
    let server = ServerLayer::new(shutdown.clone())
        .rate_limit(RateLimiter::new(2, Duration::from_secs(60)))
        .timeout(Duration::from_secs(1))
        .bulkhead(
            BulkheadLayer::builder(1)
                .max_wait(Duration::from_secs(10))
                .build(),
        );
    let svc = server.layer(sleeper());

    let busy = tokio::spawn(svc.clone().oneshot(5_000));
    tokio::task::yield_now().await;
    let start = Instant::now();
    let err = svc.clone().oneshot(0).await.unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err:?}");
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert!(matches!(busy.await.unwrap(), Err(Error::TimedOut { .. })));

    // Two admitted by the limiter so far: the third is refused first.
    assert!(matches!(
        svc.clone().oneshot(0).await,
        Err(Error::RateLimited { .. })
    ));

    let svc = ServerLayer::new(shutdown.clone()).layer(sleeper());
    assert_eq!(svc.clone().oneshot(1).await.unwrap(), 1);
    shutdown.drain(Duration::from_secs(1)).await;
    assert!(matches!(
        svc.oneshot(1).await,
        Err(Error::ShuttingDown { .. })
    ));
}

/// The client preset retries failures, opens the breaker on them, and then
/// fails fast without retrying the open circuit.
#[tokio::test(start_paused = true)]
async fn client_preset_does_not_retry_an_open_circuit() {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let breaker = Breaker::builder()
        .sliding_window(SlidingWindow::Count(4))
        .minimum_calls(4)
        .build()
        .unwrap();
    let client = ClientLayer::new()
        .backoff(Backoff::constant(Duration::from_millis(10)).max_attempts(4))
        .breaker(breaker.clone());
    let svc = client.layer(service_fn(move |(): ()| {
        seen.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), _>(std::io::Error::other("down")) }
    }));
    assert!(matches!(
        svc.clone().oneshot(()).await,
        Err(Error::Inner(_))
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(breaker.state(), State::Open);
    assert!(matches!(
        svc.oneshot(()).await,
        Err(Error::CircuitOpen { .. })
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

/// Each attempt gets the attempt timeout, a timed-out attempt is retried,
/// and the total timeout bounds all attempts together.
#[tokio::test(start_paused = true)]
async fn client_preset_timeouts() {
    let client = ClientLayer::new()
        .timeout(Duration::from_millis(2_500))
        .attempt_timeout(Duration::from_secs(1))
        .backoff(Backoff::constant(Duration::ZERO).max_attempts(10));
    let svc = client.layer(sleeper());
    let start = Instant::now();
    let err = svc.clone().oneshot(60_000).await.unwrap_err();
    assert!(matches!(err, Error::TimedOut { after, .. } if after == Duration::from_millis(2_500)));
    assert_eq!(start.elapsed(), Duration::from_millis(2_500));
    assert_eq!(svc.oneshot(10).await.unwrap(), 10);
}

/// The fused server stack never polls the inner service for a request it
/// refuses (here: a full bulkhead), like the separate layers.
#[tokio::test(start_paused = true)]
async fn server_preset_refusal_does_not_poll_inner() {
    use tokio_test::assert_ready_ok;
    use tower_test::mock;

    let server = ServerLayer::new(Shutdown::new()).max_concurrency(1);
    let (mut first, mut handle) = mock::spawn_layer::<u32, u32, _>(server);
    let mut second = mock::Spawn::new(first.get_ref().clone());
    handle.allow(1);
    assert_ready_ok!(first.poll_ready());
    let in_flight = first.call(1);
    handle.allow(0);
    assert_ready_ok!(second.poll_ready());
    assert!(matches!(
        second.call(2).await,
        Err(Error::Overloaded { .. })
    ));
    let respond = async {
        let (_, send) = handle.next_request().await.unwrap();
        send.send_response(10);
    };
    let (out, ()) = tokio::join!(in_flight, respond);
    assert_eq!(out.unwrap(), 10);
}

/// A request that waited for a bulkhead permit keeps one deadline, from
/// its admission: 1.5 s waiting plus a 1 s handler under a 2 s timeout
/// times out 2 s after it arrived, not 2 s after its call.
#[tokio::test(start_paused = true)]
async fn server_preset_deadline_spans_the_wait_and_the_response() {
    let server = ServerLayer::new(Shutdown::new())
        .timeout(Duration::from_secs(2))
        .bulkhead(
            BulkheadLayer::builder(1)
                .max_wait(Duration::from_secs(10))
                .build(),
        );
    let svc = server.layer(sleeper());

    let busy = tokio::spawn(svc.clone().oneshot(1_500));
    tokio::task::yield_now().await;
    let start = Instant::now();
    let err = svc.clone().oneshot(1_000).await.unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err:?}");
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(busy.await.unwrap().unwrap(), 1_500);
}
