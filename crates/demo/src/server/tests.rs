//! Unit tests of the server's pure parts: job validation and the flags.
//! The job store is pinned by `tests/store_conformance.rs`; the behaviour
//! over HTTP and signals by `tests/e2e`.

use serde_json::json;

use super::job::{JobRequest, Limits};

fn request(body: serde_json::Value) -> JobRequest {
    serde_json::from_value(body).expect("a well-formed request")
}

const LIMITS: Limits = Limits {
    max_attempts: 4,
    has_downstream: false,
};

/// Defaults fill in what the client left out; every bound is checked.
#[test]
fn validation_applies_defaults_and_bounds() {
    let ok = request(json!({"payload": null})).validate(LIMITS).unwrap();
    assert_eq!(
        (
            ok.work_ms,
            ok.fail_rate,
            ok.downstream,
            ok.panic,
            ok.max_attempts
        ),
        (0, 0.0, false, false, 4)
    );
    for bad in [
        json!({"payload": 1, "work_ms": 60_001}),
        json!({"payload": 1, "fail_rate": -0.1}),
        json!({"payload": 1, "fail_rate": 1.01}),
        json!({"payload": 1, "max_attempts": 0}),
        json!({"payload": 1, "max_attempts": 5}),
        json!({"payload": 1, "downstream": true}),
    ] {
        assert!(request(bad.clone()).validate(LIMITS).is_err(), "{bad}");
    }
    let with_downstream = Limits {
        has_downstream: true,
        ..LIMITS
    };
    assert!(
        request(json!({"payload": 1, "downstream": true}))
            .validate(with_downstream)
            .is_ok()
    );
}

/// The documented defaults, and a flag overriding one.
#[test]
fn serve_flags_have_the_documented_defaults() {
    use clap::Parser;
    use std::time::Duration;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: super::ServeArgs,
    }
    let args = Cli::parse_from(["serve"]).args;
    assert_eq!(args.addr.to_string(), "0.0.0.0:8080");
    assert_eq!(args.drain_timeout, Duration::from_secs(25));
    assert_eq!(args.pre_drain_delay, Duration::from_secs(5));
    assert_eq!(args.header_read_timeout, Duration::from_secs(10));
    assert_eq!(args.keep_alive_timeout, Duration::from_secs(5));
    assert_eq!(args.body_read_timeout, Duration::from_secs(10));
    assert_eq!(args.max_connections, 1024);
    assert_eq!(args.workers, 16);
    assert!(!args.debug_panic_route);
    assert_eq!(args.overflow, super::OverflowPolicy::Reject);
    assert_eq!(args.log_format, super::LogFormat::Text);
    assert_eq!(args.rate_limit, 0);
    assert_eq!(args.store, super::StoreKind::Redb);
    assert_eq!(args.data_dir, std::path::PathBuf::from("evenkeel-data"));
    assert_eq!(args.lease, Duration::from_secs(30));
    assert_eq!(args.retention, Duration::from_secs(3600));
    let args = Cli::parse_from([
        "serve",
        "--drain-timeout",
        "2s",
        "--overflow",
        "wait",
        "--store",
        "memory",
    ])
    .args;
    assert_eq!(args.drain_timeout, Duration::from_secs(2));
    assert_eq!(args.overflow, super::OverflowPolicy::Wait);
    assert_eq!(args.store, super::StoreKind::Memory);
    assert!(Cli::try_parse_from(["serve", "--workers", "0"]).is_err());
}
