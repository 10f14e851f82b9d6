//! `AccessRepository` on PostgreSQL. Every write stores its audit event and
//! ticks the access clock in its own transaction; the foreign key from
//! bindings to roles decides the races between them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::dsl::{count_star, max};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use exsvc_domain::access::{BindingFilter, Role, RoleBinding, RoleFilter, RoleName};
use exsvc_domain::audit::{AuditAction, AuditEvent, AuditOutcome};
use exsvc_domain::pagination::Cursor;
use exsvc_domain::ports::{
    AccessChanges, AccessQuery, AccessRepository, RepositoryError, SecretReader,
};
use exsvc_domain::stored::CorruptRow;
use exsvc_domain::{ServiceId, TenantId};
use uuid::Uuid;

use crate::errors::{from_diesel, TxError};
use crate::rows::{AuditRow, BindingRow, RoleRow};
use crate::schema::{access_changes, access_clock, audit_events, role_bindings, roles};
use crate::PgStore;

fn corrupt(e: CorruptRow) -> RepositoryError {
    RepositoryError::Internal(Box::new(e))
}

/// A write the foreign key refused, as the outcome it means for this write.
fn refused_by_key(outcome: fn() -> RepositoryError) -> impl FnOnce(DieselError) -> TxError {
    move |error| match error {
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            TxError::Repository(outcome())
        }
        other => TxError::Database(other),
    }
}

/// The end of every access write: its audit event, then the clock's tick.
/// The tick comes last so the clock's row lock, which orders the writers'
/// numbers as their commits, is held only from here to the commit.
async fn record_change(
    conn: &mut AsyncPgConnection,
    tenant: &str,
    audit: &AuditRow,
) -> Result<(), TxError> {
    diesel::insert_into(audit_events::table)
        .values(audit)
        .execute(conn)
        .await?;
    let clock: i64 = diesel::update(access_clock::table)
        .set(access_clock::clock.eq(access_clock::clock + 1))
        .returning(access_clock::clock)
        .get_result(conn)
        .await?;
    diesel::insert_into(access_changes::table)
        .values((
            access_changes::tenant_id.eq(tenant),
            access_changes::clock.eq(clock),
        ))
        .on_conflict(access_changes::tenant_id)
        .do_update()
        .set(access_changes::clock.eq(clock))
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl AccessRepository for PgStore {
    async fn insert_role(&self, role: &Role, audit: &AuditEvent) -> Result<(), RepositoryError> {
        let row = RoleRow::from(role);
        let audit = AuditRow::from(audit);
        self.bounded(async {
            let mut conn = self.connection().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                diesel::insert_into(roles::table)
                    .values(&row)
                    .execute(conn)
                    .await?;
                record_change(conn, &row.tenant_id, &audit).await
            })
            .await
            .map_err(TxError::into_repository)
        })
        .await
    }

    async fn find_role(
        &self,
        tenant: &TenantId,
        name: &RoleName,
    ) -> Result<Option<Role>, RepositoryError> {
        self.bounded(async {
            let mut conn = self.connection().await?;
            let row = roles::table
                .filter(roles::tenant_id.eq(tenant.as_str()))
                .filter(roles::name.eq(name.as_str()))
                .select(RoleRow::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(from_diesel)?;
            row.map(|r| Role::try_from(r).map_err(corrupt)).transpose()
        })
        .await
    }

    async fn list_roles(
        &self,
        tenant: &TenantId,
        query: &AccessQuery<RoleFilter>,
    ) -> Result<Vec<Role>, RepositoryError> {
        let mut select = roles::table
            .filter(roles::tenant_id.eq(tenant.as_str().to_owned()))
            .select(RoleRow::as_select())
            .order((roles::created_at.desc(), roles::id.desc()))
            .limit(i64::from(query.limit) + 1)
            .into_boxed();
        if let Some(Cursor { at, id }) = query.after {
            select = select
                .filter(roles::created_at.le(at))
                .filter(roles::created_at.lt(at).or(roles::id.lt(id)));
        }
        self.bounded(async {
            let mut conn = self.connection().await?;
            let rows: Vec<RoleRow> = select.load(&mut conn).await.map_err(from_diesel)?;
            rows.into_iter()
                .map(|r| Role::try_from(r).map_err(corrupt))
                .collect()
        })
        .await
    }

    async fn update_role(
        &self,
        role: &Role,
        expected_version: i64,
        audit: &AuditEvent,
    ) -> Result<(), RepositoryError> {
        let row = RoleRow::from(role);
        let audit = AuditRow::from(audit);
        self.bounded(async {
            let mut conn = self.connection().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let target = roles::table
                    .filter(roles::tenant_id.eq(&row.tenant_id))
                    .filter(roles::name.eq(&row.name));
                let updated = diesel::update(target.filter(roles::version.eq(expected_version)))
                    .set((
                        roles::description.eq(&row.description),
                        roles::permissions.eq(&row.permissions),
                        roles::services.eq(&row.services),
                        roles::updated_at.eq(row.updated_at),
                        roles::version.eq(row.version),
                    ))
                    .execute(conn)
                    .await?;
                if updated != 1 {
                    let exists = diesel::select(diesel::dsl::exists(target))
                        .get_result::<bool>(conn)
                        .await?;
                    return Err(TxError::missing_or_conflict(exists));
                }
                record_change(conn, &row.tenant_id, &audit).await
            })
            .await
            .map_err(TxError::into_repository)
        })
        .await
    }

    async fn delete_role(
        &self,
        tenant: &TenantId,
        name: &RoleName,
        expected_version: Option<i64>,
        audit: &AuditEvent,
    ) -> Result<(), RepositoryError> {
        let audit = AuditRow::from(audit);
        self.bounded(async {
            let mut conn = self.connection().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let target = roles::table
                    .filter(roles::tenant_id.eq(tenant.as_str()))
                    .filter(roles::name.eq(name.as_str()));
                let deleted = match expected_version {
                    Some(version) => {
                        diesel::delete(target.filter(roles::version.eq(version)))
                            .execute(conn)
                            .await
                    }
                    None => diesel::delete(target).execute(conn).await,
                }
                .map_err(refused_by_key(|| RepositoryError::InUse))?;
                if deleted != 1 {
                    let exists = diesel::select(diesel::dsl::exists(target))
                        .get_result::<bool>(conn)
                        .await?;
                    return Err(TxError::missing_or_conflict(exists));
                }
                record_change(conn, tenant.as_str(), &audit).await
            })
            .await
            .map_err(TxError::into_repository)
        })
        .await
    }

    async fn insert_binding(
        &self,
        binding: &RoleBinding,
        audit: &AuditEvent,
    ) -> Result<(), RepositoryError> {
        let row = BindingRow::from(binding);
        let audit = AuditRow::from(audit);
        self.bounded(async {
            let mut conn = self.connection().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                diesel::insert_into(role_bindings::table)
                    .values(&row)
                    .execute(conn)
                    .await
                    .map_err(refused_by_key(|| RepositoryError::NotFound))?;
                record_change(conn, &row.tenant_id, &audit).await
            })
            .await
            .map_err(TxError::into_repository)
        })
        .await
    }

    async fn find_binding(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> Result<Option<RoleBinding>, RepositoryError> {
        self.bounded(async {
            let mut conn = self.connection().await?;
            let row = role_bindings::table
                .filter(role_bindings::tenant_id.eq(tenant.as_str()))
                .filter(role_bindings::id.eq(id))
                .select(BindingRow::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(from_diesel)?;
            row.map(|r| RoleBinding::try_from(r).map_err(corrupt))
                .transpose()
        })
        .await
    }

    async fn list_bindings(
        &self,
        tenant: &TenantId,
        query: &AccessQuery<BindingFilter>,
    ) -> Result<Vec<RoleBinding>, RepositoryError> {
        let mut select = role_bindings::table
            .filter(role_bindings::tenant_id.eq(tenant.as_str().to_owned()))
            .select(BindingRow::as_select())
            .order((role_bindings::created_at.desc(), role_bindings::id.desc()))
            .limit(i64::from(query.limit) + 1)
            .into_boxed();
        if let Some(Cursor { at, id }) = query.after {
            select = select.filter(role_bindings::created_at.le(at)).filter(
                role_bindings::created_at
                    .lt(at)
                    .or(role_bindings::id.lt(id)),
            );
        }
        if let Some(role) = &query.filter.role {
            select = select.filter(role_bindings::role_name.eq(role.as_str().to_owned()));
        }
        if let Some(kind) = query.filter.subject_type {
            select = select.filter(role_bindings::subject_type.eq(kind.as_str()));
        }
        if let Some(value) = &query.filter.subject_value {
            select = select.filter(role_bindings::subject_value.eq(value.clone()));
        }
        self.bounded(async {
            let mut conn = self.connection().await?;
            let rows: Vec<BindingRow> = select.load(&mut conn).await.map_err(from_diesel)?;
            rows.into_iter()
                .map(|r| RoleBinding::try_from(r).map_err(corrupt))
                .collect()
        })
        .await
    }

    async fn delete_binding(
        &self,
        tenant: &TenantId,
        id: Uuid,
        audit: &AuditEvent,
    ) -> Result<(), RepositoryError> {
        let audit = AuditRow::from(audit);
        self.bounded(async {
            let mut conn = self.connection().await?;
            conn.transaction::<_, TxError, _>(async |conn| {
                let deleted = diesel::delete(
                    role_bindings::table
                        .filter(role_bindings::tenant_id.eq(tenant.as_str()))
                        .filter(role_bindings::id.eq(id)),
                )
                .execute(conn)
                .await?;
                if deleted != 1 {
                    return Err(TxError::Repository(RepositoryError::NotFound));
                }
                record_change(conn, tenant.as_str(), &audit).await
            })
            .await
            .map_err(TxError::into_repository)
        })
        .await
    }

    async fn tenant_bindings(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<(RoleBinding, Role)>, RepositoryError> {
        let query = role_bindings::table
            .inner_join(
                roles::table.on(roles::tenant_id
                    .eq(role_bindings::tenant_id)
                    .and(roles::name.eq(role_bindings::role_name))),
            )
            .filter(role_bindings::tenant_id.eq(tenant.as_str().to_owned()))
            .order((role_bindings::created_at.asc(), role_bindings::id.asc()))
            .select((BindingRow::as_select(), RoleRow::as_select()));
        self.bounded(async {
            let mut conn = self.connection().await?;
            let rows: Vec<(BindingRow, RoleRow)> =
                query.load(&mut conn).await.map_err(from_diesel)?;
            Ok(exsvc_domain::stored::usable_bindings(rows.into_iter().map(
                |(b, r)| (RoleBinding::try_from(b), Role::try_from(r)),
            )))
        })
        .await
    }

    async fn changes_since(&self, after: i64) -> Result<AccessChanges, RepositoryError> {
        // One statement, so the clock and the tenants come from one snapshot:
        // every change numbered up to the clock read is among them.
        let query = access_clock::table
            .left_join(access_changes::table.on(access_changes::clock.gt(after)))
            .select((access_clock::clock, access_changes::tenant_id.nullable()));
        self.bounded(async {
            let mut conn = self.connection().await?;
            let rows: Vec<(i64, Option<String>)> =
                query.load(&mut conn).await.map_err(from_diesel)?;
            let clock = rows.iter().map(|(clock, _)| *clock).next().ok_or_else(|| {
                corrupt(CorruptRow::new(
                    "access_clock",
                    1,
                    "the clock row is missing",
                ))
            })?;
            let tenants = rows
                .into_iter()
                .filter_map(|(_, tenant)| tenant)
                .map(|raw| {
                    TenantId::from_stored(&raw)
                        .map_err(|e| corrupt(CorruptRow::new("access_changes", "?", e.to_string())))
                })
                .collect::<Result<_, _>>()?;
            Ok(AccessChanges { clock, tenants })
        })
        .await
    }

    async fn secret_readers(
        &self,
        tenant: &TenantId,
        service: ServiceId,
        since: DateTime<Utc>,
    ) -> Result<Vec<SecretReader>, RepositoryError> {
        let last_read = max(audit_events::occurred_at);
        let query = audit_events::table
            .filter(audit_events::tenant_id.eq(tenant.as_str().to_owned()))
            .filter(audit_events::service_id.eq(service.as_uuid()))
            .filter(audit_events::action.eq_any([
                AuditAction::CredentialsRead.as_str(),
                AuditAction::CredentialsUse.as_str(),
            ]))
            .filter(audit_events::outcome.eq(AuditOutcome::Success.as_str()))
            .filter(audit_events::occurred_at.ge(since))
            .group_by(audit_events::actor)
            .select((audit_events::actor, last_read, count_star()))
            .order((last_read.desc(), audit_events::actor.asc()));
        self.bounded(async {
            let mut conn = self.connection().await?;
            let rows: Vec<(String, Option<DateTime<Utc>>, i64)> =
                query.load(&mut conn).await.map_err(from_diesel)?;
            Ok(rows
                .into_iter()
                .filter_map(|(actor, last_read_at, reads)| {
                    // A group has a row, so it has a maximum.
                    last_read_at.map(|last_read_at| SecretReader {
                        actor,
                        last_read_at,
                        reads,
                    })
                })
                .collect())
        })
        .await
    }
}
