//! The tower stack in front of `POST /jobs`: the middleware crate's server
//! preset.
//!
//! Outermost first, in the order the middleware crate recommends for a
//! server (its `ServerLayer` builds exactly this):
//!
//! 1. **rate limit** (`--rate-limit` per second, `--rate-limit-burst`): one
//!    GCRA limiter shared by every connection; a request over the rate is
//!    refused at once with 429 and a `Retry-After` that says when a slot
//!    frees up. With `--rate-limit 0` the limiter is unlimited.
//! 2. **total timeout** (`--request-timeout`): a request that takes longer
//!    gets 504.
//! 3. **bulkhead** (`--max-concurrent-requests`): at most that many
//!    requests in the handler at once; one more is refused with 503 and
//!    `Retry-After` instead of queueing.
//! 4. **drain**: each request holds a drain guard of the server's
//!    `Shutdown` while it runs, so the drain also waits for requests in
//!    flight; once the drain has begun (after the pre-drain delay), new
//!    requests are refused with 503 and `Retry-After`. Requests routed here
//!    during the pre-drain delay are still admitted. The admission itself
//!    takes a second guard for the job (see `intake`), which covers the
//!    race of a request that passed this layer just before the drain.
//!
//! Each layer fails with the middleware crate's typed `Error`, and
//! `ErrorResponseLayer` turns it into its HTTP response (status and
//! `Retry-After`); the API's `json_errors` layer then gives it the JSON
//! error shape.

use std::time::Duration;

use evenkeel_middleware::preset::ServerLayer;
use evenkeel_middleware::rate_limit::RateLimiter;
use evenkeel_middleware::{BulkheadLayer, ErrorResponseLayer};
use evenkeel_shutdown::Shutdown;

use super::config::ServeArgs;

/// The server-side stack for `POST /jobs`: the middleware crate's
/// [`ServerLayer`] preset, behind the layer that turns its typed errors
/// into responses.
pub(crate) fn server(args: &ServeArgs, shutdown: &Shutdown) -> (ErrorResponseLayer, ServerLayer) {
    let mut preset = ServerLayer::new(shutdown.clone())
        .timeout(args.request_timeout)
        .bulkhead(
            BulkheadLayer::builder(args.max_concurrent_requests as usize)
                .retry_after(Duration::from_secs(1))
                .build(),
        )
        .drain_retry_after(Duration::from_secs(5));
    if args.rate_limit > 0 {
        let burst = args.rate_limit_burst.unwrap_or(args.rate_limit).max(1);
        preset = preset.rate_limit(RateLimiter::with_burst(
            args.rate_limit,
            Duration::from_secs(1),
            burst,
        ));
    }
    (ErrorResponseLayer::new(), preset)
}
