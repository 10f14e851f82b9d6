//! `ApiError`: the one place that knows HTTP status codes and the error envelope
//! of docs/api.md §3. Every error of every layer ends up here.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use exsvc_domain::ports::{EgressError, TokenError};
use exsvc_domain::validation::FieldErrors;
use exsvc_domain::{Permission, UseCaseError};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_UNAVAILABLE_SECS: u32 = 1;

/// Seconds a client should wait before retrying while the first request with
/// its `Idempotency-Key` runs: requests take milliseconds, so this is one poll.
const RETRY_AFTER_KEY_IN_USE_SECS: u32 = 1;

/// The error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

/// (Each response documents its own example envelopes, one per code.)
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code such as `SERVICE_NOT_FOUND`.
    pub code: &'static str,
    /// A human-readable explanation; never SQL, driver text or a stack trace.
    pub message: String,
    /// Structured detail: `fields` for validation errors, `required` for 403.
    #[schema(schema_with = crate::openapi::any_object)]
    pub details: Map<String, Value>,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Map<String, Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Close the connection after this answer (the request's body is unread).
    close_connection: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Map::new(),
            headers: Vec::new(),
            close_connection: false,
        }
    }

    fn with_detail(mut self, key: &str, value: Value) -> Self {
        self.details.insert(key.to_owned(), value);
        self
    }

    fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Carries the request id, for errors rendered outside the middleware.
    pub fn with_request_id(self, id: &str) -> Self {
        match HeaderValue::from_str(id) {
            Ok(value) => self.with_header(crate::headers::REQUEST_ID, value),
            Err(_) => self,
        }
    }

    pub fn validation(fields: &FieldErrors) -> Self {
        let fields: Map<String, Value> = fields
            .iter()
            .map(|(k, v)| (k.to_owned(), Value::from(v)))
            .collect();
        Self::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "The request is invalid",
        )
        .with_detail("fields", Value::Object(fields))
    }

    pub fn invalid_json(reason: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            format!("The request body is not valid JSON: {reason}"),
        )
    }

    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", "No such route")
    }

    /// 405 naming the methods the path serves (`allow`, e.g. `GET, HEAD, POST`).
    pub fn method_not_allowed(allow: &str) -> Self {
        let error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("This route serves {allow}"),
        );
        match HeaderValue::from_str(allow) {
            Ok(value) => error.with_header(header::ALLOW, value),
            Err(_) => error,
        }
    }

    /// 408 for a body that did not arrive within `EXSVC_BODY_TIMEOUT_MS`. The
    /// connection is closed: the rest of the body may still be on its way.
    pub fn request_timeout(waited: std::time::Duration) -> Self {
        let mut error = Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            format!(
                "The request body did not arrive within {} ms",
                waited.as_millis()
            ),
        );
        error.close_connection = true;
        error
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("The request body exceeds {} KiB", limit / 1024),
        )
    }

    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("The request body must be sent as {expected}"),
        )
    }

    /// 401 when no bearer token was sent.
    pub fn missing_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "A bearer token is required",
        )
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    /// 401 for a request that sends more than one `Authorization` header: which
    /// one counts would be a guess (RFC 6750 §3.1 `invalid_request`).
    pub fn ambiguous_authorization() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Send exactly one Authorization header",
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_request\""),
        )
    }

    /// 401 when a token was sent and refused.
    pub fn invalid_token(reason: &TokenError) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            format!("Invalid bearer token: {reason}"),
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        )
    }

    pub fn forbidden(required: Permission) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            format!("This action requires the permission '{required}'"),
        )
        .with_detail("required", Value::from(required.as_str()))
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
        )
    }

    /// 429, retry after `retry_after_secs` (at least 1).
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMIT_EXCEEDED",
            "Too many requests; retry later",
        )
        .with_header(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after_secs.max(1)),
        )
    }

    /// Carries the rate-limit headers of `decision`.
    pub fn with_rate_limit(mut self, decision: &exsvc_domain::ports::RateLimitDecision) -> Self {
        self.headers
            .extend(crate::headers::rate_limit_headers(decision));
        self
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "An internal error occurred",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "The service is temporarily unavailable",
        )
        .with_header(
            header::RETRY_AFTER,
            HeaderValue::from(RETRY_AFTER_UNAVAILABLE_SECS),
        )
    }

    /// exsvc could not get an answer from upstream (docs/api.md §10.3).
    fn egress(error: &EgressError) -> Self {
        let (status, code) = match error {
            EgressError::Denied { .. } => (StatusCode::FORBIDDEN, "EGRESS_DENIED"),
            EgressError::RequestBody => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            EgressError::ConnectTimeout | EgressError::ResponseTimeout => {
                (StatusCode::GATEWAY_TIMEOUT, "UPSTREAM_TIMEOUT")
            }
            EgressError::CircuitOpen { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "UPSTREAM_UNAVAILABLE")
            }
            EgressError::Dns
            | EgressError::ConnectionRefused
            | EgressError::Tls
            | EgressError::Unreachable => (StatusCode::BAD_GATEWAY, "UPSTREAM_ERROR"),
        };
        let answer = Self::new(status, code, error.to_string())
            .with_detail("proxy_status", Value::from(error.proxy_status_type()));
        match error {
            EgressError::CircuitOpen { retry_after } => answer.with_header(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs().max(1)),
            ),
            _ => answer,
        }
    }

    /// Adds a header (the proxy's `Proxy-Status`).
    pub fn with_extra_header(self, name: HeaderName, value: HeaderValue) -> Self {
        self.with_header(name, value)
    }

    /// A request the HTTP layer refuses (docs/api.md §3): 400, 414 or 431,
    /// code `BAD_REQUEST`.
    pub fn http_layer(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, "BAD_REQUEST", message)
    }

    /// The envelope as JSON bytes, for answers written outside actix-web.
    pub fn envelope_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.envelope()).unwrap_or_default()
    }

    fn envelope(&self) -> ErrorResponse {
        ErrorResponse {
            error: ErrorBody {
                code: self.code,
                message: self.message.clone(),
                details: self.details.clone(),
            },
        }
    }

    /// The envelope for a response some other layer produced without one: its
    /// status is kept, its body replaced.
    pub fn for_status(status: StatusCode) -> Self {
        let code = match status.as_u16() {
            401 => "UNAUTHORIZED",
            403 => "FORBIDDEN",
            404 => "NOT_FOUND",
            405 => "METHOD_NOT_ALLOWED",
            408 => "REQUEST_TIMEOUT",
            413 => "PAYLOAD_TOO_LARGE",
            415 => "UNSUPPORTED_MEDIA_TYPE",
            429 => "RATE_LIMIT_EXCEEDED",
            503 => "SERVICE_UNAVAILABLE",
            _ if status.is_server_error() => "INTERNAL_ERROR",
            _ => "BAD_REQUEST",
        };
        let message = if status.is_server_error() {
            "An internal error occurred".to_owned()
        } else {
            status
                .canonical_reason()
                .unwrap_or("Request refused")
                .to_owned()
        };
        Self::new(status, code, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.close_connection {
            response.force_close();
        }
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        // The documented schema is the one serialized: they cannot drift apart.
        response.json(self.envelope())
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        Self::validation(&errors)
    }
}

impl From<UseCaseError> for ApiError {
    fn from(error: UseCaseError) -> Self {
        match error {
            UseCaseError::NotFound(id) => Self::new(
                StatusCode::NOT_FOUND,
                "SERVICE_NOT_FOUND",
                format!("Service with ID '{id}' not found"),
            ),
            UseCaseError::CredentialsNotFound(id) => Self::new(
                StatusCode::NOT_FOUND,
                "CREDENTIALS_NOT_FOUND",
                format!("Service with ID '{id}' has no credentials"),
            ),
            UseCaseError::AlreadyExists(name) => Self::new(
                StatusCode::CONFLICT,
                "SERVICE_ALREADY_EXISTS",
                format!("A service named '{name}' already exists"),
            ),
            UseCaseError::RoleNotFound(name) => Self::new(
                StatusCode::NOT_FOUND,
                "ROLE_NOT_FOUND",
                format!("Role '{name}' not found"),
            ),
            UseCaseError::BindingNotFound(id) => Self::new(
                StatusCode::NOT_FOUND,
                "ROLE_BINDING_NOT_FOUND",
                format!("Role binding '{id}' not found"),
            ),
            UseCaseError::RoleAlreadyExists(name) => Self::new(
                StatusCode::CONFLICT,
                "ROLE_ALREADY_EXISTS",
                format!("A role named '{name}' already exists"),
            ),
            UseCaseError::RoleInUse(name) => Self::new(
                StatusCode::CONFLICT,
                "ROLE_IN_USE",
                format!("Role '{name}' is named by a role binding; delete its bindings first"),
            ),
            UseCaseError::Validation(fields) => Self::validation(&fields),
            UseCaseError::InvalidCursor => Self::new(
                StatusCode::BAD_REQUEST,
                "INVALID_CURSOR",
                "The cursor is not one this server issued",
            ),
            UseCaseError::PreconditionFailed => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "PRECONDITION_FAILED",
                "The resource has changed since the version named in If-Match",
            ),
            UseCaseError::Forbidden(permission) => Self::forbidden(permission),
            UseCaseError::IdempotencyKeyReused => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_KEY_REUSED",
                "The Idempotency-Key was already used with a different request",
            ),
            UseCaseError::IdempotencyKeyInUse => Self::new(
                StatusCode::CONFLICT,
                "IDEMPOTENCY_KEY_IN_USE",
                "A request with this Idempotency-Key is still in progress; retry it shortly",
            )
            .with_header(
                header::RETRY_AFTER,
                HeaderValue::from(RETRY_AFTER_KEY_IN_USE_SECS),
            ),
            UseCaseError::UnsupportedAuthType { .. } | UseCaseError::CredentialUnusable(_) => {
                Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "UNSUPPORTED_AUTH_TYPE",
                    error.to_string(),
                )
            }
            UseCaseError::Egress(egress) => Self::egress(&egress),
            UseCaseError::TokenRefused {
                status,
                ref oauth_error,
            } => Self::new(StatusCode::BAD_GATEWAY, "UPSTREAM_ERROR", error.to_string())
                .with_detail("upstream_status", Value::from(status))
                .with_detail(
                    "oauth_error",
                    oauth_error.clone().map_or(Value::Null, Value::from),
                ),
            UseCaseError::Unavailable => Self::unavailable(),
            UseCaseError::Internal(source) => {
                // The cause goes to the log only; the client gets a generic body.
                tracing::error!(error = %source, "internal error");
                Self::internal()
            }
        }
    }
}
