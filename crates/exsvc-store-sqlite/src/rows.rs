//! The row types of SQLite's tables; they never leave this crate. Each is the
//! domain's `…Columns` in SQLite's types: ids as text, instants as integer
//! microseconds since the Unix epoch (UTC), JSON as text. Converting those is
//! this file's only job; what a valid row is stays decided in
//! `exsvc_domain::stored`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use exsvc_domain::access::{Role, RoleBinding};
use exsvc_domain::audit::AuditEvent;
use exsvc_domain::credential::{CredentialMeta, CredentialRecord};
use exsvc_domain::stored::{
    AuditColumns, CorruptRow, CredentialColumns, CredentialMetaColumns, RoleBindingColumns,
    RoleColumns, ServiceColumns,
};
use exsvc_domain::Service;
use uuid::Uuid;

use crate::schema::{audit_events, credentials, role_bindings, roles, services};

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn instant(micros: i64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| format!("timestamp {micros} is out of range"))
}

fn uuid(raw: &str) -> Result<Uuid, String> {
    Uuid::try_parse(raw).map_err(|e| format!("id {raw:?}: {e}"))
}

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
        Self::new(ServiceColumns::from(s), 0)
    }
}

impl ServiceRow {
    /// The row of `c`, with `issued` as the highest credential version issued.
    pub(crate) fn new(c: ServiceColumns, issued: i64) -> Self {
        Self {
            id: c.id.to_string(),
            tenant_id: c.tenant_id,
            name: c.name,
            name_key: c.name_key,
            description: c.description,
            service_type: c.service_type,
            status: c.status,
            base_url: c.base_url,
            api_version: c.api_version,
            metadata: c.metadata.to_string(),
            created_at: micros(c.created_at),
            updated_at: micros(c.updated_at),
            version: c.version,
            credential_auth_type: c.credential_auth_type,
            credential_expires_at: c.credential_expires_at.map(micros),
            credential_version_issued: issued,
        }
    }
}

impl TryFrom<ServiceRow> for Service {
    type Error = CorruptRow;

    fn try_from(row: ServiceRow) -> Result<Self, CorruptRow> {
        let corrupt = |reason: String| CorruptRow::new("services", &row.id, reason);
        ServiceColumns {
            id: uuid(&row.id).map_err(corrupt)?,
            metadata: serde_json::from_str(&row.metadata)
                .map_err(|e| corrupt(format!("metadata: {e}")))?,
            created_at: instant(row.created_at).map_err(corrupt)?,
            updated_at: instant(row.updated_at).map_err(corrupt)?,
            credential_expires_at: row
                .credential_expires_at
                .map(instant)
                .transpose()
                .map_err(corrupt)?,
            tenant_id: row.tenant_id,
            name: row.name,
            name_key: row.name_key,
            description: row.description,
            service_type: row.service_type,
            status: row.status,
            base_url: row.base_url,
            api_version: row.api_version,
            version: row.version,
            credential_auth_type: row.credential_auth_type,
        }
        .decode()
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
        let c = CredentialColumns::from(r);
        Self {
            tenant_id: c.tenant_id,
            service_id: c.service_id.to_string(),
            version: c.version,
            auth_type: c.auth_type,
            ciphertext: c.ciphertext,
            created_at: micros(c.created_at),
            expires_at: c.expires_at.map(micros),
        }
    }
}

impl TryFrom<CredentialRow> for CredentialRecord {
    type Error = CorruptRow;

    fn try_from(row: CredentialRow) -> Result<Self, CorruptRow> {
        let id = format!("{}/{}", row.service_id, row.version);
        let corrupt = |reason: String| CorruptRow::new("credentials", &id, reason);
        CredentialColumns {
            service_id: uuid(&row.service_id).map_err(corrupt)?,
            created_at: instant(row.created_at).map_err(corrupt)?,
            expires_at: row.expires_at.map(instant).transpose().map_err(corrupt)?,
            tenant_id: row.tenant_id,
            version: row.version,
            auth_type: row.auth_type,
            ciphertext: row.ciphertext,
        }
        .decode()
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
        let id = format!("{}/{}", self.service_id, self.version);
        let corrupt = |reason: String| CorruptRow::new("credentials", &id, reason);
        CredentialMetaColumns {
            service_id: uuid(&self.service_id).map_err(corrupt)?,
            created_at: instant(self.created_at).map_err(corrupt)?,
            expires_at: self.expires_at.map(instant).transpose().map_err(corrupt)?,
            version: self.version,
            auth_type: self.auth_type,
        }
        .decode(current)
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
    pub details: Option<String>,
}

impl From<&AuditEvent> for AuditRow {
    fn from(e: &AuditEvent) -> Self {
        let c = AuditColumns::from(e);
        Self {
            id: c.id.to_string(),
            occurred_at: micros(c.occurred_at),
            tenant_id: c.tenant_id,
            actor: c.actor,
            action: c.action,
            service_id: c.service_id.map(|s| s.to_string()),
            credential_version: c.credential_version,
            outcome: c.outcome,
            request_id: c.request_id,
            details: c.details,
        }
    }
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = CorruptRow;

    fn try_from(row: AuditRow) -> Result<Self, CorruptRow> {
        let corrupt = |reason: String| CorruptRow::new("audit_events", &row.id, reason);
        AuditColumns {
            id: uuid(&row.id).map_err(corrupt)?,
            occurred_at: instant(row.occurred_at).map_err(corrupt)?,
            service_id: row
                .service_id
                .as_deref()
                .map(uuid)
                .transpose()
                .map_err(corrupt)?,
            tenant_id: row.tenant_id,
            actor: row.actor,
            action: row.action,
            credential_version: row.credential_version,
            outcome: row.outcome,
            request_id: row.request_id,
            details: row.details,
        }
        .decode()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = roles, check_for_backend(diesel::sqlite::Sqlite))]
pub(crate) struct RoleRow {
    pub tenant_id: String,
    pub name: String,
    pub id: String,
    pub description: String,
    pub permissions: String,
    pub services: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&Role> for RoleRow {
    fn from(r: &Role) -> Self {
        let c = RoleColumns::from(r);
        Self {
            tenant_id: c.tenant_id,
            name: c.name,
            id: c.id.to_string(),
            description: c.description,
            permissions: c.permissions,
            services: c.services,
            version: c.version,
            created_at: micros(c.created_at),
            updated_at: micros(c.updated_at),
        }
    }
}

impl TryFrom<RoleRow> for Role {
    type Error = CorruptRow;

    fn try_from(row: RoleRow) -> Result<Self, CorruptRow> {
        let corrupt = |reason: String| CorruptRow::new("roles", &row.id, reason);
        RoleColumns {
            id: uuid(&row.id).map_err(corrupt)?,
            created_at: instant(row.created_at).map_err(corrupt)?,
            updated_at: instant(row.updated_at).map_err(corrupt)?,
            tenant_id: row.tenant_id,
            name: row.name,
            description: row.description,
            permissions: row.permissions,
            services: row.services,
            version: row.version,
        }
        .decode()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = role_bindings, check_for_backend(diesel::sqlite::Sqlite))]
pub(crate) struct BindingRow {
    pub id: String,
    pub tenant_id: String,
    pub role_name: String,
    pub subject_type: String,
    pub subject_value: String,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub created_by: String,
}

impl From<&RoleBinding> for BindingRow {
    fn from(b: &RoleBinding) -> Self {
        let c = RoleBindingColumns::from(b);
        Self {
            id: c.id.to_string(),
            tenant_id: c.tenant_id,
            role_name: c.role_name,
            subject_type: c.subject_type,
            subject_value: c.subject_value,
            expires_at: c.expires_at.map(micros),
            created_at: micros(c.created_at),
            created_by: c.created_by,
        }
    }
}

impl TryFrom<BindingRow> for RoleBinding {
    type Error = CorruptRow;

    fn try_from(row: BindingRow) -> Result<Self, CorruptRow> {
        let corrupt = |reason: String| CorruptRow::new("role_bindings", &row.id, reason);
        RoleBindingColumns {
            id: uuid(&row.id).map_err(corrupt)?,
            expires_at: row.expires_at.map(instant).transpose().map_err(corrupt)?,
            created_at: instant(row.created_at).map_err(corrupt)?,
            tenant_id: row.tenant_id,
            role_name: row.role_name,
            subject_type: row.subject_type,
            subject_value: row.subject_value,
            created_by: row.created_by,
        }
        .decode()
    }
}
