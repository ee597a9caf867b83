//! The collector that reads state kept elsewhere (the job accounting, the
//! queue) at scrape time, so that no second copy of it can drift.

use std::fmt;
use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::Probe;
use crate::server::store::JobStore;

/// Reads the job accounting and the queue at scrape time.
pub(super) struct StateCollector {
    pub(super) store: JobStore,
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
        let a = self.store.accounting();
        counter(
            &mut encoder,
            "evenkeel_jobs_accepted",
            "Jobs this process is responsible for (202s plus restored)",
            a.accepted,
        )?;
        counter(
            &mut encoder,
            "evenkeel_jobs_restored",
            "Jobs loaded from the spill file",
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
            "Jobs queued, running or waiting to retry",
            a.unaccounted(),
        )?;
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
            ("spilled", a.spilled),
        ] {
            let labels = [("outcome", outcome)];
            let e = family.encode_family(&labels)?;
            ConstCounter::new(value).encode(e)?;
        }
        Ok(())
    }
}
