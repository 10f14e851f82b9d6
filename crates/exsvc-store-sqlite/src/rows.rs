//! The row types of SQLite's tables; they never leave this crate.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use exsvc_domain::audit::{AuditAction, AuditEvent, AuditOutcome};
use exsvc_domain::credential::{AuthType, CredentialMeta, CredentialRecord};
use exsvc_domain::service::{CredentialSummary, StoredSpec};
use exsvc_domain::{Service, ServiceId, ServiceSpec, TenantId};
use uuid::Uuid;

use crate::schema::{audit_events, credentials, services};

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = services, check_for_backend(diesel::sqlite::Sqlite))]
pub(crate) struct ServiceRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub name_key: String,
    pub description: String,
    pub service_type: String,
    pub status: String,
    pub base_url: String,
    pub api_version: Option<String>,
    pub metadata: String,
    /// Microseconds since the Unix epoch, UTC.
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
    pub credential_auth_type: Option<String>,
    pub credential_expires_at: Option<i64>,
    /// The highest credential version ever issued (never reused).
    pub credential_version_issued: i64,
}

impl From<&Service> for ServiceRow {
    fn from(s: &Service) -> Self {
        Self {
            id: s.id.to_string(),
            tenant_id: s.tenant_id.as_str().to_owned(),
            name: s.spec.name.as_str().to_owned(),
            name_key: s.spec.name.key(),
            description: s.spec.description.as_str().to_owned(),
            service_type: s.spec.service_type.as_str().to_owned(),
            status: s.spec.status.as_str().to_owned(),
            base_url: s.spec.base_url.as_str().to_owned(),
            api_version: s.spec.api_version.as_ref().map(|v| v.as_str().to_owned()),
            metadata: serde_json::Value::Object(s.spec.metadata.as_map().clone()).to_string(),
            created_at: s.created_at.timestamp_micros(),
            updated_at: s.updated_at.timestamp_micros(),
            version: s.version,
            credential_auth_type: s.credential.map(|c| c.auth_type.as_str().to_owned()),
            credential_expires_at: s
                .credential
                .and_then(|c| c.expires_at)
                .map(|t| t.timestamp_micros()),
            credential_version_issued: 0,
        }
    }
}

/// A stored row that no longer satisfies the domain's rules.
#[derive(Debug, thiserror::Error)]
#[error("stored {table} row {id} is invalid: {reason}")]
pub(crate) struct CorruptRow {
    table: &'static str,
    id: String,
    reason: String,
}

fn timestamp(micros: i64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| format!("timestamp {micros} is out of range"))
}

fn auth_type(raw: &str) -> Result<AuthType, String> {
    AuthType::parse(raw).ok_or_else(|| format!("unknown auth type {raw:?}"))
}

fn uuid(raw: &str) -> Result<Uuid, String> {
    Uuid::try_parse(raw).map_err(|e| format!("id {raw:?}: {e}"))
}

impl TryFrom<ServiceRow> for Service {
    type Error = CorruptRow;

    fn try_from(row: ServiceRow) -> Result<Self, CorruptRow> {
        let corrupt = |reason: String| CorruptRow {
            table: "services",
            id: row.id.clone(),
            reason,
        };
        let metadata =
            serde_json::from_str(&row.metadata).map_err(|e| corrupt(format!("metadata: {e}")))?;
        let spec = ServiceSpec::from_stored(StoredSpec {
            name: &row.name,
            description: &row.description,
            service_type: &row.service_type,
            status: &row.status,
            base_url: &row.base_url,
            api_version: row.api_version.as_deref(),
            metadata,
        })
        .map_err(|e| corrupt(e.to_string()))?;
        let expires_at = row
            .credential_expires_at
            .map(timestamp)
            .transpose()
            .map_err(corrupt)?;
        let credential = match (row.credential_auth_type.as_deref(), expires_at) {
            (Some(raw), expires_at) => Some(CredentialSummary {
                auth_type: auth_type(raw).map_err(corrupt)?,
                expires_at,
            }),
            (None, None) => None,
            // Both columns are written together; one without the other is damage.
            (None, Some(_)) => {
                return Err(corrupt(
                    "credential_expires_at without credential_auth_type".into(),
                ))
            }
        };
        Ok(Service {
            id: ServiceId::from_uuid(uuid(&row.id).map_err(corrupt)?),
            tenant_id: TenantId::from_stored(&row.tenant_id).map_err(|e| corrupt(e.to_string()))?,
            spec,
            credential,
            created_at: timestamp(row.created_at).map_err(corrupt)?,
            updated_at: timestamp(row.updated_at).map_err(corrupt)?,
            version: row.version,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = credentials, check_for_backend(diesel::sqlite::Sqlite))]
pub(crate) struct CredentialRow {
    pub tenant_id: String,
    pub service_id: String,
    pub version: i64,
    pub auth_type: String,
    pub ciphertext: Vec<u8>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

impl From<&CredentialRecord> for CredentialRow {
    fn from(r: &CredentialRecord) -> Self {
        Self {
            tenant_id: r.tenant_id.as_str().to_owned(),
            service_id: r.service_id.to_string(),
            version: r.version,
            auth_type: r.auth_type.as_str().to_owned(),
            ciphertext: r.ciphertext.clone(),
            created_at: r.created_at.timestamp_micros(),
            expires_at: r.expires_at.map(|t| t.timestamp_micros()),
        }
    }
}

impl TryFrom<CredentialRow> for CredentialRecord {
    type Error = CorruptRow;

    fn try_from(row: CredentialRow) -> Result<Self, CorruptRow> {
        let corrupt = |reason: String| CorruptRow {
            table: "credentials",
            id: format!("{}/{}", row.service_id, row.version),
            reason,
        };
        Ok(CredentialRecord {
            tenant_id: TenantId::from_stored(&row.tenant_id).map_err(|e| corrupt(e.to_string()))?,
            service_id: ServiceId::from_uuid(uuid(&row.service_id).map_err(corrupt)?),
            version: row.version,
            auth_type: auth_type(&row.auth_type).map_err(corrupt)?,
            created_at: timestamp(row.created_at).map_err(corrupt)?,
            expires_at: row.expires_at.map(timestamp).transpose().map_err(corrupt)?,
            ciphertext: row.ciphertext,
        })
    }
}

/// A credential version without its ciphertext, for listings that must not
/// even load the secret.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = credentials, check_for_backend(diesel::sqlite::Sqlite))]
pub(crate) struct CredentialMetaRow {
    pub service_id: String,
    pub version: i64,
    pub auth_type: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

impl CredentialMetaRow {
    pub(crate) fn into_meta(self, current: bool) -> Result<CredentialMeta, CorruptRow> {
        let corrupt = |reason: String| CorruptRow {
            table: "credentials",
            id: format!("{}/{}", self.service_id, self.version),
            reason,
        };
        Ok(CredentialMeta {
            service_id: ServiceId::from_uuid(uuid(&self.service_id).map_err(corrupt)?),
            version: self.version,
            auth_type: auth_type(&self.auth_type).map_err(corrupt)?,
            created_at: timestamp(self.created_at).map_err(corrupt)?,
            expires_at: self
                .expires_at
                .map(timestamp)
                .transpose()
                .map_err(corrupt)?,
            current,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::sqlite::Sqlite))]
pub(crate) struct AuditRow {
    pub id: String,
    pub occurred_at: i64,
    pub tenant_id: String,
    pub actor: String,
    pub action: String,
    pub service_id: Option<String>,
    pub credential_version: Option<i64>,
    pub outcome: String,
    pub request_id: Option<String>,
}

impl From<&AuditEvent> for AuditRow {
    fn from(e: &AuditEvent) -> Self {
        Self {
            id: e.id.to_string(),
            occurred_at: e.occurred_at.timestamp_micros(),
            tenant_id: e.tenant_id.as_str().to_owned(),
            actor: e.actor.clone(),
            action: e.action.as_str().to_owned(),
            service_id: e.service_id.map(|s| s.to_string()),
            credential_version: e.credential_version,
            outcome: e.outcome.as_str().to_owned(),
            request_id: e.request_id.clone(),
        }
    }
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = CorruptRow;

    fn try_from(row: AuditRow) -> Result<Self, CorruptRow> {
        let corrupt = |reason: String| CorruptRow {
            table: "audit_events",
            id: row.id.clone(),
            reason,
        };
        let action = AuditAction::parse(&row.action)
            .ok_or_else(|| corrupt(format!("unknown action {:?}", row.action)))?;
        let outcome = AuditOutcome::parse(&row.outcome)
            .ok_or_else(|| corrupt(format!("unknown outcome {:?}", row.outcome)))?;
        let service_id = row
            .service_id
            .as_deref()
            .map(uuid)
            .transpose()
            .map_err(corrupt)?
            .map(ServiceId::from_uuid);
        Ok(AuditEvent {
            id: uuid(&row.id).map_err(corrupt)?,
            occurred_at: timestamp(row.occurred_at).map_err(corrupt)?,
            tenant_id: TenantId::from_stored(&row.tenant_id).map_err(|e| corrupt(e.to_string()))?,
            action,
            outcome,
            service_id,
            credential_version: row.credential_version,
            actor: row.actor,
            request_id: row.request_id,
        })
    }
}
