//! The arithmetic behind "lost = 0": checking every accepted id.
//!
//! The server keeps its own books and prints them just before it exits (the
//! final accounting record: `accepted`, `succeeded`, `dead`, `remaining`,
//! …). The story does not take those totals on trust. The load generator
//! knows the id of every job that got a `202`; the story has watched job
//! states through `GET /jobs/{id}` up to the server's exit; and once the
//! server is gone the story opens the job store it left behind and looks up
//! every id it has not seen finish. [`reconcile`] puts the three together:
//! an accepted id that finished (`succeeded` or `dead`) or waits in the
//! store for the next start is accounted for, and any other accepted id is
//! **lost**. The server's own totals are then compared with the story's.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;

use serde::Serialize;

/// The final accounting record the server prints before it exits.
///
/// # Example
///
/// ```
/// use evenkeel_demo::story::ServerAccounting;
///
/// let line = r#"{"accepted":5,"restored":0,"succeeded":3,"dead":1,"remaining":1,"retries":2}"#;
/// let found = ServerAccounting::find([line]).unwrap();
/// assert_eq!(found.accepted, 5);
/// assert_eq!(found.unaccounted(), 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ServerAccounting {
    /// Jobs the process answered 202 for.
    pub accepted: u64,
    /// Live jobs the process found in the store at start (0 if not
    /// reported).
    pub restored: u64,
    /// Jobs that succeeded.
    pub succeeded: u64,
    /// Jobs that died.
    pub dead: u64,
    /// Jobs left in the store for the next start.
    pub remaining: u64,
    /// Retries across all jobs (0 if not reported).
    pub retries: u64,
}

impl ServerAccounting {
    /// The last line among `lines` that is a JSON object carrying the
    /// integer fields `accepted`, `succeeded`, `dead` and `remaining`, at the
    /// top level or one object down (a tracing JSON log line keeps its
    /// fields under `"fields"`).
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_demo::story::ServerAccounting;
    ///
    /// let log = [
    ///     r#"{"level":"INFO","fields":{"message":"starting"}}"#,
    ///     r#"{"level":"INFO","fields":{"message":"final accounting","accepted":2,"succeeded":2,"dead":0,"remaining":0}}"#,
    /// ];
    /// assert_eq!(ServerAccounting::find(log).unwrap().succeeded, 2);
    /// assert_eq!(ServerAccounting::find(["not json"]), None);
    /// ```
    pub fn find<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let lines: Vec<&str> = lines.into_iter().collect();
        lines.iter().rev().find_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
            let object = value.as_object()?;
            std::iter::once(object)
                .chain(object.values().filter_map(serde_json::Value::as_object))
                .find_map(Self::from_object)
        })
    }

    fn from_object(object: &serde_json::Map<String, serde_json::Value>) -> Option<Self> {
        let field = |name: &str| object.get(name).and_then(serde_json::Value::as_u64);
        Some(Self {
            accepted: field("accepted")?,
            succeeded: field("succeeded")?,
            dead: field("dead")?,
            remaining: field("remaining")?,
            restored: field("restored").unwrap_or(0),
            retries: field("retries").unwrap_or(0),
        })
    }

    /// Jobs that the server's own totals do not place
    /// (`restored + accepted − succeeded − dead − remaining`, never
    /// negative).
    ///
    /// # Example
    ///
    /// See [`ServerAccounting`].
    pub fn unaccounted(&self) -> u64 {
        (self.restored + self.accepted).saturating_sub(self.succeeded + self.dead + self.remaining)
    }
}

/// The last state the story saw for a job through `GET /jobs/{id}`.
///
/// # Example
///
/// ```
/// use evenkeel_demo::story::Seen;
///
/// assert_eq!(Seen::parse("succeeded"), Seen::Succeeded);
/// assert!(Seen::parse("dead").is_finished());
/// assert!(!Seen::parse("queued").is_finished());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Seen {
    /// Finished successfully.
    Succeeded,
    /// Finished without success (attempts or deadline exhausted, or shed).
    Dead,
    /// Queued, running, waiting for a retry, or a state the story does not
    /// know: the server still owed a result.
    Live,
}

impl Seen {
    /// Reads the `state` field of a job record.
    ///
    /// # Example
    ///
    /// See [`Seen`].
    pub fn parse(state: &str) -> Self {
        match state {
            "succeeded" => Self::Succeeded,
            "dead" => Self::Dead,
            _ => Self::Live,
        }
    }

    /// Whether the job reached an outcome (succeeded or dead).
    ///
    /// # Example
    ///
    /// See [`Seen`].
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Dead)
    }
}

/// Where each accepted id ended, by the story's own count.
///
/// # Example
///
/// ```
/// use std::collections::{HashMap, HashSet};
/// use evenkeel_demo::story::{reconcile, Seen};
///
/// let accepted = ["a", "b", "c", "d"].map(String::from);
/// let seen = HashMap::from([
///     ("a".to_owned(), Seen::Succeeded),
///     ("b".to_owned(), Seen::Dead),
///     ("c".to_owned(), Seen::Live),
/// ]);
/// let in_store = HashSet::from(["c".to_owned()]);
/// let r = reconcile(&accepted, &seen, &in_store);
/// assert_eq!((r.succeeded, r.dead, r.in_store), (1, 1, 1));
/// assert_eq!(r.lost, vec!["d".to_owned()]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// Distinct accepted ids.
    pub accepted: u64,
    /// Seen succeeded.
    pub succeeded: u64,
    /// Seen dead.
    pub dead: u64,
    /// Not seen finished, and live in the store for the next start.
    pub in_store: u64,
    /// Accepted, never seen finished, not live in the store: lost.
    pub lost: Vec<String>,
    /// Seen finished *and* live in the store: will run again after a
    /// restart (at-least-once delivery), worth reporting, not a loss.
    pub finished_and_in_store: Vec<String>,
    /// Live in the store but never accepted by this client (left by an
    /// older run, or a bug).
    pub in_store_unknown: Vec<String>,
    /// Jobs that finished after the story's last look, placed by the
    /// server's own totals rather than by id (see
    /// [`credit_server_totals`](Self::credit_server_totals)).
    pub finished_unseen: u64,
}

impl Reconciliation {
    /// Closes the one gap polling leaves: a job that finished between the
    /// story's last `GET /jobs/{id}` and the server's exit is in neither the
    /// story's observations nor the store's live jobs. If the server's books
    /// balance (nothing unaccounted, the same accepted and remaining counts
    /// as the story's), its extra finished jobs explain that many of the
    /// story's unplaced ids, which move from `lost` to `finished_unseen`.
    /// Anything the server's totals cannot explain stays lost.
    ///
    /// # Example
    ///
    /// ```
    /// use std::collections::{HashMap, HashSet};
    /// use evenkeel_demo::story::{reconcile, Seen, ServerAccounting};
    ///
    /// let accepted = ["a", "b"].map(String::from);
    /// let seen = HashMap::from([("a".to_owned(), Seen::Succeeded)]);
    /// let mut r = reconcile(&accepted, &seen, &HashSet::new());
    /// assert_eq!(r.lost.len(), 1);
    /// let server = ServerAccounting { accepted: 2, succeeded: 2, ..Default::default() };
    /// r.credit_server_totals(&server);
    /// assert!(r.lost.is_empty());
    /// assert_eq!(r.finished_unseen, 1);
    /// ```
    pub fn credit_server_totals(&mut self, server: &ServerAccounting) {
        let balanced = server.unaccounted() == 0
            && server.accepted == self.accepted
            && server.remaining == self.in_store;
        if !balanced {
            return;
        }
        let extra = (server.succeeded + server.dead).saturating_sub(self.succeeded + self.dead);
        let credit = usize::try_from(extra)
            .unwrap_or(usize::MAX)
            .min(self.lost.len());
        self.lost.drain(..credit);
        self.finished_unseen += credit as u64;
    }
}

/// Job outcomes announced in the server's JSON log: every line (or its
/// `"fields"` object) with a string `"id"` and a `"state"` or `"outcome"`
/// of `succeeded` or `dead`. A server that logs each finished job lets the
/// story place every id without polling races.
///
/// # Example
///
/// ```
/// use evenkeel_demo::story::{outcomes_in_log, Seen};
///
/// let log = [r#"{"fields":{"message":"job finished","id":"a1","state":"dead"}}"#];
/// assert_eq!(outcomes_in_log(log), vec![("a1".to_owned(), Seen::Dead)]);
/// ```
pub fn outcomes_in_log<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<(String, Seen)> {
    lines
        .into_iter()
        .filter_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
            let object = value.as_object()?;
            std::iter::once(object)
                .chain(object.values().filter_map(serde_json::Value::as_object))
                .find_map(|o| {
                    let id = o.get("id")?.as_str()?;
                    let state = o.get("state").or_else(|| o.get("outcome"))?.as_str()?;
                    let seen = Seen::parse(state);
                    seen.is_finished().then(|| (id.to_owned(), seen))
                })
        })
        .collect()
}

/// Places every accepted id: finished (by what the story saw), in the store
/// (live there for the next start), or lost. Duplicated ids in `accepted`
/// count once.
///
/// # Example
///
/// See [`Reconciliation`].
pub fn reconcile<S1: BuildHasher, S2: BuildHasher>(
    accepted: &[String],
    seen: &HashMap<String, Seen, S1>,
    in_store: &HashSet<String, S2>,
) -> Reconciliation {
    let accepted: BTreeSet<&String> = accepted.iter().collect();
    let mut r = Reconciliation {
        accepted: accepted.len() as u64,
        ..Reconciliation::default()
    };
    for id in &accepted {
        let stored = in_store.contains(*id);
        match seen.get(*id).copied() {
            Some(Seen::Succeeded) => r.succeeded += 1,
            Some(Seen::Dead) => r.dead += 1,
            _ if stored => r.in_store += 1,
            _ => r.lost.push((*id).clone()),
        }
        if stored && seen.get(*id).is_some_and(|s| s.is_finished()) {
            r.finished_and_in_store.push((*id).clone());
        }
    }
    let mut unknown: Vec<String> = in_store
        .iter()
        .filter(|id| !accepted.contains(id))
        .cloned()
        .collect();
    unknown.sort();
    r.in_store_unknown = unknown;
    r
}
