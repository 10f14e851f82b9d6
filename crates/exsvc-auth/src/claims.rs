//! From a validated token's claims to a `Principal`.

use exsvc_domain::ports::TokenError;
use exsvc_domain::principal::CallerIdentity;
use exsvc_domain::{Permission, Principal, TenantId};
use serde_json::{Map, Value};

/// Roles that grant every permission.
const ADMIN_ROLES: [&str; 2] = ["admin", "super_admin"];

/// The prefix of this API's permission names (`external-service:read`).
const OUR_RESOURCE: &str = "external-service";

/// `EXSVC_JWT_MAX_TTL_SECS`'s default: 31 days.
pub const DEFAULT_MAX_TTL_SECS: u64 = 31 * 24 * 3600;

/// How claims are read; the parts of docs/api.md §4.2 a deployment configures.
#[derive(Debug, Clone)]
pub struct ClaimRules {
    /// The claims that may name the tenant, in order (`EXSVC_JWT_TENANT_CLAIM`):
    /// the first one present is the tenant.
    pub tenant_claims: Vec<String>,
    /// Clock skew allowance for `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// How far ahead `exp` may lie (`EXSVC_JWT_MAX_TTL_SECS`), in seconds.
    pub max_ttl_secs: u64,
}

impl Default for ClaimRules {
    fn default() -> Self {
        Self {
            tenant_claims: vec!["tenant_id".into(), "workspace_id".into()],
            leeway_secs: 60,
            max_ttl_secs: DEFAULT_MAX_TTL_SECS,
        }
    }
}

impl ClaimRules {
    /// The claim a minted token names its tenant in: the first of the list.
    pub fn primary_tenant_claim(&self) -> &str {
        self.tenant_claims
            .first()
            .map_or("tenant_id", String::as_str)
    }
}

/// The strings of an array claim; anything else (a missing claim, a string, a
/// number) is no strings, and non-string entries are skipped.
fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// The permissions one granted name stands for. The Auth Manager issues
/// permissions for other APIs too, so names of other resources are nothing,
/// as are actions this API does not have.
fn granted_by(name: &str) -> Vec<Permission> {
    let Some((resource, action)) = name.split_once(':') else {
        return if name == "*" {
            Permission::ALL.to_vec()
        } else {
            Vec::new()
        };
    };
    if resource != OUR_RESOURCE && resource != "*" {
        return Vec::new();
    }
    if action == "*" {
        return Permission::ALL.to_vec();
    }
    Permission::from_name(&format!("{OUR_RESOURCE}:{action}"))
        .into_iter()
        .collect()
}

/// The names `perms` grants: `perms.allow` (an array of names) when it is an
/// object, `resource:action` for each `{"r": resource, "a": [action…]}` when it
/// is an array. Any other shape grants nothing.
fn perms_names(perms: Option<&Value>) -> Vec<String> {
    match perms {
        Some(Value::Object(object)) => strings(object.get("allow")).map(str::to_owned).collect(),
        Some(Value::Array(entries)) => entries
            .iter()
            .filter_map(|entry| {
                let resource = entry.get("r")?.as_str()?;
                let actions = entry.get("a")?.as_array()?;
                Some(
                    actions
                        .iter()
                        .filter_map(Value::as_str)
                        .map(move |action| format!("{resource}:{action}")),
                )
            })
            .flatten()
            .collect(),
        _ => Vec::new(),
    }
}

/// `scope`: a space-separated string (RFC 8693) or, as some issuers send it,
/// an array of names.
fn scope_names(scope: Option<&Value>) -> Vec<&str> {
    match scope {
        Some(Value::String(text)) => text.split_whitespace().collect(),
        other => strings(other).collect(),
    }
}

/// The non-empty string claim `name`.
fn string_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The tenant: the first claim of `rules.tenant_claims` that the token has. A
/// present but invalid one is refused under its name rather than passed over,
/// so a token cannot steer which claim decides its tenant by spoiling one.
fn tenant(claims: &Map<String, Value>, rules: &ClaimRules) -> Result<TenantId, TokenError> {
    let Some((name, value)) = rules
        .tenant_claims
        .iter()
        .find_map(|name| claims.get(name).map(|value| (name, value)))
    else {
        return Err(TokenError::InvalidClaim(
            rules.primary_tenant_claim().to_owned(),
        ));
    };
    value
        .as_str()
        .and_then(|t| TenantId::parse(t).ok())
        .ok_or_else(|| TokenError::InvalidClaim(name.clone()))
}

/// Who the token says the caller is: `sub`, `client_id`, and the roles of
/// `roles` (an array) and `role` (a string), each role once, in token order.
fn identity(claims: &Map<String, Value>) -> CallerIdentity {
    let mut roles: Vec<String> = Vec::new();
    for role in strings(claims.get("roles")).chain(claims.get("role").and_then(Value::as_str)) {
        if !role.is_empty() && !roles.iter().any(|r| r == role) {
            roles.push(role.to_owned());
        }
    }
    CallerIdentity {
        sub: string_claim(claims, "sub"),
        client_id: string_claim(claims, "client_id"),
        roles,
    }
}

/// The caller described by `claims`.
///
/// # Errors
/// `InvalidClaim(<tenant claim>)` when no tenant claim is present (naming the
/// first of the list), or when the first present one is not a string, is empty,
/// longer than 128 characters or holds hidden characters (naming it).
pub fn principal_from_claims(
    claims: &Map<String, Value>,
    rules: &ClaimRules,
) -> Result<Principal, TokenError> {
    let tenant = tenant(claims, rules)?;

    let actor = ["sub", "client_id", "user_id"]
        .iter()
        .find_map(|c| string_claim(claims, c))
        .unwrap_or_else(|| "unknown".to_owned());

    let identity = identity(claims);
    let is_admin = identity
        .roles
        .iter()
        .any(|role| ADMIN_ROLES.contains(&role.as_str()));

    let permissions: Vec<Permission> = if is_admin {
        Permission::ALL.to_vec()
    } else {
        let perms = perms_names(claims.get("perms"));
        strings(claims.get("scopes"))
            .chain(scope_names(claims.get("scope")))
            .chain(strings(claims.get("permissions")))
            .chain(perms.iter().map(String::as_str))
            .flat_map(granted_by)
            .collect()
    };
    Ok(Principal::new(tenant, actor, permissions).with_identity(identity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn principal(claims: Value) -> Result<Principal, TokenError> {
        principal_from_claims(claims.as_object().unwrap(), &ClaimRules::default())
    }

    fn perms(p: &Principal) -> Vec<&'static str> {
        p.permissions().map(Permission::as_str).collect()
    }

    /// The permissions `claim: value` grants on its own.
    fn granted(claim: &str, value: Value) -> Vec<&'static str> {
        let mut claims = json!({"tenant_id": "t"});
        claims[claim] = value;
        perms(&principal(claims).unwrap())
    }

    const ALL: [&str; 8] = [
        "external-service:read",
        "external-service:create",
        "external-service:update",
        "external-service:delete",
        "external-service:credentials",
        "external-service:audit",
        "external-service:use",
        "external-service:access",
    ];

    #[test]
    fn each_form_alone_grants_exactly_what_it_names() {
        let read = ["external-service:read"];
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            ("scopes", json!(["external-service:read"]), read.to_vec()),
            ("scope", json!("external-service:read"), read.to_vec()),
            (
                "scope",
                json!("  external-service:read\texternal-service:use other:thing "),
                vec!["external-service:read", "external-service:use"],
            ),
            (
                "scope",
                json!(["external-service:read", "x:y"]),
                read.to_vec(),
            ),
            (
                "permissions",
                json!(["external-service:read"]),
                read.to_vec(),
            ),
            (
                "perms",
                json!({"allow": ["external-service:read"]}),
                read.to_vec(),
            ),
            (
                "perms",
                json!([{"r": "external-service", "a": ["read", "use"]}]),
                vec!["external-service:read", "external-service:use"],
            ),
            (
                "perms",
                json!([
                    {"r": "external-service", "a": ["access"]},
                    {"r": "billing", "a": ["read", "*"]}
                ]),
                vec!["external-service:access"],
            ),
            (
                "permissions",
                json!(["external-service:access"]),
                vec!["external-service:access"],
            ),
            // Names are exact: no case folding, no prefixes.
            (
                "permissions",
                json!([
                    "EXTERNAL-SERVICE:READ",
                    "external-service:reads",
                    "external-service:"
                ]),
                vec![],
            ),
            // Another claim name grants nothing.
            ("perm", json!(["external-service:read"]), vec![]),
        ];
        for (claim, value, expected) in cases {
            assert_eq!(granted(claim, value.clone()), expected, "{claim}: {value}");
        }
    }

    #[test]
    fn wildcards() {
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            ("permissions", json!(["external-service:*"]), ALL.to_vec()),
            ("scope", json!("*"), ALL.to_vec()),
            ("scope", json!("*:*"), ALL.to_vec()),
            ("scopes", json!(["*:read"]), vec!["external-service:read"]),
            (
                "scopes",
                json!(["*:use", "*:nothing"]),
                vec!["external-service:use"],
            ),
            (
                "perms",
                json!([{"r": "external-service", "a": ["*"]}]),
                ALL.to_vec(),
            ),
            (
                "perms",
                json!([{"r": "*", "a": ["read"]}]),
                vec!["external-service:read"],
            ),
            ("perms", json!([{"r": "*", "a": ["*"]}]), ALL.to_vec()),
            (
                "perms",
                json!({"allow": ["*:audit"]}),
                vec!["external-service:audit"],
            ),
            // Wildcards of other resources, and partial ones, are not ours.
            (
                "permissions",
                json!(["billing:*", "external-*:read", "external-service:re*", "**"]),
                vec![],
            ),
        ];
        for (claim, value, expected) in cases {
            assert_eq!(granted(claim, value.clone()), expected, "{claim}: {value}");
        }
    }

    #[test]
    fn malformed_shapes_grant_nothing_and_never_fail() {
        let cases = [
            ("perms", json!(7)),
            ("perms", json!("external-service:read")),
            ("perms", json!({"allow": "external-service:read"})),
            ("perms", json!([{"r": "external-service", "a": "read"}])),
            ("perms", json!([{"r": 1, "a": ["read"]}])),
            ("perms", json!([{"a": ["read"]}])),
            ("perms", json!([["external-service", "read"]])),
            (
                "perms",
                json!([{"r": "external-service", "a": [1, null, {}]}]),
            ),
            ("scope", json!(5)),
            ("scope", json!({"external-service:read": true})),
            ("scopes", json!("external-service:read")),
            ("permissions", json!({"0": "external-service:read"})),
            ("roles", json!("admin")),
            ("role", json!(["admin"])),
        ];
        for (claim, value) in cases {
            assert_eq!(
                granted(claim, value.clone()),
                Vec::<&str>::new(),
                "{claim}: {value}"
            );
        }
        // A malformed claim takes nothing from the well-formed ones beside it.
        let p = principal(json!({"tenant_id": "t", "perms": 3, "scope": "external-service:read"}))
            .unwrap();
        assert_eq!(perms(&p), ["external-service:read"]);
    }

    #[test]
    fn permissions_are_the_union_of_every_claim() {
        let p = principal(json!({
            "tenant_id": "acme", "sub": "u1",
            "scopes": ["external-service:read", 7],
            "scope": "external-service:create  other:thing",
            "permissions": ["external-service:update"],
            "perms": {"allow": ["external-service:delete"]}
        }))
        .unwrap();
        assert_eq!(
            perms(&p),
            [
                "external-service:read",
                "external-service:create",
                "external-service:update",
                "external-service:delete"
            ]
        );
        assert_eq!(p.tenant().as_str(), "acme");
        assert_eq!(p.actor(), "u1");
    }

    #[test]
    fn admin_roles_grant_everything() {
        for claims in [
            json!({"tenant_id": "t", "roles": ["viewer", "admin"]}),
            json!({"tenant_id": "t", "role": "super_admin"}),
        ] {
            assert_eq!(perms(&principal(claims).unwrap()), ALL);
        }
        assert_eq!(
            principal(json!({"tenant_id": "t", "role": "Admin"}))
                .unwrap()
                .permissions()
                .count(),
            0
        );
    }

    #[test]
    fn actor_falls_back_from_sub_to_client_id_to_user_id() {
        assert_eq!(
            principal(json!({"tenant_id": "t", "client_id": "c", "user_id": "u"}))
                .unwrap()
                .actor(),
            "c"
        );
        assert_eq!(
            principal(json!({"tenant_id": "t", "sub": "", "user_id": "u"}))
                .unwrap()
                .actor(),
            "u"
        );
        assert_eq!(
            principal(json!({"tenant_id": "t"})).unwrap().actor(),
            "unknown"
        );
    }

    #[test]
    fn identity_carries_sub_client_id_and_roles() {
        let p = principal(json!({
            "tenant_id": "t", "sub": "user-1", "client_id": "sdk-7",
            "roles": ["viewer", 3, "ops", "viewer"], "role": "ops"
        }))
        .unwrap();
        assert_eq!(
            p.identity(),
            &CallerIdentity {
                sub: Some("user-1".into()),
                client_id: Some("sdk-7".into()),
                roles: vec!["viewer".into(), "ops".into()],
            }
        );
        let p = principal(json!({"tenant_id": "t", "sub": 5, "client_id": "", "role": "auditor"}))
            .unwrap();
        assert_eq!(
            p.identity(),
            &CallerIdentity {
                sub: None,
                client_id: None,
                roles: vec!["auditor".into()],
            }
        );
    }

    #[test]
    fn tenant_must_be_a_bounded_non_empty_string() {
        for claims in [
            json!({}),
            json!({"tenant_id": ""}),
            json!({"tenant_id": 42}),
            json!({"tenant_id": ["a"]}),
            json!({"tenant_id": "x".repeat(129)}),
            json!({"tenant_id": "ac\u{200B}me"}),
        ] {
            assert_eq!(
                principal(claims),
                Err(TokenError::InvalidClaim("tenant_id".into()))
            );
        }
    }

    #[test]
    fn the_first_present_tenant_claim_decides() {
        let tenant = |claims: Value| principal(claims).map(|p| p.tenant().as_str().to_owned());
        assert_eq!(tenant(json!({"workspace_id": "w1"})), Ok("w1".into()));
        assert_eq!(
            tenant(json!({"tenant_id": "t1", "workspace_id": "w1"})),
            Ok("t1".into())
        );
        // Present but invalid: refused under its name, the next is not consulted.
        for bad in [json!(""), json!(null), json!(7), json!("x".repeat(129))] {
            assert_eq!(
                tenant(json!({"tenant_id": bad, "workspace_id": "w1"})),
                Err(TokenError::InvalidClaim("tenant_id".into()))
            );
        }
        assert_eq!(
            tenant(json!({"workspace_id": ""})),
            Err(TokenError::InvalidClaim("workspace_id".into()))
        );
    }

    #[test]
    fn tenant_claims_are_configurable_and_ordered() {
        let rules = ClaimRules {
            tenant_claims: vec!["org".into(), "tenant_id".into()],
            ..ClaimRules::default()
        };
        let claims = json!({"org": "o1", "tenant_id": "ignored"});
        let p = principal_from_claims(claims.as_object().unwrap(), &rules).unwrap();
        assert_eq!(p.tenant().as_str(), "o1");
        let claims = json!({"workspace_id": "w"});
        assert_eq!(
            principal_from_claims(claims.as_object().unwrap(), &rules),
            Err(TokenError::InvalidClaim("org".into()))
        );
    }
}
