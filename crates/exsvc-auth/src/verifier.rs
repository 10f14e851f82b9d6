//! `JwtVerifier`: the `TokenVerifier` port on jsonwebtoken, over every key
//! source at once (HMAC secrets, PEM files, JWKS), with a bounded cache of
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
use crate::hmac::{HmacSecret, HmacSecrets, MAX_HMAC_SECRETS};
use crate::jwks::{Jwks, MIN_REFRESH_INTERVAL};
use crate::keys::VerificationKey;

/// Longer tokens are refused before any parsing (real ones are well under 4 KiB).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Asymmetric keys tried for one token without a matching `kid`: bounds the
/// work a token can cause. HMAC keys are bounded by `MAX_HMAC_SECRETS` instead
/// (config refuses more), so a token without `kid` reaches every secret of a
/// rotation.
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
    /// `EXSVC_JWT_SECRET`: no `kid` of its own.
    pub hmac_secret: Option<HmacSecret>,
    /// `EXSVC_JWT_SECRETS`: a token naming one of these kids is checked with
    /// that secret only.
    pub hmac_secrets: HmacSecrets,
    pub public_keys: Vec<VerificationKey>,
    pub jwks_url: Option<String>,
    /// `EXSVC_JWT_ALGORITHMS`; `None` allows all that the key sources allow.
    pub algorithms: Option<Vec<Algorithm>>,
    /// Accepted `iss` values; empty: `iss` is not checked.
    pub issuers: Vec<String>,
    /// Accepted `aud` values (the token's must include one); empty: not checked.
    pub audiences: Vec<String>,
    pub rules: ClaimRules,
    /// Least time between JWKS refreshes asked for by unknown `kid`s; `None`
    /// means the production value, 30 s (tests shorten it).
    pub jwks_min_refresh: Option<std::time::Duration>,
}

pub struct JwtVerifier {
    /// Named HMAC keys first, then the unnamed secret, then PEM keys.
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
    /// When the JWKS client cannot be built, or more than `MAX_HMAC_SECRETS`
    /// HMAC secrets are given.
    pub async fn new(settings: VerifierSettings) -> Result<Self, String> {
        let hmac_count = settings.hmac_secrets.len() + usize::from(settings.hmac_secret.is_some());
        if hmac_count > MAX_HMAC_SECRETS {
            return Err(format!(
                "{hmac_count} HMAC secrets configured; at most {MAX_HMAC_SECRETS} are accepted"
            ));
        }
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
            .hmac_secrets
            .iter()
            .map(|(kid, secret)| VerificationKey::hmac_named(kid, secret))
            .collect();
        static_keys.extend(settings.hmac_secret.iter().map(VerificationKey::hmac));
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
                    validation(alg, &settings.rules, &settings.issuers, &settings.audiences),
                )
            })
            .collect();
        Ok(Self {
            static_keys,
            issuer_configured: !settings.issuers.is_empty(),
            jwks,
            validations,
            rules: settings.rules,
            cache,
        })
    }

    /// The keys a token with this header may have been signed with, best first:
    /// JWKS keys naming the token's `kid`, then the static keys that may serve
    /// it, then — only for a token without `kid` — the other JWKS keys; all of
    /// the token's algorithm. Keys tried without a `kid` match are bounded.
    ///
    /// A static key serves a token when (docs/security.md, "Which key"):
    /// - it is a named HMAC secret: the token names its kid, or no kid at all;
    /// - it is the unnamed secret: the token names no kid that a named secret
    ///   has (so a kid of `EXSVC_JWT_SECRETS` selects exactly one secret);
    /// - it is a PEM key: always, as before kids were configured.
    fn candidates(&self, header: &Header) -> Vec<VerificationKey> {
        let jwks_keys = self.jwks.as_ref().map(|j| j.keys()).unwrap_or_default();
        let fits = |k: &&VerificationKey| k.algorithms.contains(&header.alg);
        let named_secret_owns_kid = header.kid.as_ref().is_some_and(|kid| {
            self.static_keys
                .iter()
                .any(|k| k.is_hmac() && k.kid.as_ref() == Some(kid))
        });
        let serves = |k: &&VerificationKey| match (&k.kid, &header.kid) {
            (Some(own), Some(named)) => own == named,
            (Some(_), None) | (None, None) => true,
            (None, Some(_)) => !(k.is_hmac() && named_secret_owns_kid),
        };
        let bound = if HMAC_ALGORITHMS.contains(&header.alg) {
            MAX_HMAC_SECRETS
        } else {
            MAX_CANDIDATE_KEYS
        };
        let named = jwks_keys
            .iter()
            .filter(|k| header.kid.is_some() && k.kid == header.kid)
            .filter(fits);
        let unnamed = jwks_keys.iter().filter(|_| header.kid.is_none());
        let guesses = self
            .static_keys
            .iter()
            .filter(serves)
            .chain(unnamed)
            .filter(fits)
            .take(bound);
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
        self.refuse_long_lived(&claims)?;
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

impl JwtVerifier {
    /// jsonwebtoken checks that `exp` is not past, never how far ahead it is.
    /// The leeway allows for an issuer whose clock runs ahead of ours.
    fn refuse_long_lived(&self, claims: &Map<String, Value>) -> Result<(), TokenError> {
        let exp = claims
            .get("exp")
            .and_then(Value::as_f64)
            .ok_or_else(|| TokenError::InvalidClaim("exp".into()))?;
        let latest = jsonwebtoken::get_current_timestamp()
            .saturating_add(self.rules.max_ttl_secs)
            .saturating_add(self.rules.leeway_secs);
        // u64 → f64 loses nothing at timestamps of this size (< 2^53).
        if exp > latest as f64 {
            return Err(TokenError::TooLongLived);
        }
        Ok(())
    }
}

fn validation(
    alg: Algorithm,
    rules: &ClaimRules,
    issuers: &[String],
    audiences: &[String],
) -> Validation {
    let mut validation = Validation::new(alg);
    let mut required = vec!["exp"];
    validation.validate_exp = true;
    // jsonwebtoken ignores `nbf` unless asked.
    validation.validate_nbf = true;
    validation.leeway = rules.leeway_secs;
    // jsonwebtoken checks iss/aud only when the token carries them: required
    // when configured, so a token without them is refused.
    if !issuers.is_empty() {
        validation.set_issuer(issuers);
        required.push("iss");
    }
    if audiences.is_empty() {
        validation.validate_aud = false;
    } else {
        validation.set_audience(audiences);
        required.push("aud");
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
    use crate::mint::{mint_hs256, mint_hs256_with_kid};

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
            issuers: vec!["https://auth.example".into()],
            audiences: vec!["exsvc".into()],
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

    const DEFAULT_SECRET: &str = "the-auth-managers-default-secret-0001";
    const SDK_SECRET: &str = "the-auth-managers-sdk-agent-secret-02";

    fn named(pairs: &[(&str, &str)]) -> HmacSecrets {
        HmacSecrets::from_pairs(
            pairs
                .iter()
                .map(|(kid, s)| ((*kid).to_owned(), HmacSecret::new((*s).into()).unwrap()))
                .collect(),
        )
        .unwrap()
    }

    fn sign_kid(secret: &str, kid: Option<&str>, claims: Value) -> String {
        let secret = HmacSecret::new(secret.into()).unwrap();
        mint_hs256_with_kid(&secret, kid, claims.as_object().unwrap()).unwrap()
    }

    /// The Auth Manager's two kids, and optionally the unnamed secret.
    async fn rotating_verifier(unnamed: bool) -> JwtVerifier {
        JwtVerifier::new(VerifierSettings {
            hmac_secret: unnamed.then(secret),
            hmac_secrets: named(&[("default", DEFAULT_SECRET), ("sdk-agent", SDK_SECRET)]),
            ..Default::default()
        })
        .await
        .unwrap()
    }

    fn claims() -> Value {
        json!({"tenant_id": "a", "sub": "u", "exp": now() + 300})
    }

    #[tokio::test]
    async fn a_kid_selects_its_secret_and_only_it() {
        let v = rotating_verifier(true).await;
        let ok = v
            .verify(&sign_kid(SDK_SECRET, Some("sdk-agent"), claims()))
            .await
            .unwrap();
        assert_eq!(ok.key_id.as_deref(), Some("sdk-agent"));
        assert!(v
            .verify(&sign_kid(DEFAULT_SECRET, Some("default"), claims()))
            .await
            .is_ok());
        // Each of these secrets is trusted, but not for the kid the header names.
        for (secret, kid) in [
            (SDK_SECRET, "default"),
            (DEFAULT_SECRET, "sdk-agent"),
            (SECRET, "default"),
        ] {
            assert_eq!(
                v.verify(&sign_kid(secret, Some(kid), claims()))
                    .await
                    .unwrap_err(),
                TokenError::BadSignature,
                "{kid}"
            );
        }
    }

    #[tokio::test]
    async fn without_kid_every_secret_is_tried_in_turn() {
        let v = rotating_verifier(true).await;
        for secret in [DEFAULT_SECRET, SDK_SECRET, SECRET] {
            let verified = v.verify(&sign_kid(secret, None, claims())).await.unwrap();
            assert_eq!(verified.key_id, None);
        }
        assert_eq!(
            v.verify(&sign_kid(
                "a-secret-nobody-here-has-ever-trusted",
                None,
                claims()
            ))
            .await
            .unwrap_err(),
            TokenError::BadSignature
        );
    }

    #[tokio::test]
    async fn an_unknown_kid_falls_back_to_the_unnamed_secret_only() {
        let with_unnamed = rotating_verifier(true).await;
        assert!(with_unnamed
            .verify(&sign_kid(SECRET, Some("legacy"), claims()))
            .await
            .is_ok());
        for secret in [DEFAULT_SECRET, SDK_SECRET] {
            assert_eq!(
                with_unnamed
                    .verify(&sign_kid(secret, Some("legacy"), claims()))
                    .await
                    .unwrap_err(),
                TokenError::BadSignature
            );
        }
        let named_only = rotating_verifier(false).await;
        assert_eq!(
            named_only
                .verify(&sign_kid(DEFAULT_SECRET, Some("unknown"), claims()))
                .await
                .unwrap_err(),
            TokenError::BadSignature
        );
    }

    #[tokio::test]
    async fn a_pem_key_still_serves_any_kid_beside_named_secrets() {
        let v = JwtVerifier::new(VerifierSettings {
            hmac_secrets: named(&[("default", DEFAULT_SECRET)]),
            public_keys: vec![VerificationKey::from_pem(&fixture("rsa-public.pem")).unwrap()],
            ..Default::default()
        })
        .await
        .unwrap();
        let rsa = EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")).unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("default".into());
        assert!(v
            .verify(&encode(&header, &claims(), &rsa).unwrap())
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn too_many_hmac_secrets_are_refused() {
        let pairs: Vec<(String, &str)> = (0..MAX_HMAC_SECRETS)
            .map(|i| (format!("k{i}"), DEFAULT_SECRET))
            .collect();
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, s)| (k.as_str(), *s)).collect();
        let error = JwtVerifier::new(VerifierSettings {
            hmac_secret: Some(secret()),
            hmac_secrets: named(&pairs),
            ..Default::default()
        })
        .await
        .err()
        .unwrap();
        assert!(error.contains("at most"), "{error}");
        assert!(!error.contains(DEFAULT_SECRET));
        // The largest accepted set: a token without kid reaches the last one.
        let v = JwtVerifier::new(VerifierSettings {
            hmac_secrets: named(&pairs),
            ..Default::default()
        })
        .await
        .unwrap();
        assert!(v
            .verify(&sign_kid(DEFAULT_SECRET, None, claims()))
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn several_issuers_and_audiences_are_accepted() {
        let v = JwtVerifier::new(VerifierSettings {
            hmac_secret: Some(secret()),
            issuers: vec![
                "authsec-ai/auth-manager".into(),
                "authsec-ai/user-flow".into(),
            ],
            audiences: vec!["exsvc".into(), "external-service".into()],
            ..Default::default()
        })
        .await
        .unwrap();
        let token = |iss: Value, aud: Value| {
            let mut claims = claims();
            claims["iss"] = iss;
            claims["aud"] = aud;
            mint(claims)
        };
        for (iss, aud) in [
            (json!("authsec-ai/auth-manager"), json!("exsvc")),
            (json!("authsec-ai/user-flow"), json!("external-service")),
            (json!("authsec-ai/user-flow"), json!(["other", "exsvc"])),
        ] {
            assert!(
                v.verify(&token(iss.clone(), aud.clone())).await.is_ok(),
                "{iss} {aud}"
            );
        }
        for (iss, aud, claim) in [
            (json!("authsec-ai/other-flow"), json!("exsvc"), "iss"),
            (json!("authsec-ai/auth-manager"), json!("billing"), "aud"),
            (json!(["authsec-ai/auth-manager"]), json!("exsvc"), "iss"),
        ] {
            assert_eq!(
                v.verify(&token(iss.clone(), aud)).await.unwrap_err(),
                TokenError::InvalidClaim(claim.into()),
                "{iss}"
            );
        }
    }

    #[tokio::test]
    async fn exp_may_not_lie_beyond_the_max_ttl() {
        let v = JwtVerifier::new(VerifierSettings {
            hmac_secret: Some(secret()),
            rules: ClaimRules {
                max_ttl_secs: 3600,
                leeway_secs: 60,
                ..ClaimRules::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
        let at = |exp: Value| mint(json!({"tenant_id": "a", "exp": exp}));
        assert!(v.verify(&at(json!(now() + 3600))).await.is_ok());
        // Within the leeway of the bound: an issuer's clock a little ahead.
        assert!(v.verify(&at(json!(now() + 3630))).await.is_ok());
        for exp in [
            json!(now() + 3600 + 120),
            json!(now() + 10 * 365 * 86_400),
            json!(1e15),
        ] {
            let token = at(exp.clone());
            assert_eq!(
                v.verify(&token).await.unwrap_err(),
                TokenError::TooLongLived,
                "{exp}"
            );
            assert!(v.cache.get(&token, 0).is_none(), "never cached as valid");
        }
        // The default bound is 31 days.
        let default = hmac_verifier().await;
        assert!(default
            .verify(&at(json!(now() + 30 * 86_400)))
            .await
            .is_ok());
        assert_eq!(
            default
                .verify(&at(json!(now() + 32 * 86_400)))
                .await
                .unwrap_err(),
            TokenError::TooLongLived
        );
    }

    #[tokio::test]
    async fn kid_forms_are_cached_each_under_their_own_token() {
        let v = rotating_verifier(false).await;
        let payload = claims();
        let good = sign_kid(SDK_SECRET, Some("sdk-agent"), payload.clone());
        v.verify(&good).await.unwrap();
        assert!(v.cache.get(&good, 0).is_some());
        // Same payload and signature under a header naming another kid: another
        // cache key, and refused.
        let (_, rest) = good.split_once('.').unwrap();
        let other = sign_kid(SDK_SECRET, Some("default"), payload);
        let (other_header, _) = other.split_once('.').unwrap();
        let relabelled = format!("{other_header}.{rest}");
        assert_eq!(
            v.verify(&relabelled).await.unwrap_err(),
            TokenError::BadSignature
        );
        assert!(v.cache.get(&relabelled, 0).is_none());
        // A refused token leaves nothing behind to be served later.
        let wrong = sign_kid(DEFAULT_SECRET, Some("sdk-agent"), claims());
        assert!(v.verify(&wrong).await.is_err());
        assert!(v.cache.get(&wrong, 0).is_none());
        let expired = sign_kid(
            SDK_SECRET,
            Some("sdk-agent"),
            json!({"tenant_id": "a", "exp": now() - 3600}),
        );
        assert_eq!(v.verify(&expired).await.unwrap_err(), TokenError::Expired);
        let early = sign_kid(
            SDK_SECRET,
            Some("sdk-agent"),
            json!({"tenant_id": "a", "exp": now() + 7200, "nbf": now() + 3600}),
        );
        assert_eq!(v.verify(&early).await.unwrap_err(), TokenError::NotYetValid);
    }

    /// The examples of docs/security.md ("The Auth Manager's token forms"),
    /// through the real verifier. `cargo test -p exsvc-auth auth_manager_forms
    /// -- --nocapture` prints each header, payload and outcome.
    #[tokio::test]
    async fn auth_manager_forms_as_documented() {
        let v = JwtVerifier::new(VerifierSettings {
            hmac_secrets: named(&[("default", DEFAULT_SECRET), ("sdk-agent", SDK_SECRET)]),
            issuers: vec![
                "authsec-ai/auth-manager".into(),
                "authsec-ai/user-flow".into(),
            ],
            audiences: vec!["exsvc".into()],
            ..Default::default()
        })
        .await
        .unwrap();
        let iat = now();
        let exp = iat + 3600;
        /// kid, secret, payload, and the tenant, actor and permissions expected.
        type Form<'a> = (
            Option<&'a str>,
            &'a str,
            Value,
            &'a str,
            &'a str,
            Vec<&'a str>,
        );
        let forms: Vec<Form> = vec![
            (
                Some("default"),
                DEFAULT_SECRET,
                json!({"iss": "authsec-ai/auth-manager", "aud": "exsvc", "sub": "user-42",
                       "tenant_id": "acme", "scope": "external-service:read external-service:create billing:read",
                       "iat": iat, "exp": exp}),
                "acme",
                "user-42",
                vec!["external-service:read", "external-service:create"],
            ),
            (
                Some("default"),
                DEFAULT_SECRET,
                json!({"iss": "authsec-ai/user-flow", "aud": ["exsvc", "billing"], "sub": "user-42",
                       "workspace_id": "ws-7", "scope": ["external-service:read", "external-service:use"],
                       "iat": iat, "exp": exp}),
                "ws-7",
                "user-42",
                vec!["external-service:read", "external-service:use"],
            ),
            (
                Some("default"),
                DEFAULT_SECRET,
                json!({"iss": "authsec-ai/auth-manager", "aud": "exsvc", "sub": "user-42",
                       "tenant_id": "acme", "perms": {"allow": ["external-service:audit", "billing:write"]},
                       "iat": iat, "exp": exp}),
                "acme",
                "user-42",
                vec!["external-service:audit"],
            ),
            (
                Some("sdk-agent"),
                SDK_SECRET,
                json!({"iss": "authsec-ai/auth-manager", "aud": "exsvc", "client_id": "sdk-billing-worker",
                       "workspace_id": "ws-7",
                       "perms": [{"r": "external-service", "a": ["read", "use"]}, {"r": "billing", "a": ["read"]}],
                       "iat": iat, "exp": exp}),
                "ws-7",
                "sdk-billing-worker",
                vec!["external-service:read", "external-service:use"],
            ),
            (
                None,
                SDK_SECRET,
                json!({"iss": "authsec-ai/auth-manager", "aud": "exsvc", "client_id": "sdk-reader",
                       "tenant_id": "acme", "permissions": ["*:read", "*:credentials"],
                       "iat": iat, "exp": exp}),
                "acme",
                "sdk-reader",
                vec!["external-service:read", "external-service:credentials"],
            ),
            (
                Some("sdk-agent"),
                SDK_SECRET,
                json!({"iss": "authsec-ai/user-flow", "aud": "exsvc", "sub": "ops-1", "tenant_id": "acme",
                       "perms": [{"r": "external-service", "a": ["*"]}], "iat": iat, "exp": exp}),
                "acme",
                "ops-1",
                vec![
                    "external-service:read",
                    "external-service:create",
                    "external-service:update",
                    "external-service:delete",
                    "external-service:credentials",
                    "external-service:audit",
                    "external-service:use",
                    "external-service:access",
                ],
            ),
        ];
        for (kid, secret, payload, tenant, actor, permissions) in forms {
            let token = sign_kid(secret, kid, payload.clone());
            let verified = v.verify(&token).await.unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            let mut shown = json!({"alg": "HS256", "typ": header.typ});
            if let Some(kid) = header.kid {
                shown["kid"] = json!(kid);
            }
            let granted: Vec<&str> = verified
                .principal
                .permissions()
                .map(|p| p.as_str())
                .collect();
            println!(
                "header  {}\npayload {}\n=> tenant {}, actor {}, permissions {:?}\n",
                shown,
                payload,
                verified.principal.tenant(),
                verified.principal.actor(),
                granted
            );
            assert_eq!(verified.principal.tenant().as_str(), tenant);
            assert_eq!(verified.principal.actor(), actor);
            assert_eq!(granted, permissions, "{payload}");
        }
    }
}
