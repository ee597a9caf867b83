//! `cargo xtask ci`: everything CI checks, in the order that fails fastest.
//!
//! 1. `cargo fmt --check` and the house rules (`tidy`).
//! 2. The workspace as a whole: clippy on every target with all features
//!    (warnings denied), every test (unit, integration, benches run once as
//!    tests), every doc test, rustdoc with warnings denied (private items
//!    documented too, so the internal docs' links are checked).
//! 3. **Each library crate by itself**, the way a user builds it. A workspace
//!    build unifies features across members, so a doc test that needs a
//!    feature another member turns on passes there and fails for the user
//!    who depends on the one crate. For every library crate this runs clippy
//!    and the tests (doc tests included) with no default features, with the
//!    defaults, with every feature, and with each feature alone on top of
//!    none. The feature list is read from `cargo metadata`, so a new feature
//!    is checked without touching this file.
//! 4. `cargo package` for all library crates together: the tarball a user
//!    would download must build on its own (cargo resolves our unpublished
//!    crates against each other through a temporary local registry).
//! 5. The loom models: every `tests/loom*.rs` of a library crate, compiled
//!    with `--cfg loom` in release mode into `target/loom` (so the changed
//!    `RUSTFLAGS` do not invalidate the normal build), with a bounded
//!    preemption count so CI stays fast. `cargo xtask loom --exhaustive`
//!    lifts the bound.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::{cargo, step};

/// The library crates: everything under `crates/` that is published.
pub(crate) const LIBRARIES: [&str; 5] = [
    "evenkeel-shutdown",
    "evenkeel-backpressure",
    "evenkeel-retry",
    "evenkeel-tasks",
    "evenkeel-middleware",
];

/// The preemption bound CI gives loom. Two preemptions find the bugs that
/// need one thread to be interrupted twice, which covers every interleaving
/// bug found so far, and keeps each model to seconds.
const LOOM_CI_PREEMPTIONS: &str = "2";

/// Which parts of `ci` to run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parts {
    /// Each crate by itself, every feature combination, plus `cargo package`.
    pub(crate) features: bool,
    /// The loom models.
    pub(crate) loom: bool,
}

pub(crate) fn ci(root: &Path, parts: Parts) -> Result<(), String> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    step(root, "cargo fmt --check", fmt)?;

    crate::run_tidy(root)?;

    let mut clippy = cargo();
    clippy.args(["clippy", "--workspace", "--all-targets", "--all-features"]);
    clippy.args(["--", "-D", "warnings"]);
    step(root, "cargo clippy (warnings denied)", clippy)?;

    let mut test = cargo();
    test.args(["test", "--workspace", "--all-targets", "--all-features"]);
    step(
        root,
        "cargo test (unit, integration, benches as tests)",
        test,
    )?;

    let mut doctest = cargo();
    doctest.args(["test", "--workspace", "--doc", "--all-features"]);
    step(root, "cargo test --doc", doctest)?;

    let mut doc = cargo();
    // Private items too: the internal docs' links are checked as well.
    doc.args([
        "doc",
        "--workspace",
        "--no-deps",
        "--all-features",
        "--document-private-items",
    ])
    .env("RUSTDOCFLAGS", "-D warnings");
    step(root, "cargo doc (private items too, warnings denied)", doc)?;

    if parts.features {
        each_crate_alone(root)?;
        package(root)?;
    }
    if parts.loom {
        loom(root, false)?;
    }
    println!("\nci: all checks passed");
    Ok(())
}

/// Clippy and tests for every library crate alone, in every feature set.
fn each_crate_alone(root: &Path) -> Result<(), String> {
    for krate in LIBRARIES {
        let features = crate_features(root, krate)?;
        for set in feature_sets(&features) {
            let label = format!("{krate} [{}]", set.join(" "));
            let mut clippy = cargo();
            clippy.args(["clippy", "--package", krate, "--all-targets"]);
            clippy.args(&set).args(["--", "-D", "warnings"]);
            step(root, &format!("clippy {label}"), clippy)?;

            // `cargo test` without `--all-targets` runs the lib, the
            // integration tests and the doc tests: what a user's `cargo
            // test -p` runs.
            let mut test = cargo();
            test.args(["test", "--package", krate]).args(&set);
            step(root, &format!("test {label}"), test)?;
        }
    }
    Ok(())
}

/// The feature flag sets a crate is checked with: none, defaults, all, and
/// each feature alone (skipping `default` itself and duplicates).
fn feature_sets(features: &BTreeSet<String>) -> Vec<Vec<String>> {
    let mut sets = vec![
        vec!["--no-default-features".to_owned()],
        Vec::new(),
        vec!["--all-features".to_owned()],
    ];
    for feature in features.iter().filter(|f| *f != "default") {
        sets.push(vec![
            "--no-default-features".to_owned(),
            "--features".to_owned(),
            feature.clone(),
        ]);
    }
    sets
}

/// A crate's feature names, from `cargo metadata`.
fn crate_features(root: &Path, krate: &str) -> Result<BTreeSet<String>, String> {
    let output = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cargo metadata: could not start: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cargo metadata: unreadable output: {e}"))?;
    let package = metadata["packages"]
        .as_array()
        .and_then(|packages| packages.iter().find(|p| p["name"] == krate))
        .ok_or_else(|| format!("cargo metadata does not list {krate}"))?;
    Ok(package["features"]
        .as_object()
        .map(|features| features.keys().cloned().collect())
        .unwrap_or_default())
}

/// `cargo package` for every library crate at once, verified (built from
/// the packaged sources).
fn package(root: &Path) -> Result<(), String> {
    let mut package = cargo();
    package.arg("package");
    for krate in LIBRARIES {
        package.args(["--package", krate]);
    }
    // The check is that the packaged crate builds; a CI clone is clean, and
    // a developer's uncommitted work should not stop the check from running.
    package.arg("--allow-dirty");
    step(root, "cargo package (library crates, verified)", package)
}

/// Every `tests/loom*.rs` file of the library crates, as (crate, test name).
fn loom_models(root: &Path) -> Vec<(String, String)> {
    let mut models = Vec::new();
    for krate in LIBRARIES {
        let dir = crate_dir(root, krate).join("tests");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|name| name.starts_with("loom"))
            .filter_map(|name| name.strip_suffix(".rs").map(str::to_owned))
            .collect();
        names.sort();
        models.extend(names.into_iter().map(|name| (krate.to_owned(), name)));
    }
    models
}

fn crate_dir(root: &Path, krate: &str) -> PathBuf {
    root.join("crates")
        .join(krate.strip_prefix("evenkeel-").unwrap_or(krate))
}

/// Runs the loom models; `exhaustive` lifts the preemption bound.
pub(crate) fn loom(root: &Path, exhaustive: bool) -> Result<(), String> {
    let models = loom_models(root);
    if models.is_empty() {
        return Err("no loom models found (tests/loom*.rs in the library crates)".into());
    }
    for (krate, test) in models {
        let mut run = cargo();
        run.args(["test", "--release", "--package", &krate, "--test", &test])
            .env("RUSTFLAGS", "--cfg loom")
            .env("CARGO_TARGET_DIR", root.join("target").join("loom"));
        if exhaustive {
            run.env_remove("LOOM_MAX_PREEMPTIONS");
        } else {
            run.env("LOOM_MAX_PREEMPTIONS", LOOM_CI_PREEMPTIONS);
        }
        let bound = if exhaustive {
            "exhaustive".to_owned()
        } else {
            format!("LOOM_MAX_PREEMPTIONS={LOOM_CI_PREEMPTIONS}")
        };
        step(root, &format!("loom {krate} --test {test} ({bound})"), run)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins that every feature is checked alone, besides none/default/all,
    /// and that `default` is not checked twice.
    #[test]
    fn feature_sets_cover_each_feature_alone() {
        let features: BTreeSet<String> = ["default", "signal", "tracing"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        let sets = feature_sets(&features);
        assert_eq!(sets.len(), 5);
        assert!(sets.contains(&vec!["--no-default-features".to_owned()]));
        assert!(sets.contains(&Vec::new()));
        assert!(sets.contains(&vec!["--all-features".to_owned()]));
        for f in ["signal", "tracing"] {
            assert!(sets.contains(&vec![
                "--no-default-features".to_owned(),
                "--features".to_owned(),
                f.to_owned(),
            ]));
        }
    }

    /// Pins that a crate without features still gets none/default/all.
    #[test]
    fn featureless_crate_gets_three_sets() {
        assert_eq!(feature_sets(&BTreeSet::new()).len(), 3);
    }
}
