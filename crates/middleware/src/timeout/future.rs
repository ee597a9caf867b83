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
#[derive(Debug)]
enum Known {
    /// Nothing: the timeout starts when the timer is armed.
    Nothing,
    /// When the timeout started (the server preset's admission): the
    /// deadline is computed only if the timer is ever armed.
    Start(Instant),
    /// Readiness had to wait and armed the deadline's timer already: the
    /// response keeps that timer instead of registering a second one.
    Timer(Pin<Box<Sleep>>),
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
        let fired = if let Known::Timer(timer) = this.known {
            timer.as_mut().poll(cx)
        } else {
            if !*this.armed {
                *this.armed = true;
                // `None`: a deadline too far to represent never fires.
                let deadline = match *this.known {
                    Known::Start(start) => Some(saturating_deadline(start, *this.after)),
                    _ => Instant::now().checked_add(*this.after),
                };
                this.sleep.set(deadline.map(tokio::time::sleep_until));
            }
            match this.sleep.as_pin_mut() {
                Some(sleep) => sleep.poll(cx),
                None => Poll::Pending,
            }
        };
        std::task::ready!(fired);
        Poll::Ready(Err(Error::TimedOut {
            after: *this.after,
            scope: *this.scope,
        }))
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
    /// A total timeout that starts when the response is first pending.
    pub(crate) fn new(inner: Admit<F, E>, after: Duration) -> Self {
        Self {
            inner: Deadline::new(inner, Known::Nothing, after, TimeoutScope::Total),
        }
    }

    /// A total timeout whose timer readiness already armed (it had to
    /// wait): the response keeps it.
    #[inline]
    pub(crate) fn armed(inner: Admit<F, E>, timer: Pin<Box<Sleep>>, after: Duration) -> Self {
        Self {
            inner: Deadline::new(inner, Known::Timer(timer), after, TimeoutScope::Total),
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
