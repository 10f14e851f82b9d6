//! Using a credential without revealing it (docs/api.md §10): the OAuth token
//! broker and the credential-injecting proxy. The domain decides what goes
//! out (where, which headers, which credential) and audits every use; the
//! `Upstream` and `TokenBroker` ports send it under the egress rules.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::audit::{AuditAction, AuditOutcome};
use crate::credential::{AuthType, CredentialSecret};
use crate::ports::{
    AuditLog, BrokerError, CircuitKey, Clock, CredentialCipher, CredentialRepository, IdGenerator,
    IssuedToken, OAuthClient, OutboundBody, OutboundRequest, OutboundResponse, OutcomeSink,
    ServiceRepository, TokenAuthMethod, TokenBroker, TokenKey, Upstream, UseOutcome,
};
use crate::principal::{Permission, Permit, Principal};
use crate::service::{Service, ServiceId};
use crate::usecases::audit_event;
use crate::usecases::credentials::SecretPorts;
use crate::validation::FieldErrors;
use crate::UseCaseError;

/// A request to send to a service's `base_url` with its credential.
pub struct ProxyRequest {
    pub method: http::Method,
    /// The `{path}` after `/proxy/`, as received: still percent-encoded.
    pub path: String,
    /// The query string as received, without `?`.
    pub query: Option<String>,
    /// The caller's headers; `forwardable` decides which of them go on.
    pub headers: HeaderMap,
    pub body: OutboundBody,
}

impl std::fmt::Debug for ProxyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The headers hold the caller's own token and cookies; the query may
        // hold anything.
        f.debug_struct("ProxyRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &format_args!("[{} headers]", self.headers.len()))
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

/// The uses of credentials, each a `credentials.use` audit event.
#[derive(Clone)]
pub struct CredentialUse {
    ports: CredentialUsePorts,
}

/// The ports `CredentialUse` works through.
#[derive(Clone)]
pub struct CredentialUsePorts {
    pub services: Arc<dyn ServiceRepository>,
    pub credentials: Arc<dyn CredentialRepository>,
    pub audit: Arc<dyn AuditLog>,
    pub outcomes: Arc<dyn OutcomeSink>,
    pub cipher: Arc<dyn CredentialCipher>,
    pub upstream: Arc<dyn Upstream>,
    pub broker: Arc<dyn TokenBroker>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
}

/// One use in progress, its event committed. When it is dropped (the answer
/// is in, or the request ended early, or the caller went away) its outcome
/// goes to the sink: every committed use gets one.
struct Use {
    event_id: uuid::Uuid,
    tenant: crate::principal::TenantId,
    started: Instant,
    kind: &'static str,
    method: Option<String>,
    path: Option<String>,
    /// The upstream's (or the token endpoint's) status, once it answered.
    upstream_status: Option<u16>,
    outcomes: Arc<dyn OutcomeSink>,
}

impl Drop for Use {
    fn drop(&mut self) {
        let latency_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.outcomes.submit(UseOutcome {
            tenant: self.tenant.clone(),
            event_id: self.event_id,
            details: use_details(
                self.kind,
                self.method.as_deref(),
                self.path.as_deref(),
                self.upstream_status,
                Some(latency_ms),
            ),
        });
    }
}

impl CredentialUse {
    pub fn new(ports: CredentialUsePorts) -> Self {
        Self { ports }
    }

    /// The permit to use a credential of `service` (`None`: the path names no
    /// service), checked before anything else of the request. A caller
    /// without `external-service:use` is refused and the refusal recorded as
    /// `denied`, as for a reveal.
    ///
    /// # Errors
    /// `Forbidden`.
    pub async fn permit_use<'p>(
        &self,
        principal: &'p Principal,
        service: Option<ServiceId>,
    ) -> Result<Permit<'p>, UseCaseError> {
        match principal.permit(Permission::Use) {
            Ok(permit) => Ok(permit),
            Err(refusal) => {
                self.secrets()
                    .record_denied(principal, AuditAction::CredentialsUse, service)
                    .await;
                Err(refusal)
            }
        }
    }

    /// A token for the service's `oauth2_client_credentials` credential
    /// (docs/api.md §10.1).
    ///
    /// # Errors
    /// `Forbidden` without `external-service:use`, `NotFound`,
    /// `CredentialsNotFound`, `UnsupportedAuthType` for another type,
    /// `Unavailable` when the use cannot be recorded (nothing is sent),
    /// `Egress` / `TokenRefused` when the token endpoint fails.
    pub async fn token(
        &self,
        permit: Permit<'_>,
        id: ServiceId,
    ) -> Result<IssuedToken, UseCaseError> {
        let (_, version, secret) = self.open(&permit, id).await?;
        if secret.auth_type() != AuthType::OAuth2ClientCredentials {
            return Err(UseCaseError::UnsupportedAuthType {
                auth_type: secret.auth_type(),
                purpose: "a token (only oauth2_client_credentials)",
            });
        }
        let client = oauth_client(&secret.expose()).ok_or(UseCaseError::CredentialUnusable(
            AuthType::OAuth2ClientCredentials,
        ))?;
        let principal = permit.principal();
        let key = token_key(principal, id, version);
        let mut in_use = self
            .begin(principal, id, version, "token", None, None)
            .await?;
        let result = self.ports.broker.token(&key, &client).await;
        in_use.upstream_status = match &result {
            Ok(token) => token.upstream_status,
            Err(BrokerError::Refused { status, .. }) => Some(*status),
            Err(BrokerError::Egress(_)) => None,
        };
        result.map_err(broker_error)
    }

    /// Sends `request` to the service's `base_url` with its credential
    /// injected and returns the upstream's answer (docs/api.md §10.2).
    ///
    /// # Errors
    /// As `token`, and `Validation` for a path with `.` or `..` segments.
    pub async fn proxy(
        &self,
        permit: Permit<'_>,
        id: ServiceId,
        request: ProxyRequest,
    ) -> Result<OutboundResponse, UseCaseError> {
        let target = UpstreamTarget::parse(&request.path, request.query.as_deref())?;
        let (service, version, secret) = self.open(&permit, id).await?;
        let injection = Injection::of(&secret)?;
        let principal = permit.principal();
        let mut headers = forwardable(&request.headers);
        let mut url = target.join(&service)?;
        let oauth = match &injection {
            Injection::OAuth(client) => {
                let key = token_key(principal, id, version);
                Some((key, client.clone()))
            }
            _ => None,
        };
        let mut in_use = self
            .begin(
                principal,
                id,
                version,
                "proxy",
                Some(request.method.as_str().to_owned()),
                Some(target.path_for_audit()),
            )
            .await?;
        let circuit = CircuitKey {
            tenant: principal.tenant().clone(),
            service: id,
        };
        // From here the use is recorded; `in_use` writes its outcome when it
        // is dropped, also on an early return.
        let token = match &oauth {
            Some((key, client)) => Some(
                self.ports
                    .broker
                    .token(key, client)
                    .await
                    .map_err(broker_error)?
                    .access_token,
            ),
            None => None,
        };
        injection.apply(&mut headers, &mut url, token.as_ref().map(|t| t.as_str()))?;
        // Kept to send the request once more with a fresh token after a 401:
        // only an OAuth request whose body is held whole can be.
        let replay = match (&oauth, &request.body) {
            (Some(_), OutboundBody::Empty) => Some(OutboundBody::Empty),
            (Some(_), OutboundBody::Full(bytes)) => Some(OutboundBody::Full(bytes.clone())),
            _ => None,
        }
        .map(|body| OutboundRequest {
            circuit: circuit.clone(),
            method: request.method.clone(),
            url: url.clone(),
            headers: headers.clone(),
            body,
        });
        let outbound = OutboundRequest {
            circuit,
            method: request.method,
            url,
            headers,
            body: request.body,
        };
        let mut answer = self.ports.upstream.send(outbound).await;
        let refused_token =
            matches!(&answer, Ok(first) if first.status == http::StatusCode::UNAUTHORIZED);
        if let (true, Some((key, client)), Some(stale)) = (refused_token, &oauth, &token) {
            match replay {
                Some(mut again) => {
                    let fresh = self
                        .ports
                        .broker
                        .refresh(key, client, stale)
                        .await
                        .map_err(broker_error)?;
                    Injection::bearer(&mut again.headers, &fresh.access_token)?;
                    answer = self.ports.upstream.send(again).await;
                }
                // A streamed body cannot be sent again; the 401 goes back, and
                // the refused token is not offered to the next request.
                None => self.ports.broker.forget(principal.tenant(), id),
            }
        }
        // A switch of protocols nobody asked for (exsvc forwards no
        // `Upgrade`) cannot be relayed as an HTTP answer.
        if matches!(&answer, Ok(response) if response.status == http::StatusCode::SWITCHING_PROTOCOLS)
        {
            answer = Err(crate::ports::EgressError::Unreachable);
        }
        match answer {
            Ok(response) => {
                in_use.upstream_status = Some(response.status.as_u16());
                let headers = returnable(&response.headers, injection.query_secret());
                Ok(OutboundResponse {
                    status: response.status,
                    headers,
                    body: response.body,
                })
            }
            Err(error) => {
                tracing::info!(service = %id, error = ?error, "a proxied request got no answer");
                Err(UseCaseError::Egress(error))
            }
        }
    }

    /// The service and its current credential, opened, for a caller allowed
    /// to use it. A refusal is recorded as `denied`.
    async fn open(
        &self,
        permit: &Permit<'_>,
        id: ServiceId,
    ) -> Result<(Service, i64, CredentialSecret), UseCaseError> {
        permit.holder_of(Permission::Use)?;
        let (service, record, secret) = self
            .secrets()
            .open(permit, AuditAction::CredentialsUse, id, None)
            .await?;
        Ok((service, record.version, secret))
    }

    fn secrets(&self) -> SecretPorts<'_> {
        SecretPorts {
            services: self.ports.services.as_ref(),
            credentials: self.ports.credentials.as_ref(),
            cipher: self.ports.cipher.as_ref(),
            audit: self.ports.audit.as_ref(),
            clock: self.ports.clock.as_ref(),
            ids: self.ports.ids.as_ref(),
        }
    }

    /// Commits the use's audit event before the credential leaves.
    async fn begin(
        &self,
        principal: &Principal,
        id: ServiceId,
        version: i64,
        kind: &'static str,
        method: Option<String>,
        path: Option<String>,
    ) -> Result<Use, UseCaseError> {
        let mut event = audit_event(
            self.ports.ids.as_ref(),
            self.ports.clock.as_ref(),
            principal,
            AuditAction::CredentialsUse,
            Some(id),
            Some(version),
            AuditOutcome::Success,
        );
        event.details = Some(use_details(
            kind,
            method.as_deref(),
            path.as_deref(),
            None,
            None,
        ));
        self.ports.audit.record(&event).await.map_err(|error| {
            tracing::warn!(%error, service = %id, "a credential use could not be recorded; nothing is sent");
            UseCaseError::Unavailable
        })?;
        Ok(Use {
            event_id: event.id,
            tenant: event.tenant_id,
            started: Instant::now(),
            kind,
            method,
            path,
            upstream_status: None,
            outcomes: self.ports.outcomes.clone(),
        })
    }
}

/// The `details` of a `credentials.use` event (docs/api.md §1.3).
fn use_details(
    kind: &str,
    method: Option<&str>,
    path: Option<&str>,
    upstream_status: Option<u16>,
    latency_ms: Option<u64>,
) -> Value {
    json!({
        "kind": kind,
        "method": method,
        "path": path,
        "upstream_status": upstream_status,
        "latency_ms": latency_ms,
    })
}

fn token_key(principal: &Principal, service: ServiceId, version: i64) -> TokenKey {
    TokenKey {
        tenant: principal.tenant().clone(),
        service,
        credential_version: version,
    }
}

fn broker_error(error: BrokerError) -> UseCaseError {
    match error {
        BrokerError::Egress(error) => UseCaseError::Egress(error),
        BrokerError::Refused {
            status,
            oauth_error,
        } => UseCaseError::TokenRefused {
            status,
            oauth_error,
        },
    }
}

/// The OAuth client of an `oauth2_client_credentials` secret's fields.
fn oauth_client(fields: &Value) -> Option<OAuthClient> {
    let text = |key: &str| fields.get(key).and_then(Value::as_str).map(str::to_owned);
    Some(OAuthClient {
        client_id: text("client_id")?,
        client_secret: Zeroizing::new(text("client_secret")?),
        token_url: url::Url::parse(&text("token_url")?).ok()?,
        scopes: fields
            .get("scopes")
            .and_then(Value::as_array)
            .map(|scopes| {
                scopes
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        audience: text("audience"),
        auth_method: match text("token_auth_method").as_deref() {
            Some("client_secret_post") => TokenAuthMethod::ClientSecretPost,
            _ => TokenAuthMethod::ClientSecretBasic,
        },
    })
}

/// Where a credential goes in the request, by its type (docs/api.md §10.2).
enum Injection {
    Header(HeaderName, Zeroizing<String>),
    Query(String, Zeroizing<String>),
    /// The whole `Authorization` value of a `basic` or `bearer` credential.
    Authorization(AuthType, Zeroizing<String>),
    OAuth(OAuthClient),
}

impl Injection {
    fn of(secret: &CredentialSecret) -> Result<Self, UseCaseError> {
        let unsupported = || UseCaseError::UnsupportedAuthType {
            auth_type: secret.auth_type(),
            purpose: "the proxy",
        };
        let fields = secret.expose();
        let text = |key: &str| {
            fields
                .get(key)
                .and_then(Value::as_str)
                .map(|v| Zeroizing::new(v.to_owned()))
        };
        let unusable = || UseCaseError::CredentialUnusable(secret.auth_type());
        Ok(match secret.auth_type() {
            AuthType::ApiKey => {
                let key = text("key").ok_or_else(unusable)?;
                match text("query_param") {
                    Some(param) => Injection::Query(param.to_string(), key),
                    None => {
                        let name = text("header_name").ok_or_else(unusable)?;
                        let name =
                            HeaderName::from_bytes(name.as_bytes()).map_err(|_| unusable())?;
                        Injection::Header(name, key)
                    }
                }
            }
            AuthType::Basic => {
                let user = text("username").ok_or_else(unusable)?;
                let password = text("password").ok_or_else(unusable)?;
                let pair = Zeroizing::new(format!("{}:{}", user.as_str(), password.as_str()));
                Injection::Authorization(
                    AuthType::Basic,
                    Zeroizing::new(format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
                    )),
                )
            }
            AuthType::Bearer => {
                let token = text("token").ok_or_else(unusable)?;
                Injection::Authorization(
                    AuthType::Bearer,
                    Zeroizing::new(format!("Bearer {}", token.as_str())),
                )
            }
            AuthType::OAuth2ClientCredentials => {
                Injection::OAuth(oauth_client(&fields).ok_or_else(unusable)?)
            }
            AuthType::Custom => return Err(unsupported()),
        })
    }

    /// Puts the credential into the request; `token` is the OAuth token.
    fn apply(
        &self,
        headers: &mut HeaderMap,
        url: &mut url::Url,
        token: Option<&str>,
    ) -> Result<(), UseCaseError> {
        let unusable = |t| UseCaseError::CredentialUnusable(t);
        match self {
            Injection::Header(name, key) => {
                let value = secret_header(key).ok_or(unusable(AuthType::ApiKey))?;
                headers.insert(name.clone(), value);
            }
            Injection::Query(param, key) => {
                let original = url.query().map(str::to_owned);
                with_query_param(url, original.as_deref(), param, key);
            }
            Injection::Authorization(auth_type, value) => {
                let value = secret_header(value).ok_or(unusable(*auth_type))?;
                headers.insert(header::AUTHORIZATION, value);
            }
            Injection::OAuth(_) => {
                let token = token.ok_or(unusable(AuthType::OAuth2ClientCredentials))?;
                Self::bearer(headers, token)?;
            }
        }
        Ok(())
    }

    /// The secret this injection puts in the URL, if any: an answer must not
    /// hand it back (a redirect's `Location` often repeats the query).
    fn query_secret(&self) -> Option<&str> {
        match self {
            Injection::Query(_, key) => Some(key.as_str()),
            _ => None,
        }
    }

    fn bearer(headers: &mut HeaderMap, token: &str) -> Result<(), UseCaseError> {
        let value = secret_header(&Zeroizing::new(format!("Bearer {token}"))).ok_or(
            UseCaseError::CredentialUnusable(AuthType::OAuth2ClientCredentials),
        )?;
        headers.insert(header::AUTHORIZATION, value);
        Ok(())
    }
}

/// Keeps the query as it was sent (its encoding untouched) without any
/// parameter named `param`, and appends the credential's: it wins over one
/// the caller sent.
fn with_query_param(url: &mut url::Url, original: Option<&str>, param: &str, key: &str) {
    let mut query: Vec<String> = original
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            let decoded: String = url::form_urlencoded::parse(name.as_bytes())
                .next()
                .map(|(n, _)| n.into_owned())
                .unwrap_or_default();
            decoded != param
        })
        .map(str::to_owned)
        .collect();
    let appended: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(param, key)
        .finish();
    query.push(appended);
    url.set_query(Some(&query.join("&")));
}

fn secret_header(value: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(value).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The path and query of a proxied request, checked.
struct UpstreamTarget<'a> {
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> UpstreamTarget<'a> {
    /// # Errors
    /// `Validation` for a `.` or `..` segment (also percent-encoded): it would
    /// leave the `base_url`'s path.
    fn parse(path: &'a str, query: Option<&'a str>) -> Result<Self, UseCaseError> {
        // A URL parser reads `\` as `/` in an https path, so a backslash is
        // refused like the dot segments it could form.
        let backslash = path.contains('\\') || path.to_ascii_lowercase().contains("%5c");
        let dot_segment = path.split('/').any(|segment| {
            let decoded = segment.replace("%2e", ".").replace("%2E", ".");
            decoded == "." || decoded == ".."
        });
        if dot_segment || backslash {
            return Err(FieldErrors::single(
                "path",
                "may not contain '.' or '..' segments or a backslash",
            )
            .into());
        }
        Ok(Self {
            path,
            query: query.filter(|q| !q.is_empty()),
        })
    }

    /// `base_url` + `/` + path, then the base's query and the caller's.
    fn join(&self, service: &Service) -> Result<url::Url, UseCaseError> {
        let mut url = url::Url::parse(service.spec.base_url.as_str()).map_err(|_| {
            UseCaseError::Internal("a stored base_url does not parse as a URL".into())
        })?;
        let base_path = url.path().trim_end_matches('/').to_owned();
        let joined = format!("{base_path}/{}", self.path.trim_start_matches('/'));
        url.set_path(&joined);
        // Whatever a parser makes of the path, it stays below the base path.
        if !url.path().starts_with(&format!("{base_path}/")) {
            return Err(
                FieldErrors::single("path", "must stay below the service's base_url").into(),
            );
        }
        let query = match (url.query(), self.query) {
            (Some(base), Some(own)) if !base.is_empty() => Some(format!("{base}&{own}")),
            (_, Some(own)) => Some(own.to_owned()),
            (base, None) => base.map(str::to_owned),
        };
        url.set_query(query.as_deref());
        Ok(url)
    }

    /// The path as recorded: never the query, which may carry secrets.
    fn path_for_audit(&self) -> String {
        format!("/{}", self.path.trim_start_matches('/'))
            .chars()
            .take(1024)
            .collect()
    }
}

/// Headers of the caller's that are never forwarded (docs/api.md §10.2):
/// its own credentials, the addressing of this hop and the hop-by-hop ones.
fn never_forwarded(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "authorization" | "cookie" | "host" | "forwarded" | "expect"
    ) || name.as_str().starts_with("x-forwarded-")
        || hop_by_hop(name)
}

/// RFC 9110 §7.6.1's hop-by-hop headers, and every `Proxy-*`.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding" | "upgrade"
    ) || name.as_str().starts_with("proxy-")
}

/// The names a `Connection` header lists: hop-by-hop for this message.
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

/// `value` with every one of `forms` replaced, when it holds one (`None`
/// when it holds none; `Some(None)` when the result is no header value).
fn redacted(value: &HeaderValue, forms: &[String]) -> Option<Option<HeaderValue>> {
    if forms.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(value.as_bytes());
    if !forms
        .iter()
        .any(|form| !form.is_empty() && text.contains(form.as_str()))
    {
        return None;
    }
    let mut redacted = text.into_owned();
    for form in forms {
        redacted = redacted.replace(form.as_str(), "REDACTED");
    }
    Some(HeaderValue::from_str(&redacted).ok())
}

/// The caller's headers that go on to the upstream.
fn forwardable(headers: &HeaderMap) -> HeaderMap {
    let listed = connection_listed(headers);
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if never_forwarded(name) || listed.iter().any(|l| l == name.as_str()) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// The upstream's headers that go back to the caller. A header that repeats
/// `secret` (the api key exsvc put in the query) is kept with the secret
/// replaced: the caller never sees it, whatever the upstream echoes.
fn returnable(headers: &HeaderMap, secret: Option<&str>) -> HeaderMap {
    let listed = connection_listed(headers);
    let forms: Vec<String> = secret
        .map(|key| {
            let encoded = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
            vec![key.to_owned(), encoded]
        })
        .unwrap_or_default();
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if hop_by_hop(name)
            || *name == header::SET_COOKIE
            || listed.iter().any(|l| l == name.as_str())
        {
            continue;
        }
        match redacted(value, &forms) {
            None => {
                out.append(name.clone(), value.clone());
            }
            Some(Some(clean)) => {
                out.append(name.clone(), clean);
            }
            // What the redaction left is no header value: the header is left out.
            Some(None) => {}
        }
    }
    out
}

#[cfg(test)]
#[path = "usage_tests.rs"]
mod tests;
