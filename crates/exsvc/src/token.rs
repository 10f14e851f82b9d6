//! `exsvc token`: mint a token for development and tests.

use std::process::ExitCode;

use clap::Args;
use exsvc_auth::{mint_hs256_with_kid, HmacSecret};
use exsvc_domain::Permission;

use crate::config::Config;
use serde_json::{json, Map, Value};

#[derive(Args)]
pub struct TokenArgs {
    /// The tenant the token is for, put in the first EXSVC_JWT_TENANT_CLAIM.
    /// May be left out when a --claim names one of the tenant claims.
    #[arg(long)]
    tenant: Option<String>,
    /// Sign with the EXSVC_JWT_SECRETS entry of this kid and name it in the
    /// header, as the Auth Manager does.
    #[arg(long)]
    kid: Option<String>,
    /// A permission to grant, such as external-service:read, or
    /// external-service:* for all of them (repeatable).
    #[arg(long = "permission", value_parser = parse_permission)]
    permissions: Vec<String>,
    /// A role, such as admin (grants every permission).
    #[arg(long)]
    role: Option<String>,
    /// The subject (actor) of the token.
    #[arg(long, default_value = "exsvc-cli")]
    sub: String,
    /// Lifetime: a number with s, m, h or d (e.g. 30m, 1h, 7d).
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    ttl: u64,
    /// The `iss` claim.
    #[arg(long)]
    issuer: Option<String>,
    /// The `aud` claim.
    #[arg(long)]
    audience: Option<String>,
    /// Any other claim, as k=v (repeatable). A JSON value (number, list, object,
    /// true) is kept as JSON, anything else as a string.
    #[arg(long = "claim", value_parser = parse_claim)]
    claims: Vec<(String, Value)>,
}

impl TokenArgs {
    /// The kid to sign with, if asked for.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

/// Every permission of this API, as a token may grant them at once.
const ALL_PERMISSIONS: &str = "external-service:*";

/// A permission this API knows: a typo (`external-service:raed`) would mint a
/// token that is refused with 403 for no visible reason.
fn parse_permission(raw: &str) -> Result<String, String> {
    if raw == ALL_PERMISSIONS {
        return Ok(raw.to_owned());
    }
    match Permission::from_name(raw) {
        Some(permission) => Ok(permission.as_str().to_owned()),
        None => {
            let known: Vec<&str> = Permission::ALL
                .iter()
                .map(|p| p.as_str())
                .chain([ALL_PERMISSIONS])
                .collect();
            Err(format!(
                "'{raw}' is not a permission of this API; one of: {}",
                known.join(", ")
            ))
        }
    }
}

/// "k=v" → (k, JSON v or the string v).
fn parse_claim(raw: &str) -> Result<(String, Value), String> {
    let (key, value) = raw
        .split_once('=')
        .ok_or_else(|| format!("'{raw}' is not k=v"))?;
    if key.trim().is_empty() {
        return Err(format!("'{raw}' has no claim name"));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Ok((key.trim().to_owned(), value))
}

/// "90", "90s", "30m", "1h", "7d" → seconds.
fn parse_ttl(raw: &str) -> Result<u64, String> {
    let raw = raw.trim();
    let (digits, unit) = match raw.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&raw[..i], c),
        _ => (raw, 's'),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{raw}' is not a duration such as 30m or 1h"))?;
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(format!("'{raw}': the unit must be s, m, h or d")),
    };
    match n.checked_mul(factor) {
        Some(0) | None => Err(format!(
            "'{raw}' must be a positive duration of reasonable size"
        )),
        Some(secs) => Ok(secs),
    }
}

/// Mints the token the way the configured server reads tokens: the tenant in its
/// first tenant claim, and its (first) issuer and audience unless given.
pub fn run(secret: &HmacSecret, config: &Config, args: &TokenArgs) -> ExitCode {
    let rules = &config.auth.claim_rules;
    let tenant_by_claim = args
        .claims
        .iter()
        .any(|(key, _)| rules.tenant_claims.contains(key));
    if args.tenant.is_none() && !tenant_by_claim {
        eprintln!(
            "exsvc: give --tenant, or a --claim for one of the tenant claims ({})",
            rules.tenant_claims.join(", ")
        );
        return ExitCode::from(crate::EXIT_CONFIG);
    }
    if args.ttl > rules.max_ttl_secs {
        // The server would refuse it (EXSVC_JWT_MAX_TTL_SECS): say so now.
        eprintln!(
            "exsvc: --ttl is longer than the {} s a token may live (EXSVC_JWT_MAX_TTL_SECS)",
            rules.max_ttl_secs
        );
        return ExitCode::from(crate::EXIT_CONFIG);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(args.sub));
    if let Some(tenant) = &args.tenant {
        claims.insert(rules.primary_tenant_claim().to_owned(), json!(tenant));
    }
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now.saturating_add(args.ttl)));
    if !args.permissions.is_empty() {
        claims.insert("permissions".into(), Value::from(args.permissions.clone()));
    }
    if let Some(role) = &args.role {
        claims.insert("roles".into(), json!([role]));
    }
    if let Some(issuer) = args.issuer.as_ref().or(config.auth.issuers.first()) {
        claims.insert("iss".into(), json!(issuer));
    }
    if let Some(audience) = args.audience.as_ref().or(config.auth.audiences.first()) {
        claims.insert("aud".into(), json!(audience));
    }
    // Explicit claims win over the ones the flags above set.
    for (key, value) in &args.claims {
        claims.insert(key.clone(), value.clone());
    }
    match mint_hs256_with_kid(secret, args.kid.as_deref(), &claims) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("exsvc: {error}");
            ExitCode::from(crate::EXIT_FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_claim, parse_permission, parse_ttl};

    #[test]
    fn permissions_are_known_names() {
        assert_eq!(
            parse_permission("external-service:read").unwrap(),
            "external-service:read"
        );
        let typo = parse_permission("external-service:raed").unwrap_err();
        assert!(typo.contains("external-service:read"), "{typo}");
        for name in [
            "external-service:use",
            "external-service:access",
            "external-service:*",
        ] {
            assert_eq!(parse_permission(name).unwrap(), name);
        }
        assert!(parse_permission("*:read").is_err());
    }
    use serde_json::json;

    #[test]
    fn claims_are_json_when_they_parse() {
        assert_eq!(parse_claim("n=5"), Ok(("n".into(), json!(5))));
        assert_eq!(
            parse_claim("scopes=[\"a\",\"b\"]"),
            Ok(("scopes".into(), json!(["a", "b"])))
        );
        assert_eq!(
            parse_claim("client_id=svc-1"),
            Ok(("client_id".into(), json!("svc-1")))
        );
        assert_eq!(parse_claim("empty="), Ok(("empty".into(), json!(""))));
        assert!(parse_claim("novalue").is_err());
        assert!(parse_claim("=x").is_err());
    }

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("90"), Ok(90));
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl("1h"), Ok(3600));
        assert_eq!(parse_ttl("2d"), Ok(172_800));
        for bad in ["", "h", "0", "1w", "-1h", "99999999999999999999d"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }
}
