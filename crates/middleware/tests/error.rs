//! The error type: one flat `Error<E>` for a whole stack, whatever the
//! order of the layers, and the helpers callers use to react.
#![cfg(feature = "full")]

use std::time::Duration;

use evenkeel_middleware::circuit_breaker::Breaker;
use evenkeel_middleware::{
    AttemptTimeoutLayer, BulkheadLayer, CircuitBreakerLayer, DrainLayer, Error, RateLimitLayer,
    TimeoutLayer, WrapErrorLayer,
};
use evenkeel_shutdown::Shutdown;
use tower::{ServiceBuilder, ServiceExt, service_fn};

#[derive(Debug, PartialEq)]
struct AppError(&'static str);

/// Six layers stacked over an `io::Error` service fail with
/// `Error<io::Error>`: one level, not six (checked by the type annotation).
#[tokio::test(start_paused = true)]
async fn stacked_layers_yield_one_flat_error() {
    let svc = ServiceBuilder::new()
        .layer(RateLimitLayer::per_second(100))
        .layer(TimeoutLayer::new(Duration::from_secs(1)))
        .layer(BulkheadLayer::new(10))
        .layer(DrainLayer::new(Shutdown::new()))
        .layer(CircuitBreakerLayer::new(Breaker::default()))
        .layer(AttemptTimeoutLayer::new(Duration::from_millis(500)))
        .service_fn(|()| async { Err::<(), _>(std::io::Error::other("boom")) });
    let err: Error<std::io::Error> = svc.oneshot(()).await.unwrap_err();
    assert_eq!(err.into_inner().unwrap().to_string(), "boom");
}

/// An error type without a `LayerError` impl goes under the layers through
/// `WrapErrorLayer`, still one level deep.
#[tokio::test(start_paused = true)]
async fn foreign_errors_wrap_once() {
    let svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new(Duration::from_secs(1)))
        .layer(BulkheadLayer::new(1))
        .layer(WrapErrorLayer::new())
        .service(service_fn(|()| async { Err::<(), _>(AppError("nope")) }));
    let err: Error<AppError> = svc.oneshot(()).await.unwrap_err();
    assert_eq!(err.into_inner(), Some(AppError("nope")));
}

/// `retry_after`, `status` and `is_rejection` agree for every variant.
#[test]
fn helpers_agree() {
    let d = Duration::from_secs(1);
    let rejections: [Error<()>; 4] = [
        Error::RateLimited { retry_after: d },
        Error::Overloaded { retry_after: d },
        Error::CircuitOpen { retry_after: d },
        Error::ShuttingDown { retry_after: d },
    ];
    for e in rejections {
        assert_eq!(e.retry_after(), Some(d));
        assert!(e.is_rejection());
        assert!(e.status().is_some());
    }
    let timed_out: Error<()> = Error::TimedOut { after: d };
    assert!(!timed_out.is_rejection());
    assert_eq!(timed_out.status().map(|s| s.as_u16()), Some(504));
    assert_eq!(Error::Inner(()).status(), None);
}

/// The error is `Send + Sync + 'static` and converts into tower's
/// `BoxError`, so it also fits stacks that erase errors.
#[test]
fn error_is_send_sync_and_boxes() {
    fn assert_bounds<T: Send + Sync + 'static>() {}
    assert_bounds::<Error<std::io::Error>>();
    let boxed: tower::BoxError = Box::new(Error::<std::io::Error>::TimedOut {
        after: Duration::ZERO,
    });
    assert_eq!(boxed.to_string(), "timed out after 0ns");
}
