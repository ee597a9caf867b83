//! A future that owns a service and a request: it drives the service to
//! readiness, then calls it. The building block of every layer here that
//! must decide or time things *before* the inner service is ready.
//!
//! tower's `poll_ready`/`call` split means readiness is normally awaited
//! outside any response future, where no timeout or admission decision can
//! see it (tower#648). The fix, used by tower's own `Oneshot`, is to move a
//! service into the future: `call` swaps a fresh clone into the layer and
//! takes the original, which then becomes ready inside the future.

// Shared by several layers: with only some features on, parts go unused.
#![cfg_attr(not(feature = "full"), allow(dead_code))]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_service::Service;

pin_project! {
    /// Polls `service` ready, calls it with `request`, awaits the response.
    #[project = ReadyCallProj]
    #[derive(Debug)]
    pub(crate) enum ReadyCall<S, Req, F> {
        Readying { service: S, request: Option<Req> },
        Calling { #[pin] future: F },
        Done,
    }
}

impl<S, Req> ReadyCall<S, Req, S::Future>
where
    S: Service<Req>,
{
    pub(crate) fn new(service: S, request: Req) -> Self {
        Self::Readying {
            service,
            request: Some(request),
        }
    }
}

/// Takes the not-yet-ready service out of `slot` and leaves a clone behind,
/// so the original (whose readiness the caller may have begun) moves into a
/// response future.
pub(crate) fn take_service<S: Clone>(slot: &mut S) -> S {
    let clone = slot.clone();
    std::mem::replace(slot, clone)
}

impl<S, Req> Future for ReadyCall<S, Req, S::Future>
where
    S: Service<Req>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project() {
                ReadyCallProj::Readying { service, request } => {
                    if let Err(e) = std::task::ready!(service.poll_ready(cx)) {
                        self.set(Self::Done);
                        return Poll::Ready(Err(e));
                    }
                    let Some(req) = request.take() else {
                        // `request` is only taken here, right before leaving
                        // this state; reaching it twice is impossible.
                        self.set(Self::Done);
                        return Poll::Pending;
                    };
                    let future = service.call(req);
                    self.set(Self::Calling { future });
                }
                ReadyCallProj::Calling { future } => {
                    let out = std::task::ready!(future.poll(cx));
                    self.set(Self::Done);
                    return Poll::Ready(out);
                }
                // Polled after completion: a caller bug; do not panic.
                ReadyCallProj::Done => return Poll::Pending,
            }
        }
    }
}
