//! `IdempotencyStore` on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use exsvc_domain::idempotency::{IdempotencyKey, IdempotencyRecord, StoredResponse};
use exsvc_domain::ports::{IdempotencyStore, RepositoryError};
use exsvc_domain::TenantId;
use uuid::Uuid;

use crate::errors::from_diesel;
use crate::schema::idempotency_keys::dsl;
use crate::SqliteStore;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = crate::schema::idempotency_keys, check_for_backend(diesel::sqlite::Sqlite))]
// A takeover resets the response to none.
#[diesel(treat_none_as_null = true)]
struct IdempotencyRow {
    tenant_id: String,
    idempotency_key: String,
    claim: String,
    fingerprint: Vec<u8>,
    fingerprint_key: String,
    response_status: Option<i32>,
    response_headers: Option<String>,
    response_body: Option<Vec<u8>>,
    /// Microseconds since the Unix epoch, UTC.
    locked_until: i64,
    expires_at: i64,
}

fn internal(error: impl std::fmt::Display) -> RepositoryError {
    RepositoryError::Internal(error.to_string().into())
}

fn micros_to_time(micros: i64) -> Result<DateTime<Utc>, RepositoryError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| internal("timestamp out of range"))
}

impl IdempotencyRow {
    fn from_record(record: &IdempotencyRecord) -> Result<Self, RepositoryError> {
        let response = record.response.as_ref();
        Ok(Self {
            tenant_id: record.tenant.as_str().to_owned(),
            idempotency_key: record.key.as_str().to_owned(),
            claim: record.claim.to_string(),
            fingerprint: record.fingerprint.clone(),
            fingerprint_key: record.fingerprint_key.clone(),
            response_status: response.map(|r| i32::from(r.status)),
            response_headers: response.map(StoredResponse::headers_json),
            response_body: response.map(|r| r.body.clone()),
            locked_until: record.locked_until.timestamp_micros(),
            expires_at: record.expires_at.timestamp_micros(),
        })
    }

    fn into_record(self) -> Result<IdempotencyRecord, RepositoryError> {
        let response = StoredResponse::from_columns(
            self.response_status.map(i64::from),
            self.response_headers.as_deref(),
            self.response_body,
        )
        .map_err(|e| RepositoryError::Internal(e.into()))?;
        Ok(IdempotencyRecord {
            tenant: TenantId::from_stored(&self.tenant_id).map_err(internal)?,
            key: IdempotencyKey::parse(&self.idempotency_key).map_err(internal)?,
            claim: Uuid::parse_str(&self.claim).map_err(internal)?,
            fingerprint: self.fingerprint,
            fingerprint_key: self.fingerprint_key,
            response,
            locked_until: micros_to_time(self.locked_until)?,
            expires_at: micros_to_time(self.expires_at)?,
        })
    }
}

/// Sync diesel's `execute`, for the write transactions that run on the
/// blocking connection (the async `RunQueryDsl` is in scope for reads).
trait SyncExecute: diesel::RunQueryDsl<SqliteConnection> + Sized {
    fn sync_execute(self, c: &mut SqliteConnection) -> QueryResult<usize>
    where
        Self: diesel::query_dsl::methods::ExecuteDsl<SqliteConnection>,
    {
        diesel::RunQueryDsl::execute(self, c)
    }
}

impl<T: diesel::RunQueryDsl<SqliteConnection>> SyncExecute for T {}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn insert(&self, record: &IdempotencyRecord) -> Result<bool, RepositoryError> {
        let row = IdempotencyRow::from_record(record)?;
        self.write(move |c| {
            let inserted = diesel::insert_into(dsl::idempotency_keys)
                .values(&row)
                .on_conflict_do_nothing()
                .sync_execute(c)?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn find(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, RepositoryError> {
        let query = dsl::idempotency_keys
            .find((tenant.as_str().to_owned(), key.as_str().to_owned()))
            .select(IdempotencyRow::as_select());
        self.bounded(async {
            let mut conn = self.connection().await?;
            let row: Option<IdempotencyRow> = query
                .first(&mut conn)
                .await
                .optional()
                .map_err(from_diesel)?;
            row.map(IdempotencyRow::into_record).transpose()
        })
        .await
    }

    async fn take_over(
        &self,
        previous_claim: Uuid,
        now: DateTime<Utc>,
        record: &IdempotencyRecord,
    ) -> Result<bool, RepositoryError> {
        let row = IdempotencyRow::from_record(record)?;
        let previous_claim = previous_claim.to_string();
        let now = now.timestamp_micros();
        self.write(move |c| {
            let updated = diesel::update(
                dsl::idempotency_keys
                    .filter(dsl::tenant_id.eq(&row.tenant_id))
                    .filter(dsl::idempotency_key.eq(&row.idempotency_key))
                    .filter(dsl::claim.eq(&previous_claim))
                    .filter(
                        dsl::expires_at.le(now).or(dsl::response_status
                            .is_null()
                            .and(dsl::locked_until.le(now))),
                    ),
            )
            .set(&row)
            .sync_execute(c)?;
            Ok(updated == 1)
        })
        .await
    }

    async fn complete(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        claim: Uuid,
        response: &StoredResponse,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let (tenant, key, claim) = (
            tenant.as_str().to_owned(),
            key.as_str().to_owned(),
            claim.to_string(),
        );
        let status = i32::from(response.status);
        let headers = response.headers_json();
        let body = response.body.clone();
        let expires_at = expires_at.timestamp_micros();
        self.write(move |c| {
            let updated = diesel::update(
                dsl::idempotency_keys
                    .filter(dsl::tenant_id.eq(tenant))
                    .filter(dsl::idempotency_key.eq(key))
                    .filter(dsl::claim.eq(claim)),
            )
            .set((
                dsl::response_status.eq(status),
                dsl::response_headers.eq(headers),
                dsl::response_body.eq(body),
                dsl::expires_at.eq(expires_at),
            ))
            .sync_execute(c)?;
            Ok(updated == 1)
        })
        .await
    }

    async fn release(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        claim: Uuid,
    ) -> Result<(), RepositoryError> {
        let (tenant, key, claim) = (
            tenant.as_str().to_owned(),
            key.as_str().to_owned(),
            claim.to_string(),
        );
        self.write(move |c| {
            diesel::delete(
                dsl::idempotency_keys
                    .filter(dsl::tenant_id.eq(tenant))
                    .filter(dsl::idempotency_key.eq(key))
                    .filter(dsl::claim.eq(claim))
                    .filter(dsl::response_status.is_null()),
            )
            .sync_execute(c)?;
            Ok(())
        })
        .await
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, RepositoryError> {
        let now = now.timestamp_micros();
        self.write(move |c| {
            let deleted = diesel::delete(dsl::idempotency_keys.filter(dsl::expires_at.le(now)))
                .sync_execute(c)?;
            Ok(deleted as u64)
        })
        .await
    }
}
