//! Response futures of the timeout layers.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use evenkeel_retry::saturating_deadline;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::admit::Admit;
use crate::error::{Error, LayerError, TimeoutScope};

pin_project! {
    /// A future raced against a timer that is armed only if the future is
    /// not ready on its first poll: a response that is ready at once costs
    /// no clock read and no timer.
    #[derive(Debug)]
    struct Deadline<F> {
        #[pin]
        future: F,
        #[pin]
        sleep: Option<Sleep>,
        known: Known,
        armed: bool,
        after: Duration,
        scope: TimeoutScope,
    }
}

/// What a [`Deadline`] knows of its deadline before it is armed.
#[derive(Debug, Clone, Copy)]
enum Known {
    /// Nothing: the timeout starts when the timer is armed.
    Nothing,
    /// The deadline itself (readiness had to wait and set it).
    Deadline(Instant),
    /// When the timeout started (the server preset's admission): the
    /// deadline is computed only if the timer is ever armed.
    Start(Instant),
}

impl<F> Deadline<F> {
    #[inline]
    fn new(future: F, known: Known, after: Duration, scope: TimeoutScope) -> Self {
        Self {
            future,
            sleep: None,
            known,
            armed: false,
            after,
            scope,
        }
    }
}

impl<F, T, SE> Future for Deadline<F>
where
    F: Future<Output = Result<T, SE>>,
    SE: LayerError,
{
    type Output = Result<T, Error<SE::Inner>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // The inner future goes first: a response that is ready when the
        // timer fires still wins.
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(out.map_err(LayerError::into_error));
        }
        if !*this.armed {
            *this.armed = true;
            // `None`: a deadline too far to represent never fires.
            let deadline = match *this.known {
                Known::Nothing => Instant::now().checked_add(*this.after),
                Known::Deadline(deadline) => Some(deadline),
                Known::Start(start) => Some(saturating_deadline(start, *this.after)),
            };
            this.sleep.set(deadline.map(tokio::time::sleep_until));
        }
        match this.sleep.as_pin_mut() {
            Some(sleep) => {
                std::task::ready!(sleep.poll(cx));
                Poll::Ready(Err(Error::TimedOut {
                    after: *this.after,
                    scope: *this.scope,
                }))
            }
            None => Poll::Pending,
        }
    }
}

pin_project! {
    /// The response future of [`Timeout`](crate::Timeout): the inner
    /// response under what is left of the deadline; or
    /// [`Error::TimedOut`] at once if the deadline passed while waiting for
    /// readiness.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_middleware::Timeout;
    /// use tower::{Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut svc = Timeout::new(tower::service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }), Duration::from_secs(1));
    /// assert_eq!(svc.ready().await.unwrap().call(5).await.unwrap(), 5);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct ResponseFuture<F, E> {
        #[pin]
        inner: Deadline<Admit<F, E>>,
    }
}

impl<F, E> ResponseFuture<F, E> {
    pub(crate) fn new(inner: Admit<F, E>, deadline: Option<Instant>, after: Duration) -> Self {
        let known = deadline.map_or(Known::Nothing, Known::Deadline);
        Self {
            inner: Deadline::new(inner, known, after, TimeoutScope::Total),
        }
    }

    /// A total timeout that started at `start`; its deadline is computed
    /// only if the response is not ready on its first poll.
    #[cfg_attr(not(feature = "full"), allow(dead_code))]
    #[inline]
    pub(crate) fn started(inner: Admit<F, E>, start: Instant, after: Duration) -> Self {
        Self {
            inner: Deadline::new(inner, Known::Start(start), after, TimeoutScope::Total),
        }
    }
}

impl<F, T, SE> Future for ResponseFuture<F, SE::Inner>
where
    F: Future<Output = Result<T, SE>>,
    SE: LayerError,
{
    type Output = Result<T, Error<SE::Inner>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

pin_project! {
    /// The response future of [`AttemptTimeout`](crate::AttemptTimeout): the
    /// inner response under a deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_middleware::AttemptTimeout;
    /// use tower::{Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut svc = AttemptTimeout::new(tower::service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }), Duration::from_secs(1));
    /// assert_eq!(svc.ready().await.unwrap().call(5).await.unwrap(), 5);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct AttemptFuture<F> {
        #[pin]
        inner: Deadline<F>,
    }
}

impl<F> AttemptFuture<F> {
    pub(crate) fn new(future: F, after: Duration) -> Self {
        Self {
            inner: Deadline::new(future, Known::Nothing, after, TimeoutScope::Attempt),
        }
    }
}

impl<F, T, SE> Future for AttemptFuture<F>
where
    F: Future<Output = Result<T, SE>>,
    SE: LayerError,
{
    type Output = Result<T, Error<SE::Inner>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}
