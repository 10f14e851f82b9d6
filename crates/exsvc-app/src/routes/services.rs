//! `/api/v1/services`: the service registry's handlers.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use std::collections::HashSet;

use exsvc_domain::pagination::{RawListParams, ServiceListRequest};
use exsvc_domain::service::{ServiceDocument, ServicePatch};
use exsvc_domain::usecases::{service_id, Precondition};
use exsvc_domain::validation::FieldErrors;
use exsvc_domain::{Permission, Principal, Service, ServiceId};
use serde_json::{Map, Value};

use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::dto::{ServiceDto, ServiceListDto};
use crate::error::{ApiError, ErrorResponse};
use crate::idempotency;
use crate::AppState;

fn etag(service: &Service) -> String {
    format!("\"{}\"", service.version)
}

fn service_response(
    mut builder: actix_web::HttpResponseBuilder,
    service: &Service,
) -> HttpResponse {
    builder
        .insert_header((header::ETAG, etag(service)))
        .json(ServiceDto::from(service))
}

pub(crate) fn object_body(body: JsonBody) -> Result<Map<String, Value>, ApiError> {
    match body.value()? {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::validation(&FieldErrors::single(
            "body",
            "must be a JSON object",
        ))),
    }
}

/// `If-Match`: `*` or a list of entity tags. Our tags are strong (`"<version>"`);
/// a weak or unparseable tag matches nothing, so the request gets 412. A
/// version number without its quotes (`If-Match: 5`) is taken as `"5"`:
/// RFC 9110 requires the quotes, but what such a client means is plain, and a
/// 412 "has changed" for a version that has not changed misleads. Only digits
/// count as a bare version (`+5`, `W/5` or `5x` still match nothing). Services'
/// PUT, PATCH and DELETE and roles' PUT and DELETE all read it here.
pub(crate) fn precondition(req: &HttpRequest) -> Option<Precondition> {
    let values: Vec<&str> = req
        .headers()
        .get_all(header::IF_MATCH)
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    if values.is_empty() {
        return None;
    }
    let tags: Vec<&str> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if tags == ["*"] {
        return Some(Precondition::Any);
    }
    // `*` is a whole field value (RFC 9110 §13.1.1): beside tags it is no tag
    // of ours, and matches nothing like any other unparseable one.
    let versions = tags
        .iter()
        .filter_map(|tag| entity_tag_version(tag))
        .collect();
    Some(Precondition::Versions(versions))
}

/// The version an entity tag names: `"5"`, or a bare `5` (above).
fn entity_tag_version(tag: &str) -> Option<i64> {
    let quoted = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
    match quoted {
        Some(inner) => inner.parse().ok(),
        None if !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_digit()) => tag.parse().ok(),
        None => None,
    }
}

/// The service the path's `{id}` names (404 for text that is no id). Called
/// after the caller's permit, so a refusal does not depend on the path.
pub(crate) fn path_service(req: &HttpRequest) -> Result<ServiceId, ApiError> {
    Ok(service_id(req.match_info().get("id").unwrap_or(""))?)
}

const LIST_PARAMETERS: [&str; 6] = [
    "limit",
    "cursor",
    "type",
    "status",
    "q",
    "credential_expires_before",
];

/// A route's query parameters, each given at most once.
pub(crate) struct QueryParameters(Vec<(String, String)>);

impl QueryParameters {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A route's query string, strictly, and under one rule for every route:
/// parameters not in `allowed`, repeated, or holding a control character (NUL
/// included: PostgreSQL cannot even compare with it) are refused.
pub(crate) fn query_parameters(
    req: &HttpRequest,
    allowed: &[&str],
) -> Result<QueryParameters, ApiError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).map_err(|_| {
            ApiError::validation(&FieldErrors::single("query", "is not a valid query string"))
        })?;
    let mut errors = FieldErrors::new();
    let mut seen = HashSet::new();
    for (key, value) in &pairs {
        if !allowed.contains(&key.as_str()) {
            errors.add(key.clone(), "is not a parameter of this route");
        } else if !seen.insert(key.as_str()) {
            errors.add(key.clone(), "is given more than once");
        } else if value.chars().any(char::is_control) {
            errors.add(key.clone(), "must not contain control characters");
        }
    }
    Ok(errors.into_result(QueryParameters(pairs))?)
}

/// List the caller's services, newest first.
#[utoipa::path(
    get, path = "/api/v1/services", tag = "services",
    operation_id = "listServices",
    responses(
        (status = 200, description = "A page of services", body = ServiceListDto),
        (status = 400, description = "`VALIDATION_ERROR` (bad `limit` or filter, an unknown or repeated parameter, a control character in any) or `INVALID_CURSOR`", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn list_services(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Read)?;
    let query = query_parameters(&req, &LIST_PARAMETERS)?;
    let params = RawListParams {
        limit: query.get("limit"),
        cursor: query.get("cursor"),
        service_type: query.get("type"),
        status: query.get("status"),
        q: query.get("q"),
        credential_expires_before: query.get("credential_expires_before"),
    };
    let request = ServiceListRequest::parse(&params)?;
    let page = state.use_cases.catalog.list(permit, request).await?;
    Ok(HttpResponse::Ok().json(ServiceListDto::from(&page)))
}

/// Register a service.
#[utoipa::path(
    post, path = "/api/v1/services", tag = "services",
    operation_id = "createService",
    responses(
        (status = 201, description = "Created", body = ServiceDto, headers(
            ("Location" = String, description = "URL of the new service"),
            ("ETag" = String, description = "`\"<version>\"`"),
            ("Idempotent-Replayed" = String, description = "`true` when this is the kept response of an earlier request with the same `Idempotency-Key`"),
        )),
        (status = 400, description = "`VALIDATION_ERROR` or `INVALID_JSON`", body = ErrorResponse),
        (status = 409, description = "`SERVICE_ALREADY_EXISTS`: the name is taken in this tenant (ignoring case); `IDEMPOTENCY_KEY_IN_USE` (with `Retry-After`): the first request with this `Idempotency-Key` is still running", body = ErrorResponse),
        (status = 422, description = "`IDEMPOTENCY_KEY_REUSED`: the `Idempotency-Key` was used with a different request", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn create_service(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    // 403 before anything of the request is read; the write below takes its
    // own permit from the principal it owns.
    auth.principal().permit(Permission::Create)?;
    let body = object_body(body)?;
    let key = idempotency::key_of(&req)?;
    let create = |app: web::Data<AppState>, principal: Principal, body: Map<String, Value>| async move {
        let permit = principal.permit(Permission::Create)?;
        let input = app.use_cases.catalog.parse_new(body)?;
        let service = app.use_cases.catalog.create(permit, input).await?;
        let mut builder = HttpResponse::Created();
        if let Some(value) = super::location(&app, &format!("/api/v1/services/{}", service.id)) {
            builder.insert_header((header::LOCATION, value));
        }
        Ok(service_response(builder, &service))
    };
    idempotency::run_once(
        &state,
        auth.into_principal(),
        key,
        Permission::Create,
        "POST /api/v1/services",
        body,
        create,
    )
    .await
}

/// Get one service.
#[utoipa::path(
    get, path = "/api/v1/services/{id}", tag = "services",
    operation_id = "getService",
    responses(
        (status = 200, description = "The service", body = ServiceDto, headers(("ETag" = String))),
        (status = 404, description = "`SERVICE_NOT_FOUND` (also for another tenant's service)", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn get_service(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Read)?;
    let id = path_service(&req)?;
    let service = state.use_cases.catalog.get(permit, id).await?;
    Ok(service_response(HttpResponse::Ok(), &service))
}

/// Replace every writable field of a service; omitted optional fields take their defaults.
#[utoipa::path(
    put, path = "/api/v1/services/{id}", tag = "services",
    operation_id = "replaceService",
    responses(
        (status = 200, description = "The updated service", body = ServiceDto, headers(("ETag" = String))),
        (status = 400, description = "`VALIDATION_ERROR` or `INVALID_JSON`", body = ErrorResponse),
        (status = 404, description = "`SERVICE_NOT_FOUND`", body = ErrorResponse),
        (status = 409, description = "`SERVICE_ALREADY_EXISTS`", body = ErrorResponse),
        (status = 412, description = "`PRECONDITION_FAILED`: stale If-Match; nothing changed", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn replace_service(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Update)?;
    let id = path_service(&req)?;
    let document = ServiceDocument::parse(object_body(body)?)?;
    let service = state
        .use_cases
        .catalog
        .replace(permit, id, document, precondition(&req))
        .await?;
    Ok(service_response(HttpResponse::Ok(), &service))
}

/// Change some fields of a service with a JSON Merge Patch (RFC 7396).
#[utoipa::path(
    patch, path = "/api/v1/services/{id}", tag = "services",
    operation_id = "patchService",
    responses(
        (status = 200, description = "The updated service", body = ServiceDto, headers(("ETag" = String))),
        (status = 400, description = "`VALIDATION_ERROR` or `INVALID_JSON`", body = ErrorResponse),
        (status = 404, description = "`SERVICE_NOT_FOUND`", body = ErrorResponse),
        (status = 409, description = "`SERVICE_ALREADY_EXISTS`", body = ErrorResponse),
        (status = 412, description = "`PRECONDITION_FAILED`", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn patch_service(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Update)?;
    let id = path_service(&req)?;
    let patch = ServicePatch::parse(body.value()?)?;
    let service = state
        .use_cases
        .catalog
        .patch(permit, id, patch, precondition(&req))
        .await?;
    Ok(service_response(HttpResponse::Ok(), &service))
}

/// Delete a service.
#[utoipa::path(
    delete, path = "/api/v1/services/{id}", tag = "services",
    operation_id = "deleteService",
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`SERVICE_NOT_FOUND`", body = ErrorResponse),
        (status = 412, description = "`PRECONDITION_FAILED`", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
pub async fn delete_service(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.principal().permit(Permission::Delete)?;
    let id = path_service(&req)?;
    state
        .use_cases
        .catalog
        .delete(permit, id, precondition(&req))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn if_match_parsing() {
        let parse = |v: &str| {
            precondition(
                &TestRequest::default()
                    .insert_header((header::IF_MATCH, v))
                    .to_http_request(),
            )
        };
        assert_eq!(
            precondition(&TestRequest::default().to_http_request()),
            None
        );
        assert_eq!(parse("*"), Some(Precondition::Any));
        assert_eq!(parse("\"3\""), Some(Precondition::Versions(vec![3])));
        assert_eq!(
            parse("\"1\", \"4\""),
            Some(Precondition::Versions(vec![1, 4]))
        );
        // Weak and malformed tags never match.
        assert_eq!(parse("W/\"3\""), Some(Precondition::Versions(vec![])));
        for malformed in ["W/3", "+3", "-3", "3x", "3.0", "\"3", "3\"", "\"\""] {
            assert_eq!(
                parse(malformed),
                Some(Precondition::Versions(vec![])),
                "{malformed}"
            );
        }
        // A bare version number is its entity tag, alone or in a list.
        assert_eq!(parse("3"), Some(Precondition::Versions(vec![3])));
        assert_eq!(
            parse(" 3 , \"4\""),
            Some(Precondition::Versions(vec![3, 4]))
        );
        assert_eq!(
            parse("99999999999999999999"),
            Some(Precondition::Versions(vec![]))
        );
        // `*` beside a tag, in one field or two.
        assert_eq!(parse("*, \"3\""), Some(Precondition::Versions(vec![3])));
        let two_fields = precondition(
            &TestRequest::default()
                .insert_header((header::IF_MATCH, "*"))
                .append_header((header::IF_MATCH, "\"999\""))
                .to_http_request(),
        );
        assert_eq!(two_fields, Some(Precondition::Versions(vec![999])));
    }
}
