//! The server's HTTP edge, pinned against the real binary over raw TCP:
//! slow clients are cut off by the header, keep-alive and body bounds, the
//! connection cap holds, a panicking handler answers 500 and the server
//! keeps serving, every response carries `x-request-id`, every error has
//! its documented code, and `/metrics` parses with a real Prometheus
//! parser.
//!
//! A raw socket is the honest client here: an HTTP client library would
//! not send half a header, and would hide which connection it used. No
//! test sleeps to wait for something: each waits, bounded by [`PATIENCE`],
//! for the event itself (a read that returns, a line that appears).

mod api;
mod harness;
mod limits;
