//! End-to-end tests live in `tests/tests/` (`services.rs`, `auth.rs`, …), each
//! file a test target cargo finds by itself; shared support is in the
//! `exsvc-testkit` crate.
