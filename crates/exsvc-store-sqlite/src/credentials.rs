//! `CredentialRepository` on SQLite: ciphertext rows per version, and the
//! summary columns of `services` kept in step with the newest one.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use exsvc_domain::audit::AuditEvent;
use exsvc_domain::credential::{CredentialMeta, CredentialRecord};
use exsvc_domain::ports::{CredentialRepository, RepositoryError, VersionState};
use exsvc_domain::{ServiceId, TenantId};

use crate::errors::from_diesel;
use crate::rows::{AuditRow, CredentialMetaRow, CredentialRow};
use crate::schema::{credentials, services};
use crate::SqliteStore;

fn corrupt(e: exsvc_domain::stored::CorruptRow) -> RepositoryError {
    RepositoryError::Internal(Box::new(e))
}

/// A `usize` count as SQL's integer; no real count reaches the clamp.
fn sql_count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl CredentialRepository for SqliteStore {
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
            .filter(services::id.eq(service.to_string()))
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
        self.write(move |c| {
            write::insert(c, &row, keep_from)?;
            crate::audit::write::insert_events(c, &[audit])?;
            Ok(())
        })
        .await
    }

    async fn find(
        &self,
        tenant: &TenantId,
        service: ServiceId,
        version: Option<i64>,
    ) -> Result<Option<CredentialRecord>, RepositoryError> {
        let mut query = credentials::table
            .filter(credentials::tenant_id.eq(tenant.as_str().to_owned()))
            .filter(credentials::service_id.eq(service.to_string()))
            .select(CredentialRow::as_select())
            .order(credentials::version.desc())
            .into_boxed();
        if let Some(version) = version {
            query = query.filter(credentials::version.eq(version));
        }
        self.bounded(async {
            let mut conn = self.connection().await?;
            let row: Option<CredentialRow> = query
                .first(&mut conn)
                .await
                .optional()
                .map_err(from_diesel)?;
            row.map(CredentialRecord::try_from)
                .transpose()
                .map_err(corrupt)
        })
        .await
    }

    async fn versions(
        &self,
        tenant: &TenantId,
        service: ServiceId,
    ) -> Result<Vec<CredentialMeta>, RepositoryError> {
        let query = credentials::table
            .filter(credentials::tenant_id.eq(tenant.as_str().to_owned()))
            .filter(credentials::service_id.eq(service.to_string()))
            .select(CredentialMetaRow::as_select())
            .order(credentials::version.desc());
        self.bounded(async {
            let mut conn = self.connection().await?;
            let rows: Vec<CredentialMetaRow> = query.load(&mut conn).await.map_err(from_diesel)?;
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
        let tenant = tenant.as_str().to_owned();
        let service = service.to_string();
        let audit = AuditRow::from(audit);
        self.write(move |c| {
            let deleted = write::delete_all(c, &tenant, &service)?;
            crate::audit::write::insert_events(c, &[audit])?;
            Ok(deleted)
        })
        .await
    }

    async fn batch(
        &self,
        after: Option<(ServiceId, i64)>,
        limit: usize,
    ) -> Result<Vec<CredentialRecord>, RepositoryError> {
        let mut query = credentials::table
            .select(CredentialRow::as_select())
            .order((credentials::service_id.asc(), credentials::version.asc()))
            .limit(sql_count(limit))
            .into_boxed();
        if let Some((service, version)) = after {
            let service = service.to_string();
            // The `ge` bound lets the primary key range-scan; the `or` is the
            // tie-break within one service.
            query = query
                .filter(credentials::service_id.ge(service.clone()))
                .filter(
                    credentials::service_id
                        .gt(service.clone())
                        .or(credentials::version.gt(version)),
                );
        }
        self.bounded(async {
            let mut conn = self.connection().await?;
            let rows: Vec<CredentialRow> = query.load(&mut conn).await.map_err(from_diesel)?;
            rows.into_iter()
                .map(|row| CredentialRecord::try_from(row).map_err(corrupt))
                .collect()
        })
        .await
    }

    async fn replace_ciphertext(
        &self,
        record: &CredentialRecord,
        ciphertext: &[u8],
    ) -> Result<bool, RepositoryError> {
        // One statement is atomic on its own: the comparison with the old
        // ciphertext is the compare-and-swap.
        let target = credentials::table
            .filter(credentials::tenant_id.eq(record.tenant_id.as_str().to_owned()))
            .filter(credentials::service_id.eq(record.service_id.to_string()))
            .filter(credentials::version.eq(record.version))
            .filter(credentials::ciphertext.eq(record.ciphertext.clone()));
        let update = diesel::update(target).set(credentials::ciphertext.eq(ciphertext.to_vec()));
        self.bounded(async {
            let mut conn = self.connection().await?;
            let replaced = update.execute(&mut conn).await.map_err(from_diesel)?;
            Ok(replaced == 1)
        })
        .await
    }
}

mod write {
    //! Inside a write transaction (sync diesel on the blocking connection).

    use diesel::prelude::*;
    use exsvc_domain::ports::RepositoryError;

    use crate::rows::CredentialRow;
    use crate::schema::{credentials, services};
    use crate::tx::TxError;

    /// NotFound unless the tenant has the service. Inside the immediate
    /// transaction the answer holds until commit.
    fn require_service(c: &mut SqliteConnection, tenant: &str, id: &str) -> Result<(), TxError> {
        let exists = diesel::select(diesel::dsl::exists(
            services::table
                .filter(services::tenant_id.eq(tenant))
                .filter(services::id.eq(id)),
        ))
        .get_result::<bool>(c)?;
        if exists {
            Ok(())
        } else {
            Err(TxError::Refused(RepositoryError::NotFound))
        }
    }

    fn set_summary(
        c: &mut SqliteConnection,
        tenant: &str,
        id: &str,
        auth_type: Option<&str>,
        expires_at: Option<i64>,
    ) -> QueryResult<usize> {
        diesel::update(
            services::table
                .filter(services::tenant_id.eq(tenant))
                .filter(services::id.eq(id)),
        )
        .set((
            services::credential_auth_type.eq(auth_type),
            services::credential_expires_at.eq(expires_at),
        ))
        .execute(c)
    }

    pub(super) fn insert(
        c: &mut SqliteConnection,
        row: &CredentialRow,
        keep_from: i64,
    ) -> Result<(), TxError> {
        require_service(c, &row.tenant_id, &row.service_id)?;
        // The version must be above every one issued so far: numbers are never
        // reused, also after a delete.
        let claimed = diesel::update(
            services::table
                .filter(services::tenant_id.eq(&row.tenant_id))
                .filter(services::id.eq(&row.service_id))
                .filter(services::credential_version_issued.lt(row.version)),
        )
        .set(services::credential_version_issued.eq(row.version))
        .execute(c)?;
        if claimed != 1 {
            return Err(TxError::Refused(RepositoryError::Duplicate));
        }
        // A clash on (service_id, version) is a unique violation: Duplicate.
        diesel::insert_into(credentials::table)
            .values(row)
            .execute(c)?;
        set_summary(
            c,
            &row.tenant_id,
            &row.service_id,
            Some(&row.auth_type),
            row.expires_at,
        )?;
        diesel::delete(
            credentials::table
                .filter(credentials::service_id.eq(&row.service_id))
                .filter(credentials::version.lt(keep_from)),
        )
        .execute(c)?;
        Ok(())
    }

    pub(super) fn delete_all(
        c: &mut SqliteConnection,
        tenant: &str,
        id: &str,
    ) -> Result<u64, TxError> {
        require_service(c, tenant, id)?;
        let deleted = diesel::delete(
            credentials::table
                .filter(credentials::tenant_id.eq(tenant))
                .filter(credentials::service_id.eq(id)),
        )
        .execute(c)?;
        set_summary(c, tenant, id, None, None)?;
        Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
    }
}
