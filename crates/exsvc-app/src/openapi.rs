//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::ServerBuilder;
use utoipa::{Modify, OpenApi};

use crate::dto::{ServiceDto, ServiceListDto, ServicePatchDto, ServiceStatusDto, ServiceWriteDto};
use crate::error::{ErrorBody, ErrorResponse};
use crate::routes::{audit, credentials, debug, ops, services};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "exsvc — External Service API",
        description = "A multi-tenant registry of the external services a team integrates with, \
                       and of their credentials. Every call carries a JWT from the Auth Manager.",
    ),
    paths(
        services::list_services,
        services::create_service,
        services::get_service,
        services::replace_service,
        services::patch_service,
        services::delete_service,
        ops::healthz,
        ops::readyz,
        ops::metrics,
        credentials::get_credentials,
        credentials::put_credentials,
        credentials::list_versions,
        credentials::delete_credentials,
        audit::list_audit_events,
        debug::debug_auth,
    ),
    components(schemas(
        ServiceDto, ServiceListDto, ServiceWriteDto, ServicePatchDto, ServiceStatusDto,
        crate::dto::Metadata, crate::dto::MetadataValue,
        ErrorResponse, ErrorBody, ops::StatusDto,
        crate::dto::CredentialWriteDto, crate::dto::ServiceCreateDto, crate::dto::AuthTypeDto, crate::dto::CredentialMetaDto,
        crate::dto::CredentialVersionsDto, crate::dto::CredentialVersionDto, crate::dto::CredentialDto,
        crate::dto::AuditEventDto, crate::dto::AuditEventListDto, debug::DebugAuthDto, debug::TokenInfoDto,
    )),
    modifiers(&BearerAuth, &RateLimitHeaders, &ResourceLinks),
    tags(
        (name = "services", description = "The service registry"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "debug", description = "Authentication diagnostics"),
        (name = "credentials", description = "Credentials of a service, encrypted at rest"),
        (name = "audit", description = "The audit trail"),
    ),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every operation that takes a token spends a rate-limit budget: its responses
/// carry the rate-limit headers, and it can answer 429 (SPEC §5).
struct RateLimitHeaders;

fn header(description: &str, integer: bool) -> utoipa::openapi::header::Header {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let schema =
        ObjectBuilder::new().schema_type(if integer { Type::Integer } else { Type::String });
    utoipa::openapi::header::HeaderBuilder::new()
        .schema(Some(schema))
        .description(Some(description))
        .build()
}

impl Modify for RateLimitHeaders {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, ResponseBuilder};
        let rate_headers = [
            (
                "X-RateLimit-Limit",
                header("Requests per minute of this budget", true),
            ),
            (
                "X-RateLimit-Remaining",
                header("Requests that may follow at once", true),
            ),
            (
                "X-RateLimit-Reset",
                header("Unix time (s) at which Remaining is back to Limit", true),
            ),
            (
                "RateLimit-Policy",
                header("IETF httpapi draft: `\"default\";q=<limit>;w=60`", false),
            ),
            (
                "RateLimit",
                header(
                    "IETF httpapi draft: `\"default\";r=<remaining>;t=<seconds to reset>`",
                    false,
                ),
            ),
        ];
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                if operation.security.is_none() {
                    continue;
                }
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        for (name, h) in &rate_headers {
                            response
                                .headers
                                .insert((*name).to_owned(), RefOr::T(h.clone()));
                        }
                    }
                }
                let too_many = ResponseBuilder::new()
                    .description("`RATE_LIMIT_EXCEEDED`: the budget is spent; retry after `Retry-After` seconds")
                    .content("application/json", utoipa::openapi::ContentBuilder::new().schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorResponse"))).build())
                    .header("Retry-After", header("Seconds to wait (at least 1)", true));
                let too_many = rate_headers
                    .iter()
                    .fold(too_many, |b, (name, h)| b.header(*name, h.clone()))
                    .build();
                operation
                    .responses
                    .responses
                    .insert("429".to_owned(), RefOr::T(too_many));
            }
        }
    }
}

/// The document, with the deployment's base path as its server URL.
/// OpenAPI links: which operations apply to what a response names. A created
/// service has its own operations and can be given a credential; only a
/// service that has a credential has one to read, version or delete (reading
/// `…/credentials` of a new service is 404 `CREDENTIALS_NOT_FOUND`, SPEC §3).
struct ResourceLinks;

impl Modify for ResourceLinks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::link::LinkBuilder;
        use utoipa::openapi::RefOr;
        const FROM_CREATED: &str = "$response.body#/id";
        const FROM_PATH: &str = "$request.path.id";
        let rules: [(&str, &[&str], &str, &[&str]); 2] = [
            (
                "createService",
                &["201"],
                FROM_CREATED,
                &[
                    "getService",
                    "replaceService",
                    "patchService",
                    "deleteService",
                    "putCredentials",
                ],
            ),
            (
                "putCredentials",
                &["200", "201"],
                FROM_PATH,
                &[
                    "getCredentials",
                    "listCredentialVersions",
                    "deleteCredentials",
                ],
            ),
        ];
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.post, &mut item.put].into_iter().flatten() {
                let Some((_, statuses, id_source, targets)) = rules
                    .iter()
                    .find(|rule| operation.operation_id.as_deref() == Some(rule.0))
                else {
                    continue;
                };
                for status in *statuses {
                    let Some(RefOr::T(response)) = operation.responses.responses.get_mut(*status)
                    else {
                        continue;
                    };
                    for target in *targets {
                        let link = LinkBuilder::new()
                            .operation_id(*target)
                            .parameter("id", *id_source)
                            .build();
                        response.links.insert((*target).to_owned(), RefOr::T(link));
                    }
                }
            }
        }
    }
}

pub fn document(base_path: &str) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    if !base_path.is_empty() {
        doc.servers = Some(vec![ServerBuilder::new().url(base_path).build()]);
    }
    doc
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::routes::api_routes;

    /// Every link names an operation of the document, and a new service links
    /// to no credential reads (it has none yet).
    #[test]
    fn links_name_real_operations() {
        let doc = serde_json::to_value(document("")).unwrap();
        let mut operation_ids = BTreeSet::new();
        let mut links = Vec::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let id = operation["operationId"].as_str().unwrap().to_owned();
                for (status, response) in operation["responses"].as_object().unwrap() {
                    for link in response["links"]
                        .as_object()
                        .into_iter()
                        .flat_map(|l| l.values())
                    {
                        let target = link["operationId"].as_str().unwrap().to_owned();
                        links.push((id.clone(), status.clone(), target));
                    }
                }
                operation_ids.insert(id);
            }
        }
        for (_, _, target) in &links {
            assert!(operation_ids.contains(target), "{target}");
        }
        let from_create: BTreeSet<&str> = links
            .iter()
            .filter(|(from, status, _)| from == "createService" && status == "201")
            .map(|(_, _, target)| target.as_str())
            .collect();
        assert!(from_create.contains("getService") && from_create.contains("putCredentials"));
        assert!(!from_create.contains("getCredentials"));
        assert!(links
            .iter()
            .any(|(from, _, to)| from == "putCredentials" && to == "getCredentials"));
    }

    /// A served route missing from the document (or documented but not served)
    /// fails here.
    #[test]
    fn document_covers_exactly_the_served_routes() {
        let doc = document("");
        let mut documented = BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
                ("HEAD", &item.head),
                ("OPTIONS", &item.options),
            ] {
                if op.is_some() {
                    documented.insert((method.to_owned(), path.clone()));
                }
            }
        }
        let served: BTreeSet<(String, String)> = api_routes()
            .iter()
            .map(|r| (r.method.as_str().to_owned(), r.path.to_owned()))
            .collect();
        assert_eq!(served, documented);
    }

    #[test]
    fn document_is_openapi_3_1_with_bearer_security() {
        let json = serde_json::to_value(document("/exsvc")).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        assert_eq!(
            json["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert_eq!(json["servers"][0]["url"], "/exsvc");
    }
}
