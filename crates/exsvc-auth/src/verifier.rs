//! `JwtVerifier`: the `TokenVerifier` port on jsonwebtoken, over every key
//! source at once (HMAC secret, PEM files, JWKS), with a bounded cache of
//! verified tokens so an asymmetric signature is checked once per token.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use exsvc_domain::ports::{TokenError, TokenVerifier, VerifiedToken};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde_json::{Map, Value};

use crate::cache::{CachedToken, TokenCache};
use crate::claims::{principal_from_claims, ClaimRules};
use crate::hmac::HmacSecret;
use crate::jwks::{Jwks, MIN_REFRESH_INTERVAL};
use crate::keys::VerificationKey;

/// Longer tokens are refused before any parsing (real ones are well under 4 KiB).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Keys tried for one token without a matching `kid`: bounds the work a token
/// can cause.
const MAX_CANDIDATE_KEYS: usize = 4;

/// Every algorithm a key source can verify (`alg=none` is not among them).
pub const SUPPORTED_ALGORITHMS: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

const HMAC_ALGORITHMS: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

/// Where keys come from and which tokens pass (docs/api.md §4, §7).
#[derive(Default)]
pub struct VerifierSettings {
    pub hmac_secret: Option<HmacSecret>,
    pub public_keys: Vec<VerificationKey>,
    pub jwks_url: Option<String>,
    /// `EXSVC_JWT_ALGORITHMS`; `None` allows all that the key sources allow.
    pub algorithms: Option<Vec<Algorithm>>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub rules: ClaimRules,
    /// Least time between JWKS refreshes asked for by unknown `kid`s; `None`
    /// means the production value, 30 s (tests shorten it).
    pub jwks_min_refresh: Option<std::time::Duration>,
}

pub struct JwtVerifier {
    static_keys: Vec<VerificationKey>,
    issuer_configured: bool,
    jwks: Option<Arc<Jwks>>,
    validations: HashMap<Algorithm, Validation>,
    rules: ClaimRules,
    cache: Arc<TokenCache>,
}

impl JwtVerifier {
    /// Builds the verifier; with a JWKS URL, fetches it once (a failure is logged
    /// and retried in the background) and keeps it fresh. Needs a tokio runtime.
    ///
    /// # Errors
    /// When the JWKS client cannot be built.
    pub async fn new(settings: VerifierSettings) -> Result<Self, String> {
        let cache = Arc::new(TokenCache::new());
        let jwks = match settings.jwks_url {
            None => None,
            Some(url) => {
                let on_change_cache = cache.clone();
                let min_refresh = settings.jwks_min_refresh.unwrap_or(MIN_REFRESH_INTERVAL);
                let jwks = Jwks::new(url, min_refresh, Box::new(move || on_change_cache.clear()))?;
                if let Err(error) = jwks.refresh().await {
                    tracing::warn!(%error, "JWKS not available at start; retrying in the background");
                }
                jwks.spawn_background_refresh();
                Some(jwks)
            }
        };
        let mut static_keys: Vec<VerificationKey> = settings
            .hmac_secret
            .iter()
            .map(VerificationKey::hmac)
            .collect();
        static_keys.extend(settings.public_keys);

        let mut offered: Vec<Algorithm> = static_keys
            .iter()
            .flat_map(|k| k.algorithms.iter().copied())
            .collect();
        if jwks.is_some() {
            // A JWKS never supplies HMAC keys (see `VerificationKey::from_jwk`).
            offered.extend(
                SUPPORTED_ALGORITHMS
                    .iter()
                    .filter(|a| !HMAC_ALGORITHMS.contains(a)),
            );
        }
        let allowed: Vec<Algorithm> = match settings.algorithms {
            Some(list) => list.into_iter().filter(|a| offered.contains(a)).collect(),
            None => offered,
        };
        let validations = allowed
            .into_iter()
            .map(|alg| {
                (
                    alg,
                    validation(
                        alg,
                        &settings.rules,
                        settings.issuer.as_deref(),
                        settings.audience.as_deref(),
                    ),
                )
            })
            .collect();
        Ok(Self {
            static_keys,
            issuer_configured: settings.issuer.is_some(),
            jwks,
            validations,
            rules: settings.rules,
            cache,
        })
    }

    /// The keys a token with this header may have been signed with, best first:
    /// JWKS keys naming the token's `kid`, then the static keys (which match any
    /// `kid`), then — only for a token without `kid` — the other JWKS keys; all of
    /// the token's algorithm. Keys tried without a `kid` match are bounded.
    fn candidates(&self, header: &Header) -> Vec<VerificationKey> {
        let jwks_keys = self.jwks.as_ref().map(|j| j.keys()).unwrap_or_default();
        let fits = |k: &&VerificationKey| k.algorithms.contains(&header.alg);
        let named = jwks_keys
            .iter()
            .filter(|k| header.kid.is_some() && k.kid == header.kid)
            .filter(fits);
        let unnamed = jwks_keys.iter().filter(|_| header.kid.is_none());
        let guesses = self
            .static_keys
            .iter()
            .chain(unnamed)
            .filter(fits)
            .take(MAX_CANDIDATE_KEYS);
        named.chain(guesses).cloned().collect()
    }

    fn verify_uncached(&self, token: &str) -> Result<(VerifiedToken, CachedToken), TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        refuse_key_locations(&header)?;
        let validation = self
            .validations
            .get(&header.alg)
            .ok_or(TokenError::BadSignature)?;
        if let (Some(jwks), Some(kid)) = (&self.jwks, &header.kid) {
            if !jwks.keys().iter().any(|k| k.kid.as_ref() == Some(kid)) {
                // Maybe a key the Auth Manager just added: look again, without waiting.
                jwks.kick();
            }
        }
        let candidates = self.candidates(&header);
        if candidates.is_empty() {
            return Err(TokenError::BadSignature);
        }
        let mut outcome = Err(TokenError::BadSignature);
        for key in &candidates {
            match jsonwebtoken::decode::<Map<String, Value>>(
                token.as_bytes(),
                &key.decoding,
                validation,
            ) {
                Ok(data) => {
                    outcome = Ok(data.claims);
                    break;
                }
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => continue,
                Err(e) => return Err(token_error(e.kind())),
            }
        }
        let claims = outcome?;
        // RFC 7519: `iss` is one string; jsonwebtoken would also accept a list
        // that merely contains the configured issuer.
        if self.issuer_configured && !claims.get("iss").is_some_and(Value::is_string) {
            return Err(TokenError::InvalidClaim("iss".into()));
        }
        let principal = principal_from_claims(&claims, &self.rules)?;
        let numeric = |name: &str| claims.get(name).and_then(Value::as_i64);
        let cached = CachedToken {
            exp: numeric("exp").unwrap_or(0),
            nbf: numeric("nbf"),
        };
        let verified = VerifiedToken {
            principal,
            algorithm: format!("{:?}", header.alg),
            key_id: header.kid,
            claims,
        };
        Ok((verified, cached))
    }
}

fn validation(
    alg: Algorithm,
    rules: &ClaimRules,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Validation {
    let mut validation = Validation::new(alg);
    let mut required = vec!["exp"];
    validation.validate_exp = true;
    // jsonwebtoken ignores `nbf` unless asked.
    validation.validate_nbf = true;
    validation.leeway = rules.leeway_secs;
    // jsonwebtoken checks iss/aud only when the token carries them: required
    // when configured, so a token without them is refused.
    if let Some(issuer) = issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    match audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    validation
}

/// Keys are never fetched from, or embedded in, a token.
fn refuse_key_locations(header: &Header) -> Result<(), TokenError> {
    let present = [
        ("jku", header.jku.is_some()),
        ("x5u", header.x5u.is_some()),
        ("jwk", header.jwk.is_some()),
        ("x5c", header.x5c.is_some()),
        ("crit", header.crit.is_some()),
    ];
    match present.iter().find(|(_, is)| *is) {
        Some((name, _)) => Err(TokenError::ForbiddenHeader(name)),
        None => Ok(()),
    }
}

fn token_error(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName => TokenError::BadSignature,
        ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
            TokenError::InvalidClaim(claim.clone())
        }
        ErrorKind::InvalidIssuer => TokenError::InvalidClaim("iss".into()),
        ErrorKind::InvalidAudience => TokenError::InvalidClaim("aud".into()),
        _ => TokenError::Malformed,
    }
}

#[async_trait]
impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let leeway = i64::try_from(self.rules.leeway_secs).unwrap_or(i64::MAX);
        if let Some(hit) = self.cache.get(token, leeway) {
            return Ok(hit);
        }
        let generation = self.cache.generation();
        let (verified, validity) = self.verify_uncached(token)?;
        self.cache
            .insert(token, verified.clone(), validity, generation);
        Ok(verified)
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{encode, EncodingKey};
    use serde_json::json;

    use super::*;
    use crate::mint::mint_hs256;

    const SECRET: &str = "an-hmac-secret-of-at-least-32-bytes!";
    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../exsvc-testkit/fixtures");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
    }

    fn now() -> i64 {
        jsonwebtoken::get_current_timestamp() as i64
    }

    fn secret() -> HmacSecret {
        HmacSecret::new(SECRET.into()).unwrap()
    }

    async fn hmac_verifier() -> JwtVerifier {
        JwtVerifier::new(VerifierSettings {
            hmac_secret: Some(secret()),
            ..Default::default()
        })
        .await
        .unwrap()
    }

    fn mint(claims: Value) -> String {
        mint_hs256(&secret(), claims.as_object().unwrap()).unwrap()
    }

    fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
        encode(&Header::new(alg), claims, key).unwrap()
    }

    #[tokio::test]
    async fn a_valid_token_passes_and_is_cached() {
        let token = mint(
            json!({"tenant_id": "acme", "sub": "u", "exp": now() + 60, "scope": "external-service:read"}),
        );
        let v = hmac_verifier().await;
        let verified = v.verify(&token).await.unwrap();
        assert_eq!(verified.principal.tenant().as_str(), "acme");
        assert_eq!(verified.algorithm, "HS256");
        assert!(
            v.cache.get(&token, 0).is_some(),
            "the verified token is cached"
        );
        assert_eq!(v.verify(&token).await.unwrap(), verified);
    }

    #[tokio::test]
    async fn refusals() {
        let v = hmac_verifier().await;
        let cases = [
            (
                mint(json!({"tenant_id": "a"})),
                TokenError::InvalidClaim("exp".into()),
            ),
            (
                mint(json!({"tenant_id": "a", "exp": now() - 3600})),
                TokenError::Expired,
            ),
            (
                mint(json!({"tenant_id": "a", "exp": (now() + 60).to_string()})),
                TokenError::InvalidClaim("exp".into()),
            ),
            (
                mint(json!({"tenant_id": "a", "exp": now() + 60, "nbf": now() + 3600})),
                TokenError::NotYetValid,
            ),
            (
                mint(json!({"exp": now() + 60})),
                TokenError::InvalidClaim("tenant_id".into()),
            ),
        ];
        for (token, expected) in cases {
            assert_eq!(v.verify(&token).await.unwrap_err(), expected);
        }
        assert_eq!(
            v.verify("not.a.jwt").await.unwrap_err(),
            TokenError::Malformed
        );
        assert_eq!(
            v.verify(&"a".repeat(MAX_TOKEN_BYTES + 1))
                .await
                .unwrap_err(),
            TokenError::Malformed
        );
    }

    #[tokio::test]
    async fn expiry_within_the_leeway_passes() {
        let token = mint(json!({"tenant_id": "a", "exp": now() - 30}));
        assert!(hmac_verifier().await.verify(&token).await.is_ok());
    }

    #[tokio::test]
    async fn every_asymmetric_family_verifies_with_its_pem_key_only() {
        let keys = [
            "rsa-public.pem",
            "ec256-public.pem",
            "ec384-public.pem",
            "ed25519-public.pem",
        ]
        .map(|f| VerificationKey::from_pem(&fixture(f)).unwrap());
        let v = JwtVerifier::new(VerifierSettings {
            public_keys: keys.to_vec(),
            ..Default::default()
        })
        .await
        .unwrap();
        let claims = json!({"tenant_id": "a", "exp": now() + 60});
        let rsa = EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")).unwrap();
        let ec256 = EncodingKey::from_ec_pem(&fixture("ec256-private.pem")).unwrap();
        let ec384 = EncodingKey::from_ec_pem(&fixture("ec384-private.pem")).unwrap();
        let ed = EncodingKey::from_ed_pem(&fixture("ed25519-private.pem")).unwrap();
        for (alg, key) in [
            (Algorithm::RS256, &rsa),
            (Algorithm::RS512, &rsa),
            (Algorithm::PS256, &rsa),
            (Algorithm::ES256, &ec256),
            (Algorithm::ES384, &ec384),
            (Algorithm::EdDSA, &ed),
        ] {
            assert!(v.verify(&sign(alg, key, &claims)).await.is_ok(), "{alg:?}");
        }
        // No HMAC secret configured: an HS256 token cannot pass, whatever its key.
        let hs = mint(claims.clone());
        assert_eq!(v.verify(&hs).await.unwrap_err(), TokenError::BadSignature);
    }

    #[tokio::test]
    async fn the_allow_list_narrows_the_algorithms() {
        let v = JwtVerifier::new(VerifierSettings {
            hmac_secret: Some(secret()),
            public_keys: vec![VerificationKey::from_pem(&fixture("rsa-public.pem")).unwrap()],
            algorithms: Some(vec![Algorithm::RS256]),
            ..Default::default()
        })
        .await
        .unwrap();
        let claims = json!({"tenant_id": "a", "exp": now() + 60});
        assert_eq!(
            v.verify(&mint(claims.clone())).await.unwrap_err(),
            TokenError::BadSignature
        );
        let rsa = EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")).unwrap();
        assert!(v
            .verify(&sign(Algorithm::RS256, &rsa, &claims))
            .await
            .is_ok());
        assert_eq!(
            v.verify(&sign(Algorithm::PS256, &rsa, &claims))
                .await
                .unwrap_err(),
            TokenError::BadSignature
        );
    }

    #[tokio::test]
    async fn issuer_and_audience_are_required_when_configured() {
        let v = JwtVerifier::new(VerifierSettings {
            hmac_secret: Some(secret()),
            issuer: Some("https://auth.example".into()),
            audience: Some("exsvc".into()),
            ..Default::default()
        })
        .await
        .unwrap();
        let base = || json!({"tenant_id": "a", "exp": now() + 60, "iss": "https://auth.example", "aud": "exsvc"});
        assert!(v.verify(&mint(base())).await.is_ok());
        for (claim, value) in [
            ("iss", json!("https://evil.example")),
            ("aud", json!("other")),
            ("iss", Value::Null),
            ("aud", Value::Null),
        ] {
            let mut claims = base();
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(claim);
            } else {
                claims[claim] = value;
            }
            assert!(v.verify(&mint(claims)).await.is_err(), "{claim}");
        }
    }

    #[tokio::test]
    async fn key_location_headers_are_refused() {
        let v = hmac_verifier().await;
        let claims = json!({"tenant_id": "a", "exp": now() + 60});
        let key = EncodingKey::from_secret(SECRET.as_bytes());
        let mut header = Header::new(Algorithm::HS256);
        header.jku = Some("http://127.0.0.1:9/keys".into());
        assert_eq!(
            v.verify(&encode(&header, &claims, &key).unwrap())
                .await
                .unwrap_err(),
            TokenError::ForbiddenHeader("jku")
        );
        let mut header = Header::new(Algorithm::HS256);
        header.x5u = Some("http://127.0.0.1:9/cert".into());
        assert_eq!(
            v.verify(&encode(&header, &claims, &key).unwrap())
                .await
                .unwrap_err(),
            TokenError::ForbiddenHeader("x5u")
        );
    }
}
