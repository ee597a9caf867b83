//! House rules that are cheap to check mechanically.
//!
//! Each rule reads files as text; none needs a dependency. The rules:
//!
//! 1. Every `.rs` file opens with a `//!` module doc (the teaching voice:
//!    a reader learns what a file is for before reading it).
//! 2. Every library crate under `crates/` (one that is not `publish = false`)
//!    has a `README.md` with a "when not to use" section and a `CHANGELOG.md`
//!    in the Keep a Changelog shape.
//! 3. Every workspace member inherits the workspace lints (`[lints]` with
//!    `workspace = true`).
//! 4. Every dependency in a member manifest is `workspace = true`: versions
//!    live once, in the root `Cargo.toml`.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One broken rule, with the file it was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) path: PathBuf,
    pub(crate) message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// Checks every rule under `root` (a workspace root) and returns what is
/// broken, with paths relative to `root`.
pub(crate) fn check(root: &Path) -> io::Result<Vec<Problem>> {
    let mut problems = Vec::new();
    let mut rs_files = Vec::new();
    collect_rs_files(root, &mut rs_files)?;
    rs_files.sort();
    for file in rs_files {
        let text = fs::read_to_string(&file)?;
        if !opens_with_module_doc(&text) {
            problems.push(Problem {
                path: relative(root, &file),
                message: "does not open with a `//!` module doc".into(),
            });
        }
    }
    for manifest in member_manifests(root)? {
        let text = fs::read_to_string(&manifest)?;
        let rel = relative(root, &manifest);
        if !inherits_workspace_lints(&text) {
            problems.push(Problem {
                path: rel.clone(),
                message: "does not set `[lints] workspace = true`".into(),
            });
        }
        for dep in dependencies_with_own_version(&text) {
            problems.push(Problem {
                path: rel.clone(),
                message: format!(
                    "dependency `{dep}` does not use `workspace = true` (declare its version once in the root Cargo.toml)"
                ),
            });
        }
        let crate_dir = manifest.parent().unwrap_or(root);
        let is_library_crate = crate_dir.parent() == Some(&root.join("crates"));
        if is_library_crate && !is_unpublished(&text) {
            check_library_docs(root, crate_dir, &mut problems)?;
        }
    }
    Ok(problems)
}

fn check_library_docs(root: &Path, dir: &Path, problems: &mut Vec<Problem>) -> io::Result<()> {
    let readme = dir.join("README.md");
    match read_if_exists(&readme)? {
        None => problems.push(Problem {
            path: relative(root, &readme),
            message: "library crate has no README.md".into(),
        }),
        Some(text) if !text.to_lowercase().contains("when not to use") => {
            problems.push(Problem {
                path: relative(root, &readme),
                message: "README.md has no \"When not to use\" section".into(),
            });
        }
        Some(_) => {}
    }
    let changelog = dir.join("CHANGELOG.md");
    match read_if_exists(&changelog)? {
        None => problems.push(Problem {
            path: relative(root, &changelog),
            message: "library crate has no CHANGELOG.md".into(),
        }),
        Some(text) if !text.contains("## [Unreleased]") => problems.push(Problem {
            path: relative(root, &changelog),
            message: "CHANGELOG.md has no `## [Unreleased]` section (Keep a Changelog)".into(),
        }),
        Some(_) => {}
    }
    Ok(())
}

fn read_if_exists(path: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

/// Directories that hold build output, VCS data or other people's code.
fn is_skipped_dir(name: &str) -> bool {
    name.starts_with('.') || name.starts_with("target") || name == "node_modules"
}

fn collect_rs_files(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !is_skipped_dir(&name) {
                collect_rs_files(&path, out)?;
            }
        } else if kind.is_file() && name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The manifests of the workspace members: `crates/*`, `examples`, `xtask`.
fn member_manifests(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut manifests = Vec::new();
    let crates = root.join("crates");
    if crates.is_dir() {
        for entry in fs::read_dir(&crates)? {
            let manifest = entry?.path().join("Cargo.toml");
            if manifest.is_file() {
                manifests.push(manifest);
            }
        }
    }
    for dir in ["examples", "xtask"] {
        let manifest = root.join(dir).join("Cargo.toml");
        if manifest.is_file() {
            manifests.push(manifest);
        }
    }
    manifests.sort();
    Ok(manifests)
}

/// True when the first line that is not blank starts with `//!`.
pub(crate) fn opens_with_module_doc(text: &str) -> bool {
    text.lines()
        .find(|line| !line.trim().is_empty())
        .is_some_and(|line| line.trim_start().starts_with("//!"))
}

/// The `[section]` header a line opens, if it is one.
fn section_header(line: &str) -> Option<&str> {
    let line = line.trim();
    line.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .map(str::trim)
}

fn is_unpublished(manifest: &str) -> bool {
    manifest
        .lines()
        .any(|line| line.split_whitespace().collect::<String>() == "publish=false")
}

pub(crate) fn inherits_workspace_lints(manifest: &str) -> bool {
    let mut in_lints = false;
    for line in manifest.lines() {
        if let Some(header) = section_header(line) {
            in_lints = header == "lints";
            continue;
        }
        let compact: String = line.split_whitespace().collect();
        if (in_lints && compact == "workspace=true") || compact == "lints.workspace=true" {
            return true;
        }
    }
    false
}

/// Names of dependencies declared with their own version (or path) instead
/// of `workspace = true`, in any `*dependencies` table.
pub(crate) fn dependencies_with_own_version(manifest: &str) -> Vec<String> {
    let mut offenders = Vec::new();
    let mut in_deps = false;
    // `[dependencies.foo]` tables: the name, and whether `workspace = true` was seen.
    let mut table: Option<(String, bool)> = None;
    let close_table = |table: &mut Option<(String, bool)>, offenders: &mut Vec<String>| {
        if let Some((name, false)) = table.take() {
            offenders.push(name);
        }
    };
    for line in manifest.lines() {
        if let Some(header) = section_header(line) {
            close_table(&mut table, &mut offenders);
            in_deps = header.ends_with("dependencies");
            if let Some((prefix, name)) = header.rsplit_once('.')
                && prefix.ends_with("dependencies")
            {
                table = Some((name.trim().to_string(), false));
            }
            continue;
        }
        let compact: String = line
            .split('#')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        if compact.is_empty() {
            continue;
        }
        if let Some((_, ok)) = table.as_mut() {
            if compact == "workspace=true" {
                *ok = true;
            }
            continue;
        }
        if in_deps {
            let Some((key, value)) = compact.split_once('=') else {
                continue;
            };
            let name = key.split('.').next().unwrap_or(key).to_string();
            let inherits =
                key.ends_with(".workspace") && value == "true" || value.contains("workspace=true");
            if !inherits {
                offenders.push(name);
            }
        }
    }
    close_table(&mut table, &mut offenders);
    offenders
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A scratch workspace under the system temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "evenkeel-tidy-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&dir).expect("create scratch dir");
            Scratch(dir)
        }

        fn write(&self, rel: &str, text: &str) {
            let path = self.0.join(rel);
            fs::create_dir_all(path.parent().expect("file has a parent")).expect("mkdir");
            fs::write(path, text).expect("write scratch file");
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    const GOOD_MANIFEST: &str = "[package]\nname = \"evenkeel-x\"\n\n[dependencies]\ntokio = { workspace = true, features = [\"rt\"] }\nthiserror.workspace = true\n\n[lints]\nworkspace = true\n";

    fn good_library(s: &Scratch) {
        s.write("crates/x/Cargo.toml", GOOD_MANIFEST);
        s.write("crates/x/src/lib.rs", "//! A crate.\n");
        s.write("crates/x/README.md", "# x\n\n## When not to use this\n");
        s.write("crates/x/CHANGELOG.md", "# Changelog\n\n## [Unreleased]\n");
    }

    /// A tidy workspace reports nothing.
    #[test]
    fn clean_workspace_has_no_problems() {
        let s = Scratch::new();
        good_library(&s);
        assert_eq!(check(&s.0).expect("check runs"), Vec::new());
    }

    /// A `.rs` file whose first line is not a `//!` doc is reported by path.
    #[test]
    fn file_without_module_doc_is_reported() {
        let s = Scratch::new();
        good_library(&s);
        s.write("crates/x/src/bare.rs", "// a plain comment\nfn f() {}\n");
        s.write("crates/x/src/blank_then_doc.rs", "\n\n//! Fine.\n");
        let problems = check(&s.0).expect("check runs");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, PathBuf::from("crates/x/src/bare.rs"));
        assert!(problems[0].message.contains("//!"));
    }

    /// Build output and hidden directories are not walked.
    #[test]
    fn target_and_hidden_dirs_are_skipped() {
        let s = Scratch::new();
        good_library(&s);
        s.write("target/debug/build/out.rs", "fn generated() {}\n");
        s.write(".git/hooks/x.rs", "fn f() {}\n");
        assert_eq!(check(&s.0).expect("check runs"), Vec::new());
    }

    /// A library crate without README.md or CHANGELOG.md is reported;
    /// an unpublished crate (`publish = false`) is not.
    #[test]
    fn library_crate_needs_readme_and_changelog() {
        let s = Scratch::new();
        s.write("crates/x/Cargo.toml", GOOD_MANIFEST);
        s.write(
            "crates/demo/Cargo.toml",
            "[package]\npublish = false\n\n[lints]\nworkspace = true\n",
        );
        let problems = check(&s.0).expect("check runs");
        let paths: Vec<_> = problems.iter().map(|p| p.path.clone()).collect();
        assert_eq!(
            paths,
            vec![
                PathBuf::from("crates/x/README.md"),
                PathBuf::from("crates/x/CHANGELOG.md")
            ]
        );
    }

    /// A README without a "when not to use" section, and a changelog
    /// without an Unreleased section, are reported.
    #[test]
    fn readme_and_changelog_shape_is_checked() {
        let s = Scratch::new();
        good_library(&s);
        s.write("crates/x/README.md", "# x\n");
        s.write("crates/x/CHANGELOG.md", "# Changelog\n");
        assert_eq!(check(&s.0).expect("check runs").len(), 2);
    }

    /// A member that does not inherit the workspace lints is reported.
    #[test]
    fn member_must_inherit_lints() {
        assert!(inherits_workspace_lints("[lints]\nworkspace = true\n"));
        assert!(inherits_workspace_lints("lints.workspace = true\n"));
        assert!(!inherits_workspace_lints("[package]\nworkspace = true\n"));
        assert!(!inherits_workspace_lints("[package]\nname = \"x\"\n"));
    }

    /// Dependencies with their own version, in any dependency table form,
    /// are reported by name; inherited ones are not.
    #[test]
    fn dependency_versions_live_in_the_root() {
        let manifest = "\
[dependencies]
tokio = { workspace = true }
serde.workspace = true
rand = \"0.9\"

[dev-dependencies]
proptest = { version = \"1\" }

[target.'cfg(unix)'.dependencies]
nix = { workspace = true, features = [\"signal\"] }

[dependencies.bytes]
version = \"1\"

[dev-dependencies.criterion]
workspace = true
";
        assert_eq!(
            dependencies_with_own_version(manifest),
            vec!["rand".to_string(), "proptest".into(), "bytes".into()]
        );
    }

    /// Leading blank lines are fine; anything else before the doc is not.
    #[test]
    fn module_doc_detection() {
        assert!(opens_with_module_doc("//! Doc.\n"));
        assert!(opens_with_module_doc("\n   //! Doc.\n"));
        assert!(!opens_with_module_doc(""));
        assert!(!opens_with_module_doc("/// Item doc.\nfn f() {}\n"));
        assert!(!opens_with_module_doc("#![allow(x)]\n//! Doc.\n"));
    }
}
