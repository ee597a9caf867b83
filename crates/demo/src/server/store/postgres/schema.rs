//! The PostgreSQL store's schema and its migrations, applied at start.
//!
//! # How migrations run
//!
//! [`MIGRATIONS`] is an append-only list of numbered SQL scripts. At start
//! [`migrate`] opens one transaction, takes a transaction-scoped advisory
//! lock ([`MIGRATION_LOCK`]), creates the bookkeeping table
//! `evenkeel_schema_migrations` if it is missing, and applies, in order,
//! every script whose version is not recorded there, recording each one.
//! PostgreSQL's DDL is transactional, so a server that dies half-way
//! leaves the schema as it was, and the lock makes two servers starting at
//! once take turns: the second one finds the versions recorded by the first
//! and applies nothing. A database whose schema is newer than this binary
//! knows is refused, rather than written with the wrong assumptions.
//!
//! # The table
//!
//! One row per job, mirroring the embedded store's record: `stage` is
//! `waiting`, `leased`, `succeeded` or `dead`, and `at_ms` means what the
//! stage says: when a waiting job becomes ready, when a lease expires, when
//! a finished job finished. So "claimable now" is one range of one partial
//! index, `(at_ms, seq)` over waiting and leased rows: a waiting job that is
//! due, or a lease that has expired (its worker died). Times are
//! milliseconds since the Unix epoch read from the store's clock, the same
//! clock the other backends use; servers sharing a database are expected to
//! keep their clocks in step (NTP), and a lease is long compared with any
//! skew that remains.

use tokio_postgres::Client;

use crate::server::store::StoreError;

/// The advisory lock key that serializes migrations (any fixed 64-bit
/// number; this one is "evenkeel" in ASCII).
pub(crate) const MIGRATION_LOCK: i64 = 0x6576_656e_6b65_656c;

/// The advisory lock key that serializes admission (count, then insert)
/// across servers sharing the database.
pub(crate) const ADMISSION_LOCK: i64 = MIGRATION_LOCK + 1;

/// The channel that `NOTIFY` wakes idle workers on.
pub(crate) const CHANNEL: &str = "evenkeel_jobs";

/// A schema change: its version (strictly increasing), a name, the SQL.
#[derive(Debug)]
pub(crate) struct Migration {
    pub(crate) version: i32,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

/// Every migration, oldest first. Append only: a released migration is
/// never edited, a change is a new one.
pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "jobs table",
    sql: "
        CREATE TABLE evenkeel_jobs (
            id              bigint PRIMARY KEY,
            seq             bigint GENERATED ALWAYS AS IDENTITY,
            stage           text NOT NULL
                            CHECK (stage IN ('waiting', 'leased', 'succeeded', 'dead')),
            spec            jsonb,
            max_attempts    integer NOT NULL,
            attempts        integer NOT NULL DEFAULT 0,
            fence           bigint NOT NULL DEFAULT 0,
            error           text,
            idempotency_key text UNIQUE,
            enqueued_ms     bigint NOT NULL,
            at_ms           bigint NOT NULL
        );
        CREATE INDEX evenkeel_jobs_claimable ON evenkeel_jobs (at_ms, seq)
            WHERE stage IN ('waiting', 'leased');
        CREATE INDEX evenkeel_jobs_waiting ON evenkeel_jobs (at_ms)
            WHERE stage = 'waiting';
        CREATE INDEX evenkeel_jobs_finished ON evenkeel_jobs (at_ms)
            WHERE stage IN ('succeeded', 'dead');
    ",
}];

/// The newest schema version this binary knows.
pub(crate) fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Applies the migrations the database lacks; returns how many it applied.
///
/// # Errors
///
/// [`StoreError::Storage`] when the database fails or its schema is newer
/// than this binary knows.
///
/// # Cancellation safety
///
/// Cancel-safe: everything happens in one transaction, which is rolled
/// back if the future is dropped before it commits.
pub(crate) async fn migrate(client: &mut Client) -> Result<usize, StoreError> {
    let tx = client.transaction().await.map_err(StoreError::storage)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(StoreError::storage)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS evenkeel_schema_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(StoreError::storage)?;
    let row = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM evenkeel_schema_migrations",
            &[],
        )
        .await
        .map_err(StoreError::storage)?;
    let current: i32 = row.get(0);
    if current > latest() {
        return Err(StoreError::storage(format!(
            "the database's job schema is version {current}, newer than this server knows ({}); \
             run a newer evenkeel-demo",
            latest()
        )));
    }
    let mut applied = 0;
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(migration.sql)
            .await
            .map_err(StoreError::storage)?;
        tx.execute(
            "INSERT INTO evenkeel_schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await
        .map_err(StoreError::storage)?;
        applied += 1;
    }
    tx.commit().await.map_err(StoreError::storage)?;
    Ok(applied)
}
