use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::principal::Principal;

/// What a fully validated token says.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    pub principal: Principal,
    /// The signing algorithm (`alg`) and key id (`kid`) of the header.
    pub algorithm: String,
    pub key_id: Option<String>,
    /// Every claim of the payload, for diagnostics (`/debug/auth`). Never the raw
    /// token or its signature.
    pub claims: Map<String, Value>,
}

/// Why a token was refused. The message is safe to show to the caller: it names
/// the rule, never a key or the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token signature or algorithm is not accepted")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `exp` lies further ahead than the server accepts (`EXSVC_JWT_MAX_TTL_SECS`):
    /// a token meant to live for years is a leaked or forged one.
    #[error("the token expires too far in the future")]
    TooLongLived,
    /// The header asks for something never honoured (`jku`, `x5u`, `jwk`, `x5c`,
    /// `crit`): keys are never fetched from or embedded in a token.
    #[error("the token header field '{0}' is not accepted")]
    ForbiddenHeader(&'static str),
    #[error("the token claim '{0}' is missing or invalid")]
    InvalidClaim(String),
}

/// Verifies bearer tokens and maps their claims to a `Principal`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    /// # Errors
    /// A `TokenError` for every token that is not fully valid: bad signature or
    /// algorithm, missing or expired `exp`, future `nbf`, missing or invalid tenant.
    async fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError>;
}
