//! Lesson `crash`: kill -9 a job server mid-load and restart it, once with
//! its queue in memory and once with every job committed to redb.
//!
//! The lesson starts the server itself (this same program, run again with
//! the server's arguments), kills it with SIGKILL and restarts it, so it
//! runs unattended: `cargo xtask lesson crash`. It runs on the real clock
//! (a signal between processes cannot reach a paused one), so the moment of
//! the kill moves a little from run to run; the redb server never loses an
//! accepted job.

use evenkeel_examples::crash::{Account, Config, Server, Store, run};

fn main() -> anyhow::Result<()> {
    // Started as the server by the lesson below: serve and exit.
    if let Some(server) = Server::from_args(std::env::args_os().skip(1)) {
        return server?.run();
    }

    let config = Config::default();
    let me = std::env::current_exe()?;
    println!(
        "Lesson: crash. A client sends {} jobs at once to a job server that runs them one at a time\n\
         ({:?} each). The moment the server reports its {}th job run, the client sends it SIGKILL\n\
         (kill -9: no handler runs, nothing is saved), starts it again on the same data directory\n\
         with no new jobs, and waits until it has run what it found.\n",
        config.jobs, config.work, config.kill_after
    );
    let memory = run(&me, Store::Memory, config)?;
    let redb = run(&me, Store::Redb, config)?;

    println!(
        "  store    sent  accepted  ran before kill  killed by  recovered  ran after restart  lost  ran twice"
    );
    print_row(&memory);
    print_row(&redb);
    println!(
        "\nWhy: the in-memory server said \"accepted\" for every job at once, and its queue was the only\n\
         copy: the kill took it, the restarted server found nothing, and the jobs it had not reached are\n\
         lost without a trace. The redb server said \"accepted\" only after the job was committed with\n\
         an fsync, and moved each job from `queue` to `done` in one transaction after running it; on\n\
         start it ran everything still in `queue`. The kill came the instant a job had run, usually\n\
         before its `done` record was committed, so that job ran again after the restart: durable means\n\
         at-least-once, and jobs must be safe to run twice. Each redb accept waits for its own fsync,\n\
         so it may not have answered every job before the kill; an unanswered job was never promised,\n\
         and the client sends it again."
    );
    println!(
        "\nFor real: `evenkeel-demo serve` keeps its jobs this way, with leases and attempt numbers\n\
         and group commit (one fsync for a batch of accepts); read crates/demo/src/server/store/,\n\
         starting with mod.rs. `cargo xtask demo` kills it mid-load too."
    );
    println!(
        "\nExercise: in examples/src/crash/server.rs, change both `Durability::Immediate` to\n\
         `Durability::None` and run the lesson again. Expect the redb row to accept all 40 jobs at once\n\
         (no fsync to wait for) and then to look like the memory row: recovered 0, lost 35. redb keeps\n\
         a `None` commit in the process's memory until a durable commit follows, so the kill takes it:\n\
         a commit is a promise only once it is on disk."
    );
    Ok(())
}

fn print_row(a: &Account) {
    let killed_by = match a.killed_by {
        Some(9) => "SIGKILL".to_owned(),
        Some(n) => format!("signal {n}"),
        None => "exited".to_owned(),
    };
    println!(
        "  {:<7} {:>5}  {:>8}  {:>15}  {:>9}  {:>9}  {:>17}  {:>4}  {:>9}",
        a.store.to_string(),
        a.sent,
        a.accepted,
        a.ran_before_kill,
        killed_by,
        a.recovered,
        a.ran_after_restart,
        a.lost,
        a.ran_twice
    );
}
