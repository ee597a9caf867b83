//! The future shape shared by every layer that admits or rejects: either
//! the inner service's future, or an error decided before the inner service
//! was touched.
//!
//! A rejection is a value, not a `poll_ready` failure: a layer that refuses
//! a request reports `Ready(Ok(()))` from `poll_ready` without polling the
//! inner service (so it holds no inner readiness slot it will not use), and
//! its `call` returns this future in the `Rejected` state, which resolves to
//! the error on its first poll. The service itself stays usable.

// Shared by several layers: with only some features on, parts go unused.
#![cfg_attr(not(feature = "full"), allow(dead_code))]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::error::{Error, LayerError};

pin_project! {
    /// Either the inner future, or a rejection waiting to be returned.
    #[project = AdmitProj]
    #[derive(Debug)]
    pub(crate) enum Admit<F, E> {
        Called { #[pin] future: F },
        Rejected { error: Option<Error<E>> },
    }
}

impl<F, E> Admit<F, E> {
    pub(crate) fn called(future: F) -> Self {
        Self::Called { future }
    }

    pub(crate) fn rejected(error: Error<E>) -> Self {
        Self::Rejected { error: Some(error) }
    }
}

impl<F, T, SE> Future for Admit<F, SE::Inner>
where
    F: Future<Output = Result<T, SE>>,
    SE: LayerError,
{
    type Output = Result<T, Error<SE::Inner>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AdmitProj::Called { future } => future.poll(cx).map_err(LayerError::into_error),
            AdmitProj::Rejected { error } => match error.take() {
                Some(error) => Poll::Ready(Err(error)),
                // Polled again after completion: a contract violation by the
                // caller. Stay pending rather than panic on caller input.
                None => Poll::Pending,
            },
        }
    }
}
