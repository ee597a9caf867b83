//! The scenes of the story, in order, each a method on [`Story`].
//!
//! Each scene sets up a load (in-process, [`crate::load::run`]), watches the
//! server through its HTTP API and `/metrics`, and turns what it saw into
//! checks. The accepted ids of every scene are collected, because the
//! SIGTERM scene accounts for all of them, not only its own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::child::ServerProcess;
use super::observe::Watcher;
use super::report::{Checks, say, scene};
use super::{
    DRAIN_TIMEOUT, PRE_DRAIN_DELAY, QUEUE_CAPACITY, RATE_LIMIT, Scrape, Seen, WORKERS, server_args,
};
use crate::downstream::Downstream;
use crate::load::client::{HttpClient, get, http_client};
use crate::load::{self, JobMix, LoadConfig, Mode, ProgressMode, Summary};

mod crash;
mod postgres;
mod shutdown;

/// How long the downstream stays dark in the outage scene.
const OUTAGE: Duration = Duration::from_secs(5);

/// The state carried from scene to scene.
#[derive(Debug)]
pub(crate) struct Story {
    exe: PathBuf,
    data_dir: PathBuf,
    /// The PostgreSQL chapter's database, if one was given.
    pub(crate) database_url: Option<String>,
    downstream: Downstream,
    downstream_url: String,
    seed: u64,
    client: HttpClient,
    watcher: Watcher,
    /// Every id that got a 202, across scenes.
    accepted: Vec<String>,
    checks: Checks,
    /// The breaker's transitions, as the final report shows them.
    breaker: String,
}

impl Story {
    pub(crate) fn new(
        exe: PathBuf,
        dir: &Path,
        downstream: Downstream,
        downstream_url: String,
        seed: u64,
    ) -> Self {
        Self {
            exe,
            data_dir: dir.join("data"),
            database_url: None,
            downstream,
            downstream_url,
            seed,
            client: http_client(),
            watcher: Watcher::new(),
            accepted: Vec::new(),
            checks: Checks::default(),
            breaker: "not observed".to_owned(),
        }
    }

    /// Plays every scene; fails if any check failed.
    pub(crate) async fn play(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        println!("evenkeel demo: a worker-pool job server under load, on loopback");
        say(format!(
            "downstream (in-process, flaky): {}",
            self.downstream_url
        ));
        let server = self.start_server().await?;
        say(format!(
            "server: {} — {WORKERS} workers, queue {QUEUE_CAPACITY}, rate limit {RATE_LIMIT}/s, \
             drain deadline {DRAIN_TIMEOUT}, pre-drain delay {PRE_DRAIN_DELAY}",
            server.url()
        ));
        let base = server.url();
        self.warm_up(&base).await;
        self.overflow(&base).await;
        self.rate_limit(&base).await;
        self.outage(&base).await;
        let in_store = self.sigterm(server).await?;
        self.restart(&in_store).await?;
        self.sigkill().await?;
        if let Some(url) = self.database_url.clone() {
            self.postgres(&url).await?;
        }

        println!();
        if self.checks.failed().is_empty() {
            println!(
                "demo complete in {:.0}s: {} checks passed; every accepted job is accounted for.",
                started.elapsed().as_secs_f64(),
                self.checks.passed()
            );
            Ok(())
        } else {
            anyhow::bail!(
                "{} of {} checks failed:\n  - {}",
                self.checks.failed().len(),
                self.checks.failed().len() + self.checks.passed(),
                self.checks.failed().join("\n  - ")
            )
        }
    }

    async fn start_server(&self) -> anyhow::Result<ServerProcess> {
        ServerProcess::start(
            &self.exe,
            &server_args(&self.data_dir, &self.downstream_url),
        )
        .await
    }

    fn load_config(
        &self,
        base: &str,
        label: &str,
        mode: Mode,
        secs: u64,
        mix: JobMix,
    ) -> LoadConfig {
        let mut config = LoadConfig::new(base);
        label.clone_into(&mut config.label);
        config.mode = mode;
        config.duration = Duration::from_secs(secs);
        config.mix = mix;
        config.max_retries = 2;
        config.seed = self.seed.wrapping_add(label.len() as u64);
        config.progress = ProgressMode::Auto;
        config
    }

    /// Runs a load to its end and keeps its accepted ids.
    async fn load(&mut self, config: LoadConfig) -> Summary {
        let report = load::run(config, CancellationToken::new()).await;
        self.accepted.extend(report.accepted_ids);
        say(&report.summary);
        report.summary
    }

    async fn scrape(&self, base: &str) -> Option<Scrape> {
        let (status, body) = get(
            &self.client,
            &format!("{base}/metrics"),
            Duration::from_secs(2),
        )
        .await?;
        (status == 200).then(|| Scrape::parse(&String::from_utf8_lossy(&body)))
    }

    /// Waits until every job accepted so far finished, and checks it.
    async fn settle(&mut self, base: &str, limit: Duration) {
        let ids = self.accepted.clone();
        let still = self.watcher.wait_finished(base, &ids, limit).await;
        let dead = self.watcher.count(&ids, Seen::Dead);
        self.checks.check(
            still == 0,
            format!(
                "backlog settled: {} of {} jobs so far finished ({dead} dead)",
                ids.len() - still,
                ids.len()
            ),
        );
    }

    async fn warm_up(&mut self, base: &str) {
        scene(1, "warm-up: a steady trickle");
        say(
            "20 jobs/s for 3s; a quarter call the downstream; 10% of attempts fail and are retried",
        );
        let mix = JobMix {
            work_ms: (20, 80),
            fail_rate: 0.1,
            downstream_share: 0.25,
        };
        let s = self
            .load(self.load_config(base, "warm-up", Mode::Rate(20.0), 3, mix))
            .await;
        self.checks.check(
            s.jobs > 0 && s.accepted == s.jobs,
            format!("{} of {} jobs accepted (202)", s.accepted, s.jobs),
        );
    }

    async fn overflow(&mut self, base: &str) {
        scene(2, "overflow: a full job store pushes back");
        say(format!(
            "48 clients submit slow jobs (300-600 ms of work) for 4s; {WORKERS} workers, queue of {QUEUE_CAPACITY}"
        ));
        let mix = JobMix {
            work_ms: (300, 600),
            ..JobMix::default()
        };
        let s = self
            .load(self.load_config(base, "overflow", Mode::Concurrency(48), 4, mix))
            .await;
        self.checks.check(
            s.rejected_with(503) > 0,
            format!(
                "{} answers were 503 + Retry-After; the clients backed off {} times",
                s.rejected_with(503),
                s.backoffs
            ),
        );
        if let Some(m) = self.scrape(base).await {
            let high = m
                .value("evenkeel_queue_high_water", None)
                .unwrap_or(f64::NAN);
            say(format!("queue high-water mark: {high} of {QUEUE_CAPACITY}"));
        }
        self.settle(base, Duration::from_secs(30)).await;
    }

    async fn rate_limit(&mut self, base: &str) {
        scene(3, "rate limit: the token bucket");
        say(format!(
            "16 clients submit tiny jobs back to back for 3s; the limit is {RATE_LIMIT}/s"
        ));
        let mix = JobMix {
            work_ms: (1, 5),
            ..JobMix::default()
        };
        let s = self
            .load(self.load_config(base, "rate-limit", Mode::Concurrency(16), 3, mix))
            .await;
        self.checks.check(
            s.rejected_with(429) > 0,
            format!(
                "{} answers were 429 + Retry-After, {} accepted ({:.0}/s)",
                s.rejected_with(429),
                s.accepted,
                s.accepted as f64 * 1000.0 / s.elapsed_ms.max(1) as f64
            ),
        );
        self.settle(base, Duration::from_secs(15)).await;
    }

    async fn outage(&mut self, base: &str) {
        scene(4, "outage: the circuit breaker");
        say(format!(
            "25 jobs/s, all calling the downstream, for 12s; after 2s the downstream goes dark for {}s",
            OUTAGE.as_secs()
        ));
        let transitions = |m: &Scrape, to: &str| {
            m.value("evenkeel_circuit_transitions", Some(("to", to)))
                .unwrap_or(0.0)
        };
        let before = self.scrape(base).await.unwrap_or_default();
        let calls_before = self.downstream.stats();
        let mix = JobMix {
            work_ms: (5, 20),
            fail_rate: 0.0,
            downstream_share: 1.0,
        };
        let mut config = self.load_config(base, "outage", Mode::Rate(25.0), 12, mix);
        config.progress = ProgressMode::Off;
        let task = tokio::spawn(load::run(config, CancellationToken::new()));
        let started = Instant::now();
        let (mut dark, mut lit) = (false, false);
        let mut states: Vec<&'static str> = Vec::new();
        let mut last = before.clone();
        loop {
            let t = started.elapsed();
            if !dark && t >= Duration::from_secs(2) {
                self.downstream.start_outage(OUTAGE);
                say(format!(
                    "{:5.1}s downstream: outage begins (every call answers 503)",
                    t.as_secs_f64()
                ));
                dark = true;
            }
            if dark && !lit && t >= Duration::from_secs(2) + OUTAGE {
                say(format!("{:5.1}s downstream: back up", t.as_secs_f64()));
                lit = true;
            }
            if let Some(m) = self.scrape(base).await {
                if let Some(state) = m.circuit().filter(|s| states.last() != Some(s)) {
                    say(format!("{:5.1}s breaker: {state}", t.as_secs_f64()));
                    states.push(state);
                }
                last = m;
            }
            let done = task.is_finished() && lit && states.last() == Some(&"closed");
            if done || t > Duration::from_secs(30) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        match task.await {
            Ok(report) => {
                self.accepted.extend(report.accepted_ids);
                say(&report.summary);
            }
            Err(e) => self
                .checks
                .check(false, format!("the outage load task failed: {e}")),
        }
        let calls = self.downstream.stats();
        say(format!(
            "downstream saw {} calls in this scene: {} ok, {} refused by the outage, {} injected 500s, {} busy 503s",
            calls.requests - calls_before.requests,
            calls.ok - calls_before.ok,
            calls.outage_rejections - calls_before.outage_rejections,
            calls.errors - calls_before.errors,
            calls.busy - calls_before.busy,
        ));
        let delta = |to| transitions(&last, to) - transitions(&before, to);
        self.breaker = format!(
            "{} → open, {} → half-open, {} → closed (server counters); sampled: {}",
            delta("open"),
            delta("half_open"),
            delta("closed"),
            if states.is_empty() {
                "none".to_owned()
            } else {
                states.join(" → ")
            }
        );
        self.checks.check(
            states.contains(&"open") || delta("open") > 0.0,
            "the breaker opened during the outage",
        );
        self.checks.check(
            states.last() == Some(&"closed"),
            "the breaker closed again after the downstream recovered",
        );
        self.settle(base, Duration::from_secs(20)).await;
    }
}
