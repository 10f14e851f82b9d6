//! The row type of `services` in SQLite; it never leaves this crate.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use exsvc_domain::service::StoredSpec;
use exsvc_domain::{Service, ServiceId, ServiceSpec, TenantId};
use uuid::Uuid;

use crate::schema::services;

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
        }
    }
}

/// A stored row that no longer satisfies the domain's rules.
#[derive(Debug, thiserror::Error)]
#[error("stored service {id} is invalid: {reason}")]
pub(crate) struct CorruptRow {
    id: String,
    reason: String,
}

fn timestamp(micros: i64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| format!("timestamp {micros} is out of range"))
}

impl TryFrom<ServiceRow> for Service {
    type Error = CorruptRow;

    fn try_from(row: ServiceRow) -> Result<Self, CorruptRow> {
        let corrupt = |reason: String| CorruptRow {
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
        Ok(Service {
            id: ServiceId::from_uuid(Uuid::try_parse(&row.id).map_err(|e| corrupt(e.to_string()))?),
            tenant_id: TenantId::parse(&row.tenant_id).map_err(|e| corrupt(e.to_string()))?,
            spec,
            created_at: timestamp(row.created_at).map_err(corrupt)?,
            updated_at: timestamp(row.updated_at).map_err(corrupt)?,
            version: row.version,
        })
    }
}
