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

use crate::ports::RepositoryError;
use crate::UseCaseError;

/// The one translation of a store failure that no use case expects: the store
/// is unreachable (503) or something else went wrong (500, the cause logged).
/// Expected refusals (`NotFound`, `Duplicate`, `VersionConflict`) are matched by
/// each use case before it falls back to this.
pub(crate) fn plain_store_error(error: RepositoryError) -> UseCaseError {
    match error {
        RepositoryError::Unavailable => UseCaseError::Unavailable,
        RepositoryError::Internal(source) => UseCaseError::Internal(source),
        other => UseCaseError::Internal(Box::new(other)),
    }
}
