//! Outbound HTTP (docs/api.md §10): the one way exsvc talks to the services it
//! keeps credentials for. The adapter behind these ports owns the egress rules,
//! TLS, timeouts, retries and the circuit breaker; the domain decides what is
//! sent (which headers, which credential, where) and audits it.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_core::Stream;
use zeroize::Zeroizing;

use crate::principal::TenantId;
use crate::service::ServiceId;

/// A body chunk could not be read (the caller or the upstream went away).
#[derive(Debug, thiserror::Error)]
#[error("the body could not be read: {0}")]
pub struct BodyError(pub String);

/// A body streamed chunk by chunk, in either direction.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send>>;

/// What is sent upstream as the request body.
pub enum OutboundBody {
    Empty,
    /// Held whole in memory: the request can be sent again (a retry, or the
    /// retry after a fresh OAuth token).
    Full(Bytes),
    /// Streamed as it arrives: sent once, never retried.
    Stream(BodyStream),
}

impl OutboundBody {
    pub fn is_replayable(&self) -> bool {
        !matches!(self, OutboundBody::Stream(_))
    }
}

impl fmt::Debug for OutboundBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutboundBody::Empty => f.write_str("Empty"),
            OutboundBody::Full(bytes) => write!(f, "Full([{} bytes])", bytes.len()),
            OutboundBody::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// Which circuit breaker a request counts against: one per service, per replica.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CircuitKey {
    pub tenant: TenantId,
    pub service: ServiceId,
}

/// A request the domain has fully decided: the URL is joined and carries any
/// injected query parameter, the headers are filtered and carry the injected
/// credential. The adapter adds nothing of its own but `Host`,
/// `Content-Length` / `Transfer-Encoding` and `Proxy-Status` on the way back.
pub struct OutboundRequest {
    pub circuit: CircuitKey,
    pub method: http::Method,
    pub url: url::Url,
    /// Holds a secret (the injected credential): never logged.
    pub headers: http::HeaderMap,
    pub body: OutboundBody,
}

impl fmt::Debug for OutboundRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry an injected api key, the headers a credential.
        f.debug_struct("OutboundRequest")
            .field("circuit", &self.circuit)
            .field("method", &self.method)
            .field("host", &self.url.host_str())
            .field("headers", &format_args!("[{} headers]", self.headers.len()))
            .field("body", &self.body)
            .finish()
    }
}

/// The upstream's answer, its body still streaming.
pub struct OutboundResponse {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: BodyStream,
}

impl fmt::Debug for OutboundResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundResponse")
            .field("status", &self.status)
            .field("headers", &self.headers.len())
            .finish_non_exhaustive()
    }
}

/// Why exsvc could not get an answer from upstream. Each names the RFC 9209
/// `Proxy-Status` error type it is reported with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// The destination (scheme or address) is refused by the egress rules;
    /// nothing was sent and no connection made.
    /// `reason` names the address and range: for the log, never the answer
    /// (it would map a tenant's internal names to addresses).
    #[error("The destination {host} is not allowed by the egress rules")]
    Denied { host: String, reason: String },
    /// The caller's body failed while it was streamed upstream (the caller
    /// went away, or sent more than allowed): not the upstream's fault.
    #[error("The request body could not be read from the caller")]
    RequestBody,
    #[error("The upstream host name could not be resolved")]
    Dns,
    #[error("The upstream refused the connection")]
    ConnectionRefused,
    #[error("The connection to the upstream was not made in time")]
    ConnectTimeout,
    #[error("The upstream did not answer in time")]
    ResponseTimeout,
    #[error("The upstream's TLS certificate is not trusted")]
    Tls,
    /// Any other failure to reach the upstream or read its answer.
    #[error("The upstream could not be reached")]
    Unreachable,
    /// The service's circuit is open: the upstream was not contacted.
    #[error("The upstream is failing; it is not contacted for {}s", retry_after.as_secs())]
    CircuitOpen { retry_after: Duration },
}

impl EgressError {
    /// The `error` parameter of `Proxy-Status` (RFC 9209 §2.3).
    pub fn proxy_status_type(&self) -> &'static str {
        match self {
            EgressError::Denied { .. } => "destination_ip_prohibited",
            EgressError::RequestBody => "http_request_error",
            EgressError::Dns => "dns_error",
            EgressError::ConnectionRefused => "connection_refused",
            EgressError::ConnectTimeout => "connection_timeout",
            EgressError::ResponseTimeout => "http_response_timeout",
            EgressError::Tls => "tls_certificate_error",
            EgressError::Unreachable | EgressError::CircuitOpen { .. } => "destination_unavailable",
        }
    }
}

/// Sends requests out under the egress rules (docs/api.md §10.3).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Upstream: Send + Sync + 'static {
    /// Sends `request` and returns the answer once its headers arrived.
    /// Redirects are never followed. An idempotent method with a replayable
    /// body is tried again after a connection that could not be made or a
    /// 502/503/504 (the last such answer is returned as an answer, not an
    /// error); every attempt counts for `request.circuit`.
    ///
    /// # Errors
    /// MUST return `Denied` before any connection when a resolved address or
    /// the scheme is refused, `CircuitOpen` without contacting the upstream
    /// while its circuit is open, `ResponseTimeout` when the headers do not
    /// arrive in time (never retried), and the other variants as named.
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, EgressError>;
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAuthMethod {
    /// HTTP Basic with the URL-encoded id and secret (the default).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// One OAuth 2.0 client of a stored `oauth2_client_credentials` credential.
#[derive(Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: Zeroizing<String>,
    pub token_url: url::Url,
    pub scopes: Vec<String>,
    pub audience: Option<String>,
    pub auth_method: TokenAuthMethod,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("token_url", &self.token_url.as_str())
            .field("scopes", &self.scopes)
            .field("audience", &self.audience)
            .field("auth_method", &self.auth_method)
            .finish()
    }
}

/// What a token is cached under: a new credential version is a new key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    pub tenant: TenantId,
    pub service: ServiceId,
    pub credential_version: i64,
}

/// An access token from the token endpoint (or the cache).
#[derive(Clone)]
pub struct IssuedToken {
    pub access_token: Zeroizing<String>,
    pub token_type: String,
    pub expires_at: DateTime<Utc>,
    pub scope: Option<String>,
    /// Served from the cache, without asking the token endpoint.
    pub cached: bool,
    /// The token endpoint's status when it was asked now, else `None`.
    pub upstream_status: Option<u16>,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("access_token", &"[REDACTED]")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .field("cached", &self.cached)
            .finish()
    }
}

/// Why no token was issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Egress(#[from] EgressError),
    /// The token endpoint answered, but not with a token: an RFC 6749 §5.2
    /// error (`oauth_error` is its `error` code, if it sent one), another
    /// status, or a 2xx body without `access_token`.
    #[error("The token endpoint answered {status} without a token")]
    Refused {
        status: u16,
        oauth_error: Option<String>,
    },
}

/// The OAuth 2.0 client-credentials broker (docs/api.md §10.1): asks token
/// endpoints under the egress rules and caches what they issue.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait TokenBroker: Send + Sync + 'static {
    /// A token for `client`, from the cache while it is valid for more than
    /// the margin, else from the token endpoint. Concurrent calls for the same
    /// key while none is cached MUST share one request to the endpoint.
    ///
    /// # Errors
    /// `Egress` when the endpoint cannot be reached, `Refused` when it answers
    /// without a token.
    async fn token(&self, key: &TokenKey, client: &OAuthClient)
        -> Result<IssuedToken, BrokerError>;

    /// Like `token`, but never the cached token named `stale` (the upstream
    /// refused it): asks the endpoint anew, once for all concurrent callers.
    ///
    /// # Errors
    /// As `token`.
    async fn refresh(
        &self,
        key: &TokenKey,
        client: &OAuthClient,
        stale: &str,
    ) -> Result<IssuedToken, BrokerError>;

    /// Drops every cached token of the service (a new credential version, or
    /// the credential or the service deleted).
    fn forget(&self, tenant: &TenantId, service: ServiceId);
}
