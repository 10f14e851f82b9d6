//! `ServiceRepository` on PostgreSQL. Every write and its audit events share
//! one transaction.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use exsvc_domain::access::Reach;
use exsvc_domain::audit::AuditEvent;
use exsvc_domain::credential::CredentialRecord;
use exsvc_domain::pagination::ListQuery;
use exsvc_domain::ports::{RepositoryError, ServiceRepository};
use exsvc_domain::{Service, ServiceId, TenantId};

use crate::errors::{from_diesel, TxError};
use crate::rows::{AuditRow, CredentialRow, ServiceRow};
use crate::schema::services::dsl;
use crate::schema::{audit_events, credentials};
use crate::PgStore;

fn to_domain(row: ServiceRow) -> Result<Service, RepositoryError> {
    Service::try_from(row).map_err(|e| RepositoryError::Internal(Box::new(e)))
}

#[async_trait]
impl ServiceRepository for PgStore {
    async fn insert<'a>(
        &self,
        service: &Service,
        credential: Option<&'a CredentialRecord>,
        audit: &[AuditEvent],
    ) -> Result<(), RepositoryError> {
        let (columns, issued) = exsvc_domain::stored::new_service(service, credential)
            .map_err(|e| RepositoryError::Internal(Box::new(e)))?;
        let row = ServiceRow::new(columns, issued);
        let credential = credential.map(CredentialRow::from);
        let audit: Vec<AuditRow> = audit.iter().map(AuditRow::from).collect();
        self.bounded(async {
            let mut conn = self.connection().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                diesel::insert_into(dsl::services)
                    .values(&row)
                    .execute(conn)
                    .await?;
                if let Some(credential) = &credential {
                    diesel::insert_into(credentials::table)
                        .values(credential)
                        .execute(conn)
                        .await?;
                }
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
        id: ServiceId,
    ) -> Result<Option<Service>, RepositoryError> {
        self.bounded(async {
            let mut conn = self.connection().await?;
            let row = dsl::services
                .filter(dsl::tenant_id.eq(tenant.as_str()))
                .filter(dsl::id.eq(id.as_uuid()))
                .select(ServiceRow::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(from_diesel)?;
            row.map(to_domain).transpose()
        })
        .await
    }

    async fn list(
        &self,
        tenant: &TenantId,
        query: &ListQuery,
    ) -> Result<Vec<Service>, RepositoryError> {
        let mut select = dsl::services
            .filter(dsl::tenant_id.eq(tenant.as_str()))
            .select(ServiceRow::as_select())
            .order((dsl::created_at.desc(), dsl::id.desc()))
            .limit(i64::from(query.limit) + 1)
            .into_boxed();
        if let Some(after) = &query.after {
            // (created_at, id) < (after.at, after.id), written so the index
            // range starts at the cursor.
            select = select
                .filter(dsl::created_at.le(after.at))
                .filter(dsl::created_at.lt(after.at).or(dsl::id.lt(after.id)));
        }
        if let Some(service_type) = &query.filter.service_type {
            select = select.filter(dsl::service_type.eq(service_type.as_str().to_owned()));
        }
        if let Some(status) = query.filter.status {
            select = select.filter(dsl::status.eq(status.as_str()));
        }
        if let Some(before) = query.filter.credential_expires_before {
            select = select.filter(dsl::credential_expires_at.lt(before));
        }
        if let Some(pattern) = query.filter.name_key_pattern() {
            select = select.filter(dsl::name_key.like(pattern).escape('\\'));
        }
        if let Reach::Matching(selectors) = &query.reach {
            select = select.filter(crate::reach::matching(selectors));
        }
        self.bounded(async {
            let mut conn = self.connection().await?;
            let rows: Vec<ServiceRow> = select.load(&mut conn).await.map_err(from_diesel)?;
            rows.into_iter().map(to_domain).collect()
        })
        .await
    }

    async fn update(
        &self,
        service: &Service,
        expected_version: i64,
        audit: &AuditEvent,
    ) -> Result<(), RepositoryError> {
        let row = ServiceRow::from(service);
        let audit = AuditRow::from(audit);
        self.bounded(async {
            let mut conn = self.connection().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let target = dsl::services
                    .filter(dsl::tenant_id.eq(&row.tenant_id))
                    .filter(dsl::id.eq(row.id));
                let updated = diesel::update(target.filter(dsl::version.eq(expected_version)))
                    .set((
                        dsl::name.eq(&row.name),
                        dsl::name_key.eq(&row.name_key),
                        dsl::description.eq(&row.description),
                        dsl::service_type.eq(&row.service_type),
                        dsl::status.eq(&row.status),
                        dsl::base_url.eq(&row.base_url),
                        dsl::api_version.eq(&row.api_version),
                        dsl::metadata.eq(&row.metadata),
                        dsl::updated_at.eq(row.updated_at),
                        dsl::version.eq(row.version),
                    ))
                    .execute(conn)
                    .await?;
                if updated != 1 {
                    let exists = diesel::select(diesel::dsl::exists(target))
                        .get_result::<bool>(conn)
                        .await?;
                    return Err(TxError::missing_or_conflict(exists));
                }
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

    async fn delete(
        &self,
        tenant: &TenantId,
        id: ServiceId,
        expected_version: Option<i64>,
        audit: &AuditEvent,
    ) -> Result<(), RepositoryError> {
        let audit = AuditRow::from(audit);
        self.bounded(async {
            let mut conn = self.connection().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let target = dsl::services
                    .filter(dsl::tenant_id.eq(tenant.as_str()))
                    .filter(dsl::id.eq(id.as_uuid()));
                let deleted = match expected_version {
                    Some(version) => {
                        diesel::delete(target.filter(dsl::version.eq(version)))
                            .execute(conn)
                            .await?
                    }
                    None => diesel::delete(target).execute(conn).await?,
                };
                if deleted != 1 {
                    let exists = diesel::select(diesel::dsl::exists(target))
                        .get_result::<bool>(conn)
                        .await?;
                    return Err(TxError::missing_or_conflict(exists));
                }
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

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.bounded(self.ping_once()).await
    }
}
