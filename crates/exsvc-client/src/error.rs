//! The error envelope as a typed error (docs/api.md §3).

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// Every `error.code` the API answers with (docs/api.md §3). A code this
/// version of the client does not know is kept as [`ErrorCode::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    ValidationError,
    InvalidJson,
    InvalidCursor,
    BadRequest,
    Unauthorized,
    Forbidden,
    EgressDenied,
    ServiceNotFound,
    CredentialsNotFound,
    RoleNotFound,
    RoleBindingNotFound,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    ServiceAlreadyExists,
    RoleAlreadyExists,
    RoleInUse,
    IdempotencyKeyInUse,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    IdempotencyKeyReused,
    UnsupportedAuthType,
    RateLimitExceeded,
    InternalError,
    UpstreamError,
    ServiceUnavailable,
    UpstreamUnavailable,
    UpstreamTimeout,
    Other(String),
}

/// Each known code and its wire name, in the order of docs/api.md §3.
const CODES: [(ErrorCode, &str); 29] = [
    (ErrorCode::ValidationError, "VALIDATION_ERROR"),
    (ErrorCode::InvalidJson, "INVALID_JSON"),
    (ErrorCode::InvalidCursor, "INVALID_CURSOR"),
    (ErrorCode::BadRequest, "BAD_REQUEST"),
    (ErrorCode::Unauthorized, "UNAUTHORIZED"),
    (ErrorCode::Forbidden, "FORBIDDEN"),
    (ErrorCode::EgressDenied, "EGRESS_DENIED"),
    (ErrorCode::ServiceNotFound, "SERVICE_NOT_FOUND"),
    (ErrorCode::CredentialsNotFound, "CREDENTIALS_NOT_FOUND"),
    (ErrorCode::RoleNotFound, "ROLE_NOT_FOUND"),
    (ErrorCode::RoleBindingNotFound, "ROLE_BINDING_NOT_FOUND"),
    (ErrorCode::NotFound, "NOT_FOUND"),
    (ErrorCode::MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (ErrorCode::RequestTimeout, "REQUEST_TIMEOUT"),
    (ErrorCode::ServiceAlreadyExists, "SERVICE_ALREADY_EXISTS"),
    (ErrorCode::RoleAlreadyExists, "ROLE_ALREADY_EXISTS"),
    (ErrorCode::RoleInUse, "ROLE_IN_USE"),
    (ErrorCode::IdempotencyKeyInUse, "IDEMPOTENCY_KEY_IN_USE"),
    (ErrorCode::PreconditionFailed, "PRECONDITION_FAILED"),
    (ErrorCode::PayloadTooLarge, "PAYLOAD_TOO_LARGE"),
    (ErrorCode::UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (ErrorCode::IdempotencyKeyReused, "IDEMPOTENCY_KEY_REUSED"),
    (ErrorCode::UnsupportedAuthType, "UNSUPPORTED_AUTH_TYPE"),
    (ErrorCode::RateLimitExceeded, "RATE_LIMIT_EXCEEDED"),
    (ErrorCode::InternalError, "INTERNAL_ERROR"),
    (ErrorCode::UpstreamError, "UPSTREAM_ERROR"),
    (ErrorCode::ServiceUnavailable, "SERVICE_UNAVAILABLE"),
    (ErrorCode::UpstreamUnavailable, "UPSTREAM_UNAVAILABLE"),
    (ErrorCode::UpstreamTimeout, "UPSTREAM_TIMEOUT"),
];

impl ErrorCode {
    /// Every code the client knows.
    pub fn known() -> impl Iterator<Item = ErrorCode> {
        CODES.into_iter().map(|(code, _)| code)
    }

    pub fn parse(code: &str) -> ErrorCode {
        CODES
            .iter()
            .find(|(_, name)| *name == code)
            .map_or_else(|| ErrorCode::Other(code.to_owned()), |(c, _)| c.clone())
    }

    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Other(code) => code,
            known => CODES
                .iter()
                .find(|(c, _)| c == known)
                .map_or("", |(_, name)| name),
        }
    }

    /// exsvc refused and says when to come back (`Retry-After`). A 429 and
    /// a 503 `UPSTREAM_UNAVAILABLE` come before anything is done, so even a
    /// write may be sent again; a 503 `SERVICE_UNAVAILABLE` may follow a write
    /// that was stored, so the client sends only a `GET`, `HEAD` or `OPTIONS`
    /// again after it ([`crate::RetryPolicy`]).
    fn retryable(&self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimitExceeded
                | ErrorCode::ServiceUnavailable
                | ErrorCode::UpstreamUnavailable
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer of the API: its status and envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    /// `details` of the envelope: `fields` of a validation error, `required`
    /// of a 403, `upstream_status` of a 502 …
    pub details: Value,
    /// The answer's `X-Request-Id`, for the server's log.
    pub request_id: Option<String>,
    /// The answer's `Retry-After`, on a 429 or 503.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// The reason given for one field of a `VALIDATION_ERROR`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.details.get("fields")?.get(name)?.as_str()
    }

    pub(crate) fn retryable(&self) -> bool {
        self.code.retryable() && self.retry_after.is_some()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)?;
        if let Some(fields) = self.details.get("fields").and_then(Value::as_object) {
            for (field, reason) in fields {
                match reason.as_str() {
                    Some(reason) => write!(f, "; {field}: {reason}")?,
                    None => write!(f, "; {field}: {reason}")?,
                }
            }
        }
        Ok(())
    }
}

/// Why a call failed. A `url` is the request's without its query (`…?…`):
/// a proxied query is the caller's own, and may hold its secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with the error envelope.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// A status that is neither a success (2xx) nor the error envelope: not
    /// exsvc, or a proxy in front of it, a redirect among them (exsvc never
    /// redirects, and the client follows none: a 3xx means nothing was done).
    /// The body is not kept, it could hold anything; `location` is the
    /// answer's `Location`, resolved against the request, without its query.
    #[error(
        "unexpected answer {status} from {url} (not the exsvc error envelope){}",
        .location.as_ref().map(|l| format!("; it redirects to {l}")).unwrap_or_default()
    )]
    UnexpectedStatus {
        status: u16,
        url: String,
        location: Option<String>,
    },
    /// A success whose body is not what the API documents.
    #[error("cannot read the answer of {url}: {reason}")]
    Decode { url: String, reason: String },
    /// No answer within the client's timeout.
    #[error("no answer from {url} within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    /// The server could not be reached.
    #[error("cannot reach {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The token source could not give a token.
    #[error("no token: {0}")]
    Token(String),
    /// An argument the client refuses before sending anything.
    #[error("{0}")]
    InvalidInput(String),
    /// A service reference that names no service, or more than one.
    #[error("{0}")]
    Reference(String),
}

impl Error {
    /// The API's error, when the server answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(error) => Some(error.as_ref()),
            _ => None,
        }
    }

    /// The API's error code, when the server answered with one.
    pub fn code(&self) -> Option<&ErrorCode> {
        self.api().map(|e| &e.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_parses_back_to_itself_and_unknown_ones_are_kept() {
        for code in ErrorCode::known() {
            assert_eq!(ErrorCode::parse(code.as_str()), code);
            assert!(!code.as_str().is_empty());
        }
        assert_eq!(
            ErrorCode::parse("SOMETHING_NEW"),
            ErrorCode::Other("SOMETHING_NEW".into())
        );
        assert_eq!(ErrorCode::Other("X".into()).as_str(), "X");
    }

    #[test]
    fn display_names_the_code_and_each_field() {
        let error = ApiError {
            status: 400,
            code: ErrorCode::ValidationError,
            message: "invalid".into(),
            details: serde_json::json!({"fields": {"name": "is required"}}),
            request_id: None,
            retry_after: None,
        };
        assert_eq!(
            error.to_string(),
            "VALIDATION_ERROR (400): invalid; name: is required"
        );
        assert_eq!(error.field("name"), Some("is required"));
    }
}
