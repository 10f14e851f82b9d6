//! `exsvc`: the External Service API's binary as a library, so that the test
//! kit builds the application exactly as `exsvc serve` does (`compose`).
//! The command line itself is `main.rs`.

pub mod cli;
pub mod compose;
pub mod config;
pub mod devkeys;
pub mod outcomes;
pub mod serve;
pub mod store;
pub mod token;

/// Exit codes (docs/api.md §8): 2 configuration or usage error, 1 any other
/// failure (0 is success).
pub const EXIT_CONFIG: u8 = 2;
pub const EXIT_FAILURE: u8 = 1;
