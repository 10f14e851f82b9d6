use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::access::{BindingFilter, Role, RoleBinding, RoleFilter, RoleName};
use crate::audit::AuditEvent;
use crate::pagination::Cursor;
use crate::ports::RepositoryError;
use crate::principal::TenantId;
use crate::service::ServiceId;

/// A page of roles or bindings: newest `created_at` first, then highest id,
/// strictly after `after`; up to `limit + 1` rows (the extra one says a next
/// page exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessQuery<F> {
    pub limit: u16,
    pub after: Option<Cursor>,
    pub filter: F,
}

/// The tenants whose roles or bindings changed after a point of the store's
/// access clock, and where that clock stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessChanges {
    pub clock: i64,
    pub tenants: Vec<TenantId>,
}

/// One caller's reads of a service's secret, for the access review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretReader {
    pub actor: String,
    pub last_read_at: DateTime<Utc>,
    pub reads: i64,
}

/// Stores roles and role bindings, tenant-scoped. Every change stores its
/// audit event and advances the store's access clock (one counter for the
/// whole store, noting the tenant) in the same transaction, so that every
/// replica learns of it (`changes_since`).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AccessRepository: Send + Sync + 'static {
    /// # Errors
    /// MUST return `Duplicate` when the tenant has a role of that name, also
    /// when two inserts race.
    async fn insert_role(&self, role: &Role, audit: &AuditEvent) -> Result<(), RepositoryError>;

    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn find_role(
        &self,
        tenant: &TenantId,
        name: &RoleName,
    ) -> Result<Option<Role>, RepositoryError>;

    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn list_roles(
        &self,
        tenant: &TenantId,
        query: &AccessQuery<RoleFilter>,
    ) -> Result<Vec<Role>, RepositoryError>;

    /// Overwrites description, permissions, selector, `updated_at` and
    /// `version` only while the stored version is `expected_version`.
    ///
    /// # Errors
    /// MUST return `NotFound` when the tenant has no such role and
    /// `VersionConflict` when its version differs.
    async fn update_role(
        &self,
        role: &Role,
        expected_version: i64,
        audit: &AuditEvent,
    ) -> Result<(), RepositoryError>;

    /// Deletes the role when its version is `expected_version` (if given) and
    /// no binding names it.
    ///
    /// # Errors
    /// MUST return `NotFound`, `VersionConflict`, or `InUse` while a binding
    /// names the role (also one made concurrently: the store enforces it).
    async fn delete_role(
        &self,
        tenant: &TenantId,
        name: &RoleName,
        expected_version: Option<i64>,
        audit: &AuditEvent,
    ) -> Result<(), RepositoryError>;

    /// # Errors
    /// MUST return `NotFound` when the tenant has no role `binding.role`
    /// (also one deleted concurrently: the store enforces it).
    async fn insert_binding(
        &self,
        binding: &RoleBinding,
        audit: &AuditEvent,
    ) -> Result<(), RepositoryError>;

    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn find_binding(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> Result<Option<RoleBinding>, RepositoryError>;

    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn list_bindings(
        &self,
        tenant: &TenantId,
        query: &AccessQuery<BindingFilter>,
    ) -> Result<Vec<RoleBinding>, RepositoryError>;

    /// # Errors
    /// MUST return `NotFound` when the tenant has no such binding.
    async fn delete_binding(
        &self,
        tenant: &TenantId,
        id: Uuid,
        audit: &AuditEvent,
    ) -> Result<(), RepositoryError>;

    /// Every binding of the tenant (expired ones too) with its role: what a
    /// replica caches to decide requests without a query. A row that breaks
    /// the rules is left out (`stored::usable_bindings`), never an error.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn tenant_bindings(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<(RoleBinding, Role)>, RepositoryError>;

    /// The tenants changed after access clock `after`, and the clock now.
    /// A change is visible here only once committed, and never with a clock
    /// value at or below one already returned.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn changes_since(&self, after: i64) -> Result<AccessChanges, RepositoryError>;

    /// Who read or used the service's credential at or after `since`
    /// (`credentials.read` and `credentials.use` events with outcome
    /// `success`), most recent reader first.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn secret_readers(
        &self,
        tenant: &TenantId,
        service: ServiceId,
        since: DateTime<Utc>,
    ) -> Result<Vec<SecretReader>, RepositoryError>;
}
