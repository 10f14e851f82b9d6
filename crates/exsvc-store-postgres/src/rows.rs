//! The row type of `services`; it never leaves this crate.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use exsvc_domain::audit::{AuditAction, AuditEvent, AuditOutcome};
use exsvc_domain::credential::{AuthType, CredentialMeta, CredentialRecord};
use exsvc_domain::service::{CredentialSummary, StoredSpec};
use exsvc_domain::{Service, ServiceId, ServiceSpec, TenantId};
use serde_json::Value;
use uuid::Uuid;

use crate::schema::{audit_events, credentials, services};

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = services, check_for_backend(diesel::pg::Pg))]
pub(crate) struct ServiceRow {
    pub id: Uuid,
    pub tenant_id: String,
    pub name: String,
    /// `ServiceName::key()`: uniqueness and search use it.
    pub name_key: String,
    pub description: String,
    pub service_type: String,
    pub status: String,
    pub base_url: String,
    // A PUT may set it back to null; without this the changeset would skip it.
    #[diesel(treat_none_as_null = true)]
    pub api_version: Option<String>,
    pub metadata: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub credential_auth_type: Option<String>,
    pub credential_expires_at: Option<DateTime<Utc>>,
    /// The highest credential version ever issued (never reused).
    pub credential_version_issued: i64,
}

impl From<&Service> for ServiceRow {
    fn from(s: &Service) -> Self {
        Self {
            id: s.id.as_uuid(),
            tenant_id: s.tenant_id.as_str().to_owned(),
            name: s.spec.name.as_str().to_owned(),
            name_key: s.spec.name.key(),
            description: s.spec.description.as_str().to_owned(),
            service_type: s.spec.service_type.as_str().to_owned(),
            status: s.spec.status.as_str().to_owned(),
            base_url: s.spec.base_url.as_str().to_owned(),
            api_version: s.spec.api_version.as_ref().map(|v| v.as_str().to_owned()),
            metadata: Value::Object(s.spec.metadata.as_map().clone()),
            created_at: s.created_at,
            updated_at: s.updated_at,
            version: s.version,
            credential_auth_type: s.credential.map(|c| c.auth_type.as_str().to_owned()),
            credential_expires_at: s.credential.and_then(|c| c.expires_at),
            credential_version_issued: 0,
        }
    }
}

/// A stored row that no longer satisfies the domain's rules.
#[derive(Debug, thiserror::Error)]
#[error("stored service {id} is invalid: {reason}")]
pub(crate) struct CorruptRow {
    id: Uuid,
    reason: String,
}

impl TryFrom<ServiceRow> for Service {
    type Error = CorruptRow;

    fn try_from(row: ServiceRow) -> Result<Self, CorruptRow> {
        let id = row.id;
        let corrupt = |reason: String| CorruptRow { id, reason };
        let spec = ServiceSpec::from_stored(StoredSpec {
            name: &row.name,
            description: &row.description,
            service_type: &row.service_type,
            status: &row.status,
            base_url: &row.base_url,
            api_version: row.api_version.as_deref(),
            metadata: row.metadata,
        })
        .map_err(|e| corrupt(e.to_string()))?;
        let credential = match row.credential_auth_type.as_deref() {
            None => None,
            Some(name) => Some(CredentialSummary {
                auth_type: AuthType::parse(name)
                    .ok_or_else(|| corrupt(format!("unknown auth type {name}")))?,
                expires_at: row.credential_expires_at,
            }),
        };
        Ok(Service {
            id: ServiceId::from_uuid(row.id),
            tenant_id: TenantId::from_stored(&row.tenant_id).map_err(|e| corrupt(e.to_string()))?,
            spec,
            credential,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = credentials, check_for_backend(diesel::pg::Pg))]
pub(crate) struct CredentialRow {
    pub tenant_id: String,
    pub service_id: Uuid,
    pub version: i64,
    pub auth_type: String,
    pub ciphertext: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<&CredentialRecord> for CredentialRow {
    fn from(r: &CredentialRecord) -> Self {
        Self {
            tenant_id: r.tenant_id.as_str().to_owned(),
            service_id: r.service_id.as_uuid(),
            version: r.version,
            auth_type: r.auth_type.as_str().to_owned(),
            ciphertext: r.ciphertext.clone(),
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

impl TryFrom<CredentialRow> for CredentialRecord {
    type Error = CorruptRow;

    fn try_from(row: CredentialRow) -> Result<Self, CorruptRow> {
        let corrupt = |reason: String| CorruptRow {
            id: row.service_id,
            reason,
        };
        Ok(CredentialRecord {
            tenant_id: TenantId::from_stored(&row.tenant_id).map_err(|e| corrupt(e.to_string()))?,
            service_id: ServiceId::from_uuid(row.service_id),
            version: row.version,
            auth_type: AuthType::parse(&row.auth_type)
                .ok_or_else(|| corrupt(format!("unknown auth type {}", row.auth_type)))?,
            ciphertext: row.ciphertext,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

/// Version metadata: the credential row without its ciphertext.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = credentials, check_for_backend(diesel::pg::Pg))]
pub(crate) struct CredentialMetaRow {
    pub service_id: Uuid,
    pub version: i64,
    pub auth_type: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl CredentialMetaRow {
    pub(crate) fn into_meta(self, current: bool) -> Result<CredentialMeta, CorruptRow> {
        let auth_type = AuthType::parse(&self.auth_type).ok_or_else(|| CorruptRow {
            id: self.service_id,
            reason: format!("unknown auth type {}", self.auth_type),
        })?;
        Ok(CredentialMeta {
            service_id: ServiceId::from_uuid(self.service_id),
            version: self.version,
            auth_type,
            created_at: self.created_at,
            expires_at: self.expires_at,
            current,
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
pub(crate) struct AuditRow {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub tenant_id: String,
    pub actor: String,
    pub action: String,
    pub service_id: Option<Uuid>,
    pub credential_version: Option<i64>,
    pub outcome: String,
    pub request_id: Option<String>,
}

impl From<&AuditEvent> for AuditRow {
    fn from(e: &AuditEvent) -> Self {
        Self {
            id: e.id,
            occurred_at: e.occurred_at,
            tenant_id: e.tenant_id.as_str().to_owned(),
            actor: e.actor.clone(),
            action: e.action.as_str().to_owned(),
            service_id: e.service_id.map(|s| s.as_uuid()),
            credential_version: e.credential_version,
            outcome: e.outcome.as_str().to_owned(),
            request_id: e.request_id.clone(),
        }
    }
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = CorruptRow;

    fn try_from(row: AuditRow) -> Result<Self, CorruptRow> {
        let corrupt = |reason: String| CorruptRow { id: row.id, reason };
        Ok(AuditEvent {
            id: row.id,
            occurred_at: row.occurred_at,
            tenant_id: TenantId::from_stored(&row.tenant_id).map_err(|e| corrupt(e.to_string()))?,
            actor: row.actor.clone(),
            action: AuditAction::parse(&row.action)
                .ok_or_else(|| corrupt(format!("unknown action {}", row.action)))?,
            service_id: row.service_id.map(ServiceId::from_uuid),
            credential_version: row.credential_version,
            outcome: AuditOutcome::parse(&row.outcome)
                .ok_or_else(|| corrupt(format!("unknown outcome {}", row.outcome)))?,
            request_id: row.request_id.clone(),
        })
    }
}
