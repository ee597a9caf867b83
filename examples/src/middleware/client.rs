//! Part 2 of the `middleware` lesson, the client of a failing dependency:
//! the dependency (down for a while, each call failing slowly), and the
//! load of calls that records how each call ended.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, sleep};
use tower::ServiceExt;

use super::{Dependency, Scenario};

/// Part 2's dependency: down (each call fails after `failure_time`) until
/// `up_at`, then answers at once. Counts the calls that reach it.
#[derive(Clone, Debug)]
pub(super) struct Downstream {
    up_at: Instant,
    failure_time: Duration,
    reached: Arc<Mutex<usize>>,
}

impl Downstream {
    pub(super) fn new(s: &Scenario) -> Self {
        Self {
            up_at: Instant::now() + s.outage,
            failure_time: s.failure_time,
            reached: Arc::default(),
        }
    }

    pub(super) async fn call(self) -> Result<(), std::io::Error> {
        *self.reached.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        if Instant::now() >= self.up_at {
            return Ok(());
        }
        sleep(self.failure_time).await;
        Err(std::io::Error::other("dependency unavailable"))
    }

    fn reached(&self) -> usize {
        *self.reached.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How one of part 2's calls ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallEnd {
    Succeeded,
    FailedSlowly(Duration),
    FailedFast,
}

/// Makes part 2's calls through `svc`, one every `interarrival`.
pub(super) async fn dependency<S, E>(
    s: Scenario,
    downstream: &Downstream,
    svc: S,
    failed_fast: fn(&E) -> bool,
) -> Dependency
where
    S: tower::Service<(), Response = (), Error = E> + Clone + Send + 'static,
    S::Future: Send,
    E: Send + 'static,
{
    let mut calls = JoinSet::new();
    for _ in 0..s.calls {
        let svc = svc.clone();
        calls.spawn(async move {
            let started = Instant::now();
            match svc.oneshot(()).await {
                Ok(()) => CallEnd::Succeeded,
                Err(e) if failed_fast(&e) => CallEnd::FailedFast,
                Err(_) => CallEnd::FailedSlowly(started.elapsed()),
            }
        });
        sleep(s.interarrival * 10).await;
    }
    let mut d = Dependency {
        calls: s.calls as usize,
        ..Dependency::default()
    };
    while let Some(joined) = calls.join_next().await {
        match joined {
            Ok(CallEnd::Succeeded) => d.succeeded += 1,
            Ok(CallEnd::FailedFast) => d.failed_fast += 1,
            Ok(CallEnd::FailedSlowly(waited)) => {
                d.failed_slowly += 1;
                d.time_waiting_for_failures += waited;
            }
            Err(_) => {}
        }
    }
    d.reached_dependency = downstream.reached();
    d
}
