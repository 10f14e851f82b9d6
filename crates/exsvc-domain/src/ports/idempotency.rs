use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::idempotency::{IdempotencyKey, IdempotencyRecord, StoredResponse};
use crate::ports::RepositoryError;
use crate::principal::TenantId;

/// Stores idempotency keys. Each method is one atomic step; the use case
/// composes them into claim, complete and release.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Stores `record` unless its tenant already has its key.
    /// `true` when stored.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn insert(&self, record: &IdempotencyRecord) -> Result<bool, RepositoryError>;

    /// The record of `key` in `tenant`, expired or not.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn find(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, RepositoryError>;

    /// Replaces the stored record of `record`'s key with `record`, only while
    /// it is still held by `previous_claim` and is free at `now`: expired, or
    /// without a response after its lease (checked in the same statement, so
    /// a response kept meanwhile is never overwritten). `true` when replaced.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn take_over(
        &self,
        previous_claim: Uuid,
        now: DateTime<Utc>,
        record: &IdempotencyRecord,
    ) -> Result<bool, RepositoryError>;

    /// Keeps `response` with the key held by `claim` until `expires_at`.
    /// `false` when `claim` no longer holds the key.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn complete(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        claim: Uuid,
        response: &StoredResponse,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Forgets the key if `claim` still holds it without a response.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn release(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        claim: Uuid,
    ) -> Result<(), RepositoryError>;

    /// Forgets every key expired at `now`; returns how many.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` only.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, RepositoryError>;
}
