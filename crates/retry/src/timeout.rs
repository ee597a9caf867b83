//! [`timeout`]: bound one operation's duration, keeping its own error apart
//! from "it took too long".
//!
//! `tokio::time::timeout` returns `Result<Result<T, E>, Elapsed>`, which is
//! easy to flatten the wrong way (a `?` too many turns a timeout into a
//! success-shaped value, one too few hides the inner error). This version
//! takes a fallible future and returns `Result<T, TimeoutError<E>>`, where
//! [`TimeoutError`] says which of the two happened.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};

use crate::TimeoutError;

/// How far in the future a deadline that overflows `Instant` is placed
/// (about 30 years, as tokio does).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `now + d`, saturating at a far-future instant instead of panicking.
pub(crate) fn deadline_after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d.min(FAR_FUTURE))
        .or_else(|| now.checked_add(FAR_FUTURE / 1000))
        .unwrap_or(now)
}

/// Runs `fut`, failing with [`TimeoutError::Elapsed`] if it has not finished
/// `d` after this call.
///
/// `fut` must resolve to a `Result<T, E>`; its error comes back as
/// [`TimeoutError::Inner`]. For an infallible future, use
/// `tokio::time::timeout` or wrap it: `async { Ok::<_, Infallible>(fut.await) }`.
///
/// The deadline is fixed when `timeout` is called; the timer is created on
/// the first poll that finds `fut` still pending (a future that is ready at
/// once never touches the timer wheel). A `d` too large for `Instant` means
/// "about 30 years".
///
/// # Cancellation safety
///
/// Dropping the returned future drops `fut`; it is as cancel-safe as `fut`.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use evenkeel_retry::{timeout, TimeoutError};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let fast = timeout(Duration::from_secs(1), async { Ok::<_, ()>(7) }).await;
/// assert_eq!(fast, Ok(7));
///
/// let slow = timeout(Duration::from_secs(1), async {
///     tokio::time::sleep(Duration::from_secs(5)).await;
///     Ok::<_, ()>(7)
/// });
/// assert_eq!(slow.await, Err(TimeoutError::Elapsed(Duration::from_secs(1))));
/// # }
/// ```
pub fn timeout<F: Future>(d: Duration, fut: F) -> Timeout<F> {
    Timeout {
        fut,
        sleep: None,
        deadline: deadline_after(Instant::now(), d),
        duration: d,
    }
}

pin_project! {
    /// The future returned by [`timeout`].
    ///
    /// Resolves to `Result<T, TimeoutError<E>>` when the wrapped future
    /// resolves to `Result<T, E>`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::{timeout, Timeout};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let t: Timeout<_> = timeout(Duration::from_secs(1), async { Ok::<u8, ()>(1) });
    /// assert_eq!(t.await, Ok(1));
    /// # }
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    #[derive(Debug)]
    pub struct Timeout<F> {
        #[pin]
        fut: F,
        #[pin]
        sleep: Option<Sleep>,
        deadline: Instant,
        duration: Duration,
    }
}

impl<F> Timeout<F> {
    /// The wrapped future.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::timeout;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let t = timeout(Duration::from_secs(1), async { Ok::<u8, ()>(1) });
    /// let _inner: &_ = t.get_ref();
    /// # }
    /// ```
    pub fn get_ref(&self) -> &F {
        &self.fut
    }

    /// Consumes the timeout, giving back the wrapped future.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::timeout;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let t = timeout(Duration::from_secs(1), async { Ok::<u8, ()>(1) });
    /// assert_eq!(t.into_inner().await, Ok(1));
    /// # }
    /// ```
    pub fn into_inner(self) -> F {
        self.fut
    }

    /// When the operation times out.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::timeout;
    /// use tokio::time::Instant;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let t = timeout(Duration::from_secs(2), async { Ok::<u8, ()>(1) });
    /// assert_eq!(t.deadline(), Instant::now() + Duration::from_secs(2));
    /// # }
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl<F, T, E> Future for Timeout<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, TimeoutError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(result) = this.fut.poll(cx) {
            return Poll::Ready(result.map_err(TimeoutError::Inner));
        }
        if this.sleep.is_none() {
            this.sleep.set(Some(sleep_until(*this.deadline)));
        }
        if let Some(sleep) = this.sleep.as_pin_mut() {
            ready!(sleep.poll(cx));
        }
        Poll::Ready(Err(TimeoutError::Elapsed(*this.duration)))
    }
}
