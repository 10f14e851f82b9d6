//! How tokens are verified: the key sources, the algorithms allowed and the
//! claims required.

use exsvc_auth::{Algorithm, ClaimRules, HmacSecret, VerificationKey, SUPPORTED_ALGORITHMS};
use secrecy::SecretString;

use super::core::{bounded, list, settings, text, url, Settings};
use super::deployment::{Environment, ENV};
use super::ConfigError;

settings! {
    /// The HMAC secret shared with the Auth Manager, at least 32 bytes.
    JWT_SECRET;
    /// Comma-separated PEM public key files, read at start.
    JWT_PUBLIC_KEY_FILES;
    /// The http(s) URL of the Auth Manager's JWKS.
    JWKS_URL;
    /// Comma-separated allow-list of algorithms; unset: all the key sources allow.
    JWT_ALGORITHMS;
    /// When set, `iss` is required and must equal it.
    JWT_ISSUER;
    /// When set, `aud` is required and must contain it.
    JWT_AUDIENCE;
    /// Seconds of clock skew allowed on `exp` and `nbf`.
    JWT_LEEWAY_SECS = "60";
    /// The claim that names the tenant.
    JWT_TENANT_CLAIM = "tenant_id";
}

#[derive(Debug)]
pub struct Auth {
    /// `None` only in development: a secret is then kept in the data directory.
    pub jwt_secret: Option<HmacSecret>,
    /// Public keys read from `EXSVC_JWT_PUBLIC_KEY_FILES` at start.
    pub public_keys: Vec<VerificationKey>,
    pub jwks_url: Option<String>,
    /// `None` allows all that the key sources allow.
    pub algorithms: Option<Vec<Algorithm>>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub claim_rules: ClaimRules,
}

impl Auth {
    /// No token key source is configured: development mode then keeps an HMAC
    /// secret in the data directory (refused in production).
    pub fn development_keys(&self) -> bool {
        self.jwt_secret.is_none() && self.public_keys.is_empty() && self.jwks_url.is_none()
    }
}

pub(super) fn read(settings: &Settings, environment: Environment) -> Result<Auth, ConfigError> {
    let production = environment == Environment::Production;
    let leeway_secs = settings.read(JWT_LEEWAY_SECS, bounded(0..=3600, "a number of seconds"))?;
    let jwt_secret = settings.read(JWT_SECRET, |secret| {
        HmacSecret::new(SecretString::from(secret.to_owned())).map_err(|e| e.to_string())
    })?;
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
        return Err(JWKS_URL.invalid(format!("must use https when {}=production", ENV.name())));
    }
    let auth = Auth {
        jwt_secret,
        public_keys,
        jwks_url,
        algorithms: settings.read(JWT_ALGORITHMS, algorithms)?,
        issuer: settings.read(JWT_ISSUER, text)?,
        audience: settings.read(JWT_AUDIENCE, text)?,
        claim_rules: ClaimRules {
            tenant_claim: settings.read(JWT_TENANT_CLAIM, text)?,
            leeway_secs,
        },
    };
    if let Some(list) = &auth.algorithms {
        // Development mode verifies with an HMAC secret it makes itself.
        let hmac = auth.jwt_secret.is_some() || auth.development_keys();
        let offered = |alg: &Algorithm| {
            let is_hmac = matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512);
            (is_hmac && hmac)
                || (!is_hmac && auth.jwks_url.is_some())
                || auth.public_keys.iter().any(|k| k.algorithms.contains(alg))
        };
        if !list.iter().any(offered) {
            return Err(JWT_ALGORITHMS.invalid(
                "names no algorithm the configured keys can verify: every token would be refused",
            ));
        }
    }
    if production && auth.development_keys() {
        return Err(JWT_SECRET.invalid(format!(
            "(or {} or {}) is required when {}=production",
            JWT_PUBLIC_KEY_FILES.name(),
            JWKS_URL.name(),
            ENV.name()
        )));
    }
    Ok(auth)
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
