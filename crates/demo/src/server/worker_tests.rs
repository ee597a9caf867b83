//! Unit tests of the worker's books against its store: a stop that lands
//! while an answer is being committed must not leave a committed outcome
//! uncounted (the final record's `lost` is computed from these counts).

use std::sync::Arc;
use std::time::Duration;

use evenkeel_shutdown::Shutdown;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::server::books::Books;
use crate::server::execute::{JobContext, RetryPolicy, retry_delay};
use crate::server::job::JobSpec;
use crate::server::metrics::Metrics;
use crate::server::store::{
    Claims, Clock, Enqueued, JobRecord, JobStore, Lease, MemoryStore, Nacked, NewJob, StoreFuture,
    StoreOptions, StoreStats,
};
use crate::server::worker;

/// A memory store whose `ack`, `nack` and `dead_letter` commit at once but
/// answer only after `lag` (as a group commit's fsync would), and say when
/// the commit happened; its claims answer after `claim_lag`.
#[derive(Debug)]
struct SlowAnswers {
    inner: MemoryStore,
    lag: Duration,
    claim_lag: Duration,
    committed: Arc<Notify>,
}

impl SlowAnswers {
    fn answer<'a, T: Send + 'static>(&'a self, commit: StoreFuture<'a, T>) -> StoreFuture<'a, T> {
        let (lag, committed) = (self.lag, Arc::clone(&self.committed));
        Box::pin(async move {
            let out = commit.await;
            committed.notify_one();
            tokio::time::sleep(lag).await;
            out
        })
    }
}

impl JobStore for SlowAnswers {
    fn enqueue(&self, job: NewJob) -> StoreFuture<'_, Enqueued> {
        self.inner.enqueue(job)
    }
    fn claim(&self, max: usize, lease_for: Duration) -> StoreFuture<'_, Claims> {
        let lag = self.claim_lag;
        let claim = self.inner.claim(max, lease_for);
        Box::pin(async move {
            let out = claim.await;
            tokio::time::sleep(lag).await;
            out
        })
    }
    fn extend(&self, lease: Lease, lease_for: Duration) -> StoreFuture<'_, Lease> {
        self.inner.extend(lease, lease_for)
    }
    fn ack(&self, lease: Lease) -> StoreFuture<'_, ()> {
        self.answer(self.inner.ack(lease))
    }
    fn nack(&self, lease: Lease, error: String, delay: Duration) -> StoreFuture<'_, Nacked> {
        self.answer(self.inner.nack(lease, error, delay))
    }
    fn dead_letter(&self, lease: Lease, reason: String) -> StoreFuture<'_, ()> {
        self.answer(self.inner.dead_letter(lease, reason))
    }
    fn release(&self, lease: Lease) -> StoreFuture<'_, ()> {
        self.inner.release(lease)
    }
    fn recover(&self) -> StoreFuture<'_, u64> {
        self.inner.recover()
    }
    fn get(&self, id: crate::server::job::JobId) -> StoreFuture<'_, Option<JobRecord>> {
        self.inner.get(id)
    }
    fn stats(&self) -> StoreFuture<'_, StoreStats> {
        self.inner.stats()
    }
    fn prune(&self) -> StoreFuture<'_, u64> {
        self.inner.prune()
    }
    fn wait_for_work(
        &self,
        max_wait: Duration,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.inner.wait_for_work(max_wait)
    }
    fn clock(&self) -> &dyn Clock {
        self.inner.clock()
    }
}

fn spec(fail_rate: f64, max_attempts: u32) -> JobSpec {
    JobSpec {
        payload: serde_json::Value::Null,
        work_ms: 5,
        fail_rate,
        downstream: false,
        panic: false,
        max_attempts,
    }
}

fn context(store: Arc<dyn JobStore>) -> JobContext {
    let books = Arc::new(Books::default());
    JobContext {
        store,
        metrics: Arc::new(Metrics::new(Arc::clone(&books))),
        books,
        downstream: None,
        policy: RetryPolicy {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(50),
            attempt_timeout: Duration::from_secs(5),
            job_timeout: Duration::from_secs(60),
            lease: Duration::from_secs(30),
        },
        settling: tokio_util::task::TaskTracker::new(),
    }
}

/// Runs one job through a worker and stops the worker (as the drain
/// deadline or a second signal does) the instant the store has committed
/// the job's answer, before the store has answered. Returns the books and
/// the store's own counts once the worker is done.
async fn stop_while_answering(job: JobSpec) -> (crate::server::books::Accounting, StoreStats) {
    let committed = Arc::new(Notify::new());
    let store = Arc::new(SlowAnswers {
        inner: MemoryStore::new(StoreOptions::default()),
        lag: Duration::from_millis(50),
        claim_lag: Duration::ZERO,
        committed: Arc::clone(&committed),
    });
    let ctx = context(Arc::clone(&store) as Arc<dyn JobStore>);
    store.enqueue(NewJob::new(job)).await.expect("enqueued");
    let stop = CancellationToken::new();
    let worker = tokio::spawn(worker::work(ctx.clone(), Shutdown::new(), stop.clone()));
    committed.notified().await;
    stop.cancel();
    worker.await.expect("the worker returns");
    ctx.settled().await;
    (ctx.books.accounting(), store.stats().await.expect("stats"))
}

/// An ack the store committed is counted as succeeded even when the stop
/// arrives between the commit and the store's answer (it used to be
/// dropped with the worker's future: the final record then said lost = 1).
#[tokio::test(start_paused = true)]
async fn a_stop_during_the_ack_still_counts_the_success() {
    let (books, store) = stop_while_answering(spec(0.0, 1)).await;
    assert_eq!(store.succeeded, 1, "the store committed the ack");
    assert_eq!(books.succeeded, 1, "{books:?}");
    assert_eq!(books.released, 0, "nothing was left to release: {books:?}");
}

/// The same for a failure on the last attempt: the store dead-letters it,
/// and the books count it dead.
#[tokio::test(start_paused = true)]
async fn a_stop_during_the_last_nack_still_counts_the_dead_letter() {
    let (books, store) = stop_while_answering(spec(1.0, 1)).await;
    assert_eq!(store.dead, 1, "the store dead-lettered the job");
    assert_eq!(books.dead, 1, "{books:?}");
}

/// A stop while the attempt itself runs releases the job (not charged)
/// and counts it released; nothing is counted finished.
#[tokio::test(start_paused = true)]
async fn a_stop_during_the_attempt_releases_the_job() {
    let store = Arc::new(MemoryStore::new(StoreOptions::default()));
    let ctx = context(Arc::clone(&store) as Arc<dyn JobStore>);
    let mut long = spec(0.0, 1);
    long.work_ms = 10_000;
    store.enqueue(NewJob::new(long)).await.expect("enqueued");
    let stop = CancellationToken::new();
    let worker = tokio::spawn(worker::work(ctx.clone(), Shutdown::new(), stop.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.cancel();
    worker.await.expect("the worker returns");
    ctx.settled().await;
    let books = ctx.books.accounting();
    let stats = store.stats().await.expect("stats");
    assert_eq!((books.succeeded, books.released), (0, 1), "{books:?}");
    assert_eq!(stats.ready, 1, "released back as ready: {stats:?}");
}

/// A worker sends its next claim beside the last job's answer instead of
/// after it: with a store whose claims and answers each take 50 ms to come
/// back (a commit's flush), four 5 ms jobs are answered after about four
/// such waits (265 ms), not eight (420 ms, claim and answer one after the
/// other). Every answer is still waited for before the next job runs.
#[tokio::test(start_paused = true)]
async fn the_next_claim_goes_beside_the_last_answer() {
    let lag = Duration::from_millis(50);
    let store = Arc::new(SlowAnswers {
        inner: MemoryStore::new(StoreOptions::default()),
        lag,
        claim_lag: lag,
        committed: Arc::new(Notify::new()),
    });
    let ctx = context(Arc::clone(&store) as Arc<dyn JobStore>);
    for _ in 0..4 {
        store
            .enqueue(NewJob::new(spec(0.0, 1)))
            .await
            .expect("enqueued");
    }
    let start = tokio::time::Instant::now();
    let stop = CancellationToken::new();
    let worker = tokio::spawn(worker::work(ctx.clone(), Shutdown::new(), stop.clone()));
    while ctx.books.accounting().succeeded < 4 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let took = start.elapsed();
    stop.cancel();
    worker.await.expect("the worker returns");
    assert!(
        took < Duration::from_millis(300),
        "four jobs took {took:?}: each claim waited for the answer before it"
    );
    assert_eq!(store.stats().await.expect("stats").succeeded, 4);
}

/// A downstream's `Retry-After` never parks a job past `--retry-max`, nor
/// past the job's own deadline; without a hint the backoff is capped too.
#[test]
fn the_wait_before_a_retry_is_capped_by_retry_max_and_the_deadline() {
    let policy = context(Arc::new(MemoryStore::new(StoreOptions::default()))).policy;
    let hour = Duration::from_secs(3_600);
    let far = Duration::from_secs(60);
    for attempt in 1..=40 {
        assert_eq!(retry_delay(&policy, Some(hour), attempt, far), policy.max);
        assert!(retry_delay(&policy, None, attempt, far) <= policy.max);
        let soon = Duration::from_millis(7);
        assert!(retry_delay(&policy, Some(hour), attempt, soon) <= soon);
        assert!(retry_delay(&policy, None, attempt, soon) <= soon);
    }
    let short = Duration::from_millis(10);
    assert_eq!(
        retry_delay(&policy, Some(short), 1, far),
        short,
        "a short hint is honoured"
    );
}
