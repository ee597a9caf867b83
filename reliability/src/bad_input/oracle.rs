//! The oracle: what the demo must answer to a generated request, from its
//! documented error-code table (crates/demo/README.md).
//!
//! A complete `POST /jobs` with a JSON content type is judged in the order
//! the server works: the body's size against `--max-body` (413
//! `body_too_large`), then the JSON syntax (400 `invalid_json`), then its
//! shape and bounds (422 `invalid_job`), else the job is valid (202).
//!
//! The syntax step parses the body with `serde_json` into an object, as
//! the server's extractor does: the parser is not what is under test (its
//! recursion limit and its refusal of invalid UTF-8 are its own); the
//! server's mapping of each outcome to a status and a code is. The shape
//! step is written here from the job schema (crates/demo/src/server/job.rs),
//! independently of the server's code, so that a server that accepts an
//! invalid job (or refuses a valid one) disagrees with it.

use serde_json::error::Category;
use serde_json::{Map, Value};

/// The `--max-body` the bad-input server runs with.
pub(crate) const MAX_BODY: usize = 64 * 1024;
/// The `--max-attempts` the bad-input server runs with.
pub(crate) const MAX_ATTEMPTS: u64 = 4;
/// The job schema's bound on `work_ms`.
pub(crate) const MAX_WORK_MS: u64 = 60_000;
/// hyper's default bound on the number of headers in a request.
pub(crate) const MAX_HEADERS: usize = 100;
/// The fields a job request may have.
pub(crate) const FIELDS: [&str; 6] = [
    "payload",
    "work_ms",
    "fail_rate",
    "downstream",
    "panic",
    "max_attempts",
];

/// One acceptable answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// 202 with the new job's `id`.
    Accepted,
    /// This status with a JSON body `{"error": .., "code": <code>}`.
    Error(u16, &'static str),
    /// This status from hyper itself, which refuses a request it cannot
    /// parse before any of the server's layers sees it (so without the
    /// JSON body).
    Protocol(u16),
}

impl Want {
    pub(crate) fn status(self) -> u16 {
        match self {
            Want::Accepted => 202,
            Want::Error(status, _) | Want::Protocol(status) => status,
        }
    }
}

/// What a complete `POST /jobs` with a JSON content type and `body` must
/// get.
pub(crate) fn for_body(body: &[u8]) -> Want {
    if body.len() > MAX_BODY {
        return Want::Error(413, "body_too_large");
    }
    match serde_json::from_slice::<Map<String, Value>>(body) {
        // Well-formed JSON that is not an object.
        Err(e) if e.classify() == Category::Data => Want::Error(422, "invalid_job"),
        Err(_) => Want::Error(400, "invalid_json"),
        Ok(job) if is_valid_job(&job) => Want::Accepted,
        Ok(_) => Want::Error(422, "invalid_job"),
    }
}

/// The job schema: known fields only, `payload` present (any value, `null`
/// too), each optional field absent, `null`, or of its type and in bounds.
/// The server has no `--downstream`, so `downstream: true` is refused.
fn is_valid_job(job: &Map<String, Value>) -> bool {
    let field = |name: &str| job.get(name).filter(|v| !v.is_null());
    job.keys().all(|k| FIELDS.contains(&k.as_str()))
        && job.contains_key("payload")
        && field("work_ms").is_none_or(|v| v.as_u64().is_some_and(|n| n <= MAX_WORK_MS))
        && field("fail_rate").is_none_or(|v| v.as_f64().is_some_and(|r| (0.0..=1.0).contains(&r)))
        && field("downstream").is_none_or(|v| v.as_bool() == Some(false))
        && field("panic").is_none_or(Value::is_boolean)
        && field("max_attempts")
            .is_none_or(|v| v.as_u64().is_some_and(|n| (1..=MAX_ATTEMPTS).contains(&n)))
}

/// Checks an answer against the acceptable ones: `Ok(Some(id))` for a 202,
/// `Ok(None)` for an expected refusal, `Err` saying what is wrong.
pub(crate) fn judge(want: &[Want], status: u16, body: &str) -> Result<Option<String>, String> {
    let Some(matched) = want.iter().find(|w| w.status() == status) else {
        return Err(format!("expected {}, got {status}", show(want)));
    };
    let json = serde_json::from_str::<Value>(body).ok();
    match *matched {
        Want::Accepted => json
            .as_ref()
            .and_then(|v| v.get("id"))
            .and_then(Value::as_str)
            .map(|id| Some(id.to_owned()))
            .ok_or_else(|| "202 without a JSON `id`".to_owned()),
        Want::Error(_, code) => {
            let json = json.ok_or_else(|| format!("{status} without a JSON body"))?;
            if !json.get("error").is_some_and(Value::is_string) {
                return Err(format!("{status} without an `error` message"));
            }
            match json.get("code").and_then(Value::as_str) {
                Some(got) if got == code => Ok(None),
                got => Err(format!("{status} with code {got:?}, expected `{code}`")),
            }
        }
        Want::Protocol(_) => Ok(None),
    }
}

/// The acceptable answers, for a failure message.
pub(crate) fn show(want: &[Want]) -> String {
    want.iter()
        .map(|w| match w {
            Want::Accepted => "202".to_owned(),
            Want::Error(s, code) => format!("{s} {code}"),
            Want::Protocol(s) => format!("{s} (hyper)"),
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The oracle tells each documented outcome apart.
    #[test]
    fn oracle_follows_the_error_table() {
        let want = |b: &str| for_body(b.as_bytes());
        assert_eq!(want(r#"{"payload": null}"#), Want::Accepted);
        assert_eq!(
            want(r#"{"payload": 1, "work_ms": 60000, "fail_rate": 1}"#),
            Want::Accepted
        );
        assert_eq!(want(r#"{"payload": 1, "work_ms": 60001}"#).status(), 422);
        assert_eq!(want(r#"{"payload": 1, "work_ms": 5.0}"#).status(), 422);
        assert_eq!(want(r#"{"payload": 1, "max_attempts": 5}"#).status(), 422);
        assert_eq!(want(r#"{"payload": 1, "downstream": true}"#).status(), 422);
        assert_eq!(want(r#"{"work_ms": 1}"#).status(), 422);
        assert_eq!(want(r#"{"payload": 1, "x": 1}"#).status(), 422);
        assert_eq!(want("[1,"), Want::Error(422, "invalid_job"));
        assert_eq!(want(r#"{"payload": 1"#), Want::Error(400, "invalid_json"));
        assert_eq!(want(r#"{"payload": 1e400}"#).status(), 400);
        let deep = format!(r#"{{"payload": {}{}}}"#, "[".repeat(200), "]".repeat(200));
        assert_eq!(want(&deep).status(), 400);
        let big = format!(r#"{{"payload": "{}"}}"#, "x".repeat(MAX_BODY));
        assert_eq!(want(&big).status(), 413);
    }

    /// The judge refuses a wrong status, a wrong code and a body that is
    /// not JSON.
    #[test]
    fn judge_is_strict() {
        let want = [Want::Error(400, "invalid_json")];
        let ok = r#"{"error": "bad", "code": "invalid_json"}"#;
        assert_eq!(judge(&want, 400, ok), Ok(None));
        assert!(judge(&want, 500, ok).is_err());
        assert!(judge(&want, 400, r#"{"error": "bad", "code": "bad_request"}"#).is_err());
        assert!(judge(&want, 400, "bad").is_err());
        assert!(judge(&[Want::Accepted], 202, "{}").is_err());
        assert_eq!(
            judge(&[Want::Accepted], 202, r#"{"id": "ab"}"#),
            Ok(Some("ab".to_owned()))
        );
    }
}
