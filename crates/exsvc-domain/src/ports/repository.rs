use async_trait::async_trait;

use crate::pagination::ListQuery;
use crate::principal::TenantId;
use crate::service::{Service, ServiceId};

/// What a repository can fail with. Adapters translate their driver's errors into
/// these at their edge; no driver type crosses into the domain.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// Another service of the tenant has the same name, compared case-insensitively.
    #[error("a service with that name already exists in the tenant")]
    Duplicate,
    #[error("no such service in the tenant")]
    NotFound,
    /// The stored version is not the expected one: someone else changed it first.
    #[error("the service was changed concurrently")]
    VersionConflict,
    /// The store cannot be reached in time (pool timeout, connection refused).
    #[error("the data store is unavailable")]
    Unavailable,
    #[error("data store error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Stores services. Every method is scoped to one tenant: no method can read or
/// change another tenant's service.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ServiceRepository: Send + Sync + 'static {
    /// Stores a new service.
    ///
    /// # Errors
    /// MUST return `Duplicate` when the tenant already has a service whose name is
    /// equal ignoring case, also when two inserts race (the store enforces it).
    async fn insert(&self, service: &Service) -> Result<(), RepositoryError>;

    /// The service `id` of `tenant`, or `None` (also when it belongs to another
    /// tenant).
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn find(
        &self,
        tenant: &TenantId,
        id: ServiceId,
    ) -> Result<Option<Service>, RepositoryError>;

    /// Up to `query.limit + 1` services of `tenant` matching the filter, newest
    /// `created_at` first then highest `id`, strictly after `query.after`. The extra
    /// row tells the caller whether another page exists.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn list(
        &self,
        tenant: &TenantId,
        query: &ListQuery,
    ) -> Result<Vec<Service>, RepositoryError>;

    /// Overwrites the writable fields, `updated_at` and `version` of the stored
    /// service with those of `service`, only if its stored version is still
    /// `expected_version`. Atomic: of two racing updates with the same expected
    /// version, one wins.
    ///
    /// # Errors
    /// MUST return `NotFound` when the tenant has no such service,
    /// `VersionConflict` when its version differs, `Duplicate` when the new name
    /// clashes with another service of the tenant.
    async fn update(&self, service: &Service, expected_version: i64)
        -> Result<(), RepositoryError>;

    /// Deletes the service, only if its version is `expected_version` when given.
    ///
    /// # Errors
    /// MUST return `NotFound` when the tenant has no such service and
    /// `VersionConflict` when its version differs from `expected_version`.
    async fn delete(
        &self,
        tenant: &TenantId,
        id: ServiceId,
        expected_version: Option<i64>,
    ) -> Result<(), RepositoryError>;

    /// Succeeds when the store answers a trivial query.
    ///
    /// # Errors
    /// `Unavailable` when it does not.
    async fn ping(&self) -> Result<(), RepositoryError>;
}
