//! Use cases: each checks the caller's permission, scopes every read and write
//! to the caller's tenant, applies the business rules and calls the ports.

mod services;

pub use services::{CatalogSettings, Precondition, ServiceCatalog};
