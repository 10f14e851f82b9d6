//! The `TokenVerifier` port on jsonwebtoken, and the mapping of the Auth
//! Manager's claims to a `Principal` (SPEC §4.2).
//!
//! Key sources are pluggable (`HmacSecret` today; PEM files and JWKS grow beside
//! it): the claim rules in `claims` do not depend on how a signature was checked.

mod claims;
mod hmac;
mod mint;

pub use claims::{principal_from_claims, ClaimRules};
pub use hmac::{HmacSecret, HmacVerifier, SecretTooShort, MIN_HMAC_SECRET_BYTES};
pub use mint::{mint_hs256, MintError};
