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
        ErrorResponse, ErrorBody, ops::StatusDto,
        crate::dto::CredentialWriteDto, crate::dto::AuthTypeDto, crate::dto::CredentialMetaDto,
        crate::dto::CredentialVersionsDto, crate::dto::CredentialVersionDto, crate::dto::CredentialDto,
        crate::dto::AuditEventDto, crate::dto::AuditEventListDto, debug::DebugAuthDto, debug::TokenInfoDto,
    )),
    modifiers(&BearerAuth),
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

/// The document, with the deployment's base path as its server URL.
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
