//! Verification keys and where they come from: the HMAC secret, PEM public key
//! files, JWKS documents. A key carries the algorithms of its own family only,
//! so an RSA public key can never be used as an HMAC secret.

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::hmac::HmacSecret;

const HMAC: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
const RSA: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// DER encodings of the named-curve OIDs in an EC SubjectPublicKeyInfo.
const P256_OID: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_OID: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// One key a token may be verified with.
#[derive(Clone)]
pub struct VerificationKey {
    /// The JWKS or `EXSVC_JWT_SECRETS` `kid`; other static keys have none and
    /// match any `kid` (see `JwtVerifier::candidates`).
    pub kid: Option<String>,
    pub algorithms: Vec<Algorithm>,
    pub decoding: DecodingKey,
    /// What the key is (for JWKS keys, the JWK itself), so a key replaced under
    /// the same `kid` is noticed.
    pub fingerprint: String,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl VerificationKey {
    pub fn hmac(secret: &HmacSecret) -> Self {
        Self {
            kid: None,
            algorithms: HMAC.to_vec(),
            decoding: DecodingKey::from_secret(secret.expose_bytes()),
            fingerprint: "hmac".into(),
        }
    }

    /// An `EXSVC_JWT_SECRETS` entry: a token naming `kid` is checked with this
    /// key only.
    pub fn hmac_named(kid: &str, secret: &HmacSecret) -> Self {
        Self {
            kid: Some(kid.to_owned()),
            ..Self::hmac(secret)
        }
    }

    pub fn is_hmac(&self) -> bool {
        self.algorithms.iter().all(|a| HMAC.contains(a))
    }

    /// A PEM public key: RSA (RS*/PS*), EC P-256 (ES256) or P-384 (ES384), or
    /// Ed25519 (EdDSA).
    ///
    /// # Errors
    /// A file that is not one of those public keys.
    pub fn from_pem(pem_text: &[u8]) -> Result<Self, String> {
        let parsed = pem::parse(pem_text).map_err(|e| format!("not a PEM file: {e}"))?;
        if parsed.tag().contains("PRIVATE") {
            return Err("holds a private key; give the public key".into());
        }
        if let Ok(decoding) = DecodingKey::from_rsa_pem(pem_text) {
            return Ok(Self {
                kid: None,
                algorithms: RSA.to_vec(),
                decoding,
                fingerprint: pem_fingerprint(&parsed),
            });
        }
        if let Ok(decoding) = DecodingKey::from_ec_pem(pem_text) {
            let der = parsed.contents();
            let algorithm = if contains(der, &P256_OID) {
                Algorithm::ES256
            } else if contains(der, &P384_OID) {
                Algorithm::ES384
            } else {
                return Err("is an EC key on a curve other than P-256 or P-384".into());
            };
            return Ok(Self {
                kid: None,
                algorithms: vec![algorithm],
                decoding,
                fingerprint: pem_fingerprint(&parsed),
            });
        }
        if let Ok(decoding) = DecodingKey::from_ed_pem(pem_text) {
            return Ok(Self {
                kid: None,
                algorithms: vec![Algorithm::EdDSA],
                decoding,
                fingerprint: pem_fingerprint(&parsed),
            });
        }
        Err("is not an RSA, EC (P-256/P-384) or Ed25519 public key".into())
    }

    /// A JWKS entry usable for signatures; `None` for keys we never accept from a
    /// URL (symmetric `oct` keys, encryption keys, unknown types and curves).
    pub fn from_jwk(jwk: &Jwk) -> Option<Self> {
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            return None;
        }
        let family: Vec<Algorithm> = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => RSA.to_vec(),
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => vec![Algorithm::ES256],
                EllipticCurve::P384 => vec![Algorithm::ES384],
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                vec![Algorithm::EdDSA]
            }
            _ => return None,
        };
        // A key that names its algorithm is used with that one only.
        let algorithms = match jwk.common.key_algorithm.and_then(signing_algorithm) {
            Some(named) if family.contains(&named) => vec![named],
            Some(_) => return None,
            None if jwk.common.key_algorithm.is_some() => return None,
            None => family,
        };
        let decoding = DecodingKey::from_jwk(jwk).ok()?;
        let fingerprint = serde_json::to_string(jwk).ok()?;
        Some(Self {
            kid: jwk.common.key_id.clone(),
            algorithms,
            decoding,
            fingerprint,
        })
    }
}

/// The usable keys of a JWKS document.
///
/// # Errors
/// A document that is not a JWKS.
pub fn keys_from_jwks(json: &[u8]) -> Result<Vec<VerificationKey>, String> {
    let set: JwkSet =
        serde_json::from_slice(json).map_err(|e| format!("not a JWKS document: {e}"))?;
    Ok(set
        .keys
        .iter()
        .filter_map(VerificationKey::from_jwk)
        .collect())
}

fn signing_algorithm(named: KeyAlgorithm) -> Option<Algorithm> {
    Some(match named {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

fn pem_fingerprint(parsed: &pem::Pem) -> String {
    parsed
        .contents()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../exsvc-testkit/fixtures");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
    }

    #[test]
    fn pem_keys_get_their_own_family_only() {
        assert_eq!(
            VerificationKey::from_pem(&fixture("rsa-public.pem"))
                .unwrap()
                .algorithms,
            RSA.to_vec()
        );
        assert_eq!(
            VerificationKey::from_pem(&fixture("ec256-public.pem"))
                .unwrap()
                .algorithms,
            [Algorithm::ES256]
        );
        assert_eq!(
            VerificationKey::from_pem(&fixture("ec384-public.pem"))
                .unwrap()
                .algorithms,
            [Algorithm::ES384]
        );
        assert_eq!(
            VerificationKey::from_pem(&fixture("ed25519-public.pem"))
                .unwrap()
                .algorithms,
            [Algorithm::EdDSA]
        );
    }

    #[test]
    fn private_keys_and_garbage_are_refused() {
        assert!(VerificationKey::from_pem(&fixture("rsa-private.pem"))
            .unwrap_err()
            .contains("private"));
        assert!(VerificationKey::from_pem(b"not pem").is_err());
        assert!(VerificationKey::from_pem(
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
        )
        .is_err());
    }

    #[test]
    fn jwks_never_yields_symmetric_or_encryption_keys() {
        let doc = serde_json::json!({"keys": [
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "mislabelled", "alg": "RS256", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
        ]});
        let keys = keys_from_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("ed"));
        assert_eq!(keys[0].algorithms, [Algorithm::EdDSA]);
        assert!(keys_from_jwks(b"{}").is_err());
    }
}
