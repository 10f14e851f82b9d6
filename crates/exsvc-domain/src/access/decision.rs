//! The one access decision of docs/api.md §4.5: which services a caller may
//! act on with a permission, by its token's tenant-wide grants and by the
//! role bindings that apply to it. Every use case asks here; no route decides.

use std::sync::Arc;

use uuid::Uuid;

use crate::access::{RoleName, RolePermissions, ServiceSelector};
use crate::principal::{Permission, Permit, Principal};
use crate::service::Service;
use crate::UseCaseError;

/// A binding that applies to a caller, with its role's grant: the
/// permissions, on the services the selector matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub binding_id: Uuid,
    pub role: RoleName,
    pub permissions: RolePermissions,
    pub selector: ServiceSelector,
}

impl Grant {
    pub fn grants(&self, permission: Permission) -> bool {
        self.permissions.grants(permission)
    }
}

/// What a caller may do with a permission on one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// The caller can see the service exists, not act on it: 403.
    Forbid,
    /// No grant of the caller covers the service: 404, as if it did not exist.
    Invisible,
}

/// Which services of the tenant a listing may return: the selector becomes
/// part of the store's query, so paging stays keyset-fast and correct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Every service of the tenant.
    Tenant,
    /// The services any of these selectors matches (none when empty).
    Matching(Vec<ServiceSelector>),
}

/// Steps 1–3 of §4.5 for `permission` on `service`.
pub fn decide(principal: &Principal, permission: Permission, service: &Service) -> Decision {
    if principal.has(permission) {
        return Decision::Allow;
    }
    let matching = || {
        principal
            .grants()
            .iter()
            .filter(|g| g.selector.matches(service))
    };
    if matching().any(|g| g.grants(permission)) {
        Decision::Allow
    } else if principal.permissions().next().is_some() || matching().next().is_some() {
        Decision::Forbid
    } else {
        Decision::Invisible
    }
}

/// Which services `permission` reaches for `principal`.
pub fn reach(principal: &Principal, permission: Permission) -> Reach {
    if principal.has(permission) {
        return Reach::Tenant;
    }
    let selectors: Vec<ServiceSelector> = principal
        .grants()
        .iter()
        .filter(|g| g.grants(permission))
        .map(|g| g.selector.clone())
        .collect();
    if selectors.iter().any(ServiceSelector::is_empty) {
        Reach::Tenant
    } else {
        Reach::Matching(selectors)
    }
}

impl Permit<'_> {
    /// Whether the token grants the permission for every service of the tenant.
    pub fn is_tenant_wide(&self) -> bool {
        self.principal().has(self.permission())
    }

    /// Whether this permit's holder may act on `service` (an existing one, or
    /// one being created or changed into this form).
    ///
    /// # Errors
    /// `NotFound` when no grant of the caller covers the service, `Forbidden`
    /// when one does but none allows the permit's permission on it.
    pub fn check(&self, service: &Service) -> Result<(), UseCaseError> {
        match decide(self.principal(), self.permission(), service) {
            Decision::Allow => Ok(()),
            Decision::Forbid => Err(UseCaseError::Forbidden(self.permission())),
            Decision::Invisible => Err(UseCaseError::NotFound(service.id.to_string())),
        }
    }

    /// As `check`, for a service that does not exist yet (create) or the form
    /// a change would give one: refused is 403, since the caller named it.
    ///
    /// # Errors
    /// `Forbidden`.
    pub fn check_new(&self, service: &Service) -> Result<(), UseCaseError> {
        match decide(self.principal(), self.permission(), service) {
            Decision::Allow => Ok(()),
            Decision::Forbid | Decision::Invisible => {
                Err(UseCaseError::Forbidden(self.permission()))
            }
        }
    }

    /// The services this permit reaches, for a listing.
    pub fn reach(&self) -> Reach {
        reach(self.principal(), self.permission())
    }
}

/// The grants of a list of bindings that apply: shared, as the cache hands
/// them out on every request.
pub type Grants = Arc<[Arc<Grant>]>;
