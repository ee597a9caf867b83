//! What to retry: [`Policy`], [`DefaultPolicy`] and [`HttpPolicy`].

use std::time::Duration;

use evenkeel_retry::Decision;

use crate::error::Error;

/// Decides, from one attempt's result, whether to retry; implemented for
/// closures `Fn(&Result<Res, Error<E>>) -> Decision`.
///
/// [`Decision::RetryAfter`] replaces the backoff's next delay with the
/// given one (it still uses up one of the backoff's delays).
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
/// assert_eq!(only_timeouts.decide(&Err(Error::Inner(()))), Decision::Stop);
/// ```
pub trait Policy<Res, E> {
    /// Decides for one result.
    fn decide(&self, result: &Result<Res, Error<E>>) -> Decision;
}

impl<F, Res, E> Policy<Res, E> for F
where
    F: Fn(&Result<Res, Error<E>>) -> Decision,
{
    fn decide(&self, result: &Result<Res, Error<E>>) -> Decision {
        self(result)
    }
}

/// Retries errors that are likely transient; never retries a response.
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
/// assert_eq!(Policy::<(), ()>::decide(&p, &Err(Error::Inner(()))), Decision::Retry);
/// assert_eq!(Policy::<(), ()>::decide(&p, &Err(Error::RateLimited { retry_after: d })), Decision::RetryAfter(d));
/// assert_eq!(Policy::<(), ()>::decide(&p, &Err(Error::CircuitOpen { retry_after: d })), Decision::Stop);
/// assert_eq!(Policy::<(), ()>::decide(&p, &Ok(())), Decision::Stop);
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

impl<Res, E> Policy<Res, E> for DefaultPolicy {
    fn decide(&self, result: &Result<Res, Error<E>>) -> Decision {
        match result {
            Ok(_) => Decision::Stop,
            Err(e) => decide_error(e),
        }
    }
}

/// For `http::Response`s: also retries 429, 500, 502, 503 and 504
/// responses, after their `Retry-After` (in seconds) when they send one;
/// errors as [`DefaultPolicy`].
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
/// assert_eq!(HttpPolicy.decide(&resp(503, Some("3"))), Decision::RetryAfter(Duration::from_secs(3)));
/// assert_eq!(HttpPolicy.decide(&resp(502, None)), Decision::Retry);
/// assert_eq!(HttpPolicy.decide(&resp(404, None)), Decision::Stop);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpPolicy;

/// Reads a `Retry-After` header given in seconds (an HTTP date is ignored).
fn retry_after_header(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

impl<B, E> Policy<http::Response<B>, E> for HttpPolicy {
    fn decide(&self, result: &Result<http::Response<B>, Error<E>>) -> Decision {
        match result {
            Ok(resp) => match resp.status().as_u16() {
                429 | 500 | 502 | 503 | 504 => match retry_after_header(resp.headers()) {
                    Some(after) => Decision::RetryAfter(after),
                    None => Decision::Retry,
                },
                _ => Decision::Stop,
            },
            Err(e) => decide_error(e),
        }
    }
}
