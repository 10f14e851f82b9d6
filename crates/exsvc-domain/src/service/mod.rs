//! The Service aggregate (docs/api.md §1.1): the writable part (`ServiceSpec`) and the
//! server-owned part (id, tenant, timestamps, version).

mod document;
mod values;

pub use document::{
    apply_merge_patch, check_field_names, ServiceDocument, ServicePatch, UrlPolicy,
};
pub use values::{
    ApiVersion, BaseUrl, Description, Metadata, ServiceId, ServiceName, ServiceStatus, ServiceType,
};

use chrono::{DateTime, Utc};

use crate::principal::TenantId;

/// Every field a client may write. Built only through validation, so a
/// `ServiceSpec` always satisfies docs/api.md §1.1.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub name: ServiceName,
    pub description: Description,
    pub service_type: ServiceType,
    pub status: ServiceStatus,
    pub base_url: BaseUrl,
    pub api_version: Option<ApiVersion>,
    pub metadata: Metadata,
}

/// The writable fields as a store keeps them (its columns), to be rehydrated.
#[derive(Debug, Clone)]
pub struct StoredSpec<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub service_type: &'a str,
    pub status: &'a str,
    pub base_url: &'a str,
    pub api_version: Option<&'a str>,
    pub metadata: serde_json::Value,
}

/// A stored row that no longer satisfies the domain's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored field {field} is invalid: {reason}")]
pub struct CorruptStoredSpec {
    pub field: &'static str,
    pub reason: String,
}

impl ServiceSpec {
    /// Rehydrates a stored spec, re-checking every rule. The URL policy may have
    /// been tightened since the row was written; a stored URL is still shown.
    ///
    /// # Errors
    /// The first field that breaks a rule.
    pub fn from_stored(stored: StoredSpec<'_>) -> Result<Self, CorruptStoredSpec> {
        fn field<T>(name: &'static str, result: Result<T, String>) -> Result<T, CorruptStoredSpec> {
            result.map_err(|reason| CorruptStoredSpec {
                field: name,
                reason,
            })
        }
        let metadata = match stored.metadata {
            serde_json::Value::Object(map) => Metadata::from_stored(map),
            _ => return field("metadata", Err("is not an object".into())),
        };
        Ok(Self {
            name: field("name", ServiceName::from_stored(stored.name))?,
            description: field("description", Description::parse(stored.description))?,
            service_type: field("service_type", ServiceType::parse(stored.service_type))?,
            status: field("status", ServiceStatus::parse(stored.status))?,
            base_url: field("base_url", BaseUrl::parse(stored.base_url, true))?,
            api_version: field(
                "api_version",
                stored.api_version.map(ApiVersion::parse).transpose(),
            )?,
            metadata,
        })
    }
}

/// What a service shows of its current credential (read-only for clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialSummary {
    pub auth_type: crate::credential::AuthType,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A stored service.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub id: ServiceId,
    pub tenant_id: TenantId,
    pub spec: ServiceSpec,
    /// The current credential's summary; `None` while it has none.
    pub credential: Option<CredentialSummary>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// 1 at creation, +1 on every change; the ETag is `"<version>"`.
    pub version: i64,
}
