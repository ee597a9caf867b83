//! [`OnRetry`]: the hook the retry layer calls before each retry, so a
//! service can log or count its retries (attempt number, delay, and the
//! result that is being retried).
//!
//! The hook is a type parameter of the layer, not a boxed closure: a layer
//! without one ([`NoHook`], the default) pays nothing for it, and one with a
//! hook calls it directly.

use std::time::Duration;

use crate::error::Error;

/// What the retry layer is about to do: wait `delay`, then send attempt
/// `attempt + 1`, because attempt `attempt` ended with `result`.
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::retry::RetryEvent;
/// use evenkeel_middleware::Error;
///
/// let result: Result<(), Error<&str>> = Err(Error::Inner("refused"));
/// let event = RetryEvent { attempt: 1, delay: Duration::from_millis(100), result: &result };
/// assert_eq!(event.attempt, 1);
/// ```
#[derive(Debug)]
pub struct RetryEvent<'a, Res, E> {
    /// The attempt that failed, counting the first call as 1.
    pub attempt: u32,
    /// The wait before the next attempt (a server's hint, when one was
    /// honoured).
    pub delay: Duration,
    /// That attempt's result: an error, or a response the policy retries
    /// (a 503, say).
    pub result: &'a Result<Res, Error<E>>,
}

/// Called by the retry layer before each retry, never for the final
/// result. Implemented for closures `Fn(&RetryEvent<'_, Res, E>)`.
///
/// ```
/// use evenkeel_middleware::retry::{OnRetry, RetryEvent};
/// use evenkeel_middleware::Error;
///
/// let log = |e: &RetryEvent<'_, (), &str>| println!("retry {} in {:?}", e.attempt, e.delay);
/// let result = Err(Error::Inner("refused"));
/// log.on_retry(&RetryEvent { attempt: 1, delay: Default::default(), result: &result });
/// ```
pub trait OnRetry<Res, E> {
    /// Observes one retry.
    fn on_retry(&self, event: &RetryEvent<'_, Res, E>);
}

impl<F, Res, E> OnRetry<Res, E> for F
where
    F: Fn(&RetryEvent<'_, Res, E>),
{
    fn on_retry(&self, event: &RetryEvent<'_, Res, E>) {
        self(event);
    }
}

/// The default hook: does nothing.
///
/// ```
/// use evenkeel_middleware::retry::{NoHook, OnRetry, RetryEvent};
/// use evenkeel_middleware::Error;
///
/// let result: Result<(), Error<()>> = Ok(());
/// NoHook.on_retry(&RetryEvent { attempt: 1, delay: Default::default(), result: &result });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHook;

impl<Res, E> OnRetry<Res, E> for NoHook {
    fn on_retry(&self, _event: &RetryEvent<'_, Res, E>) {}
}
