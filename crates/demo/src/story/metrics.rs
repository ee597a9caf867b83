//! Reading the server's `GET /metrics` (Prometheus text format) just well
//! enough to narrate: the circuit breaker's state, its transitions, retries,
//! rejections by reason.
//!
//! The text format is one sample per line, `name{label="value",...} number`,
//! with `#` lines for help and type. The story reads samples by name and one
//! optional label; a counter may carry the `_total` suffix that `OpenMetrics`
//! encoders add, so a lookup of `x` also finds `x_total`.

/// One parsed scrape.
///
/// # Example
///
/// ```
/// use evenkeel_demo::story::Scrape;
///
/// let text = "# TYPE evenkeel_circuit_state gauge\n\
///             evenkeel_circuit_state 2\n\
///             evenkeel_rejections_total{reason=\"rate_limited\"} 7\n";
/// let scrape = Scrape::parse(text);
/// assert_eq!(scrape.value("evenkeel_circuit_state", None), Some(2.0));
/// assert_eq!(scrape.value("evenkeel_rejections", Some(("reason", "rate_limited"))), Some(7.0));
/// assert_eq!(scrape.circuit(), Some("open"));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scrape {
    samples: Vec<Sample>,
}

#[derive(Clone, Debug, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Scrape {
    /// Parses a scrape; lines that are not samples are skipped.
    ///
    /// # Example
    ///
    /// See [`Scrape`].
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(parse_sample)
            .collect();
        Self { samples }
    }

    /// The value of the first sample named `name` (or `name_total`) that
    /// carries `label` (any sample if `None`).
    ///
    /// # Example
    ///
    /// See [`Scrape`].
    pub fn value(&self, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
        let total = format!("{name}_total");
        self.samples
            .iter()
            .filter(|s| s.name == name || s.name == total)
            .find(|s| label.is_none_or(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v)))
            .map(|s| s.value)
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
        let total = format!("{name}_total");
        self.samples
            .iter()
            .filter(|s| s.name == name || s.name == total)
            .map(|s| s.value)
            .sum()
    }

    /// The breaker's state from the `evenkeel_circuit_state` gauge
    /// (0 closed, 1 half-open, 2 open).
    ///
    /// # Example
    ///
    /// See [`Scrape`].
    pub fn circuit(&self) -> Option<&'static str> {
        let value = self.value("evenkeel_circuit_state", None)?;
        Some(match value {
            v if v < 0.5 => "closed",
            v if v < 1.5 => "half-open",
            _ => "open",
        })
    }
}

/// `name{a="x",b="y"} 1.5` (labels optional; a trailing timestamp ignored).
fn parse_sample(line: &str) -> Option<Sample> {
    let (head, rest) = match line.find('{') {
        Some(open) => {
            let close = line[open..].find('}')? + open;
            line.split_at(close + 1)
        }
        None => line.split_at(line.find(char::is_whitespace)?),
    };
    let value: f64 = rest.split_whitespace().next()?.parse().ok()?;
    let (name, labels) = match head.split_once('{') {
        Some((name, labels)) => (name, parse_labels(labels.trim_end_matches('}'))),
        None => (head, Vec::new()),
    };
    Some(Sample {
        name: name.trim().to_owned(),
        labels,
        value,
    })
}

/// `a="x",b="y"`; label values in this workspace hold no quotes or commas.
fn parse_labels(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            Some((
                key.trim().to_owned(),
                value.trim().trim_matches('"').to_owned(),
            ))
        })
        .collect()
}
