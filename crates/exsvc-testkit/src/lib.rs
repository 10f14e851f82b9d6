//! Test support shared by every crate's tests: a fresh PostgreSQL database per
//! test (cloned from a template migrated once per run) or a fresh SQLite file,
//! token minting, the app on port 0, and the repository contract suite.
//!
//! A test that needs PostgreSQL fails when it is missing: nothing here skips.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test support: a failed setup must fail the test, loudly.

pub mod app;
pub mod client;
pub mod contract;
pub mod db;
pub mod egress;
pub mod jwks_server;
pub mod keys;
pub mod snapshot;
pub mod sqlite;
pub mod tokens;

pub use app::{TestApp, TestOptions};
pub use client::{ApiClient, Call, Reply};
pub use db::TestDatabase;
/// The peers outbound-HTTP tests talk to: upstreams, token endpoints, a test CA.
pub use exsvc_testkit_net as net;
