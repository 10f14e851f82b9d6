//! The row types of PostgreSQL's tables; they never leave this crate. Each is
//! the domain's `…Columns` in diesel's clothes: PostgreSQL's types are the
//! domain's (`uuid`, `timestamptz`, `jsonb`), so the conversion is a move, and
//! what a valid row is stays decided in `exsvc_domain::stored`.

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
use serde_json::Value;
use uuid::Uuid;

use crate::schema::{audit_events, credentials, role_bindings, roles, services};

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = services, check_for_backend(diesel::pg::Pg))]
pub(crate) struct ServiceRow {
    pub id: Uuid,
    pub tenant_id: String,
    pub name: String,
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
        Self::new(ServiceColumns::from(s), 0)
    }
}

impl ServiceRow {
    /// The row of `c`, with `issued` as the highest credential version issued.
    pub(crate) fn new(c: ServiceColumns, issued: i64) -> Self {
        Self {
            id: c.id,
            tenant_id: c.tenant_id,
            name: c.name,
            name_key: c.name_key,
            description: c.description,
            service_type: c.service_type,
            status: c.status,
            base_url: c.base_url,
            api_version: c.api_version,
            metadata: c.metadata,
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
            credential_auth_type: c.credential_auth_type,
            credential_expires_at: c.credential_expires_at,
            credential_version_issued: issued,
        }
    }
}

impl TryFrom<ServiceRow> for Service {
    type Error = CorruptRow;

    fn try_from(row: ServiceRow) -> Result<Self, CorruptRow> {
        ServiceColumns {
            id: row.id,
            tenant_id: row.tenant_id,
            name: row.name,
            name_key: row.name_key,
            description: row.description,
            service_type: row.service_type,
            status: row.status,
            base_url: row.base_url,
            api_version: row.api_version,
            metadata: row.metadata,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
            credential_auth_type: row.credential_auth_type,
            credential_expires_at: row.credential_expires_at,
        }
        .decode()
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
        let c = CredentialColumns::from(r);
        Self {
            tenant_id: c.tenant_id,
            service_id: c.service_id,
            version: c.version,
            auth_type: c.auth_type,
            ciphertext: c.ciphertext,
            created_at: c.created_at,
            expires_at: c.expires_at,
        }
    }
}

impl TryFrom<CredentialRow> for CredentialRecord {
    type Error = CorruptRow;

    fn try_from(row: CredentialRow) -> Result<Self, CorruptRow> {
        CredentialColumns {
            tenant_id: row.tenant_id,
            service_id: row.service_id,
            version: row.version,
            auth_type: row.auth_type,
            ciphertext: row.ciphertext,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }
        .decode()
    }
}

/// A credential version without its ciphertext, for listings that must not
/// even load the secret.
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
        CredentialMetaColumns {
            service_id: self.service_id,
            version: self.version,
            auth_type: self.auth_type,
            created_at: self.created_at,
            expires_at: self.expires_at,
        }
        .decode(current)
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
    pub details: Option<String>,
}

impl From<&AuditEvent> for AuditRow {
    fn from(e: &AuditEvent) -> Self {
        let c = AuditColumns::from(e);
        Self {
            id: c.id,
            occurred_at: c.occurred_at,
            tenant_id: c.tenant_id,
            actor: c.actor,
            action: c.action,
            service_id: c.service_id,
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
        AuditColumns {
            id: row.id,
            occurred_at: row.occurred_at,
            tenant_id: row.tenant_id,
            actor: row.actor,
            action: row.action,
            service_id: row.service_id,
            credential_version: row.credential_version,
            outcome: row.outcome,
            request_id: row.request_id,
            details: row.details,
        }
        .decode()
    }
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = roles, check_for_backend(diesel::pg::Pg))]
pub(crate) struct RoleRow {
    pub tenant_id: String,
    pub name: String,
    pub id: Uuid,
    pub description: String,
    pub permissions: String,
    pub services: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Role> for RoleRow {
    fn from(r: &Role) -> Self {
        let c = RoleColumns::from(r);
        Self {
            tenant_id: c.tenant_id,
            name: c.name,
            id: c.id,
            description: c.description,
            permissions: c.permissions,
            services: c.services,
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

impl TryFrom<RoleRow> for Role {
    type Error = CorruptRow;

    fn try_from(row: RoleRow) -> Result<Self, CorruptRow> {
        RoleColumns {
            tenant_id: row.tenant_id,
            name: row.name,
            id: row.id,
            description: row.description,
            permissions: row.permissions,
            services: row.services,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
        .decode()
    }
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = role_bindings, check_for_backend(diesel::pg::Pg))]
pub(crate) struct BindingRow {
    pub id: Uuid,
    pub tenant_id: String,
    pub role_name: String,
    pub subject_type: String,
    pub subject_value: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl From<&RoleBinding> for BindingRow {
    fn from(b: &RoleBinding) -> Self {
        let c = RoleBindingColumns::from(b);
        Self {
            id: c.id,
            tenant_id: c.tenant_id,
            role_name: c.role_name,
            subject_type: c.subject_type,
            subject_value: c.subject_value,
            expires_at: c.expires_at,
            created_at: c.created_at,
            created_by: c.created_by,
        }
    }
}

impl TryFrom<BindingRow> for RoleBinding {
    type Error = CorruptRow;

    fn try_from(row: BindingRow) -> Result<Self, CorruptRow> {
        RoleBindingColumns {
            id: row.id,
            tenant_id: row.tenant_id,
            role_name: row.role_name,
            subject_type: row.subject_type,
            subject_value: row.subject_value,
            expires_at: row.expires_at,
            created_at: row.created_at,
            created_by: row.created_by,
        }
        .decode()
    }
}
