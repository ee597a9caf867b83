//! The PostgreSQL store's statements, one function per command.
//!
//! Each command is one statement (the claim loops only when it had to
//! dead-letter poison pills on the way), so each is atomic on its own and
//! needs no explicit transaction. The fenced commands (`extend`, `ack`,
//! `nack`, `dead_letter`, `release`) all match `stage = 'leased' AND fence
//! = $fence`: a claim bumps `fence`, so a stale lease matches no row, and
//! "no row" is [`StoreError::LeaseLost`]. That is the embedded store's
//! rule too: a lease that has expired but that nobody has claimed again is
//! still honoured.
//!
//! Also here: the pruning task, and the conversions between the store's
//! `u64` ids and times and PostgreSQL's `bigint`.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Client, Pool};
use tokio_postgres::Row;
use tokio_util::sync::CancellationToken;

use crate::server::job::{JobId, JobSpec};
use crate::server::store::{
    Claimed, Claims, Clock, JobRecord, JobState, Lease, Nacked, StoreError, StoreStats,
};

fn db(e: tokio_postgres::Error) -> StoreError {
    StoreError::storage(e)
}

/// Leases up to `want` claimable jobs (due waiting jobs and expired
/// leases, oldest first) in one statement: `FOR UPDATE SKIP LOCKED` picks
/// rows no concurrent claim holds, and the same statement sets the lease
/// and bumps the attempt and the fence. A picked job that has already been
/// claimed `max_attempts` times is dead-lettered instead (a poison pill).
const CLAIM: &str = "
    WITH picked AS (
        SELECT id, at_ms AS due_ms, seq FROM evenkeel_jobs
        WHERE stage IN ('waiting', 'leased') AND at_ms <= $1
        ORDER BY at_ms, seq
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    )
    UPDATE evenkeel_jobs j SET
        stage    = CASE WHEN j.attempts >= j.max_attempts THEN 'dead' ELSE 'leased' END,
        attempts = CASE WHEN j.attempts >= j.max_attempts THEN j.attempts ELSE j.attempts + 1 END,
        fence    = CASE WHEN j.attempts >= j.max_attempts THEN j.fence ELSE j.fence + 1 END,
        at_ms    = CASE WHEN j.attempts >= j.max_attempts THEN $1::bigint ELSE $3::bigint END,
        spec     = CASE WHEN j.attempts >= j.max_attempts THEN NULL ELSE j.spec END,
        error    = CASE WHEN j.attempts >= j.max_attempts
                        THEN 'attempts exhausted: ' || j.attempts
                             || ' attempt(s) started and none finished (the worker or the process '
                             || 'died while running it)' || coalesce('; last error: ' || j.error, '')
                        ELSE j.error END
    FROM picked
    WHERE j.id = picked.id
    RETURNING j.id, j.stage, j.attempts, j.fence, j.at_ms, j.spec::text, j.enqueued_ms, j.error,
              picked.due_ms, picked.seq";

/// See [`CLAIM`].
pub(crate) async fn claim(
    client: &Client,
    max: usize,
    now: u64,
    until: u64,
) -> Result<Claims, StoreError> {
    let statement = client.prepare_cached(CLAIM).await.map_err(db)?;
    let mut out = Claims::default();
    while out.jobs.len() < max {
        let want = max - out.jobs.len();
        let limit = i64::try_from(want).unwrap_or(i64::MAX);
        let rows = client
            .query(&statement, &[&to_db_ms(now), &limit, &to_db_ms(until)])
            .await
            .map_err(db)?;
        let mut picked = Vec::with_capacity(rows.len());
        for row in &rows {
            let order: (i64, i64) = (row.get(8), row.get(9));
            if row.get::<_, &str>(1) == "leased" {
                picked.push((order, claimed(row)?));
            } else {
                out.dead_lettered.push(from_db_id(row.get(0)));
            }
        }
        // RETURNING does not keep the picking order; restore it.
        picked.sort_by_key(|(order, _)| *order);
        out.jobs.extend(picked.into_iter().map(|(_, c)| c));
        if rows.len() < want {
            // Nothing more is claimable. (A full batch with poison pills in
            // it leaves room: pick again for it.)
            break;
        }
    }
    Ok(out)
}

fn claimed(row: &Row) -> Result<Claimed, StoreError> {
    let id = from_db_id(row.get(0));
    let spec: Option<String> = row.get(5);
    let spec: JobSpec = spec
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("job {id}: {e}")))?
        .ok_or_else(|| StoreError::Corrupt(format!("waiting job {id} has no spec")))?;
    Ok(Claimed {
        lease: Lease {
            id,
            attempt: attempts(row.get(2)),
            fence: from_db_ms(row.get(3)),
            expires_at_ms: from_db_ms(row.get(4)),
        },
        spec,
        enqueued_at_ms: from_db_ms(row.get(6)),
        last_error: row.get(7),
    })
}

fn attempts(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn lost(lease: Lease) -> StoreError {
    StoreError::LeaseLost {
        id: lease.id,
        attempt: lease.attempt,
    }
}

/// Runs a fenced update (`$1` id, `$2` fence, then `params`) and returns
/// its one row, or `LeaseLost` when the lease no longer matches.
async fn fenced(
    client: &Client,
    sql: &str,
    lease: Lease,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Row, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(db)?;
    let id = to_db_id(lease.id);
    let fence = i64::try_from(lease.fence).unwrap_or(i64::MAX);
    let mut all: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&id, &fence];
    all.extend_from_slice(params);
    client
        .query_opt(&statement, &all)
        .await
        .map_err(db)?
        .ok_or_else(|| lost(lease))
}

const HELD: &str = "WHERE id = $1 AND fence = $2 AND stage = 'leased'";

pub(crate) async fn extend(client: &Client, lease: Lease, until: u64) -> Result<Lease, StoreError> {
    let sql = format!("UPDATE evenkeel_jobs SET at_ms = $3 {HELD} RETURNING at_ms");
    let row = fenced(client, &sql, lease, &[&to_db_ms(until)]).await?;
    Ok(Lease {
        expires_at_ms: from_db_ms(row.get(0)),
        ..lease
    })
}

pub(crate) async fn ack(client: &Client, lease: Lease, now: u64) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE evenkeel_jobs SET stage = 'succeeded', at_ms = $3, spec = NULL, error = NULL
         {HELD} RETURNING id"
    );
    fenced(client, &sql, lease, &[&to_db_ms(now)])
        .await
        .map(drop)
}

pub(crate) async fn nack(
    client: &Client,
    lease: Lease,
    error: &str,
    now: u64,
    run_at: u64,
) -> Result<Nacked, StoreError> {
    let sql = format!(
        "UPDATE evenkeel_jobs SET
             stage = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'waiting' END,
             at_ms = CASE WHEN attempts >= max_attempts THEN $3::bigint ELSE $4::bigint END,
             spec  = CASE WHEN attempts >= max_attempts THEN NULL ELSE spec END,
             error = $5::text
         {HELD} RETURNING stage, at_ms"
    );
    let row = fenced(
        client,
        &sql,
        lease,
        &[&to_db_ms(now), &to_db_ms(run_at), &error],
    )
    .await?;
    Ok(if row.get::<_, &str>(0) == "dead" {
        Nacked::Dead
    } else {
        Nacked::Retrying {
            run_at_ms: from_db_ms(row.get(1)),
        }
    })
}

pub(crate) async fn dead_letter(
    client: &Client,
    lease: Lease,
    reason: &str,
    now: u64,
) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE evenkeel_jobs SET stage = 'dead', at_ms = $3, spec = NULL, error = $4
         {HELD} RETURNING id"
    );
    fenced(client, &sql, lease, &[&to_db_ms(now), &reason])
        .await
        .map(drop)
}

/// Back to waiting, at the front (ready since it was enqueued), and the
/// attempt not charged.
pub(crate) async fn release(client: &Client, lease: Lease) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE evenkeel_jobs SET stage = 'waiting', attempts = greatest(attempts - 1, 0),
                                  at_ms = enqueued_ms
         {HELD} RETURNING id"
    );
    fenced(client, &sql, lease, &[]).await.map(drop)
}

/// Expired leases back to waiting (ready since their expiry), attempts
/// still charged. Leases still live may belong to another server.
pub(crate) async fn recover(client: &Client, now: u64) -> Result<u64, StoreError> {
    client
        .execute(
            "UPDATE evenkeel_jobs SET stage = 'waiting' WHERE stage = 'leased' AND at_ms <= $1",
            &[&to_db_ms(now)],
        )
        .await
        .map_err(db)
}

pub(crate) async fn get(client: &Client, id: JobId) -> Result<Option<JobRecord>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT stage, attempts, max_attempts, error, enqueued_ms, at_ms
             FROM evenkeel_jobs WHERE id = $1",
        )
        .await
        .map_err(db)?;
    let Some(row) = client
        .query_opt(&statement, &[&to_db_id(id)])
        .await
        .map_err(db)?
    else {
        return Ok(None);
    };
    let error: Option<String> = row.get(3);
    let at = from_db_ms(row.get(5));
    let (state, run_at_ms, finished_at_ms) = match row.get::<_, &str>(0) {
        "waiting" => (JobState::Queued, error.is_some().then_some(at), None),
        "leased" => (JobState::Running, None, None),
        "succeeded" => (JobState::Succeeded, None, Some(at)),
        "dead" => (JobState::Dead, None, Some(at)),
        other => return Err(StoreError::Corrupt(format!("job {id} has stage {other:?}"))),
    };
    Ok(Some(JobRecord {
        id,
        state,
        attempts: attempts(row.get(1)),
        max_attempts: attempts(row.get(2)),
        error,
        enqueued_at_ms: from_db_ms(row.get(4)),
        run_at_ms,
        finished_at_ms,
    }))
}

pub(crate) async fn stats(client: &Client, now: u64) -> Result<StoreStats, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT count(*) FILTER (WHERE stage = 'waiting' AND at_ms <= $1),
                    count(*) FILTER (WHERE stage = 'waiting' AND at_ms > $1),
                    count(*) FILTER (WHERE stage = 'leased'),
                    count(*) FILTER (WHERE stage = 'succeeded'),
                    count(*) FILTER (WHERE stage = 'dead'),
                    coalesce($1 - min(at_ms) FILTER (WHERE stage = 'waiting' AND at_ms <= $1), 0)
             FROM evenkeel_jobs",
        )
        .await
        .map_err(db)?;
    let row = client
        .query_one(&statement, &[&to_db_ms(now)])
        .await
        .map_err(db)?;
    let count = |i: usize| from_db_ms(row.get(i));
    Ok(StoreStats {
        ready: count(0),
        delayed: count(1),
        leased: count(2),
        succeeded: count(3),
        dead: count(4),
        oldest_ready_age_ms: count(5),
    })
}

/// Deletes finished records that finished at or before `cutoff`.
pub(crate) async fn prune(client: &Client, cutoff: u64) -> Result<u64, StoreError> {
    client
        .execute(
            "DELETE FROM evenkeel_jobs WHERE stage IN ('succeeded', 'dead') AND at_ms <= $1",
            &[&to_db_ms(cutoff)],
        )
        .await
        .map_err(db)
}

/// Deletes finished records past the retention every `every`, until
/// `stop` is cancelled.
pub(crate) async fn prune_loop(
    pool: Pool,
    clock: Arc<dyn Clock>,
    retention_ms: u64,
    every: Duration,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if let Err(e) = prune_pool(&pool, clock.now_ms(), retention_ms).await {
            tracing::warn!(error = %e, "job store: pruning finished jobs failed");
        }
    }
}

/// Deletes the finished records whose retention has passed at `now`.
pub(crate) async fn prune_pool(
    pool: &Pool,
    now: u64,
    retention_ms: u64,
) -> Result<u64, StoreError> {
    // Finished at `at` is pruned once `at + retention <= now`.
    let Some(cutoff) = now.checked_sub(retention_ms) else {
        return Ok(0);
    };
    let client = pool.get().await.map_err(StoreError::storage)?;
    prune(&client, cutoff).await
}

/// A job id as the `bigint` key: the same 64 bits, read as signed.
pub(crate) fn to_db_id(id: JobId) -> i64 {
    i64::from_ne_bytes(id.as_u64().to_ne_bytes())
}

/// The inverse of [`to_db_id`].
pub(crate) fn from_db_id(id: i64) -> JobId {
    JobId::from_u64(u64::from_ne_bytes(id.to_ne_bytes()))
}

/// Milliseconds (or a count) as `bigint`, saturating far in the future.
pub(crate) fn to_db_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The inverse of [`to_db_ms`]; a negative value (never written) reads 0.
pub(crate) fn from_db_ms(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0)
}
