//! The `TokenVerifier` port on jsonwebtoken, and the mapping of the Auth
//! Manager's claims to a `Principal` (docs/api.md §4).
//!
//! Key sources — the HMAC secret, PEM public key files and a JWKS URL — can be
//! combined; each key verifies only the algorithms of its own family. The claim
//! rules (`claims`) do not depend on how a signature was checked.

mod cache;
mod claims;
mod hmac;
mod jwks;
mod keys;
mod mint;
mod verifier;

pub use claims::{principal_from_claims, ClaimRules};
pub use hmac::{HmacSecret, SecretTooShort, MIN_HMAC_SECRET_BYTES};
pub use jsonwebtoken::Algorithm;
pub use jwks::MIN_REFRESH_INTERVAL;
pub use keys::VerificationKey;
pub use mint::{mint_hs256, MintError};
pub use verifier::{JwtVerifier, VerifierSettings, MAX_TOKEN_BYTES, SUPPORTED_ALGORITHMS};
