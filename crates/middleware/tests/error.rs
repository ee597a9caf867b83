//! The error type: one flat `Error<E>` for a whole stack, whatever the
//! order of the layers, and the helpers callers use to react.
#![cfg(feature = "full")]

use std::time::Duration;

use evenkeel_middleware::circuit_breaker::Breaker;
use evenkeel_middleware::error::{BoxError, TimeoutScope};
use evenkeel_middleware::{
    AttemptTimeoutLayer, BulkheadLayer, CircuitBreakerLayer, DrainLayer, Error, RateLimitLayer,
    TimeoutLayer, WrapErrorLayer,
};
use evenkeel_shutdown::Shutdown;
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};

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
    let timed_out: Error<()> = Error::TimedOut {
        after: d,
        scope: TimeoutScope::Total,
    };
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
        scope: TimeoutScope::Total,
    });
    assert_eq!(boxed.to_string(), "request timed out after 0ns");
}

/// `TimedOut` says which timeout fired: the total one (`Timeout`) or the
/// per-attempt one (`AttemptTimeout`), also in its message.
#[tokio::test(start_paused = true)]
async fn timed_out_says_which_timeout_fired() {
    let slow = || {
        service_fn(|()| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<(), std::io::Error>(())
        })
    };
    let total = TimeoutLayer::new(Duration::from_secs(1)).layer(slow());
    let attempt = AttemptTimeoutLayer::new(Duration::from_secs(2)).layer(slow());
    let err = total.oneshot(()).await.unwrap_err();
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
    assert_eq!(err.to_string(), "request timed out after 1s");
    let err = attempt.oneshot(()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::TimedOut {
                scope: TimeoutScope::Attempt,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "attempt timed out after 2s");

    // Stacked, each keeps its own scope: the attempt timeout fires first here.
    let stacked = ServiceBuilder::new()
        .layer(TimeoutLayer::new(Duration::from_secs(10)))
        .layer(AttemptTimeoutLayer::new(Duration::from_secs(3)))
        .service(slow());
    let err = stacked.oneshot(()).await.unwrap_err();
    assert!(
        matches!(err, Error::TimedOut { scope: TimeoutScope::Attempt, after } if after == Duration::from_secs(3))
    );
}

/// A client error type with no `LayerError` impl of its own but
/// `Into<BoxError>` (as hyper's and reqwest's are) goes under the layers
/// with `WrapErrorLayer::boxed()`: one flat `Error<BoxError>`, rejections
/// still typed, the inner error recoverable by downcast.
#[tokio::test(start_paused = true)]
async fn into_box_error_client_errors_wrap_once() {
    #[derive(Debug, thiserror::Error)]
    #[error("connection reset")]
    struct ClientError;

    let svc = ServiceBuilder::new()
        .layer(RateLimitLayer::per_second(1))
        .layer(TimeoutLayer::new(Duration::from_secs(1)))
        .layer(WrapErrorLayer::boxed())
        .service(service_fn(|()| async { Err::<(), _>(ClientError) }));
    let err: Error<BoxError> = svc.clone().oneshot(()).await.unwrap_err();
    assert!(err.downcast_inner_ref::<ClientError>().is_some());
    assert_eq!(err.to_string(), "connection reset");
    let err: Error<BoxError> = svc.oneshot(()).await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }));
    // And a typed stack erases into the same type with `into_boxed`.
    let typed: Error<std::io::Error> = Error::Inner(std::io::Error::other("x"));
    assert!(
        typed
            .into_boxed()
            .downcast_inner_ref::<std::io::Error>()
            .is_some()
    );
}

/// `?` inside a service body wraps an application error once.
#[test]
fn question_mark_wraps_inner_errors() {
    fn parse(s: &str) -> Result<u8, Error<std::num::ParseIntError>> {
        Ok(s.parse::<u8>()?)
    }
    assert_eq!(parse("7").unwrap(), 7);
    assert!(matches!(parse("x"), Err(Error::Inner(_))));
}
