//! The request and response bodies of the API (docs/api.md).
//!
//! Each type is named as the schema of the served OpenAPI document it stands
//! for (`Service`, `ServiceWrite`, `RoleBindingCreate` …); the crate's schema
//! test derives a schema from each and compares it with the document the
//! server serves, so a field added, renamed or retyped on one side fails the
//! build's tests instead of a caller's decode at run time. Values that hold a
//! secret print `[REDACTED]` in `Debug`.

use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A JSON object, as services' metadata and role selectors hold.
pub type Object = Map<String, Value>;

/// `active` or `inactive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ServiceStatus {
    Active,
    Inactive,
}

impl ServiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }
}

impl std::str::FromStr for ServiceStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "active" => Ok(Self::Active),
            "inactive" => Ok(Self::Inactive),
            other => Err(format!("'{other}' is not a status: active or inactive")),
        }
    }
}

/// The kind of a credential, which decides its keys (docs/api.md §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    ApiKey,
    Basic,
    Bearer,
    #[serde(rename = "oauth2_client_credentials")]
    OAuth2ClientCredentials,
    Custom,
}

impl AuthType {
    pub const ALL: [AuthType; 5] = [
        Self::ApiKey,
        Self::Basic,
        Self::Bearer,
        Self::OAuth2ClientCredentials,
        Self::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Basic => "basic",
            Self::Bearer => "bearer",
            Self::OAuth2ClientCredentials => "oauth2_client_credentials",
            Self::Custom => "custom",
        }
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AuthType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
                format!("'{s}' is not an auth type: {}", names.join(", "))
            })
    }
}

/// A registered external service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct Service {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub service_type: String,
    pub status: ServiceStatus,
    pub base_url: String,
    pub api_version: Option<String>,
    pub tenant_id: String,
    pub metadata: Object,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The ETag is this number in quotes; pass it to `WriteOptions::if_match`.
    pub version: i64,
    /// The current credential's type, or `None` without one.
    pub auth_type: Option<AuthType>,
    pub credential_expires_at: Option<DateTime<Utc>>,
}

/// One page of services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct ServiceList {
    pub services: Vec<Service>,
    /// Pass back as `cursor` for the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// The writable fields of a service: the body of a replace (`PUT`), and of a
/// create without a credential. An omitted optional field takes its default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct ServiceWrite {
    pub name: String,
    #[serde(rename = "type")]
    pub service_type: String,
    pub base_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ServiceStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Object>,
}

impl ServiceWrite {
    /// The three required fields; the rest take their defaults.
    pub fn new(
        name: impl Into<String>,
        service_type: impl Into<String>,
        base_url: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            service_type: service_type.into(),
            base_url: base_url.into(),
            ..Self::default()
        }
    }
}

/// The body of a create: the service, and optionally its first credential,
/// stored in the same transaction.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct ServiceCreate {
    #[serde(flatten)]
    pub service: ServiceWrite,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<AuthType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, schema(value_type = Option<Object>))]
    pub credentials: Option<SecretObject>,
}

impl From<ServiceWrite> for ServiceCreate {
    fn from(service: ServiceWrite) -> Self {
        Self {
            service,
            auth_type: None,
            credentials: None,
        }
    }
}

/// A JSON Merge Patch of a service (RFC 7396): a field left `None` is kept;
/// `Some(None)` on a nullable field resets it to its default.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct ServicePatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ServiceStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<Option<String>>,
    /// Merged key by key; a key set to `null` is removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Object>,
}

/// A JSON object whose values are secret: a credential's keys. `Debug`
/// prints `[REDACTED]`; [`SecretObject::expose`] is the one way in.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretObject(Object);

impl SecretObject {
    pub fn new(values: Object) -> Self {
        Self(values)
    }

    /// The secret values themselves.
    pub fn expose(&self) -> &Object {
        &self.0
    }

    /// One value as text: a string as it is, anything else as JSON.
    pub fn field(&self, key: &str) -> Option<String> {
        self.0.get(key).map(|value| match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
    }
}

impl fmt::Debug for SecretObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl FromIterator<(String, Value)> for SecretObject {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// The body of `PUT …/credentials`: a new current version.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct CredentialWrite {
    pub auth_type: AuthType,
    #[cfg_attr(test, schema(value_type = Object))]
    pub credentials: SecretObject,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a credential write answers: metadata, never the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct CredentialMeta {
    pub service_id: Uuid,
    pub auth_type: AuthType,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// One kept version of a service's credential, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct CredentialVersion {
    pub version: i64,
    pub auth_type: AuthType,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct CredentialVersions {
    /// Newest first.
    pub versions: Vec<CredentialVersion>,
}

/// A revealed credential (an audit event records each read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct Credential {
    pub service_id: Uuid,
    pub service_name: String,
    pub base_url: String,
    pub auth_type: AuthType,
    #[cfg_attr(test, schema(value_type = Object))]
    pub credentials: SecretObject,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub retrieved_at: DateTime<Utc>,
}

/// One entry of the audit trail (docs/api.md §1.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub tenant_id: String,
    pub actor: String,
    /// `service.create`, `credentials.read`, `role_binding.delete` …
    pub action: String,
    pub service_id: Option<Uuid>,
    pub credential_version: Option<i64>,
    /// `success` or `denied`.
    pub outcome: String,
    pub request_id: Option<String>,
    #[cfg_attr(test, schema(value_type = Option<Object>))]
    pub details: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct AuditEventList {
    pub events: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

/// An access token from the service's OAuth token endpoint (docs/api.md §10.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct ServiceToken {
    #[serde(serialize_with = "expose_string")]
    #[cfg_attr(test, schema(value_type = String))]
    pub access_token: SecretString,
    pub token_type: String,
    pub expires_at: DateTime<Utc>,
    pub scope: Option<String>,
    /// Whether exsvc answered from its cache.
    pub cached: bool,
}

fn expose_string<S: serde::Serializer>(value: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value.expose_secret())
}

/// Which services a role covers: every given field must match; empty matches
/// every service of the tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct ServiceSelector {
    #[serde(default)]
    pub ids: Vec<Uuid>,
    #[serde(default)]
    pub types: Vec<String>,
    #[serde(default)]
    pub metadata: Object,
}

/// A named set of permissions on the services its selector matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct Role {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    pub services: ServiceSelector,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct RoleList {
    pub roles: Vec<Role>,
    pub next_cursor: Option<String>,
}

/// The body of `POST /api/v1/roles`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct RoleCreate {
    pub name: String,
    pub permissions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<ServiceSelector>,
}

/// The body of `PUT /api/v1/roles/{name}`: every field replaced.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct RoleReplace {
    pub permissions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<ServiceSelector>,
}

/// Whom a binding applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    /// The token's `sub`.
    Sub,
    /// The token's `client_id`.
    ClientId,
    /// One of the token's `roles`.
    Role,
}

impl SubjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sub => "sub",
            Self::ClientId => "client_id",
            Self::Role => "role",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct Subject {
    #[serde(rename = "type")]
    pub kind: SubjectType,
    pub value: String,
}

impl Subject {
    pub fn new(kind: SubjectType, value: impl Into<String>) -> Self {
        Self {
            kind,
            value: value.into(),
        }
    }
}

/// A role bound to a subject, until `expires_at` when set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct RoleBinding {
    pub id: Uuid,
    pub role: String,
    pub subject: Subject,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct RoleBindingList {
    pub role_bindings: Vec<RoleBinding>,
    pub next_cursor: Option<String>,
}

/// The body of `POST /api/v1/role-bindings`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct RoleBindingCreate {
    pub role: String,
    pub subject: Subject,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A binding whose role's selector matches the reviewed service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct ReviewedBinding {
    pub binding_id: Uuid,
    pub role: String,
    pub subject: Subject,
    pub permissions: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who read or used the service's credential in the last 30 days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct SecretReader {
    pub actor: String,
    pub last_read_at: DateTime<Utc>,
    pub reads_30d: i64,
}

/// Who can reach a service's secret, and who did (docs/api.md §4.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct AccessReview {
    pub service_id: Uuid,
    pub bindings: Vec<ReviewedBinding>,
    pub readers: Vec<SecretReader>,
    /// Always `not enumerable`: grants inside tokens are the Auth Manager's.
    pub token_grants: String,
}

/// A binding that applies to the caller now, as `/debug/auth` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct DebugBinding {
    pub id: Uuid,
    pub role: String,
    pub permissions: Vec<String>,
    pub services: ServiceSelector,
}

/// A token's `aud`: one string or several, as the token carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The verified token's header and registered claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct TokenInfo {
    pub alg: String,
    pub kid: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<Audience>,
    pub issued_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub not_before: Option<DateTime<Utc>>,
}

/// What the server understood of the caller's token (`GET /debug/auth`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
pub struct DebugAuth {
    pub tenant_id: String,
    pub actor: String,
    pub client_id: Option<String>,
    pub permissions: Vec<String>,
    pub roles: Vec<String>,
    pub bindings: Vec<DebugBinding>,
    pub token: TokenInfo,
    pub claims: Object,
}

/// The query of `GET /api/v1/services`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceQuery {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ServiceStatus>,
    /// Case-insensitive substring of the name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_expires_before: Option<DateTime<Utc>>,
    /// 1–100; the server's default is 20.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The query of `GET /api/v1/audit-events`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AuditQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The query of `GET /api/v1/role-bindings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RoleBindingQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_type: Option<SubjectType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A page request of a listing without filters (`GET /api/v1/roles`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PageQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The preconditions and retry key of one write. Each write honours one of
/// them, and a call that sets the other is refused before anything is sent
/// ([`crate::Error::InvalidInput`]), since exsvc would ignore it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Sent as `If-Match: "<version>"` (replacing, patching and deleting a
    /// service or a role): the write applies only to that version (else 412
    /// `PRECONDITION_FAILED`).
    pub if_match: Option<i64>,
    /// Sent as `Idempotency-Key` (creating a service, storing a credential):
    /// the same key and body replays the first answer and writes nothing.
    pub idempotency_key: Option<String>,
}

impl WriteOptions {
    pub fn if_match(version: i64) -> Self {
        Self {
            if_match: Some(version),
            ..Self::default()
        }
    }

    pub fn idempotency_key(key: impl Into<String>) -> Self {
        Self {
            idempotency_key: Some(key.into()),
            ..Self::default()
        }
    }
}
