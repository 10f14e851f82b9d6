//! `ServiceRepository` on SQLite.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use exsvc_domain::access::Reach;
use exsvc_domain::audit::AuditEvent;
use exsvc_domain::credential::CredentialRecord;
use exsvc_domain::pagination::ListQuery;
use exsvc_domain::ports::{RepositoryError, ServiceRepository};
use exsvc_domain::{Service, ServiceId, TenantId};

use crate::errors::from_diesel;
use crate::rows::{AuditRow, CredentialRow, ServiceRow};
use crate::schema::services::dsl;
use crate::SqliteStore;

fn to_domain(row: ServiceRow) -> Result<Service, RepositoryError> {
    Service::try_from(row).map_err(|e| RepositoryError::Internal(Box::new(e)))
}

#[async_trait]
impl ServiceRepository for SqliteStore {
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
        self.write(move |c| {
            write::insert(c, &row, credential.as_ref())?;
            crate::audit::write::insert_events(c, &audit)?;
            Ok(())
        })
        .await
    }

    async fn find(
        &self,
        tenant: &TenantId,
        id: ServiceId,
    ) -> Result<Option<Service>, RepositoryError> {
        let tenant = tenant.as_str().to_owned();
        self.bounded(async {
            let mut conn = self.connection().await?;
            let row = dsl::services
                .filter(dsl::tenant_id.eq(tenant))
                .filter(dsl::id.eq(id.to_string()))
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
            .filter(dsl::tenant_id.eq(tenant.as_str().to_owned()))
            .select(ServiceRow::as_select())
            .order((dsl::created_at.desc(), dsl::id.desc()))
            .limit(i64::from(query.limit) + 1)
            .into_boxed();
        if let Some(after) = &query.after {
            let at = after.at.timestamp_micros();
            select = select
                .filter(dsl::created_at.le(at))
                .filter(dsl::created_at.lt(at).or(dsl::id.lt(after.id.to_string())));
        }
        if let Some(service_type) = &query.filter.service_type {
            select = select.filter(dsl::service_type.eq(service_type.as_str().to_owned()));
        }
        if let Some(status) = query.filter.status {
            select = select.filter(dsl::status.eq(status.as_str()));
        }
        if let Some(before) = query.filter.credential_expires_before {
            // A NULL expiry (no credential, or one that never expires) never
            // compares true, so such services never match.
            select = select.filter(dsl::credential_expires_at.lt(before.timestamp_micros()));
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
        self.write(move |c| {
            write::update(c, &row, expected_version)?;
            crate::audit::write::insert_events(c, &[audit])?;
            Ok(())
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
        let tenant = tenant.as_str().to_owned();
        let id = id.to_string();
        let audit = AuditRow::from(audit);
        self.write(move |c| {
            // The foreign key cascades to every credential version.
            write::delete(c, &tenant, &id, expected_version)?;
            crate::audit::write::insert_events(c, &[audit])?;
            Ok(())
        })
        .await
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.bounded(async {
            let mut conn = self.connection().await?;
            diesel::sql_query("SELECT 1")
                .execute(&mut conn)
                .await
                .map_err(from_diesel)?;
            Ok(())
        })
        .await
    }
}

mod write {
    //! Inside a write transaction (sync diesel on the blocking connection).

    use diesel::prelude::*;
    use exsvc_domain::ports::RepositoryError;

    use crate::rows::{CredentialRow, ServiceRow};
    use crate::schema::{credentials, services::dsl};
    use crate::tx::TxError;

    pub(super) fn insert(
        c: &mut SqliteConnection,
        row: &ServiceRow,
        credential: Option<&CredentialRow>,
    ) -> QueryResult<()> {
        diesel::insert_into(dsl::services).values(row).execute(c)?;
        if let Some(credential) = credential {
            diesel::insert_into(credentials::table)
                .values(credential)
                .execute(c)?;
        }
        Ok(())
    }

    /// Why a guarded write matched no row: the service is gone, or it changed.
    fn missed(c: &mut SqliteConnection, tenant: &str, id: &str) -> Result<(), TxError> {
        let exists = diesel::select(diesel::dsl::exists(
            dsl::services
                .filter(dsl::tenant_id.eq(tenant))
                .filter(dsl::id.eq(id)),
        ))
        .get_result::<bool>(c)?;
        Err(TxError::Refused(if exists {
            RepositoryError::VersionConflict
        } else {
            RepositoryError::NotFound
        }))
    }

    /// Only the writable columns, `updated_at` and `version`: the credential
    /// summary belongs to the credential operations.
    pub(super) fn update(
        c: &mut SqliteConnection,
        row: &ServiceRow,
        expected_version: i64,
    ) -> Result<(), TxError> {
        let updated = diesel::update(
            dsl::services
                .filter(dsl::tenant_id.eq(&row.tenant_id))
                .filter(dsl::id.eq(&row.id))
                .filter(dsl::version.eq(expected_version)),
        )
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
        .execute(c)?;
        if updated == 1 {
            return Ok(());
        }
        missed(c, &row.tenant_id, &row.id)
    }

    pub(super) fn delete(
        c: &mut SqliteConnection,
        tenant: &str,
        id: &str,
        expected_version: Option<i64>,
    ) -> Result<(), TxError> {
        let target = dsl::services
            .filter(dsl::tenant_id.eq(tenant))
            .filter(dsl::id.eq(id));
        let deleted = match expected_version {
            Some(version) => diesel::delete(target.filter(dsl::version.eq(version))).execute(c)?,
            None => diesel::delete(target).execute(c)?,
        };
        if deleted == 1 {
            return Ok(());
        }
        missed(c, tenant, id)
    }
}
