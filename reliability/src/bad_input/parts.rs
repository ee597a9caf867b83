//! The pieces the generator damages: a valid job request (its fields as
//! raw JSON text, in random order, with a random payload), random text,
//! and a raw HTTP/1.1 request around a body.

use rand::Rng as _;
use rand::rngs::SmallRng;
use rand::seq::{IndexedRandom as _, SliceRandom as _};

use super::oracle::MAX_ATTEMPTS;

/// A valid job's fields as (key, raw JSON value), in random order.
pub(super) fn valid_fields(rng: &mut SmallRng) -> Vec<(String, String)> {
    let mut fields = vec![("payload".to_owned(), payload(rng, 0))];
    let mut maybe = |rng: &mut SmallRng, key: &str, value: String| {
        if rng.random_bool(0.4) {
            fields.push((key.to_owned(), value));
        }
    };
    let work = rng.random_range(0..=5_u32).to_string();
    maybe(rng, "work_ms", work);
    let rate = *["0", "0.0", "0.1", "null"].choose(rng).unwrap_or(&"0");
    maybe(rng, "fail_rate", rate.to_owned());
    maybe(rng, "downstream", "false".to_owned());
    let panic = *["false", "true", "null"].choose(rng).unwrap_or(&"false");
    maybe(rng, "panic", panic.to_owned());
    let attempts = rng.random_range(1..=MAX_ATTEMPTS).to_string();
    maybe(rng, "max_attempts", attempts);
    fields.shuffle(rng);
    fields
}

pub(super) fn valid_body(rng: &mut SmallRng) -> Vec<u8> {
    let fields = valid_fields(rng);
    render(&fields)
}

/// `{"k": v, ...}`, with varied whitespace.
pub(super) fn render(fields: &[(String, String)]) -> Vec<u8> {
    let mut out = String::from("{");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let space = [" ", "", "\n", "\t"][i % 4];
        // A `String` always serializes.
        let key = serde_json::to_string(key).unwrap_or_default();
        for piece in [space, &key, ":", space, value] {
            out.push_str(piece);
        }
    }
    out.push('}');
    out.into_bytes()
}

/// A random JSON value, at most three levels deep.
pub(super) fn payload(rng: &mut SmallRng, depth: u32) -> String {
    let pick = rng.random_range(0..if depth < 3 { 8 } else { 6 });
    match pick {
        0 => "null".to_owned(),
        1 => rng.random_bool(0.5).to_string(),
        2 => rng.random::<i64>().to_string(),
        3 => format!("{:e}", rng.random::<f64>() * 1e10),
        4 | 5 => {
            let n = rng.random_range(0..24);
            serde_json::to_string(&text(rng, n)).unwrap_or_default()
        }
        6 => {
            let n = rng.random_range(0..4);
            let items: Vec<String> = (0..n).map(|_| payload(rng, depth + 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            let n = rng.random_range(0..4);
            let items: Vec<String> = (0..n)
                .map(|i| format!("\"k{i}\":{}", payload(rng, depth + 1)))
                .collect();
            format!("{{{}}}", items.join(","))
        }
    }
}

/// Random text, some of it outside ASCII or in need of escaping.
pub(super) fn text(rng: &mut SmallRng, n: usize) -> String {
    const CHARS: &[char] = &[
        'a', 'z', 'Q', '0', ' ', '"', '\\', '\n', '\u{0}', 'é', 'ß', '😀', '\u{fffd}', '/',
    ];
    (0..n).map(|_| *CHARS.choose(rng).unwrap_or(&'a')).collect()
}

/// Random letters and digits (a header value, a path segment).
pub(super) fn token(rng: &mut SmallRng, n: usize) -> String {
    (0..n)
        .map(|_| {
            char::from(
                *b"abcdefghijklmnopqrstuvwxyz0123456789"
                    .choose(rng)
                    .unwrap_or(&b'a'),
            )
        })
        .collect()
}

/// Sets `key` in `fields` (in place, or appended).
pub(super) fn replace(fields: &mut Vec<(String, String)>, key: &str, value: String) {
    match fields.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => fields.push((key.to_owned(), value)),
    }
}

/// A raw HTTP/1.1 request: the request line, `host` and `connection:
/// close`, `headers`, a `content-length` when `with_length`, then `body`.
pub(super) fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
    with_length: bool,
) -> Vec<u8> {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nhost: reliability\r\nconnection: close\r\n")
        .into_bytes();
    for (name, value) in headers {
        raw.extend_from_slice(name.as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(value);
        raw.extend_from_slice(b"\r\n");
    }
    if with_length {
        raw.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(body);
    raw
}
