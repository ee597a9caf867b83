//! Enqueue for the PostgreSQL store: admission and the group commit.
//!
//! # One transaction for everything waiting
//!
//! An enqueue must not answer before its job is committed, and a commit
//! costs a WAL flush. So enqueues do not commit one by one: each one sends
//! its job to the writer task over a channel and waits for the answer. The
//! writer takes the first job, then everything else already waiting (up to
//! [`MAX_BATCH`]), and stores the whole batch with [`insert_batch`]: one
//! transaction, one multi-row `INSERT … SELECT FROM unnest(…)`, one flush.
//! While that commit is in flight the next batch gathers, so the more
//! clients there are, the more jobs share each commit. With
//! `group_commit` off every enqueue calls [`insert_batch`] with a batch of
//! one (the benchmark's naive baseline).
//!
//! # Admission across servers
//!
//! [`insert_batch`] first takes a transaction-scoped advisory lock, then
//! counts the waiting jobs, then inserts only as many as the capacity still
//! allows; the rest of the batch is refused with `Full`. Every enqueue of
//! every server takes that lock, so two servers cannot both see room for
//! the last slot. Idempotency keys are looked up under the same lock, so a
//! key is stored once even when two servers receive it at the same moment
//! (the unique index would refuse a second row anyway).

use std::collections::HashMap;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};

use super::ops::{from_db_id, to_db_id, to_db_ms};
use super::schema::{ADMISSION_LOCK, CHANNEL};
use crate::server::store::{Enqueued, NewJob, StoreError};

/// The most jobs one group commit takes.
pub(crate) const MAX_BATCH: usize = 512;

/// One enqueue waiting for the writer: the job, when it was enqueued, and
/// where to send the answer.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) job: NewJob,
    pub(crate) now_ms: u64,
    pub(crate) reply: oneshot::Sender<Result<Enqueued, StoreError>>,
}

/// What a batch needs besides the jobs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Admission {
    pub(crate) capacity: usize,
    pub(crate) retry_after: std::time::Duration,
}

/// The writer task: batches enqueues until every sender is gone.
pub(crate) async fn run(pool: Pool, admission: Admission, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs: Vec<(&NewJob, u64)> = batch.iter().map(|p| (&p.job, p.now_ms)).collect();
        let answers = insert_batch(&pool, admission, &jobs).await;
        drop(jobs);
        for (pending, answer) in batch.drain(..).zip(answers) {
            // The enqueue may have been dropped (cancelled); its job is
            // stored or refused all the same, as the trait documents.
            let _ = pending.reply.send(answer);
        }
    }
}

/// Stores `jobs` in one transaction and answers each, in order.
///
/// On a database failure every job of the batch gets the error (the batch
/// was rolled back, or its commit's outcome is unknown; a client that
/// retries may then run the job twice, never zero times).
pub(crate) async fn insert_batch(
    pool: &Pool,
    admission: Admission,
    jobs: &[(&NewJob, u64)],
) -> Vec<Result<Enqueued, StoreError>> {
    match try_insert_batch(pool, admission, jobs).await {
        Ok(answers) => answers,
        Err(e) => {
            let message = e.to_string();
            jobs.iter()
                .map(|_| Err(StoreError::storage(message.clone())))
                .collect()
        }
    }
}

async fn try_insert_batch(
    pool: &Pool,
    admission: Admission,
    jobs: &[(&NewJob, u64)],
) -> Result<Vec<Result<Enqueued, StoreError>>, StoreError> {
    let mut client = pool.get().await.map_err(StoreError::storage)?;
    let tx = client.transaction().await.map_err(StoreError::storage)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ADMISSION_LOCK])
        .await
        .map_err(StoreError::storage)?;

    let keys: Vec<&str> = jobs
        .iter()
        .filter_map(|(j, _)| j.idempotency_key.as_deref())
        .collect();
    let mut known: HashMap<String, i64> = HashMap::new();
    if !keys.is_empty() {
        let rows = tx
            .query(
                "SELECT idempotency_key, id FROM evenkeel_jobs WHERE idempotency_key = ANY($1)",
                &[&keys],
            )
            .await
            .map_err(StoreError::storage)?;
        known.extend(rows.iter().map(|r| (r.get(0), r.get(1))));
    }
    let waiting: i64 = tx
        .query_one(
            "SELECT count(*) FROM evenkeel_jobs WHERE stage = 'waiting'",
            &[],
        )
        .await
        .map_err(StoreError::storage)?
        .get(0);
    let mut room = admission
        .capacity
        .saturating_sub(usize::try_from(waiting).unwrap_or(usize::MAX));

    // Decide each job in order, as the embedded store would one by one.
    let mut answers = Vec::with_capacity(jobs.len());
    let (mut ids, mut specs, mut max_attempts, mut idem, mut times) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (job, now_ms) in jobs {
        if let Some(key) = &job.idempotency_key
            && let Some(&id) = known.get(key)
        {
            answers.push(Ok(Enqueued::Existing(from_db_id(id))));
            continue;
        }
        if room == 0 {
            answers.push(Err(StoreError::Full {
                retry_after: admission.retry_after,
            }));
            continue;
        }
        room -= 1;
        let spec = serde_json::to_string(&job.spec)
            .map_err(|e| StoreError::Corrupt(format!("job {} does not encode: {e}", job.id)))?;
        if let Some(key) = &job.idempotency_key {
            known.insert(key.clone(), to_db_id(job.id));
        }
        ids.push(to_db_id(job.id));
        specs.push(spec);
        max_attempts.push(i32::try_from(job.spec.max_attempts.max(1)).unwrap_or(i32::MAX));
        idem.push(job.idempotency_key.clone());
        times.push(to_db_ms(*now_ms));
        answers.push(Ok(Enqueued::Created(job.id)));
    }

    if !ids.is_empty() {
        // `WITH ORDINALITY … ORDER BY` keeps the batch order in `seq`.
        let stored = tx
            .query(
                "INSERT INTO evenkeel_jobs
                     (id, stage, spec, max_attempts, idempotency_key, enqueued_ms, at_ms)
                 SELECT j.id, 'waiting', j.spec::jsonb, j.max_attempts, j.key, j.t, j.t
                 FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::text[], $5::bigint[])
                      WITH ORDINALITY AS j(id, spec, max_attempts, key, t, n)
                 ORDER BY j.n
                 ON CONFLICT DO NOTHING
                 RETURNING id",
                &[&ids, &specs, &max_attempts, &idem, &times],
            )
            .await
            .map_err(StoreError::storage)?;
        if stored.len() != ids.len() {
            // Keys were checked under the admission lock, so only an id can
            // collide: a random 64-bit id seen twice. Refuse that job rather
            // than overwrite the other one.
            let stored: std::collections::HashSet<i64> = stored.iter().map(|r| r.get(0)).collect();
            for answer in &mut answers {
                if let Ok(Enqueued::Created(id)) = answer
                    && !stored.contains(&to_db_id(*id))
                {
                    *answer = Err(StoreError::Corrupt(format!("job id {id} already exists")));
                }
            }
        }
        tx.execute("SELECT pg_notify($1, '')", &[&CHANNEL])
            .await
            .map_err(StoreError::storage)?;
    }
    tx.commit().await.map_err(StoreError::storage)?;
    Ok(answers)
}
