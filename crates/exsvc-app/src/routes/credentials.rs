//! `/api/v1/services/{id}/credentials`: storing, revealing, listing and
//! destroying a service's credentials.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{web, HttpRequest, HttpResponse};

use exsvc_domain::usecases::{parse_version, CredentialInput};
use exsvc_domain::{Permission, Principal, ServiceId};
use serde_json::{Map, Value};

use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::dto::{CredentialDto, CredentialMetaDto, CredentialVersionsDto};
use crate::error::{ApiError, ErrorResponse};
use crate::idempotency;
use crate::routes::services::{object_body, path_service, query_parameters};
use crate::AppState;

fn no_store() -> CacheControl {
    CacheControl(vec![CacheDirective::NoStore])
}

/// Reveal the current credential (or a kept `version`). Recorded in the audit trail.
#[utoipa::path(
    get, path = "/api/v1/services/{id}/credentials", tag = "credentials",
    operation_id = "getCredentials",
    responses(
        (status = 200, description = "The credential, in clear. `Cache-Control: no-store`", body = CredentialDto,
            headers(("Cache-Control" = String, description = "no-store"))),
        (status = 400, description = "`VALIDATION_ERROR` (bad `version`, an unknown or repeated parameter, a control character in any)", body = ErrorResponse),
        (status = 403, description = "`FORBIDDEN`: the token lacks `external-service:credentials` (recorded in the audit trail as `denied`)", body = ErrorResponse),
        (status = 404, description = "`SERVICE_NOT_FOUND`, or `CREDENTIALS_NOT_FOUND` (no credential, or no kept `version` of that number)", body = ErrorResponse),
        (status = 503, description = "`SERVICE_UNAVAILABLE`: the database does not answer, or the read could not be recorded, so nothing is revealed", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn get_credentials(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let vault = &state.use_cases.vault;
    // Refused before the parameters are looked at, so every refusal is
    // recorded as denied.
    let named = ServiceId::parse(req.match_info().get("id").unwrap_or(""));
    let permit = vault.permit_reveal(auth.principal(), named).await?;
    let id = path_service(&req)?;
    let version = query_parameters(&req, &["version"])?
        .get("version")
        .map(parse_version)
        .transpose()?;
    let revealed = vault.reveal(permit, id, version).await?;
    state.metrics.credential_read();
    Ok(HttpResponse::Ok()
        .insert_header(no_store())
        .json(CredentialDto::from(&revealed)))
}

/// Store a new current version (the oldest beyond the kept count are destroyed).
#[utoipa::path(
    put, path = "/api/v1/services/{id}/credentials", tag = "credentials",
    operation_id = "putCredentials",
    responses(
        (status = 201, description = "The service's first credential: metadata only", body = CredentialMetaDto,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the kept response of an earlier request with the same `Idempotency-Key`"))),
        (status = 200, description = "A new version: metadata only", body = CredentialMetaDto,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the kept response of an earlier request with the same `Idempotency-Key`"))),
        (status = 400, description = "`VALIDATION_ERROR` or `INVALID_JSON`", body = ErrorResponse),
        (status = 404, description = "`SERVICE_NOT_FOUND`", body = ErrorResponse),
        (status = 409, description = "`IDEMPOTENCY_KEY_IN_USE` (with `Retry-After`): the first request with this `Idempotency-Key` is still running", body = ErrorResponse),
        (status = 422, description = "`IDEMPOTENCY_KEY_REUSED`: the `Idempotency-Key` was used with a different request", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn put_credentials(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    // 403 before anything of the request is read; the write below takes its
    // own permit from the principal it owns.
    auth.principal().permit(Permission::Update)?;
    let id = path_service(&req)?;
    let body = object_body(body)?;
    let key = idempotency::key_of(&req)?;
    // The target as sent, as in every kept request's fingerprint.
    let raw_id = req.match_info().get("id").unwrap_or("");
    let operation = format!("PUT /api/v1/services/{raw_id}/credentials");
    let put = move |app: web::Data<AppState>, principal: Principal, body: Map<String, Value>| async move {
        let permit = principal.permit(Permission::Update)?;
        let input = CredentialInput::parse(&body)?;
        let (meta, first) = app.use_cases.vault.put(permit, id, input).await?;
        let mut response = if first {
            HttpResponse::Created()
        } else {
            HttpResponse::Ok()
        };
        Ok(response
            .insert_header(no_store())
            .json(CredentialMetaDto::from(&meta)))
    };
    idempotency::run_once(
        &state,
        auth.into_principal(),
        key,
        Permission::Update,
        &operation,
        body,
        put,
    )
    .await
}

/// List the kept versions: metadata only.
#[utoipa::path(
    get, path = "/api/v1/services/{id}/credentials/versions", tag = "credentials",
    operation_id = "listCredentialVersions",
    responses(
        (status = 200, description = "Kept versions, newest first; `{\"versions\": []}` for a service without a credential", body = CredentialVersionsDto),
        (status = 404, description = "`SERVICE_NOT_FOUND`", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn list_versions(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Read)?;
    let id = path_service(&req)?;
    let versions = state.use_cases.vault.versions(permit, id).await?;
    Ok(HttpResponse::Ok().json(CredentialVersionsDto::from(versions.as_slice())))
}

/// Destroy every version.
#[utoipa::path(
    delete, path = "/api/v1/services/{id}/credentials", tag = "credentials",
    operation_id = "deleteCredentials",
    responses(
        (status = 204, description = "Every version destroyed (also when there was none)"),
        (status = 404, description = "`SERVICE_NOT_FOUND`", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn delete_credentials(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Update)?;
    let id = path_service(&req)?;
    state.use_cases.vault.delete(permit, id).await?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}
