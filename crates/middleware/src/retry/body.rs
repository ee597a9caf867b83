//! [`replayable`]: buffer an HTTP request's body so the request can be
//! cloned, and therefore retried.
//!
//! A streaming body can be read once, so an `http::Request<B>` is `Clone`
//! only when `B` is. Collecting the body into `Bytes` (up to a limit) gives
//! an `http::Request<Full<Bytes>>`, which is `Clone` and cheap to clone (the
//! bytes are reference-counted): exactly what [`Retry`](crate::Retry) needs.

use bytes::Bytes;
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use tower::BoxError;

/// Collects `req`'s body (at most `limit` bytes) so the request becomes
/// cloneable.
///
/// # Errors
///
/// The body's own error, or `http_body_util::LengthLimitError` when the
/// body is longer than `limit`, boxed.
///
/// # Cancellation safety
///
/// Not cancel-safe: dropping the future loses the part of the body read so
/// far, and with it the request.
///
/// # Examples
///
/// ```
/// use evenkeel_middleware::retry::replayable;
/// use http_body_util::Full;
///
/// # tokio_test::block_on(async {
/// let req = http::Request::post("/jobs").body(Full::new(bytes::Bytes::from_static(b"{}"))).unwrap();
/// let req = replayable(req, 64 * 1024).await.unwrap();
/// let again = req.clone();
/// assert_eq!(again.uri(), "/jobs");
///
/// let too_long = http::Request::new(Full::new(bytes::Bytes::from_static(b"0123456789")));
/// assert!(replayable(too_long, 4).await.is_err());
/// # });
/// ```
pub async fn replayable<B>(
    req: http::Request<B>,
    limit: usize,
) -> Result<http::Request<Full<Bytes>>, BoxError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    let bytes = Limited::new(body, limit).collect().await?.to_bytes();
    Ok(http::Request::from_parts(parts, Full::new(bytes)))
}
