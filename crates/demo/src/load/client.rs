//! One HTTP attempt against the job server, over hyper-util's pooled
//! ("legacy") client.
//!
//! The client keeps idle keep-alive connections, so a steady load reuses a
//! handful of sockets instead of opening one per request. Each attempt is
//! bounded by a timeout; a timeout counts as a transport error, like a
//! refused connection, because neither tells the generator whether the job
//! was admitted.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{CONTENT_TYPE, RETRY_AFTER};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;

use super::parse_retry_after;

/// The pooled HTTP/1 client the generator shares between its tasks.
pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A new pooled client.
pub(crate) fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// What one attempt produced.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// An HTTP answer.
    Answered {
        status: u16,
        latency: Duration,
        /// The job id, for a 202 whose body carried one.
        id: Option<String>,
        /// The `Retry-After` hint, if the answer had one.
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused or reset, or the timeout elapsed.
    Failed,
}

/// Sends `body` as `POST {base}/jobs` and reads the answer.
pub(crate) async fn post_job(
    client: &HttpClient,
    base: &str,
    body: Bytes,
    timeout: Duration,
) -> Attempt {
    let Ok(request) = Request::post(format!("{base}/jobs"))
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body))
    else {
        return Attempt::Failed;
    };
    let started = Instant::now();
    let exchange = async {
        let response = client.request(request).await.ok()?;
        let latency = started.elapsed();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = response.into_body().collect().await.ok()?.to_bytes();
        let id = (status == 202).then(|| job_id(&body)).flatten();
        Some(Attempt::Answered {
            status,
            latency,
            id,
            retry_after,
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or(Attempt::Failed)
}

/// The `id` of a `{"id": ...}` body, a string or a number.
pub(crate) fn job_id(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    match value.get("id")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `GET {url}` with a timeout: the status and body, or `None` without an
/// answer. The story uses it for `/jobs/{id}`, `/readyz` and `/metrics`.
pub(crate) async fn get(client: &HttpClient, url: &str, timeout: Duration) -> Option<(u16, Bytes)> {
    let request = Request::get(url).body(Full::new(Bytes::new())).ok()?;
    let exchange = async {
        let response = client.request(request).await.ok()?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some((status, body))
    };
    tokio::time::timeout(timeout, exchange).await.ok().flatten()
}
