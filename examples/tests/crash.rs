//! Pins the `crash` lesson: a server that commits each job to redb before
//! saying "accepted" runs every accepted job after a SIGKILL and a restart;
//! one that keeps them in memory restarts with nothing. The server is the
//! crate's `crash-server` program, killed for real.
//!
//! The kill comes the moment the 5th of 40 jobs (20 ms each) has run, so
//! it is mid-load unless the test process stalls for the 0.7 s the other
//! 35 jobs would take; the tests assert that it was, so a run that misses
//! the point fails loudly instead of passing on an empty claim.

use std::path::Path;
use std::time::Duration;

use evenkeel_examples::crash::{Config, Store, run};

fn server() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_crash-server"))
}

/// With redb, every accepted job runs: the ones that ran before the kill
/// plus the ones the restarted server found in its store, and none is
/// lost. The first server really died of SIGKILL with accepted jobs still
/// waiting, and the restarted one ran them.
#[test]
fn durable_store_runs_every_accepted_job_after_a_kill() {
    let config = Config::default();
    let a = run(server(), Store::Redb, config).expect("the lesson runs");
    println!("{a:?}");
    assert_eq!(a.killed_by, Some(9), "the first server died of SIGKILL");
    assert!(a.ran_before_kill >= config.kill_after);
    assert!(
        a.accepted > a.ran_before_kill,
        "the kill was mid-load: {a:?}"
    );
    assert!(a.recovered > 0, "the store kept the waiting jobs: {a:?}");
    assert!(a.ran_after_restart > 0);
    assert_eq!(a.lost, 0, "{a:?}");
    // Everything the restarted server ran was recovered from the store.
    assert_eq!(a.ran_after_restart, a.recovered);
}

/// In memory, the restarted server finds nothing and runs nothing, so
/// every accepted job that had not run before the kill is lost. The count
/// is printed; that it is above zero rests on the kill landing mid-load.
#[test]
fn memory_queue_loses_what_had_not_run() {
    let config = Config::default();
    let a = run(server(), Store::Memory, config).expect("the lesson runs");
    println!(
        "in memory: accepted {}, ran before the kill {}, lost {}",
        a.accepted, a.ran_before_kill, a.lost
    );
    assert_eq!(a.killed_by, Some(9), "the first server died of SIGKILL");
    assert_eq!(a.accepted, config.jobs, "memory accepts every job at once");
    assert_eq!((a.recovered, a.ran_after_restart, a.ran_twice), (0, 0, 0));
    assert_eq!(a.lost, a.accepted - a.ran_before_kill);
    assert!(a.lost > 0, "the kill was mid-load: {a:?}");
}

/// A scenario whose kill could never come (after every job has run, or
/// before any) is refused with a clear error instead of hanging.
#[test]
fn a_kill_that_cannot_come_mid_load_is_refused() {
    for kill_after in [0, 40, 41] {
        let config = Config {
            jobs: 40,
            kill_after,
            work: Duration::from_millis(1),
        };
        let err = run(server(), Store::Memory, config).expect_err("refused");
        assert!(err.to_string().contains("kill_after"), "{err}");
    }
}
