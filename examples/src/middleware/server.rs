//! Part 1 of the `middleware` lesson, the overloaded server: the handler,
//! the load (one request task per arrival), and the ledger that records how
//! long each request waited and how it was answered.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, sleep};
use tower::ServiceExt;

use super::{Overload, Scenario};

/// The server-side bookkeeping of part 1, shared by every request.
#[derive(Debug, Default)]
struct Books {
    overload: Overload,
    waiting: usize,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Ledger(Arc<Mutex<Books>>);

/// How one request was answered.
pub(super) enum Answer {
    Served,
    RateLimited(Duration),
    Overloaded(Duration),
}

impl Ledger {
    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn arrived(&self) {
        let mut books = self.books();
        books.overload.requests += 1;
        books.waiting += 1;
        books.overload.max_waiting = books.overload.max_waiting.max(books.waiting);
    }

    /// The handler starts (or the request is refused): it waits no more.
    fn stops_waiting(&self, arrived: Instant) {
        let mut books = self.books();
        books.waiting -= 1;
        let waited = arrived.elapsed();
        let max = &mut books.overload.max_wait_before_handler;
        *max = (*max).max(waited);
    }

    fn answered(&self, arrived: Instant, answer: &Answer) {
        let took = arrived.elapsed();
        let mut books = self.books();
        let o = &mut books.overload;
        o.slowest_answer = o.slowest_answer.max(took);
        o.answered_after_1s += usize::from(took > Duration::from_secs(1));
        let hint = match *answer {
            Answer::Served => {
                o.served += 1;
                None
            }
            Answer::RateLimited(after) => {
                o.rate_limited += 1;
                Some(after)
            }
            Answer::Overloaded(after) => {
                o.overloaded += 1;
                Some(after)
            }
        };
        o.max_retry_after = o.max_retry_after.max(hint);
    }
}

/// Part 1's handler: note that waiting is over, then work.
pub(super) fn handler(
    ledger: Ledger,
    work: Duration,
) -> impl Fn(Instant) -> std::pin::Pin<Box<dyn Future<Output = Result<(), Infallible>> + Send>> + Clone
{
    move |arrived: Instant| {
        ledger.stops_waiting(arrived);
        Box::pin(async move {
            sleep(work).await;
            Ok(())
        })
    }
}

/// Sends part 1's requests at `svc`, one task per request, and waits for
/// every answer. `answer` turns a result into an [`Answer`].
pub(super) async fn overload<S, E>(
    s: Scenario,
    ledger: &Ledger,
    svc: S,
    answer: fn(Result<(), E>) -> Answer,
) -> Overload
where
    S: tower::Service<Instant, Response = (), Error = E> + Clone + Send + 'static,
    S::Future: Send,
    E: Send + 'static,
{
    let mut requests = JoinSet::new();
    for _ in 0..s.requests {
        let (svc, ledger) = (svc.clone(), ledger.clone());
        let arrived = Instant::now();
        ledger.arrived();
        requests.spawn(async move {
            let result = svc.oneshot(arrived).await;
            let answer = answer(result);
            if !matches!(answer, Answer::Served) {
                ledger.stops_waiting(arrived);
            }
            ledger.answered(arrived, &answer);
        });
        sleep(s.interarrival).await;
    }
    while requests.join_next().await.is_some() {}
    ledger.books().overload
}
