//! A `serve` child on an ephemeral port, and a raw HTTP/1.1 client over
//! `TcpStream`.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// The bound on every wait in this file: long enough for a loaded CI
/// machine, far shorter than "forever".
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// One `evenkeel-demo serve` child on an ephemeral port, killed on drop.
/// It keeps its jobs in memory (`--store memory`): these tests pin the
/// HTTP edge, not durability, and leave no files behind.
pub(crate) struct Server {
    addr: SocketAddr,
    stderr: Arc<(Mutex<Vec<String>>, Notify)>,
    _child: Child,
}

impl Server {
    pub(crate) async fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_evenkeel-demo"))
            .args(["serve", "--addr", "127.0.0.1:0", "--log-format", "json"])
            .args(["--pre-drain-delay", "0s", "--store", "memory"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the demo binary starts");
        let stderr: Arc<(Mutex<Vec<String>>, Notify)> = Arc::default();
        let mut err_lines = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn({
            let stderr = Arc::clone(&stderr);
            async move {
                while let Ok(Some(line)) = err_lines.next_line().await {
                    stderr.0.lock().unwrap().push(line);
                    stderr.1.notify_waiters();
                }
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = out.next_line().await.unwrap() {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    return addr.trim().parse().unwrap();
                }
            }
            panic!("the server exited without listening");
        })
        .await
        .expect("the server listens in time");
        tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
        Self {
            addr,
            stderr,
            _child: child,
        }
    }

    pub(crate) async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }

    /// One request on a fresh connection.
    pub(crate) async fn send(&self, request: &str) -> Answer {
        exchange(&mut self.connect().await, request).await
    }

    /// Waits (bounded) for a stderr line that satisfies `pred`.
    pub(crate) async fn log_line(&self, pred: impl Fn(&str) -> bool) -> String {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let notified = self.stderr.1.notified();
                if let Some(line) = self.stderr.0.lock().unwrap().iter().find(|l| pred(l)) {
                    return line.clone();
                }
                notified.await;
            }
        })
        .await
        .expect("the expected log line appeared")
    }
}

/// A parsed response.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub(crate) fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// `GET path` with `Host`, keep-alive.
pub(crate) fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: edge\r\n\r\n")
}

/// `POST /jobs` with `body` as `content_type`.
pub(crate) fn post(content_type: &str, body: &str) -> String {
    format!(
        "POST /jobs HTTP/1.1\r\nhost: edge\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Writes `request` and reads one response (head, then `content-length`
/// bytes, or to the end of the stream without one), bounded.
pub(crate) async fn exchange(stream: &mut TcpStream, request: &str) -> Answer {
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::timeout(PATIENCE, read_answer(stream))
        .await
        .expect("an answer in time")
}

async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a whole head: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = buf[head_end..].to_vec();
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse::<usize>().unwrap());
    match length {
        Some(length) => {
            while body.len() < length {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed inside the body");
                body.extend_from_slice(&chunk[..n]);
            }
        }
        None => {
            stream.read_to_end(&mut body).await.unwrap();
        }
    }
    Answer {
        status,
        headers,
        body,
    }
}

/// Waits (bounded) until the server closes `stream`: a read returns end of
/// stream or a reset. Anything the server still sends is discarded.
pub(crate) async fn closed_by_server(stream: &mut TcpStream) -> bool {
    tokio::time::timeout(PATIENCE, async {
        let mut sink = [0u8; 1024];
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}
