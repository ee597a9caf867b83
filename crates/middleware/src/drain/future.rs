//! The response future of [`Drain`](crate::Drain).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use evenkeel_shutdown::DrainGuard;
use pin_project_lite::pin_project;

use crate::admit::Admit;
use crate::error::{Error, LayerError};
use crate::hold::{Hold, ResponseHold};

pin_project! {
    /// The inner response, carrying a drain guard until the response is
    /// complete (see [`ResponseHold`]); or [`Error::ShuttingDown`] on its
    /// first poll. Dropped before it resolves, it gives the guard back.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_middleware::DrainLayer;
    /// use evenkeel_shutdown::{DrainReport, Shutdown};
    /// use tower::{Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::new();
    /// let mut svc = DrainLayer::new(shutdown.clone())
    ///     .layer(tower::service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
    /// let in_flight = svc.ready().await.unwrap().call(1);
    /// // The drain waits for the in-flight response.
    /// let report = shutdown.drain(Duration::from_millis(10)).await;
    /// assert!(matches!(report, DrainReport::TimedOut { outstanding: 1, .. }));
    /// assert_eq!(in_flight.await.unwrap(), 1);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct ResponseFuture<F, E> {
        #[pin]
        inner: Admit<F, E>,
        guard: Option<DrainGuard>,
    }
}

impl<F, E> ResponseFuture<F, E> {
    pub(crate) fn new(inner: Admit<F, E>, guard: Option<DrainGuard>) -> Self {
        Self { inner, guard }
    }
}

impl<F, T, SE> Future for ResponseFuture<F, SE::Inner>
where
    F: Future<Output = Result<T, SE>>,
    SE: LayerError,
    T: ResponseHold,
{
    type Output = Result<T::Held, Error<SE::Inner>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        // An error is complete now; a response keeps the guard until it is.
        let guard = this.guard.take();
        Poll::Ready(out.map(|response| match guard {
            Some(guard) => response.hold(Hold::guard(guard)),
            None => response.hold(Hold::default()),
        }))
    }
}
