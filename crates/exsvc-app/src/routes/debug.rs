//! `GET /debug/auth` (docs/api.md §4.4): what the server understood of the caller's
//! token, after full validation. Never the raw token or its signature.

use actix_web::HttpResponse;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::ErrorResponse;

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DebugAuth)]
pub struct DebugAuthDto {
    pub tenant_id: String,
    pub actor: String,
    #[schema(required = true)]
    pub client_id: Option<String>,
    /// Effective permissions, sorted (admin roles expand to all).
    pub permissions: Vec<String>,
    pub roles: Vec<String>,
    /// The role bindings that apply to the caller now (docs/api.md §4.5).
    pub bindings: Vec<DebugBindingDto>,
    pub token: TokenInfoDto,
    /// Every claim of the payload.
    #[schema(schema_with = crate::openapi::any_object)]
    pub claims: Map<String, Value>,
}

/// A binding that applies to the caller: its role's permissions on the
/// services its selector matches.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DebugBinding)]
pub struct DebugBindingDto {
    pub id: uuid::Uuid,
    pub role: String,
    pub permissions: Vec<String>,
    pub services: crate::dto_access::SelectorDto,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TokenInfo)]
pub struct TokenInfoDto {
    #[schema(example = "RS256")]
    pub alg: String,
    #[schema(required = true)]
    pub kid: Option<String>,
    #[schema(required = true)]
    pub issuer: Option<String>,
    /// `aud` as sent: a string or a list, or null.
    #[schema(required = true, schema_with = crate::openapi::audience)]
    pub audience: Option<Value>,
    #[schema(required = true)]
    pub issued_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub expires_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub not_before: Option<DateTime<Utc>>,
}

fn timestamp(claims: &Map<String, Value>, name: &str) -> Option<DateTime<Utc>> {
    claims
        .get(name)
        .and_then(Value::as_i64)
        .and_then(|s| DateTime::from_timestamp(s, 0))
}

fn roles(claims: &Map<String, Value>) -> Vec<String> {
    let listed = claims
        .get("roles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let single = claims.get("role").into_iter();
    let mut roles: Vec<String> = listed
        .chain(single)
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

/// What the server understood of the caller's token.
#[utoipa::path(get, path = "/debug/auth", tag = "debug", operation_id = "debugAuth",
    responses(
        (status = 200, description = "The validated token as the server sees it. `Cache-Control: no-store`", body = DebugAuthDto,
            headers(("Cache-Control" = String, description = "no-store"))),
        (status = 404, description = "`NOT_FOUND` when `EXSVC_DEBUG_ENDPOINTS=false`", body = ErrorResponse),
    ),
    security(("bearer" = [])))]
pub async fn debug_auth(auth: Authenticated) -> HttpResponse {
    let token = &auth.0;
    let claims = &token.claims;
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let mut permissions: Vec<String> = token
        .principal
        .permissions()
        .map(|p| p.as_str().to_owned())
        .collect();
    permissions.sort();
    // The claims name the caller and its grants: no cache may keep them.
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(DebugAuthDto {
            tenant_id: token.principal.tenant().as_str().to_owned(),
            actor: token.principal.actor().to_owned(),
            client_id: text("client_id"),
            permissions,
            roles: roles(claims),
            bindings: token
                .principal
                .grants()
                .iter()
                .map(|g| DebugBindingDto {
                    id: g.binding_id,
                    role: g.role.to_string(),
                    permissions: g
                        .permissions
                        .granted()
                        .map(|p| p.as_str().to_owned())
                        .collect(),
                    services: crate::dto_access::SelectorDto::from(&g.selector),
                })
                .collect(),
            token: TokenInfoDto {
                alg: token.algorithm.clone(),
                kid: token.key_id.clone(),
                issuer: text("iss"),
                audience: claims.get("aud").cloned(),
                issued_at: timestamp(claims, "iat"),
                expires_at: timestamp(claims, "exp"),
                not_before: timestamp(claims, "nbf"),
            },
            claims: claims.clone(),
        })
}
