//! Shared by the PostgreSQL test files: where the test server is, and a
//! fresh database per test.
//!
//! The tests read the server's URL from `EVENKEEL_TEST_DATABASE_URL`
//! (`eval "$(.ci/postgres.sh start)"` starts a throwaway cluster and sets
//! it). Without it a test prints why and passes, except under CI (`CI` set
//! and not `false`), where it fails: the PostgreSQL tests must run there.
//! Each test creates its own database (`evenkeel_test_<random>`), so tests
//! run in parallel without seeing each other's jobs, notifications or
//! locks; the throwaway cluster is deleted whole by `.ci/postgres.sh stop`.

#![allow(dead_code, unreachable_pub)]

use tokio_postgres::NoTls;

/// The variable that names the test server.
pub const URL_VAR: &str = "EVENKEEL_TEST_DATABASE_URL";

/// The server's URL, or `None` (after saying so) when the tests should be
/// skipped.
///
/// # Panics
///
/// When the URL is missing under CI.
pub fn base_url(test: &str) -> Option<String> {
    if let Ok(url) = std::env::var(URL_VAR)
        && !url.trim().is_empty()
    {
        return Some(url);
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "{URL_VAR} is not set under CI: the PostgreSQL tests must run there \
         (.ci/run starts a throwaway cluster with .ci/postgres.sh)"
    );
    eprintln!(
        "skipped {test}: {URL_VAR} is not set (run `eval \"$(.ci/postgres.sh start)\"` first)"
    );
    None
}

/// `url` with its database name replaced by `dbname`: the path of a
/// `postgres://` URL, or a `dbname=` appended to the `key=value` form.
pub fn with_dbname(url: &str, dbname: &str) -> String {
    for scheme in ["postgres://", "postgresql://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let (main, query) = match rest.split_once('?') {
                Some((main, query)) => (main, Some(query)),
                None => (rest, None),
            };
            let authority = main.split_once('/').map_or(main, |(a, _)| a);
            let mut out = format!("{scheme}{authority}/{dbname}");
            if let Some(query) = query {
                out.push('?');
                out.push_str(query);
            }
            return out;
        }
    }
    format!("{url} dbname={dbname}")
}

/// Creates an empty database on the server at `base` and returns its URL.
///
/// # Panics
///
/// When the server cannot be reached or refuses (a test failure).
pub async fn fresh_database(base: &str) -> String {
    let (client, connection) = tokio_postgres::connect(base, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {URL_VAR}: {e}"));
    let driver = tokio::spawn(connection);
    let name = format!("evenkeel_test_{:016x}", rand::random::<u64>());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the test database");
    drop(client);
    let _ = driver.await;
    with_dbname(base, &name)
}

/// Runs one statement on the database at `url` and returns the rows.
pub async fn query(url: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to the test database");
    let driver = tokio::spawn(connection);
    let rows = client.query(sql, &[]).await.expect(sql);
    drop(client);
    let _ = driver.await;
    rows
}
