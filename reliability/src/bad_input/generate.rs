//! The bad-input generator: seeded mutations of valid job requests, one
//! class of damage per case, each with the answers the demo documents for
//! it.
//!
//! Case `i` of seed `s` is made by a `SmallRng` seeded from `(s, i)` alone,
//! so any case is rebuilt from its seed and index; its class is
//! `CLASSES[i % CLASSES.len()]`, so every class gets its share. A case
//! starts from a valid job (fields in random order, random payload, random
//! whitespace) and damages it: the body (byte flips, truncation, wrong
//! types, numbers out of range, unknown fields, nesting, invalid UTF-8), its
//! framing (a body shorter than its `content-length`, too large, chunked,
//! two lengths), its headers (content type, floods, huge values) or its
//! request line (method, path). Damage that leaves a valid job (a flip of
//! one digit, a `null` for an optional field) is expected to get a 202:
//! the oracle decides, not the class.

use rand::rngs::SmallRng;
use rand::seq::{IndexedRandom as _, SliceRandom as _};
use rand::{Rng as _, SeedableRng as _};

use super::oracle::{FIELDS, MAX_ATTEMPTS, MAX_BODY, MAX_HEADERS, MAX_WORK_MS, Want, for_body};

/// What was done to a valid request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Class {
    Valid,
    ByteFlip,
    TruncatedJson,
    ShortBody,
    TypeSwap,
    OutOfRange,
    UnknownField,
    Nesting,
    InvalidUtf8,
    ContentType,
    Oversized,
    HeaderFlood,
    HugeHeader,
    DuplicateLength,
    MethodPath,
}

/// Every class, in the order cases cycle through them.
pub(crate) const CLASSES: [Class; 15] = [
    Class::Valid,
    Class::ByteFlip,
    Class::TruncatedJson,
    Class::ShortBody,
    Class::TypeSwap,
    Class::OutOfRange,
    Class::UnknownField,
    Class::Nesting,
    Class::InvalidUtf8,
    Class::ContentType,
    Class::Oversized,
    Class::HeaderFlood,
    Class::HugeHeader,
    Class::DuplicateLength,
    Class::MethodPath,
];

impl Class {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Class::Valid => "valid jobs, reshuffled",
            Class::ByteFlip => "byte flips",
            Class::TruncatedJson => "truncated JSON",
            Class::ShortBody => "body shorter than its content-length",
            Class::TypeSwap => "wrong types",
            Class::OutOfRange => "numbers out of range",
            Class::UnknownField => "unknown fields",
            Class::Nesting => "nesting (1 to 40 000 levels)",
            Class::InvalidUtf8 => "invalid UTF-8 and bad escapes",
            Class::ContentType => "content types",
            Class::Oversized => "bodies around and past --max-body",
            Class::HeaderFlood => "header floods",
            Class::HugeHeader => "huge header values",
            Class::DuplicateLength => "duplicated or bad content-length",
            Class::MethodPath => "methods and paths",
        }
    }
}

/// One generated request and what it must get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Generated {
    pub(crate) class: Class,
    /// A few words on the damage, for a failure message.
    pub(crate) what: String,
    pub(crate) raw: Vec<u8>,
    /// Close the sending half after the request.
    pub(crate) half_close: bool,
    /// The acceptable answers.
    pub(crate) want: Vec<Want>,
}

/// Case `index` of `seed`.
pub(crate) fn case(seed: u64, index: u64) -> Generated {
    let mut rng = SmallRng::seed_from_u64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let len = CLASSES.len() as u64;
    // The index modulo the number of classes is below it.
    #[allow(clippy::cast_possible_truncation)]
    let class = CLASSES[(index % len) as usize];
    let mut g = Gen { rng: &mut rng };
    let (what, raw, half_close, want) = g.make(class);
    Generated {
        class,
        what,
        raw,
        half_close,
        want,
    }
}

type Made = (String, Vec<u8>, bool, Vec<Want>);

struct Gen<'a> {
    rng: &'a mut SmallRng,
}

/// Content types axum's JSON extractor takes, and ones it refuses.
const JSON_TYPES: &[&str] = &[
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

impl Gen<'_> {
    fn make(&mut self, class: Class) -> Made {
        match class {
            Class::Valid => {
                let mut fields = self.valid_fields();
                if self.rng.random_bool(0.3) {
                    // A repeated key: the last one counts.
                    fields.insert(0, ("payload".into(), "\"first\"".into()));
                }
                let ct = *JSON_TYPES.choose(self.rng).unwrap_or(&JSON_TYPES[0]);
                let body = render(&fields);
                self.json_post("valid", ct, &body)
            }
            Class::ByteFlip => {
                let mut body = self.valid_body();
                let flips = self.rng.random_range(1..=3);
                for _ in 0..flips {
                    let at = self.rng.random_range(0..body.len());
                    body[at] = self.rng.random();
                }
                self.json_post(&format!("{flips} flipped bytes"), "application/json", &body)
            }
            Class::TruncatedJson => {
                let mut body = self.valid_body();
                let cut = self.rng.random_range(0..body.len());
                body.truncate(cut);
                self.json_post(&format!("cut at {cut}"), "application/json", &body)
            }
            Class::ShortBody => self.short_body(),
            Class::TypeSwap => {
                const VALUES: &[&str] = &[
                    "\"text\"", "\"5\"", "true", "false", "[]", "[1,2]", "{}", "{\"a\":1}",
                    "2.5", "-3", "null", "1e2", "0.5",
                ];
                let field = *FIELDS.choose(self.rng).unwrap_or(&"work_ms");
                let value = *VALUES.choose(self.rng).unwrap_or(&"true");
                self.with_field(field, value.to_owned())
            }
            Class::OutOfRange => self.out_of_range(),
            Class::UnknownField => {
                const KEYS: &[&str] = &[
                    "fail_rte", "Work_ms", "PAYLOAD", "payload ", "", "\u{0}", "id", "état",
                ];
                let key = if self.rng.random_bool(0.5) {
                    (*KEYS.choose(self.rng).unwrap_or(&"x")).to_owned()
                } else {
                    self.text(12)
                };
                let value = self.payload(1);
                self.with_field(&key, value)
            }
            Class::Nesting => self.nesting(),
            Class::InvalidUtf8 => self.invalid_utf8(),
            Class::ContentType => {
                let body = self.valid_body();
                if self.rng.random_bool(0.2) {
                    let raw = request("POST", "/jobs", &[], &body, true);
                    return ("no content type".into(), raw, false, vec![Want::Error(415, "unsupported_media_type")]);
                }
                let (ct, want) = if self.rng.random_bool(0.3) {
                    let ct = *JSON_TYPES.choose(self.rng).unwrap_or(&JSON_TYPES[0]);
                    (ct.to_owned(), for_body(&body))
                } else if self.rng.random_bool(0.5) {
                    let ct = *OTHER_TYPES.choose(self.rng).unwrap_or(&"text/plain");
                    (ct.to_owned(), Want::Error(415, "unsupported_media_type"))
                } else {
                    // A random type that is not `application`.
                    let ct = format!("x{}/{}", self.token(8), self.token(8));
                    (ct, Want::Error(415, "unsupported_media_type"))
                };
                let raw = request("POST", "/jobs", &[("content-type", ct.as_bytes())], &body, true);
                (format!("content-type {ct:?}"), raw, false, vec![want])
            }
            Class::Oversized => self.oversized(),
            Class::HeaderFlood => {
                let n = if self.rng.random_bool(0.5) {
                    self.rng.random_range(1..=MAX_HEADERS - 20)
                } else {
                    self.rng.random_range(MAX_HEADERS + 10..=3000)
                };
                let body = self.valid_body();
                let values: Vec<(String, Vec<u8>)> = (0..n)
                    .map(|i| (format!("x-flood-{i}"), self.token(16).into_bytes()))
                    .collect();
                let mut headers: Vec<(&str, &[u8])> =
                    values.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
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
            Class::HugeHeader => self.huge_header(),
            Class::DuplicateLength => self.duplicate_length(),
            Class::MethodPath => self.method_path(),
        }
    }

    fn short_body(&mut self) -> Made {
        let body = self.valid_body();
        let sent = self.rng.random_range(0..body.len());
        let half_close = self.rng.random_bool(0.5);
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

    fn out_of_range(&mut self) -> Made {
        let (field, value) = match self.rng.random_range(0..3) {
            0 => {
                let v = match self.rng.random_range(0..5) {
                    0 => (MAX_WORK_MS + 1).to_string(),
                    1 => self.rng.random_range(MAX_WORK_MS + 1..=u64::MAX).to_string(),
                    2 => "18446744073709551616".to_owned(),
                    3 => format!("-{}", self.rng.random_range(1..=u64::MAX / 2)),
                    _ => "1e400".to_owned(),
                };
                ("work_ms", v)
            }
            1 => {
                let v = match self.rng.random_range(0..4) {
                    0 => format!("-{}", self.rng.random_range(1..1000)),
                    1 => format!("1.{:06}1", self.rng.random_range(0..1_000_000)),
                    2 => format!("{}e{}", self.rng.random_range(2..9), self.rng.random_range(1..300)),
                    _ => "-1e-9".to_owned(),
                };
                ("fail_rate", v)
            }
            _ => {
                let v = match self.rng.random_range(0..3) {
                    0 => "0".to_owned(),
                    1 => self.rng.random_range(MAX_ATTEMPTS + 1..=100).to_string(),
                    _ => self.rng.random_range(1_u64 << 32..=u64::MAX).to_string(),
                };
                ("max_attempts", v)
            }
        };
        self.with_field(field, value)
    }

    fn nesting(&mut self) -> Made {
        // serde_json's recursion limit is 128 (the payload is one level
        // inside the job): a third well within it, a third just past it,
        // a third far past it (and past --max-body, some of them).
        let depth = match self.rng.random_range(0..3) {
            0 => self.rng.random_range(1..=140),
            1 => self.rng.random_range(120..=1_000),
            _ => self.rng.random_range(1_000..=40_000),
        };
        let objects = self.rng.random_bool(0.5);
        let (open, close) = if objects { ("{\"k\":", "}") } else { ("[", "]") };
        let payload = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        let mut fields = self.valid_fields();
        replace(&mut fields, "payload", payload);
        let body = render(&fields);
        let shape = if objects { "objects" } else { "arrays" };
        self.json_post(&format!("{depth} nested {shape}"), "application/json", &body)
    }

    fn invalid_utf8(&mut self) -> Made {
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
        let bad = *BAD.choose(self.rng).unwrap_or(&BAD[0]);
        let fields = self.valid_fields();
        let body = render(&fields);
        // Inside the payload string, inside a key, or between tokens.
        let (body, place) = match self.rng.random_range(0..3) {
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
        self.json_post(&what, "application/json", &body)
    }

    fn oversized(&mut self) -> Made {
        let target = if self.rng.random_bool(0.5) {
            self.rng.random_range(MAX_BODY - 8..=MAX_BODY + 8)
        } else {
            self.rng.random_range(MAX_BODY + 1..=4 * MAX_BODY)
        };
        let frame = b"{\"payload\":\"\",\"work_ms\":1}".len();
        let body = format!("{{\"payload\":\"{}\",\"work_ms\":1}}", "x".repeat(target - frame));
        let want = for_body(body.as_bytes());
        if self.rng.random_bool(0.5) {
            let headers: [(&str, &[u8]); 2] = [
                ("content-type", b"application/json"),
                ("transfer-encoding", b"chunked"),
            ];
            let mut raw = request("POST", "/jobs", &headers, &[], false);
            for chunk in body.as_bytes().chunks(self.rng.random_range(1000..=20_000)) {
                raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                raw.extend_from_slice(chunk);
                raw.extend_from_slice(b"\r\n");
            }
            raw.extend_from_slice(b"0\r\n\r\n");
            (format!("{target} bytes, chunked"), raw, false, vec![want])
        } else {
            self.json_post(&format!("{target} bytes"), "application/json", body.as_bytes())
        }
    }

    fn huge_header(&mut self) -> Made {
        let body = self.valid_body();
        let (name, size, want) = match self.rng.random_range(0..3) {
            0 => {
                let size = self.rng.random_range(1..=48 * 1024);
                ("x-large", size, for_body(&body))
            }
            1 => {
                let size = self.rng.random_range(600 * 1024..=2 * 1024 * 1024);
                ("x-huge", size, Want::Protocol(431))
            }
            _ => {
                // The demo's bound on an idempotency key is 255 characters.
                let size = self.rng.random_range(16..=600);
                let want = if size > 255 {
                    Want::Error(422, "invalid_job")
                } else {
                    for_body(&body)
                };
                ("idempotency-key", size, want)
            }
        };
        let value = self.token(size);
        let headers: [(&str, &[u8]); 2] =
            [("content-type", b"application/json"), (name, value.as_bytes())];
        let raw = request("POST", "/jobs", &headers, &body, true);
        (format!("{name} of {size} bytes"), raw, false, vec![want])
    }

    fn duplicate_length(&mut self) -> Made {
        let body = self.valid_body();
        let len = body.len().to_string();
        let (what, lengths, want) = match self.rng.random_range(0..3) {
            0 => ("the same length twice", vec![len.clone(), len], for_body(&body)),
            1 => {
                let other = (body.len() + self.rng.random_range(1..50)).to_string();
                ("two different lengths", vec![len, other], Want::Protocol(400))
            }
            _ => {
                let bad = ["abc", "-1", "99999999999999999999999", "0x10", "1.5"];
                let bad = *bad.choose(self.rng).unwrap_or(&"abc");
                ("a length that is not a number", vec![bad.to_owned()], Want::Protocol(400))
            }
        };
        let mut headers: Vec<(&str, &[u8])> = vec![("content-type", b"application/json")];
        headers.extend(lengths.iter().map(|l| ("content-length", l.as_bytes())));
        let raw = request("POST", "/jobs", &headers, &body, false);
        (what.to_owned(), raw, false, vec![want])
    }

    fn method_path(&mut self) -> Made {
        const METHODS: &[&str] = &["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "FROB"];
        const NOT_ROUTES: &[&str] = &["/jobz", "/JOBS", "/jobs/", "/", "/jobs/1/2", "/healthz/x"];
        let (method, path, want) = match self.rng.random_range(0..4) {
            0 => {
                let m = *METHODS.choose(self.rng).unwrap_or(&"PUT");
                (m.to_owned(), "/jobs".to_owned(), Want::Error(405, "method_not_allowed"))
            }
            1 => {
                let p = if self.rng.random_bool(0.5) {
                    (*NOT_ROUTES.choose(self.rng).unwrap_or(&"/x")).to_owned()
                } else {
                    format!("/{}", self.token(20))
                };
                ("GET".to_owned(), p, Want::Error(404, "not_found"))
            }
            2 => {
                let n = self.rng.random_range(1..=40);
                let id = self.token(n);
                ("GET".to_owned(), format!("/jobs/{id}"), Want::Error(404, "unknown_job"))
            }
            _ => {
                let m = ["GE T", "G\x01T", "(GET)", "GET\x7f"];
                let m = *m.choose(self.rng).unwrap_or(&"GE T");
                (m.to_owned(), "/jobs".to_owned(), Want::Protocol(400))
            }
        };
        let body = self.valid_body();
        let raw = request(&method, &path, &[("content-type", b"application/json")], &body, true);
        (format!("{method:?} {path}"), raw, false, vec![want])
    }

    /// The valid job with `field` set to the raw JSON `value`.
    fn with_field(&mut self, field: &str, value: String) -> Made {
        let mut fields = self.valid_fields();
        replace(&mut fields, field, value.clone());
        let body = render(&fields);
        self.json_post(&format!("{field:?}: {value}"), "application/json", &body)
    }

    fn json_post(&mut self, what: &str, content_type: &str, body: &[u8]) -> Made {
        let raw = request("POST", "/jobs", &[("content-type", content_type.as_bytes())], body, true);
        (what.to_owned(), raw, false, vec![for_body(body)])
    }

    /// A valid job's fields as (key, raw JSON value), in random order.
    fn valid_fields(&mut self) -> Vec<(String, String)> {
        let mut fields = vec![("payload".to_owned(), self.payload(0))];
        let mut maybe = |rng: &mut SmallRng, key: &str, value: String| {
            if rng.random_bool(0.4) {
                fields.push((key.to_owned(), value));
            }
        };
        let work = self.rng.random_range(0..=5_u32).to_string();
        maybe(self.rng, "work_ms", work);
        let rate = *["0", "0.0", "0.1", "null"].choose(self.rng).unwrap_or(&"0");
        maybe(self.rng, "fail_rate", rate.to_owned());
        maybe(self.rng, "downstream", "false".to_owned());
        let panic = *["false", "true", "null"].choose(self.rng).unwrap_or(&"false");
        maybe(self.rng, "panic", panic.to_owned());
        let attempts = self.rng.random_range(1..=MAX_ATTEMPTS).to_string();
        maybe(self.rng, "max_attempts", attempts);
        fields.shuffle(self.rng);
        fields
    }

    fn valid_body(&mut self) -> Vec<u8> {
        let fields = self.valid_fields();
        render(&fields)
    }

}

/// `{"k": v, ...}`, with varied whitespace.
fn render(fields: &[(String, String)]) -> Vec<u8> {
        let mut out = String::from("{");
        for (i, (key, value)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let space = [" ", "", "\n", "\t"][i % 4];
            // A `String` always serializes.
            let key = serde_json::to_string(key).unwrap_or_default();
            out.push_str(&format!("{space}{key}:{space}{value}"));
        }
        out.push('}');
        out.into_bytes()
}

impl Gen<'_> {
    /// A random JSON value, at most three levels deep.
    fn payload(&mut self, depth: u32) -> String {
        let pick = self.rng.random_range(0..if depth < 3 { 8 } else { 6 });
        match pick {
            0 => "null".to_owned(),
            1 => self.rng.random_bool(0.5).to_string(),
            2 => self.rng.random::<i64>().to_string(),
            3 => format!("{:e}", self.rng.random::<f64>() * 1e10),
            4 | 5 => {
                let n = self.rng.random_range(0..24);
                serde_json::to_string(&self.text(n)).unwrap_or_default()
            }
            6 => {
                let n = self.rng.random_range(0..4);
                let items: Vec<String> = (0..n).map(|_| self.payload(depth + 1)).collect();
                format!("[{}]", items.join(","))
            }
            _ => {
                let n = self.rng.random_range(0..4);
                let items: Vec<String> = (0..n)
                    .map(|i| format!("\"k{i}\":{}", self.payload(depth + 1)))
                    .collect();
                format!("{{{}}}", items.join(","))
            }
        }
    }

    /// Random text, some of it outside ASCII or in need of escaping.
    fn text(&mut self, n: usize) -> String {
        const CHARS: &[char] = &['a', 'z', 'Q', '0', ' ', '"', '\\', '\n', '\u{0}', 'é', 'ß', '😀', '\u{fffd}', '/'];
        (0..n).map(|_| *CHARS.choose(self.rng).unwrap_or(&'a')).collect()
    }

    /// Random letters and digits (a header value, a path segment).
    fn token(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(*b"abcdefghijklmnopqrstuvwxyz0123456789".choose(self.rng).unwrap_or(&b'a')))
            .collect()
    }
}

/// Sets `key` in `fields` (in place, or appended).
fn replace(fields: &mut Vec<(String, String)>, key: &str, value: String) {
    match fields.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => fields.push((key.to_owned(), value)),
    }
}

/// A raw HTTP/1.1 request: the request line, `host` and `connection:
/// close`, `headers`, a `content-length` when `with_length`, then `body`.
fn request(method: &str, path: &str, headers: &[(&str, &[u8])], body: &[u8], with_length: bool) -> Vec<u8> {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nhost: reliability\r\nconnection: close\r\n").into_bytes();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The same seed and index give the same case; another seed another.
    #[test]
    fn cases_are_reproducible() {
        for index in 0..60 {
            assert_eq!(case(7, index), case(7, index));
        }
        let differ = (0..60).filter(|&i| case(7, i).raw != case(8, i).raw).count();
        assert!(differ > 50, "only {differ} of 60 cases differ between seeds");
    }

    /// A few hundred cases cover every class, with both refusals and
    /// valid jobs among them.
    #[test]
    fn every_class_is_produced() {
        let cases: Vec<Generated> = (0..300).map(|i| case(42, i)).collect();
        for class in CLASSES {
            assert!(cases.iter().filter(|c| c.class == class).count() >= 20, "{class:?}");
        }
        let accepted = cases.iter().filter(|c| c.want == [Want::Accepted]).count();
        assert!(accepted >= 20, "{accepted} valid jobs");
        for status in [400, 404, 405, 408, 413, 415, 422, 431] {
            assert!(cases.iter().any(|c| c.want.iter().any(|w| w.status() == status)), "{status}");
        }
    }
}
