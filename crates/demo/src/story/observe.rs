//! Watching job states over `GET /jobs/{id}`.
//!
//! The story remembers the last state it saw for every accepted id. A job
//! that reached `succeeded` or `dead` is never asked about again; the others
//! are polled in rounds, sixteen requests at a time, until they finish, a
//! deadline passes, or (during a drain) the server goes away. What was seen
//! feeds [`reconcile`](super::reconcile).

use std::collections::HashMap;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Seen;
use crate::load::client::{HttpClient, get, http_client};

/// Requests in flight per polling round.
const PARALLEL: usize = 16;

/// The story's memory of job states.
#[derive(Debug)]
pub(crate) struct Watcher {
    client: HttpClient,
    pub(crate) seen: HashMap<String, Seen>,
}

impl Watcher {
    pub(crate) fn new() -> Self {
        Self {
            client: http_client(),
            seen: HashMap::new(),
        }
    }

    /// Asks `base` once about every id of `ids` not yet seen finished;
    /// returns how many are still not finished (unanswered ones included).
    pub(crate) async fn poll(&mut self, base: &str, ids: &[String]) -> usize {
        let pending: Vec<String> = ids
            .iter()
            .filter(|id| !self.seen.get(*id).is_some_and(|s| s.is_finished()))
            .cloned()
            .collect();
        let mut still = 0;
        for chunk in pending.chunks(PARALLEL) {
            let mut tasks = JoinSet::new();
            for id in chunk {
                let client = self.client.clone();
                let url = format!("{base}/jobs/{id}");
                let id = id.clone();
                tasks.spawn(async move {
                    let state = get(&client, &url, Duration::from_secs(2))
                        .await
                        .filter(|(status, _)| *status == 200)
                        .and_then(|(_, body)| {
                            let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
                            v.get("state")?.as_str().map(Seen::parse)
                        });
                    (id, state)
                });
            }
            while let Some(Ok((id, state))) = tasks.join_next().await {
                if let Some(state) = state {
                    self.seen.insert(id, state);
                }
                if !state.is_some_and(Seen::is_finished) {
                    still += 1;
                }
            }
        }
        still
    }

    /// Polls until every id of `ids` is seen finished or `limit` passes;
    /// returns how many are still not finished.
    pub(crate) async fn wait_finished(
        &mut self,
        base: &str,
        ids: &[String],
        limit: Duration,
    ) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let still = self.poll(base, ids).await;
            if still == 0 || Instant::now() >= deadline {
                return still;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// How many of `ids` were last seen in `state`.
    pub(crate) fn count(&self, ids: &[String], state: Seen) -> usize {
        ids.iter()
            .filter(|id| self.seen.get(*id) == Some(&state))
            .count()
    }
}
