//! `IdempotencyStore` on PostgreSQL.

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
use crate::PgStore;

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = crate::schema::idempotency_keys, check_for_backend(diesel::pg::Pg))]
// A takeover resets the response to none.
#[diesel(treat_none_as_null = true)]
struct IdempotencyRow {
    tenant_id: String,
    idempotency_key: String,
    claim: Uuid,
    fingerprint: Vec<u8>,
    fingerprint_key: String,
    response_status: Option<i16>,
    response_headers: Option<String>,
    response_body: Option<Vec<u8>>,
    locked_until: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

fn internal(error: impl std::error::Error + Send + Sync + 'static) -> RepositoryError {
    RepositoryError::Internal(Box::new(error))
}

impl IdempotencyRow {
    fn from_record(record: &IdempotencyRecord) -> Result<Self, RepositoryError> {
        let response = record.response.as_ref();
        Ok(Self {
            tenant_id: record.tenant.as_str().to_owned(),
            idempotency_key: record.key.as_str().to_owned(),
            claim: record.claim,
            fingerprint: record.fingerprint.clone(),
            fingerprint_key: record.fingerprint_key.clone(),
            response_status: response
                .map(|r| i16::try_from(r.status).map_err(internal))
                .transpose()?,
            response_headers: response.map(StoredResponse::headers_json),
            response_body: response.map(|r| r.body.clone()),
            locked_until: record.locked_until,
            expires_at: record.expires_at,
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
            key: IdempotencyKey::parse(&self.idempotency_key)
                .map_err(|e| RepositoryError::Internal(e.to_string().into()))?,
            claim: self.claim,
            fingerprint: self.fingerprint,
            fingerprint_key: self.fingerprint_key,
            response,
            locked_until: self.locked_until,
            expires_at: self.expires_at,
        })
    }
}

#[async_trait]
impl IdempotencyStore for PgStore {
    async fn insert(&self, record: &IdempotencyRecord) -> Result<bool, RepositoryError> {
        let row = IdempotencyRow::from_record(record)?;
        self.bounded(async {
            let mut conn = self.connection().await?;
            let inserted = diesel::insert_into(dsl::idempotency_keys)
                .values(&row)
                .on_conflict_do_nothing()
                .execute(&mut conn)
                .await
                .map_err(from_diesel)?;
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
        self.bounded(async {
            let mut conn = self.connection().await?;
            let updated = diesel::update(
                dsl::idempotency_keys
                    .filter(dsl::tenant_id.eq(&row.tenant_id))
                    .filter(dsl::idempotency_key.eq(&row.idempotency_key))
                    .filter(dsl::claim.eq(previous_claim))
                    .filter(
                        dsl::expires_at.le(now).or(dsl::response_status
                            .is_null()
                            .and(dsl::locked_until.le(now))),
                    ),
            )
            .set(&row)
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
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
        let status = i16::try_from(response.status).map_err(internal)?;
        let headers = response.headers_json();
        let body = response.body.clone();
        let target = dsl::idempotency_keys
            .filter(dsl::tenant_id.eq(tenant.as_str().to_owned()))
            .filter(dsl::idempotency_key.eq(key.as_str().to_owned()))
            .filter(dsl::claim.eq(claim));
        self.bounded(async {
            let mut conn = self.connection().await?;
            let updated = diesel::update(target)
                .set((
                    dsl::response_status.eq(status),
                    dsl::response_headers.eq(headers),
                    dsl::response_body.eq(body),
                    dsl::expires_at.eq(expires_at),
                ))
                .execute(&mut conn)
                .await
                .map_err(from_diesel)?;
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
        let target = dsl::idempotency_keys
            .filter(dsl::tenant_id.eq(tenant.as_str().to_owned()))
            .filter(dsl::idempotency_key.eq(key.as_str().to_owned()))
            .filter(dsl::claim.eq(claim))
            .filter(dsl::response_status.is_null());
        self.bounded(async {
            let mut conn = self.connection().await?;
            diesel::delete(target)
                .execute(&mut conn)
                .await
                .map_err(from_diesel)?;
            Ok(())
        })
        .await
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, RepositoryError> {
        self.bounded(async {
            let mut conn = self.connection().await?;
            let deleted = diesel::delete(dsl::idempotency_keys.filter(dsl::expires_at.le(now)))
                .execute(&mut conn)
                .await
                .map_err(from_diesel)?;
            Ok(deleted as u64)
        })
        .await
    }
}
