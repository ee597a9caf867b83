//! The accept loop: every connection served by hyper with limits, so that
//! a slow or abusive client costs a bounded amount of time and sockets.
//!
//! `axum::serve` is the easy way to serve a router, and it sets no limit:
//! a client that sends its headers one byte a minute (slowloris) holds its
//! connection, its task and its file descriptor forever, and a few thousand
//! such clients take the server off the network. Here each accepted
//! connection is served by hyper's HTTP/1 connection builder (HTTP/1.1
//! with keep-alive; the load balancer in front speaks HTTP/2 to clients if
//! it likes), with these bounds:
//!
//! | flag | default | bound |
//! |---|---|---|
//! | `--header-read-timeout` | 10 s | hyper's header timer (driven by hyper-util's `TokioTimer`): a request head not complete this long after the connection started waiting for it closes the connection. hyper starts the timer when the connection waits for a head, so it also bounds the idle wait before the next request on a keep-alive connection |
//! | `--keep-alive-timeout` | 5 s | a connection with no request in flight for this long is closed gracefully (idle keep-alive); the smaller of this and the header read timeout applies to an idle connection. A head still arriving is not "in flight" (the handler has not been called), so a head that starts arriving just before the limit is cut off with the connection, as with any keep-alive close; clients retry on a fresh connection |
//! | `--body-read-timeout` | 10 s | the whole request body must arrive within this (enforced by the JSON extractor, 408 `body_timeout`) |
//! | `--max-connections` | 1024 | connections served at once; see below |
//!
//! # Past the connection cap: a quick 503
//!
//! A connection accepted while `--max-connections` are open is answered at
//! once with `503` and the JSON error body (`too_many_connections`,
//! `Retry-After: 1`, `Connection: close`) and closed, without reading its
//! request. The alternative, leaving connections in the kernel's accept
//! backlog until a slot frees up, is invisible to the client and to the
//! metrics: the client's connect succeeds (the kernel completes the
//! handshake) and then it waits in silence until its own timeout. A quick
//! 503 tells the client (or the load balancer, which retries elsewhere)
//! what happened and is counted in `evenkeel_http_connections_refused_total`.
//! Writing the refusal costs a short-lived task; at most [`MAX_REFUSING`]
//! run at once (each lives at most a second), and past that a connection
//! is simply closed.
//!
//! # Stopping
//!
//! When `stop` fires the loop stops accepting and closes the listener;
//! every open connection is told to shut down gracefully (hyper finishes
//! the request in flight, answers it with `Connection: close`, and closes
//! an idle connection at once), and [`run`] returns when the last one has
//! closed. The caller bounds that wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use super::metrics::{InFlight, Metrics};

/// At most this many refusals (past `--max-connections`) are being written
/// at once; past that, a refused connection is closed without a word.
pub(crate) const MAX_REFUSING: usize = 64;
/// How long a refusal may take to write and to read the client's unread
/// request away (so that closing does not reset the connection under the
/// answer).
const REFUSAL_LINGER: Duration = Duration::from_secs(1);
/// Pause after a failed `accept` (out of file descriptors, typically), so
/// the loop does not spin while nothing can be accepted.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The connection-level limits (see the module docs for each).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnLimits {
    /// hyper's header read timeout.
    pub(crate) header_read_timeout: Duration,
    /// Idle keep-alive limit.
    pub(crate) keep_alive_timeout: Duration,
    /// Connections served at once.
    pub(crate) max_connections: usize,
}

/// Serves `app` on `listener` until `stop` fires and every connection has
/// closed.
///
/// # Cancellation safety
///
/// Dropping the future stops accepting; connections already spawned keep
/// running until they close on their own (their limits bound that).
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                tracing::warn!(%error, "accept failed; pausing");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if let Ok(slot) = Arc::clone(&slots).try_acquire_owned() {
            tracker.spawn(connection(
                stream,
                app.clone(),
                Arc::clone(&builder),
                limits.keep_alive_timeout,
                stop.clone(),
                (slot, InFlight::enter(metrics.connections())),
            ));
        } else {
            metrics.connection_refused();
            refuse(stream, &refusing);
        }
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
}

/// Serves one connection until it closes, `stop` fires, or it sits idle
/// past `keep_alive`; the last two shut it down gracefully.
async fn connection(
    stream: TcpStream,
    app: Router,
    builder: Arc<http1::Builder>,
    keep_alive: Duration,
    stop: CancellationToken,
    held: (OwnedSemaphorePermit, InFlight),
) {
    let activity = Arc::new(Activity::new());
    let service = hyper::service::service_fn({
        let activity = Arc::clone(&activity);
        move |request: hyper::Request<Incoming>| {
            let busy = Busy::begin(&activity);
            let call = app.clone().oneshot(request);
            async move {
                let response = call.await;
                drop(busy);
                response
            }
        }
    });
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection closed with an error");
            }
            drop(held);
            return;
        }
        () = stop.cancelled() => {}
        () = activity.idle_for(keep_alive) => tracing::trace!("idle keep-alive connection closed"),
    }
    conn.as_mut().graceful_shutdown();
    if let Err(error) = conn.await {
        tracing::debug!(%error, "connection closed with an error");
    }
    drop(held);
}

/// Answers a connection past the cap with a 503 and closes it.
fn refuse(mut stream: TcpStream, refusing: &Arc<Semaphore>) {
    let Ok(permit) = Arc::clone(refusing).try_acquire_owned() else {
        return; // dropped: closed at once
    };
    tokio::spawn(async move {
        let _permit = permit;
        let answer = refusal();
        let _ = tokio::time::timeout(REFUSAL_LINGER, async {
            stream.write_all(&answer).await?;
            stream.shutdown().await?;
            // Read what the client sent, so that closing with unread data
            // does not reset the connection before it has read the answer.
            let mut sink = [0u8; 4096];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<(), std::io::Error>(())
        })
        .await;
    });
}

/// The bytes of the refusal: a whole HTTP/1.1 response with the JSON body
/// and a fresh request id.
fn refusal() -> Vec<u8> {
    let body = serde_json::json!({
        "error": "too many open connections; retry later",
        "code": "too_many_connections",
    })
    .to_string();
    let id = super::stack::RequestIds::next();
    let id = id.to_str().unwrap_or_default();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\nx-request-id: {id}\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Whether a connection is serving a request, and since when it has not.
#[derive(Debug)]
struct Activity {
    in_flight: AtomicUsize,
    idle_since: Mutex<Instant>,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            changed: Notify::new(),
        }
    }

    fn idle_since(&self) -> Instant {
        *self
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves once no request has been in flight for `limit`.
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe: it only waits.
    async fn idle_for(&self, limit: Duration) {
        loop {
            // Registered before the state is read, so a change in between
            // is not missed (`notify_waiters` reaches futures created
            // before it was called).
            let changed = self.changed.notified();
            if self.in_flight.load(Ordering::Acquire) > 0 {
                changed.await;
                continue;
            }
            let deadline = evenkeel_retry::saturating_deadline(self.idle_since(), limit);
            tokio::select! {
                biased;
                () = changed => {}
                () = tokio::time::sleep_until(deadline) => return,
            }
        }
    }
}

/// One request in flight on a connection, until dropped.
struct Busy(Arc<Activity>);

impl Busy {
    fn begin(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.changed.notify_waiters();
        Self(Arc::clone(activity))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self
            .0
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_waiters();
    }
}
