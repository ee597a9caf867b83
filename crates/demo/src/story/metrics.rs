//! Reading the server's `GET /metrics` just well enough to narrate: the
//! circuit breaker's state, its transitions, retries, rejections by reason.
//!
//! The text format is parsed by the `prometheus-parse` crate; this module
//! only looks samples up. Two conventions of the format show through:
//!
//! - the `OpenMetrics` encoder names a counter's sample `<name>_total`, so a
//!   lookup of `x` also finds `x_total`;
//! - a histogram's `_bucket` lines are gathered into one sample per label
//!   set; a lookup of `x_bucket` with an `le` label finds that bucket's
//!   count.

use prometheus_parse::{Sample, Value};

/// One parsed scrape.
///
/// # Example
///
/// ```
/// use evenkeel_demo::story::Scrape;
///
/// let text = "# TYPE evenkeel_circuit_state gauge\n\
///             evenkeel_circuit_state{state=\"closed\"} 0\n\
///             evenkeel_circuit_state{state=\"open\"} 1\n\
///             # TYPE evenkeel_rejections counter\n\
///             evenkeel_rejections_total{reason=\"rate_limited\"} 7\n";
/// let scrape = Scrape::parse(text);
/// assert_eq!(scrape.value("evenkeel_rejections", Some(("reason", "rate_limited"))), Some(7.0));
/// assert_eq!(scrape.circuit(), Some("open"));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scrape {
    samples: Vec<Sample>,
}

impl Scrape {
    /// Parses a scrape; lines that are not samples are skipped (and a text
    /// that cannot be read at all is an empty scrape).
    ///
    /// # Example
    ///
    /// See [`Scrape`].
    pub fn parse(text: &str) -> Self {
        let lines = text.lines().map(|line| Ok(line.to_owned()));
        let samples = prometheus_parse::Scrape::parse(lines)
            .map(|scrape| scrape.samples)
            .unwrap_or_default();
        Self { samples }
    }

    /// The value of the first sample named `name` (or `name_total`) that
    /// carries `label` (any sample if `None`); for `x_bucket` with an `le`
    /// label, the count of that bucket of histogram `x`.
    ///
    /// # Example
    ///
    /// See [`Scrape`].
    pub fn value(&self, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
        if let (Some(histogram), Some(("le", le))) = (name.strip_suffix("_bucket"), label) {
            return self.bucket(histogram, le);
        }
        self.matching(name)
            .find(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .and_then(scalar)
    }

    /// The sum of every sample named `name` (or `name_total`), across labels.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_demo::story::Scrape;
    ///
    /// let scrape = Scrape::parse("r_total{reason=\"a\"} 2\nr_total{reason=\"b\"} 3\n");
    /// assert_eq!(scrape.sum("r"), 5.0);
    /// ```
    pub fn sum(&self, name: &str) -> f64 {
        self.matching(name).filter_map(scalar).sum()
    }

    /// The breaker's state: the `state` label of the
    /// `evenkeel_circuit_state` series whose value is 1.
    ///
    /// # Example
    ///
    /// See [`Scrape`].
    pub fn circuit(&self) -> Option<&'static str> {
        let current = self
            .matching("evenkeel_circuit_state")
            .find(|s| scalar(s).is_some_and(|v| v >= 0.5))?;
        Some(match current.labels.get("state")? {
            "closed" => "closed",
            "half_open" => "half-open",
            "open" => "open",
            _ => return None,
        })
    }

    fn matching<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples
            .iter()
            .filter(move |s| s.metric == name || s.metric.strip_suffix("_total") == Some(name))
    }

    fn bucket(&self, histogram: &str, le: &str) -> Option<f64> {
        let bound: f64 = le.parse().ok()?;
        self.samples
            .iter()
            .filter(|s| s.metric == histogram)
            .find_map(|s| match &s.value {
                Value::Histogram(buckets) => buckets
                    .iter()
                    .find(|b| (b.less_than - bound).abs() < f64::EPSILON)
                    .map(|b| b.count),
                _ => None,
            })
    }
}

/// A counter's, gauge's or untyped sample's value.
fn scalar(sample: &Sample) -> Option<f64> {
    match sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
        _ => None,
    }
}
