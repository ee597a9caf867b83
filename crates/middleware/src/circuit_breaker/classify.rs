//! What counts as a failure: [`Classify`], [`DefaultClassifier`] and
//! [`HttpClassifier`].

use crate::error::Error;

/// How a completed call counts towards a breaker's failure rate.
///
/// ```
/// use evenkeel_middleware::circuit_breaker::Outcome;
/// assert_ne!(Outcome::Success, Outcome::Failure);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A success (it still counts as slow if it took too long).
    Success,
    /// A failure.
    Failure,
    /// Not counted at all (for example a local rejection that says nothing
    /// about the downstream).
    Ignore,
}

/// Decides how a call's result counts; implemented for closures
/// `Fn(&Result<Res, Error<E>>) -> Outcome`.
///
/// ```
/// use evenkeel_middleware::circuit_breaker::{Classify, Outcome};
/// use evenkeel_middleware::Error;
///
/// let only_timeouts = |r: &Result<u16, Error<()>>| match r {
///     Err(Error::TimedOut { .. }) => Outcome::Failure,
///     _ => Outcome::Success,
/// };
/// assert_eq!(only_timeouts.classify(&Err(Error::Inner(()))), Outcome::Success);
/// ```
pub trait Classify<Res, E> {
    /// Classifies one result.
    fn classify(&self, result: &Result<Res, Error<E>>) -> Outcome;
}

impl<F, Res, E> Classify<Res, E> for F
where
    F: Fn(&Result<Res, Error<E>>) -> Outcome,
{
    fn classify(&self, result: &Result<Res, Error<E>>) -> Outcome {
        self(result)
    }
}

/// Every response is a success; every error a failure, except rejections
/// by layers below the breaker (rate limited, overloaded, circuit open,
/// shutting down), which are ignored. Timeouts count as failures.
///
/// ```
/// use evenkeel_middleware::circuit_breaker::{Classify, DefaultClassifier, Outcome};
/// use evenkeel_middleware::Error;
///
/// let c = DefaultClassifier;
/// assert_eq!(Classify::<(), ()>::classify(&c, &Ok(())), Outcome::Success);
/// assert_eq!(Classify::<(), ()>::classify(&c, &Err(Error::Inner(()))), Outcome::Failure);
/// assert_eq!(
///     Classify::<(), ()>::classify(&c, &Err(Error::TimedOut { after: Default::default(), scope: evenkeel_middleware::error::TimeoutScope::Attempt })),
///     Outcome::Failure,
/// );
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassifier;

fn classify_error<E>(e: &Error<E>) -> Outcome {
    if e.is_rejection() {
        Outcome::Ignore
    } else {
        Outcome::Failure
    }
}

impl<Res, E> Classify<Res, E> for DefaultClassifier {
    fn classify(&self, result: &Result<Res, Error<E>>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(e) => classify_error(e),
        }
    }
}

/// For `http::Response`s: a 5xx status is a failure, any other status
/// (4xx included: the caller's fault, not the server's) a success; errors
/// as [`DefaultClassifier`].
///
/// ```
/// use evenkeel_middleware::circuit_breaker::{Classify, HttpClassifier, Outcome};
/// use evenkeel_middleware::Error;
///
/// let resp = |code: u16| Ok::<_, Error<()>>(http::Response::builder().status(code).body(()).unwrap());
/// assert_eq!(HttpClassifier.classify(&resp(503)), Outcome::Failure);
/// assert_eq!(HttpClassifier.classify(&resp(404)), Outcome::Success);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpClassifier;

impl<B, E> Classify<http::Response<B>, E> for HttpClassifier {
    fn classify(&self, result: &Result<http::Response<B>, Error<E>>) -> Outcome {
        match result {
            Ok(resp) if resp.status().is_server_error() => Outcome::Failure,
            Ok(_) => Outcome::Success,
            Err(e) => classify_error(e),
        }
    }
}
