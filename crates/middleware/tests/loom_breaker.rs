//! Model checks (loom) of the circuit breaker's state machine, through its
//! public `Service` interface: every interleaving of concurrent admissions,
//! completions and manual transitions, up to the preemption bound.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p
//! evenkeel-middleware --release --test loom_breaker` (drop
//! `LOOM_MAX_PREEMPTIONS` to explore exhaustively).
#![cfg(loom)]

use std::future::{Future, pending, ready};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use evenkeel_middleware::circuit_breaker::{Breaker, SlidingWindow, State};
use evenkeel_middleware::{CircuitBreaker, CircuitBreakerLayer, Error};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use tower::{Layer, Service};

/// Answers `Ok` for `true` and an error for `false` at once; `Hang`
/// never answers, so its call keeps its admission alive.
#[derive(Clone, Copy)]
enum Inner {
    Echo,
    Hang,
}

type Answer = Pin<Box<dyn Future<Output = Result<(), std::io::Error>> + Send>>;

impl Service<bool> for Inner {
    type Response = ();
    type Error = std::io::Error;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, ok: bool) -> Answer {
        match self {
            Self::Echo => Box::pin(ready(if ok {
                Ok(())
            } else {
                Err(std::io::Error::other("down"))
            })),
            Self::Hang => Box::pin(pending()),
        }
    }
}

type Svc = CircuitBreaker<Inner>;
type Call = <Svc as Service<bool>>::Future;

/// Drives readiness (where the breaker decides) and calls.
fn ready_call(svc: &mut Svc, ok: bool) -> Call {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(svc.poll_ready(&mut cx).is_ready());
    svc.call(ok)
}

/// Polls a call once: `None` while it runs, else its result.
fn poll_once(call: &mut Pin<Box<Call>>) -> Option<Result<(), Error<std::io::Error>>> {
    let mut cx = Context::from_waker(Waker::noop());
    match call.as_mut().poll(&mut cx) {
        Poll::Ready(r) => Some(r),
        Poll::Pending => None,
    }
}

/// Half-open admits at most its number of trial calls, however the
/// admissions of two callers interleave with the open → half-open
/// transition they both trigger; and one of them is admitted.
#[test]
fn half_open_admits_at_most_its_trials() {
    loom::model(|| {
        let b = Breaker::builder()
            .sliding_window(SlidingWindow::Count(1))
            .minimum_calls(1)
            .open_duration(Duration::ZERO)
            .half_open_calls(1)
            .build()
            .unwrap();
        let layer = CircuitBreakerLayer::new(b.clone());
        let mut opener = Box::pin(ready_call(&mut layer.layer(Inner::Echo), false));
        assert!(matches!(poll_once(&mut opener), Some(Err(Error::Inner(_)))));
        assert_eq!(b.state(), State::Open);

        let callers: Vec<_> = (0..2)
            .map(|_| {
                let mut svc = layer.layer(Inner::Hang);
                thread::spawn(move || {
                    let mut call = Box::pin(ready_call(&mut svc, true));
                    // Still running: a trial that holds its slot (the call
                    // is returned, so the slot stays taken after the join).
                    let admitted = poll_once(&mut call).is_none();
                    (admitted, call)
                })
            })
            .collect();
        let outcomes: Vec<_> = callers.into_iter().map(|h| h.join().unwrap()).collect();
        let admitted = outcomes.iter().filter(|(a, _)| *a).count();
        assert_eq!(admitted, 1, "one trial slot: exactly one trial");
        assert_eq!(b.state(), State::HalfOpen);
    });
}

/// A call admitted before the circuit was forced open and closed again
/// completes (as a failure that would trip it) concurrently with those
/// transitions: its result is stale and must not open the circuit that
/// `close()` left closed, whatever the interleaving.
#[test]
fn stale_results_do_not_resurrect_a_state() {
    loom::model(|| {
        let b = Breaker::builder()
            .sliding_window(SlidingWindow::Count(1))
            .minimum_calls(1)
            .open_duration(Duration::from_secs(3600))
            .build()
            .unwrap();
        let mut svc = CircuitBreakerLayer::new(b.clone()).layer(Inner::Echo);
        let started = Arc::new(AtomicUsize::new(0));
        let steer = b.clone();
        let seen = Arc::clone(&started);
        let manual = thread::spawn(move || {
            seen.store(1, Ordering::SeqCst);
            steer.force_open();
            steer.close();
        });
        // Admitted in `poll_ready` (inside `ready_call`), before or after the
        // manual transitions.
        let mut call = Box::pin(ready_call(&mut svc, false));
        let admitted_before_force = started.load(Ordering::SeqCst) == 0;
        let result = poll_once(&mut call);
        manual.join().unwrap();
        if admitted_before_force {
            // Recorded before `force_open` (then overridden) or after it
            // (stale, dropped): either way `close()` has the last word.
            assert!(matches!(result, Some(Err(Error::Inner(_)))));
            assert_eq!(b.state(), State::Closed);
        } else {
            assert!(matches!(b.state(), State::Closed | State::Open));
        }
    });
}
