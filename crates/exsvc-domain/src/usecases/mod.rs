//! Use cases: each checks the caller's permission, scopes every read and write
//! to the caller's tenant, applies the business rules and calls the ports.

mod audit;
mod credentials;
mod idempotency;
mod services;
mod wiring;

pub use audit::{AuditListRequest, AuditTrail, RawAuditParams};
pub use credentials::{
    parse_version, CredentialInput, CredentialVault, RevealPermit, RevealedCredential, RewrapReport,
};
pub use idempotency::{Admission, Claim, IdempotencyGuard, KEY_LIFETIME, MIN_CLAIM_LEASE};
pub use services::{CatalogSettings, NewService, Precondition, ServiceCatalog};
pub use wiring::{UseCaseSettings, UseCases};

use crate::audit::{AuditAction, AuditEvent, AuditOutcome};
use crate::ports::{Clock, IdGenerator, RepositoryError};
use crate::principal::Principal;
use crate::service::ServiceId;
use crate::UseCaseError;

/// The service a path's `{id}` names. Text that is no service id names no
/// service: 404, the same answer as for an id the tenant does not have.
///
/// # Errors
/// `NotFound`, echoing the text (bounded, so a huge path does not make a huge body).
pub fn service_id(raw: &str) -> Result<ServiceId, UseCaseError> {
    ServiceId::parse(raw).ok_or_else(|| UseCaseError::NotFound(raw.chars().take(100).collect()))
}

/// The one builder of audit events: `principal` did `action` now, in its request.
pub(crate) fn audit_event(
    ids: &dyn IdGenerator,
    clock: &dyn Clock,
    principal: &Principal,
    action: AuditAction,
    service: Option<ServiceId>,
    credential_version: Option<i64>,
    outcome: AuditOutcome,
) -> AuditEvent {
    AuditEvent {
        id: ids.new_event_id(),
        occurred_at: clock.now(),
        tenant_id: principal.tenant().clone(),
        actor: principal.actor().to_owned(),
        action,
        service_id: service,
        credential_version,
        outcome,
        request_id: principal.request_id().map(str::to_owned),
        details: None,
    }
}

/// The one translation of a store failure that no use case expects: the store
/// is unreachable (503) or something else went wrong (500, the cause logged).
/// Expected refusals (`NotFound`, `Duplicate`, `VersionConflict`) are matched by
/// each use case before it falls back to this.
pub fn plain_store_error(error: RepositoryError) -> UseCaseError {
    match error {
        RepositoryError::Unavailable => UseCaseError::Unavailable,
        RepositoryError::Internal(source) => UseCaseError::Internal(source),
        other => UseCaseError::Internal(Box::new(other)),
    }
}
