//! `CredentialRepository` on PostgreSQL. Ciphertext in, ciphertext out: this
//! adapter never sees a plaintext.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use exsvc_domain::audit::AuditEvent;
use exsvc_domain::credential::{CredentialMeta, CredentialRecord};
use exsvc_domain::ports::{CredentialRepository, RepositoryError, VersionState};
use exsvc_domain::{ServiceId, TenantId};

use crate::errors::{from_diesel, TxError};
use crate::rows::{AuditRow, CredentialMetaRow, CredentialRow};
use crate::schema::{audit_events, credentials, services};
use crate::PgStore;

fn corrupt(e: impl std::error::Error + Send + Sync + 'static) -> RepositoryError {
    RepositoryError::Internal(Box::new(e))
}

#[async_trait]
impl CredentialRepository for PgStore {
    async fn version_state(
        &self,
        tenant: &TenantId,
        service: ServiceId,
    ) -> Result<VersionState, RepositoryError> {
        // One statement, so "no such service" and the numbers come from the
        // same snapshot: no row means no service.
        let query = services::table
            .left_join(credentials::table)
            .filter(services::tenant_id.eq(tenant.as_str().to_owned()))
            .filter(services::id.eq(service.as_uuid()))
            .group_by(services::id)
            .select((
                services::credential_version_issued,
                diesel::dsl::max(credentials::version.nullable()),
            ));
        self.bounded(async {
            let mut conn = self.connection().await?;
            let found: Option<(i64, Option<i64>)> = query
                .first(&mut conn)
                .await
                .optional()
                .map_err(from_diesel)?;
            let (issued, current) = found.ok_or(RepositoryError::NotFound)?;
            Ok(VersionState { current, issued })
        })
        .await
    }

    async fn insert(
        &self,
        record: &CredentialRecord,
        keep_from: i64,
        audit: &AuditEvent,
    ) -> Result<(), RepositoryError> {
        let row = CredentialRow::from(record);
        let audit = AuditRow::from(audit);
        self.bounded(async {
            let mut conn = self.connection().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                // Locks the service row first: concurrent writers of one service
                // queue here. The version must be above every one issued so far.
                let target = services::table
                    .filter(services::tenant_id.eq(&row.tenant_id))
                    .filter(services::id.eq(row.service_id));
                let summarised = diesel::update(
                    target.filter(services::credential_version_issued.lt(row.version)),
                )
                .set((
                    services::credential_auth_type.eq(Some(&row.auth_type)),
                    services::credential_expires_at.eq(row.expires_at),
                    services::credential_version_issued.eq(row.version),
                ))
                .execute(conn)
                .await?;
                if summarised != 1 {
                    let exists = diesel::select(diesel::dsl::exists(target))
                        .get_result::<bool>(conn)
                        .await?;
                    let refusal = if exists {
                        RepositoryError::Duplicate
                    } else {
                        RepositoryError::NotFound
                    };
                    return Err(TxError::Repository(refusal));
                }
                diesel::insert_into(credentials::table)
                    .values(&row)
                    .execute(conn)
                    .await?;
                diesel::delete(
                    credentials::table
                        .filter(credentials::service_id.eq(row.service_id))
                        .filter(credentials::version.lt(keep_from)),
                )
                .execute(conn)
                .await?;
                diesel::insert_into(audit_events::table)
                    .values(&audit)
                    .execute(conn)
                    .await?;
                Ok(())
            })
            .await
            .map_err(TxError::into_repository)
        })
        .await
    }

    async fn find(
        &self,
        tenant: &TenantId,
        service: ServiceId,
        version: Option<i64>,
    ) -> Result<Option<CredentialRecord>, RepositoryError> {
        let mut select = credentials::table
            .filter(credentials::tenant_id.eq(tenant.as_str().to_owned()))
            .filter(credentials::service_id.eq(service.as_uuid()))
            .select(CredentialRow::as_select())
            .order(credentials::version.desc())
            .into_boxed();
        if let Some(version) = version {
            select = select.filter(credentials::version.eq(version));
        }
        self.bounded(async {
            let mut conn = self.connection().await?;
            let row = select
                .first(&mut conn)
                .await
                .optional()
                .map_err(from_diesel)?;
            row.map(|r| CredentialRecord::try_from(r).map_err(corrupt))
                .transpose()
        })
        .await
    }

    async fn versions(
        &self,
        tenant: &TenantId,
        service: ServiceId,
    ) -> Result<Vec<CredentialMeta>, RepositoryError> {
        self.bounded(async {
            let mut conn = self.connection().await?;
            let rows: Vec<CredentialMetaRow> = credentials::table
                .filter(credentials::tenant_id.eq(tenant.as_str()))
                .filter(credentials::service_id.eq(service.as_uuid()))
                .select(CredentialMetaRow::as_select())
                .order(credentials::version.desc())
                .load(&mut conn)
                .await
                .map_err(from_diesel)?;
            rows.into_iter()
                .enumerate()
                .map(|(i, row)| row.into_meta(i == 0).map_err(corrupt))
                .collect()
        })
        .await
    }

    async fn delete_all(
        &self,
        tenant: &TenantId,
        service: ServiceId,
        audit: &AuditEvent,
    ) -> Result<u64, RepositoryError> {
        let audit = AuditRow::from(audit);
        self.bounded(async {
            let mut conn = self.connection().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let cleared = diesel::update(
                    services::table
                        .filter(services::tenant_id.eq(tenant.as_str()))
                        .filter(services::id.eq(service.as_uuid())),
                )
                .set((
                    services::credential_auth_type.eq(None::<String>),
                    services::credential_expires_at.eq(None::<chrono::DateTime<chrono::Utc>>),
                ))
                .execute(conn)
                .await?;
                if cleared != 1 {
                    return Err(TxError::Repository(RepositoryError::NotFound));
                }
                let deleted = diesel::delete(
                    credentials::table.filter(credentials::service_id.eq(service.as_uuid())),
                )
                .execute(conn)
                .await?;
                diesel::insert_into(audit_events::table)
                    .values(&audit)
                    .execute(conn)
                    .await?;
                Ok(u64::try_from(deleted).unwrap_or(0))
            })
            .await
            .map_err(TxError::into_repository)
        })
        .await
    }

    async fn batch(
        &self,
        after: Option<(ServiceId, i64)>,
        limit: usize,
    ) -> Result<Vec<CredentialRecord>, RepositoryError> {
        let mut select = credentials::table
            .select(CredentialRow::as_select())
            .order((credentials::service_id.asc(), credentials::version.asc()))
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .into_boxed();
        if let Some((service, version)) = after {
            let service = service.as_uuid();
            select = select.filter(
                credentials::service_id
                    .gt(service)
                    .or(credentials::service_id
                        .eq(service)
                        .and(credentials::version.gt(version))),
            );
        }
        self.bounded(async {
            let mut conn = self.connection().await?;
            let rows: Vec<CredentialRow> = select.load(&mut conn).await.map_err(from_diesel)?;
            rows.into_iter()
                .map(|r| CredentialRecord::try_from(r).map_err(corrupt))
                .collect()
        })
        .await
    }

    async fn replace_ciphertext(
        &self,
        record: &CredentialRecord,
        ciphertext: &[u8],
    ) -> Result<bool, RepositoryError> {
        self.bounded(async {
            let mut conn = self.connection().await?;
            let replaced = diesel::update(
                credentials::table
                    .filter(credentials::service_id.eq(record.service_id.as_uuid()))
                    .filter(credentials::version.eq(record.version))
                    .filter(credentials::ciphertext.eq(&record.ciphertext)),
            )
            .set(credentials::ciphertext.eq(ciphertext))
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
            Ok(replaced == 1)
        })
        .await
    }
}
