//! `GET /api/v1/audit-events`: the caller's tenant's audit trail.

use actix_web::{web, HttpRequest, HttpResponse};
use exsvc_domain::usecases::{AuditListRequest, RawAuditParams};
use exsvc_domain::Permission;

use crate::auth::Authenticated;
use crate::dto::AuditEventListDto;
use crate::error::{ApiError, ErrorResponse};
use crate::routes::services::query_parameters;
use crate::AppState;

const PARAMETERS: [&str; 7] = [
    "limit",
    "cursor",
    "service_id",
    "action",
    "actor",
    "since",
    "until",
];

/// List audit events, newest first.
#[utoipa::path(
    get, path = "/api/v1/audit-events", tag = "audit",
    operation_id = "listAuditEvents",
    responses(
        (status = 200, description = "A page of events", body = AuditEventListDto),
        (status = 400, description = "`VALIDATION_ERROR` (bad `limit` or filter, an unknown or repeated parameter, a control character in any) or `INVALID_CURSOR`", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn list_audit_events(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Audit)?;
    let query = query_parameters(&req, &PARAMETERS)?;
    let raw = RawAuditParams {
        limit: query.get("limit"),
        cursor: query.get("cursor"),
        service_id: query.get("service_id"),
        action: query.get("action"),
        actor: query.get("actor"),
        since: query.get("since"),
        until: query.get("until"),
    };
    let request = AuditListRequest::parse(&raw)?;
    let page = state.use_cases.audit_trail.list(permit, request).await?;
    Ok(HttpResponse::Ok().json(AuditEventListDto::from(&page)))
}
