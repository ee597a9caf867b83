//! Scene 8, played only when the story is given a PostgreSQL URL: two
//! servers share one queue in that database. Load goes to both; one is
//! killed with SIGKILL while its workers hold leases; the other keeps
//! serving and, once those leases expire, claims the orphans and finishes
//! them. Every job either server answered 202 ends finished (lost = 0);
//! the ones whose cut-short attempt ran again are counted.

use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::super::child::ServerProcess;
use super::super::observe::Watcher;
use super::super::report::{describe_exit, say, scene};
use super::super::{DRAIN_LIMIT, Seen, server_args};
use super::Story;
use crate::load::{self, JobMix, Mode, ProgressMode};

/// The lease the chapter's servers take: short, so the orphans of the
/// killed server come back within seconds.
const LEASE: &str = "2s";

impl Story {
    /// Two servers, one PostgreSQL queue, one of them killed mid-load.
    pub(super) async fn postgres_chapter(&mut self, url: &str) -> anyhow::Result<()> {
        scene(
            8,
            "PostgreSQL: two servers, one queue, one killed with SIGKILL",
        );
        let mut args = server_args(&self.data_dir, &self.downstream_url);
        args.extend(["--database-url", url, "--lease", LEASE].map(str::to_owned));
        let (a, b) = tokio::join!(
            ServerProcess::start(&self.exe, &args),
            ServerProcess::start(&self.exe, &args)
        );
        let (mut a, mut b) = (
            a.context("starting server A on PostgreSQL")?,
            b.context("starting server B on PostgreSQL")?,
        );
        let (base_a, base_b) = (a.url(), b.url());
        say(format!(
            "server A {base_a} and server B {base_b} share one queue (lease {LEASE})"
        ));

        say("20 jobs/s to each (50-150 ms of work) for 2s, then kill -9 server A");
        let mix = JobMix {
            work_ms: (50, 150),
            fail_rate: 0.0,
            downstream_share: 0.0,
        };
        let stop = CancellationToken::new();
        let loads = [("pg-a", &base_a), ("pg-b", &base_b)].map(|(label, base)| {
            let mut config = self.load_config(base, label, Mode::Rate(20.0), 30, mix);
            config.max_retries = 0;
            config.progress = ProgressMode::Off;
            tokio::spawn(load::run(config, stop.clone()))
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        let status = a.kill9().await?;
        stop.cancel();
        let mut ids = Vec::new();
        for task in loads {
            ids.extend(task.await.context("a load task failed")?.accepted_ids);
        }
        say(format!(
            "server A killed ({}); {} jobs were accepted by the two servers",
            describe_exit(status),
            ids.len()
        ));

        let mut watcher = Watcher::new();
        let still = watcher
            .wait_finished(&base_b, &ids, Duration::from_secs(30))
            .await;
        let again = self.ran_more_than_once(&base_b, &ids).await;
        let succeeded = watcher.count(&ids, Seen::Succeeded);
        self.checks.check(
            !ids.is_empty() && still == 0,
            format!(
                "lost = {still}: server B finished all {} jobs of both servers ({succeeded} succeeded), \
                 A's orphans once their leases expired",
                ids.len()
            ),
        );
        say(format!(
            "{again} of them ran more than once: A's attempts cut short by the kill (at-least-once delivery)"
        ));
        b.terminate()?;
        let exit = b.wait(DRAIN_LIMIT).await?;
        self.checks.check(
            exit.code() == Some(0),
            format!("server B drained and exited: {}", describe_exit(exit)),
        );
        Ok(())
    }
}
