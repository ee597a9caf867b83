//! A circuit breaker: fail fast while a dependency is failing, probe it
//! with a few trial calls, and recover on its own.
//!
//! tower has none (PRs #102 and #855 were never merged). The shape follows
//! resilience4j: a sliding window (the last N calls, or the last T of time)
//! over which the failure rate and the slow-call rate are computed once it
//! holds a minimum number of calls; at or above either threshold the circuit
//! opens and calls fail at once with
//! [`Error::CircuitOpen`] and the remaining open
//! time as retry-after; after the open duration, a limited number of trial
//! calls run half-open and their rates decide between closed and open
//! again. A [`Classify`] decides what a failure is (the default: any error
//! but a local rejection; [`HttpClassifier`]: 5xx but not 4xx). State changes
//! reach an optional callback, and [`Breaker::force_open`] /
//! [`Breaker::close`] steer it by hand. Every clone shares one [`Breaker`].
//!
//! Admission is decided in `poll_ready` before the inner service is polled:
//! an open circuit reports ready without touching the inner service, and
//! the call is rejected in `call`. A decision kept between `poll_ready` and
//! `call` is re-checked: a refusal is decided afresh by the next
//! `poll_ready`, and an admission whose state has moved on (the circuit
//! opened, or closed, meanwhile) is decided again at `call`, so callers
//! that poll readiness early (tower's balance and ready-cache) do not act
//! on stale decisions.
//!
//! # What is timed
//!
//! A call runs from its admission until its response is *complete*. For
//! most responses that is when the inner future resolves. For an
//! `http::Response<B>` it is the end of the body: the breaker moves the
//! call into the body (the response becomes
//! `http::Response<`[`HoldBody<B>`](crate::HoldBody)`>`, as with the
//! drain and the bulkhead; see [`ResponseHold`]) and
//! records it when the body ends, fails, or is dropped:
//!
//! - at the end, with the outcome the classifier gave the headers, timed
//!   to the last frame: a download or an event stream that takes longer
//!   than the slow-call duration is a slow call;
//! - on a body error (a reset mid-stream), as a failure, whatever the
//!   headers said;
//! - when the body is dropped before its end, with the headers' outcome,
//!   timed to the drop. The reader chose to stop; the dependency did
//!   answer. Recording nothing instead would lose every 5xx whose body
//!   goes unread (a caller that checks the status and drops the response)
//!   and could keep a half-open circuit probing forever.
//!
//! A half-open trial keeps its slot the same way, until its body ends,
//! fails or is dropped: while a trial streams, no other trial is admitted,
//! and a trial whose body fails opens the circuit again. A trial "succeeds"
//! when its body completes, or when the reader drops it early with a
//! successful status (see above for why that still counts).
//!
//! //! # Observability
//!
//! [`Builder::on_event`] receives every [`BreakerEvent`] (transitions with
//! the failure rate that decided them, rejections, slow calls), and with
//! the `tracing` feature each is a `tracing` event too.

mod breaker;
mod builder;
mod classify;
mod event;
pub mod future;
mod window;

use std::task::{Context, Poll};
use std::time::Duration;

use tower_layer::Layer;
use tower_service::Service;

use crate::admit::Admit;
use crate::error::{Error, LayerError};
use crate::hold::ResponseHold;

pub use breaker::{Breaker, State};
pub use builder::{Builder, ConfigError};
pub use classify::{Classify, DefaultClassifier, HttpClassifier, Outcome};
pub use event::{BreakerEvent, StateChange};
pub use window::SlidingWindow;

use breaker::Ticket;

/// Fails calls fast while the shared [`Breaker`] is open.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::circuit_breaker::{Breaker, SlidingWindow, State};
/// use evenkeel_middleware::{CircuitBreakerLayer, Error};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let breaker = Breaker::builder()
///     .sliding_window(SlidingWindow::Count(4))
///     .minimum_calls(4)
///     .open_duration(Duration::from_secs(10))
///     .build()
///     .unwrap();
/// let svc = ServiceBuilder::new()
///     .layer(CircuitBreakerLayer::new(breaker.clone()))
///     .service_fn(|ok: bool| async move {
///         if ok { Ok(()) } else { Err(std::io::Error::other("down")) }
///     });
///
/// for ok in [true, false, true, false] {
///     let _ = svc.clone().oneshot(ok).await;
/// }
/// // Two failures in four calls reach the 50% threshold.
/// assert_eq!(breaker.state(), State::Open);
/// assert!(matches!(svc.oneshot(true).await, Err(Error::CircuitOpen { retry_after })
///     if retry_after == Duration::from_secs(10)));
/// # }
/// ```
#[derive(Debug)]
pub struct CircuitBreaker<S, C = DefaultClassifier> {
    inner: S,
    breaker: Breaker,
    classifier: C,
    admission: Option<Result<Ticket, Duration>>,
}

impl<S: Clone, C: Clone> Clone for CircuitBreaker<S, C> {
    fn clone(&self) -> Self {
        // A clone starts undecided: an admission belongs to one request.
        Self {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            admission: None,
        }
    }
}

impl<S, C> CircuitBreaker<S, C> {
    /// Guards `inner` with `breaker`, classifying results with `classifier`.
    ///
    /// ```
    /// use evenkeel_middleware::circuit_breaker::{Breaker, DefaultClassifier};
    /// let svc = evenkeel_middleware::CircuitBreaker::new((), Breaker::builder().build().unwrap(), DefaultClassifier);
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S, breaker: Breaker, classifier: C) -> Self {
        Self {
            inner,
            breaker,
            classifier,
            admission: None,
        }
    }

    /// The shared breaker.
    ///
    /// ```
    /// use evenkeel_middleware::circuit_breaker::{Breaker, DefaultClassifier, State};
    /// let svc = evenkeel_middleware::CircuitBreaker::new((), Breaker::builder().build().unwrap(), DefaultClassifier);
    /// assert_eq!(svc.breaker().state(), State::Closed);
    /// ```
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }
}

impl<S, C, Req> Service<Req> for CircuitBreaker<S, C>
where
    S: Service<Req>,
    S::Error: LayerError,
    S::Response: ResponseHold,
    C: Classify<S::Response, <S::Error as LayerError>::Inner> + Clone,
{
    type Response = <S::Response as ResponseHold>::Held;
    type Error = Error<<S::Error as LayerError>::Inner>;
    type Future = future::ResponseFuture<S::Future, C, <S::Error as LayerError>::Inner>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Polled again: a refusal, or an admission whose state has moved
        // on, is decided afresh.
        if let Some(Err(_)) = &self.admission {
            self.admission = None;
        } else if let Some(Ok(ticket)) = &self.admission
            && !ticket.is_current()
        {
            self.admission = None;
        }
        let breaker = &self.breaker;
        match self.admission.get_or_insert_with(|| breaker.acquire()) {
            // Open: report ready without polling the inner service.
            Err(_) => Poll::Ready(Ok(())),
            Ok(_) => self.inner.poll_ready(cx).map_err(LayerError::into_error),
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // `None` means `call` without `poll_ready`, a caller bug; decide now.
        // An admission whose state has moved on since `poll_ready` (the
        // circuit opened meanwhile) is decided again.
        let decision = match self.admission.take() {
            Some(Ok(ticket)) if !ticket.is_current() => {
                drop(ticket);
                self.breaker.acquire()
            }
            Some(decision) => decision,
            None => self.breaker.acquire(),
        };
        let classifier = self.classifier.clone();
        match decision {
            Ok(ticket) => future::ResponseFuture::new(
                Admit::called(self.inner.call(req)),
                Some(ticket),
                classifier,
                self.breaker.timed(),
            ),
            Err(retry_after) => future::ResponseFuture::new(
                Admit::rejected(Error::CircuitOpen { retry_after }),
                None,
                classifier,
                false,
            ),
        }
    }
}

/// Applies [`CircuitBreaker`]; every service it makes shares one [`Breaker`].
///
/// ```
/// use evenkeel_middleware::circuit_breaker::{Breaker, HttpClassifier};
/// use evenkeel_middleware::CircuitBreakerLayer;
///
/// let breaker = Breaker::builder().build().unwrap();
/// let layer = CircuitBreakerLayer::new(breaker.clone()).classifier(HttpClassifier);
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<C = DefaultClassifier> {
    breaker: Breaker,
    classifier: C,
}

impl CircuitBreakerLayer {
    /// A layer sharing `breaker`, with the [`DefaultClassifier`].
    ///
    /// ```
    /// let layer = evenkeel_middleware::CircuitBreakerLayer::new(evenkeel_middleware::circuit_breaker::Breaker::builder().build().unwrap());
    /// # let _ = layer;
    /// ```
    pub fn new(breaker: Breaker) -> Self {
        Self {
            breaker,
            classifier: DefaultClassifier,
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// Replaces the classifier.
    ///
    /// ```
    /// use evenkeel_middleware::circuit_breaker::{Breaker, Outcome};
    /// use evenkeel_middleware::{CircuitBreakerLayer, Error};
    ///
    /// let layer = CircuitBreakerLayer::new(Breaker::builder().build().unwrap())
    ///     .classifier(|r: &Result<u16, Error<()>>| match r {
    ///         Ok(code) if *code >= 500 => Outcome::Failure,
    ///         Ok(_) => Outcome::Success,
    ///         Err(_) => Outcome::Failure,
    ///     });
    /// # let _ = layer;
    /// ```
    pub fn classifier<C2>(self, classifier: C2) -> CircuitBreakerLayer<C2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier,
        }
    }

    /// The shared breaker.
    ///
    /// ```
    /// use evenkeel_middleware::circuit_breaker::{Breaker, State};
    /// let layer = evenkeel_middleware::CircuitBreakerLayer::new(Breaker::builder().build().unwrap());
    /// assert_eq!(layer.breaker().state(), State::Closed);
    /// ```
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }
}

impl<C> CircuitBreakerLayer<C> {
    #[cfg(all(feature = "retry", feature = "timeout"))]
    pub(crate) fn classifier_ref(&self) -> &C {
        &self.classifier
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreaker<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::new(inner, self.breaker.clone(), self.classifier.clone())
    }
}
