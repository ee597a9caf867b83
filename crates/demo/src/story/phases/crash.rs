//! Scene 7: SIGKILL under load. No signal handler runs, no drain, no last
//! word: the process is gone mid-request. What the server promised with
//! each 202 was already on disk, so a fresh server on the same data
//! directory finishes every accepted job; the jobs whose attempt the kill
//! cut short run again (at-least-once), and the story counts them.
//!
//! The PostgreSQL chapter's hook is here too ([`Story::postgres`]).

use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::super::observe::Watcher;
use super::super::report::{describe_exit, say, scene};
use super::super::{DRAIN_LIMIT, Seen};
use super::Story;
use crate::load::client::get;
use crate::load::{self, JobMix, Mode, ProgressMode};

impl Story {
    /// SIGKILL mid-load, restart, every accepted job finishes.
    pub(super) async fn sigkill(&mut self) -> anyhow::Result<()> {
        scene(7, "SIGKILL under load: a 202 is on disk");
        let mut server = self.start_server().await?;
        let base = server.url();
        say("40 jobs/s (50-150 ms of work, never failing) for 2s, then kill -9: no drain at all");
        let mix = JobMix {
            work_ms: (50, 150),
            fail_rate: 0.0,
            downstream_share: 0.0,
        };
        let mut config = self.load_config(&base, "sigkill", Mode::Rate(40.0), 30, mix);
        config.max_retries = 0;
        config.progress = ProgressMode::Off;
        let stop = CancellationToken::new();
        let task = tokio::spawn(load::run(config, stop.clone()));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let status = server.kill9().await?;
        stop.cancel();
        let report = task.await.context("the load task failed")?;
        let ids = report.accepted_ids;
        say(format!(
            "server killed ({}) with {} jobs accepted in this scene",
            describe_exit(status),
            ids.len()
        ));

        let mut server = self.start_server().await?;
        let base = server.url();
        say(format!(
            "server restarted at {base} on the same data directory"
        ));
        let mut watcher = Watcher::new();
        let still = watcher
            .wait_finished(&base, &ids, Duration::from_secs(30))
            .await;
        let again = self.ran_more_than_once(&base, &ids).await;
        let succeeded = watcher.count(&ids, Seen::Succeeded);
        self.checks.check(
            !ids.is_empty() && still == 0,
            format!(
                "lost = {still}: all {} jobs accepted before the kill finished after the restart ({succeeded} succeeded)",
                ids.len()
            ),
        );
        say(format!(
            "{again} of them ran more than once: their attempt was cut short by the kill (at-least-once delivery)"
        ));
        server.terminate()?;
        let exit = server.wait(DRAIN_LIMIT).await?;
        let books = server.accounting();
        self.checks.check(
            exit.code() == Some(0) && books.is_some_and(|b| b.unaccounted() == 0),
            format!(
                "the restarted server drained completely: exit {}, books {}",
                describe_exit(exit),
                books.map_or_else(
                    || "missing".to_owned(),
                    |b| format!(
                        "restored {}, succeeded {}, dead {}, remaining {}",
                        b.restored, b.succeeded, b.dead, b.remaining
                    )
                )
            ),
        );
        Ok(())
    }

    /// The PostgreSQL chapter (several servers sharing one queue), played
    /// when the story is given a database URL.
    ///
    /// The chapter itself is in `postgres`.
    pub(super) async fn postgres(&mut self, url: &str) -> anyhow::Result<()> {
        self.postgres_chapter(url).await
    }

    /// How many of `ids` the server at `base` reports with more than one
    /// attempt: the jobs whose attempt a kill cut short (at-least-once).
    pub(super) async fn ran_more_than_once(&self, base: &str, ids: &[String]) -> usize {
        let mut again = 0;
        for id in ids {
            let url = format!("{base}/jobs/{id}");
            if let Some((200, body)) = get(&self.client, &url, Duration::from_secs(2)).await {
                let record: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if record["attempts"].as_u64() > Some(1) {
                    again += 1;
                }
            }
        }
        again
    }
}
