//! `AuditLog` on SQLite, and the audit insert every write transaction shares.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use exsvc_domain::access::Reach;
use exsvc_domain::audit::{AuditEvent, AuditQuery};
use exsvc_domain::pagination::Cursor;
use exsvc_domain::ports::{AuditLog, RepositoryError, UseOutcome};
use exsvc_domain::TenantId;

use crate::errors::from_diesel;
use crate::rows::AuditRow;
use crate::schema::audit_events::dsl;
use crate::schema::services;
use crate::SqliteStore;

pub(crate) mod write {
    //! Inside a write transaction (sync diesel on the blocking connection).

    use diesel::prelude::*;

    use crate::rows::AuditRow;
    use crate::schema::audit_events::dsl;

    pub(crate) fn insert_events(c: &mut SqliteConnection, rows: &[AuditRow]) -> QueryResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        diesel::insert_into(dsl::audit_events)
            .values(rows)
            .execute(c)
            .map(drop)
    }

    /// Sets the `details` of the tenant's event `id`; no such event is no error.
    pub(crate) fn set_details(
        c: &mut SqliteConnection,
        tenant: &str,
        id: &str,
        details: &str,
    ) -> QueryResult<()> {
        diesel::update(dsl::audit_events)
            .filter(dsl::id.eq(id))
            .filter(dsl::tenant_id.eq(tenant))
            .set(dsl::details.eq(details))
            .execute(c)
            .map(drop)
    }
}

fn to_domain(row: AuditRow) -> Result<AuditEvent, RepositoryError> {
    AuditEvent::try_from(row).map_err(|e| RepositoryError::Internal(Box::new(e)))
}

#[async_trait]
impl AuditLog for SqliteStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), RepositoryError> {
        let row = AuditRow::from(event);
        self.write(move |c| Ok(write::insert_events(c, &[row])?))
            .await
    }

    async fn list(
        &self,
        tenant: &TenantId,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEvent>, RepositoryError> {
        let mut select = dsl::audit_events
            .filter(dsl::tenant_id.eq(tenant.as_str().to_owned()))
            .select(AuditRow::as_select())
            .order((dsl::occurred_at.desc(), dsl::id.desc()))
            .limit(i64::from(query.limit) + 1)
            .into_boxed();
        if let Some(Cursor { at, id }) = query.after {
            let at = at.timestamp_micros();
            // The `le` bound lets the index range-scan; the `or` is the tie-break.
            select = select
                .filter(dsl::occurred_at.le(at))
                .filter(dsl::occurred_at.lt(at).or(dsl::id.lt(id.to_string())));
        }
        if let Some(service) = query.filter.service_id {
            select = select.filter(dsl::service_id.eq(service.to_string()));
        }
        if let Some(action) = query.filter.action {
            select = select.filter(dsl::action.eq(action.as_str()));
        }
        if let Some(actor) = &query.filter.actor {
            select = select.filter(dsl::actor.eq(actor.clone()));
        }
        if let Some(since) = query.filter.since {
            select = select.filter(dsl::occurred_at.ge(since.timestamp_micros()));
        }
        if let Reach::Matching(selectors) = &query.reach {
            // Events of existing services the caller reaches: an event without
            // a service, or of a deleted one, is not in anyone's reach.
            let reached = services::table
                .filter(services::tenant_id.eq(tenant.as_str().to_owned()))
                .filter(crate::reach::matching(selectors))
                .select(services::id.nullable())
                .into_boxed();
            select = select.filter(dsl::service_id.eq_any(reached));
        }
        if let Some(until) = query.filter.until {
            select = select.filter(dsl::occurred_at.lt(until.timestamp_micros()));
        }
        self.bounded(async {
            let mut conn = self.connection().await?;
            let rows: Vec<AuditRow> = select.load(&mut conn).await.map_err(from_diesel)?;
            rows.into_iter().map(to_domain).collect()
        })
        .await
    }

    async fn record_outcomes(&self, outcomes: &[UseOutcome]) -> Result<(), RepositoryError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let rows: Vec<(String, String, String)> = outcomes
            .iter()
            .map(|o| {
                (
                    o.tenant.as_str().to_owned(),
                    o.event_id.to_string(),
                    o.details.to_string(),
                )
            })
            .collect();
        // One immediate transaction, one prepared UPDATE run per outcome (the
        // statement is cached; SQLite has no round trips to save). In order,
        // so the later of two outcomes for one event wins.
        self.write(move |c| {
            for (tenant, id, details) in &rows {
                write::set_details(c, tenant, id, details)?;
            }
            Ok(())
        })
        .await
    }
}
