//! `UseCaseError`: the error of every use case (catalog, vault, audit trail,
//! idempotency). HTTP status codes are chosen in the app crate; this enum only
//! says what went wrong in domain terms.

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
