//! The response future of [`Bulkhead`](crate::Bulkhead).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::sync::OwnedSemaphorePermit;

use crate::admit::Admit;
use crate::error::{Error, LayerError};
use crate::hold::{Hold, ResponseHold};

pin_project! {
    /// The inner response, carrying the bulkhead permit until the response
    /// is complete (see [`ResponseHold`]); or [`Error::Overloaded`] on its
    /// first poll. Dropped before it resolves, it gives the permit back.
    ///
    /// ```
    /// use evenkeel_middleware::BulkheadLayer;
    /// use tower::{Layer, Service, ServiceExt};
    ///
    /// # tokio_test::block_on(async {
    /// let layer = BulkheadLayer::new(1);
    /// let mut svc = layer.layer(tower::service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
    /// let fut = svc.ready().await.unwrap().call(1);
    /// assert_eq!(layer.available(), 0);
    /// drop(fut);
    /// assert_eq!(layer.available(), 1);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct ResponseFuture<F, E> {
        #[pin]
        inner: Admit<F, E>,
        permit: Option<OwnedSemaphorePermit>,
    }
}

impl<F, E> ResponseFuture<F, E> {
    pub(crate) fn new(inner: Admit<F, E>, permit: Option<OwnedSemaphorePermit>) -> Self {
        Self { inner, permit }
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
        // An error is complete now; a response keeps the permit until it is.
        let permit = this.permit.take();
        Poll::Ready(out.map(|response| match permit {
            Some(permit) => response.hold(Hold::permit(permit)),
            None => response.hold(Hold::default()),
        }))
    }
}
