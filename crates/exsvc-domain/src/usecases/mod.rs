//! Use cases: each checks the caller's permission, scopes every read and write
//! to the caller's tenant, applies the business rules and calls the ports.

mod audit;
mod credentials;
mod idempotency;
mod services;
mod wiring;

pub use audit::{AuditTrail, RawAuditParams};
pub use credentials::{CredentialInput, CredentialVault, RevealedCredential, RewrapReport};
pub use idempotency::{Admission, Claim, IdempotencyGuard, KEY_LIFETIME, MIN_CLAIM_LEASE};
pub use services::{CatalogSettings, Precondition, ServiceCatalog};
pub use wiring::{UseCaseSettings, UseCases};
