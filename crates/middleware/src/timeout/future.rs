//! Response futures of the timeout layers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use crate::error::{Error, LayerError};
use crate::ready_call::ReadyCall;

pin_project! {
    /// A future raced against a timer.
    #[derive(Debug)]
    struct Deadline<F> {
        #[pin]
        future: F,
        #[pin]
        sleep: Sleep,
        after: Duration,
    }
}

impl<F> Deadline<F> {
    fn new(future: F, after: Duration) -> Self {
        Self {
            future,
            sleep: tokio::time::sleep(after),
            after,
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
        let this = self.project();
        // The inner future goes first: a response that is ready when the
        // timer fires still wins.
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(out.map_err(LayerError::into_error));
        }
        std::task::ready!(this.sleep.poll(cx));
        Poll::Ready(Err(Error::TimedOut { after: *this.after }))
    }
}

pin_project! {
    /// The response future of [`Timeout`](crate::Timeout): awaits the inner
    /// service's readiness and then its response, all under one deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_middleware::Timeout;
    /// use tower::Service;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut svc = Timeout::new(tower::service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }), Duration::from_secs(1));
    /// assert_eq!(svc.call(5).await.unwrap(), 5);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        inner: Deadline<ReadyCall<S, Req, S::Future>>,
    }
}

impl<S: Service<Req>, Req> ResponseFuture<S, Req> {
    pub(crate) fn new(service: S, request: Req, after: Duration) -> Self {
        Self {
            inner: Deadline::new(ReadyCall::new(service, request), after),
        }
    }
}

impl<S: Service<Req>, Req> fmt::Debug for ResponseFuture<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("after", &self.inner.after)
            .finish_non_exhaustive()
    }
}

impl<S, Req> Future for ResponseFuture<S, Req>
where
    S: Service<Req>,
    S::Error: LayerError,
{
    type Output = Result<S::Response, Error<<S::Error as LayerError>::Inner>>;

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
            inner: Deadline::new(future, after),
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
