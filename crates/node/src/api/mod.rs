//! The node's local API (spec/api.md): how the `tally` command and agency
//! systems drive a running node. HTTP/1.1 served by axum on hyper, over the
//! Unix socket `api.sock` in the node directory (mode 0600: only the
//! node's user may drive it) and, where `tally.toml` names a loopback
//! `api` address, over TCP with the bearer token in `api.token` (0600).
//!
//! Requests and answers are the Rust types in this module, shared by the
//! server and [`Client`]; payloads stream in (`POST /v1/sends`) and out
//! (`GET /v1/inbox/{packet}/content`) without being held in memory;
//! failures are [`Problem`] documents (RFC 9457) with a stable
//! [`ProblemCode`]. `spec/api.openapi.json` describes every route
//! ([`ROUTES`]), and a test holds the two together.

mod client;
mod exchanges;
mod grants;
mod problem;
pub(crate) mod server;
mod status;
mod types;

pub use client::{Client, ClientError};
pub use exchanges::*;
pub use grants::*;
pub use problem::{PROBLEM_JSON, Problem, ProblemCode};
pub use server::ROUTES;
pub use status::*;
pub use types::*;

/// The API socket's file name in the node directory.
pub const SOCKET_FILE: &str = "api.sock";

/// The file in the node directory holding the TCP listener's bearer token.
pub const TOKEN_FILE: &str = "api.token";

#[cfg(test)]
mod tests;
