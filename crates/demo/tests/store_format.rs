//! The embedded store's file format: a file written in format 1 (jobs
//! keyed by their random id) is rewritten to format 2 (keyed by admission
//! order) when it is opened, and every job in it is still there, in order.

use std::time::Duration;

use evenkeel_demo::server::store::{JobState, JobStore, NewJob, RedbStore, StoreOptions};
use evenkeel_demo::server::{JobId, JobSpec};
use redb::{Database, TableDefinition};

const JOBS_V1: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("jobs");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

/// A format-1 record, as the first release of the store wrote it.
fn v1_record(id: u64, seq: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": format!("{id:016x}"), "seq": seq, "max_attempts": 3,
        "spec": {"payload": seq, "work_ms": 0, "fail_rate": 0.0, "downstream": false,
                 "panic": false, "max_attempts": 3},
        "stage": "waiting", "attempts": 0, "fence": 0, "error": null, "key": null,
        "enqueued_at": 1000 + seq, "at": 1000 + seq
    }))
    .unwrap()
}

/// Jobs stored in format 1 are all there after the open rewrites the file,
/// claimed oldest first, and new jobs go in after them; the next open
/// reads format 2 as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_1_file_is_migrated_at_open() {
    let dir = std::env::temp_dir().join(format!("evenkeel-store-format-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Ids in the opposite order of admission: the order must come from seq.
    let ids = [0xfff0_u64, 0x0a00, 0x0001];
    {
        let db = Database::create(dir.join("jobs.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(META).unwrap();
            meta.insert("format", 1).unwrap();
            let mut jobs = txn.open_table(JOBS_V1).unwrap();
            for (seq, id) in (0..).zip(ids) {
                jobs.insert(id, v1_record(id, seq).as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let store = RedbStore::open(&dir, StoreOptions::default()).unwrap();
    for id in ids {
        let record = store.get(JobId::from_u64(id)).await.unwrap();
        assert_eq!(
            record.map(|r| r.state),
            Some(JobState::Queued),
            "job {id:x}"
        );
    }
    let spec = JobSpec {
        payload: serde_json::json!("new"),
        work_ms: 0,
        fail_rate: 0.0,
        downstream: false,
        panic: false,
        max_attempts: 1,
    };
    let new = store.enqueue(NewJob::new(spec)).await.unwrap().id();
    drop(store);
    let store = RedbStore::open(&dir, StoreOptions::default()).unwrap();
    let claims = store.claim(4, Duration::from_secs(30)).await.unwrap();
    let order: Vec<JobId> = claims.jobs.iter().map(|c| c.lease.id).collect();
    let mut expected: Vec<JobId> = ids.iter().map(|&id| JobId::from_u64(id)).collect();
    expected.push(new);
    assert_eq!(order, expected);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}
