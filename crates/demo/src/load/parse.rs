//! Small parsers for the command line and for HTTP headers.
//!
//! Durations are written the way people say them (`250ms`, `5s`, `2m`, or a
//! bare number of seconds); ranges as `LOW..HIGH` (inclusive) or a single
//! number. `Retry-After` is read in both forms RFC 9110 allows,
//! delta-seconds and an HTTP-date (through `evenkeel_retry::parse_retry_after`,
//! the workspace's one parser), capped, in one
//! function that every client in the demo shares (the load generator and
//! the workers' downstream client).

use std::time::Duration;

/// Parses `250ms`, `1.5s`, `2m`, `1h` or a bare number of seconds.
///
/// # Errors
///
/// A message naming the bad input, fit for clap to print.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use evenkeel_demo::load::parse_duration;
///
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
/// assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (try 250ms, 5s, 2m)"))?;
    let seconds_per_unit = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown duration unit `{other}` in `{text}`")),
    };
    Duration::try_from_secs_f64(value * seconds_per_unit)
        .map_err(|_| format!("`{text}` is out of range"))
}

/// Parses an inclusive range `LOW..HIGH` (or `LOW..=HIGH`), or a single
/// number meaning `N..N`.
///
/// # Errors
///
/// A message naming the bad input, also when `LOW > HIGH`.
///
/// # Example
///
/// ```
/// use evenkeel_demo::load::parse_range;
///
/// assert_eq!(parse_range("20..200"), Ok((20, 200)));
/// assert_eq!(parse_range("50"), Ok((50, 50)));
/// assert!(parse_range("9..1").is_err());
/// ```
pub fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("`{text}` is not a range (try 20..200 or 50)");
    let (low, high) = match text.split_once("..") {
        Some((low, high)) => (low.trim(), high.trim().trim_start_matches('=')),
        None => (text.trim(), text.trim()),
    };
    let low: u64 = low.parse().map_err(|_| bad())?;
    let high: u64 = high.parse().map_err(|_| bad())?;
    if low > high {
        return Err(format!("`{text}`: the low end is above the high end"));
    }
    Ok((low, high))
}

/// The largest `Retry-After` [`parse_retry_after`] returns; a longer hint
/// is cut to it (callers cap further, to what suits them).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);

/// Reads a `Retry-After` value: delta-seconds (`"3"`) or an HTTP-date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`, the wait until then; a date in the
/// past means "now"), capped at [`MAX_RETRY_AFTER`].
///
/// Returns `None` for anything else (garbage, a negative or fractional
/// number), so that the caller uses its own backoff.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use evenkeel_demo::load::{parse_retry_after, MAX_RETRY_AFTER};
///
/// assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
/// assert_eq!(parse_retry_after("86400"), Some(MAX_RETRY_AFTER));
/// assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
/// assert_eq!(parse_retry_after("-1"), None);
/// ```
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    parse_retry_after_at(value, std::time::SystemTime::now())
}

/// [`parse_retry_after`] with the current time given, so that the
/// HTTP-date form can be tested exactly.
///
/// # Example
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use evenkeel_demo::load::parse_retry_after_at;
///
/// let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
/// let later = "Wed, 21 Oct 2015 07:28:30 GMT";
/// assert_eq!(parse_retry_after_at(later, now), Some(Duration::from_secs(30)));
/// ```
pub fn parse_retry_after_at(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    // One parser for the workspace (both forms, saturating): the retry
    // crate's; the demo only caps what it honours.
    evenkeel_retry::parse_retry_after(value, now).map(|after| after.min(MAX_RETRY_AFTER))
}
