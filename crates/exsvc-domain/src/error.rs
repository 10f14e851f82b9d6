//! `UseCaseError`: the error of every use case (catalog, vault, audit trail,
//! idempotency). HTTP status codes are chosen in the app crate; this enum only
//! says what went wrong in domain terms.

use crate::credential::AuthType;
use crate::ports::EgressError;
use crate::principal::Permission;
use crate::validation::FieldErrors;

#[derive(Debug, thiserror::Error)]
pub enum UseCaseError {
    /// The service does not exist in the caller's tenant (it may exist in another
    /// one: that must never be revealed).
    #[error("Service with ID '{0}' not found")]
    NotFound(String),
    #[error("Service '{0}' has no credentials")]
    CredentialsNotFound(String),
    #[error("A service named '{0}' already exists")]
    AlreadyExists(String),
    #[error("Role '{0}' not found")]
    RoleNotFound(String),
    #[error("Role binding '{0}' not found")]
    BindingNotFound(String),
    #[error("A role named '{0}' already exists")]
    RoleAlreadyExists(String),
    #[error("Role '{0}' is named by a role binding; delete the bindings first")]
    RoleInUse(String),
    #[error("{0}")]
    Validation(FieldErrors),
    #[error("The cursor is not one this server issued")]
    InvalidCursor,
    #[error("The resource has changed since the version named in If-Match")]
    PreconditionFailed,
    #[error("Missing permission '{}'", .0.as_str())]
    Forbidden(Permission),
    /// The `Idempotency-Key` was used before with another request.
    #[error("The Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still running.
    #[error("A request with this Idempotency-Key is still in progress")]
    IdempotencyKeyInUse,
    /// The credential's type cannot be used this way (docs/api.md §10).
    #[error("Credentials of type '{}' cannot be used for {purpose}", auth_type.as_str())]
    UnsupportedAuthType {
        auth_type: AuthType,
        purpose: &'static str,
    },
    /// A stored value of the credential cannot go into a request (a header
    /// value with a line break, say).
    #[error("The stored credential of type '{}' cannot be sent in an HTTP request", .0.as_str())]
    CredentialUnusable(AuthType),
    /// exsvc could not get an answer from the upstream (docs/api.md §10.3).
    #[error("{0}")]
    Egress(EgressError),
    /// The token endpoint answered without a token (docs/api.md §10.1).
    #[error("The token endpoint answered {status} without a token")]
    TokenRefused {
        status: u16,
        oauth_error: Option<String>,
    },
    #[error("The data store is unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<FieldErrors> for UseCaseError {
    fn from(errors: FieldErrors) -> Self {
        UseCaseError::Validation(errors)
    }
}
