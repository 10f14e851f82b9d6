//! Documentation-only schemas: what the document says a request may carry.
//!
//! Handlers read raw JSON, headers and query strings and the domain validates
//! them (so every bad field is reported at once); nothing here is deserialized
//! at run time. The schemas are written as JSON so each keyword reads as the
//! OpenAPI specification states it, and each input pattern is defined once
//! below. The patterns state what the domain's value objects accept, so a
//! request the document calls valid is one the service accepts, and the
//! reverse (the conformance run relies on it; `tests/tests/openapi.rs` checks samples
//! against the service).

use serde_json::{json, Map, Value};

/// Characters `str::trim` removes (Unicode `White_Space`).
const WHITESPACE: &str =
    r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Control characters: Unicode `Cc` (`char::is_control`).
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";

/// Unicode's format characters (`Cf`), which names refuse: the domain's own
/// list (`validation::FORMAT_CHARACTERS`), as a character class body. Those
/// of the Basic Multilingual Plane as `\uXXXX`; the others (none of them in
/// common use) as the characters themselves, the one spelling ECMA-262 (with
/// the `u` flag JSON Schema asks for), Python's `re` and Rust's `regex` all read
/// alike.
fn format_class() -> String {
    let one = |c: char| {
        if u32::from(c) <= 0xFFFF {
            format!(r"\u{:04X}", u32::from(c))
        } else {
            c.to_string()
        }
    };
    exsvc_domain::validation::FORMAT_CHARACTERS
        .iter()
        .map(|&(first, last)| {
            if first == last {
                one(first)
            } else {
                format!("{}-{}", one(first), one(last))
            }
        })
        .collect()
}

/// `name`: 1–100 characters after trimming, no control characters, no
/// format characters (`Cf`). (The 100 are counted between the first and last
/// non-whitespace character.)
fn name_pattern() -> String {
    let format = format_class();
    format!(
        r"^[{WHITESPACE}]*[^{WHITESPACE}{CONTROL}{format}](?:[^{CONTROL}{format}]{{0,98}}[^{WHITESPACE}{CONTROL}{format}])?[{WHITESPACE}]*$"
    )
}

/// `description`: control characters but line breaks and tabs are refused.
const DESCRIPTION_PATTERN: &str = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$";
/// `api_version`, the `q` and `actor` filters: no control characters at all
/// (no query parameter of any route may hold one: 400 `VALIDATION_ERROR`).
fn no_control_pattern() -> String {
    format!("^[^{CONTROL}]*$")
}
/// `type` (of a body and of the filter): 1–50 characters of `[a-z0-9._-]`.
const TYPE_PATTERN: &str = r"^[a-z0-9._-]{1,50}$";
/// A listing cursor: 55 base64url characters (format byte, position, tag).
const CURSOR_PATTERN: &str = r"^[A-Za-z0-9_-]{55}$";
/// `Idempotency-Key`: 1–255 visible ASCII characters.
const IDEMPOTENCY_KEY_PATTERN: &str = r"^[\x21-\x7E]{1,255}$";
/// A role name: `[a-z0-9._-]`, not only dots (a dot segment in a path).
const ROLE_NAME_PATTERN: &str = r"^[a-z0-9._-]*[a-z0-9_-][a-z0-9._-]*$";
/// PostgreSQL's `jsonb` cannot hold NUL, so no metadata key may contain one.
const NO_NUL_PATTERN: &str = r"^[^\x00]*$";
/// A required credential value: something besides whitespace.
fn required_text_pattern() -> String {
    format!("[^{WHITESPACE}]")
}
/// `api_key.header_name`: an RFC 9110 token of 1–64 characters, not one of the
/// headers exsvc sets itself (compared ignoring case).
const HEADER_NAME_PATTERN: &str = "^(?![Hh][Oo][Ss][Tt]$|[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ll][Ee][Nn][Gg][Tt][Hh]$|[Tt][Rr][Aa][Nn][Ss][Ff][Ee][Rr]-[Ee][Nn][Cc][Oo][Dd][Ii][Nn][Gg]$|[Cc][Oo][Nn][Nn][Ee][Cc][Tt][Ii][Oo][Nn]$)[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$";
/// `api_key.query_param`: 1–64 unreserved URL characters.
const QUERY_PARAM_PATTERN: &str = r"^[A-Za-z0-9._~-]{1,64}$";

/// `base_url` and the oauth2 `token_url`: the grammar `BaseUrl::parse`
/// enforces (RFC 3986 forms: a DNS name or dotted IPv4 host, optional port,
/// `pchar` path and query). The service also takes bracketed IPv6 hosts, and
/// `http` when `EXSVC_ALLOW_HTTP_BASE_URL=true`.
pub(crate) const BASE_URL_PATTERN: &str = r"^https://(?:(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?|(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})*)*(?:\?(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$";

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The writable fields of a service. An optional field may be sent as null
/// (its default applies, in a merge patch too); the required ones may not (a
/// patch cannot remove them).
fn service_fields() -> Map<String, Value> {
    let optional = |t: &str| json!([t, "null"]);
    let fields = json!({
        "name": {
            "type": "string",
            "description": "1–100 characters after trimming, no control characters and no invisible format characters (Unicode `Cf`, such as U+200B zero width space or U+202E right-to-left override); unique per tenant, ignoring case.",
            "pattern": name_pattern(),
            "example": "Stripe",
        },
        "description": {
            "type": optional("string"),
            "description": "At most 1000 characters; no control characters but line breaks and tabs. Default `\"\"`.",
            "maxLength": 1000,
            "pattern": DESCRIPTION_PATTERN,
            "example": "Card payments",
        },
        "type": {
            "type": "string",
            "description": "A category: 1–50 characters of `[a-z0-9._-]`.",
            "pattern": TYPE_PATTERN,
            "example": "payment",
        },
        "status": {
            "description": "Default `active`.",
            "anyOf": [schema_ref("ServiceStatus"), {"type": "null"}],
        },
        "base_url": {
            "type": "string",
            "description": "Absolute https URL with a host, no user-info, no fragment, at most 2048 characters.",
            "maxLength": 2048,
            "pattern": BASE_URL_PATTERN,
            "example": "https://api.stripe.com/v1",
        },
        "api_version": {
            "type": optional("string"),
            "description": "At most 32 characters, no control characters.",
            "maxLength": 32,
            "pattern": no_control_pattern(),
            "example": "2024-06-20",
        },
        "metadata": {
            "anyOf": [schema_ref("Metadata"), {"type": "null"}],
        },
    });
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn closed_object(description: &str, required: &[&str], properties: Map<String, Value>) -> Value {
    json!({
        "type": "object",
        "description": description,
        "required": required,
        "properties": properties,
        "additionalProperties": false,
    })
}

/// One `auth_type`: its tag, the component names of its `credentials` object,
/// of its `PUT …/credentials` body and of its create body, and a description.
struct CredentialType {
    auth_type: &'static str,
    credentials: &'static str,
    write: &'static str,
    create: &'static str,
    summary: &'static str,
}

const CREDENTIAL_TYPES: [CredentialType; 5] = [
    CredentialType {
        auth_type: "api_key",
        credentials: "ApiKeyCredentials",
        write: "ApiKeyCredentialWrite",
        create: "ServiceWithApiKeyCredential",
        summary: "`key`, optionally `header_name` (default `X-API-Key`) or `query_param`",
    },
    CredentialType {
        auth_type: "basic",
        credentials: "BasicCredentials",
        write: "BasicCredentialWrite",
        create: "ServiceWithBasicCredential",
        summary: "`username` and `password`",
    },
    CredentialType {
        auth_type: "bearer",
        credentials: "BearerCredentials",
        write: "BearerCredentialWrite",
        create: "ServiceWithBearerCredential",
        summary: "`token`",
    },
    CredentialType {
        auth_type: "oauth2_client_credentials",
        credentials: "OAuth2ClientCredentials",
        write: "OAuth2ClientCredentialsWrite",
        create: "ServiceWithOAuth2ClientCredentials",
        summary:
            "`client_id`, `client_secret`, `token_url` (https), optionally `scopes`, `audience` and `token_auth_method`",
    },
    CredentialType {
        auth_type: "custom",
        credentials: "CustomCredentials",
        write: "CustomCredentialWrite",
        create: "ServiceWithCustomCredential",
        summary: "any JSON object of at most 16 KiB serialized",
    },
];

/// The `credentials` object of each type, with exactly the keys
/// `CredentialSecret::parse` accepts: required values are strings with
/// something besides whitespace, and known types refuse other keys.
fn credentials_schema(auth_type: &str) -> Value {
    let required = json!({"type": "string", "pattern": required_text_pattern()});
    let text = json!({"type": "string"});
    let props = |value: Value| match value {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    match auth_type {
        "api_key" => closed_object(
            "An API key, sent in a header (default `X-API-Key`) or a query parameter.",
            &["key"],
            props(json!({
                "key": required,
                "header_name": {
                    "type": "string",
                    "description": "An HTTP header name (RFC 9110 token, 1–64 characters), not `Host`, `Content-Length`, `Transfer-Encoding` or `Connection`.",
                    "pattern": HEADER_NAME_PATTERN,
                    "example": "X-API-Key",
                },
                "query_param": {
                    "type": "string",
                    "description": "1–64 characters of `[A-Za-z0-9._~-]`.",
                    "pattern": QUERY_PARAM_PATTERN,
                    "example": "api_key",
                },
            })),
        ),
        "basic" => closed_object(
            "HTTP Basic authentication.",
            &["username", "password"],
            props(json!({"username": required, "password": required})),
        ),
        "bearer" => closed_object(
            "A bearer token.",
            &["token"],
            props(json!({"token": required})),
        ),
        "oauth2_client_credentials" => closed_object(
            "An OAuth 2.0 client-credentials grant.",
            &["client_id", "client_secret", "token_url"],
            props(json!({
                "client_id": required,
                "client_secret": required,
                "token_url": {"type": "string", "pattern": BASE_URL_PATTERN, "example": "https://auth.example.com/oauth/token"},
                "scopes": {"type": "array", "items": {"type": "string"}},
                "audience": text,
                "token_auth_method": {
                    "type": "string",
                    "description": "How the client authenticates at `token_url` (RFC 6749 §2.3.1): HTTP Basic, or `client_id` and `client_secret` in the form body.",
                    "enum": exsvc_domain::credential::TOKEN_AUTH_METHODS,
                    "example": "client_secret_basic",
                },
            })),
        ),
        _ => json!({
            "type": "object",
            "description": "Any JSON object of at most 16 KiB serialized.",
            "additionalProperties": true,
        }),
    }
}

/// The `auth_type` member of a variant: one constant value.
fn auth_type_tag(auth_type: &str) -> Value {
    json!({"type": "string", "const": auth_type})
}

/// Every documentation-only component schema, by name.
pub(crate) fn schemas() -> Vec<(String, Value)> {
    let mut schemas = vec![
        (
            "Metadata".to_owned(),
            json!({
                "type": "object",
                "description": "Any JSON object of at most 16 KiB serialized. No key or string anywhere in it may contain the NUL character (PostgreSQL's `jsonb` cannot store it).",
                "propertyNames": {"pattern": NO_NUL_PATTERN},
                "additionalProperties": true,
                "example": {"team": "billing", "tier": "gold"},
            }),
        ),
        (
            "ServiceWrite".to_owned(),
            closed_object(
                "The body of a replace (`PUT`), or of a create without a credential: every writable field; an omitted optional field takes its default. Unknown and read-only fields are refused.",
                &["name", "type", "base_url"],
                service_fields(),
            ),
        ),
        (
            "ServicePatch".to_owned(),
            {
                let mut fields = service_fields();
                for required in ["name", "type", "base_url"] {
                    if let Some(field) = fields.get_mut(required) {
                        field["description"] = json!(format!(
                            "{} Required: cannot be removed (not nullable).",
                            field["description"].as_str().unwrap_or("")
                        ));
                    }
                }
                if let Some(metadata) = fields.get_mut("metadata") {
                    metadata["description"] =
                        json!("Merged into the current metadata: a member set to null is removed; null removes all.");
                }
                closed_object(
                    "A JSON Merge Patch (RFC 7396) of a service's writable fields: a member set to null returns an optional field to its default. Unknown and read-only fields are refused (also as null).",
                    &[],
                    fields,
                )
            },
        ),
    ];
    let expires_at = json!({
        "type": ["string", "null"],
        "format": "date-time",
        "description": "When the credential stops being valid (RFC 3339); null: never.",
    });
    let mut write_variants = Vec::new();
    let mut create_variants = vec![schema_ref("ServiceWrite")];
    let mut mapping = Map::new();
    for t in &CREDENTIAL_TYPES {
        schemas.push((t.credentials.to_owned(), credentials_schema(t.auth_type)));
        let mut properties = Map::new();
        properties.insert("auth_type".into(), auth_type_tag(t.auth_type));
        properties.insert("credentials".into(), schema_ref(t.credentials));
        properties.insert("expires_at".into(), expires_at.clone());
        schemas.push((
            t.write.to_owned(),
            closed_object(
                &format!("A `{}` credential: {}.", t.auth_type, t.summary),
                &["auth_type", "credentials"],
                properties,
            ),
        ));
        // A create takes the credential's type and object, not `expires_at`
        // (set with a later `PUT …/credentials`).
        let mut fields = service_fields();
        fields.insert("auth_type".into(), auth_type_tag(t.auth_type));
        fields.insert("credentials".into(), schema_ref(t.credentials));
        schemas.push((
            t.create.to_owned(),
            closed_object(
                &format!(
                    "A service with its first credential, of type `{}`: {}.",
                    t.auth_type, t.summary
                ),
                &["name", "type", "base_url", "auth_type", "credentials"],
                fields,
            ),
        ));
        write_variants.push(schema_ref(t.write));
        create_variants.push(schema_ref(t.create));
        mapping.insert(
            t.auth_type.into(),
            json!(format!("#/components/schemas/{}", t.write)),
        );
    }
    schemas.push((
        "CredentialWrite".to_owned(),
        json!({
            "description": "The body of `PUT …/credentials`: `auth_type`, the `credentials` object of that type (at most 16 KiB serialized), optionally `expires_at`.",
            "oneOf": write_variants,
            "discriminator": {"propertyName": "auth_type", "mapping": mapping},
        }),
    ));
    schemas.extend(access_schemas());
    schemas.push((
        "ServiceCreate".to_owned(),
        json!({
            "description": "The body of `POST /api/v1/services`: a service, optionally with its first credential (`auth_type` and `credentials`, both or neither, as `PUT …/credentials` takes them).",
            "oneOf": create_variants,
        }),
    ));
    schemas
}

/// The bodies of roles and bindings (docs/api.md §4.5).
fn access_schemas() -> Vec<(String, Value)> {
    use exsvc_domain::access::{
        ROLE_NAME_MAX_CHARS, SELECTOR_MAX_IDS, SELECTOR_MAX_METADATA_KEYS, SELECTOR_MAX_TYPES,
        SUBJECT_VALUE_MAX_CHARS,
    };
    let grantable: Vec<&str> = exsvc_domain::Permission::GRANTABLE
        .iter()
        .map(|p| p.as_str())
        .chain([exsvc_domain::access::ALL_GRANTABLE])
        .collect();
    let mut selector = Map::new();
    selector.insert(
        "ids".into(),
        json!({"type": "array", "maxItems": SELECTOR_MAX_IDS, "items": {"type": "string", "format": "uuid"},
               "description": "The service's id is one of these."}),
    );
    selector.insert(
        "types".into(),
        json!({"type": "array", "maxItems": SELECTOR_MAX_TYPES, "items": {"type": "string", "pattern": TYPE_PATTERN},
               "description": "The service's `type` is one of these."}),
    );
    selector.insert(
        "metadata".into(),
        json!({"type": "object", "maxProperties": SELECTOR_MAX_METADATA_KEYS,
               "propertyNames": {"minLength": 1, "maxLength": 128, "pattern": NO_NUL_PATTERN},
               "additionalProperties": {"oneOf": [
                   {"type": "string", "maxLength": 1000, "pattern": NO_NUL_PATTERN},
                   {"type": "integer", "minimum": -exsvc_domain::access::SELECTOR_MAX_INTEGER, "maximum": exsvc_domain::access::SELECTOR_MAX_INTEGER,
                    "description": "Matches a service's number written as an integer (`1`, not `1.0`)."},
                   {"type": "boolean"}]},
               "description": "For each key, the service's metadata holds it with an equal value (a string, an integer or a boolean)."}),
    );
    let mut role = Map::new();
    role.insert(
        "description".into(),
        json!({"type": ["string", "null"], "maxLength": 1000, "pattern": DESCRIPTION_PATTERN,
               "description": "At most 1000 characters; no control characters but line breaks and tabs. Default `\"\"`."}),
    );
    role.insert(
        "permissions".into(),
        json!({"type": "array", "minItems": 1, "items": {"type": "string", "enum": grantable},
               "description": "What the role grants on the services its selector matches. `external-service:access` cannot be granted by a role."}),
    );
    role.insert(
        "services".into(),
        {
            let mut s = closed_object(
                "The selector: a service matches when it meets every given field. Absent or empty: every service of the tenant.",
                &[],
                selector,
            );
            s["type"] = json!(["object", "null"]);
            s
        },
    );
    let mut subject = Map::new();
    subject.insert(
        "type".into(),
        json!({"type": "string", "enum": ["sub", "client_id", "role"],
               "description": "Which claim of the caller's token is compared: `sub`, `client_id`, or one of `roles`."}),
    );
    subject.insert(
        "value".into(),
        json!({"type": "string", "minLength": 1, "maxLength": SUBJECT_VALUE_MAX_CHARS,
               "pattern": format!("^[^{CONTROL}{}]+$", format_class()),
               "description": "No control or invisible format characters."}),
    );
    let mut binding = Map::new();
    binding.insert(
        "role".into(),
        json!({"type": "string", "minLength": 1, "maxLength": ROLE_NAME_MAX_CHARS, "pattern": ROLE_NAME_PATTERN,
               "description": "A role of the tenant (else 400 naming `role`)."}),
    );
    binding.insert(
        "subject".into(),
        closed_object("Who the binding applies to.", &["type", "value"], subject),
    );
    binding.insert(
        "expires_at".into(),
        json!({"type": ["string", "null"], "format": "date-time",
               "description": "When the binding stops granting (in the future); null: never."}),
    );
    let replace = closed_object(
        "The body of a role replacement (`PUT`): its permissions on the services its selector matches. The name is the path's (a role cannot be renamed); unknown and read-only fields, `name` among them, are refused.",
        &["permissions"],
        role.clone(),
    );
    role.insert(
        "name".into(),
        json!({"type": "string", "minLength": 1, "maxLength": ROLE_NAME_MAX_CHARS, "pattern": ROLE_NAME_PATTERN,
               "description": "Unique per tenant; the key in paths. Not only dots."}),
    );
    vec![
        (
            "RoleCreate".to_owned(),
            closed_object(
                "A new role: its name, and its permissions on the services its selector matches. Unknown and read-only fields are refused.",
                &["name", "permissions"],
                role,
            ),
        ),
        ("RoleReplace".to_owned(), replace),
        (
            "RoleBindingCreate".to_owned(),
            closed_object(
                "A role given to the callers a subject names.",
                &["role", "subject"],
                binding,
            ),
        ),
    ]
}

/// The request body of each operation that takes one: content types, schema
/// and one realistic example (Swagger UI prefills it; the conformance run
/// sends it as-is, so it must be valid).
pub(crate) fn request_body(operation_id: &str) -> Option<Value> {
    let (description, schema, types, example): (&str, &str, &[&str], Value) = match operation_id {
        "createService" => (
            "A service, optionally with its first credential",
            "ServiceCreate",
            &["application/json"],
            json!({
                "name": "Stripe",
                "type": "payment",
                "base_url": "https://api.stripe.com/v1",
                "description": "Card payments",
                "api_version": "2024-06-20",
                "metadata": {"team": "billing"},
                "auth_type": "api_key",
                "credentials": {"key": "sk_test_4eC39HqLyjWDarjtT1zdp7dc"},
            }),
        ),
        "replaceService" => (
            "Every writable field; an omitted optional field takes its default",
            "ServiceWrite",
            &["application/json"],
            json!({
                "name": "Stripe",
                "type": "payment",
                "base_url": "https://api.stripe.com/v2",
                "description": "Card payments",
                "status": "inactive",
                "api_version": "2024-06-20",
                "metadata": {"team": "billing", "tier": "gold"},
            }),
        ),
        "patchService" => (
            "A JSON Merge Patch (RFC 7396) of the writable fields",
            "ServicePatch",
            &["application/merge-patch+json", "application/json"],
            json!({"description": "Card payments and refunds", "metadata": {"tier": "gold"}}),
        ),
        "putCredentials" => (
            "The credential: one `auth_type` and its `credentials` object",
            "CredentialWrite",
            &["application/json"],
            json!({
                "auth_type": "api_key",
                "credentials": {"key": "sk_test_4eC39HqLyjWDarjtT1zdp7dc", "header_name": "Authorization"},
                "expires_at": "2027-01-01T00:00:00Z",
            }),
        ),
        "createRole" => (
            "The role",
            "RoleCreate",
            &["application/json"],
            json!({
                "name": "billing-reader",
                "description": "Reads the credentials of payment services",
                "permissions": ["external-service:read", "external-service:credentials"],
                "services": {"types": ["payment"]},
            }),
        ),
        "replaceRole" => (
            "The role's new description, permissions and selector",
            "RoleReplace",
            &["application/json"],
            json!({
                "description": "Reads payment services",
                "permissions": ["external-service:read"],
                "services": {"types": ["payment"]},
            }),
        ),
        "createRoleBinding" => (
            "The binding",
            "RoleBindingCreate",
            &["application/json"],
            json!({
                "role": "billing-reader",
                "subject": {"type": "client_id", "value": "billing-worker"},
                "expires_at": null,
            }),
        ),
        _ => return None,
    };
    let content: Map<String, Value> = types
        .iter()
        .map(|t| {
            (
                (*t).to_owned(),
                json!({"schema": schema_ref(schema), "example": example}),
            )
        })
        .collect();
    Some(json!({"description": description, "required": true, "content": content}))
}

fn parameter(name: &str, location: &str, description: &str, schema: Value) -> Value {
    json!({
        "name": name,
        "in": location,
        "description": description,
        "required": location == "path",
        "schema": schema,
    })
}

fn id_parameter() -> Value {
    parameter(
        "id",
        "path",
        "Service id (a UUID; any other text names no service: 404)",
        json!({"type": "string"}),
    )
}

fn role_name_parameter() -> Value {
    parameter(
        "name",
        "path",
        "Role name (any other text names no role: 404)",
        json!({"type": "string"}),
    )
}

fn if_match(action: &str) -> Value {
    let mut p = parameter(
        "If-Match",
        "header",
        &format!("{action} only if the service's ETag matches (`\"<version>\"`, a list of them, or `*`); a stale one is 412 and nothing changes"),
        json!({"type": "string"}),
    );
    p["example"] = json!("\"1\"");
    p
}

fn idempotency_key() -> Value {
    parameter(
        "Idempotency-Key",
        "header",
        "Makes a retry safe (docs/api.md §2): the same key with the same body replays the first successful response (marked `Idempotent-Replayed: true`) and writes nothing; with another body → 422 `IDEMPOTENCY_KEY_REUSED`. Per tenant, kept 24 hours; 1 to 255 visible ASCII characters.",
        json!({"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN}),
    )
}

fn limit() -> Value {
    parameter(
        "limit",
        "query",
        "Page size, 1–100 (default 20).",
        json!({"type": "integer", "minimum": 1, "maximum": 100}),
    )
}

fn cursor() -> Value {
    parameter(
        "cursor",
        "query",
        "Opaque position from a previous page's `next_cursor`; one this server did not issue for this listing and filter is `400 INVALID_CURSOR`.",
        json!({"type": "string", "pattern": CURSOR_PATTERN}),
    )
}

fn date_time(name: &str, description: &str) -> Value {
    parameter(
        name,
        "query",
        description,
        json!({"type": "string", "format": "date-time"}),
    )
}

/// The parameters of each operation. Optional ones are plain types, never
/// nullable: a client leaves them out, it does not send the text `null`.
pub(crate) fn parameters(operation_id: &str) -> Vec<Value> {
    match operation_id {
        "listServices" => vec![
            limit(),
            cursor(),
            parameter(
                "type",
                "query",
                "Only services of this type.",
                json!({"type": "string", "pattern": TYPE_PATTERN}),
            ),
            parameter(
                "status",
                "query",
                "Only services with this status.",
                schema_ref("ServiceStatus"),
            ),
            parameter(
                "q",
                "query",
                "Case-insensitive substring of the name (no control characters; `%` and `_` match literally).",
                json!({"type": "string", "maxLength": 100, "pattern": no_control_pattern()}),
            ),
            date_time(
                "credential_expires_before",
                "Only services whose current credential expires before this RFC 3339 instant.",
            ),
        ],
        "listAuditEvents" => vec![
            limit(),
            cursor(),
            parameter(
                "service_id",
                "query",
                "Only events of this service.",
                json!({"type": "string", "format": "uuid"}),
            ),
            parameter(
                "action",
                "query",
                "Only events of this action.",
                json!({
                    "type": "string",
                    "enum": exsvc_domain::audit::AuditAction::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                }),
            ),
            parameter(
                "actor",
                "query",
                "Only events of this actor (the token's `sub`, else `client_id`); no control characters.",
                json!({"type": "string", "pattern": no_control_pattern()}),
            ),
            date_time("since", "Events at or after this instant."),
            date_time("until", "Events before this instant."),
        ],
        "getService" | "deleteCredentials" | "listCredentialVersions" => vec![id_parameter()],
        "replaceService" | "patchService" => vec![id_parameter(), if_match("Apply")],
        "deleteService" => vec![id_parameter(), if_match("Delete")],
        "getCredentials" => vec![
            id_parameter(),
            parameter(
                "version",
                "query",
                "A kept earlier version; the current one when absent.",
                json!({"type": "integer", "format": "int64", "minimum": 1}),
            ),
        ],
        "putCredentials" => vec![id_parameter(), idempotency_key()],
        "reviewServiceAccess" | "getServiceToken" => vec![id_parameter()],
        "proxyGet" | "proxyPost" | "proxyPut" | "proxyPatch" | "proxyDelete" | "proxyOptions" => {
            vec![
                id_parameter(),
                parameter(
                    "path",
                    "path",
                    "The rest of the path, slashes included, joined to the service's `base_url` as sent (percent-escapes kept); the query string goes on as received. A `.` or `..` segment is 400.",
                    json!({"type": "string"}),
                ),
            ]
        }
        "listRoles" => vec![limit(), cursor()],
        "getRole" => vec![role_name_parameter()],
        "replaceRole" => vec![role_name_parameter(), if_match("Replace")],
        "deleteRole" => vec![role_name_parameter(), if_match("Delete")],
        "getRoleBinding" | "deleteRoleBinding" => vec![parameter(
            "id",
            "path",
            "Role binding id (a UUID; any other text names no binding: 404)",
            json!({"type": "string"}),
        )],
        "listRoleBindings" => vec![
            limit(),
            cursor(),
            parameter(
                "role",
                "query",
                "Only bindings of this role.",
                json!({"type": "string", "maxLength": 64, "pattern": ROLE_NAME_PATTERN}),
            ),
            parameter(
                "subject_type",
                "query",
                "Only bindings of this subject type.",
                json!({"type": "string", "enum": ["sub", "client_id", "role"]}),
            ),
            parameter(
                "subject_value",
                "query",
                "Only bindings of this subject value (no control characters).",
                json!({"type": "string", "pattern": no_control_pattern()}),
            ),
        ],
        "createService" => vec![idempotency_key()],
        _ => Vec::new(),
    }
}
