//! What a job is: its id, the request that submits it, and validation.
//!
//! A client posts a [`JobRequest`]; [`JobRequest::validate`] turns it into a
//! [`JobSpec`] or explains, in one sentence, why the request is well-formed
//! JSON but not a job this server will run (the handler answers 422 with
//! that sentence). The spec is what the server keeps: it sits in the job
//! store verbatim until the job is finished, so that a restarted server
//! runs exactly the job it accepted.
//!
//! Ids are 64 random bits printed as 16 hex digits. Random ids need no
//! coordination between processes, which matters here: a job restored from
//! the job store keeps its id across restarts, and must not collide with ids a new process
//! hands out.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The longest simulated work per attempt a job may ask for.
pub const MAX_WORK_MS: u64 = 60_000;

/// A job id: 64 random bits, shown as 16 lowercase hex digits.
///
/// ```
/// use evenkeel_demo::server::JobId;
///
/// let id = JobId::random();
/// let text = id.to_string();
/// assert_eq!(text.len(), 16);
/// assert_eq!(text.parse::<JobId>(), Ok(id));
/// assert!("not-an-id".parse::<JobId>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(u64);

impl JobId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// The id's 64 bits (how the job store keys it).
    ///
    /// ```
    /// use evenkeel_demo::server::JobId;
    /// let id = JobId::random();
    /// assert_eq!(JobId::from_u64(id.as_u64()), id);
    /// ```
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// The id with these 64 bits.
    pub const fn from_u64(bits: u64) -> Self {
        Self(bits)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for JobId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            u64::from_str_radix(s, 16)
                .map(Self)
                .map_err(|e| e.to_string())
        } else {
            Err(format!("`{s}` is not a job id (16 hex digits)"))
        }
    }
}

impl Serialize for JobId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The body of `POST /jobs`, as the client wrote it.
///
/// Unknown fields are refused, so a typo (`"fail_rte"`) is a 422 rather
/// than a silently ignored option.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// Any JSON value; required (`null` counts as a value).
    pub payload: Value,
    /// Simulated work per attempt, in milliseconds (at most 60 000).
    #[serde(default)]
    pub work_ms: Option<u64>,
    /// Chance, 0 to 1, that an attempt fails transiently.
    #[serde(default)]
    pub fail_rate: Option<f64>,
    /// Whether each attempt calls the downstream service.
    #[serde(default)]
    pub downstream: Option<bool>,
    /// Whether the first attempt panics (to show panic capture and worker
    /// restarts).
    #[serde(default)]
    pub panic: Option<bool>,
    /// Attempts for this job, at most the server's `--max-attempts`.
    #[serde(default)]
    pub max_attempts: Option<u32>,
}

/// A validated job: what the workers run and the job store keeps.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// The client's payload, carried unchanged (sent to the downstream).
    pub payload: Value,
    /// Simulated work per attempt, in milliseconds.
    #[serde(default)]
    pub work_ms: u64,
    /// Chance that an attempt fails transiently.
    #[serde(default)]
    pub fail_rate: f64,
    /// Whether each attempt calls the downstream service.
    #[serde(default)]
    pub downstream: bool,
    /// Whether the first attempt panics.
    #[serde(default)]
    pub panic: bool,
    /// Attempts for this job, the first included.
    pub max_attempts: u32,
}

/// What validation needs to know about the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The server's `--max-attempts`.
    pub max_attempts: u32,
    /// Whether `--downstream` is configured.
    pub has_downstream: bool,
}

impl JobRequest {
    /// Checks the request against `limits` and returns the job to run.
    ///
    /// # Errors
    ///
    /// A sentence saying what is wrong, for a 422 response.
    ///
    /// ```
    /// use evenkeel_demo::server::{JobRequest, Limits};
    ///
    /// let limits = Limits { max_attempts: 3, has_downstream: false };
    /// let ok: JobRequest = serde_json::from_str(r#"{"payload": 1, "work_ms": 5}"#).unwrap();
    /// assert_eq!(ok.validate(limits).unwrap().max_attempts, 3);
    ///
    /// let bad: JobRequest = serde_json::from_str(r#"{"payload": 1, "fail_rate": 2}"#).unwrap();
    /// assert!(bad.validate(limits).is_err());
    /// ```
    pub fn validate(self, limits: Limits) -> Result<JobSpec, String> {
        let work_ms = self.work_ms.unwrap_or(0);
        if work_ms > MAX_WORK_MS {
            return Err(format!(
                "work_ms must be at most {MAX_WORK_MS}, got {work_ms}"
            ));
        }
        let fail_rate = self.fail_rate.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&fail_rate) {
            return Err(format!(
                "fail_rate must be between 0 and 1, got {fail_rate}"
            ));
        }
        let downstream = self.downstream.unwrap_or(false);
        if downstream && !limits.has_downstream {
            return Err(
                "downstream is true but this server has no --downstream configured".to_owned(),
            );
        }
        let max_attempts = self.max_attempts.unwrap_or(limits.max_attempts);
        if max_attempts == 0 || max_attempts > limits.max_attempts {
            return Err(format!(
                "max_attempts must be between 1 and {}, got {max_attempts}",
                limits.max_attempts
            ));
        }
        Ok(JobSpec {
            payload: self.payload,
            work_ms,
            fail_rate,
            downstream,
            panic: self.panic.unwrap_or(false),
            max_attempts,
        })
    }
}
