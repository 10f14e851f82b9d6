//! Roles, role bindings and the access review (docs/api.md §4.5–4.6). Every
//! route needs `external-service:access`, checked before the request is read.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use exsvc_domain::access::{NewRoleBinding, Role, RoleName, RoleSpec};
use exsvc_domain::usecases::{
    binding_id, role_name, BindingListRequest, RawBindingParams, RoleListRequest,
};
use exsvc_domain::Permission;

use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::dto_access::{
    AccessReviewDto, RoleBindingDto, RoleBindingListDto, RoleDto, RoleListDto,
};
use crate::error::{ApiError, ErrorResponse};
use crate::routes::services::{object_body, path_service, precondition, query_parameters};
use crate::AppState;

fn role_response(mut builder: actix_web::HttpResponseBuilder, role: &Role) -> HttpResponse {
    builder
        .insert_header((header::ETAG, format!("\"{}\"", role.version)))
        .json(RoleDto::from(role))
}

fn path_role(req: &HttpRequest) -> Result<RoleName, ApiError> {
    Ok(role_name(req.match_info().get("name").unwrap_or(""))?)
}

/// List the tenant's roles, newest first.
#[utoipa::path(
    get, path = "/api/v1/roles", tag = "access", operation_id = "listRoles",
    responses(
        (status = 200, description = "A page of roles", body = RoleListDto),
        (status = 400, description = "`VALIDATION_ERROR` or `INVALID_CURSOR`", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn list_roles(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Access)?;
    let query = query_parameters(&req, &["limit", "cursor"])?;
    let request = RoleListRequest::parse(query.get("limit"), query.get("cursor"))?;
    let page = state.use_cases.access.list_roles(permit, request).await?;
    Ok(HttpResponse::Ok().json(RoleListDto::from(&page)))
}

/// Define a role: permissions on the services its selector matches.
#[utoipa::path(
    post, path = "/api/v1/roles", tag = "access", operation_id = "createRole",
    responses(
        (status = 201, description = "Created", body = RoleDto, headers(
            ("Location" = String, description = "URL of the new role"),
            ("ETag" = String, description = "`\"<version>\"`"),
        )),
        (status = 400, description = "`VALIDATION_ERROR` or `INVALID_JSON`", body = ErrorResponse),
        (status = 409, description = "`ROLE_ALREADY_EXISTS`", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn create_role(
    auth: Authenticated,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Access)?;
    let (name, spec) = RoleSpec::parse_new(&object_body(body)?)?;
    let role = state
        .use_cases
        .access
        .create_role(permit, name, spec)
        .await?;
    let mut builder = HttpResponse::Created();
    if let Some(value) = super::location(&state, &format!("/api/v1/roles/{}", role.name)) {
        builder.insert_header((header::LOCATION, value));
    }
    Ok(role_response(builder, &role))
}

/// Get one role.
#[utoipa::path(
    get, path = "/api/v1/roles/{name}", tag = "access", operation_id = "getRole",
    responses(
        (status = 200, description = "The role", body = RoleDto, headers(("ETag" = String))),
        (status = 404, description = "`ROLE_NOT_FOUND`", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn get_role(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Access)?;
    let name = path_role(&req)?;
    let role = state.use_cases.access.get_role(permit, &name).await?;
    Ok(role_response(HttpResponse::Ok(), &role))
}

/// Replace a role's description, permissions and selector. A binding of the
/// role grants what it now says on every replica within 2 s.
#[utoipa::path(
    put, path = "/api/v1/roles/{name}", tag = "access", operation_id = "replaceRole",
    responses(
        (status = 200, description = "The updated role", body = RoleDto, headers(("ETag" = String))),
        (status = 400, description = "`VALIDATION_ERROR` or `INVALID_JSON`", body = ErrorResponse),
        (status = 404, description = "`ROLE_NOT_FOUND`", body = ErrorResponse),
        (status = 412, description = "`PRECONDITION_FAILED`: stale If-Match; nothing changed", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn replace_role(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Access)?;
    let name = path_role(&req)?;
    let spec = RoleSpec::parse_replacement(&object_body(body)?)?;
    let role = state
        .use_cases
        .access
        .replace_role(permit, &name, spec, precondition(&req))
        .await?;
    Ok(role_response(HttpResponse::Ok(), &role))
}

/// Delete a role that no binding names.
#[utoipa::path(
    delete, path = "/api/v1/roles/{name}", tag = "access", operation_id = "deleteRole",
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`ROLE_NOT_FOUND`", body = ErrorResponse),
        (status = 409, description = "`ROLE_IN_USE`: a binding names the role", body = ErrorResponse),
        (status = 412, description = "`PRECONDITION_FAILED`", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn delete_role(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Access)?;
    let name = path_role(&req)?;
    state
        .use_cases
        .access
        .delete_role(permit, &name, precondition(&req))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

const BINDING_PARAMETERS: [&str; 5] = ["limit", "cursor", "role", "subject_type", "subject_value"];

/// List the tenant's role bindings, newest first.
#[utoipa::path(
    get, path = "/api/v1/role-bindings", tag = "access", operation_id = "listRoleBindings",
    responses(
        (status = 200, description = "A page of bindings", body = RoleBindingListDto),
        (status = 400, description = "`VALIDATION_ERROR` or `INVALID_CURSOR`", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn list_bindings(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Access)?;
    let query = query_parameters(&req, &BINDING_PARAMETERS)?;
    let raw = RawBindingParams {
        limit: query.get("limit"),
        cursor: query.get("cursor"),
        role: query.get("role"),
        subject_type: query.get("subject_type"),
        subject_value: query.get("subject_value"),
    };
    let request = BindingListRequest::parse(&raw)?;
    let page = state
        .use_cases
        .access
        .list_bindings(permit, request)
        .await?;
    Ok(HttpResponse::Ok().json(RoleBindingListDto::from(&page)))
}

/// Give a role to the callers a subject names.
#[utoipa::path(
    post, path = "/api/v1/role-bindings", tag = "access", operation_id = "createRoleBinding",
    responses(
        (status = 201, description = "Created", body = RoleBindingDto, headers(
            ("Location" = String, description = "URL of the new binding"),
        )),
        (status = 400, description = "`VALIDATION_ERROR` (also naming `role` when the tenant has no such role) or `INVALID_JSON`", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn create_binding(
    auth: Authenticated,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Access)?;
    let input = NewRoleBinding::parse(&object_body(body)?)?;
    let binding = state.use_cases.access.create_binding(permit, input).await?;
    let mut builder = HttpResponse::Created();
    if let Some(value) = super::location(&state, &format!("/api/v1/role-bindings/{}", binding.id)) {
        builder.insert_header((header::LOCATION, value));
    }
    Ok(builder.json(RoleBindingDto::from(&binding)))
}

/// Get one role binding.
#[utoipa::path(
    get, path = "/api/v1/role-bindings/{id}", tag = "access", operation_id = "getRoleBinding",
    responses(
        (status = 200, description = "The binding", body = RoleBindingDto),
        (status = 404, description = "`ROLE_BINDING_NOT_FOUND`", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn get_binding(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Access)?;
    let id = binding_id(req.match_info().get("id").unwrap_or(""))?;
    let binding = state.use_cases.access.get_binding(permit, id).await?;
    Ok(HttpResponse::Ok().json(RoleBindingDto::from(&binding)))
}

/// Delete a role binding: it stops granting on every replica within 2 s.
#[utoipa::path(
    delete, path = "/api/v1/role-bindings/{id}", tag = "access", operation_id = "deleteRoleBinding",
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`ROLE_BINDING_NOT_FOUND`", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn delete_binding(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Access)?;
    let id = binding_id(req.match_info().get("id").unwrap_or(""))?;
    state.use_cases.access.delete_binding(permit, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Who can reach the service's secret through bindings, and who read or used
/// it in the last 30 days.
#[utoipa::path(
    get, path = "/api/v1/services/{id}/access", tag = "access", operation_id = "reviewServiceAccess",
    responses(
        (status = 200, description = "The access review", body = AccessReviewDto),
        (status = 404, description = "`SERVICE_NOT_FOUND`", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn review_access(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Access)?;
    let id = path_service(&req)?;
    let review = state.use_cases.access.review(permit, id).await?;
    Ok(HttpResponse::Ok().json(AccessReviewDto::from(&review)))
}
