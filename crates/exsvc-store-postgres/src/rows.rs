//! The row type of `services`; it never leaves this crate.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use exsvc_domain::service::StoredSpec;
use exsvc_domain::{Service, ServiceId, ServiceSpec, TenantId};
use serde_json::Value;
use uuid::Uuid;

use crate::schema::services;

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
        Ok(Service {
            id: ServiceId::from_uuid(row.id),
            tenant_id: TenantId::parse(&row.tenant_id).map_err(|e| corrupt(e.to_string()))?,
            spec,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        })
    }
}
