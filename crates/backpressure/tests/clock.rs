//! Which clock a queue reads, and that each one measures queue wait.

use std::time::Duration;

use evenkeel_backpressure::{Clock, Queue, bounded};

/// `Clock::Auto` follows tokio's clock on a current-thread runtime, the
/// only kind a test can pause, so paused-time tests get exact waits.
#[tokio::test(start_paused = true)]
async fn auto_is_tokio_on_a_current_thread_runtime() {
    let (tx, rx) = bounded(4);
    assert_eq!(tx.clock(), Some(Clock::Tokio));
    tx.send(1).await.unwrap();
    tokio::time::advance(Duration::from_millis(250)).await;
    rx.recv().await.unwrap();
    assert_eq!(rx.stats().wait.max, Duration::from_millis(250));
}

/// On a multi-thread runtime (which cannot pause time) and outside any
/// runtime, `Clock::Auto` reads the time-stamp counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_is_fast_on_a_multi_thread_runtime() {
    let (tx, _rx) = bounded::<u8>(4);
    assert_eq!(tx.clock(), Some(Clock::Fast));
}

#[test]
fn auto_is_fast_outside_a_runtime() {
    let (tx, rx) = bounded::<u8>(4);
    assert_eq!(
        (tx.clock(), rx.clock()),
        (Some(Clock::Fast), Some(Clock::Fast))
    );
}

/// An explicit choice is kept whatever the runtime.
#[tokio::test(start_paused = true)]
async fn an_explicit_clock_is_kept() {
    let (tx, _rx) = Queue::builder::<u8>(4).clock(Clock::Fast).build().unwrap();
    assert_eq!(tx.clock(), Some(Clock::Fast));
    let (tx, _rx) = Queue::builder::<u8>(4)
        .clock(Clock::Tokio)
        .track_wait(false)
        .build()
        .unwrap();
    assert_eq!(tx.clock(), None, "no clock is read without wait tracking");
}

/// The fast clock measures real elapsed time: an item held back while at
/// least 2 ms pass on the OS clock is recorded as waiting about that long.
/// (A busy wait on the OS clock, not a sleep: it bounds the elapsed time
/// from below, which is all the check needs; the 10 % margin allows for
/// the counter's calibration against that clock.)
#[test]
fn fast_clock_measures_wall_time() {
    let (tx, rx) = Queue::builder(4).clock(Clock::Fast).build().unwrap();
    tx.try_send(1).unwrap();
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(2) {
        std::hint::spin_loop();
    }
    rx.try_recv().unwrap();
    let wait = rx.stats().wait;
    assert_eq!(wait.count, 1);
    assert!(wait.max >= Duration::from_micros(1800), "{:?}", wait.max);
    assert!(wait.max < Duration::from_secs(60), "{:?}", wait.max);
    // <=100us, <=1ms: empty; the wait lands in a later bucket.
    assert_eq!(wait.buckets[..2], [0, 0]);
}

/// The fast clock ignores tokio's paused time: advancing it adds nothing.
#[tokio::test(start_paused = true)]
async fn fast_clock_ignores_paused_time() {
    let (tx, rx) = Queue::builder(4).clock(Clock::Fast).build().unwrap();
    tx.send(1).await.unwrap();
    tokio::time::advance(Duration::from_secs(3600)).await;
    rx.recv().await.unwrap();
    assert!(rx.stats().wait.max < Duration::from_secs(60));
}
