//! The OpenAPI 3.1 document. utoipa builds it from the handlers' annotations
//! (paths, success responses, operation-specific errors) and the response
//! DTOs' derives; then one pass over the JSON adds what every operation shares
//! or what is documentation only: the input schemas, parameters and request
//! bodies with their examples ([`inputs`]), the common responses, headers and
//! error examples ([`responses`]), and the links between operations.
//!
//! The document is the one generators are run on (scripts/clients.sh) and is
//! kept in `docs/openapi.json`; a test fails when the two differ.

mod inputs;
mod responses;

use serde_json::{json, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::dto::{ServiceDto, ServiceListDto, ServiceStatusDto};
use crate::dto_access;
use crate::error::{ErrorBody, ErrorResponse};
use crate::routes::{access, audit, credentials, debug, ops, services, usage};

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
        access::list_roles,
        access::create_role,
        access::get_role,
        access::replace_role,
        access::delete_role,
        access::list_bindings,
        access::create_binding,
        access::get_binding,
        access::delete_binding,
        access::review_access,
        usage::get_token,
        usage::proxy,
    ),
    components(schemas(
        ServiceDto, ServiceListDto, ServiceStatusDto,
        ErrorResponse, ErrorBody, ops::StatusDto,
        crate::dto::AuthTypeDto, crate::dto::CredentialMetaDto,
        crate::dto::CredentialVersionsDto, crate::dto::CredentialVersionDto, crate::dto::CredentialDto,
        crate::dto::AuditEventDto, crate::dto::AuditEventListDto, debug::DebugAuthDto, debug::TokenInfoDto,
        debug::DebugBindingDto,
        dto_access::SelectorDto, dto_access::RoleDto, dto_access::RoleListDto,
        dto_access::SubjectDto, dto_access::RoleBindingDto, dto_access::RoleBindingListDto,
        dto_access::ReviewedBindingDto, dto_access::SecretReaderDto, dto_access::AccessReviewDto,
        crate::dto::TokenDto,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "services", description = "The service registry"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "debug", description = "Authentication diagnostics"),
        (name = "credentials", description = "Credentials of a service, encrypted at rest"),
        (name = "audit", description = "The audit trail"),
        (name = "access", description = "Roles, role bindings and access reviews: least privilege inside a tenant"),
        (name = "usage", description = "Using a credential without revealing it: the OAuth token broker and the credential-injecting proxy"),
    ),
)]
struct ApiDoc;

/// A field that holds any JSON object: `additionalProperties: true`, so a
/// generated client types it as a map of any values (a bare `type: object`
/// becomes `Record<string, never>` in TypeScript).
pub(crate) fn any_object() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
        .build()
}

/// A service's `metadata`, as written: the `Metadata` component of [`inputs`].
pub(crate) fn metadata_ref() -> utoipa::openapi::Ref {
    utoipa::openapi::Ref::from_schema_name("Metadata")
}

/// A token's `aud` claim as sent: a string, a list of strings, or absent.
pub(crate) fn audience() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
    let one_of = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build();
    Schema::OneOf(one_of)
}

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

/// OpenAPI links: which operations apply to what a response names. A created
/// service has its own operations, its (possibly empty) list of credential
/// versions, and can be given a credential; the credential's reads and delete
/// follow its `PUT`. (`GET …/credentials` of a service without one is 404
/// `CREDENTIALS_NOT_FOUND`; `GET …/credentials/versions` is 200
/// `{"versions": []}`, docs/api.md §3.) A created role or binding has its
/// own operations, and a created service its access review.
/// Each entry: the operation, its statuses, the path parameter the targets
/// take, where its value comes from, the targets.
type Link = (
    &'static str,
    &'static [&'static str],
    &'static str,
    &'static str,
    &'static [&'static str],
);
const LINKS: [Link; 4] = [
    (
        "createService",
        &["201"],
        "id",
        "$response.body#/id",
        &[
            "getService",
            "replaceService",
            "patchService",
            "deleteService",
            "putCredentials",
            "listCredentialVersions",
            "reviewServiceAccess",
        ],
    ),
    (
        "putCredentials",
        &["200", "201"],
        "id",
        "$request.path.id",
        &[
            "getCredentials",
            "listCredentialVersions",
            "deleteCredentials",
        ],
    ),
    (
        "createRole",
        &["201"],
        "name",
        "$response.body#/name",
        &["getRole", "replaceRole", "deleteRole"],
    ),
    (
        "createRoleBinding",
        &["201"],
        "id",
        "$response.body#/id",
        &["getRoleBinding", "deleteRoleBinding"],
    ),
];

fn operations_mut(doc: &mut Value) -> impl Iterator<Item = &mut Value> {
    doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
}

/// The proxy serves every method with one handler, annotated once (as GET):
/// each other method gets the same operation under its own id, with a body
/// of any media type. (HEAD is served as for every GET and not listed.)
fn proxy_methods(doc: &mut Value) {
    let Some(item) = doc["paths"].get_mut(usage::PROXY_PATH) else {
        return;
    };
    let get = item["get"].clone();
    for (method, id) in [
        ("post", "proxyPost"),
        ("put", "proxyPut"),
        ("patch", "proxyPatch"),
        ("delete", "proxyDelete"),
        ("options", "proxyOptions"),
    ] {
        let mut operation = get.clone();
        operation["operationId"] = json!(id);
        if method != "options" && method != "delete" {
            // Any media type is sent on as it is; one that generators
            // understand (`*/*` is not) stands for them all.
            operation["requestBody"] = json!({
                "description": "Sent on to the upstream as it is, streamed, whatever its media type",
                "required": false,
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            });
        }
        item[method] = operation;
    }
}

/// The served document, with the deployment's base path as its server URL.
/// Deterministic: every map of it is ordered by key.
pub fn document(base_path: &str) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    proxy_methods(&mut doc);
    for (name, schema) in inputs::schemas() {
        doc["components"]["schemas"][name] = schema;
    }
    for operation in operations_mut(&mut doc) {
        let id = operation["operationId"].as_str().unwrap_or("").to_owned();
        let parameters = inputs::parameters(&id);
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        if let Some(body) = inputs::request_body(&id) {
            operation["requestBody"] = body;
        }
        for (from, statuses, parameter, source, targets) in &LINKS {
            if id != *from {
                continue;
            }
            for status in *statuses {
                if let Some(response) = operation["responses"].get_mut(*status) {
                    for target in *targets {
                        response["links"][*target] =
                            json!({"operationId": target, "parameters": {*parameter: source}});
                    }
                }
            }
        }
    }
    responses::complete(&mut doc);
    if !base_path.is_empty() {
        doc["servers"] = json!([{"url": base_path}]);
    }
    doc
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::routes::api_routes;

    /// Every link names an operation of the document, and a new service links
    /// to no credential reads (it has none yet) but to its versions (an empty
    /// list, not a 404).
    #[test]
    fn links_name_real_operations() {
        let doc = document("");
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
        // Versions of a new service are an empty list; its credential is 404.
        assert!(from_create.contains("listCredentialVersions"));
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
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
        let served: BTreeSet<(String, String)> = api_routes()
            .iter()
            .map(|r| (r.method.as_str().to_owned(), r.path.to_owned()))
            .collect();
        assert_eq!(served, documented);
    }

    /// Every error response of every operation shows an example envelope of
    /// each code it names, and names only codes of the catalogue.
    #[test]
    fn every_error_response_has_its_examples() {
        let doc = document("");
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for (status, response) in operation["responses"].as_object().unwrap() {
                    // `default` is the proxy's: whatever the upstream answers.
                    if status.parse::<u16>().map_or(true, |s| s < 400) {
                        continue;
                    }
                    let description = response["description"].as_str().unwrap();
                    let codes = responses::codes_in(description);
                    assert!(!codes.is_empty(), "{method} {path} {status} names no code");
                    let examples = &response["content"]["application/json"]["examples"];
                    for code in codes {
                        assert!(
                            responses::error_example(code).is_some(),
                            "{method} {path} {status}: unknown code {code}"
                        );
                        assert_eq!(
                            examples[code]["value"]["error"]["code"], code,
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
    }

    /// Every request body has exactly one example, valid as far as the
    /// required members go.
    #[test]
    fn every_request_body_has_an_example() {
        let doc = document("");
        for item in doc["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let Some(body) = operation.get("requestBody") else {
                    continue;
                };
                // The proxy's bodies are any media type, sent on as they are.
                for (media_type, media) in body["content"].as_object().unwrap() {
                    if media_type.contains("json") {
                        assert!(media["example"].is_object(), "{}", operation["operationId"]);
                    }
                }
            }
        }
    }

    #[test]
    fn document_is_openapi_3_1_with_bearer_security() {
        let json = document("/exsvc");
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        assert_eq!(
            json["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert_eq!(json["servers"][0]["url"], "/exsvc");
    }
}
