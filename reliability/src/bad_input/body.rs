//! The body classes: a valid job request damaged inside its JSON (bytes,
//! length, types, bounds, fields, nesting, encoding); the framing stays
//! right (`content-type: application/json`, an exact `content-length`).

use rand::Rng as _;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom as _;

use super::framing::JSON_TYPES;
use super::generate::Made;
use super::oracle::{FIELDS, MAX_ATTEMPTS, MAX_WORK_MS, for_body};
use super::parts::{payload, render, replace, request, text, valid_body, valid_fields};

/// A valid job, fields reshuffled, sometimes a repeated key, under a JSON content type.
pub(super) fn valid(rng: &mut SmallRng) -> Made {
    let mut fields = valid_fields(rng);
    if rng.random_bool(0.3) {
        // A repeated key: the last one counts.
        fields.insert(0, ("payload".into(), "\"first\"".into()));
    }
    let ct = *JSON_TYPES.choose(rng).unwrap_or(&JSON_TYPES[0]);
    let body = render(&fields);
    json_post("valid", ct, &body)
}

/// A valid job with one to three bytes replaced at random.
pub(super) fn byte_flip(rng: &mut SmallRng) -> Made {
    let mut body = valid_body(rng);
    let flips = rng.random_range(1..=3);
    for _ in 0..flips {
        let at = rng.random_range(0..body.len());
        body[at] = rng.random();
    }
    json_post(&format!("{flips} flipped bytes"), "application/json", &body)
}

/// A valid job cut short, sent with the matching `content-length`.
pub(super) fn truncated(rng: &mut SmallRng) -> Made {
    let mut body = valid_body(rng);
    let cut = rng.random_range(0..body.len());
    body.truncate(cut);
    json_post(&format!("cut at {cut}"), "application/json", &body)
}

/// A valid job with one field given a value of another type (or `null`).
pub(super) fn type_swap(rng: &mut SmallRng) -> Made {
    const VALUES: &[&str] = &[
        "\"text\"",
        "\"5\"",
        "true",
        "false",
        "[]",
        "[1,2]",
        "{}",
        "{\"a\":1}",
        "2.5",
        "-3",
        "null",
        "1e2",
        "0.5",
    ];
    let field = *FIELDS.choose(rng).unwrap_or(&"work_ms");
    let value = *VALUES.choose(rng).unwrap_or(&"true");
    with_field(rng, field, value)
}

/// A valid job with one more field, not in the schema.
pub(super) fn unknown_field(rng: &mut SmallRng) -> Made {
    const KEYS: &[&str] = &[
        "fail_rte", "Work_ms", "PAYLOAD", "payload ", "", "\u{0}", "id", "état",
    ];
    let key = if rng.random_bool(0.5) {
        (*KEYS.choose(rng).unwrap_or(&"x")).to_owned()
    } else {
        text(rng, 12)
    };
    let value = payload(rng, 1);
    with_field(rng, &key, &value)
}

/// A valid job with one number out of its bounds (or past what JSON numbers hold).
pub(super) fn out_of_range(rng: &mut SmallRng) -> Made {
    let (field, value) = match rng.random_range(0..3) {
        0 => {
            let v = match rng.random_range(0..5) {
                0 => (MAX_WORK_MS + 1).to_string(),
                1 => rng.random_range(MAX_WORK_MS + 1..=u64::MAX).to_string(),
                2 => "18446744073709551616".to_owned(),
                3 => format!("-{}", rng.random_range(1..=u64::MAX / 2)),
                _ => "1e400".to_owned(),
            };
            ("work_ms", v)
        }
        1 => {
            let v = match rng.random_range(0..4) {
                0 => format!("-{}", rng.random_range(1..1000)),
                1 => format!("1.{:06}1", rng.random_range(0..1_000_000)),
                2 => format!("{}e{}", rng.random_range(2..9), rng.random_range(1..300)),
                _ => "-1e-9".to_owned(),
            };
            ("fail_rate", v)
        }
        _ => {
            let v = match rng.random_range(0..3) {
                0 => "0".to_owned(),
                1 => rng.random_range(MAX_ATTEMPTS + 1..=100).to_string(),
                _ => rng.random_range(1_u64 << 32..=u64::MAX).to_string(),
            };
            ("max_attempts", v)
        }
    };
    with_field(rng, field, &value)
}

/// A valid job whose payload is nested arrays or objects, 1 to 40,000 levels deep.
pub(super) fn nesting(rng: &mut SmallRng) -> Made {
    // serde_json's recursion limit is 128 (the payload is one level
    // inside the job): a third well within it, a third just past it,
    // a third far past it (and past --max-body, some of them).
    let depth = match rng.random_range(0..3) {
        0 => rng.random_range(1..=140),
        1 => rng.random_range(120..=1_000),
        _ => rng.random_range(1_000..=40_000),
    };
    let objects = rng.random_bool(0.5);
    let (open, close) = if objects {
        ("{\"k\":", "}")
    } else {
        ("[", "]")
    };
    let payload = format!("{}1{}", open.repeat(depth), close.repeat(depth));
    let mut fields = valid_fields(rng);
    replace(&mut fields, "payload", payload);
    let body = render(&fields);
    let shape = if objects { "objects" } else { "arrays" };
    json_post(
        &format!("{depth} nested {shape}"),
        "application/json",
        &body,
    )
}

/// Invalid UTF-8 or a bad escape in a string, in a key, or between tokens.
pub(super) fn invalid_utf8(rng: &mut SmallRng) -> Made {
    const BAD: &[&[u8]] = &[
        b"\xff",
        b"\xfe\xfe",
        b"\xc0\x80",
        b"\xed\xa0\x80",
        b"\x80",
        b"\xe2\x82",
        b"\xf4\x90\x80\x80",
        b"\\ud800",
        b"\\udc00x",
        b"\\ud83d\\ude00",
        b"\\u12",
        b"\\q",
    ];
    let bad = *BAD.choose(rng).unwrap_or(&BAD[0]);
    let fields = valid_fields(rng);
    let body = render(&fields);
    // Inside the payload string, inside a key, or between tokens.
    let (body, place) = match rng.random_range(0..3) {
        0 => {
            let mut s = b"{\"payload\": \"ab".to_vec();
            s.extend_from_slice(bad);
            s.extend_from_slice(b"cd\"}");
            (s, "in a string")
        }
        1 => {
            let mut s = b"{\"pay".to_vec();
            s.extend_from_slice(bad);
            s.extend_from_slice(b"load\": 1}");
            (s, "in a key")
        }
        _ => {
            let mut s = body;
            s.insert(0, b' ');
            let at = s.len() - 1;
            s.splice(at..at, bad.iter().copied());
            (s, "between tokens")
        }
    };
    let what = format!("{} {place}", String::from_utf8_lossy(bad).escape_debug());
    json_post(&what, "application/json", &body)
}

/// The valid job with `field` set to the raw JSON `value`.
pub(super) fn with_field(rng: &mut SmallRng, field: &str, value: &str) -> Made {
    let mut fields = valid_fields(rng);
    replace(&mut fields, field, value.to_owned());
    let body = render(&fields);
    json_post(&format!("{field:?}: {value}"), "application/json", &body)
}

/// `POST /jobs` of `body` under `content_type`, with the oracle's answer.
pub(super) fn json_post(what: &str, content_type: &str, body: &[u8]) -> Made {
    let raw = request(
        "POST",
        "/jobs",
        &[("content-type", content_type.as_bytes())],
        body,
        true,
    );
    (what.to_owned(), raw, false, vec![for_body(body)])
}
