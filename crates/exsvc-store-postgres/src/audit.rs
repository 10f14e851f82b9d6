//! `AuditLog` on PostgreSQL.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Uuid as SqlUuid};
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
use crate::PgStore;

#[async_trait]
impl AuditLog for PgStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), RepositoryError> {
        let row = AuditRow::from(event);
        self.bounded(async {
            let mut conn = self.connection().await?;
            diesel::insert_into(dsl::audit_events)
                .values(&row)
                .execute(&mut conn)
                .await
                .map_err(from_diesel)?;
            Ok(())
        })
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
            select = select
                .filter(dsl::occurred_at.le(at))
                .filter(dsl::occurred_at.lt(at).or(dsl::id.lt(id)));
        }
        if let Some(service) = query.filter.service_id {
            select = select.filter(dsl::service_id.eq(service.as_uuid()));
        }
        if let Some(action) = query.filter.action {
            select = select.filter(dsl::action.eq(action.as_str()));
        }
        if let Some(actor) = &query.filter.actor {
            select = select.filter(dsl::actor.eq(actor.clone()));
        }
        if let Some(since) = query.filter.since {
            select = select.filter(dsl::occurred_at.ge(since));
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
            select = select.filter(dsl::occurred_at.lt(until));
        }
        self.bounded(async {
            let mut conn = self.connection().await?;
            let rows: Vec<AuditRow> = select.load(&mut conn).await.map_err(from_diesel)?;
            rows.into_iter()
                .map(|r| {
                    AuditEvent::try_from(r).map_err(|e| RepositoryError::Internal(Box::new(e)))
                })
                .collect()
        })
        .await
    }

    async fn record_outcomes(&self, outcomes: &[UseOutcome]) -> Result<(), RepositoryError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let (tenants, ids, details) = outcome_columns(outcomes);
        self.bounded(async {
            let mut conn = self.connection().await?;
            // One statement for the whole batch (one round trip, atomic): the
            // outcomes arrive as three parallel arrays, and the join on the
            // primary key and tenant skips an id that is not the tenant's.
            // The statement is its own transaction, committed without waiting
            // for the WAL flush (`set_config(…, true)` lasts to its end): an
            // outcome is an annotation of an event committed durably before
            // the credential was sent, and one lost in a crash leaves the
            // event with `upstream_status` null (docs/operations.md).
            diesel::sql_query(
                "WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)) \
                 UPDATE audit_events AS e SET details = o.details \
                 FROM unnest($1::text[], $2::uuid[], $3::text[]) AS o(tenant_id, id, details), relaxed \
                 WHERE e.id = o.id AND e.tenant_id = o.tenant_id",
            )
            .bind::<Array<Text>, _>(tenants)
            .bind::<Array<SqlUuid>, _>(ids)
            .bind::<Array<Text>, _>(details)
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
            Ok(())
        })
        .await
    }
}

/// The batch as columns, one entry per event: when an event is named twice the
/// later outcome wins (an `UPDATE … FROM` that joins a row twice would apply
/// either one).
fn outcome_columns(outcomes: &[UseOutcome]) -> (Vec<String>, Vec<uuid::Uuid>, Vec<String>) {
    let mut seen = std::collections::HashSet::with_capacity(outcomes.len());
    let mut tenants = Vec::with_capacity(outcomes.len());
    let mut ids = Vec::with_capacity(outcomes.len());
    let mut details = Vec::with_capacity(outcomes.len());
    for outcome in outcomes.iter().rev() {
        if seen.insert((outcome.tenant.as_str(), outcome.event_id)) {
            tenants.push(outcome.tenant.as_str().to_owned());
            ids.push(outcome.event_id);
            details.push(outcome.details.to_string());
        }
    }
    (tenants, ids, details)
}
