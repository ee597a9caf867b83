//! Slow clients and limits: the header, keep-alive and body bounds, and
//! the connection cap.

use tokio::io::AsyncWriteExt;

use crate::harness::{PATIENCE, Server, closed_by_server, exchange, get};

/// A client that sends half a request head and then nothing is
/// disconnected once the header read timeout passes (slowloris).
#[tokio::test]
async fn a_half_sent_header_is_closed_within_the_header_timeout() {
    let server =
        Server::start(&["--header-read-timeout", "1s", "--keep-alive-timeout", "60s"]).await;
    let mut slow = server.connect().await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: ed")
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut slow).await,
        "the slow client was cut off"
    );
    // The server itself is fine.
    assert_eq!(server.send(&get("/healthz")).await.status, 200);
}

/// A keep-alive connection with no request in flight is closed after the
/// keep-alive timeout.
#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let server =
        Server::start(&["--keep-alive-timeout", "1s", "--header-read-timeout", "60s"]).await;
    let mut conn = server.connect().await;
    assert_eq!(exchange(&mut conn, &get("/healthz")).await.status, 200);
    assert!(
        closed_by_server(&mut conn).await,
        "the idle connection was closed"
    );
}

/// A body that stops arriving is answered 408 `body_timeout` at the body
/// read timeout.
#[tokio::test]
async fn a_stalled_body_is_answered_408() {
    let server = Server::start(&["--body-read-timeout", "1s"]).await;
    let mut conn = server.connect().await;
    let answer = exchange(
        &mut conn,
        "POST /jobs HTTP/1.1\r\nhost: edge\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"pay",
    )
    .await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (408, "body_timeout")
    );
}

/// With `--max-connections 2`, a third connection is answered 503
/// `too_many_connections` and closed while two are open; once one closes,
/// a new connection is served again.
#[tokio::test]
async fn the_connection_cap_holds() {
    let server = Server::start(&[
        "--max-connections",
        "2",
        "--keep-alive-timeout",
        "60s",
        "--header-read-timeout",
        "60s",
    ])
    .await;
    let mut first = server.connect().await;
    let mut second = server.connect().await;
    assert_eq!(exchange(&mut first, &get("/healthz")).await.status, 200);
    assert_eq!(exchange(&mut second, &get("/healthz")).await.status, 200);

    let mut third = server.connect().await;
    let refused = exchange(&mut third, &get("/healthz")).await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.code(), "too_many_connections");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(
        refused
            .header("x-request-id")
            .is_some_and(|v| !v.is_empty())
    );
    assert!(closed_by_server(&mut third).await);
    // The two held connections still work.
    assert_eq!(exchange(&mut first, &get("/healthz")).await.status, 200);

    drop(first);
    let metrics = tokio::time::timeout(PATIENCE, async {
        loop {
            let answer = server.send(&get("/metrics")).await;
            if answer.status == 200 {
                return answer;
            }
        }
    })
    .await
    .expect("a slot frees up once a connection closes");
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(text.contains("evenkeel_http_connections_refused_total"));
}
