//! Minting HS256 tokens: a development and test tool (`exsvc token`, the test
//! suite). Production tokens come from the Auth Manager.

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{Map, Value};

use crate::hmac::HmacSecret;

#[derive(Debug, thiserror::Error)]
#[error("cannot sign the token: {0}")]
pub struct MintError(#[from] jsonwebtoken::errors::Error);

/// Signs `claims` with HS256.
///
/// # Errors
/// Only if the claims cannot be serialized.
pub fn mint_hs256(secret: &HmacSecret, claims: &Map<String, Value>) -> Result<String, MintError> {
    mint_hs256_with_kid(secret, None, claims)
}

/// Signs `claims` with HS256, naming `kid` in the header when given (the
/// Auth Manager's form for an `EXSVC_JWT_SECRETS` entry).
///
/// # Errors
/// Only if the claims cannot be serialized.
pub fn mint_hs256_with_kid(
    secret: &HmacSecret,
    kid: Option<&str>,
    claims: &Map<String, Value>,
) -> Result<String, MintError> {
    let header = Header {
        kid: kid.map(str::to_owned),
        ..Header::default()
    };
    Ok(encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.expose_bytes()),
    )?)
}
