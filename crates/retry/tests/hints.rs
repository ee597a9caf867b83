//! Server hints: `Retry-After` parsed in both forms, and the cap past which
//! a hint stops the retries instead of parking the caller; and the bounded
//! defaults that make every loop end.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use evenkeel_retry::{Backoff, Decision, RetryError, parse_retry_after, retry};
use tokio::time::Instant;

mod common;
use common::{flaky, gaps, ms};

/// Wed, 21 Oct 2015 07:28:00 GMT, as seconds since the epoch.
const OCT_21: u64 = 1_445_412_480;

/// Both forms of `Retry-After` parse: delta-seconds and the three HTTP-date
/// formats; a past date means now.
#[test]
fn retry_after_parses_seconds_and_dates() {
    let now = UNIX_EPOCH + Duration::from_secs(OCT_21 - 90);
    let s = Duration::from_secs;
    assert_eq!(parse_retry_after("0", now), Some(s(0)));
    assert_eq!(parse_retry_after("\t42 ", now), Some(s(42)));
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
        Some(s(90))
    );
    assert_eq!(
        parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", now),
        Some(s(90))
    );
    assert_eq!(
        parse_retry_after("Wed Oct 21 07:28:00 2015", now),
        Some(s(90))
    );
    let later = UNIX_EPOCH + Duration::from_secs(OCT_21 + 5);
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", later),
        Some(s(0))
    );
    assert_eq!(parse_retry_after(b"7".as_slice(), now), Some(s(7)));
}

/// Garbage is ignored (`None`, so the caller keeps its own schedule);
/// an all-digit number too large for `u64` saturates instead.
#[test]
fn garbage_retry_after_is_ignored() {
    let now = SystemTime::now();
    for garbage in [
        "",
        " ",
        "-1",
        "1.5",
        "+3",
        "soon",
        "3 s",
        "Wed, 99 Oct 2015 07:28:00 GMT",
    ] {
        assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
    }
    assert_eq!(parse_retry_after([0xff, 0xfe].as_slice(), now), None);
    assert_eq!(
        parse_retry_after("99999999999999999999999", now),
        Some(Duration::MAX)
    );
}

/// An HTTP-date hint is honoured by the runner: the retry waits until the
/// date, not the backoff's own delay.
#[tokio::test(start_paused = true)]
async fn http_date_hint_is_honoured() {
    let now = UNIX_EPOCH + Duration::from_secs(OCT_21 - 20);
    let hint = parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now);
    let (calls, op) = flaky(1);
    let r = retry(Backoff::constant(ms(10)), op)
        .classify(|_| hint.map_or(Decision::Retry, Decision::RetryAfter))
        .await;
    assert_eq!(r, Ok(2));
    assert_eq!(gaps(&calls.lock().unwrap()), [Duration::from_secs(20)]);
}

/// `Retry-After: 86400` stops the loop at once with the error and the hint
/// (typed), rather than sleeping a day; a hint at the cap is still honoured.
#[tokio::test(start_paused = true)]
async fn a_day_long_hint_stops_instead_of_sleeping() {
    let start = Instant::now();
    let day = parse_retry_after("86400", SystemTime::now()).unwrap();
    let (calls, op) = flaky(5);
    let r = retry(Backoff::constant(ms(10)), op)
        .classify(move |_| Decision::RetryAfter(day))
        .await;
    assert_eq!(
        r,
        Err(RetryError::RetryAfterTooLong {
            attempts: 1,
            retry_after: day,
            last: "transient",
        })
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(calls.lock().unwrap().len(), 1);

    let (_, op) = flaky(1);
    let cap = Backoff::DEFAULT_MAX_RETRY_AFTER;
    let r = retry(Backoff::constant(ms(10)), op)
        .classify(move |_| Decision::RetryAfter(cap))
        .await;
    assert_eq!(r, Ok(2));
    assert_eq!(start.elapsed(), cap);
}

/// The cap is configurable, and the blocking runner honours it too.
#[test]
fn max_retry_after_is_configurable_and_shared_by_the_blocking_runner() {
    let backoff = Backoff::constant(Duration::ZERO).max_retry_after(ms(5));
    let r = evenkeel_retry::retry_blocking(
        backoff,
        || Err::<(), _>("busy"),
        |_| Decision::RetryAfter(ms(6)),
    );
    assert!(matches!(
        r,
        Err(RetryError::RetryAfterTooLong { attempts: 1, .. })
    ));
}

/// A backoff built with defaults ends: every constructor and preset yields
/// a bounded number of delays (3: four attempts), and a runner with default
/// settings on an always-failing operation gives up after 4 calls.
#[tokio::test(start_paused = true)]
async fn defaults_always_end() {
    let d = Duration::from_millis(1);
    for b in [
        Backoff::exponential(d),
        Backoff::constant(Duration::ZERO),
        Backoff::linear(d, d),
        Backoff::grpc(),
    ] {
        assert_eq!(b.take(1_000_000).count(), 3);
    }
    let mut calls = 0;
    let r = retry(Backoff::constant(Duration::ZERO), || {
        calls += 1;
        async { Err::<(), _>("down") }
    })
    .await;
    assert!(matches!(r, Err(RetryError::Exhausted { attempts: 4, .. })));
    assert_eq!(calls, Backoff::DEFAULT_MAX_ATTEMPTS);
}
