//! The `evenkeel-demo` binary: one executable, several roles, picked by
//! subcommand.
//!
//! * `downstream`: the flaky HTTP service the job server's workers call.
//! * `load`: the load generator for the job server's HTTP API.
//! * `story`: what `cargo xtask demo` runs: it starts the other roles (the
//!   server as a child process of this same executable), drives them through
//!   overload, rate limiting, an outage and a SIGTERM, and reports.
//!
//! Every flag has an `EVENKEEL_*` environment variable twin (see `--help`).

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: under load the server spent about
/// a sixth of its samples in glibc's allocator (`perf`, 256 connections
/// posting jobs), most of it in freeing and consolidating small blocks
/// that a request allocates and drops on another thread. The reliability
/// driver uses the same allocator, so its bare-handler baseline is
/// measured on equal terms.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The evenkeel worker-pool job server demo.
#[derive(Debug, Parser)]
#[command(name = "evenkeel-demo", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once at start and moved into the chosen command; boxing saves nothing that matters"
)]
enum Command {
    /// A flaky HTTP service (latency, errors, 503 + Retry-After, outages).
    Downstream(evenkeel_demo::downstream::DownstreamArgs),
    /// A load generator for the job server's `POST /jobs`.
    Load(evenkeel_demo::load::LoadArgs),
    /// The whole demo, end to end (what `cargo xtask demo` runs).
    Story(evenkeel_demo::story::StoryArgs),
    /// The job server: HTTP API, durable job store, supervised workers,
    /// drain (exit codes: see `evenkeel_demo::server`).
    Serve(evenkeel_demo::server::ServeArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Downstream(args) => evenkeel_demo::downstream::run(args).await,
        Command::Load(args) => evenkeel_demo::load::run_cli(args).await,
        Command::Story(args) => story(args).await,
        Command::Serve(args) => {
            no_transparent_huge_pages();
            std::process::exit(evenkeel_demo::server::serve(args).await?)
        }
    }
}

/// Turns transparent huge pages off for the server's process (the flag
/// is the whole process's, and its children inherit it), as databases and
/// latency-sensitive servers commonly advise. mimalloc asks the kernel
/// for huge pages on the memory it maps, and a huge page is zeroed whole
/// (2 MiB) when first touched: under the end-to-end load the server kept
/// faulting fresh huge pages in (the job map and the store's checkpoint
/// buffers grow with the jobs it holds), and `perf` put about 5 % of its
/// samples in zeroing them. Turned off (interleaved rounds of
/// `evenkeel-reliability e2e`, the server's CPU from `/proc`): at 32
/// connections 50–51 instead of 53–54 µs of CPU per accepted job and
/// 23.6–24.4k instead of 22.3–23.7k jobs/s; at 256 connections, where the
/// machine's two cores are saturated, 40 instead of 47–48 µs and
/// 33.7–34.5k instead of 27.4–29.5k jobs/s. The in-memory store, which
/// hardly grows its heap under that load, is unchanged.
///
/// An operator who wants them sets `MIMALLOC_ALLOW_THP=1` (mimalloc's own
/// switch; with it set, either way, this leaves the choice to mimalloc).
/// Where the kernel refuses the call, the server runs as before.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        let _ = nix::sys::prctl::set_thp_disable(true);
    }
}

/// Runs the story until it ends or Ctrl+C / SIGTERM arrives. On a signal the
/// story future is dropped, which kills the server child (`kill_on_drop`)
/// before the process exits with 130: nothing is left running.
async fn story(args: evenkeel_demo::story::StoryArgs) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let finished = tokio::select! {
        result = evenkeel_demo::story::run(args) => Some(result),
        _ = interrupt.recv() => None,
        _ = term.recv() => None,
    };
    // The select! block has ended, so the story future is dropped by now
    // (and with it the child); only then is it safe to exit without
    // running further destructors.
    match finished {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => {
            eprintln!("\nevenkeel-demo story failed: {e:#}");
            std::process::exit(1)
        }
        None => {
            eprintln!("\nevenkeel-demo story: interrupted; the server child was stopped");
            std::process::exit(130)
        }
    }
}
