//! Test support shared by every crate's tests: a fresh PostgreSQL database per
//! test (cloned from a template migrated once per run), token minting, the app
//! on port 0, and the repository contract suite.
//!
//! A test that needs PostgreSQL fails when it is missing: nothing here skips.

pub mod app;
pub mod contract;
pub mod db;
pub mod tokens;

pub use app::{TestApp, TestOptions};
pub use db::TestDatabase;
