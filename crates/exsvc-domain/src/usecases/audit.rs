//! Reading the audit trail.

use std::sync::Arc;

use crate::audit::{AuditAction, AuditEvent, AuditFilter, AuditQuery};
use crate::pagination::{
    parse_limit, parse_timestamp, Cursor, CursorKey, ListRequest, Page, Scoped,
};
use crate::ports::AuditLog;
use crate::principal::{Permission, Permit};
use crate::service::ServiceId;
use crate::usecases::plain_store_error;
use crate::validation::FieldErrors;
use crate::UseCaseError;

/// The query parameters of `GET /api/v1/audit-events`, as sent.
#[derive(Debug, Clone, Default)]
pub struct RawAuditParams<'a> {
    pub limit: Option<&'a str>,
    pub cursor: Option<&'a str>,
    pub service_id: Option<&'a str>,
    pub action: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
}

/// A request for a page of the tenant's audit trail.
pub type AuditListRequest = ListRequest<AuditFilter>;

impl AuditListRequest {
    /// # Errors
    /// The field errors naming each bad parameter.
    pub fn parse(raw: &RawAuditParams<'_>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let limit = parse_limit(raw.limit, &mut errors);
        let service_id = raw.service_id.and_then(|t| {
            ServiceId::parse(t).or_else(|| {
                errors.add("service_id", "must be a UUID");
                None
            })
        });
        let action = raw.action.and_then(|t| {
            AuditAction::parse(t).or_else(|| {
                errors.add("action", "is not an audit action");
                None
            })
        });
        let since = parse_timestamp("since", raw.since, &mut errors);
        let until = parse_timestamp("until", raw.until, &mut errors);
        errors.into_result(Self {
            limit,
            cursor: raw.cursor.map(str::to_owned),
            filter: AuditFilter {
                service_id,
                action,
                actor: raw.actor.map(str::to_owned),
                since,
                until,
            },
        })
    }
}

#[derive(Clone)]
pub struct AuditTrail {
    log: Arc<dyn AuditLog>,
    cursor_key: CursorKey,
}

impl AuditTrail {
    pub fn new(log: Arc<dyn AuditLog>, cursor_key: CursorKey) -> Self {
        Self { log, cursor_key }
    }

    /// One page of the caller's tenant's events, newest first: of every
    /// service with `audit` tenant-wide, else of the services the caller's
    /// bindings grant `audit` on.
    ///
    /// # Errors
    /// `Forbidden` without a permit of `external-service:audit`, `InvalidCursor`.
    pub async fn list(
        &self,
        permit: Permit<'_>,
        request: AuditListRequest,
    ) -> Result<Page<AuditEvent>, UseCaseError> {
        let principal = permit.holder_of(Permission::Audit)?;
        let tenant = principal.tenant();
        let after = request.open_cursor(tenant, &self.cursor_key)?;
        let query = AuditQuery {
            limit: request.limit,
            after,
            filter: request.filter,
            reach: permit.reach(),
        };
        let rows = self
            .log
            .list(tenant, &query)
            .await
            .map_err(plain_store_error)?;
        Ok(Page::from_rows(rows, query.limit, |last| {
            let position = Cursor {
                at: last.occurred_at,
                id: last.id,
            };
            query
                .filter
                .cursor_after(tenant, &self.cursor_key, position)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MockAuditLog;
    use crate::principal::{Principal, TenantId};

    #[tokio::test]
    async fn the_listing_requires_an_audit_permit() {
        // No expectations: a call to the log would panic.
        let trail = AuditTrail::new(Arc::new(MockAuditLog::new()), CursorKey::derive(b"t"));
        let reader = Principal::new(TenantId::parse("acme").unwrap(), "a", [Permission::Read]);
        let request = AuditListRequest::parse(&RawAuditParams::default()).unwrap();
        let refused = trail
            .list(reader.permit(Permission::Read).unwrap(), request)
            .await;
        assert!(matches!(
            refused,
            Err(UseCaseError::Forbidden(Permission::Audit))
        ));
    }
}
