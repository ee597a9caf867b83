//! The tower stack in front of `POST /jobs`.
//!
//! This is where the middleware crate's server-side preset (rate limit →
//! total timeout → bulkhead → drain) is applied. Until that crate's layers
//! are integrated the stack is empty: `--rate-limit`,
//! `--max-concurrent-requests` and `--request-timeout` are parsed but have
//! no effect yet.

use evenkeel_shutdown::Shutdown;
use tower::layer::util::Identity;

use super::config::ServeArgs;

/// The server-side stack for `POST /jobs`.
pub(crate) fn server(_args: &ServeArgs, _shutdown: &Shutdown) -> Identity {
    Identity::new()
}
