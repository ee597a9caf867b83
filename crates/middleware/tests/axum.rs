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
use evenkeel_middleware::error::TimeoutScope;
use evenkeel_middleware::rate_limit::{
    HeaderStyle, KeyedRateLimiter, RateLimitHeadersLayer, RateLimiter, key::PeerIp,
};
use evenkeel_middleware::{
    BulkheadLayer, Error, ErrorResponseLayer, KeyedRateLimitLayer, RateLimitLayer, TimeoutLayer,
    WrapErrorLayer,
};
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
        (
            Error::TimedOut {
                after: s,
                scope: TimeoutScope::Total,
            },
            504,
            None,
        ),
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

/// A retry-after too large for `as_secs() + 1` (a breaker meant to stay
/// open for good) is written saturated and clamped to one day, never
/// overflowing; every hint is rounded up.
#[test]
fn retry_after_header_is_clamped_and_never_overflows() {
    type E = Error<std::convert::Infallible>;
    let cases = [
        (Duration::MAX, "86400"),
        (Duration::from_secs(u64::MAX), "86400"),
        (
            Duration::from_secs(86_400) + Duration::from_nanos(1),
            "86400",
        ),
        (
            Duration::from_secs(86_399) + Duration::from_nanos(1),
            "86400",
        ),
        (Duration::from_millis(1), "1"),
        (Duration::ZERO, "0"),
    ];
    for (retry_after, header) in cases {
        let resp = E::CircuitOpen { retry_after }.into_response();
        assert_eq!(resp.headers()["retry-after"], header, "{retry_after:?}");
    }
}

/// `ErrorResponseLayer::with_mapper` answers errors with the caller's
/// status, headers and body, also for an inner error that is not an
/// `IntoResponse` (here `std::io::Error`).
#[tokio::test(start_paused = true)]
async fn a_mapper_chooses_status_and_body() {
    use axum::response::Response;
    let mapper = |e: Error<std::io::Error>| -> Response {
        let status = e.status().unwrap_or(StatusCode::BAD_GATEWAY);
        let mut resp = (status, format!("{{\"error\":\"{e}\"}}")).into_response();
        if let Some(v) = e.retry_after_header() {
            resp.headers_mut().insert("retry-after", v);
        }
        resp
    };
    let svc = tower::ServiceBuilder::new()
        .layer(ErrorResponseLayer::with_mapper(mapper))
        .layer(RateLimitLayer::new(RateLimiter::new(
            1,
            Duration::from_secs(2),
        )))
        .layer(WrapErrorLayer::new())
        .service_fn(|_: Request<Body>| async {
            Err::<&str, _>(std::io::Error::other("upstream down"))
        });
    let resp = svc.clone().oneshot(get_req("/")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], br#"{"error":"upstream down"}"#);
    let resp = svc.oneshot(get_req("/")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "2");
}

/// Rate-limit headers: limit, remaining and reset on admitted responses,
/// and on the 429 (remaining 0, with `Retry-After` kept).
#[tokio::test(start_paused = true)]
async fn rate_limit_headers_on_success_and_refusal() {
    let limiter = RateLimiter::new(2, Duration::from_secs(10));
    let app: Router = Router::new().route("/", get(|| async { "ok" })).layer((
        RateLimitHeadersLayer::new(limiter.clone()),
        ErrorResponseLayer::new(),
        RateLimitLayer::new(limiter),
    ));
    let resp = app.clone().oneshot(get_req("/")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers();
    assert_eq!(h["x-ratelimit-limit"], "2");
    assert_eq!(h["x-ratelimit-remaining"], "1");
    assert_eq!(h["x-ratelimit-reset"], "5");
    app.clone().oneshot(get_req("/")).await.unwrap();
    let resp = app.oneshot(get_req("/")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let h = resp.headers();
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["x-ratelimit-reset"], "10");
    assert_eq!(h["retry-after"], "5");
}

/// Keyed by the peer address axum records (`ConnectInfo`), with the IETF
/// draft's header names: each client has its own budget and headers.
#[tokio::test(start_paused = true)]
async fn keyed_by_connect_info_with_draft_headers() {
    use axum::extract::ConnectInfo;
    use std::net::{IpAddr, SocketAddr};

    let limiter = KeyedRateLimiter::<Option<IpAddr>>::new(1, Duration::from_secs(1));
    let app: Router = Router::new().route("/", get(|| async { "ok" })).layer((
        RateLimitHeadersLayer::new((limiter.clone(), PeerIp::new())).style(HeaderStyle::RateLimit),
        ErrorResponseLayer::new(),
        KeyedRateLimitLayer::new(limiter, PeerIp::new()),
    ));
    let from = |ip: [u8; 4]| {
        let mut req = get_req("/");
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((ip, 1234))));
        req
    };
    let resp = app.clone().oneshot(from([192, 0, 2, 1])).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["ratelimit-remaining"], "0");
    let resp = app.clone().oneshot(from([192, 0, 2, 1])).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let resp = app.oneshot(from([192, 0, 2, 2])).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["ratelimit-limit"], "1");
}
