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
    Ok(encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.expose_bytes()),
    )?)
}
