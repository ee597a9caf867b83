//! `cargo xtask`: the project's own tasks, written in Rust so they run
//! wherever cargo does.
//!
//! Every cargo invocation goes through `$CARGO` (the cargo that started us),
//! so the toolchain that runs `cargo xtask` is the one that builds and tests.

mod bench;
mod ci;
mod tidy;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const HELP: &str = "\
cargo xtask <task>

Tasks:
  ci       everything CI checks: fmt --check, tidy, clippy (warnings denied)
           on all targets, the whole test suite including doc tests, rustdoc
           (warnings denied); then each library crate alone with no default,
           default, all and each single feature (clippy + tests), `cargo
           package` of the library crates, and the loom models
           (ci --fast: only the workspace-wide part)
  loom     run the loom models (bounded preemptions, as CI does);
           loom --exhaustive lifts the bound (slow)
  tidy     house rules: every .rs file opens with a //! doc, every library
           crate has README.md and CHANGELOG.md, every member inherits the
           workspace lints, every dependency version lives in the root
  demo     run the job-server demo end to end
  lesson   run a teaching lesson (lesson <name>), or list them (lesson)
  bench    every benchmark beside its peer, median of several runs, written
           to BENCHMARKS.md and benchmarks.svg (bench --quick: a few minutes;
           bench --runs N); bench <crate> [filter] runs one crate's
           criterion benches as they are
  reliability
           the reliability suite against the real server binary (release):
           shutdown under load, SIGKILL crashes, panicking workers, a
           downstream that hangs / resets / sends absurd Retry-After, a full
           or read-only data directory (tmpfs, needs root), overload, bad
           input, slow clients; writes RELIABILITY.md (reliability --quick:
           what CI runs, a few minutes, written to
           target/RELIABILITY-quick.md; --seed N and --only <section> are
           passed on, and --only writes target/RELIABILITY-only.md)
  help     this text
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let root = workspace_root();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(&root, &args[1..]),
        Some("loom") => loom(&root, &args[1..]),
        Some("tidy") => run_tidy(&root),
        Some("demo") => demo(&root),
        Some("bench") => bench(&root, &args[1..]),
        Some("reliability") => reliability(&root, &args[1..]),
        Some("lesson") => lesson(&root, args.get(1).map(String::as_str)),
        Some("help" | "-h" | "--help") => {
            print!("{HELP}");
            Ok(())
        }
        None => {
            print!("{HELP}");
            return ExitCode::from(2);
        }
        Some(other) => {
            eprintln!("xtask: unknown task `{other}`\n");
            eprint!("{HELP}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask's manifest lives one level below it.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.clone(), Path::to_path_buf)
}

pub(crate) fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs one step, echoing it first, and turns a failure into an error.
pub(crate) fn step(root: &Path, what: &str, mut cmd: Command) -> Result<(), String> {
    println!("\n==> {what}");
    let status = cmd
        .current_dir(root)
        .status()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what}: failed ({status})"))
    }
}

pub(crate) fn run_tidy(root: &Path) -> Result<(), String> {
    println!("\n==> tidy");
    let problems = tidy::check(root).map_err(|e| format!("tidy: {e}"))?;
    if problems.is_empty() {
        println!("tidy: ok");
        Ok(())
    } else {
        for p in &problems {
            eprintln!("tidy: {p}");
        }
        Err(format!("tidy: {} problem(s)", problems.len()))
    }
}

fn ci(root: &Path, rest: &[String]) -> Result<(), String> {
    let fast = match rest {
        [] => false,
        [flag] if flag == "--fast" => true,
        _ => return Err(format!("ci: unknown arguments {rest:?} (ci [--fast])")),
    };
    ci::ci(
        root,
        ci::Parts {
            features: !fast,
            loom: !fast,
        },
    )
}

fn loom(root: &Path, rest: &[String]) -> Result<(), String> {
    let exhaustive = match rest {
        [] => false,
        [flag] if flag == "--exhaustive" => true,
        _ => {
            return Err(format!(
                "loom: unknown arguments {rest:?} (loom [--exhaustive])"
            ));
        }
    };
    ci::loom(root, exhaustive)
}

fn demo(root: &Path) -> Result<(), String> {
    let demo_bin = root.join("crates/demo/src/main.rs");
    if !demo_bin.exists() {
        return Err(
            "the demo does not exist yet: crates/demo has no server binary (see the demo issue)"
                .into(),
        );
    }
    let mut run = cargo();
    run.args([
        "run",
        "--release",
        "--package",
        "evenkeel-demo",
        "--",
        "story",
    ]);
    step(root, "evenkeel-demo story", run)
}

fn bench(root: &Path, rest: &[String]) -> Result<(), String> {
    // `bench <crate> [filter]`: one crate's criterion benches, raw.
    if let Some((krate, filter)) = rest.split_first()
        && !krate.starts_with("--")
    {
        let package = if krate.starts_with("evenkeel-") {
            krate.clone()
        } else {
            format!("evenkeel-{krate}")
        };
        let mut cmd = cargo();
        cmd.args(["bench", "--package", &package, "--"])
            .args(filter);
        return step(root, "cargo bench", cmd);
    }
    bench::run(root, bench::Settings::parse(rest)?)
}

fn reliability(root: &Path, rest: &[String]) -> Result<(), String> {
    let mut quick = false;
    let mut passed = Vec::new();
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--seed" | "--only" => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("reliability: {arg} needs a value"))?;
                passed.extend([arg.clone(), value.clone()]);
            }
            _ => {
                return Err(format!(
                    "reliability: unknown arguments {rest:?} (reliability [--quick] [--seed N] [--only SECTION])"
                ));
            }
        }
    }
    let only = passed.iter().any(|a| a == "--only");
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "--package",
        "evenkeel-demo",
        "--package",
        "evenkeel-reliability",
    ]);
    step(root, "build the server and the suite (release)", build)?;
    let target = env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let release = target.join("release");
    let out = if only {
        target.join("RELIABILITY-only.md")
    } else if quick {
        target.join("RELIABILITY-quick.md")
    } else {
        root.join("RELIABILITY.md")
    };
    let mut run = Command::new(release.join("evenkeel-reliability"));
    run.arg("--demo")
        .arg(release.join("evenkeel-demo"))
        .arg("--out")
        .arg(&out);
    if quick {
        run.arg("--quick");
    }
    run.args(&passed);
    step(root, "reliability suite", run)
}

/// Lessons are the runnable examples of the `evenkeel-examples` crate, one
/// file per pattern in `examples/examples/`.
fn lesson(root: &Path, name: Option<&str>) -> Result<(), String> {
    let dir = root.join("examples/examples");
    let mut lessons: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    lessons.sort();
    let Some(name) = name else {
        println!("lessons (run one with `cargo xtask lesson <name>`):");
        let width = lessons.iter().map(String::len).max().unwrap_or(0);
        for lesson in &lessons {
            let text =
                std::fs::read_to_string(dir.join(format!("{lesson}.rs"))).unwrap_or_default();
            println!("  {lesson:<width$}  {}", lesson_summary(lesson, &text));
        }
        return Ok(());
    };
    if !lessons.iter().any(|l| l == name) {
        return Err(format!(
            "no lesson named `{name}`; the lessons are: {}",
            lessons.join(", ")
        ));
    }
    let mut run = cargo();
    run.args([
        "run",
        "--quiet",
        "--package",
        "evenkeel-examples",
        "--example",
        name,
    ]);
    step(root, &format!("lesson {name}"), run)
}

/// A lesson's one-line summary: the first sentence of its file's `//!`
/// doc, without the "Lesson `name`:" that opens it.
fn lesson_summary(name: &str, source: &str) -> String {
    let paragraph: Vec<&str> = source
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let text = paragraph.join(" ");
    let text = text
        .strip_prefix(&format!("Lesson `{name}`:"))
        .unwrap_or(&text)
        .trim();
    match text.find(". ") {
        Some(end) => text[..=end].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::lesson_summary;

    /// Pins that the listing shows the first sentence of a lesson's doc,
    /// without its "Lesson `name`:" opening.
    #[test]
    fn summary_is_the_first_sentence() {
        let source = "//! Lesson `retry`: the textbook loop beside\n//! the crate. More here.\n//!\n//! Details.\n";
        assert_eq!(
            lesson_summary("retry", source),
            "the textbook loop beside the crate."
        );
        assert_eq!(lesson_summary("x", "fn main() {}"), "");
    }
}
