//! The same comparison loaded by `wrk`, a load generator of its own in a
//! process of its own, when it is installed (Debian's package `wrk`).
//!
//! This process's driver (hyper clients, one task per connection) and the
//! servers share the two cores, and the ratio depends on how much CPU the
//! driver itself takes per request. A second, independent driver shows
//! whether a figure belongs to the servers or to the driver. `wrk` runs
//! with one thread and the same number of keep-alive connections, each
//! sending the next request as soon as the last is answered.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;
use tokio::process::Command;

use super::Figures;

/// `wrk`, found on the PATH, with the request script for the job.
pub(super) struct Wrk {
    script: PathBuf,
}

impl Wrk {
    /// Finds `wrk` and writes the script that posts `job` into `dir`.
    ///
    /// # Errors
    ///
    /// Why it cannot be used (not installed, or the script not written),
    /// as a sentence for the report.
    pub(super) async fn find(dir: &Path, job: &Value) -> Result<Self, String> {
        // `wrk -v` prints its version and exits with 1: only starting it
        // matters here.
        let out =
            Command::new("wrk").arg("-v").output().await.map_err(|e| {
                format!("wrk is not installed ({e}); on Debian: apt-get install wrk")
            })?;
        let version = String::from_utf8_lossy(&out.stdout);
        if !version.starts_with("wrk") {
            return Err(format!(
                "`wrk -v` did not print a wrk version: {}",
                version.lines().next().unwrap_or_default()
            ));
        }
        let script = dir.join("post-job.lua");
        std::fs::write(&script, script_for(job)?)
            .map_err(|e| format!("cannot write the wrk script: {e}"))?;
        Ok(Self { script })
    }

    /// Loads `POST /jobs` at `addr` over `connections` keep-alive
    /// connections for `secs` (rounded up to whole seconds, wrk's unit).
    pub(super) async fn load(
        &self,
        addr: SocketAddr,
        connections: usize,
        secs: f64,
    ) -> anyhow::Result<Figures> {
        let whole = format!("{}s", secs.ceil().max(1.0));
        let out = Command::new("wrk")
            .args(["-t1", &format!("-c{connections}"), &format!("-d{whole}")])
            .arg("--latency")
            .arg("-s")
            .arg(&self.script)
            .arg(format!("http://{addr}/jobs"))
            .output()
            .await
            .context("start wrk")?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "wrk failed ({}): {}{}",
                out.status,
                text,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        parse(&text)
    }
}

/// The Lua script that makes every request `POST /jobs` with `job`.
///
/// # Errors
///
/// A job whose JSON holds `]==]`, which would end the Lua string early.
fn script_for(job: &Value) -> Result<String, String> {
    // A long bracket takes the JSON as it is, quotes and backslashes
    // included.
    let body = job.to_string();
    if body.contains("]==]") {
        return Err("the job's JSON holds `]==]`, which ends a Lua long string".to_owned());
    }
    Ok(format!(
        "wrk.method = \"POST\"\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.body = [==[{body}]==]\n"
    ))
}

/// Reads wrk's report: requests and their duration, the non-2xx count,
/// and the latency distribution (of every answer, as wrk measures it).
fn parse(text: &str) -> anyhow::Result<Figures> {
    let mut requests = None;
    let mut took = None;
    let mut refused = 0.0;
    let mut p50 = None;
    let mut p99 = None;
    let mut max = None;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            // "611433 requests in 5.00s, 146.35MB read"
            [n, "requests", "in", secs, ..] => {
                requests = n.parse::<f64>().ok();
                took = duration_ms(secs.trim_end_matches(',')).map(|ms| ms / 1e3);
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => {
                refused = n.parse().context("wrk's non-2xx count")?;
            }
            // "Latency   738.00us   1.20ms  33.20ms   90.00%"
            ["Latency", _avg, _stdev, m, ..] => max = duration_ms(m),
            ["50%", v] => p50 = duration_ms(v),
            ["99%", v] => p99 = duration_ms(v),
            _ => {}
        }
    }
    let missing = |what: &str| anyhow!("wrk's report has no {what}:\n{text}");
    let requests = requests.ok_or_else(|| missing("request count"))?;
    let took = took
        .filter(|t| *t > 0.0)
        .ok_or_else(|| missing("duration"))?;
    Ok(Figures {
        accepted_per_sec: (requests - refused).max(0.0) / took,
        answered_per_sec: requests / took,
        p50_ms: p50.ok_or_else(|| missing("median latency"))?,
        p99_ms: p99.ok_or_else(|| missing("99th percentile"))?,
        max_ms: max.ok_or_else(|| missing("latency maximum"))?,
    })
}

/// A wrk duration (`213.00us`, `1.20ms`, `5.00s`, `1.00m`) in milliseconds.
fn duration_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1e-3,
        "ms" => 1.0,
        "s" => 1e3,
        "m" => 60e3,
        "h" => 3_600e3,
        _ => return None,
    };
    Some(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as wrk 4.1 prints it with `--latency`.
    const REPORT: &str = "Running 5s test @ http://127.0.0.1:18081/jobs
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   851.64us    1.03ms  33.20ms   95.12%
    Req/Sec    42.46k     4.78k   49.42k    49.02%
  Latency Distribution
     50%  738.00us
     75%    0.91ms
     90%    1.32ms
     99%    4.24ms
  215366 requests in 5.10s, 51.55MB read
  Non-2xx or 3xx responses: 164493
Requests/sec:  42231.92
Transfer/sec:     10.11MB
";

    #[test]
    fn a_report_gives_accepted_and_answered_rates_and_latencies() {
        let f = parse(REPORT).unwrap();
        assert!((f.answered_per_sec - 215_366.0 / 5.1).abs() < 1e-6);
        assert!((f.accepted_per_sec - (215_366.0 - 164_493.0) / 5.1).abs() < 1e-6);
        assert!((f.p50_ms - 0.738).abs() < 1e-9);
        assert!((f.p99_ms - 4.24).abs() < 1e-9);
        assert!((f.max_ms - 33.2).abs() < 1e-9);
    }

    #[test]
    fn without_refusals_every_answer_counts_as_accepted() {
        let report = REPORT.replace("  Non-2xx or 3xx responses: 164493\n", "");
        let f = parse(&report).unwrap();
        assert!((f.accepted_per_sec - f.answered_per_sec).abs() < 1e-9);
    }

    #[test]
    fn a_report_without_figures_is_an_error_not_zeroes() {
        let err = parse("unable to connect to 127.0.0.1:1 Connection refused\n").unwrap_err();
        assert!(err.to_string().contains("request count"), "{err}");
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(duration_ms("250.00us"), Some(0.25));
        assert_eq!(duration_ms("2.50ms"), Some(2.5));
        assert_eq!(duration_ms("1.50s"), Some(1_500.0));
        assert_eq!(duration_ms("1.00m"), Some(60_000.0));
        assert_eq!(duration_ms("12"), None);
        assert_eq!(duration_ms("3.0parsecs"), None);
    }

    #[test]
    fn the_script_posts_the_job_verbatim() {
        let job = serde_json::json!({"payload": {"quote": "it's \"x\" \\ y"}, "work_ms": 0});
        let script = script_for(&job).unwrap();
        let body = script
            .split("[==[")
            .nth(1)
            .and_then(|rest| rest.split("]==]").next())
            .unwrap();
        assert_eq!(serde_json::from_str::<Value>(body).unwrap(), job);
        assert!(script.contains("wrk.method = \"POST\""));
        let closing = serde_json::json!({"payload": "]==]"});
        assert!(script_for(&closing).is_err());
    }
}
