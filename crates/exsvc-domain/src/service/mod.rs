//! The Service aggregate (SPEC §1.1): the writable part (`ServiceSpec`) and the
//! server-owned part (id, tenant, timestamps, version).

mod document;
mod values;

pub use document::{apply_merge_patch, check_field_names, UrlPolicy};
pub use values::{
    ApiVersion, BaseUrl, Description, Metadata, ServiceId, ServiceName, ServiceStatus, ServiceType,
};

use chrono::{DateTime, Utc};

use crate::principal::TenantId;

/// Every field a client may write. Built only through validation, so a
/// `ServiceSpec` always satisfies SPEC §1.1.
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

/// A stored service.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub id: ServiceId,
    pub tenant_id: TenantId,
    pub spec: ServiceSpec,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// 1 at creation, +1 on every change; the ETag is `"<version>"`.
    pub version: i64,
}
