//! Shared helpers for the supervisor tests: an event recorder that stamps
//! each event with the virtual time elapsed since the test began, and
//! one-line descriptions of events that tests compare against.

// Each test file compiles this module on its own and uses a subset of it.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use evenkeel_shutdown::Shutdown;
use evenkeel_tasks::{SupervisorEvent, TaskError};
use tokio::time::Instant;

/// Records `(milliseconds since creation, description)` for every event.
#[derive(Clone)]
pub(crate) struct Recorder {
    start: Instant,
    events: Arc<Mutex<Vec<(u128, String)>>>,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            events: Arc::default(),
        }
    }

    /// A callback for `Supervisor::on_event` that records into this recorder.
    pub(crate) fn callback(&self) -> impl Fn(&SupervisorEvent) + Send + Sync + 'static {
        let recorder = self.clone();
        move |event| recorder.record(event)
    }

    pub(crate) fn record(&self, event: &SupervisorEvent) {
        let at = self.start.elapsed().as_millis();
        self.events.lock().unwrap().push((at, describe(event)));
    }

    /// Every event so far.
    pub(crate) fn all(&self) -> Vec<(u128, String)> {
        self.events.lock().unwrap().clone()
    }

    /// Descriptions only, without times.
    pub(crate) fn descriptions(&self) -> Vec<String> {
        self.all().into_iter().map(|(_, d)| d).collect()
    }

    /// The events whose description starts with `prefix`.
    pub(crate) fn matching(&self, prefix: &str) -> Vec<(u128, String)> {
        self.all()
            .into_iter()
            .filter(|(_, d)| d.starts_with(prefix))
            .collect()
    }
}

/// A compact, stable description of an event.
pub(crate) fn describe(event: &SupervisorEvent) -> String {
    match event {
        SupervisorEvent::Started { child, restarts } => format!("start {child} #{restarts}"),
        SupervisorEvent::Exited { child, exit } => match exit {
            Ok(()) => format!("exit {child} ok"),
            Err(TaskError::Failed { error, .. }) => format!("exit {child} failed: {error}"),
            Err(TaskError::Panicked { message, .. }) => format!("exit {child} panicked: {message}"),
            Err(TaskError::Cancelled { .. }) => format!("exit {child} cancelled"),
            Err(TaskError::Stuck { .. }) => format!("exit {child} stuck"),
        },
        SupervisorEvent::RestartScheduled {
            child,
            delay,
            restart,
        } => format!("restart {child} #{restart} in {}ms", delay.as_millis()),
        SupervisorEvent::Stopping { child } => format!("stop {child}"),
        SupervisorEvent::GaveUp { error } => format!("gave up: {error}"),
        other => format!("{other:?}"),
    }
}

/// Begins `shutdown`'s drain from a synchronous context (an event
/// callback): intake stops at once and the phase becomes `Draining`, where
/// the supervisor stops its children.
pub(crate) fn drain_now(shutdown: &Shutdown) {
    shutdown.stop_intake();
}
