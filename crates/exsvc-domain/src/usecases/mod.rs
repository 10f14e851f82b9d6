//! Use cases: each checks the caller's permission, scopes every read and write
//! to the caller's tenant, applies the business rules and calls the ports.

mod access;
mod audit;
mod credentials;
mod idempotency;
mod services;
mod usage;
mod wiring;

pub use access::{
    binding_id, role_name, AccessAdmin, AccessReview, BindingListRequest, RawBindingParams,
    ReviewedBinding, RoleListRequest, REVIEW_WINDOW_DAYS,
};
pub use audit::{AuditListRequest, AuditTrail, RawAuditParams};
pub use credentials::{
    parse_version, CredentialInput, CredentialVault, RevealPermit, RevealedCredential, RewrapReport,
};
pub use idempotency::{Admission, Claim, IdempotencyGuard, KEY_LIFETIME, MIN_CLAIM_LEASE};
pub use services::{CatalogSettings, NewService, Precondition, ServiceCatalog};
pub use usage::{CredentialUse, CredentialUsePorts, ProxyRequest};
pub use wiring::{Outbound, UseCaseSettings, UseCases};

use crate::audit::{AuditAction, AuditEvent, AuditOutcome};
use crate::ports::{Clock, IdGenerator, RepositoryError, ServiceRepository};
use crate::principal::{Permit, Principal};
use crate::service::{Service, ServiceId};
use crate::UseCaseError;

/// The service a path's `{id}` names. Text that is no service id names no
/// service: 404, the same answer as for an id the tenant does not have.
///
/// # Errors
/// `NotFound`, echoing the text (bounded, so a huge path does not make a huge body).
pub fn service_id(raw: &str) -> Result<ServiceId, UseCaseError> {
    ServiceId::parse(raw).ok_or_else(|| UseCaseError::NotFound(raw.chars().take(100).collect()))
}

/// The service `id` of the caller's tenant, when the permit reaches it
/// (docs/api.md §4.5, steps 1–3).
///
/// # Errors
/// `NotFound` when the tenant has no such service or no grant of the caller
/// covers it, `Forbidden` when one covers it but none allows the permission.
pub(crate) async fn find_reachable(
    services: &dyn ServiceRepository,
    permit: &Permit<'_>,
    id: ServiceId,
) -> Result<Service, UseCaseError> {
    let service = services
        .find(permit.principal().tenant(), id)
        .await
        .map_err(plain_store_error)?
        .ok_or_else(|| UseCaseError::NotFound(id.to_string()))?;
    permit.check(&service)?;
    Ok(service)
}

/// As `find_reachable` for a use case that does not need the service: a
/// tenant-wide permit reaches every service, so nothing is looked up for it.
///
/// # Errors
/// As `find_reachable`.
pub(crate) async fn check_reach(
    services: &dyn ServiceRepository,
    permit: &Permit<'_>,
    id: ServiceId,
) -> Result<(), UseCaseError> {
    if permit.is_tenant_wide() {
        return Ok(());
    }
    find_reachable(services, permit, id).await.map(drop)
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
