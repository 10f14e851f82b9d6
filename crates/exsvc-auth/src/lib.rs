//! The `TokenVerifier` port on jsonwebtoken, and the mapping of the Auth
//! Manager's claims to a `Principal` (docs/api.md §4).
//!
//! Key sources — HMAC secrets (one unnamed, others by `kid`), PEM public key
//! files and a JWKS URL — can be
//! combined; each key verifies only the algorithms of its own family. The claim
//! rules (`claims`) do not depend on how a signature was checked.

mod cache;
mod claims;
mod hmac;
mod jwks;
mod keys;
mod mint;
mod verifier;

pub use claims::{principal_from_claims, ClaimRules, DEFAULT_MAX_TTL_SECS};
pub use hmac::{
    HmacSecret, HmacSecrets, SecretTooShort, MAX_HMAC_SECRETS, MAX_KID_CHARS, MIN_HMAC_SECRET_BYTES,
};
pub use jsonwebtoken::Algorithm;
pub use jwks::MIN_REFRESH_INTERVAL;
pub use keys::VerificationKey;
pub use mint::{mint_hs256, mint_hs256_with_kid, MintError};
pub use verifier::{JwtVerifier, VerifierSettings, MAX_TOKEN_BYTES, SUPPORTED_ALGORITHMS};
