//! `AccessRepository` on SQLite. Every write stores its audit event and ticks
//! the access clock in its own immediate transaction; the foreign key from
//! bindings to roles keeps the two consistent whatever writes the file.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::dsl::{count_star, max};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use exsvc_domain::access::{BindingFilter, Role, RoleBinding, RoleFilter, RoleName};
use exsvc_domain::audit::{AuditAction, AuditEvent, AuditOutcome};
use exsvc_domain::pagination::Cursor;
use exsvc_domain::ports::{
    AccessChanges, AccessQuery, AccessRepository, RepositoryError, SecretReader,
};
use exsvc_domain::stored::CorruptRow;
use exsvc_domain::{ServiceId, TenantId};
use uuid::Uuid;

use crate::errors::from_diesel;
use crate::rows::{AuditRow, BindingRow, RoleRow};
use crate::schema::{access_changes, access_clock, audit_events, role_bindings, roles};
use crate::SqliteStore;

fn corrupt(e: CorruptRow) -> RepositoryError {
    RepositoryError::Internal(Box::new(e))
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

#[async_trait]
impl AccessRepository for SqliteStore {
    async fn insert_role(&self, role: &Role, audit: &AuditEvent) -> Result<(), RepositoryError> {
        let row = RoleRow::from(role);
        let audit = AuditRow::from(audit);
        self.write(move |c| {
            write::insert_role(c, &row)?;
            write::record_change(c, &row.tenant_id, audit)
        })
        .await
    }

    async fn find_role(
        &self,
        tenant: &TenantId,
        name: &RoleName,
    ) -> Result<Option<Role>, RepositoryError> {
        let query = roles::table
            .filter(roles::tenant_id.eq(tenant.as_str().to_owned()))
            .filter(roles::name.eq(name.as_str().to_owned()))
            .select(RoleRow::as_select());
        self.bounded(async {
            let mut conn = self.connection().await?;
            let row = query
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
            let at = micros(at);
            select = select
                .filter(roles::created_at.le(at))
                .filter(roles::created_at.lt(at).or(roles::id.lt(id.to_string())));
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
        self.write(move |c| {
            write::update_role(c, &row, expected_version)?;
            write::record_change(c, &row.tenant_id, audit)
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
        let tenant = tenant.as_str().to_owned();
        let name = name.as_str().to_owned();
        let audit = AuditRow::from(audit);
        self.write(move |c| {
            write::delete_role(c, &tenant, &name, expected_version)?;
            write::record_change(c, &tenant, audit)
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
        self.write(move |c| {
            write::insert_binding(c, &row)?;
            write::record_change(c, &row.tenant_id, audit)
        })
        .await
    }

    async fn find_binding(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> Result<Option<RoleBinding>, RepositoryError> {
        let query = role_bindings::table
            .filter(role_bindings::tenant_id.eq(tenant.as_str().to_owned()))
            .filter(role_bindings::id.eq(id.to_string()))
            .select(BindingRow::as_select());
        self.bounded(async {
            let mut conn = self.connection().await?;
            let row = query
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
            let at = micros(at);
            select = select.filter(role_bindings::created_at.le(at)).filter(
                role_bindings::created_at
                    .lt(at)
                    .or(role_bindings::id.lt(id.to_string())),
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
        let tenant = tenant.as_str().to_owned();
        let id = id.to_string();
        let audit = AuditRow::from(audit);
        self.write(move |c| {
            write::delete_binding(c, &tenant, &id)?;
            write::record_change(c, &tenant, audit)
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
        // One statement, so the clock and the tenants come from one snapshot.
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
            .filter(audit_events::service_id.eq(service.to_string()))
            .filter(audit_events::action.eq_any([
                AuditAction::CredentialsRead.as_str(),
                AuditAction::CredentialsUse.as_str(),
            ]))
            .filter(audit_events::outcome.eq(AuditOutcome::Success.as_str()))
            .filter(audit_events::occurred_at.ge(micros(since)))
            .group_by(audit_events::actor)
            .select((audit_events::actor, last_read, count_star()))
            .order((last_read.desc(), audit_events::actor.asc()));
        self.bounded(async {
            let mut conn = self.connection().await?;
            let rows: Vec<(String, Option<i64>, i64)> =
                query.load(&mut conn).await.map_err(from_diesel)?;
            rows.into_iter()
                // A group has a row, so it has a maximum.
                .filter_map(|(actor, last, reads)| last.map(|last| (actor, last, reads)))
                .map(|(actor, last, reads)| {
                    let last_read_at = DateTime::from_timestamp_micros(last).ok_or_else(|| {
                        corrupt(CorruptRow::new(
                            "audit_events",
                            &actor,
                            format!("timestamp {last} is out of range"),
                        ))
                    })?;
                    Ok(SecretReader {
                        actor,
                        last_read_at,
                        reads,
                    })
                })
                .collect()
        })
        .await
    }
}

mod write {
    //! Inside a write transaction (sync diesel on the blocking connection).

    use diesel::prelude::*;
    use diesel::result::{DatabaseErrorKind, Error as DieselError};
    use exsvc_domain::ports::RepositoryError;

    use crate::rows::{AuditRow, BindingRow, RoleRow};
    use crate::schema::{access_changes, access_clock, role_bindings, roles};
    use crate::tx::TxError;

    pub(super) fn insert_role(c: &mut SqliteConnection, row: &RoleRow) -> QueryResult<()> {
        diesel::insert_into(roles::table)
            .values(row)
            .execute(c)
            .map(drop)
    }

    pub(super) fn update_role(
        c: &mut SqliteConnection,
        row: &RoleRow,
        expected_version: i64,
    ) -> Result<(), TxError> {
        let updated = diesel::update(
            roles::table
                .filter(roles::tenant_id.eq(&row.tenant_id))
                .filter(roles::name.eq(&row.name))
                .filter(roles::version.eq(expected_version)),
        )
        .set((
            roles::description.eq(&row.description),
            roles::permissions.eq(&row.permissions),
            roles::services.eq(&row.services),
            roles::updated_at.eq(row.updated_at),
            roles::version.eq(row.version),
        ))
        .execute(c)?;
        if updated == 1 {
            return Ok(());
        }
        Err(missed(c, &row.tenant_id, &row.name))
    }

    pub(super) fn delete_role(
        c: &mut SqliteConnection,
        tenant: &str,
        name: &str,
        expected_version: Option<i64>,
    ) -> Result<(), TxError> {
        let target = roles::table
            .filter(roles::tenant_id.eq(tenant))
            .filter(roles::name.eq(name));
        let deleted = match expected_version {
            Some(version) => diesel::delete(target.filter(roles::version.eq(version))).execute(c),
            None => diesel::delete(target).execute(c),
        }
        .map_err(refused_by_key(|| RepositoryError::InUse))?;
        if deleted == 1 {
            return Ok(());
        }
        Err(missed(c, tenant, name))
    }

    pub(super) fn insert_binding(
        c: &mut SqliteConnection,
        row: &BindingRow,
    ) -> Result<(), TxError> {
        diesel::insert_into(role_bindings::table)
            .values(row)
            .execute(c)
            .map_err(refused_by_key(|| RepositoryError::NotFound))?;
        Ok(())
    }

    pub(super) fn delete_binding(
        c: &mut SqliteConnection,
        tenant: &str,
        id: &str,
    ) -> Result<(), TxError> {
        let deleted = diesel::delete(
            role_bindings::table
                .filter(role_bindings::tenant_id.eq(tenant))
                .filter(role_bindings::id.eq(id)),
        )
        .execute(c)?;
        if deleted == 1 {
            Ok(())
        } else {
            Err(TxError::Refused(RepositoryError::NotFound))
        }
    }

    /// A write the foreign key refused, as the outcome it means for this write.
    fn refused_by_key(outcome: fn() -> RepositoryError) -> impl FnOnce(DieselError) -> TxError {
        move |error| match error {
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                TxError::Refused(outcome())
            }
            other => TxError::Db(other),
        }
    }

    /// Why a guarded role write matched no row: the role is gone, or it changed.
    fn missed(c: &mut SqliteConnection, tenant: &str, name: &str) -> TxError {
        let exists = diesel::select(diesel::dsl::exists(
            roles::table
                .filter(roles::tenant_id.eq(tenant))
                .filter(roles::name.eq(name)),
        ))
        .get_result::<bool>(c);
        match exists {
            Ok(true) => TxError::Refused(RepositoryError::VersionConflict),
            Ok(false) => TxError::Refused(RepositoryError::NotFound),
            Err(e) => TxError::Db(e),
        }
    }

    /// The end of every access write: its audit event and the clock's tick.
    /// The immediate transaction holds the file's write lock, so ticks are
    /// taken in commit order and read back without a RETURNING clause.
    pub(super) fn record_change(
        c: &mut SqliteConnection,
        tenant: &str,
        audit: AuditRow,
    ) -> Result<(), TxError> {
        crate::audit::write::insert_events(c, &[audit])?;
        diesel::update(access_clock::table)
            .set(access_clock::clock.eq(access_clock::clock + 1))
            .execute(c)?;
        let clock: i64 = access_clock::table
            .select(access_clock::clock)
            .get_result(c)?;
        diesel::insert_into(access_changes::table)
            .values((
                access_changes::tenant_id.eq(tenant),
                access_changes::clock.eq(clock),
            ))
            .on_conflict(access_changes::tenant_id)
            .do_update()
            .set(access_changes::clock.eq(clock))
            .execute(c)?;
        Ok(())
    }
}
