//! The framing classes: a valid job in a damaged request: a body shorter
//! than its length or past `--max-body`, content types, header floods and
//! huge values, two lengths, wrong methods and paths.

use rand::Rng as _;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom as _;

use super::body::json_post;
use super::generate::Made;
use super::oracle::{MAX_BODY, MAX_HEADERS, Want, for_body};
use super::parts::{request, token, valid_body};

/// Content types axum's JSON extractor takes, and ones it refuses.
pub(super) const JSON_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    "application/problem+json",
    "application/vnd.evenkeel.job+json",
];
const OTHER_TYPES: &[&str] = &[
    "",
    "text/plain",
    "text/json",
    "json",
    "application/",
    "application/jsonx",
    "application/json-seq",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "*/*",
    "application/json/x",
    "application/json; charset",
];

/// A valid job under no content type, a listed one, or a random non-JSON one.
pub(super) fn content_type(rng: &mut SmallRng) -> Made {
    let body = valid_body(rng);
    if rng.random_bool(0.2) {
        let raw = request("POST", "/jobs", &[], &body, true);
        return (
            "no content type".into(),
            raw,
            false,
            vec![Want::Error(415, "unsupported_media_type")],
        );
    }
    let (ct, want) = if rng.random_bool(0.3) {
        let ct = *JSON_TYPES.choose(rng).unwrap_or(&JSON_TYPES[0]);
        (ct.to_owned(), for_body(&body))
    } else if rng.random_bool(0.5) {
        let ct = *OTHER_TYPES.choose(rng).unwrap_or(&"text/plain");
        (ct.to_owned(), Want::Error(415, "unsupported_media_type"))
    } else {
        // A random type that is not `application`.
        let ct = format!("x{}/{}", token(rng, 8), token(rng, 8));
        (ct, Want::Error(415, "unsupported_media_type"))
    };
    let raw = request(
        "POST",
        "/jobs",
        &[("content-type", ct.as_bytes())],
        &body,
        true,
    );
    (format!("content-type {ct:?}"), raw, false, vec![want])
}

/// A valid job with a few extra headers, or more than hyper takes.
pub(super) fn header_flood(rng: &mut SmallRng) -> Made {
    let n = if rng.random_bool(0.5) {
        rng.random_range(1..=MAX_HEADERS - 20)
    } else {
        rng.random_range(MAX_HEADERS + 10..=3000)
    };
    let body = valid_body(rng);
    let values: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| (format!("x-flood-{i}"), token(rng, 16).into_bytes()))
        .collect();
    let mut headers: Vec<(&str, &[u8])> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    headers.push(("content-type", b"application/json"));
    // host, connection, content-length, content-type, the flood.
    let want = if n + 4 > MAX_HEADERS {
        Want::Protocol(431)
    } else {
        for_body(&body)
    };
    let raw = request("POST", "/jobs", &headers, &body, true);
    (format!("{n} extra headers"), raw, false, vec![want])
}

/// A body shorter than its `content-length`; the client then waits or closes its side.
pub(super) fn short_body(rng: &mut SmallRng) -> Made {
    let body = valid_body(rng);
    let sent = rng.random_range(0..body.len());
    let half_close = rng.random_bool(0.5);
    let mut raw = request(
        "POST",
        "/jobs",
        &[
            ("content-type", b"application/json"),
            ("content-length", body.len().to_string().as_bytes()),
        ],
        &[],
        false,
    );
    raw.extend_from_slice(&body[..sent]);
    let (how, want) = if half_close {
        ("then closes", Want::Error(400, "bad_request"))
    } else {
        ("then waits", Want::Error(408, "body_timeout"))
    };
    let what = format!("{sent} of {} bytes, {how}", body.len());
    (what, raw, half_close, vec![want])
}

/// A body around or past `--max-body`, with a length or chunked.
pub(super) fn oversized(rng: &mut SmallRng) -> Made {
    let target = if rng.random_bool(0.5) {
        rng.random_range(MAX_BODY - 8..=MAX_BODY + 8)
    } else {
        rng.random_range(MAX_BODY + 1..=4 * MAX_BODY)
    };
    let frame = b"{\"payload\":\"\",\"work_ms\":1}".len();
    let body = format!(
        "{{\"payload\":\"{}\",\"work_ms\":1}}",
        "x".repeat(target - frame)
    );
    let want = for_body(body.as_bytes());
    if rng.random_bool(0.5) {
        let headers: [(&str, &[u8]); 2] = [
            ("content-type", b"application/json"),
            ("transfer-encoding", b"chunked"),
        ];
        let mut raw = request("POST", "/jobs", &headers, &[], false);
        for chunk in body.as_bytes().chunks(rng.random_range(1000..=20_000)) {
            raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            raw.extend_from_slice(chunk);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        (format!("{target} bytes, chunked"), raw, false, vec![want])
    } else {
        json_post(
            &format!("{target} bytes"),
            "application/json",
            body.as_bytes(),
        )
    }
}

/// A header value of up to 48 KiB, of 0.6 to 2 MiB, or an `Idempotency-Key` of 16 to 600 characters.
pub(super) fn huge_header(rng: &mut SmallRng) -> Made {
    let body = valid_body(rng);
    let (name, size, want) = match rng.random_range(0..3) {
        0 => {
            let size = rng.random_range(1..=48 * 1024);
            ("x-large", size, for_body(&body))
        }
        1 => {
            let size = rng.random_range(600 * 1024..=2 * 1024 * 1024);
            ("x-huge", size, Want::Protocol(431))
        }
        _ => {
            // The demo's bound on an idempotency key is 255 characters.
            let size = rng.random_range(16..=600);
            let want = if size > 255 {
                Want::Error(422, "invalid_job")
            } else {
                for_body(&body)
            };
            ("idempotency-key", size, want)
        }
    };
    let value = token(rng, size);
    let headers: [(&str, &[u8]); 2] = [
        ("content-type", b"application/json"),
        (name, value.as_bytes()),
    ];
    let raw = request("POST", "/jobs", &headers, &body, true);
    (format!("{name} of {size} bytes"), raw, false, vec![want])
}

/// `content-length` twice (the same, or different) or not a number.
pub(super) fn duplicate_length(rng: &mut SmallRng) -> Made {
    let body = valid_body(rng);
    let len = body.len().to_string();
    let (what, lengths, want) = match rng.random_range(0..3) {
        0 => (
            "the same length twice",
            vec![len.clone(), len],
            for_body(&body),
        ),
        1 => {
            let other = (body.len() + rng.random_range(1..50)).to_string();
            (
                "two different lengths",
                vec![len, other],
                Want::Protocol(400),
            )
        }
        _ => {
            let bad = ["abc", "-1", "99999999999999999999999", "0x10", "1.5"];
            let bad = *bad.choose(rng).unwrap_or(&"abc");
            (
                "a length that is not a number",
                vec![bad.to_owned()],
                Want::Protocol(400),
            )
        }
    };
    let mut headers: Vec<(&str, &[u8])> = vec![("content-type", b"application/json")];
    headers.extend(lengths.iter().map(|l| ("content-length", l.as_bytes())));
    let raw = request("POST", "/jobs", &headers, &body, false);
    (what.to_owned(), raw, false, vec![want])
}

/// A wrong method on `/jobs`, an unknown route, an unknown job id, or a method hyper cannot parse.
pub(super) fn method_path(rng: &mut SmallRng) -> Made {
    const METHODS: &[&str] = &["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "FROB"];
    const NOT_ROUTES: &[&str] = &["/jobz", "/JOBS", "/jobs/", "/", "/jobs/1/2", "/healthz/x"];
    let (method, path, want) = match rng.random_range(0..4) {
        0 => {
            let m = *METHODS.choose(rng).unwrap_or(&"PUT");
            (
                m.to_owned(),
                "/jobs".to_owned(),
                Want::Error(405, "method_not_allowed"),
            )
        }
        1 => {
            let p = if rng.random_bool(0.5) {
                (*NOT_ROUTES.choose(rng).unwrap_or(&"/x")).to_owned()
            } else {
                format!("/{}", token(rng, 20))
            };
            ("GET".to_owned(), p, Want::Error(404, "not_found"))
        }
        2 => {
            let n = rng.random_range(1..=40);
            let id = token(rng, n);
            (
                "GET".to_owned(),
                format!("/jobs/{id}"),
                Want::Error(404, "unknown_job"),
            )
        }
        _ => {
            let m = ["GE T", "G\x01T", "(GET)", "GET\x7f"];
            let m = *m.choose(rng).unwrap_or(&"GE T");
            (m.to_owned(), "/jobs".to_owned(), Want::Protocol(400))
        }
    };
    let body = valid_body(rng);
    let raw = request(
        &method,
        &path,
        &[("content-type", b"application/json")],
        &body,
        true,
    );
    (format!("{method:?} {path}"), raw, false, vec![want])
}
