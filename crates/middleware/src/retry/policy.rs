//! What to retry: [`Policy`], [`DefaultPolicy`], [`HttpPolicy`] and
//! [`policy_fn`].
//!
//! A policy sees the request as well as the result, because whether a
//! failure is worth retrying often depends on what was asked: a `GET` that
//! met a 503 can simply be sent again, a `POST` that met a 503 may already
//! have charged a card. And a policy decides whether a request can be sent
//! again at all: [`Policy::clone_request`] makes the copy for the next
//! attempt, or refuses to (`None`), which makes that request not retryable.
//! That is tower's `Policy` contract, without its `&mut self`: one policy
//! value is shared by every request a layer handles.

use std::time::{Duration, SystemTime};

use evenkeel_retry::{Decision, parse_retry_after};

use crate::error::Error;

/// Decides whether a request may be retried and, after each attempt,
/// whether to retry it.
///
/// Implemented for closures `Fn(&Result<Res, Error<E>>) -> Decision` that
/// do not need the request (any `Clone` request is then retryable); wrap a
/// closure that does need it in [`policy_fn`].
///
/// [`Decision::RetryAfter`] replaces the backoff's next delay with the
/// given one (it still uses up one of the backoff's delays, and a hint past
/// the backoff's `max_retry_after` stops the retries).
///
/// ```
/// use evenkeel_middleware::retry::Policy;
/// use evenkeel_middleware::Error;
/// use evenkeel_retry::Decision;
///
/// let only_timeouts = |r: &Result<(), Error<()>>| match r {
///     Err(Error::TimedOut { .. }) => Decision::Retry,
///     _ => Decision::Stop,
/// };
/// assert_eq!(only_timeouts.decide(&"req", &Err(Error::Inner(()))), Decision::Stop);
/// assert_eq!(only_timeouts.clone_request(&"req"), Some("req"));
/// ```
pub trait Policy<Req, Res, E> {
    /// Decides for one attempt's `result`; `request` is a copy of the
    /// request that was sent.
    fn decide(&self, request: &Req, result: &Result<Res, Error<E>>) -> Decision;

    /// A copy of `request` to send on a later attempt, or `None` if this
    /// request must not be retried (it is then sent exactly once, and
    /// [`decide`](Policy::decide) is never asked about it). Called before
    /// the first attempt and again before each retry, so each attempt
    /// consumes one copy and one is kept in reserve.
    fn clone_request(&self, request: &Req) -> Option<Req>;
}

impl<F, Req, Res, E> Policy<Req, Res, E> for F
where
    F: Fn(&Result<Res, Error<E>>) -> Decision,
    Req: Clone,
{
    fn decide(&self, _request: &Req, result: &Result<Res, Error<E>>) -> Decision {
        self(result)
    }

    fn clone_request(&self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }
}

/// A [`Policy`] from a closure that sees the request and the result; every
/// `Clone` request is retryable. Made by [`policy_fn`].
#[derive(Debug, Clone, Copy)]
pub struct PolicyFn<F>(F);

/// Makes a [`Policy`] from `f(request, result)`.
///
/// ```
/// use evenkeel_middleware::retry::{policy_fn, Policy};
/// use evenkeel_middleware::Error;
/// use evenkeel_retry::Decision;
///
/// // Retry failed reads only.
/// let reads = policy_fn(|path: &&str, r: &Result<(), Error<()>>| {
///     if r.is_err() && path.starts_with("/read") { Decision::Retry } else { Decision::Stop }
/// });
/// assert_eq!(reads.decide(&"/read/1", &Err(Error::Inner(()))), Decision::Retry);
/// assert_eq!(reads.decide(&"/write/1", &Err(Error::Inner(()))), Decision::Stop);
/// ```
pub fn policy_fn<F>(f: F) -> PolicyFn<F> {
    PolicyFn(f)
}

impl<F, Req, Res, E> Policy<Req, Res, E> for PolicyFn<F>
where
    F: Fn(&Req, &Result<Res, Error<E>>) -> Decision,
    Req: Clone,
{
    fn decide(&self, request: &Req, result: &Result<Res, Error<E>>) -> Decision {
        (self.0)(request, result)
    }

    fn clone_request(&self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }
}

/// Retries errors that are likely transient; never retries a response.
/// Every `Clone` request is retryable.
///
/// | result | decision |
/// |---|---|
/// | `Ok(_)` | stop |
/// | `Inner(_)`, `TimedOut` | retry |
/// | `RateLimited`, `Overloaded` | retry after their retry-after |
/// | `CircuitOpen` | stop: failing fast is the breaker's point |
/// | `ShuttingDown` | stop |
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::retry::{DefaultPolicy, Policy};
/// use evenkeel_middleware::Error;
/// use evenkeel_retry::Decision;
///
/// let p = DefaultPolicy;
/// let d = Duration::from_secs(1);
/// let decide = |r: Result<(), Error<()>>| Policy::decide(&p, &"req", &r);
/// assert_eq!(decide(Err(Error::Inner(()))), Decision::Retry);
/// assert_eq!(decide(Err(Error::RateLimited { retry_after: d })), Decision::RetryAfter(d));
/// assert_eq!(decide(Err(Error::CircuitOpen { retry_after: d })), Decision::Stop);
/// assert_eq!(decide(Ok(())), Decision::Stop);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultPolicy;

fn decide_error<E>(e: &Error<E>) -> Decision {
    match e {
        Error::Inner(_) | Error::TimedOut { .. } => Decision::Retry,
        Error::RateLimited { retry_after } | Error::Overloaded { retry_after } => {
            Decision::RetryAfter(*retry_after)
        }
        Error::CircuitOpen { .. } | Error::ShuttingDown { .. } => Decision::Stop,
    }
}

impl<Req: Clone, Res, E> Policy<Req, Res, E> for DefaultPolicy {
    fn decide(&self, _request: &Req, result: &Result<Res, Error<E>>) -> Decision {
        match result {
            Ok(_) => Decision::Stop,
            Err(e) => decide_error(e),
        }
    }

    fn clone_request(&self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }
}

/// For `http::Request`s and `http::Response`s: retries 429, 500, 502, 503
/// and 504 responses (after their `Retry-After`, in seconds or as an
/// HTTP-date, when they send one) and transient errors, but only for
/// requests that are safe to send twice.
///
/// A request is safe to send twice when its method is idempotent (RFC 9110
/// §9.2.2: `GET`, `HEAD`, `OPTIONS`, `TRACE`, `PUT`, `DELETE`) or when it
/// carries an `Idempotency-Key` header (the server then deduplicates it).
/// Any other request (a `POST`, a `PATCH` without a key) is retried only
/// when a layer *below* the retry refused it before it was sent
/// (`RateLimited`, `Overloaded`): a 5xx, a timeout or a transport error may
/// come after the server acted on it, and sending it again could do the
/// work twice.
///
/// | result | idempotent or keyed | otherwise |
/// |---|---|---|
/// | 429, 500, 502, 503, 504 | retry (after `Retry-After`) | stop |
/// | other responses | stop | stop |
/// | `Inner(_)`, `TimedOut` | retry | stop |
/// | `RateLimited`, `Overloaded` | retry after their hint | retry after their hint |
/// | `CircuitOpen`, `ShuttingDown` | stop | stop |
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::retry::{HttpPolicy, Policy};
/// use evenkeel_middleware::Error;
/// use evenkeel_retry::Decision;
///
/// let resp = |code: u16, after: Option<&str>| {
///     let mut b = http::Response::builder().status(code);
///     if let Some(a) = after {
///         b = b.header("retry-after", a);
///     }
///     Ok::<_, Error<()>>(b.body(()).unwrap())
/// };
/// let get = http::Request::get("/jobs/1").body(()).unwrap();
/// let post = http::Request::post("/jobs").body(()).unwrap();
/// let keyed = http::Request::post("/jobs").header("idempotency-key", "k1").body(()).unwrap();
/// assert_eq!(HttpPolicy.decide(&get, &resp(503, Some("3"))), Decision::RetryAfter(Duration::from_secs(3)));
/// assert_eq!(HttpPolicy.decide(&get, &resp(502, None)), Decision::Retry);
/// assert_eq!(HttpPolicy.decide(&get, &resp(404, None)), Decision::Stop);
/// assert_eq!(HttpPolicy.decide(&post, &resp(503, None)), Decision::Stop);
/// assert_eq!(HttpPolicy.decide(&keyed, &resp(503, None)), Decision::Retry);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpPolicy;

/// Whether `req` may be sent twice: an idempotent method or an
/// `Idempotency-Key` header.
///
/// ```
/// use evenkeel_middleware::retry::is_idempotent;
///
/// assert!(is_idempotent(&http::Request::put("/a").body(()).unwrap()));
/// assert!(!is_idempotent(&http::Request::post("/a").body(()).unwrap()));
/// let keyed = http::Request::post("/a").header("Idempotency-Key", "42").body(()).unwrap();
/// assert!(is_idempotent(&keyed));
/// ```
pub fn is_idempotent<B>(req: &http::Request<B>) -> bool {
    use http::Method;
    matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    ) || req.headers().contains_key("idempotency-key")
}

/// The wait a response's `Retry-After` header asks for, in either form
/// (delta-seconds or HTTP-date, read by [`evenkeel_retry::parse_retry_after`]
/// against the system clock), or `None` if it has none or it is garbage.
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::retry::retry_after;
///
/// let resp = http::Response::builder().header("retry-after", "7").body(()).unwrap();
/// assert_eq!(retry_after(resp.headers()), Some(Duration::from_secs(7)));
/// let resp = http::Response::builder().header("retry-after", "soon").body(()).unwrap();
/// assert_eq!(retry_after(resp.headers()), None);
/// ```
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    parse_retry_after(headers.get(http::header::RETRY_AFTER)?, SystemTime::now())
}

impl<ReqB, ResB, E> Policy<http::Request<ReqB>, http::Response<ResB>, E> for HttpPolicy
where
    ReqB: Clone,
{
    fn decide(
        &self,
        request: &http::Request<ReqB>,
        result: &Result<http::Response<ResB>, Error<E>>,
    ) -> Decision {
        let safe = is_idempotent(request);
        match result {
            Ok(resp) => match resp.status().as_u16() {
                429 | 500 | 502 | 503 | 504 if safe => match retry_after(resp.headers()) {
                    Some(after) => Decision::RetryAfter(after),
                    None => Decision::Retry,
                },
                _ => Decision::Stop,
            },
            // Refused below the retry layer: the request was never sent.
            Err(e @ (Error::RateLimited { .. } | Error::Overloaded { .. })) => decide_error(e),
            Err(e) if safe => decide_error(e),
            Err(_) => Decision::Stop,
        }
    }

    fn clone_request(&self, request: &http::Request<ReqB>) -> Option<http::Request<ReqB>> {
        Some(request.clone())
    }
}
