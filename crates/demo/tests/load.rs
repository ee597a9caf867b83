//! The load generator's arithmetic (percentiles, backoff, parsers) and its
//! bookkeeping against a scripted fake job server.
//!
//! The fake server answers from a fixed script, and every test that talks
//! to it either never retries or gets `Retry-After: 0`, so no test waits on
//! the clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use evenkeel_demo::load::{
    self, BackoffPolicy, LoadConfig, MAX_RETRY_AFTER, Mode, ProgressMode, parse_duration,
    parse_range, parse_retry_after, parse_retry_after_at, percentile,
};
use evenkeel_retry::Jitter;
use proptest::prelude::*;
use tokio_util::sync::CancellationToken;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Nearest rank: p50 of 1..=10 ms is the 5th sample, p99 the 10th, p0 the
/// first; one sample is every percentile.
#[test]
fn percentiles_use_nearest_rank() {
    let sorted: Vec<Duration> = (1..=10).map(ms).collect();
    assert_eq!(percentile(&sorted, 50.0), Some(ms(5)));
    assert_eq!(percentile(&sorted, 99.0), Some(ms(10)));
    assert_eq!(percentile(&sorted, 0.0), Some(ms(1)));
    assert_eq!(percentile(&sorted, 100.0), Some(ms(10)));
    assert_eq!(percentile(&[ms(7)], 99.9), Some(ms(7)));
    assert_eq!(percentile(&[], 50.0), None);
}

/// `Retry-After` is read in delta-seconds or as an HTTP-date (a past date
/// is "now"), capped; a fraction or garbage is ignored (the caller falls
/// back to its own backoff).
#[test]
fn retry_after_parsing() {
    assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
    assert_eq!(parse_retry_after("  30 "), Some(Duration::from_secs(30)));
    assert_eq!(parse_retry_after("1.5"), None);
    assert_eq!(parse_retry_after(""), None);
    assert_eq!(
        parse_retry_after("Fri, 31 Dec 1999 23:59:59 GMT"),
        Some(Duration::ZERO)
    );
    assert_eq!(
        parse_retry_after("99999999999999999999999"),
        Some(MAX_RETRY_AFTER)
    );
    let now = std::time::UNIX_EPOCH + Duration::from_secs(946_684_799);
    assert_eq!(
        parse_retry_after_at("Sat, 01 Jan 2000 00:00:09 GMT", now),
        Some(Duration::from_secs(10))
    );
}

/// Durations and ranges parse as the flags document them.
#[test]
fn flag_parsers() {
    assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    assert!(parse_duration("5 days").is_err());
    assert_eq!(parse_range("1..=9"), Ok((1, 9)));
    assert!(parse_range("a..b").is_err());
}

/// Without a hint the wait doubles per attempt (before jitter) and is
/// capped; without jitter the figures are exact, and the schedule ends
/// after the allowed retries.
#[test]
fn backoff_without_hint_doubles_then_caps() {
    let policy = BackoffPolicy {
        initial: ms(100),
        jitter: Jitter::None,
        max: ms(1_000),
    };
    let mut schedule = policy.schedule(6, 0);
    let waits: Vec<Duration> = std::iter::from_fn(|| policy.wait(&mut schedule, None)).collect();
    assert_eq!(
        waits,
        [ms(100), ms(200), ms(400), ms(800), ms(1_000), ms(1_000)]
    );
    // A huge retry count neither overflows nor exceeds the cap.
    let mut long = policy.schedule(u32::MAX, 0);
    assert!(long.by_ref().take(10_000).all(|d| d <= ms(1_000)));
}

/// An absurd `Retry-After` is capped at `max`.
#[test]
fn backoff_caps_a_huge_hint() {
    let policy = BackoffPolicy::default();
    let mut schedule = policy.schedule(3, 0);
    let wait = policy.wait(&mut schedule, Some(Duration::from_secs(86_400)));
    assert_eq!(wait, Some(policy.max));
}

proptest! {
    /// A `Retry-After` hint is a floor: the wait is at least the hint (when
    /// under the cap), at most the hint plus the schedule's delay, and never
    /// above `max`.
    #[test]
    fn backoff_honours_the_hint(hint_ms in 0u64..10_000, seed: u64, attempt in 0usize..20) {
        let policy = BackoffPolicy { initial: ms(50), jitter: Jitter::Full, max: ms(5_000) };
        let mut schedule = policy.schedule(30, seed);
        for _ in 0..attempt {
            schedule.next();
        }
        let mut unjittered = BackoffPolicy { jitter: Jitter::None, ..policy }.schedule(30, seed);
        let ceiling = unjittered.nth(attempt).unwrap();
        let hint = ms(hint_ms);
        let wait = policy.wait(&mut schedule, Some(hint)).unwrap();
        prop_assert!(wait <= policy.max);
        prop_assert!(wait >= hint.min(policy.max));
        prop_assert!(wait <= hint + ceiling);
    }

    /// Percentiles are monotonic in p and always one of the samples.
    #[test]
    fn percentiles_are_monotonic(mut samples in prop::collection::vec(0u64..1_000, 1..200), p in 0.0f64..=100.0, q in 0.0f64..=100.0) {
        samples.sort_unstable();
        let sorted: Vec<Duration> = samples.iter().copied().map(ms).collect();
        let (lo, hi) = if p <= q { (p, q) } else { (q, p) };
        let (a, b) = (percentile(&sorted, lo).unwrap(), percentile(&sorted, hi).unwrap());
        prop_assert!(a <= b);
        prop_assert!(sorted.contains(&a));
    }
}

/// A fake job server answering from `script(n)` for the n-th request.
async fn fake_server(script: fn(u64) -> Response) -> String {
    let count = Arc::new(AtomicU64::new(0));
    let app = Router::new().route(
        "/jobs",
        post(move || {
            let n = count.fetch_add(1, Ordering::SeqCst);
            async move { script(n) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn accepted(n: u64) -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"id": format!("job-{n}")})),
    )
        .into_response()
}

fn refused(status: StatusCode, retry_after: &'static str) -> Response {
    let mut r = (status, axum::Json(serde_json::json!({"error": "no"}))).into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static(retry_after));
    r
}

fn config(url: &str, jobs: u64, retries: u32) -> LoadConfig {
    let mut config = LoadConfig::new(url);
    config.mode = Mode::Concurrency(1);
    config.max_jobs = Some(jobs);
    config.max_retries = retries;
    config.progress = ProgressMode::Off;
    config
}

/// Every answer is counted under its status; accepted ids come back in
/// order; jobs = accepted + gave up.
#[tokio::test]
async fn summary_counts_answers_by_status() {
    let url = fake_server(|n| match n % 3 {
        0 => accepted(n),
        1 => refused(StatusCode::SERVICE_UNAVAILABLE, "1"),
        _ => refused(StatusCode::TOO_MANY_REQUESTS, "1"),
    })
    .await;
    let report = load::run(config(&url, 30, 0), CancellationToken::new()).await;
    let s = &report.summary;
    assert_eq!((s.sent, s.jobs, s.accepted), (30, 30, 10));
    assert_eq!((s.rejected_with(503), s.rejected_with(429)), (10, 10));
    assert_eq!((s.gave_up, s.backoffs, s.transport_errors), (20, 0, 0));
    assert_eq!(
        report.accepted_ids.first().map(String::as_str),
        Some("job-0")
    );
    assert_eq!(report.accepted_ids.len(), 10);
    assert!(s.p50_ms.is_some() && s.p99_ms >= s.p50_ms);
}

/// A 503 with `Retry-After: 0` is retried (once here) and then accepted:
/// two attempts, one job, one backoff.
#[tokio::test]
async fn rejected_job_is_retried_after_the_hint() {
    let url = fake_server(|n| {
        if n == 0 {
            refused(StatusCode::SERVICE_UNAVAILABLE, "0")
        } else {
            accepted(n)
        }
    })
    .await;
    let report = load::run(config(&url, 1, 3), CancellationToken::new()).await;
    let s = &report.summary;
    assert_eq!(
        (s.sent, s.jobs, s.accepted, s.backoffs, s.gave_up),
        (2, 1, 1, 1, 0)
    );
    assert_eq!(report.accepted_ids, ["job-1"]);
}

/// A 4xx other than 429 is final: no retry however many are allowed.
#[tokio::test]
async fn client_errors_are_not_retried() {
    let url = fake_server(|_| refused(StatusCode::UNPROCESSABLE_ENTITY, "0")).await;
    let report = load::run(config(&url, 2, 5), CancellationToken::new()).await;
    let s = &report.summary;
    assert_eq!(
        (s.sent, s.rejected_with(422), s.gave_up, s.backoffs),
        (2, 2, 2, 0)
    );
}

/// The real binary: `evenkeel-demo load --json --ids-file` prints one JSON
/// summary on stdout and writes one accepted id per line.
#[tokio::test]
async fn binary_prints_json_and_writes_ids() {
    let url = fake_server(|n| {
        if n % 2 == 0 {
            accepted(n)
        } else {
            refused(StatusCode::TOO_MANY_REQUESTS, "1")
        }
    })
    .await;
    let ids_file =
        std::env::temp_dir().join(format!("evenkeel-load-ids-{}.txt", std::process::id()));
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_evenkeel-demo"))
        .args([
            "load",
            "--target",
            &url,
            "--concurrency",
            "1",
            "--jobs",
            "6",
        ])
        .args([
            "--max-retries",
            "0",
            "--progress",
            "off",
            "--json",
            "--ids-file",
        ])
        .arg(&ids_file)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["sent"], 6);
    assert_eq!(summary["accepted"], 3);
    assert_eq!(summary["rejected"]["429"], 3);
    let ids = std::fs::read_to_string(&ids_file).unwrap();
    std::fs::remove_file(&ids_file).unwrap();
    assert_eq!(ids, "job-0\njob-2\njob-4\n");
}

/// Against an address where nothing listens, the binary fails (exit code
/// non-zero) instead of printing a summary of nothing.
#[tokio::test]
async fn binary_fails_without_a_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_evenkeel-demo"))
        .args([
            "load",
            "--target",
            &url,
            "--jobs",
            "2",
            "--max-retries",
            "0",
        ])
        .args(["--progress", "off"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no answer"));
}
