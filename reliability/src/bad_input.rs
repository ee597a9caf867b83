//! Bad input, as raw HTTP/1.1 bytes on a fresh TCP connection each.
//!
//! Raw bytes, because a well-behaved client library refuses to send most
//! of these (a truncated body, invalid UTF-8 in a JSON body, a megabyte of
//! header). Each case names the statuses the demo's API table documents
//! for it; every 4xx answer must carry the JSON error body.
//!
//! Two sets of cases: the fixed list below (the documented regression
//! list), and the seeded generator in `generate` (mutations of valid jobs,
//! judged by `oracle`, sent by `run`).

mod body;
mod framing;
pub(crate) mod generate;
pub(crate) mod oracle;
mod parts;
pub(crate) mod run;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::server::Server;

/// One malformed request.
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) raw: Vec<u8>,
    pub(crate) expect: Vec<u16>,
    /// Close the sending half after the request (a client that stops
    /// mid-body). Other cases keep it open until the answer, as a real
    /// client does; `connection: close` ends the exchange.
    pub(crate) half_close: bool,
}

fn post(content_type: Option<&str>, body: &[u8], declared_len: Option<usize>) -> Vec<u8> {
    let mut raw = format!(
        "POST /jobs HTTP/1.1\r\nhost: reliability\r\nconnection: close\r\ncontent-length: {}\r\n",
        declared_len.unwrap_or(body.len())
    )
    .into_bytes();
    if let Some(ct) = content_type {
        raw.extend_from_slice(format!("content-type: {ct}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(body);
    raw
}

fn json(body: &str) -> Vec<u8> {
    post(Some("application/json"), body.as_bytes(), None)
}

fn case(name: &str, raw: Vec<u8>, expect: &[u16]) -> Case {
    Case {
        name: name.to_owned(),
        raw,
        expect: expect.to_vec(),
        half_close: false,
    }
}

/// Every case the suite sends.
pub(crate) fn cases() -> Vec<Case> {
    let nested = format!(
        "{{\"payload\": {}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let huge = format!("{{\"payload\": \"{}\"}}", "x".repeat(1 << 20));
    let mut invalid_utf8 = b"{\"payload\": \"".to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xfd]);
    invalid_utf8.extend_from_slice(b"\"}");
    let big_header = format!(
        "POST /jobs HTTP/1.1\r\nhost: r\r\nconnection: close\r\nx-junk: {}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}",
        "a".repeat(1 << 20)
    );
    let mut cases = vec![
        case("malformed JSON", json("{\"payload\":"), &[400]),
        Case {
            half_close: true,
            ..case(
                "truncated body (declared 100 bytes, sent 12, then the client stops sending)",
                post(Some("application/json"), b"{\"payload\":1", Some(100)),
                &[400, 408],
            )
        },
        case("empty body", json(""), &[400]),
        case(
            "wrong type for work_ms",
            json("{\"payload\":{},\"work_ms\":\"ten\"}"),
            &[422],
        ),
        case(
            "negative work_ms",
            json("{\"payload\":{},\"work_ms\":-5}"),
            &[422],
        ),
        case(
            "absurd work_ms",
            json("{\"payload\":{},\"work_ms\":1000000000000}"),
            &[422],
        ),
        case(
            "fail_rate above 1",
            json("{\"payload\":{},\"fail_rate\":7.5}"),
            &[422],
        ),
        case("JSON null", json("null"), &[422, 400]),
        case("JSON array", json("[1,2,3]"), &[422, 400]),
        case(
            "unknown field",
            json("{\"payload\":{},\"bogus\":1}"),
            &[422],
        ),
        case("deeply nested payload", json(&nested), &[400, 413, 422]),
        case("1 MiB body", json(&huge), &[413]),
        case(
            "invalid UTF-8",
            post(Some("application/json"), &invalid_utf8, None),
            &[400],
        ),
        case(
            "no content type",
            post(None, b"{\"payload\":{}}", None),
            &[415],
        ),
        case(
            "text/plain",
            post(Some("text/plain"), b"{\"payload\":{}}", None),
            &[415],
        ),
        case("1 MiB header", big_header.into_bytes(), &[431, 400]),
        case(
            "unknown job",
            b"GET /jobs/ffffffffffffffff HTTP/1.1\r\nhost: r\r\nconnection: close\r\n\r\n".to_vec(),
            &[404],
        ),
        case(
            "malformed job id",
            b"GET /jobs/%00%ff HTTP/1.1\r\nhost: r\r\nconnection: close\r\n\r\n".to_vec(),
            &[400, 404],
        ),
    ];
    // A few random byte strings as bodies, seeded: the parser must answer,
    // not hang or crash.
    for seed in 0..8_u64 {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let body: Vec<u8> = (0..64 + seed * 31)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[0]
            })
            .collect();
        cases.push(case(
            &format!("random bytes #{seed}"),
            post(Some("application/json"), &body, None),
            &[400],
        ));
    }
    cases
}

/// The fixed regression list: returns how many were sent.
pub(crate) async fn fixed(server: &Server, failures: &mut Vec<String>) -> u64 {
    let cases = cases();
    for case in &cases {
        let got = send(server.addr, &case.raw, case.half_close).await;
        match got {
            Ok((status, body)) => {
                if !case.expect.contains(&status) {
                    failures.push(format!(
                        "{}: expected {:?}, got {status} ({body})",
                        case.name, case.expect
                    ));
                } else if status >= 400
                    // hyper answers 431 itself, before any layer sees the request.
                    && status != 431
                    && serde_json::from_str::<Value>(&body)
                        .ok()
                        .and_then(|v| v.get("error").cloned())
                        .is_none()
                {
                    failures.push(format!(
                        "{}: status {status} without a JSON error body: {body}",
                        case.name
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: no answer: {e:#}", case.name)),
        }
        let health = server.get("/healthz").await.map(|a| a.status.as_u16());
        if health.as_ref().ok() != Some(&200) {
            failures.push(format!("after {}: /healthz answered {health:?}", case.name));
        }
    }
    cases.len() as u64
}

/// Sends `raw`, reads the whole answer (the request asks the server to
/// close), and returns its status and body.
pub(crate) async fn send(
    addr: SocketAddr,
    raw: &[u8],
    half_close: bool,
) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await.context("connect")?;
    let (mut reader, mut writer) = stream.split();
    // Write and read at once: the server may answer (and close) before
    // reading all of a huge request, and a failed write is not a failure of
    // the case. The whole exchange is bounded: a hang is a failure.
    let write = async {
        let _ = writer.write_all(raw).await;
        if half_close {
            let _ = writer.shutdown().await;
        }
    };
    let mut answer = Vec::new();
    let read = reader.read_to_end(&mut answer);
    let ((), read) =
        tokio::time::timeout(Duration::from_secs(20), async { tokio::join!(write, read) })
            .await
            .map_err(|_| anyhow!("no complete answer within 20 s"))?;
    // A reset after a complete answer still leaves the answer.
    if let Err(e) = read
        && answer.is_empty()
    {
        return Err(e.into());
    }
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| {
            anyhow!(
                "not an HTTP answer: {:?}",
                text.chars().take(80).collect::<String>()
            )
        })?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

/// Joins the chunks of a chunked body (sizes in hex, each line ended by
/// CRLF, a zero-size chunk last).
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
