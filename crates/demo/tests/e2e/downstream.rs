//! Jobs that call the downstream: through the client-side stack, against
//! the real flaky service (`evenkeel-demo downstream`), with an outage that
//! opens the circuit breaker and a recovery that closes it.

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::harness::{PATIENCE, Scratch, Server, metric};

async fn finished(server: &Server, body: &serde_json::Value) -> serde_json::Value {
    let id = server.post_job(body).await.json["id"]
        .as_str()
        .expect("admitted")
        .to_owned();
    server
        .poll(&format!("/jobs/{id}"), |a| {
            matches!(a.json["state"].as_str(), Some("succeeded" | "dead"))
        })
        .await
        .json
}

/// A downstream job succeeds against a healthy downstream; during an
/// outage its calls fail, the breaker opens (state 2, an `open`
/// transition counted) and jobs die with the downstream's error; after the
/// outage the half-open trial calls succeed and the breaker closes again.
#[tokio::test]
async fn an_outage_opens_the_circuit_and_recovery_closes_it() {
    let downstream = Server::downstream(&[]).await;
    let url = format!("http://{}/work", downstream.addr);
    let scratch = Scratch::new("downstream");
    let server = Server::start(
        &scratch.data(),
        &[
            "--downstream",
            &url,
            "--breaker-window",
            "4",
            "--breaker-min-calls",
            "4",
            "--breaker-open",
            "200ms",
            "--breaker-half-open-calls",
            "2",
            "--max-attempts",
            "3",
            "--retry-initial",
            "1ms",
            "--retry-max",
            "10ms",
        ],
    )
    .await;

    let ok = finished(&server, &json!({"payload": {"n": 1}, "downstream": true})).await;
    assert_eq!(ok["state"], "succeeded", "{ok}");

    let outage = downstream
        .request(Method::POST, "/admin/outage?secs=60", None, "")
        .await;
    assert!(outage.status.is_success(), "{}", outage.text);
    let dead = finished(&server, &json!({"payload": 2, "downstream": true})).await;
    assert_eq!(dead["state"], "dead", "{dead}");
    assert_eq!(dead["attempts"], 3);
    // Failing calls open the breaker.
    tokio::time::timeout(PATIENCE, async {
        loop {
            if metric(
                &server.metrics().await,
                "evenkeel_circuit_state{state=\"open\"}",
            ) == Some(1.0)
            {
                break;
            }
            finished(&server, &json!({"payload": 3, "downstream": true})).await;
        }
    })
    .await
    .expect("the breaker opened");
    let text = server.metrics().await;
    assert!(metric(&text, "evenkeel_circuit_transitions_total{to=\"open\"}") >= Some(1.0));

    // The outage ends: trial calls go through and close the breaker.
    let ended = downstream
        .request(Method::POST, "/admin/outage?secs=0", None, "")
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.text);
    tokio::time::timeout(PATIENCE, async {
        loop {
            let job = finished(&server, &json!({"payload": 4, "downstream": true})).await;
            if job["state"] == "succeeded"
                && metric(
                    &server.metrics().await,
                    "evenkeel_circuit_state{state=\"closed\"}",
                ) == Some(1.0)
            {
                break;
            }
        }
    })
    .await
    .expect("the breaker closed again");
    let text = server.metrics().await;
    assert!(metric(&text, "evenkeel_circuit_transitions_total{to=\"closed\"}") >= Some(1.0));
}
