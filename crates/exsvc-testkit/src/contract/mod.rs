//! The contract of the repository ports, as one suite every store runs, one
//! file per port beside this one (services, credentials, audit, idempotency,
//! access) and the fixtures they share in `fixtures.rs`.
//!
//! `service_repository_contract!(factory)` expands to one `#[tokio::test]` per
//! case, in a module per port (`services::list_filters`), where `factory` is an
//! async expression giving `(Stores, guard)` (the guard keeps the store's
//! database alive for the test).
//!
//! A case cannot exist without running. A port's cases are written inside its
//! one `contract_cases!` invocation, which both defines them and lists them in
//! the macro `service_repository_contract!` expands; a port is a file named in
//! the one `contract_ports!` list below. A case function written outside
//! `contract_cases!` is dead code in a private module (the lint fails), and a
//! file here that is not a listed port fails `every_file_here_is_a_listed_port`.

/// Defines a port's cases and the exported macro that expands to one test per
/// case: `contract_cases! { port => list_macro; async fn case(stores) { … } … }`.
/// Each case is a `pub async fn case(stores: Stores)` in the port's `cases`
/// module; `list_macro!(factory)` is what `service_repository_contract!` calls.
macro_rules! contract_cases {
    (@with_dollar ($d:tt) $port:ident => $list:ident;
        $( $(#[$meta:meta])* async fn $case:ident($stores:ident) $body:block )*
    ) => {
        /// This port's cases: `service_repository_contract!` runs every one.
        pub mod cases {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$meta])*
                pub async fn $case($stores: $crate::contract::Stores) $body
            )*
        }

        #[doc(hidden)]
        #[macro_export]
        macro_rules! $list {
            ($d factory:expr) => {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        let (stores, _guard) = $d factory.await;
                        $crate::contract::cases::$port::$case(stores).await;
                    }
                )*
            };
        }
    };
    ($port:ident => $list:ident; $($cases:tt)*) => {
        contract_cases!(@with_dollar ($) $port => $list; $($cases)*);
    };
}

/// Declares the ports (one file each) and `service_repository_contract!`,
/// which runs the cases of every one of them.
macro_rules! contract_ports {
    (@with_dollar ($d:tt) $($port:ident => $list:ident),*) => {
        $(mod $port;)*

        /// The cases of each port, as `service_repository_contract!` calls them.
        #[doc(hidden)]
        pub mod cases {
            $(pub use super::$port::cases as $port;)*
        }

        /// The ports the suite covers: one file each beside `mod.rs`.
        pub const PORTS: &[&str] = &[$(stringify!($port)),*];

        /// Expands to one `#[tokio::test]` per contract case for the store
        /// `factory`, the tests of each port in a module of its name.
        #[macro_export]
        macro_rules! service_repository_contract {
            ($d factory:expr) => {
                $(
                    mod $port {
                        #[allow(unused_imports)]
                        use super::*;
                        $crate::$list!($d factory);
                    }
                )*
            };
        }
    };
    ($($port:ident => $list:ident),* $(,)?) => {
        contract_ports!(@with_dollar ($) $($port => $list),*);
    };
}

mod fixtures;

/// One store, through each of its ports.
pub use exsvc_domain::ports::Stores;
pub use fixtures::{audit, service};

contract_ports! {
    services => __exsvc_contract_services,
    credentials => __exsvc_contract_credentials,
    audit => __exsvc_contract_audit,
    idempotency => __exsvc_contract_idempotency,
    access => __exsvc_contract_access,
}

#[cfg(test)]
mod tests {
    /// A port file that is not in `contract_ports!` would never be compiled,
    /// its cases never run: every file here must be a listed port.
    #[test]
    fn every_file_here_is_a_listed_port() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/contract");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("the contract folder")
            .map(|entry| entry.expect("an entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
            .map(|path| {
                path.file_stem()
                    .expect("a file name")
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|stem| stem != "mod" && stem != "fixtures")
            .collect();
        files.sort();
        let mut ports: Vec<String> = super::PORTS.iter().map(|p| (*p).to_owned()).collect();
        ports.sort();
        assert_eq!(files, ports, "every port file is listed in contract_ports!");
    }
}
