//! The `tracing` feature: the trigger, each phase change, the escalation and
//! the outstanding count at the deadline are reported as events.
#![cfg(feature = "tracing")]

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use evenkeel_shutdown::{Reason, Shutdown, Signal};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records every event as one line of `field=value` pairs.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(String::new());
        event.record(&mut line);
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// A timed-out drain after a SIGTERM trigger logs the reason, `PreDrain`,
/// `Draining`, the outstanding count, `Done`, and a later force.
#[test]
fn events_cover_trigger_phases_and_deadline() {
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let shutdown = Shutdown::new();
            let _stuck = (shutdown.guard().unwrap(), shutdown.guard().unwrap());
            shutdown.trigger(Reason::Signal(Signal::Terminate));
            shutdown.drain(Duration::from_secs(1)).await;
            shutdown.force();
        });
    });
    let lines = recorder.lines();
    let find = |needle: &str| {
        lines
            .iter()
            .position(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no event with {needle:?} in {lines:#?}"))
    };
    let triggered = find("received SIGTERM");
    let pre_drain = find("phase=PreDrain");
    let draining = find("phase=Draining");
    let timed_out = find("outstanding=2");
    let done = find("phase=Done");
    let forced = find("shutdown forced");
    assert!(triggered < draining && pre_drain < draining);
    assert!(draining < timed_out && timed_out < done && done < forced);
    assert!(lines[triggered].contains("exit_code=143"));
}
