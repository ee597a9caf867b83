//! axum integration: a stack of these layers on a `Router` with
//! `ErrorResponseLayer`, answering each rejection with the right status and
//! `Retry-After`, without `HandleErrorLayer`.
#![cfg(all(
    feature = "axum",
    feature = "rate-limit",
    feature = "timeout",
    feature = "bulkhead"
))]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use evenkeel_middleware::rate_limit::RateLimiter;
use evenkeel_middleware::{BulkheadLayer, Error, ErrorResponseLayer, RateLimitLayer, TimeoutLayer};
use tower::ServiceExt;

fn get_req(path: &str) -> Request<Body> {
    Request::builder().uri(path).body(Body::empty()).unwrap()
}

/// Rate-limited requests get 429 with `Retry-After` in whole seconds,
/// rounded up; admitted ones reach the handler.
#[tokio::test(start_paused = true)]
async fn rate_limit_is_429_with_retry_after() {
    let app: Router = Router::new().route("/", get(|| async { "ok" })).layer((
        ErrorResponseLayer::new(),
        RateLimitLayer::new(RateLimiter::new(2, Duration::from_secs(3))),
    ));
    assert_eq!(
        app.clone().oneshot(get_req("/")).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        app.clone().oneshot(get_req("/")).await.unwrap().status(),
        StatusCode::OK
    );
    let resp = app.clone().oneshot(get_req("/")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // 1.5 s until the next slot: rounded up to 2.
    assert_eq!(resp.headers()["retry-after"], "2");
}

/// A full bulkhead is 503 with `Retry-After`; a slow handler under the
/// total timeout is 504 without it.
#[tokio::test(start_paused = true)]
async fn overload_is_503_and_timeout_is_504() {
    let app: Router = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late"
            }),
        )
        .layer((
            ErrorResponseLayer::new(),
            TimeoutLayer::new(Duration::from_secs(1)),
            BulkheadLayer::builder(1)
                .retry_after(Duration::from_secs(4))
                .build(),
        ));
    let first = tokio::spawn(app.clone().oneshot(get_req("/slow")));
    tokio::task::yield_now().await;
    let resp = app.clone().oneshot(get_req("/slow")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "4");

    let resp = first.await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(resp.headers().get("retry-after").is_none());
}

/// Each rejection maps to its documented status and header.
#[test]
fn every_variant_maps_to_its_status() {
    type E = Error<std::convert::Infallible>;
    let s = Duration::from_secs(7);
    let cases: [(E, u16, Option<&str>); 5] = [
        (Error::RateLimited { retry_after: s }, 429, Some("7")),
        (Error::Overloaded { retry_after: s }, 503, Some("7")),
        (Error::CircuitOpen { retry_after: s }, 503, Some("7")),
        (Error::ShuttingDown { retry_after: s }, 503, Some("7")),
        (Error::TimedOut { after: s }, 504, None),
    ];
    for (error, status, header) in cases {
        let resp = error.into_response();
        assert_eq!(resp.status().as_u16(), status);
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap()),
            header
        );
    }
}

/// An inner error that is itself a response comes out as that response.
#[test]
fn inner_error_is_its_own_response() {
    let e: Error<(StatusCode, &str)> = Error::Inner((StatusCode::IM_A_TEAPOT, "short and stout"));
    assert_eq!(e.into_response().status(), StatusCode::IM_A_TEAPOT);
}

/// The server preset on a router: requests pass, and once the drain has
/// begun they get 503 with the drain's `Retry-After`.
#[cfg(feature = "full")]
#[tokio::test(start_paused = true)]
async fn server_preset_on_a_router_answers_503_while_draining() {
    use evenkeel_middleware::preset::ServerLayer;
    use evenkeel_shutdown::Shutdown;

    let shutdown = Shutdown::new();
    let server = ServerLayer::new(shutdown.clone()).drain_retry_after(Duration::from_secs(9));
    let app: Router = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer((ErrorResponseLayer::new(), server));
    assert_eq!(
        app.clone().oneshot(get_req("/")).await.unwrap().status(),
        StatusCode::OK
    );
    shutdown.drain(Duration::from_secs(1)).await;
    let resp = app.oneshot(get_req("/")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "9");
}
