//! [`parse_retry_after`]: reading a server's `Retry-After` header, in both of
//! its forms, in one place.
//!
//! HTTP lets a server say when to come back in two ways (RFC 9110 §10.2.3):
//! a number of seconds (`Retry-After: 120`) or a date
//! (`Retry-After: Fri, 04 Dec 2026 06:00:00 GMT`). A client that reads only
//! the number silently ignores every server that sends a date, and retries
//! on its own schedule, early, exactly when it was asked not to. Dates are
//! parsed with the `httpdate` crate (the one hyper uses), against a `now`
//! the caller passes in, so the function is pure and testable.
//!
//! Parsing says nothing about whether a hint is *reasonable*: a day is a
//! valid `Retry-After`. That judgement is the backoff's
//! [`max_retry_after`](crate::Backoff::max_retry_after).

use std::time::{Duration, SystemTime};

/// The wait a `Retry-After` header value asks for, or `None` if it is
/// neither form.
///
/// - Delta-seconds (digits, optional surrounding whitespace): that many
///   seconds. A number too large for a `u64` saturates to `Duration::MAX`
///   rather than being ignored (the server clearly meant "not soon").
/// - An HTTP-date (any of the three formats RFC 9110 accepts): the time from
///   `now` until then; a date already past means "now" (`Duration::ZERO`).
/// - Anything else (a negative or fractional number, garbage, non-UTF-8):
///   `None`, so the caller falls back to its own backoff.
///
/// `value` is anything byte-like: a `&str`, a `&[u8]`, an
/// `&http::HeaderValue`.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use evenkeel_retry::parse_retry_after;
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_445_412_400); // Wed, 21 Oct 2015 07:26:40 GMT
/// assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
/// assert_eq!(
///     parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
///     Some(Duration::from_secs(80)),
/// );
/// assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
/// assert_eq!(parse_retry_after("-1", now), None);
/// assert_eq!(parse_retry_after("soon", now), None);
/// # let _ = SystemTime::now();
/// ```
pub fn parse_retry_after(value: impl AsRef<[u8]>, now: SystemTime) -> Option<Duration> {
    let text = std::str::from_utf8(value.as_ref()).ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: only overflow can fail, and overflow means "very long".
        return Some(
            text.parse::<u64>()
                .map_or(Duration::MAX, Duration::from_secs),
        );
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}
