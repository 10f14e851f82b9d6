//! The audit trail (docs/api.md §1.3): who did what to which service and its
//! credentials, and whether it was allowed.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::access::Reach;
use crate::pagination::{Cursor, CursorScope, Scoped};
use crate::principal::TenantId;
use crate::service::ServiceId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    ServiceCreate,
    ServiceUpdate,
    ServiceDelete,
    CredentialsRead,
    CredentialsWrite,
    CredentialsDelete,
    CredentialsUse,
    RoleCreate,
    RoleUpdate,
    RoleDelete,
    RoleBindingCreate,
    RoleBindingDelete,
}

impl AuditAction {
    pub const ALL: [AuditAction; 12] = [
        AuditAction::ServiceCreate,
        AuditAction::ServiceUpdate,
        AuditAction::ServiceDelete,
        AuditAction::CredentialsRead,
        AuditAction::CredentialsWrite,
        AuditAction::CredentialsDelete,
        AuditAction::CredentialsUse,
        AuditAction::RoleCreate,
        AuditAction::RoleUpdate,
        AuditAction::RoleDelete,
        AuditAction::RoleBindingCreate,
        AuditAction::RoleBindingDelete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::ServiceCreate => "service.create",
            AuditAction::ServiceUpdate => "service.update",
            AuditAction::ServiceDelete => "service.delete",
            AuditAction::CredentialsRead => "credentials.read",
            AuditAction::CredentialsWrite => "credentials.write",
            AuditAction::CredentialsDelete => "credentials.delete",
            AuditAction::CredentialsUse => "credentials.use",
            AuditAction::RoleCreate => "role.create",
            AuditAction::RoleUpdate => "role.update",
            AuditAction::RoleDelete => "role.delete",
            AuditAction::RoleBindingCreate => "role_binding.create",
            AuditAction::RoleBindingDelete => "role_binding.delete",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    Success,
    Denied,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Denied => "denied",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "success" => Some(Self::Success),
            "denied" => Some(Self::Denied),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// UUIDv7: time-ordered, the listing's tie-breaker.
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub tenant_id: TenantId,
    /// The token's `sub`, else `client_id`.
    pub actor: String,
    pub action: AuditAction,
    pub service_id: Option<ServiceId>,
    pub credential_version: Option<i64>,
    pub outcome: AuditOutcome,
    pub request_id: Option<String>,
    /// What the action was about beyond a service: the role or binding of an
    /// access change (`{"role"}`, `{"binding_id", "role", "subject"}`), a
    /// credential use's outcome. `None` for the other actions.
    pub details: Option<serde_json::Value>,
}

/// What the audit listing may be narrowed to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub service_id: Option<ServiceId>,
    pub action: Option<AuditAction>,
    pub actor: Option<String>,
    /// occurred_at >= since.
    pub since: Option<DateTime<Utc>>,
    /// occurred_at < until.
    pub until: Option<DateTime<Utc>>,
}

impl Scoped for AuditFilter {
    fn with_scope<T>(&self, tenant: &TenantId, f: impl FnOnce(&CursorScope<'_>) -> T) -> T {
        let service = self.service_id.map(|s| s.to_string());
        let since = self.since.map(|t| t.timestamp_micros().to_string());
        let until = self.until.map(|t| t.timestamp_micros().to_string());
        f(&CursorScope {
            listing: "audit",
            tenant,
            filter: &[
                service.as_deref(),
                self.action.map(AuditAction::as_str),
                self.actor.as_deref(),
                since.as_deref(),
                until.as_deref(),
            ],
        })
    }
}

/// A validated audit listing, with its cursor opened: what a store reads.
/// Keyset pagination on (`occurred_at`, `id`), newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub limit: u16,
    /// Strictly older than this (occurred_at, id).
    pub after: Option<Cursor>,
    pub filter: AuditFilter,
    /// The services whose events the caller may see (`audit` on them). With
    /// `Reach::Matching`, only events of existing services that a selector
    /// matches; tenant-level events (role changes) need `audit` tenant-wide.
    pub reach: Reach,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(AuditAction::parse("service.read"), None);
        assert_eq!(AuditOutcome::parse("denied"), Some(AuditOutcome::Denied));
    }
}
