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

use rand::SeedableRng as _;
use rand::rngs::SmallRng;

use super::body::{
    byte_flip, invalid_utf8, nesting, out_of_range, truncated, type_swap, unknown_field, valid,
};
use super::framing::{
    content_type, duplicate_length, header_flood, huge_header, method_path, oversized, short_body,
};
use super::oracle::Want;

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
    let (what, raw, half_close, want) = make(&mut rng, class);
    Generated {
        class,
        what,
        raw,
        half_close,
        want,
    }
}

/// A case: what was done, the raw request, whether to close the sending
/// half after it, and the acceptable answers.
pub(super) type Made = (String, Vec<u8>, bool, Vec<Want>);

fn make(rng: &mut SmallRng, class: Class) -> Made {
    match class {
        Class::Valid => valid(rng),
        Class::ByteFlip => byte_flip(rng),
        Class::TruncatedJson => truncated(rng),
        Class::ShortBody => short_body(rng),
        Class::TypeSwap => type_swap(rng),
        Class::OutOfRange => out_of_range(rng),
        Class::UnknownField => unknown_field(rng),
        Class::Nesting => nesting(rng),
        Class::InvalidUtf8 => invalid_utf8(rng),
        Class::ContentType => content_type(rng),
        Class::Oversized => oversized(rng),
        Class::HeaderFlood => header_flood(rng),
        Class::HugeHeader => huge_header(rng),
        Class::DuplicateLength => duplicate_length(rng),
        Class::MethodPath => method_path(rng),
    }
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
        let differ = (0..60)
            .filter(|&i| case(7, i).raw != case(8, i).raw)
            .count();
        assert!(
            differ > 50,
            "only {differ} of 60 cases differ between seeds"
        );
    }

    /// A few hundred cases cover every class, with both refusals and
    /// valid jobs among them.
    #[test]
    fn every_class_is_produced() {
        let cases: Vec<Generated> = (0..300).map(|i| case(42, i)).collect();
        for class in CLASSES {
            assert!(
                cases.iter().filter(|c| c.class == class).count() >= 20,
                "{class:?}"
            );
        }
        let accepted = cases.iter().filter(|c| c.want == [Want::Accepted]).count();
        assert!(accepted >= 20, "{accepted} valid jobs");
        for status in [400, 404, 405, 408, 413, 415, 422, 431] {
            assert!(
                cases
                    .iter()
                    .any(|c| c.want.iter().any(|w| w.status() == status)),
                "{status}"
            );
        }
    }
}
