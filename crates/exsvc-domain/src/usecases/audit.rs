//! Reading the audit trail.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::audit::{AuditAction, AuditEvent, AuditQuery};
use crate::pagination::{Cursor, CursorKey, Page, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
use crate::ports::{AuditLog, RepositoryError};
use crate::principal::{Permission, Principal};
use crate::service::ServiceId;
use crate::validation::FieldErrors;
use crate::ServiceError;

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

fn timestamp(field: &str, text: Option<&str>, errors: &mut FieldErrors) -> Option<DateTime<Utc>> {
    text.and_then(|t| {
        DateTime::parse_from_rfc3339(t)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|_| errors.add(field, "must be an RFC 3339 timestamp"))
            .ok()
    })
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
    ) -> Result<Page<AuditEvent>, ServiceError> {
        principal.require(Permission::Audit)?;
        let mut errors = FieldErrors::new();
        let limit = match raw.limit {
            None => DEFAULT_PAGE_LIMIT,
            Some(text) => match text.parse::<u16>() {
                Ok(n) if (1..=MAX_PAGE_LIMIT).contains(&n) => n,
                _ => {
                    errors.add(
                        "limit",
                        format!("must be an integer from 1 to {MAX_PAGE_LIMIT}"),
                    );
                    DEFAULT_PAGE_LIMIT
                }
            },
        };
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
        let since = timestamp("since", raw.since, &mut errors);
        let until = timestamp("until", raw.until, &mut errors);
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let service_text = service_id.map(|s| s.to_string());
        let since_text = since.map(|t| t.timestamp_micros().to_string());
        let until_text = until.map(|t| t.timestamp_micros().to_string());
        let parts = [
            Some("audit"),
            service_text.as_deref(),
            action.map(AuditAction::as_str),
            raw.actor,
            since_text.as_deref(),
            until_text.as_deref(),
        ];
        let after = raw
            .cursor
            .map(|text| Cursor::decode_bound(text, &parts, &self.cursor_key))
            .transpose()?
            .map(|c| (c.created_at, c.id.as_uuid()));
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
            .map_err(|e| match e {
                RepositoryError::Unavailable => ServiceError::Unavailable,
                RepositoryError::Internal(source) => ServiceError::Internal(source),
                other => ServiceError::Internal(Box::new(other)),
            })?;
        let next_cursor = if items.len() > usize::from(limit) {
            items.truncate(usize::from(limit));
            items.last().map(|last| {
                Cursor {
                    created_at: last.occurred_at,
                    id: ServiceId::from_uuid(last.id),
                }
                .encode_bound(&parts, &self.cursor_key)
            })
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}
