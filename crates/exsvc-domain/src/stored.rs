//! Stored rows in the domain's terms: what every store writes for an entity and
//! the one place that decides whether what it reads back is still valid.
//!
//! A store turns its own column types (PostgreSQL's `uuid`, `timestamptz` and
//! `jsonb`; SQLite's text and integer microseconds) into these `…Columns`
//! structs and back; that conversion is the store's dialect, and nothing else
//! is. Decoding applies the rules a row was written under
//! (`ServiceSpec::from_stored`, `TenantId::from_stored`), so a rule added later
//! never makes an existing row unreadable, and the two stores cannot disagree
//! about what a valid row is.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::access::{
    Role, RoleBinding, RoleName, RolePermissions, RoleSpec, ServiceSelector, Subject, SubjectType,
};
use crate::audit::{AuditAction, AuditEvent, AuditOutcome};
use crate::credential::{AuthType, CredentialMeta, CredentialRecord};
use crate::service::{CredentialSummary, Description, StoredSpec};
use crate::{Service, ServiceId, ServiceSpec, TenantId};

/// A stored row that no longer satisfies the domain's rules. It names the table,
/// the row and the rule; it may quote a type or status column (`auth_type`,
/// `action`), never a secret-bearing one (ciphertext, metadata, names).
#[derive(Debug, thiserror::Error)]
#[error("stored {table} row {id} is invalid: {reason}")]
pub struct CorruptRow {
    pub table: &'static str,
    pub id: String,
    pub reason: String,
}

impl CorruptRow {
    pub fn new(table: &'static str, id: impl ToString, reason: impl Into<String>) -> Self {
        Self {
            table,
            id: id.to_string(),
            reason: reason.into(),
        }
    }
}

fn auth_type(raw: &str) -> Result<AuthType, String> {
    AuthType::parse(raw).ok_or_else(|| format!("unknown auth type {raw:?}"))
}

fn tenant(raw: &str) -> Result<TenantId, String> {
    TenantId::from_stored(raw).map_err(|e| e.to_string())
}

/// The columns of a `services` row.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceColumns {
    pub id: Uuid,
    pub tenant_id: String,
    pub name: String,
    /// `ServiceName::key()`: uniqueness and search use it.
    pub name_key: String,
    pub description: String,
    pub service_type: String,
    pub status: String,
    pub base_url: String,
    pub api_version: Option<String>,
    pub metadata: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub credential_auth_type: Option<String>,
    pub credential_expires_at: Option<DateTime<Utc>>,
}

impl From<&Service> for ServiceColumns {
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
        }
    }
}

impl ServiceColumns {
    /// # Errors
    /// `CorruptRow` when a column breaks the rules it was written under.
    pub fn decode(self) -> Result<Service, CorruptRow> {
        let id = self.id;
        let corrupt = |reason: String| CorruptRow::new("services", id, reason);
        let spec = ServiceSpec::from_stored(StoredSpec {
            name: &self.name,
            description: &self.description,
            service_type: &self.service_type,
            status: &self.status,
            base_url: &self.base_url,
            api_version: self.api_version.as_deref(),
            metadata: self.metadata,
        })
        .map_err(|e| corrupt(e.to_string()))?;
        let credential = match (
            self.credential_auth_type.as_deref(),
            self.credential_expires_at,
        ) {
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
            id: ServiceId::from_uuid(id),
            tenant_id: tenant(&self.tenant_id).map_err(corrupt)?,
            spec,
            credential,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        })
    }
}

/// A first credential that belongs to another service or tenant than the one
/// being created with it: a caller's bug, refused before anything is written.
#[derive(Debug, thiserror::Error)]
#[error("the first credential of a new service must belong to that service")]
pub struct ForeignCredential;

/// What creating `service` with its optional first `credential` stores: the
/// service's columns, whose credential summary always comes from the stored
/// credential (never from a value the caller set on the service without one),
/// and the credential version issued so far.
///
/// # Errors
/// `ForeignCredential` when the credential is another service's.
pub fn new_service(
    service: &Service,
    credential: Option<&CredentialRecord>,
) -> Result<(ServiceColumns, i64), ForeignCredential> {
    if credential.is_some_and(|c| c.service_id != service.id || c.tenant_id != service.tenant_id) {
        return Err(ForeignCredential);
    }
    let mut columns = ServiceColumns::from(service);
    columns.credential_auth_type = credential.map(|c| c.auth_type.as_str().to_owned());
    columns.credential_expires_at = credential.and_then(|c| c.expires_at);
    Ok((columns, credential.map_or(0, |c| c.version)))
}

/// The columns of a `credentials` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialColumns {
    pub tenant_id: String,
    pub service_id: Uuid,
    pub version: i64,
    pub auth_type: String,
    pub ciphertext: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<&CredentialRecord> for CredentialColumns {
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

impl CredentialColumns {
    /// # Errors
    /// `CorruptRow` for an unknown auth type or tenant.
    pub fn decode(self) -> Result<CredentialRecord, CorruptRow> {
        let row = format!("{}/{}", self.service_id, self.version);
        let corrupt = |reason: String| CorruptRow::new("credentials", &row, reason);
        Ok(CredentialRecord {
            tenant_id: tenant(&self.tenant_id).map_err(corrupt)?,
            service_id: ServiceId::from_uuid(self.service_id),
            version: self.version,
            auth_type: auth_type(&self.auth_type).map_err(corrupt)?,
            ciphertext: self.ciphertext,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

/// The metadata columns of a `credentials` row: listings never load a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialMetaColumns {
    pub service_id: Uuid,
    pub version: i64,
    pub auth_type: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl CredentialMetaColumns {
    /// # Errors
    /// `CorruptRow` for an unknown auth type.
    pub fn decode(self, current: bool) -> Result<CredentialMeta, CorruptRow> {
        let row = format!("{}/{}", self.service_id, self.version);
        Ok(CredentialMeta {
            service_id: ServiceId::from_uuid(self.service_id),
            version: self.version,
            auth_type: auth_type(&self.auth_type)
                .map_err(|reason| CorruptRow::new("credentials", &row, reason))?,
            created_at: self.created_at,
            expires_at: self.expires_at,
            current,
        })
    }
}

/// The columns of an `audit_events` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditColumns {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub tenant_id: String,
    pub actor: String,
    pub action: String,
    pub service_id: Option<Uuid>,
    pub credential_version: Option<i64>,
    pub outcome: String,
    pub request_id: Option<String>,
    /// `AuditEvent::details` as JSON text.
    pub details: Option<String>,
}

impl From<&AuditEvent> for AuditColumns {
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
            details: e.details.as_ref().map(Value::to_string),
        }
    }
}

impl AuditColumns {
    /// # Errors
    /// `CorruptRow` for an unknown action, outcome or tenant.
    pub fn decode(self) -> Result<AuditEvent, CorruptRow> {
        let id = self.id;
        let corrupt = |reason: String| CorruptRow::new("audit_events", id, reason);
        Ok(AuditEvent {
            id,
            occurred_at: self.occurred_at,
            tenant_id: tenant(&self.tenant_id).map_err(corrupt)?,
            actor: self.actor,
            action: AuditAction::parse(&self.action)
                .ok_or_else(|| corrupt(format!("unknown action {:?}", self.action)))?,
            service_id: self.service_id.map(ServiceId::from_uuid),
            credential_version: self.credential_version,
            outcome: AuditOutcome::parse(&self.outcome)
                .ok_or_else(|| corrupt(format!("unknown outcome {:?}", self.outcome)))?,
            request_id: self.request_id,
            details: self
                .details
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(|_| corrupt("details are not JSON".into()))?,
        })
    }
}

/// The columns of a `roles` row: the permissions and the selector as JSON text
/// (`RolePermissions::to_json`, `ServiceSelector::to_json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleColumns {
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

impl From<&Role> for RoleColumns {
    fn from(r: &Role) -> Self {
        Self {
            tenant_id: r.tenant_id.as_str().to_owned(),
            name: r.name.as_str().to_owned(),
            id: r.id,
            description: r.spec.description.as_str().to_owned(),
            permissions: r.spec.permissions.to_json().to_string(),
            services: r.spec.services.to_json().to_string(),
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn json(raw: &str, column: &str) -> Result<Value, String> {
    serde_json::from_str(raw).map_err(|_| format!("{column} is not JSON"))
}

impl RoleColumns {
    /// # Errors
    /// `CorruptRow` when a column breaks the rules of a role.
    pub fn decode(self) -> Result<Role, CorruptRow> {
        let id = self.id;
        let corrupt = |reason: String| CorruptRow::new("roles", id, reason);
        let permissions = json(&self.permissions, "permissions")
            .and_then(|v| RolePermissions::from_stored(&v))
            .map_err(|e| corrupt(format!("permissions: {e}")))?;
        let services = json(&self.services, "services")
            .and_then(|v| ServiceSelector::from_stored(&v))
            .map_err(|e| corrupt(format!("services: {e}")))?;
        Ok(Role {
            id,
            tenant_id: tenant(&self.tenant_id).map_err(corrupt)?,
            name: RoleName::parse(&self.name).map_err(|e| corrupt(format!("name {e}")))?,
            spec: RoleSpec {
                description: Description::parse(&self.description)
                    .map_err(|e| corrupt(format!("description {e}")))?,
                permissions,
                services,
            },
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The columns of a `role_bindings` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleBindingColumns {
    pub id: Uuid,
    pub tenant_id: String,
    pub role_name: String,
    pub subject_type: String,
    pub subject_value: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl From<&RoleBinding> for RoleBindingColumns {
    fn from(b: &RoleBinding) -> Self {
        Self {
            id: b.id,
            tenant_id: b.tenant_id.as_str().to_owned(),
            role_name: b.role.as_str().to_owned(),
            subject_type: b.subject.kind.as_str().to_owned(),
            subject_value: b.subject.value.clone(),
            expires_at: b.expires_at,
            created_at: b.created_at,
            created_by: b.created_by.clone(),
        }
    }
}

impl RoleBindingColumns {
    /// # Errors
    /// `CorruptRow` for an unknown subject type, a bad role name or subject.
    pub fn decode(self) -> Result<RoleBinding, CorruptRow> {
        let id = self.id;
        let corrupt = |reason: String| CorruptRow::new("role_bindings", id, reason);
        let kind = SubjectType::parse(&self.subject_type)
            .ok_or_else(|| corrupt(format!("unknown subject type {:?}", self.subject_type)))?;
        Ok(RoleBinding {
            id,
            tenant_id: tenant(&self.tenant_id).map_err(corrupt)?,
            role: RoleName::parse(&self.role_name).map_err(|e| corrupt(format!("role {e}")))?,
            subject: Subject::new(kind, &self.subject_value)
                .map_err(|e| corrupt(format!("subject value {e}")))?,
            expires_at: self.expires_at,
            created_at: self.created_at,
            created_by: self.created_by,
        })
    }
}

/// A tenant's bindings with their roles as a store decoded them, without the
/// rows that no longer satisfy the rules: each is logged and left out, which
/// fails closed for that binding only. Every request of a tenant resolves its
/// bindings, so one bad row must not lock the whole tenant out, its
/// tenant-wide administrators included.
pub fn usable_bindings(
    rows: impl IntoIterator<
        Item = (
            Result<crate::access::RoleBinding, CorruptRow>,
            Result<crate::access::Role, CorruptRow>,
        ),
    >,
) -> Vec<(crate::access::RoleBinding, crate::access::Role)> {
    rows.into_iter()
        .filter_map(|(binding, role)| match (binding, role) {
            (Ok(binding), Ok(role)) => Some((binding, role)),
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!(%error, "a role binding is left out: its row breaks the rules");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> ServiceColumns {
        let at = DateTime::from_timestamp_micros(1_767_225_600_000_000).unwrap();
        ServiceColumns {
            id: Uuid::now_v7(),
            tenant_id: "acme".into(),
            name: "Stripe".into(),
            name_key: "stripe".into(),
            description: String::new(),
            service_type: "payment".into(),
            status: "active".into(),
            base_url: "https://api.stripe.com".into(),
            api_version: None,
            metadata: serde_json::json!({}),
            created_at: at,
            updated_at: at,
            version: 1,
            credential_auth_type: None,
            credential_expires_at: None,
        }
    }

    #[test]
    fn a_service_round_trips_through_its_columns() {
        let stored = columns();
        let service = stored.clone().decode().unwrap();
        assert_eq!(ServiceColumns::from(&service), stored);
    }

    #[test]
    fn damage_is_named_by_table_and_row_never_by_value() {
        let mut bad = columns();
        bad.status = "sk_live_CANARY".into();
        let error = bad.decode().unwrap_err().to_string();
        assert!(error.starts_with("stored services row"), "{error}");
        assert!(!error.contains("CANARY"), "{error}");
        let mut orphan = columns();
        orphan.credential_expires_at = Some(orphan.created_at);
        assert!(orphan.decode().is_err(), "an expiry without a credential");
    }

    #[test]
    fn rows_written_under_older_rules_stay_readable() {
        let mut older = columns();
        older.name = "Stripe\u{200B}".into();
        older.tenant_id = "acme\u{200B}".into();
        assert!(older.decode().is_ok());
    }
    #[test]
    fn a_role_and_its_binding_round_trip_through_their_columns() {
        let doc = serde_json::json!({
            "permissions": ["external-service:*", "external-service:read"],
            "services": {"types": ["payment"], "metadata": {"tier": 1, "env": "prod"}},
        });
        let spec = RoleSpec::parse_replacement(doc.as_object().unwrap()).unwrap();
        let at = DateTime::from_timestamp_micros(1_767_225_600_000_000).unwrap();
        let role = Role {
            id: Uuid::now_v7(),
            tenant_id: TenantId::parse("acme").unwrap(),
            name: RoleName::parse("ops").unwrap(),
            spec,
            version: 1,
            created_at: at,
            updated_at: at,
        };
        assert_eq!(RoleColumns::from(&role).decode().unwrap(), role);
        let binding = RoleBinding {
            id: Uuid::now_v7(),
            tenant_id: role.tenant_id.clone(),
            role: role.name.clone(),
            subject: Subject::new(SubjectType::ClientId, "ci").unwrap(),
            expires_at: Some(at),
            created_at: at,
            created_by: "alice".into(),
        };
        assert_eq!(
            RoleBindingColumns::from(&binding).decode().unwrap(),
            binding
        );

        let mut bad = RoleColumns::from(&role);
        bad.permissions = r#"["sk_live_CANARY"]"#.into();
        let error = bad.decode().unwrap_err().to_string();
        assert!(error.starts_with("stored roles row"), "{error}");
        let mut bad = RoleBindingColumns::from(&binding);
        bad.subject_type = "group".into();
        assert!(bad.clone().decode().is_err());

        // One bad row leaves out its binding only (review finding: it made
        // every request of the tenant fail).
        let mut bad_role = RoleColumns::from(&role);
        bad_role.permissions = r#"["external-service:fly"]"#.into();
        let usable = usable_bindings([
            (Ok(binding.clone()), Ok(role.clone())),
            (bad.decode(), Ok(role.clone())),
            (Ok(binding.clone()), bad_role.decode()),
        ]);
        assert_eq!(usable, [(binding, role)]);
    }
}
