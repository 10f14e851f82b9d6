//! What the ports' cases share: tenants, a fixed clock, a valid service, an
//! audit event, a listing query.

use chrono::SubsecRound;
use chrono::{DateTime, Duration, Utc};
use exsvc_domain::audit::{AuditAction, AuditEvent, AuditOutcome};
use exsvc_domain::pagination::{CursorKey, ListQuery, RawListParams};
use exsvc_domain::service::UrlPolicy;
use exsvc_domain::{Service, ServiceId, ServiceSpec, TenantId};
use serde_json::json;

pub(super) fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("tenant")
}

/// An audit event of tenant `tenant_name`.
pub fn audit(tenant_name: &str, action: AuditAction) -> AuditEvent {
    AuditEvent {
        id: uuid::Uuid::now_v7(),
        occurred_at: chrono::Utc::now().trunc_subsecs(6),
        tenant_id: tenant(tenant_name),
        actor: "contract".into(),
        action,
        service_id: None,
        credential_version: None,
        outcome: AuditOutcome::Success,
        request_id: Some("req-1".into()),
        details: None,
    }
}

pub(super) fn key() -> CursorKey {
    CursorKey::derive(b"contract")
}

pub(super) fn base_time() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_767_225_600_000_000).expect("time") // 2026-01-01
}

/// A valid service of `tenant` named `name`, created `offset_secs` after a fixed instant.
pub fn service(tenant_name: &str, name: &str, offset_secs: i64) -> Service {
    let doc = json!({
        "name": name, "type": "payment", "base_url": "https://api.example.com",
        "description": "d", "api_version": "v1", "metadata": {"k": [1, "two", {"three": 3}]}
    });
    let spec = ServiceSpec::from_document(doc.as_object().expect("object"), UrlPolicy::default())
        .expect("spec");
    let at = base_time() + Duration::seconds(offset_secs);
    Service {
        id: ServiceId::from_uuid(uuid::Uuid::now_v7()),
        tenant_id: tenant(tenant_name),
        spec,
        credential: None,
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

pub(super) fn query(limit: &str) -> ListQuery {
    ListQuery::parse(
        &RawListParams {
            limit: Some(limit),
            ..Default::default()
        },
        &tenant("t1"),
        &key(),
    )
    .expect("query")
}
