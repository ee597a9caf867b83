//! The `crash` lesson's job server as its own program, for the tests:
//! they find it through `CARGO_BIN_EXE_crash-server`. (The lesson's example
//! starts itself with the same arguments instead.)
//!
//! Usage: `crash-server --crash-server <memory|redb> <data dir> <work ms>`;
//! see `evenkeel_examples::crash::Server`.

use anyhow::Context;
use evenkeel_examples::crash::Server;

fn main() -> anyhow::Result<()> {
    Server::from_args(std::env::args_os().skip(1))
        .with_context(|| {
            format!(
                "usage: crash-server {} <memory|redb> <dir> <work ms>",
                Server::ARG
            )
        })??
        .run()
}
