//! Prometheus metrics, in the text exposition format at `GET /metrics`.
//!
//! Two kinds of numbers live here, and they are collected differently:
//!
//! - **Events** the server sees as they happen (an HTTP request and its
//!   latency, a rejection and its reason, a circuit-breaker transition, a
//!   worker restart) are ordinary `prometheus-client` counters, gauges and
//!   histograms, bumped at the point of the event.
//! - **State** that another component already keeps (the job accounting in
//!   the store, the queue's depth and high-water mark) is *not* copied into
//!   a second set of counters that could drift: a [`Collector`] reads it at
//!   scrape time. There is one source of truth for "how many jobs
//!   succeeded", and the metric is that number.
//!
//! Every name starts with `evenkeel_`. Gauges that encode a state use small
//! integers documented in their help text (`evenkeel_drain_phase`: 0
//! serving, 1 not ready / pre-drain, 2 draining, 3 releasing, 4 stopped).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::books::Books;

/// The queue's numbers at one instant, read at scrape time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueSnapshot {
    /// Jobs waiting in the bounded queue.
    pub depth: u64,
    /// The queue's capacity.
    pub capacity: u64,
    /// The largest depth seen.
    pub high_water: u64,
    /// Jobs waiting in the priority backlog (restored or re-queued after a
    /// panic), outside the bounded queue.
    pub backlog: u64,
}

/// The drain phase, as `evenkeel_drain_phase` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i64)]
pub enum Phase {
    /// Accepting jobs.
    Serving = 0,
    /// Readiness is false; intake still open (pre-drain delay).
    PreDrain = 1,
    /// Intake stopped; queued and running jobs finishing.
    Draining = 2,
    /// Handing unfinished jobs back to the store.
    Releasing = 3,
    /// Done.
    Stopped = 4,
}

/// The circuit breaker's state, as `evenkeel_circuit_state` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls pass.
    Closed,
    /// A few trial calls pass.
    HalfOpen,
    /// Calls are refused.
    Open,
}

impl CircuitState {
    fn value(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half_open",
            Self::Open => "open",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

type Probe = Arc<dyn Fn() -> QueueSnapshot + Send + Sync>;

/// Every metric of the server, and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    admissions: Counter,
    rejections: Family<ReasonLabel, Counter>,
    circuit_state: Gauge,
    circuit_transitions: Family<StateLabel, Counter>,
    in_flight: Gauge,
    drain_phase: Gauge,
    worker_restarts: Counter,
    panics: Counter,
    http: Family<HttpLabels, Histogram, fn() -> Histogram>,
    http_in_flight: Family<RouteLabel, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s, doubling.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    /// Registers every metric; `queue` is read at each scrape.
    pub(crate) fn new(
        books: Arc<Books>,
        queue: impl Fn() -> QueueSnapshot + Send + Sync + 'static,
    ) -> Self {
        let mut registry = Registry::default();
        let m = Self {
            registry: Registry::default(),
            admissions: Counter::default(),
            rejections: Family::default(),
            circuit_state: Gauge::default(),
            circuit_transitions: Family::default(),
            in_flight: Gauge::default(),
            drain_phase: Gauge::default(),
            worker_restarts: Counter::default(),
            panics: Counter::default(),
            http: Family::new_with_constructor(latency_histogram),
            http_in_flight: Family::default(),
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
            "Downstream circuit breaker: 0 closed, 1 half-open, 2 open",
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
            "0 serving, 1 not ready (pre-drain), 2 draining, 3 releasing, 4 stopped",
            m.drain_phase.clone(),
        );
        registry.register(
            "evenkeel_worker_restarts",
            "Workers restarted by the supervisor",
            m.worker_restarts.clone(),
        );
        registry.register(
            "evenkeel_job_panics",
            "Job attempts that panicked",
            m.panics.clone(),
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
            queue: Arc::new(queue),
        }));
        Self { registry, ..m }
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
        self.circuit_state.set(state.value());
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
        self.drain_phase
            .inner()
            .fetch_max(phase as i64, Ordering::Relaxed);
    }

    /// Counts a worker restart.
    pub fn worker_restarted(&self) {
        self.worker_restarts.inc();
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

/// Reads the job accounting and the queue at scrape time.
struct StateCollector {
    books: Arc<Books>,
    queue: Probe,
}

impl fmt::Debug for StateCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateCollector").finish_non_exhaustive()
    }
}

fn gauge(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    let e = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(e)
}

fn counter(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    let e = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(e)
}

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let q = (self.queue)();
        gauge(
            &mut encoder,
            "evenkeel_queue_depth",
            "Jobs waiting in the bounded queue",
            q.depth,
        )?;
        gauge(
            &mut encoder,
            "evenkeel_queue_capacity",
            "Capacity of the bounded queue",
            q.capacity,
        )?;
        gauge(
            &mut encoder,
            "evenkeel_queue_high_water",
            "Largest queue depth seen",
            q.high_water,
        )?;
        gauge(
            &mut encoder,
            "evenkeel_backlog_depth",
            "Restored or re-queued jobs waiting ahead of the queue",
            q.backlog,
        )?;
        let a = self.books.accounting();
        let store = self.books.store();
        counter(
            &mut encoder,
            "evenkeel_jobs_accepted",
            "Jobs this process answered 202 for",
            a.accepted,
        )?;
        counter(
            &mut encoder,
            "evenkeel_jobs_restored",
            "Live jobs found in the job store at start",
            a.restored,
        )?;
        counter(
            &mut encoder,
            "evenkeel_job_retries",
            "Attempts after the first",
            a.retries,
        )?;
        gauge(
            &mut encoder,
            "evenkeel_jobs_live",
            "Jobs in the store still to run: ready, delayed or leased",
            store.live(),
        )?;
        let by_state = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "evenkeel_store_jobs",
            "Jobs in the job store, by state (finished ones until pruned)",
            None,
            by_state.metric_type(),
        )?;
        for (state, value) in [
            ("ready", store.ready),
            ("delayed", store.delayed),
            ("leased", store.leased),
            ("succeeded", store.succeeded),
            ("dead", store.dead),
        ] {
            let labels = [("state", state)];
            let e = family.encode_family(&labels)?;
            ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(e)?;
        }
        let age = ConstGauge::new(store.oldest_ready_age_ms as f64 / 1000.0);
        let e = encoder.encode_descriptor(
            "evenkeel_store_oldest_ready_age_seconds",
            "How long the oldest ready job has waited",
            None,
            age.metric_type(),
        )?;
        age.encode(e)?;
        let finished = ConstCounter::new(0u64);
        let mut family = encoder.encode_descriptor(
            "evenkeel_jobs",
            "Jobs finished, by outcome",
            None,
            finished.metric_type(),
        )?;
        for (outcome, value) in [
            ("succeeded", a.succeeded),
            ("dead", a.dead),
            ("released", a.released),
        ] {
            let labels = [("outcome", outcome)];
            let e = family.encode_family(&labels)?;
            ConstCounter::new(value).encode(e)?;
        }
        Ok(())
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
