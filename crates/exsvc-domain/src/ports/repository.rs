use async_trait::async_trait;

use crate::audit::{AuditEvent, AuditQuery};
use crate::credential::{CredentialMeta, CredentialRecord};
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
    #[error("no such entity in the tenant")]
    NotFound,
    /// A role cannot be deleted while a binding names it.
    #[error("the role is named by a binding")]
    InUse,
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
/// change another tenant's service. Every write stores its audit events in the
/// same transaction: both commit or neither does.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ServiceRepository: Send + Sync + 'static {
    /// Stores a new service, its first credential version when given (the
    /// service's credential summary then names it), and `audit`.
    ///
    /// # Errors
    /// MUST return `Duplicate` when the tenant already has a service whose name is
    /// equal ignoring case, also when two inserts race (the store enforces it).
    async fn insert<'a>(
        &self,
        service: &Service,
        credential: Option<&'a CredentialRecord>,
        audit: &[AuditEvent],
    ) -> Result<(), RepositoryError>;

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
    /// service with those of `service` (never its credential summary), only if
    /// its stored version is still `expected_version`, and stores `audit`.
    /// Atomic: of two racing updates with the same expected version, one wins.
    ///
    /// # Errors
    /// MUST return `NotFound` when the tenant has no such service,
    /// `VersionConflict` when its version differs, `Duplicate` when the new name
    /// clashes with another service of the tenant.
    async fn update(
        &self,
        service: &Service,
        expected_version: i64,
        audit: &AuditEvent,
    ) -> Result<(), RepositoryError>;

    /// Deletes the service and every credential version of it, only if its
    /// version is `expected_version` when given, and stores `audit`.
    ///
    /// # Errors
    /// MUST return `NotFound` when the tenant has no such service and
    /// `VersionConflict` when its version differs from `expected_version`.
    async fn delete(
        &self,
        tenant: &TenantId,
        id: ServiceId,
        expected_version: Option<i64>,
        audit: &AuditEvent,
    ) -> Result<(), RepositoryError>;

    /// Succeeds when the store answers a trivial query.
    ///
    /// # Errors
    /// `Unavailable` when it does not.
    async fn ping(&self) -> Result<(), RepositoryError>;
}

/// Where a service's credential numbering stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionState {
    pub current: Option<i64>,
    pub issued: i64,
}

/// Stores credential versions (ciphertext and metadata), tenant-scoped.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CredentialRepository: Send + Sync + 'static {
    /// The newest stored version of the service's credential (`current`, `None`
    /// when it has none) and the highest version ever issued for it (`issued`,
    /// which survives deletion, so a number is never given twice).
    ///
    /// # Errors
    /// MUST return `NotFound` when the tenant has no such service.
    async fn version_state(
        &self,
        tenant: &TenantId,
        service: ServiceId,
    ) -> Result<VersionState, RepositoryError>;

    /// In one transaction: stores `record` as the service's current version,
    /// sets the service's credential summary (auth type, expiry) from it, deletes
    /// the service's versions numbered below `keep_from` (the domain's
    /// `CredentialRecord::keep_from`), and stores `audit`.
    ///
    /// # Errors
    /// MUST return `Duplicate` when that version is not above every version
    /// issued so far (a racing writer: the caller retries with the next number)
    /// and `NotFound` when the tenant has no such service.
    async fn insert(
        &self,
        record: &CredentialRecord,
        keep_from: i64,
        audit: &AuditEvent,
    ) -> Result<(), RepositoryError>;

    /// Version `version` of the service's credential, or the newest when `None`.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn find(
        &self,
        tenant: &TenantId,
        service: ServiceId,
        version: Option<i64>,
    ) -> Result<Option<CredentialRecord>, RepositoryError>;

    /// Every kept version, newest first, without ciphertext.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn versions(
        &self,
        tenant: &TenantId,
        service: ServiceId,
    ) -> Result<Vec<CredentialMeta>, RepositoryError>;

    /// In one transaction: deletes every version, clears the service's credential
    /// summary, stores `audit`. Returns how many versions were deleted.
    ///
    /// # Errors
    /// MUST return `NotFound` when the tenant has no such service.
    async fn delete_all(
        &self,
        tenant: &TenantId,
        service: ServiceId,
        audit: &AuditEvent,
    ) -> Result<u64, RepositoryError>;

    /// Up to `limit` versions of every tenant, ordered by (service id, version),
    /// strictly after `after`: the batches of a key rotation.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn batch(
        &self,
        after: Option<(ServiceId, i64)>,
        limit: usize,
    ) -> Result<Vec<CredentialRecord>, RepositoryError>;

    /// Replaces the ciphertext of `record`'s version only while it still equals
    /// `record.ciphertext` (a concurrent change wins). Returns whether it did.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn replace_ciphertext(
        &self,
        record: &CredentialRecord,
        ciphertext: &[u8],
    ) -> Result<bool, RepositoryError>;
}

/// The audit trail, tenant-scoped for reading.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Stores one event on its own (reads and refusals; changes store theirs in
    /// their own transaction).
    ///
    /// # Errors
    /// `Unavailable` / `Internal`: the caller must then not hand out a secret.
    async fn record(&self, event: &AuditEvent) -> Result<(), RepositoryError>;

    /// Up to `query.limit + 1` events of `tenant` matching the query, newest
    /// first (then highest id), strictly after `query.after`.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn list(
        &self,
        tenant: &TenantId,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEvent>, RepositoryError>;

    /// Sets the `details` of each named event (the outcome of a
    /// `credentials.use`, known only after the event was committed), all in one
    /// transaction. An event that does not exist in its tenant is skipped.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn record_outcomes(&self, outcomes: &[UseOutcome]) -> Result<(), RepositoryError>;
}

/// The outcome of one use of a credential, added to its `credentials.use`
/// event once the upstream answered (docs/api.md §1.3).
#[derive(Debug, Clone, PartialEq)]
pub struct UseOutcome {
    pub tenant: TenantId,
    pub event_id: uuid::Uuid,
    /// The event's whole new `details` object.
    pub details: serde_json::Value,
}

/// Takes outcomes off the request path: the adapter writes them in batches,
/// so a proxied request commits one audit write, not two (docs/operations.md).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait OutcomeSink: Send + Sync + 'static {
    /// Queues `outcome` for writing; never waits. An outcome that cannot be
    /// queued or written is logged and lost: the event itself stays.
    fn submit(&self, outcome: UseOutcome);
}
