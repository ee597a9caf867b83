//! Holding a request's resources until its response is *complete*:
//! [`ResponseHold`], [`Hold`] and [`HoldBody`].
//!
//! # Why the end of the response future is too early
//!
//! A drain guard or a bulkhead permit released when the response future
//! completes is released when the response *headers* are ready. For an
//! `http::Response<B>` that is the start of the work, not its end: the body
//! (a file download, server-sent events, a proxied stream) is produced
//! afterwards, outside the drain (the process exits mid-body) and outside
//! the bulkhead (concurrent streams are unbounded).
//!
//! # How the layers fix it
//!
//! [`Drain`](crate::Drain), [`Bulkhead`](crate::Bulkhead),
//! [`CircuitBreaker`](crate::CircuitBreaker) and the server preset hand
//! what they hold (a [`Hold`]) to the response through the
//! [`ResponseHold`] trait:
//!
//! - `http::Response<B>` moves it into its body, which becomes a
//!   [`HoldBody<B>`]: the hold is released when the body reaches its end
//!   (a `None` frame, an error, or `is_end_stream()` after a frame) or is
//!   dropped (the client went away), whichever comes first. The circuit
//!   breaker's call is recorded then: timed to that moment, and a failure
//!   if the body ended with an error.
//! - Responses that carry no stream (`()`, numbers, `bool`, `char`,
//!   `String`, `Vec<T>`, `Box<str>`, `Option<T>` and `Result<T, E>` of
//!   such) are complete when they arrive: the hold is released at once.
//! - Your own response type implements [`ResponseHold`] in a few lines:
//!   release at once (below), or keep the [`Hold`] inside whatever stream
//!   it carries and drop it at the stream's end.
//!
//! ```
//! use evenkeel_middleware::{Hold, ResponseHold};
//!
//! /// A response that is complete when it arrives.
//! struct Answer(u32);
//!
//! impl ResponseHold for Answer {
//!     type Held = Self;
//!     fn hold(self, hold: Hold) -> Self {
//!         drop(hold); // nothing left to wait for
//!         self
//!     }
//! }
//! # let _ = Answer(1);
//! ```
//!
//! tower's `ConcurrencyLimit` releases its permit with the response future,
//! like these layers did before; tower-http has no drain. A `ResponseHold`
//! is the same idea as hyper keeping a connection busy until the body is
//! written.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

/// What a request holds while it is in flight: its drain guard, its
/// bulkhead permit and its circuit breaker call (when those layers are in
/// the stack). Dropping it releases them (and records the breaker's call,
/// timed to the drop). Created by the layers; a [`ResponseHold`] impl only
/// decides when to drop it.
///
/// ```
/// use evenkeel_middleware::{Hold, ResponseHold};
///
/// // What the layers do with the response: the body now keeps the hold
/// // until it is read to its end or dropped.
/// let response = http::Response::new(String::from("body")).hold(Hold::default());
/// assert!(response.body().is_holding());
/// ```
#[derive(Debug, Default)]
#[must_use = "dropping a Hold releases what it holds at once"]
#[allow(dead_code, reason = "the fields are held for their `Drop`, never read")]
pub struct Hold {
    #[cfg(feature = "drain")]
    guard: Option<evenkeel_shutdown::DrainGuard>,
    #[cfg(feature = "bulkhead")]
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    #[cfg(feature = "circuit-breaker")]
    call: Option<crate::circuit_breaker::future::Call>,
}

impl Hold {
    #[cfg(feature = "drain")]
    // With only one of the two features the update fills no field.
    #[allow(clippy::needless_update)]
    #[inline]
    pub(crate) fn guard(guard: evenkeel_shutdown::DrainGuard) -> Self {
        Self {
            guard: Some(guard),
            ..Self::default()
        }
    }

    #[cfg(feature = "bulkhead")]
    // With only one of the two features the update fills no field.
    #[allow(clippy::needless_update)]
    #[inline]
    pub(crate) fn permit(permit: tokio::sync::OwnedSemaphorePermit) -> Self {
        Self {
            permit: Some(permit),
            ..Self::default()
        }
    }

    #[cfg(feature = "circuit-breaker")]
    // With only the breaker feature the update fills no field.
    #[allow(clippy::needless_update)]
    #[inline]
    pub(crate) fn call(call: crate::circuit_breaker::future::Call) -> Self {
        Self {
            call: Some(call),
            ..Self::default()
        }
    }

    /// The response ended with an error: a breaker call held here counts
    /// as a failure when the hold is released.
    #[cfg_attr(not(feature = "circuit-breaker"), allow(clippy::unused_self))]
    #[inline]
    fn fail(&mut self) {
        #[cfg(feature = "circuit-breaker")]
        if let Some(call) = &mut self.call {
            call.fail();
        }
    }

    #[cfg(all(feature = "drain", feature = "bulkhead"))]
    // Without the breaker feature the update fills no field.
    #[allow(clippy::needless_update)]
    #[inline]
    pub(crate) fn both(
        permit: tokio::sync::OwnedSemaphorePermit,
        guard: evenkeel_shutdown::DrainGuard,
    ) -> Self {
        Self {
            guard: Some(guard),
            permit: Some(permit),
            ..Self::default()
        }
    }

    /// Releases what this hold keeps (the same as dropping it).
    ///
    /// ```
    /// evenkeel_middleware::Hold::default().release();
    /// ```
    pub fn release(self) {}
}

/// A response that can keep a request's [`Hold`] until it is complete.
///
/// See the [module docs](crate::hold) for the impls provided and how to
/// write one.
///
/// ```
/// use evenkeel_middleware::{Hold, HoldBody, ResponseHold};
///
/// let response = http::Response::new(String::from("hello"));
/// let held: http::Response<HoldBody<String>> = response.hold(Hold::default());
/// assert_eq!(held.body().get_ref(), "hello");
/// ```
pub trait ResponseHold: Sized {
    /// The response carrying the hold.
    type Held;

    /// Attaches `hold`, to be dropped when the response is complete.
    fn hold(self, hold: Hold) -> Self::Held;
}

impl<B> ResponseHold for http::Response<B> {
    type Held = http::Response<HoldBody<B>>;

    #[inline]
    fn hold(self, hold: Hold) -> Self::Held {
        self.map(|body| HoldBody::new(body, hold))
    }
}

/// `ResponseHold` for values that are complete when they arrive.
macro_rules! complete_on_arrival {
    ($($ty:ty),* $(,)?) => {$(
        impl ResponseHold for $ty {
            type Held = Self;

            #[inline]
            fn hold(self, hold: Hold) -> Self {
                drop(hold);
                self
            }
        }
    )*};
}

complete_on_arrival!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    Box<str>,
    &'static str,
);

impl<T> ResponseHold for Vec<T> {
    type Held = Self;

    fn hold(self, hold: Hold) -> Self {
        drop(hold);
        self
    }
}

impl<T: ResponseHold> ResponseHold for Option<T> {
    type Held = Option<T::Held>;

    fn hold(self, hold: Hold) -> Self::Held {
        self.map(|t| t.hold(hold))
    }
}

impl<T: ResponseHold, E> ResponseHold for Result<T, E> {
    type Held = Result<T::Held, E>;

    fn hold(self, hold: Hold) -> Self::Held {
        self.map(|t| t.hold(hold))
    }
}

pin_project! {
    /// A response body that keeps its request's [`Hold`] until the body
    /// ends, fails, or is dropped.
    ///
    /// ```
    /// use evenkeel_middleware::{Hold, HoldBody};
    /// use http_body::Body;
    ///
    /// let body = HoldBody::new(String::from("hi"), Hold::default());
    /// assert!(!body.is_end_stream());
    /// assert_eq!(body.into_inner(), "hi");
    /// ```
    #[derive(Debug)]
    pub struct HoldBody<B> {
        #[pin]
        inner: B,
        hold: Option<Hold>,
    }
}

impl<B> HoldBody<B> {
    /// `inner`, keeping `hold` until it ends.
    ///
    /// ```
    /// let body = evenkeel_middleware::HoldBody::new((), evenkeel_middleware::Hold::default());
    /// # let _ = body;
    /// ```
    pub fn new(inner: B, hold: Hold) -> Self {
        Self {
            inner,
            hold: Some(hold),
        }
    }

    /// The wrapped body.
    ///
    /// ```
    /// let body = evenkeel_middleware::HoldBody::new(7_u8, Default::default());
    /// assert_eq!(*body.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Whether the hold is still kept (the body has not ended yet).
    ///
    /// ```
    /// let body = evenkeel_middleware::HoldBody::new((), Default::default());
    /// assert!(body.is_holding());
    /// ```
    pub fn is_holding(&self) -> bool {
        self.hold.is_some()
    }

    /// The wrapped body; the hold is released.
    ///
    /// ```
    /// let body = evenkeel_middleware::HoldBody::new(7_u8, Default::default());
    /// assert_eq!(body.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for HoldBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = std::task::ready!(this.inner.as_mut().poll_frame(cx));
        // The end: no more frames, an error, or a last frame (hyper stops
        // polling once `is_end_stream` says so, and may keep the body).
        let ended = match &frame {
            None => true,
            Some(Err(_)) => {
                if let Some(hold) = this.hold.as_mut() {
                    hold.fail();
                }
                true
            }
            Some(Ok(_)) => this.inner.is_end_stream(),
        };
        if ended {
            this.hold.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
