//! The story's bookkeeping: finding the server's final accounting record,
//! reading `/metrics`, and the per-id "lost" computation that the demo's
//! verdict rests on.

use std::collections::{HashMap, HashSet};

use evenkeel_demo::story::{
    Scrape, Seen, ServerAccounting, listening_addr, outcomes_in_log, reconcile, server_args,
};

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The record the server prints (flat JSON, the shape documented in the
/// server's `run` module) is found even with other lines after it, and the
/// last record wins.
#[test]
fn finds_the_final_accounting_record() {
    let out = [
        "listening on 127.0.0.1:4000",
        r#"{"message":"final accounting","accepted":9,"restored":0,"succeeded":1,"dead":1,"released":2,"remaining":7,"lost":0,"retries":3,"drain":"complete","drain_ms":5,"exit_code":0}"#,
        r#"{"message":"final accounting","accepted":118,"restored":2,"succeeded":97,"dead":3,"released":4,"remaining":20,"lost":0,"retries":41,"drain":"timed_out","drain_ms":2001,"exit_code":124}"#,
        r#"{"level":"INFO","fields":{"message":"bye"}}"#,
    ];
    let found = ServerAccounting::find(out).unwrap();
    assert_eq!(
        found,
        ServerAccounting {
            accepted: 118,
            restored: 2,
            succeeded: 97,
            dead: 3,
            remaining: 20,
            retries: 41
        }
    );
    assert_eq!(found.unaccounted(), 0);
}

/// A line missing one of the four required fields, or carrying a
/// non-integer, is not an accounting record.
#[test]
fn partial_records_are_not_accounting() {
    let out = [
        r#"{"accepted":1,"succeeded":1,"dead":0}"#,
        r#"{"accepted":"1","succeeded":1,"dead":0,"remaining":0}"#,
    ];
    assert_eq!(ServerAccounting::find(out), None);
}

/// Every accepted id is placed exactly once; finished beats "in the
/// store"; an id neither seen finished nor live in the store is lost; live
/// jobs nobody was given are reported apart.
#[test]
fn reconcile_places_every_accepted_id() {
    let accepted = ids(&["a", "b", "c", "d", "e", "a"]);
    let seen = HashMap::from([
        ("a".to_owned(), Seen::Succeeded),
        ("b".to_owned(), Seen::Dead),
        ("c".to_owned(), Seen::Live),
        ("e".to_owned(), Seen::Succeeded),
    ]);
    let in_store: HashSet<String> = ids(&["c", "e", "z"]).into_iter().collect();
    let r = reconcile(&accepted, &seen, &in_store);
    assert_eq!(r.accepted, 5, "a duplicated id counts once");
    assert_eq!((r.succeeded, r.dead, r.in_store), (2, 1, 1));
    assert_eq!(r.lost, ids(&["d"]));
    assert_eq!(r.finished_and_in_store, ids(&["e"]));
    assert_eq!(r.in_store_unknown, ids(&["z"]));
}

/// Jobs that finished after the last poll are credited from the server's
/// totals only when the server's books balance and agree with the story's
/// accepted and in-store counts; otherwise they stay lost.
#[test]
fn server_totals_close_the_polling_gap_only_when_books_agree() {
    let accepted = ids(&["a", "b", "c"]);
    let seen = HashMap::from([("a".to_owned(), Seen::Succeeded)]);
    let in_store: HashSet<String> = ids(&["c"]).into_iter().collect();
    let base = reconcile(&accepted, &seen, &in_store);
    assert_eq!(base.lost, ids(&["b"]));

    let balanced = ServerAccounting {
        accepted: 3,
        succeeded: 1,
        dead: 1,
        remaining: 1,
        ..Default::default()
    };
    let mut r = base.clone();
    r.credit_server_totals(&balanced);
    assert!(r.lost.is_empty());
    assert_eq!(r.finished_unseen, 1);

    // The server itself admits a hole: nothing is credited.
    let holed = ServerAccounting {
        accepted: 3,
        succeeded: 1,
        dead: 0,
        remaining: 1,
        ..Default::default()
    };
    let mut r = base.clone();
    r.credit_server_totals(&holed);
    assert_eq!(r.lost, ids(&["b"]));

    // The server accepted more than the story knows of: nothing is credited.
    let more = ServerAccounting {
        accepted: 4,
        succeeded: 2,
        dead: 1,
        remaining: 1,
        ..Default::default()
    };
    let mut r = base;
    r.credit_server_totals(&more);
    assert_eq!(r.lost, ids(&["b"]));
}

/// Job outcomes logged as JSON (flat or under `fields`) are read; live
/// states and unrelated lines are not.
#[test]
fn outcomes_from_the_log() {
    let log = [
        r#"{"message":"job finished","id":"a","state":"succeeded"}"#,
        r#"{"fields":{"message":"job finished","id":"b","outcome":"dead"}}"#,
        r#"{"fields":{"message":"job started","id":"c","state":"running"}}"#,
        "plain text",
    ];
    assert_eq!(
        outcomes_in_log(log),
        vec![
            ("a".to_owned(), Seen::Succeeded),
            ("b".to_owned(), Seen::Dead)
        ]
    );
}

/// The Prometheus text the server serves (prometheus-client's encoding:
/// counters end in `_total`) is read by name and label.
#[test]
fn scrape_reads_prometheus_text() {
    let text = "\
# HELP evenkeel_circuit_state Downstream circuit breaker: 1 for the current state, 0 for the others.
# TYPE evenkeel_circuit_state gauge
evenkeel_circuit_state{state=\"closed\"} 0
evenkeel_circuit_state{state=\"half_open\"} 1
evenkeel_circuit_state{state=\"open\"} 0
# TYPE evenkeel_circuit_transitions counter
evenkeel_circuit_transitions_total{to=\"open\"} 2
evenkeel_circuit_transitions_total{to=\"half_open\"} 2
evenkeel_circuit_transitions_total{to=\"closed\"} 1
# TYPE evenkeel_http_request_duration_seconds histogram
evenkeel_http_request_duration_seconds_bucket{method=\"POST\",route=\"/jobs\",status=\"202\",le=\"0.005\"} 40
# EOF
";
    let m = Scrape::parse(text);
    assert_eq!(m.circuit(), Some("half-open"));
    assert_eq!(
        m.value("evenkeel_circuit_transitions", Some(("to", "open"))),
        Some(2.0)
    );
    assert!((m.sum("evenkeel_circuit_transitions") - 5.0).abs() < f64::EPSILON);
    assert_eq!(
        m.value(
            "evenkeel_http_request_duration_seconds_bucket",
            Some(("le", "0.005"))
        ),
        Some(40.0)
    );
    assert_eq!(m.value("evenkeel_missing", None), None);
    assert_eq!(Scrape::parse("").circuit(), None);
}

/// The story finds the child's port in its `listening on` line, plain or
/// inside a JSON log line.
#[test]
fn listening_line() {
    assert_eq!(
        listening_addr("listening on 127.0.0.1:8080")
            .unwrap()
            .port(),
        8080
    );
    assert_eq!(
        listening_addr("INFO listening on http://[::1]:9000/")
            .unwrap()
            .port(),
        9000
    );
    assert_eq!(listening_addr("listening on nowhere"), None);
}

/// The server is started on an ephemeral loopback port with JSON logs and
/// its data directory in the story's scratch directory.
#[test]
fn server_arguments() {
    let args = server_args(std::path::Path::new("/x/data"), "http://d/work");
    let flag = |name: &str| {
        let at = args.iter().position(|a| a == name).unwrap();
        args[at + 1].clone()
    };
    assert_eq!(flag("--addr"), "127.0.0.1:0");
    assert_eq!(flag("--log-format"), "json");
    assert_eq!(flag("--data-dir"), "/x/data");
    assert_eq!(flag("--downstream"), "http://d/work");
}
