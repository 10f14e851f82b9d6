//! How tokens are verified: the key sources, the algorithms allowed and the
//! claims required.

use exsvc_auth::{
    Algorithm, ClaimRules, HmacSecret, HmacSecrets, VerificationKey, MAX_HMAC_SECRETS,
    SUPPORTED_ALGORITHMS,
};
use secrecy::SecretString;

use super::core::{bounded, list, settings, text, url, Settings};
use super::deployment::{Environment, ENV};
use super::ConfigError;

settings! {
    /// The HMAC secret shared with the Auth Manager, at least 32 bytes.
    JWT_SECRET;
    /// HMAC secrets by kid, comma-separated `kid:secret` entries.
    JWT_SECRETS;
    /// A file of `kid:secret` lines (blank lines and `#` comments allowed).
    JWT_SECRETS_FILE;
    /// Comma-separated PEM public key files, read at start.
    JWT_PUBLIC_KEY_FILES;
    /// The http(s) URL of the Auth Manager's JWKS.
    JWKS_URL;
    /// Comma-separated allow-list of algorithms; unset: all the key sources allow.
    JWT_ALGORITHMS;
    /// When set, `iss` is required and must equal one of these (comma-separated).
    JWT_ISSUER;
    /// When set, `aud` is required and must contain one of these (comma-separated).
    JWT_AUDIENCE;
    /// Seconds of clock skew allowed on `exp` and `nbf`.
    JWT_LEEWAY_SECS = "60";
    /// The claims that may name the tenant, comma-separated: the first present decides.
    JWT_TENANT_CLAIM = "tenant_id,workspace_id";
    /// How far in the future a token's `exp` may lie, in seconds (31 days).
    JWT_MAX_TTL_SECS = "2678400";
}

#[derive(Debug)]
pub struct Auth {
    /// `None` only in development: a secret is then kept in the data directory.
    pub jwt_secret: Option<HmacSecret>,
    /// `EXSVC_JWT_SECRETS` or `EXSVC_JWT_SECRETS_FILE`: secrets by kid.
    pub hmac_secrets: HmacSecrets,
    /// Public keys read from `EXSVC_JWT_PUBLIC_KEY_FILES` at start.
    pub public_keys: Vec<VerificationKey>,
    pub jwks_url: Option<String>,
    /// `None` allows all that the key sources allow.
    pub algorithms: Option<Vec<Algorithm>>,
    /// Accepted issuers; empty: `iss` is not checked.
    pub issuers: Vec<String>,
    /// Accepted audiences; empty: `aud` is not checked.
    pub audiences: Vec<String>,
    pub claim_rules: ClaimRules,
}

impl Auth {
    /// No token key source is configured: development mode then keeps an HMAC
    /// secret in the data directory (refused in production).
    pub fn development_keys(&self) -> bool {
        self.jwt_secret.is_none()
            && self.hmac_secrets.is_empty()
            && self.public_keys.is_empty()
            && self.jwks_url.is_none()
    }
}

pub(super) fn read(settings: &Settings, environment: Environment) -> Result<Auth, ConfigError> {
    let production = environment == Environment::Production;
    let leeway_secs = settings.read(JWT_LEEWAY_SECS, bounded(0..=3600, "a number of seconds"))?;
    let jwt_secret = settings.read(JWT_SECRET, |secret| {
        HmacSecret::new(SecretString::from(secret.to_owned())).map_err(|e| e.to_string())
    })?;
    let hmac_secrets = named_secrets(settings)?;
    if hmac_secrets.len() + usize::from(jwt_secret.is_some()) > MAX_HMAC_SECRETS {
        settings.refuse(JWT_SECRETS.invalid(format!(
            "with {} at most {MAX_HMAC_SECRETS} HMAC secrets are accepted",
            JWT_SECRET.name()
        )));
    }
    let public_keys = settings
        .read(JWT_PUBLIC_KEY_FILES, list(public_key))?
        .unwrap_or_default();
    let jwks_url = settings.read(JWKS_URL, url(&["https", "http"], "must be an http(s) URL"))?;
    if production
        && jwks_url
            .as_deref()
            .is_some_and(|u| u.starts_with("http://"))
    {
        // Anyone on the path could hand the server a signing key.
        settings.refuse(JWKS_URL.invalid(format!("must use https when {}=production", ENV.name())));
    }
    let auth = Auth {
        jwt_secret,
        hmac_secrets,
        public_keys,
        jwks_url,
        algorithms: settings.read(JWT_ALGORITHMS, algorithms)?,
        issuers: settings
            .read(JWT_ISSUER, non_empty_list("names no issuer"))?
            .unwrap_or_default(),
        audiences: settings
            .read(JWT_AUDIENCE, non_empty_list("names no audience"))?
            .unwrap_or_default(),
        claim_rules: ClaimRules {
            tenant_claims: settings.read(JWT_TENANT_CLAIM, non_empty_list("names no claim"))?,
            leeway_secs,
            max_ttl_secs: settings.read(
                JWT_MAX_TTL_SECS,
                bounded(60..=31_622_400, "a number of seconds"),
            )?,
        },
    };
    let key_sources = [
        JWT_SECRET.name(),
        JWT_SECRETS.name(),
        JWT_SECRETS_FILE.name(),
        JWT_PUBLIC_KEY_FILES.name(),
        JWKS_URL.name(),
    ];
    // A refused key source reads as absent: what stands in for it says
    // nothing about the keys that were meant.
    let key_source_refused = settings.refused(&key_sources);
    if let (Some(list), false) = (&auth.algorithms, key_source_refused) {
        // Development mode verifies with an HMAC secret it makes itself.
        let hmac =
            auth.jwt_secret.is_some() || !auth.hmac_secrets.is_empty() || auth.development_keys();
        let offered = |alg: &Algorithm| {
            let is_hmac = matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512);
            (is_hmac && hmac)
                || (!is_hmac && auth.jwks_url.is_some())
                || auth.public_keys.iter().any(|k| k.algorithms.contains(alg))
        };
        if !list.iter().any(offered) {
            settings.refuse(JWT_ALGORITHMS.invalid(
                "names no algorithm the configured keys can verify: every token would be refused",
            ));
        }
    }
    if production && auth.development_keys() && !key_source_refused {
        // Named as EXSVC_JWT_SECRET, the others offered instead.
        settings.refuse(JWT_SECRET.missing(
            &key_sources[1..],
            format!("is required when {}=production", ENV.name()),
        ));
    }
    Ok(auth)
}

/// `EXSVC_JWT_SECRETS` or `EXSVC_JWT_SECRETS_FILE` (not both: which would win
/// is a guess). Errors name an entry by position and kid, never its secret.
fn named_secrets(settings: &Settings) -> Result<HmacSecrets, ConfigError> {
    let inline = settings.read(JWT_SECRETS, |raw| HmacSecrets::parse(raw, ','))?;
    let file = settings.read(JWT_SECRETS_FILE, |path| {
        let text = std::fs::read_to_string(path.trim()).map_err(|e| format!("{path}: {e}"))?;
        HmacSecrets::parse(&text, '\n').map_err(|reason| format!("{path}: {reason}"))
    })?;
    if settings.is_set(JWT_SECRETS) && settings.is_set(JWT_SECRETS_FILE) {
        settings.refuse(JWT_SECRETS_FILE.invalid(format!(
            "cannot be set together with {}: set one",
            JWT_SECRETS.name()
        )));
        return Ok(HmacSecrets::default());
    }
    Ok(inline.or(file).unwrap_or_default())
}

/// A comma-separated list of names, at least one.
fn non_empty_list(refusal: &'static str) -> impl Fn(&str) -> Result<Vec<String>, String> {
    move |raw| {
        let names = list(text)(raw)?;
        if names.is_empty() {
            return Err(refusal.to_owned());
        }
        Ok(names)
    }
}

fn public_key(path: &str) -> Result<VerificationKey, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    VerificationKey::from_pem(&pem).map_err(|reason| format!("{path}: {reason}"))
}

fn algorithms(raw: &str) -> Result<Vec<Algorithm>, String> {
    let algorithms = list(|name| {
        name.parse::<Algorithm>()
            .ok()
            .filter(|alg| SUPPORTED_ALGORITHMS.contains(alg))
            .ok_or_else(|| format!("'{name}' is not a supported algorithm"))
    })(raw)?;
    if algorithms.is_empty() {
        return Err("names no algorithm".to_owned());
    }
    Ok(algorithms)
}
