//! Prometheus metrics, in the text exposition format at `GET /metrics`.
//!
//! Two kinds of numbers live here, and they are collected differently:
//!
//! - **Events** the server sees as they happen (an HTTP request and its
//!   latency, a rejection and its reason, a circuit-breaker transition, a
//!   worker restart) are ordinary `prometheus-client` counters, gauges and
//!   histograms, bumped at the point of the event.
//! - **State** that another component already keeps (this process's books,
//!   the job store's counts by state, the waiting jobs against the
//!   capacity) is *not* copied into
//!   a second set of counters that could drift: a [`Collector`](prometheus_client::collector::Collector) reads it at
//!   scrape time. There is one source of truth for "how many jobs
//!   succeeded", and the metric is that number.
//!
//! The names follow Prometheus' conventions: every name starts with
//! `evenkeel_`; values are in base units (seconds, not milliseconds);
//! counters end in `_total` (the encoder adds the suffix); durations are
//! histograms, so that a dashboard can compute any quantile over any set
//! of servers; and a *state* is never a number in a gauge (a `2` that
//! means "open" cannot be summed, averaged or read without the help
//! text). A state is a family with one series per possible state, labelled
//! by it, whose value is 1 for the current state and 0 for the others
//! (`evenkeel_circuit_state{state="open"} 1`), so that
//! `evenkeel_circuit_state{state="open"} == 1` is the alert.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use super::books::Books;

mod labels;
mod state;

use labels::{
    CircuitLabel, DeadLabel, HttpLabels, OpLabel, OutcomeLabel, PhaseLabel, ReasonLabel,
    RouteLabel, StateLabel,
};
pub use labels::{CircuitState, DeadReason, Phase};
use state::StateCollector;

/// The queue's numbers at one instant, read at scrape time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueSnapshot {
    /// Jobs waiting in the store (ready or delayed).
    pub depth: u64,
    /// The most waiting jobs the store admits (`--queue-capacity`).
    pub capacity: u64,
    /// The largest depth seen.
    pub high_water: u64,
}

type Probe = Arc<dyn Fn() -> QueueSnapshot + Send + Sync>;

/// Every metric of the server, and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    admissions: Counter,
    rejections: Family<ReasonLabel, Counter>,
    circuit_state: Family<CircuitLabel, Gauge>,
    circuit_transitions: Family<StateLabel, Counter>,
    in_flight: Gauge,
    drain_phase: Family<PhaseLabel, Gauge>,
    /// The furthest phase reported (phases only move forward).
    furthest_phase: AtomicI64,
    queue_wait: Histogram,
    run_duration: Family<OutcomeLabel, Histogram, fn() -> Histogram>,
    dead_letters: Family<DeadLabel, Counter>,
    connections: Gauge,
    connections_refused: Counter,
    worker_restarts: Counter,
    panics: Counter,
    store_errors: Family<OpLabel, Counter>,
    http: Family<HttpLabels, Histogram, fn() -> Histogram>,
    http_in_flight: Family<RouteLabel, Gauge>,
    queue: Arc<OnceLock<Probe>>,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s, doubling.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

fn job_histogram() -> Histogram {
    // 1 ms to about 65 s, doubling: a job waits and runs from milliseconds
    // to its deadline (`--job-timeout`, 30 s by default).
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl Metrics {
    /// Registers every metric; the books (and the store's counts they
    /// hold) are read at each
    /// scrape, and so is the queue once [`probe_queue`](Self::probe_queue)
    /// has said how (zeros until then).
    pub(crate) fn new(books: Arc<Books>) -> Self {
        let mut registry = Registry::default();
        let m = Self {
            registry: Registry::default(),
            admissions: Counter::default(),
            rejections: Family::default(),
            circuit_state: Family::default(),
            circuit_transitions: Family::default(),
            in_flight: Gauge::default(),
            drain_phase: Family::default(),
            furthest_phase: AtomicI64::new(Phase::Serving as i64),
            queue_wait: job_histogram(),
            run_duration: Family::new_with_constructor(job_histogram),
            dead_letters: Family::default(),
            connections: Gauge::default(),
            connections_refused: Counter::default(),
            worker_restarts: Counter::default(),
            panics: Counter::default(),
            store_errors: Family::default(),
            http: Family::new_with_constructor(latency_histogram),
            http_in_flight: Family::default(),
            queue: Arc::default(),
        };
        registry.register(
            "evenkeel_admissions",
            "Jobs admitted with 202",
            m.admissions.clone(),
        );
        registry.register(
            "evenkeel_rejections",
            "POST /jobs requests refused, by reason",
            m.rejections.clone(),
        );
        registry.register(
            "evenkeel_circuit_state",
            "Downstream circuit breaker: 1 for the current state, 0 for the others",
            m.circuit_state.clone(),
        );
        registry.register(
            "evenkeel_circuit_transitions",
            "Circuit breaker transitions, by the state entered",
            m.circuit_transitions.clone(),
        );
        registry.register(
            "evenkeel_jobs_in_flight",
            "Job attempts running now",
            m.in_flight.clone(),
        );
        registry.register(
            "evenkeel_drain_phase",
            "Shutdown phase: 1 for the current phase, 0 for the others",
            m.drain_phase.clone(),
        );
        m.register_jobs_and_connections(&mut registry);
        registry.register(
            "evenkeel_worker_restarts",
            "Workers restarted, after a job's panic or by the supervisor",
            m.worker_restarts.clone(),
        );
        registry.register(
            "evenkeel_job_panics",
            "Job attempts that panicked",
            m.panics.clone(),
        );
        registry.register(
            "evenkeel_store_errors",
            "Job store calls that failed in the storage (disk full, read-only, I/O, database unreachable), by operation",
            m.store_errors.clone(),
        );
        registry.register(
            "evenkeel_http_request_duration_seconds",
            "HTTP request latency, by method, route and status",
            m.http.clone(),
        );
        registry.register(
            "evenkeel_http_requests_in_flight",
            "HTTP requests being served now, by route",
            m.http_in_flight.clone(),
        );
        registry.register_collector(Box::new(StateCollector {
            books,
            queue: Arc::clone(&m.queue),
        }));
        m.circuit(CircuitState::Closed);
        m.set_phase_series(Phase::Serving);
        // The transition into the initial state is not a transition.
        m.circuit_transitions.clear();
        Self { registry, ..m }
    }

    /// Registers the job-duration histograms, the dead letters and the
    /// connection metrics.
    fn register_jobs_and_connections(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "evenkeel_job_queue_wait",
            "Time from a job's enqueue to its first claim",
            Unit::Seconds,
            self.queue_wait.clone(),
        );
        registry.register_with_unit(
            "evenkeel_job_run_duration",
            "Time from a claim to the answer of its attempt, by outcome (succeeded, retrying, dead)",
            Unit::Seconds,
            self.run_duration.clone(),
        );
        registry.register(
            "evenkeel_dead_letters",
            "Jobs finished dead, by reason",
            self.dead_letters.clone(),
        );
        registry.register(
            "evenkeel_http_connections",
            "HTTP connections open now",
            self.connections.clone(),
        );
        registry.register(
            "evenkeel_http_connections_refused",
            "Connections answered 503 (or closed) past --max-connections",
            self.connections_refused.clone(),
        );
    }

    /// Sets how the queue is read at each scrape (the first call wins: the
    /// queue is built once, after the metrics, which it reports into).
    pub fn probe_queue(&self, queue: impl Fn() -> QueueSnapshot + Send + Sync + 'static) {
        let _ = self.queue.set(Arc::new(queue));
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts a 202.
    pub fn admitted(&self) {
        self.admissions.inc();
    }

    /// Counts a refused `POST /jobs` by reason.
    pub fn rejected(&self, reason: &'static str) {
        self.rejections.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// Records a circuit-breaker transition.
    pub fn circuit(&self, state: CircuitState) {
        for s in CircuitState::ALL {
            self.circuit_state
                .get_or_create(&CircuitLabel { state: s.label() })
                .set(i64::from(s == state));
        }
        self.circuit_transitions
            .get_or_create(&StateLabel { to: state.label() })
            .inc();
    }

    /// The in-flight gauge (attempts running now).
    pub fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    /// Moves the drain phase forward to `phase` (never back: phases are
    /// reported from more than one task, and a late report of an earlier
    /// phase must not undo a later one).
    pub fn phase(&self, phase: Phase) {
        let before = self
            .furthest_phase
            .fetch_max(phase as i64, Ordering::AcqRel);
        if before < phase as i64 {
            self.set_phase_series(phase);
        }
    }

    fn set_phase_series(&self, phase: Phase) {
        // Two reports racing could write their series in either order;
        // the furthest phase decides what is shown.
        let furthest = self
            .furthest_phase
            .load(Ordering::Acquire)
            .max(phase as i64);
        for p in Phase::ALL {
            self.drain_phase
                .get_or_create(&PhaseLabel { phase: p.label() })
                .set(i64::from(p as i64 == furthest));
        }
    }

    /// Records how long a job waited in the store, from its enqueue to its
    /// first claim (store clock).
    pub fn queue_waited(&self, waited: Duration) {
        self.queue_wait.observe(waited.as_secs_f64());
    }

    /// Records how long one attempt took, from its claim to the store's
    /// answer, and its outcome: `succeeded`, `retrying` (failed, the job
    /// waits for its retry) or `dead`.
    pub fn ran(&self, took: Duration, outcome: &'static str) {
        self.run_duration
            .get_or_create(&OutcomeLabel { outcome })
            .observe(took.as_secs_f64());
    }

    /// Counts a job finished dead, by reason.
    pub fn dead_letter(&self, reason: DeadReason) {
        self.dead_letters
            .get_or_create(&DeadLabel {
                reason: reason.label(),
            })
            .inc();
    }

    /// The open-connections gauge (see [`InFlight`]).
    pub fn connections(&self) -> &Gauge {
        &self.connections
    }

    /// Counts a connection refused past the connection cap.
    pub fn connection_refused(&self) {
        self.connections_refused.inc();
    }

    /// Counts a worker restart.
    pub fn worker_restarted(&self) {
        self.worker_restarts.inc();
    }

    /// Counts a job store call that failed in the storage, by operation
    /// (`enqueue`, `claim`, `ack`, …).
    pub fn store_error(&self, op: &'static str) {
        self.store_errors.get_or_create(&OpLabel { op }).inc();
    }

    /// Counts a panicking attempt.
    pub fn panicked(&self) {
        self.panics.inc();
    }

    /// Counts an HTTP request on `route` in flight until the returned
    /// guard is dropped.
    pub fn http_request(&self, route: &str) -> InFlight {
        let gauge = self.http_in_flight.get_or_create(&RouteLabel {
            route: route.to_owned(),
        });
        InFlight::enter(&gauge)
    }

    /// Records one HTTP request's latency.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .observe(seconds);
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

/// Keeps the in-flight gauge honest: incremented on creation, decremented
/// on drop, also when a panic unwinds through the attempt.
#[derive(Debug)]
pub struct InFlight(Gauge<i64, AtomicI64>);

impl InFlight {
    /// Counts one attempt in flight until the returned value is dropped.
    pub fn enter(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}
