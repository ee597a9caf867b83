//! The `tracing` feature: rate-limit rejections and table sweeps are also
//! emitted as `tracing` events (target `evenkeel_middleware::rate_limit`),
//! beside the `on_event` listener.
#![cfg(all(feature = "tracing", feature = "rate-limit"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use evenkeel_middleware::rate_limit::{KeyedRateLimiter, RateLimiter};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Counts the events of the rate-limit target, by level.
#[derive(Default)]
struct Counter {
    debug: AtomicUsize,
    warn: AtomicUsize,
}

struct Counting(Arc<Counter>);

impl Subscriber for Counting {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        if meta.target() == "evenkeel_middleware::rate_limit" {
            match *meta.level() {
                tracing::Level::WARN => self.0.warn.fetch_add(1, Ordering::Relaxed),
                _ => self.0.debug.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Each refusal is one debug event; a sweep that had to evict keys still
/// being limited is a warning.
#[test]
fn rejections_and_pressure_are_traced() {
    let counter = Arc::new(Counter::default());
    tracing::subscriber::with_default(Counting(counter.clone()), || {
        let limiter = RateLimiter::new(1, Duration::from_secs(3600));
        assert!(limiter.check().is_ok());
        assert!(limiter.check().is_err());
        assert!(limiter.check().is_err());
        assert_eq!(counter.debug.load(Ordering::Relaxed), 2);

        let keyed = KeyedRateLimiter::builder(1, Duration::from_secs(3600))
            .max_keys(8)
            .build();
        for key in 0..9 {
            assert!(keyed.check(key).is_ok());
        }
        assert_eq!(counter.warn.load(Ordering::Relaxed), 1);
    });
}
