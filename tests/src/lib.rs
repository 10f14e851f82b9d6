//! End-to-end tests live beside this file (`services.rs`, `auth.rs`, …), each a
//! test target; shared support is in the `exsvc-testkit` crate.
