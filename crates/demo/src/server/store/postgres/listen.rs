//! Waking idle workers: `LISTEN`/`NOTIFY`, with a slow poll behind it.
//!
//! Every transaction that makes a job claimable now (an enqueue batch, a
//! release, a recovery) ends with `pg_notify('evenkeel_jobs', '')`, which
//! PostgreSQL delivers at commit to every session listening on that
//! channel: one per server, opened by [`run`]. Each notification wakes every
//! worker of the server waiting in
//! [`wait_for_work`](crate::server::store::JobStore::wait_for_work); they
//! race to `claim`, and `SKIP LOCKED` sorts them out.
//!
//! Notifications are only a hint. One sent while the listening connection
//! is down is lost, and a delayed job or an expired lease becomes claimable
//! without anyone sending one. So a waiting worker also wakes after a short
//! poll interval regardless, and the listener wakes everyone each time it
//! (re)connects, because it cannot know what it missed.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use super::schema::CHANNEL;

/// How long the listener waits before reconnecting after a failure.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// Keeps one connection listening on [`CHANNEL`] and turns each
/// notification into `wake.notify_waiters()`, until `stop` is cancelled.
/// `ready` is told once the first `LISTEN` took effect.
pub(crate) async fn run(
    config: tokio_postgres::Config,
    wake: Arc<Notify>,
    stop: CancellationToken,
    ready: oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = listen_once(&config, &wake, &mut ready) => {}
        }
        // The connection failed or ended: whatever was sent meanwhile is
        // lost, so wake everyone once it is back (and once now).
        wake.notify_waiters();
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(RECONNECT_DELAY) => {}
        }
    }
}

/// One listening session, from connect until the connection fails.
async fn listen_once(
    config: &tokio_postgres::Config,
    wake: &Arc<Notify>,
    ready: &mut Option<oneshot::Sender<()>>,
) {
    let (client, mut connection) = match config.connect(NoTls).await {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(error = %e, "job store: cannot open the LISTEN connection; retrying");
            return;
        }
    };
    // The connection must be polled for `LISTEN` itself to complete, so the
    // message loop runs beside it.
    let notifications = {
        let wake = Arc::clone(wake);
        async move {
            while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
                match message {
                    Ok(AsyncMessage::Notification(_)) => wake.notify_waiters(),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "job store: the LISTEN connection failed; reconnecting");
                        return;
                    }
                }
            }
        }
    };
    let subscribe = async {
        if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
            tracing::warn!(error = %e, "job store: LISTEN failed; reconnecting");
            return false;
        }
        // Anything sent before LISTEN took effect was missed.
        wake.notify_waiters();
        if let Some(ready) = ready.take() {
            // The store may have stopped waiting for this; nothing to do then.
            let _ = ready.send(());
        }
        true
    };
    tokio::pin!(notifications);
    tokio::select! {
        () = &mut notifications => return,
        subscribed = subscribe => if !subscribed { return },
    }
    notifications.await;
    drop(client);
}
