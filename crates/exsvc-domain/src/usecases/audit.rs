//! Reading the audit trail.

use std::sync::Arc;

use crate::audit::{AuditAction, AuditEvent, AuditQuery};
use crate::pagination::{parse_limit, parse_timestamp, Cursor, CursorKey, CursorScope, Page};
use crate::ports::AuditLog;
use crate::principal::{Permission, Principal};
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

#[derive(Clone)]
pub struct AuditTrail {
    log: Arc<dyn AuditLog>,
    cursor_key: CursorKey,
}

impl AuditTrail {
    pub fn new(log: Arc<dyn AuditLog>, cursor_key: CursorKey) -> Self {
        Self { log, cursor_key }
    }

    /// One page of the caller's tenant's events, newest first.
    ///
    /// # Errors
    /// `Forbidden` without `external-service:audit`, `Validation`, `InvalidCursor`.
    pub async fn list(
        &self,
        principal: &Principal,
        raw: &RawAuditParams<'_>,
    ) -> Result<Page<AuditEvent>, UseCaseError> {
        principal.require(Permission::Audit)?;
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
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let service_text = service_id.map(|s| s.to_string());
        let since_text = since.map(|t| t.timestamp_micros().to_string());
        let until_text = until.map(|t| t.timestamp_micros().to_string());
        let scope = CursorScope {
            listing: "audit",
            tenant: principal.tenant(),
            filter: &[
                service_text.as_deref(),
                action.map(AuditAction::as_str),
                raw.actor,
                since_text.as_deref(),
                until_text.as_deref(),
            ],
        };
        let after = raw
            .cursor
            .map(|text| Cursor::decode(text, &scope, &self.cursor_key))
            .transpose()?;
        let query = AuditQuery {
            limit,
            after,
            service_id,
            action,
            actor: raw.actor.map(str::to_owned),
            since,
            until,
        };
        let mut items = self
            .log
            .list(principal.tenant(), &query)
            .await
            .map_err(plain_store_error)?;
        let next_cursor = if items.len() > usize::from(limit) {
            items.truncate(usize::from(limit));
            items.last().map(|last| {
                Cursor {
                    at: last.occurred_at,
                    id: last.id,
                }
                .encode(&scope, &self.cursor_key)
            })
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}
