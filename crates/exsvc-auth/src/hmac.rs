//! HS256/384/512 verification with a shared secret.

use async_trait::async_trait;
use exsvc_domain::ports::{TokenError, TokenVerifier, VerifiedToken};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::claims::{principal_from_claims, ClaimRules};

/// jsonwebtoken accepts even an empty HMAC key; a short one is guessable offline.
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the HMAC secret must be at least {MIN_HMAC_SECRET_BYTES} bytes, got {0}")]
pub struct SecretTooShort(pub usize);

/// A shared HMAC secret of at least 32 bytes. `Debug` prints `[REDACTED]`.
#[derive(Clone)]
pub struct HmacSecret(SecretString);

impl HmacSecret {
    /// # Errors
    /// `SecretTooShort` under 32 bytes.
    pub fn new(secret: SecretString) -> Result<Self, SecretTooShort> {
        let len = secret.expose_secret().len();
        if len < MIN_HMAC_SECRET_BYTES {
            return Err(SecretTooShort(len));
        }
        Ok(Self(secret))
    }

    pub fn expose_bytes(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

impl std::fmt::Debug for HmacSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSecret([REDACTED])")
    }
}

/// Verifies HMAC-signed tokens and applies the claim rules.
pub struct HmacVerifier {
    key: DecodingKey,
    validation: Validation,
    rules: ClaimRules,
}

impl HmacVerifier {
    pub fn new(secret: &HmacSecret, rules: ClaimRules) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_exp = true;
        // jsonwebtoken ignores `nbf` unless asked.
        validation.validate_nbf = true;
        validation.leeway = rules.leeway_secs;
        // `aud` is checked only when a deployment configures an audience.
        validation.validate_aud = false;
        Self {
            key: DecodingKey::from_secret(secret.expose_bytes()),
            validation,
            rules,
        }
    }
}

fn token_error(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName => TokenError::BadSignature,
        ErrorKind::MissingRequiredClaim(claim) => TokenError::InvalidClaim(claim.clone()),
        ErrorKind::InvalidClaimFormat(claim) => TokenError::InvalidClaim(claim.clone()),
        _ => TokenError::Malformed,
    }
}

#[async_trait]
impl TokenVerifier for HmacVerifier {
    async fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let data = jsonwebtoken::decode::<Map<String, Value>>(
            token.as_bytes(),
            &self.key,
            &self.validation,
        )
        .map_err(|e| token_error(e.kind()))?;
        let principal = principal_from_claims(&data.claims, &self.rules)?;
        Ok(VerifiedToken {
            principal,
            claims: data.claims,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mint::mint_hs256;
    use serde_json::json;

    const SECRET: &str = "an-hmac-secret-of-at-least-32-bytes!";

    fn verifier() -> HmacVerifier {
        HmacVerifier::new(
            &HmacSecret::new(SECRET.into()).unwrap(),
            ClaimRules::default(),
        )
    }

    fn now() -> i64 {
        jsonwebtoken::get_current_timestamp() as i64
    }

    fn mint(claims: Value) -> String {
        mint_hs256(
            &HmacSecret::new(SECRET.into()).unwrap(),
            claims.as_object().unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn short_secrets_are_refused_and_debug_is_redacted() {
        assert_eq!(
            HmacSecret::new("x".repeat(31).into()).unwrap_err(),
            SecretTooShort(31)
        );
        let secret = HmacSecret::new(SECRET.into()).unwrap();
        assert!(!format!("{secret:?}").contains("hmac-secret"));
    }

    #[tokio::test]
    async fn a_valid_token_passes() {
        let token = mint(
            json!({"tenant_id": "acme", "sub": "u", "exp": now() + 60, "scope": "external-service:read"}),
        );
        let verified = verifier().verify(&token).await.unwrap();
        assert_eq!(verified.principal.tenant().as_str(), "acme");
        assert!(verified.principal.has(exsvc_domain::Permission::Read));
    }

    #[tokio::test]
    async fn refusals() {
        let v = verifier();
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
        let other_key = mint_hs256(
            &HmacSecret::new("another-secret-that-is-32-bytes-long".into()).unwrap(),
            json!({"tenant_id": "a", "exp": now() + 60})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            v.verify(&other_key).await.unwrap_err(),
            TokenError::BadSignature
        );
        assert_eq!(
            v.verify("not.a.jwt").await.unwrap_err(),
            TokenError::Malformed
        );
        assert_eq!(v.verify("").await.unwrap_err(), TokenError::Malformed);
    }

    #[tokio::test]
    async fn expiry_within_the_leeway_passes() {
        let token = mint(json!({"tenant_id": "a", "exp": now() - 30}));
        assert!(verifier().verify(&token).await.is_ok());
    }
}
