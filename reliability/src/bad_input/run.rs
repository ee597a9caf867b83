//! Sends the generated cases to a running server and judges each answer
//! with the oracle; checks `/healthz` after every case and that a plain
//! valid job still gets a 202 every [`PROBE_EVERY`] cases and at the end.
//!
//! Every 202 (a generated valid job or a probe) is a promise: its id is
//! kept for the accounting that ends the section.

use std::collections::BTreeMap;

use hyper::Method;
use serde_json::Value;

use super::generate::{CLASSES, Class, case};
use super::oracle::{Want, judge, show};
use crate::sections::steady_job;
use crate::server::{Server, client, request};

/// A valid job is posted after this many cases (and after the last).
pub(crate) const PROBE_EVERY: u64 = 50;

/// What the generated cases got.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Per class: answers by status (0: no answer).
    pub(crate) by_class: BTreeMap<Class, BTreeMap<u16, u64>>,
    /// Generated cases whose oracle said "a valid job", and of those how
    /// many got their 202.
    pub(crate) valid: u64,
    pub(crate) valid_accepted: u64,
    /// Probes sent.
    pub(crate) probes: u64,
    /// Ids of every 202.
    pub(crate) ids: Vec<String>,
    /// Each failure, with its seed and case index.
    pub(crate) failures: Vec<String>,
}

impl Tally {
    /// One line per class: how many were tried and what answered.
    pub(crate) fn lines(&self) -> Vec<(String, String)> {
        CLASSES
            .iter()
            .filter_map(|class| {
                let answers = self.by_class.get(class)?;
                let tried: u64 = answers.values().sum();
                let shown: Vec<String> = answers
                    .iter()
                    .map(|(s, n)| {
                        if *s == 0 {
                            format!("no answer: {n}")
                        } else {
                            format!("{s}: {n}")
                        }
                    })
                    .collect();
                Some((format!("{} ({tried})", class.label()), shown.join(", ")))
            })
            .collect()
    }
}

/// Sends cases `0..count` of `seed` to `server`.
pub(crate) async fn generated(server: &Server, seed: u64, count: u64) -> Tally {
    let mut tally = Tally::default();
    let probe_client = client();
    for index in 0..count {
        let case = case(seed, index);
        let repro = format!("case {index} of seed {seed} (`--only bad --seed {seed}`)");
        let answers = tally.by_class.entry(case.class).or_default();
        let valid = case.want == [Want::Accepted];
        tally.valid += u64::from(valid);
        match super::send(server.addr, &case.raw, case.half_close).await {
            Ok((status, body)) => {
                *answers.entry(status).or_default() += 1;
                match judge(&case.want, status, &body) {
                    Ok(Some(id)) => {
                        tally.valid_accepted += u64::from(valid);
                        tally.ids.push(id);
                    }
                    Ok(None) => {}
                    Err(wrong) => {
                        let body: String = body.chars().take(160).collect();
                        tally.failures.push(format!(
                            "{repro}, {} ({}): {wrong} (body {body:?})",
                            case.class.label(),
                            case.what
                        ));
                    }
                }
            }
            Err(e) => {
                *answers.entry(0).or_default() += 1;
                tally.failures.push(format!(
                    "{repro}, {} ({}): expected {}, got no answer: {e:#}",
                    case.class.label(),
                    case.what,
                    show(&case.want)
                ));
            }
        }
        let health = server.get("/healthz").await.map(|a| a.status.as_u16());
        if health.as_ref().ok() != Some(&200) {
            tally
                .failures
                .push(format!("after {repro}: /healthz answered {health:?}"));
        }
        if (index + 1) % PROBE_EVERY == 0 || index + 1 == count {
            tally.probes += 1;
            let job = steady_job(1);
            let probe = request(
                &probe_client,
                server.addr,
                Method::POST,
                "/jobs",
                Some(&job),
            )
            .await;
            match probe {
                Ok(a) if a.status.as_u16() == 202 => {
                    if let Some(id) = a.json.get("id").and_then(Value::as_str) {
                        tally.ids.push(id.to_owned());
                    }
                }
                other => tally.failures.push(format!(
                    "after {repro}: a valid job got {:?} instead of 202",
                    other.map(|a| a.status)
                )),
            }
        }
    }
    tally
}
