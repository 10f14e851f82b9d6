//! The responses every operation shares, in one place: the common errors
//! (401/403/405/408/413/415/429/500/503), the headers of docs/api.md §3 and §5
//! (`X-Request-Id`, `WWW-Authenticate`, `Allow`, `Retry-After`, rate limits),
//! and one example envelope per error code an operation can answer.
//!
//! The handlers' annotations keep their success responses and the errors
//! only they can answer (400, 404, 409, 412, 422), each description naming its
//! codes in backticks; the examples are made from those names, so a response
//! shows the codes it documents (not `SERVICE_NOT_FOUND` for a 415).

use serde_json::{json, Map, Value};

/// The permission each operation needs (docs/api.md §2), for its 403.
/// Operations with a token but without an entry (`debugAuth`) have no 403:
/// any valid token may call them.
fn permission(operation_id: &str) -> Option<exsvc_domain::Permission> {
    use exsvc_domain::Permission::*;
    Some(match operation_id {
        "listServices" | "getService" | "listCredentialVersions" => Read,
        "createService" => Create,
        "replaceService" | "patchService" | "putCredentials" | "deleteCredentials" => Update,
        "deleteService" => Delete,
        "getCredentials" => Credentials,
        "listAuditEvents" => Audit,
        "listRoles"
        | "createRole"
        | "getRole"
        | "replaceRole"
        | "deleteRole"
        | "listRoleBindings"
        | "createRoleBinding"
        | "getRoleBinding"
        | "deleteRoleBinding"
        | "reviewServiceAccess" => Access,
        "getServiceToken" | "proxyGet" | "proxyPost" | "proxyPut" | "proxyPatch"
        | "proxyDelete" | "proxyOptions" => Use,
        _ => return None,
    })
}

/// An example message and `details` of each error code (docs/api.md §3).
pub(crate) fn error_example(code: &str) -> Option<(&'static str, Value)> {
    Some(match code {
        "VALIDATION_ERROR" => (
            "The request is invalid",
            json!({"fields": {"base_url": "must be an absolute https URL"}}),
        ),
        "INVALID_JSON" => (
            "The request body is not valid JSON: expected value at line 1 column 1",
            json!({}),
        ),
        "INVALID_CURSOR" => ("The cursor is not one this server issued", json!({})),
        "UNAUTHORIZED" => ("A bearer token is required", json!({})),
        "FORBIDDEN" => (
            "This action requires the permission 'external-service:read'",
            json!({"required": "external-service:read"}),
        ),
        "SERVICE_NOT_FOUND" => (
            "Service with ID '0190b7e4-7a1c-7cc3-9d7a-3b1f6e2a9c10' not found",
            json!({}),
        ),
        "CREDENTIALS_NOT_FOUND" => (
            "Service with ID '0190b7e4-7a1c-7cc3-9d7a-3b1f6e2a9c10' has no credentials",
            json!({}),
        ),
        "ROLE_NOT_FOUND" => ("Role 'billing-reader' not found", json!({})),
        "ROLE_BINDING_NOT_FOUND" => (
            "Role binding '0190b7e4-7a1c-7cc3-9d7a-3b1f6e2a9c11' not found",
            json!({}),
        ),
        "ROLE_ALREADY_EXISTS" => ("A role named 'billing-reader' already exists", json!({})),
        "ROLE_IN_USE" => (
            "Role 'billing-reader' is named by a role binding; delete its bindings first",
            json!({}),
        ),
        "NOT_FOUND" => ("No such route", json!({})),
        "METHOD_NOT_ALLOWED" => ("Method Not Allowed", json!({})),
        "REQUEST_TIMEOUT" => ("The request body did not arrive in time", json!({})),
        "SERVICE_ALREADY_EXISTS" => ("A service named 'Stripe' already exists", json!({})),
        "IDEMPOTENCY_KEY_IN_USE" => (
            "A request with this Idempotency-Key is still in progress; retry it shortly",
            json!({}),
        ),
        "PRECONDITION_FAILED" => (
            "The resource has changed since the version named in If-Match",
            json!({}),
        ),
        "PAYLOAD_TOO_LARGE" => ("The request body exceeds 64 KiB", json!({})),
        "UNSUPPORTED_MEDIA_TYPE" => (
            "The request body must be sent as application/json",
            json!({}),
        ),
        "IDEMPOTENCY_KEY_REUSED" => (
            "The Idempotency-Key was already used with a different request",
            json!({}),
        ),
        "RATE_LIMIT_EXCEEDED" => ("Too many requests; retry later", json!({})),
        "INTERNAL_ERROR" => ("An internal error occurred", json!({})),
        "SERVICE_UNAVAILABLE" => ("The service is temporarily unavailable", json!({})),
        "EGRESS_DENIED" => (
            "The destination api.internal is not allowed by the egress rules: its address 10.0.0.7 is not public",
            json!({"proxy_status": "destination_ip_prohibited"}),
        ),
        "UNSUPPORTED_AUTH_TYPE" => (
            "Credentials of type 'custom' cannot be used for the proxy",
            json!({}),
        ),
        "UPSTREAM_ERROR" => (
            "The token endpoint answered 401 without a token",
            json!({"upstream_status": 401, "oauth_error": "invalid_client"}),
        ),
        "UPSTREAM_UNAVAILABLE" => (
            "The upstream is failing; it is not contacted for 30s",
            json!({"proxy_status": "destination_unavailable"}),
        ),
        "UPSTREAM_TIMEOUT" => (
            "The upstream did not answer in time",
            json!({"proxy_status": "http_response_timeout"}),
        ),
        _ => return None,
    })
}

/// The codes a response description names: words in backticks made of
/// capitals and underscores.
pub(crate) fn codes_in(description: &str) -> Vec<&str> {
    let mut codes: Vec<&str> = description
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| w.len() > 2 && w.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        .collect();
    codes.dedup();
    codes
}

fn header_ref(name: &str, required: bool) -> Value {
    let mut h = json!({"$ref": format!("#/components/headers/{name}")});
    if required {
        // A `$ref` takes no siblings: a required header is inlined instead.
        if let Some(header) = headers().remove(name) {
            h = header;
            h["required"] = json!(true);
        }
    }
    h
}

fn header(description: &str, schema: Value) -> Value {
    json!({"description": description, "schema": schema})
}

/// `components.headers`.
fn headers() -> Map<String, Value> {
    let string = || json!({"type": "string"});
    let integer = || json!({"type": "integer"});
    [
        ("X-Request-Id", header("The request's id: the client's own when it is 1–128 characters of `[A-Za-z0-9-_.:]`, else a new UUIDv7. Also in the server's log line.", string())),
        ("WWW-Authenticate", header("`Bearer`; `Bearer error=\"invalid_token\"` when a token was sent and refused; `Bearer error=\"invalid_request\"` when the request carries more than one `Authorization` header; `Bearer error=\"insufficient_scope\"` on a 403.", string())),
        ("Allow", header("The methods this path serves.", string())),
        ("Retry-After", header("Seconds to wait before retrying (at least 1).", integer())),
        ("X-RateLimit-Limit", header("Requests per minute of this budget.", integer())),
        ("X-RateLimit-Remaining", header("Requests that may follow at once.", integer())),
        ("X-RateLimit-Reset", header("Unix time (s) at which Remaining is back to Limit.", integer())),
        ("RateLimit-Policy", header("IETF httpapi draft: `\"default\";q=<limit>;w=60`.", string())),
        ("RateLimit", header("IETF httpapi draft: `\"default\";r=<remaining>;t=<seconds to reset>`.", string())),
    ]
    .into_iter()
    .map(|(name, h)| (name.to_owned(), h))
    .collect()
}

const RATE_LIMIT_HEADERS: [&str; 5] = [
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit-Policy",
    "RateLimit",
];

fn error_response(description: String) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    })
}

/// The common errors of an operation, by status, unless its annotation
/// documents that status itself.
fn common_errors(operation_id: &str, secured: bool, has_body: bool) -> Vec<(&'static str, String)> {
    let mut errors = Vec::new();
    if secured {
        errors.push((
            "401",
            "`UNAUTHORIZED`: no bearer token, one that is invalid or expired, or more than one `Authorization` header (`WWW-Authenticate: Bearer error=\"invalid_request\"`)".to_owned(),
        ));
        if let Some(permission) = permission(operation_id) {
            errors.push((
                "403",
                format!("`FORBIDDEN`: the token lacks `{}`", permission.as_str()),
            ));
        }
    }
    errors.push((
        "405",
        "`METHOD_NOT_ALLOWED`: the path does not serve the method sent; `Allow` lists those it does".to_owned(),
    ));
    if has_body {
        errors.push((
            "408",
            "`REQUEST_TIMEOUT`: the body did not arrive in time; the connection is closed"
                .to_owned(),
        ));
        errors.push((
            "413",
            "`PAYLOAD_TOO_LARGE`: the body exceeds 64 KiB".to_owned(),
        ));
        errors.push((
            "415",
            "`UNSUPPORTED_MEDIA_TYPE`: the body is not sent as one of the request's content types"
                .to_owned(),
        ));
    }
    if secured {
        errors.push((
            "429",
            "`RATE_LIMIT_EXCEEDED`: the tenant's budget is spent; retry after `Retry-After` seconds".to_owned(),
        ));
    }
    errors.push((
        "500",
        "`INTERNAL_ERROR`: a generic message; the cause goes to the server's log only".to_owned(),
    ));
    if secured || operation_id == "readyz" {
        errors.push((
            "503",
            "`SERVICE_UNAVAILABLE`: the database does not answer in time; retry after `Retry-After` seconds".to_owned(),
        ));
    }
    errors
}

/// Completes every operation of `doc`: the common errors, the examples of
/// every error response, and the headers of every response.
pub(crate) fn complete(doc: &mut Value) {
    doc["components"]["headers"] = Value::Object(headers());
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            complete_operation(operation);
        }
    }
}

fn complete_operation(operation: &mut Value) {
    let operation_id = operation["operationId"].as_str().unwrap_or("").to_owned();
    let secured = operation.get("security").is_some();
    let has_body = operation.get("requestBody").is_some();
    let Some(responses) = operation["responses"].as_object_mut() else {
        return;
    };
    for (status, description) in common_errors(&operation_id, secured, has_body) {
        responses
            .entry(status)
            .or_insert_with(|| error_response(description));
    }
    for (status, response) in responses.iter_mut() {
        let headers = response
            .as_object_mut()
            .map(|r| r.entry("headers").or_insert_with(|| json!({})));
        let Some(Value::Object(headers)) = headers else {
            continue;
        };
        headers.insert("X-Request-Id".into(), header_ref("X-Request-Id", true));
        if secured {
            for name in RATE_LIMIT_HEADERS {
                headers.insert(name.into(), header_ref(name, false));
            }
        }
        match status.as_str() {
            "401" | "403" => {
                headers.insert(
                    "WWW-Authenticate".into(),
                    header_ref("WWW-Authenticate", true),
                );
            }
            "405" => {
                headers.insert("Allow".into(), header_ref("Allow", true));
            }
            "429" | "503" => {
                headers.insert("Retry-After".into(), header_ref("Retry-After", true));
            }
            "409" => {
                // With `IDEMPOTENCY_KEY_IN_USE` only.
                headers.insert("Retry-After".into(), header_ref("Retry-After", false));
            }
            _ => {}
        }
        add_error_examples(status, response);
    }
}

/// One named example per code the response's description names.
fn add_error_examples(status: &str, response: &mut Value) {
    if !status.starts_with('4') && !status.starts_with('5') {
        return;
    }
    let description = response["description"].as_str().unwrap_or("").to_owned();
    let Some(content) = response
        .get_mut("content")
        .and_then(|c| c.get_mut("application/json"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let examples: Map<String, Value> = codes_in(&description)
        .into_iter()
        .filter_map(|code| {
            let (message, details) = error_example(code)?;
            Some((
                code.to_owned(),
                json!({
                    "summary": code,
                    "value": {"error": {"code": code, "message": message, "details": details}},
                }),
            ))
        })
        .collect();
    if !examples.is_empty() {
        content.insert("examples".into(), Value::Object(examples));
    }
}
