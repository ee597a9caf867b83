//! Compile-time checks: the types can cross threads and the errors convert
//! into `anyhow::Error` / `Box<dyn Error + Send + Sync>` with `?`.

use std::convert::Infallible;
use std::error::Error;

use evenkeel_shutdown::Shutdown;
use evenkeel_tasks::{
    ChildSpec, Supervisor, SupervisorError, SupervisorEvent, TaskError, TaskGroup, TaskStats,
};

fn send<T: Send>() {}
fn send_sync<T: Send + Sync>() {}
fn boxable_error<E: Error + Send + Sync + 'static>() {}
fn send_future<F: Send + 'static>(_: F) {}
fn send_borrowing_future<F: Send>(_: F) {}

fn join_future_is_send(group: &mut TaskGroup<u8, std::io::Error>) {
    send_borrowing_future(group.join_next());
    send_borrowing_future(group.join_all());
    send_borrowing_future(group.try_join_all());
    send_borrowing_future(group.cancel());
}

fn into_anyhow(e: TaskError<std::io::Error>) -> anyhow::Result<()> {
    Err(e)?
}

fn spawnable(supervisor: Supervisor, shutdown: Shutdown) {
    send_future(supervisor.run(shutdown));
}

/// A group (of `Send` outputs) can move between threads and be shared;
/// its join futures are `Send`, so a group can be joined inside a spawned task.
#[test]
fn groups_are_send_and_sync() {
    send_sync::<TaskGroup<String, std::io::Error>>();
    send_sync::<TaskStats>();
    let _ = join_future_is_send;
}

/// Every error type is `Error + Send + Sync + 'static`, which is what `?`
/// into `anyhow::Error` or a boxed error needs.
#[test]
fn errors_convert_with_question_mark() {
    boxable_error::<TaskError<std::io::Error>>();
    boxable_error::<TaskError<Infallible>>();
    boxable_error::<SupervisorError>();
    assert!(into_anyhow(TaskError::Cancelled { name: "x".into() }).is_err());
}

/// A supervisor, its specs and events cross threads, and `run` can be
/// spawned.
#[test]
fn supervisor_runs_on_any_thread() {
    send::<Supervisor>();
    send::<ChildSpec>();
    send_sync::<SupervisorEvent>();
    let _ = spawnable;
}
