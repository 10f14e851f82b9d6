//! The client's types against the OpenAPI document the server serves: the
//! same property names, each of the same JSON type, and required where it
//! must be. A field added, renamed or retyped on one side fails here.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use utoipa::OpenApi;

use crate::types::*;

#[derive(OpenApi)]
#[openapi(components(schemas(
    Service,
    ServiceList,
    ServiceWrite,
    ServiceCreate,
    ServicePatch,
    ServiceStatus,
    AuthType,
    CredentialWrite,
    CredentialMeta,
    CredentialVersion,
    CredentialVersions,
    Credential,
    AuditEvent,
    AuditEventList,
    ServiceToken,
    ServiceSelector,
    Role,
    RoleList,
    RoleCreate,
    RoleReplace,
    SubjectType,
    Subject,
    RoleBinding,
    RoleBindingList,
    RoleBindingCreate,
    ReviewedBinding,
    SecretReader,
    AccessReview,
    DebugBinding,
    TokenInfo,
    DebugAuth,
)))]
struct ClientTypes;

/// Which way a body travels decides which side's `required` must hold.
#[derive(Clone, Copy, PartialEq)]
enum Direction {
    /// The server writes it: the client may require only what the server
    /// always sends.
    Response,
    /// The client writes it: it always sends what the server requires.
    Request,
}

const TYPES: [(&str, Direction); 28] = [
    ("Service", Direction::Response),
    ("ServiceList", Direction::Response),
    ("ServiceWrite", Direction::Request),
    ("ServiceCreate", Direction::Request),
    ("ServicePatch", Direction::Request),
    ("CredentialWrite", Direction::Request),
    ("CredentialMeta", Direction::Response),
    ("CredentialVersion", Direction::Response),
    ("CredentialVersions", Direction::Response),
    ("Credential", Direction::Response),
    ("AuditEvent", Direction::Response),
    ("AuditEventList", Direction::Response),
    ("ServiceToken", Direction::Response),
    ("ServiceSelector", Direction::Response),
    ("Role", Direction::Response),
    ("RoleList", Direction::Response),
    ("RoleCreate", Direction::Request),
    ("RoleReplace", Direction::Request),
    ("Subject", Direction::Response),
    ("RoleBinding", Direction::Response),
    ("RoleBindingList", Direction::Response),
    ("RoleBindingCreate", Direction::Request),
    ("ReviewedBinding", Direction::Response),
    ("SecretReader", Direction::Response),
    ("AccessReview", Direction::Response),
    ("DebugBinding", Direction::Response),
    ("TokenInfo", Direction::Response),
    ("DebugAuth", Direction::Response),
];

/// One object schema, flattened: `allOf` merged, `oneOf`/`anyOf` as the union
/// of their properties with the requirements they share.
#[derive(Debug, Default)]
struct Shape {
    properties: BTreeMap<String, Kinds>,
    required: BTreeSet<String>,
}

/// The JSON types a property may take, `null` apart; `types` empty means any.
#[derive(Debug, Default, Clone, PartialEq)]
struct Kinds {
    types: BTreeSet<String>,
    /// `null` is one of them: `type` lists it, a `oneOf`/`anyOf` branch is
    /// it, or (OpenAPI 3.0) `nullable: true`.
    nullable: bool,
}

impl Kinds {
    fn merge(&mut self, other: &Kinds) {
        self.types.extend(other.types.iter().cloned());
        self.nullable |= other.nullable;
    }
}

fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            resolve(document, &document["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// The JSON types a property may take.
fn kinds(document: &Value, schema: &Value) -> Kinds {
    let schema = resolve(document, schema);
    let mut types = BTreeSet::new();
    match schema.get("type") {
        Some(Value::String(kind)) => {
            types.insert(kind.clone());
        }
        Some(Value::Array(list)) => {
            types.extend(list.iter().filter_map(|k| k.as_str().map(str::to_owned)))
        }
        _ => {}
    }
    let mut kinds = Kinds {
        nullable: types.remove("null") || schema.get("nullable") == Some(&Value::Bool(true)),
        types,
    };
    for key in ["oneOf", "anyOf"] {
        for branch in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            // Any branch may be taken: null when one of them is.
            kinds.merge(&self::kinds(document, branch));
        }
    }
    let all: Vec<Kinds> = schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|part| self::kinds(document, part))
        .collect();
    for part in &all {
        kinds.types.extend(part.types.iter().cloned());
    }
    // Every part must hold: null only when each allows it.
    if !all.is_empty() && all.iter().all(|part| part.nullable) {
        kinds.nullable = true;
    }
    if kinds.types.is_empty() && schema.get("properties").is_some() {
        kinds.types.insert("object".into());
    }
    kinds
}

fn shape(document: &Value, schema: &Value) -> Shape {
    let schema = resolve(document, schema);
    let mut shape = Shape::default();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            shape
                .properties
                .insert(name.clone(), kinds(document, property));
        }
    }
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = name.as_str() {
            shape.required.insert(name.to_owned());
        }
    }
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let part = self::shape(document, part);
        shape.properties.extend(part.properties);
        shape.required.extend(part.required);
    }
    for key in ["oneOf", "anyOf"] {
        let branches: Vec<Shape> = schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|branch| self::shape(document, branch))
            .filter(|branch| !branch.properties.is_empty())
            .collect();
        if let Some(first) = branches.first() {
            let shared: BTreeSet<String> = first
                .required
                .iter()
                .filter(|name| branches.iter().all(|b| b.required.contains(*name)))
                .cloned()
                .collect();
            for branch in &branches {
                for (name, kinds) in &branch.properties {
                    shape
                        .properties
                        .entry(name.clone())
                        .or_default()
                        .merge(kinds);
                }
            }
            shape.required.extend(shared);
        }
    }
    shape
}

fn client_document() -> Value {
    serde_json::to_value(ClientTypes::openapi()).expect("the client's schemas serialize")
}

#[test]
fn every_type_has_the_properties_types_and_requirements_of_the_served_schema() {
    let served = exsvc_app::openapi_document("");
    let problems = problems(&served, &client_document());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Where the client's types differ from the served schemas.
fn problems(served: &Value, client: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, direction) in TYPES {
        let theirs = &served["components"]["schemas"][name];
        assert!(
            !theirs.is_null(),
            "the served document has no schema {name}"
        );
        let ours = &client["components"]["schemas"][name];
        assert!(!ours.is_null(), "the client declares no schema {name}");
        let (theirs, ours) = (shape(served, theirs), shape(client, ours));

        let their_names: BTreeSet<&String> = theirs.properties.keys().collect();
        let our_names: BTreeSet<&String> = ours.properties.keys().collect();
        for missing in their_names.difference(&our_names) {
            problems.push(format!("{name}.{missing}: served, not in the client"));
        }
        for extra in our_names.difference(&their_names) {
            problems.push(format!("{name}.{extra}: in the client, not served"));
        }
        for (property, their_kinds) in &theirs.properties {
            let Some(our_kinds) = ours.properties.get(property) else {
                continue;
            };
            // Either side may leave a property open (any JSON value).
            let (theirs, ours) = (&their_kinds.types, &our_kinds.types);
            if !theirs.is_empty() && !ours.is_empty() && theirs != ours {
                problems.push(format!(
                    "{name}.{property}: served as {theirs:?}, the client has {ours:?}"
                ));
            }
            // A null the server may send must decode (an `Option`).
            if direction == Direction::Response && their_kinds.nullable && !our_kinds.nullable {
                problems.push(format!(
                    "{name}.{property}: served as nullable, the client's is not"
                ));
            }
        }
        let (must, may) = match direction {
            Direction::Response => (&ours.required, &theirs.required),
            Direction::Request => (&theirs.required, &ours.required),
        };
        for property in must.difference(may) {
            problems.push(match direction {
                Direction::Response => {
                    format!("{name}.{property}: the client requires it, the server may omit it")
                }
                Direction::Request => {
                    format!("{name}.{property}: the server requires it, the client may omit it")
                }
            });
        }
    }
    problems
}

#[test]
fn a_null_the_server_may_send_must_be_one_the_client_takes() {
    let served = exsvc_app::openapi_document("");
    let mut client = client_document();
    let service = &mut client["components"]["schemas"]["Service"]["properties"];
    // `api_version: String` and `auth_type: AuthType`, not `Option`s.
    service["api_version"] = serde_json::json!({"type": "string"});
    service["auth_type"] = serde_json::json!({"$ref": "#/components/schemas/AuthType"});
    let problems = problems(&served, &client);
    assert_eq!(
        problems,
        [
            "Service.api_version: served as nullable, the client's is not",
            "Service.auth_type: served as nullable, the client's is not",
        ]
    );
    let shape = shape(&served, &served["components"]["schemas"]["Service"]);
    assert!(shape.properties["credential_expires_at"].nullable);
    assert!(!shape.properties["name"].nullable);
}

#[test]
fn the_enums_carry_the_served_values() {
    let served = exsvc_app::openapi_document("");
    let client = client_document();
    for name in ["ServiceStatus", "AuthType"] {
        let values = |document: &Value| -> BTreeSet<String> {
            document["components"]["schemas"][name]["enum"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        assert!(!values(&served).is_empty(), "{name} is an enum");
        assert_eq!(values(&client), values(&served), "{name}");
    }
}

/// `SubjectType`'s values are those the server takes: the served
/// `Subject.type` (an enum, or a string with an example) and the
/// `subject_type` filter of the binding listing.
#[test]
fn the_subject_types_are_the_served_ones() {
    let served = exsvc_app::openapi_document("");
    let client = client_document();
    let strings = |values: &Value| -> BTreeSet<String> {
        values
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let ours = strings(&client["components"]["schemas"]["SubjectType"]["enum"]);
    assert_eq!(
        ours,
        BTreeSet::from(["sub".to_owned(), "client_id".to_owned(), "role".to_owned()])
    );
    let subject = &client["components"]["schemas"]["Subject"]["properties"]["type"];
    assert_eq!(
        resolve(&client, subject)["enum"],
        client["components"]["schemas"]["SubjectType"]["enum"],
        "Subject.type is a SubjectType: {subject}"
    );
    let theirs = resolve(
        &served,
        &served["components"]["schemas"]["Subject"]["properties"]["type"],
    );
    if theirs.get("enum").is_some() {
        assert_eq!(strings(&theirs["enum"]), ours);
    }
    if let Some(example) = theirs.get("example").and_then(Value::as_str) {
        assert!(ours.contains(example), "{example}");
    }
    let filter = operation(&served, "listRoleBindings")["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "subject_type")
        .expect("listRoleBindings filters by subject_type");
    assert_eq!(strings(&filter["schema"]["enum"]), ours);
}

#[test]
fn the_comparison_sees_a_difference() {
    // The check itself: a schema that drops, adds or retypes a property
    // differs from the served one.
    let served = exsvc_app::openapi_document("");
    let service = shape(&served, &served["components"]["schemas"]["Service"]);
    assert!(service.properties.contains_key("credential_expires_at"));
    assert_eq!(
        service.properties["version"].types,
        BTreeSet::from(["integer".to_owned()])
    );
    let create = shape(&served, &served["components"]["schemas"]["ServiceCreate"]);
    assert!(create.properties.contains_key("credentials"));
    assert_eq!(
        create.required,
        BTreeSet::from(["base_url".to_owned(), "name".to_owned(), "type".to_owned()])
    );
}

/// The operationIds the client sends, each with the `request` function that
/// builds it and the `Client` method that sends it: a name that is no
/// function fails to compile.
macro_rules! operations {
    ($($id:literal => $request:path, $method:path;)*) => {{
        $(
            let _: &dyn std::any::Any = &$request;
            let _: &dyn std::any::Any = &$method;
        )*
        let ids: Vec<&str> = vec![$($id),*];
        ids
    }};
}

/// The served document's operations are exactly those the client sends:
/// none without a method, and none the client knows that is not served.
#[test]
fn every_served_operation_has_a_client_method() {
    use crate::{request, Client};
    let ids = operations! {
        "healthz" => request::healthz, Client::healthz;
        "readyz" => request::readyz, Client::readyz;
        "metrics" => request::metrics, Client::metrics;
        "debugAuth" => request::debug_auth, Client::debug_auth;
        "listServices" => request::list_services, Client::list_services;
        "createService" => request::create_service, Client::create_service;
        "getService" => request::get_service, Client::get_service;
        "replaceService" => request::replace_service, Client::replace_service;
        "patchService" => request::patch_service, Client::patch_service;
        "deleteService" => request::delete_service, Client::delete_service;
        "getCredentials" => request::get_credential, Client::get_credential;
        "putCredentials" => request::put_credential, Client::put_credential;
        "deleteCredentials" => request::delete_credential, Client::delete_credential;
        "listCredentialVersions" => request::credential_versions, Client::credential_versions;
        "listAuditEvents" => request::list_audit_events, Client::list_audit_events;
        "getServiceToken" => request::service_token, Client::service_token;
        "proxyGet" => request::proxy, Client::proxy;
        "proxyPost" => request::proxy, Client::proxy;
        "proxyPut" => request::proxy, Client::proxy;
        "proxyPatch" => request::proxy, Client::proxy;
        "proxyDelete" => request::proxy, Client::proxy;
        "proxyOptions" => request::proxy, Client::proxy;
        "reviewServiceAccess" => request::service_access, Client::service_access;
        "listRoles" => request::list_roles, Client::list_roles;
        "createRole" => request::create_role, Client::create_role;
        "getRole" => request::get_role, Client::get_role;
        "replaceRole" => request::replace_role, Client::replace_role;
        "deleteRole" => request::delete_role, Client::delete_role;
        "listRoleBindings" => request::list_role_bindings, Client::list_role_bindings;
        "createRoleBinding" => request::create_role_binding, Client::create_role_binding;
        "getRoleBinding" => request::get_role_binding, Client::get_role_binding;
        "deleteRoleBinding" => request::delete_role_binding, Client::delete_role_binding;
    };
    let covered: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(covered.len(), ids.len(), "an operationId listed twice");
    let served = exsvc_app::openapi_document("");
    let mut operations = BTreeSet::new();
    let mut without_id = Vec::new();
    for (path, methods) in served["paths"].as_object().into_iter().flatten() {
        for (method, operation) in methods.as_object().into_iter().flatten() {
            const METHODS: [&str; 8] = [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ];
            if !METHODS.contains(&method.as_str()) {
                continue; // `parameters`, `summary` … of the path item
            }
            match operation.get("operationId").and_then(Value::as_str) {
                Some(id) => {
                    operations.insert(id);
                }
                None => without_id.push(format!("{} {path}", method.to_uppercase())),
            }
        }
    }
    assert!(
        without_id.is_empty(),
        "served without an operationId: {without_id:?}"
    );
    let uncovered: Vec<_> = operations.difference(&covered).collect();
    let stale: Vec<_> = covered.difference(&operations).collect();
    assert!(
        uncovered.is_empty() && stale.is_empty(),
        "no client method for {uncovered:?}; not served: {stale:?}"
    );
}

/// The served operation of `operation_id`.
fn operation<'a>(document: &'a Value, operation_id: &str) -> &'a Value {
    document["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(_, operations)| operations.as_object().into_iter().flatten())
        .map(|(_, operation)| operation)
        .find(|operation| operation["operationId"] == operation_id)
        .unwrap_or_else(|| panic!("the served document has no operation {operation_id}"))
}

/// Each query type, every field set, sends exactly the served operation's
/// query parameters: a filter added, renamed or dropped on one side fails.
#[test]
fn every_query_sends_the_served_operations_query_parameters() {
    use crate::request;
    let served = exsvc_app::openapi_document("");
    let base = url::Url::parse("http://h.example/").expect("a URL");
    let at = chrono::Utc::now();
    let cursor = || Some("c".to_owned());
    let requests = [
        (
            "listServices",
            request::list_services(&ServiceQuery {
                service_type: Some("payment".into()),
                status: Some(ServiceStatus::Active),
                q: Some("s".into()),
                credential_expires_before: Some(at),
                limit: Some(5),
                cursor: cursor(),
            }),
        ),
        (
            "listAuditEvents",
            request::list_audit_events(&AuditQuery {
                service_id: Some(uuid::Uuid::nil()),
                action: Some("service.create".into()),
                actor: Some("a".into()),
                since: Some(at),
                until: Some(at),
                limit: Some(5),
                cursor: cursor(),
            }),
        ),
        (
            "listRoleBindings",
            request::list_role_bindings(&RoleBindingQuery {
                role: Some("r".into()),
                subject_type: Some(SubjectType::Sub),
                subject_value: Some("v".into()),
                limit: Some(5),
                cursor: cursor(),
            }),
        ),
        (
            "listRoles",
            request::list_roles(&PageQuery {
                limit: Some(5),
                cursor: cursor(),
            }),
        ),
        (
            "getCredentials",
            request::get_credential(uuid::Uuid::nil(), Some(2)),
        ),
    ];
    let mut problems = Vec::new();
    for (operation_id, request) in requests {
        let url = request
            .expect("the query serializes")
            .url(&base)
            .expect("a URL");
        let sent: BTreeSet<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
        let parameters: BTreeSet<String> = operation(&served, operation_id)["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect();
        if sent != parameters {
            problems.push(format!(
                "{operation_id}: the client sends {sent:?}, the server takes {parameters:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
