//! From a validated token's claims to a `Principal`.

use exsvc_domain::ports::TokenError;
use exsvc_domain::{Permission, Principal, TenantId};
use serde_json::{Map, Value};

/// Roles that grant every permission.
const ADMIN_ROLES: [&str; 2] = ["admin", "super_admin"];

/// How claims are read; the parts of docs/api.md §4.2 a deployment configures.
#[derive(Debug, Clone)]
pub struct ClaimRules {
    /// The claim that names the tenant (`EXSVC_JWT_TENANT_CLAIM`).
    pub tenant_claim: String,
    /// Clock skew allowance for `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

impl Default for ClaimRules {
    fn default() -> Self {
        Self {
            tenant_claim: "tenant_id".into(),
            leeway_secs: 60,
        }
    }
}

fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// The caller described by `claims`.
///
/// # Errors
/// `InvalidClaim(<tenant claim>)` when the tenant claim is missing, not a string,
/// empty or longer than 128 characters.
pub fn principal_from_claims(
    claims: &Map<String, Value>,
    rules: &ClaimRules,
) -> Result<Principal, TokenError> {
    let tenant = claims
        .get(&rules.tenant_claim)
        .and_then(Value::as_str)
        .and_then(|t| TenantId::parse(t).ok())
        .ok_or_else(|| TokenError::InvalidClaim(rules.tenant_claim.clone()))?;

    let actor = ["sub", "client_id", "user_id"]
        .iter()
        .find_map(|c| {
            claims
                .get(*c)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .unwrap_or("unknown");

    let is_admin = strings(claims.get("roles"))
        .chain(claims.get("role").and_then(Value::as_str))
        .any(|role| ADMIN_ROLES.contains(&role));

    let permissions: Vec<Permission> = if is_admin {
        Permission::ALL.to_vec()
    } else {
        let scope = claims.get("scope").and_then(Value::as_str).unwrap_or("");
        strings(claims.get("scopes"))
            .chain(scope.split_whitespace())
            .chain(strings(claims.get("permissions")))
            .chain(strings(claims.get("perms").and_then(|p| p.get("allow"))))
            .filter_map(Permission::from_name)
            .collect()
    };
    Ok(Principal::new(tenant, actor, permissions))
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
            assert_eq!(principal(claims).unwrap().permissions().count(), 6);
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
            principal(json!({"tenant_id": "t", "user_id": "u"}))
                .unwrap()
                .actor(),
            "u"
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
        ] {
            assert_eq!(
                principal(claims),
                Err(TokenError::InvalidClaim("tenant_id".into()))
            );
        }
    }

    #[test]
    fn tenant_claim_name_is_configurable() {
        let rules = ClaimRules {
            tenant_claim: "org".into(),
            ..ClaimRules::default()
        };
        let claims = json!({"org": "o1", "tenant_id": "ignored"});
        let p = principal_from_claims(claims.as_object().unwrap(), &rules).unwrap();
        assert_eq!(p.tenant().as_str(), "o1");
    }
}
