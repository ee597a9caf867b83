//! The collector that reads state kept elsewhere (this process's books,
//! the job store's last counts, the queue probe) at scrape time, so that
//! no second copy of it can drift. The store's counts are refreshed by the
//! `/metrics` handler just before it renders (one `stats()` call).

use std::fmt;
use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::Probe;
use crate::server::books::Books;

/// Reads the books, the store's counts and the queue at scrape time.
pub(super) struct StateCollector {
    pub(super) books: Arc<Books>,
    pub(super) queue: Arc<OnceLock<Probe>>,
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
        let q = self.queue.get().map(|probe| probe()).unwrap_or_default();
        gauge(
            &mut encoder,
            "evenkeel_queue_depth",
            "Jobs waiting in the store (ready or delayed)",
            q.depth,
        )?;
        gauge(
            &mut encoder,
            "evenkeel_queue_capacity",
            "Waiting jobs the store admits (--queue-capacity)",
            q.capacity,
        )?;
        gauge(
            &mut encoder,
            "evenkeel_queue_high_water",
            "Largest number of waiting jobs seen",
            q.high_water,
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
            "Jobs this process finished (or released at shutdown), by outcome",
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
