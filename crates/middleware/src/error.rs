//! The one error type every layer of this crate returns, and how stacked
//! layers keep it flat.
//!
//! # One flat error for a whole stack
//!
//! A tower layer wraps a service, and the naive way to type its error is to
//! wrap the inner service's error: `Timeout<RateLimit<S>>` would then fail
//! with `TimeoutError<RateLimitError<S::Error>>`, and a stack of five layers
//! nests five deep. tower avoids the nesting by erasing everything into
//! `BoxError`, which moves the problem to the caller: a downcast chain.
//!
//! This crate does neither. Every layer fails with [`Error<E>`], where `E` is
//! the *application's* error (the innermost service's), and a layer that
//! wraps another layer of this crate passes that layer's `Error<E>` through
//! unchanged instead of nesting it. The mechanism is the [`LayerError`]
//! trait: a layer over a service `S` returns
//! `Error<<S::Error as LayerError>::Inner>`, and
//!
//! - `Error<E>` implements `LayerError` with `Inner = E` (pass through), while
//! - a plain application error (`Infallible`, `BoxError`, `std::io::Error`,
//!   `http::Error`, `axum::Error`, or your own type with a three-line impl)
//!   implements it with `Inner = Self` (wrap once, as [`Error::Inner`]).
//!
//! So `RateLimit<Timeout<Bulkhead<S>>>` fails with `Error<S::Error>`, exactly
//! one level deep, whatever the order. For an error type you do not own and
//! that has no impl here (a client library's error, `anyhow::Error`), put
//! [`WrapErrorLayer`](crate::WrapErrorLayer) innermost: it wraps any error
//! once, and the presets do that for you.

use std::convert::Infallible;
use std::fmt;
use std::time::Duration;

use http::StatusCode;

/// tower's type-erased error, `Box<dyn Error + Send + Sync>`: what hyper's,
/// reqwest's and tower's own errors convert into.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The longest wait a `Retry-After` header written by this crate announces:
/// one day. A hint beyond it (a breaker meant to stay open "for good", a
/// spent daily quota near the start of its day) is written as one day; a
/// client should come back and ask again rather than park for longer.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// A retry-after hint as the whole seconds of an HTTP `Retry-After` header:
/// rounded up (a client that waits the announced time is admitted), at
/// least 0, at most [`MAX_RETRY_AFTER`]. Never overflows.
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::error::retry_after_secs;
///
/// assert_eq!(retry_after_secs(Duration::ZERO), 0);
/// assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
/// assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
/// assert_eq!(retry_after_secs(Duration::MAX), 86_400);
/// ```
pub fn retry_after_secs(d: Duration) -> u64 {
    let d = d.min(MAX_RETRY_AFTER);
    // At most 86 400 here, so the increment cannot overflow.
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Which timeout fired, in [`Error::TimedOut`].
///
/// ```
/// use evenkeel_middleware::error::TimeoutScope;
/// assert_eq!(TimeoutScope::Attempt.to_string(), "attempt");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutScope {
    /// The total timeout over the whole call ([`Timeout`](crate::Timeout),
    /// the presets' `timeout`): the caller's deadline is spent.
    Total,
    /// The timeout of one attempt ([`AttemptTimeout`](crate::AttemptTimeout)):
    /// another attempt may still fit in the total deadline.
    Attempt,
}

impl fmt::Display for TimeoutScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Total => "request",
            Self::Attempt => "attempt",
        })
    }
}

/// The error every layer of this crate returns: a typed rejection, or the
/// inner service's own error.
///
/// Each rejection carries what the caller needs to react: how long to wait
/// ([`retry_after`](Error::retry_after)) and which HTTP status it stands for
/// ([`status`](Error::status)). With the `axum` feature it implements
/// `IntoResponse` (429 for rate limits; 503 with `Retry-After` for overload,
/// an open circuit and shutdown; 504 for timeouts; inner errors become their
/// own response).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::Error;
///
/// let rejected: Error<std::io::Error> = Error::RateLimited { retry_after: Duration::from_millis(250) };
/// assert_eq!(rejected.retry_after(), Some(Duration::from_millis(250)));
/// assert_eq!(rejected.status(), Some(http::StatusCode::TOO_MANY_REQUESTS));
/// assert!(rejected.is_rejection());
/// assert_eq!(rejected.to_string(), "rate limited, retry after 250ms");
///
/// let inner: Error<std::io::Error> = Error::Inner(std::io::Error::other("boom"));
/// assert_eq!(inner.to_string(), "boom");
/// assert_eq!(inner.status(), None);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error<E> {
    /// A rate limiter refused the request; a retry after `retry_after` will
    /// be admitted if nothing else takes the slot first.
    #[error("rate limited, retry after {retry_after:?}")]
    RateLimited {
        /// How long until the limiter admits one request again.
        retry_after: Duration,
    },
    /// A bulkhead was full (all its concurrency permits were taken).
    #[error("overloaded, retry after {retry_after:?}")]
    Overloaded {
        /// The bulkhead's configured hint for when to come back.
        retry_after: Duration,
    },
    /// A circuit breaker is open (or its half-open trial calls are all taken)
    /// and failed the call fast.
    #[error("circuit open, retry after {retry_after:?}")]
    CircuitOpen {
        /// How long until the breaker lets a trial call through.
        retry_after: Duration,
    },
    /// A timeout elapsed before the inner service answered.
    ///
    /// `scope` says which one: the total timeout over the whole call
    /// (readiness, every attempt and every backoff sleep) or the timeout of
    /// one attempt. A retry policy typically retries the second and never
    /// the first.
    #[error("{scope} timed out after {after:?}")]
    TimedOut {
        /// The timeout that elapsed.
        after: Duration,
        /// Which timeout fired.
        scope: TimeoutScope,
    },
    /// Shutdown has begun: the service is draining and takes no new requests.
    #[error("shutting down, retry after {retry_after:?}")]
    ShuttingDown {
        /// The drain layer's configured hint for when to come back
        /// (typically to another instance, or to this one restarted).
        retry_after: Duration,
    },
    /// The inner (application) service failed; its error is untouched.
    #[error(transparent)]
    Inner(E),
}

impl<E> Error<E> {
    /// How long the caller should wait before retrying, if this is a
    /// rejection that knows. `None` for [`TimedOut`](Error::TimedOut) and
    /// [`Inner`](Error::Inner).
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_middleware::Error;
    ///
    /// use evenkeel_middleware::error::TimeoutScope;
    ///
    /// let e: Error<()> = Error::CircuitOpen { retry_after: Duration::from_secs(30) };
    /// assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
    /// let timed_out: Error<()> = Error::TimedOut { after: Duration::from_secs(1), scope: TimeoutScope::Total };
    /// assert_eq!(timed_out.retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after }
            | Self::Overloaded { retry_after }
            | Self::CircuitOpen { retry_after }
            | Self::ShuttingDown { retry_after } => Some(*retry_after),
            Self::TimedOut { .. } | Self::Inner(_) => None,
        }
    }

    /// The HTTP status this error stands for: 429, 503 or 504; `None` for
    /// [`Inner`](Error::Inner), whose status is the application's business.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_middleware::{error::TimeoutScope, Error};
    /// use http::StatusCode;
    ///
    /// let e: Error<()> = Error::TimedOut { after: Duration::from_secs(1), scope: TimeoutScope::Total };
    /// assert_eq!(e.status(), Some(StatusCode::GATEWAY_TIMEOUT));
    /// ```
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::RateLimited { .. } => Some(StatusCode::TOO_MANY_REQUESTS),
            Self::Overloaded { .. } | Self::CircuitOpen { .. } | Self::ShuttingDown { .. } => {
                Some(StatusCode::SERVICE_UNAVAILABLE)
            }
            Self::TimedOut { .. } => Some(StatusCode::GATEWAY_TIMEOUT),
            Self::Inner(_) => None,
        }
    }

    /// The `Retry-After` header value for this error, if it is a rejection:
    /// whole seconds rounded up and clamped to [`MAX_RETRY_AFTER`] (see
    /// [`retry_after_secs`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_middleware::Error;
    ///
    /// let e: Error<()> = Error::CircuitOpen { retry_after: Duration::MAX };
    /// assert_eq!(e.retry_after_header().unwrap(), "86400");
    /// assert_eq!(Error::Inner(()).retry_after_header(), None);
    /// ```
    pub fn retry_after_header(&self) -> Option<http::HeaderValue> {
        self.retry_after()
            .map(|d| http::HeaderValue::from(retry_after_secs(d)))
    }

    /// Whether a layer refused the request without the inner service ever
    /// seeing it (every variant except `TimedOut` and `Inner`).
    ///
    /// ```
    /// use evenkeel_middleware::Error;
    ///
    /// assert!(Error::<()>::ShuttingDown { retry_after: Default::default() }.is_rejection());
    /// assert!(!Error::Inner(()).is_rejection());
    /// ```
    pub fn is_rejection(&self) -> bool {
        self.retry_after().is_some()
    }

    /// The inner service's error, if this is one.
    ///
    /// ```
    /// use evenkeel_middleware::Error;
    ///
    /// assert_eq!(Error::Inner(7).into_inner(), Some(7));
    /// assert_eq!(Error::<i32>::RateLimited { retry_after: Default::default() }.into_inner(), None);
    /// ```
    pub fn into_inner(self) -> Option<E> {
        match self {
            Self::Inner(e) => Some(e),
            _ => None,
        }
    }

    /// A reference to the inner service's error, if this is one.
    ///
    /// ```
    /// use evenkeel_middleware::Error;
    ///
    /// assert_eq!(Error::Inner(7).inner(), Some(&7));
    /// ```
    pub fn inner(&self) -> Option<&E> {
        match self {
            Self::Inner(e) => Some(e),
            _ => None,
        }
    }

    /// Maps the inner error, keeping every rejection as it is.
    ///
    /// ```
    /// use evenkeel_middleware::Error;
    ///
    /// let e: Error<String> = Error::Inner(7).map_inner(|n: i32| n.to_string());
    /// assert_eq!(e.into_inner().as_deref(), Some("7"));
    /// ```
    pub fn map_inner<F>(self, f: impl FnOnce(E) -> F) -> Error<F> {
        match self {
            Self::RateLimited { retry_after } => Error::RateLimited { retry_after },
            Self::Overloaded { retry_after } => Error::Overloaded { retry_after },
            Self::CircuitOpen { retry_after } => Error::CircuitOpen { retry_after },
            Self::TimedOut { after, scope } => Error::TimedOut { after, scope },
            Self::ShuttingDown { retry_after } => Error::ShuttingDown { retry_after },
            Self::Inner(e) => Error::Inner(f(e)),
        }
    }
}

impl<E: Into<BoxError>> Error<E> {
    /// Erases the inner error into tower's [`BoxError`], keeping every
    /// rejection typed: how stacks over different client libraries (hyper's,
    /// reqwest's, tonic's errors) share one error type.
    ///
    /// ```
    /// use evenkeel_middleware::error::{BoxError, Error};
    ///
    /// let e: Error<BoxError> = Error::Inner(std::fmt::Error).into_boxed();
    /// assert!(e.inner().unwrap().is::<std::fmt::Error>());
    /// ```
    pub fn into_boxed(self) -> Error<BoxError> {
        self.map_inner(Into::into)
    }
}

impl Error<BoxError> {
    /// The inner error as a `T`, if it is one (for `Error<BoxError>`).
    ///
    /// ```
    /// use evenkeel_middleware::error::{BoxError, Error};
    ///
    /// let e: Error<BoxError> = Error::Inner(Box::new(std::fmt::Error));
    /// assert!(e.downcast_inner_ref::<std::fmt::Error>().is_some());
    /// assert!(e.downcast_inner_ref::<std::io::Error>().is_none());
    /// ```
    pub fn downcast_inner_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.inner().and_then(|e| e.downcast_ref::<T>())
    }
}

/// `?` in a service body that returns `Result<_, Error<E>>` wraps `E` once.
///
/// ```
/// use evenkeel_middleware::Error;
///
/// fn parse(s: &str) -> Result<u8, Error<std::num::ParseIntError>> {
///     Ok(s.parse::<u8>()?)
/// }
/// assert!(matches!(parse("x"), Err(Error::Inner(_))));
/// ```
impl<E> From<E> for Error<E> {
    fn from(e: E) -> Self {
        Self::Inner(e)
    }
}

/// An error a layer of this crate can sit on top of: it turns into one flat
/// [`Error`] (see the [module docs](crate::error) for why).
///
/// `Error<E>` passes through (`Inner = E`); an application error wraps once
/// (`Inner = Self`). Implement it for your own error type in three lines:
///
/// ```
/// use evenkeel_middleware::{Error, LayerError};
///
/// #[derive(Debug)]
/// struct MyError;
///
/// impl LayerError for MyError {
///     type Inner = Self;
///     fn into_error(self) -> Error<Self> {
///         Error::Inner(self)
///     }
/// }
///
/// assert!(matches!(MyError.into_error(), Error::Inner(MyError)));
/// ```
///
/// For an error type you do not own, use
/// [`WrapErrorLayer`](crate::WrapErrorLayer) instead.
pub trait LayerError: Sized {
    /// The application error a stack of layers carries in [`Error::Inner`].
    type Inner;

    /// Converts into the flat error, without nesting.
    fn into_error(self) -> Error<Self::Inner>;
}

impl<E> LayerError for Error<E> {
    type Inner = E;

    fn into_error(self) -> Error<E> {
        self
    }
}

/// Implements [`LayerError`] as "wrap once" for foreign application errors.
macro_rules! leaf_error {
    ($($ty:ty),* $(,)?) => {$(
        impl LayerError for $ty {
            type Inner = Self;

            fn into_error(self) -> Error<Self> {
                Error::Inner(self)
            }
        }
    )*};
}

leaf_error!(Infallible, std::io::Error, http::Error);

/// A boxed error (tower's `BoxError`) wraps once, like any application
/// error: put [`WrapErrorLayer::boxed`](crate::WrapErrorLayer::boxed)
/// innermost to erase any `E: Into<BoxError>` (hyper's, reqwest's errors)
/// into it.
///
/// ```
/// use evenkeel_middleware::error::{BoxError, Error, LayerError};
///
/// let other: BoxError = Box::new(std::fmt::Error);
/// assert!(matches!(other.into_error(), Error::Inner(_)));
/// ```
impl LayerError for BoxError {
    type Inner = Self;

    fn into_error(self) -> Error<Self> {
        Error::Inner(self)
    }
}

#[cfg(feature = "axum")]
leaf_error!(::axum::Error);
