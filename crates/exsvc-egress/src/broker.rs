//! The OAuth 2.0 client-credentials broker (docs/api.md §10.1, RFC 6749 §4.4):
//! asks token endpoints through [`Egress`] and caches what they issue.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use chrono::Utc;
use exsvc_domain::ports::{
    BrokerError, EgressError, IssuedToken, OAuthClient, TokenAuthMethod, TokenBroker, TokenKey,
};
use exsvc_domain::{ServiceId, TenantId};
use serde::Deserialize;
use url::form_urlencoded;
use zeroize::Zeroizing;

use crate::Egress;

/// A cached token is served while it has more than this much life left; a
/// token issued with less is used for the request that asked, not cached.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// The most of a token endpoint's answer that is read.
pub const TOKEN_BODY_LIMIT: usize = 64 << 10;
/// The life of a token whose answer names no `expires_in`.
const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(60);
/// A longer `expires_in` is read as this (one year).
const MAX_EXPIRES_IN: Duration = Duration::from_secs(365 * 24 * 3600);
/// Tokens kept at most (one per service and credential version).
const CACHE_CAPACITY: usize = 10_000;

type Fetched = Result<IssuedToken, BrokerError>;

/// One request to a token endpoint that every concurrent caller for the key waits on.
#[derive(Default)]
struct Flight {
    result: tokio::sync::OnceCell<Fetched>,
}

/// The token broker. Tokens are cached per [`TokenKey`] (a new credential
/// version is a new key), in a bounded cache; concurrent callers for a key
/// without a cached token share one request to the endpoint. The token
/// endpoint is asked once per request (no retry: it is a POST) under the
/// egress rules, TLS and timeouts of [`Egress`], outside the service's circuit
/// breaker (the endpoint is not the service's upstream).
pub struct OAuthBroker {
    egress: Arc<Egress>,
    cache: quick_cache::sync::Cache<TokenKey, IssuedToken>,
    flights: Mutex<HashMap<TokenKey, Arc<Flight>>>,
    /// Bumped by every `forget`: a fetch that started before one is not cached.
    forgets: AtomicU64,
}

impl fmt::Debug for OAuthBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBroker")
            .field("cached", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl OAuthBroker {
    pub fn new(egress: Arc<Egress>) -> Self {
        OAuthBroker {
            egress,
            cache: quick_cache::sync::Cache::new(CACHE_CAPACITY),
            flights: Mutex::new(HashMap::new()),
            forgets: AtomicU64::new(0),
        }
    }

    /// The cached token of `key` if it is still good and is not `stale`.
    fn cached(&self, key: &TokenKey, stale: Option<&str>) -> Option<IssuedToken> {
        let token = self.cache.get(key)?;
        let margin = chrono::Duration::from_std(EXPIRY_MARGIN).ok()?;
        if token.expires_at - margin <= Utc::now() {
            return None;
        }
        if stale.is_some_and(|stale| stale == token.access_token.as_str()) {
            return None;
        }
        Some(IssuedToken {
            cached: true,
            upstream_status: None,
            ..token
        })
    }

    /// The cached token, or the result of the one request in flight for `key`
    /// (started here if there is none).
    async fn shared_fetch(
        &self,
        key: &TokenKey,
        client: &OAuthClient,
        stale: Option<&str>,
    ) -> Fetched {
        let flight = self.lock_flights().entry(key.clone()).or_default().clone();
        let result = flight
            .result
            .get_or_init(|| async {
                // A flight that ended between the caller's look and now.
                if let Some(token) = self.cached(key, stale) {
                    return Ok(token);
                }
                let forgets = self.forgets.load(Ordering::SeqCst);
                let fetched = self.fetch(client).await;
                if let Ok(token) = &fetched {
                    let margin = chrono::Duration::from_std(EXPIRY_MARGIN).unwrap_or_default();
                    if token.expires_at - margin > Utc::now()
                        && self.forgets.load(Ordering::SeqCst) == forgets
                    {
                        self.cache.insert(key.clone(), token.clone());
                    }
                }
                fetched
            })
            .await
            .clone();
        // The flight is over: the next caller (after a failure, say) asks anew.
        let mut flights = self.lock_flights();
        if flights
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, &flight))
        {
            flights.remove(key);
        }
        result
    }

    fn lock_flights(&self) -> std::sync::MutexGuard<'_, HashMap<TokenKey, Arc<Flight>>> {
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One request to the token endpoint (RFC 6749 §4.4.2).
    async fn fetch(&self, client: &OAuthClient) -> Fetched {
        let scope = client.scopes.join(" ");
        let (headers, body) = token_request(client, &scope);
        let host = client.token_url.host_str().unwrap_or_default();
        let response = self
            .egress
            .send_once(
                http::Method::POST,
                &client.token_url,
                &headers,
                Bytes::copy_from_slice(body.as_bytes()),
            )
            .await?;
        let status = response.status().as_u16();
        // The headers came in time; the body gets as long again.
        let body = tokio::time::timeout(self.egress.response_timeout(), read_limited(response))
            .await
            .map_err(|_| EgressError::ResponseTimeout)??;
        let token = if status == 200 {
            body.as_ref().and_then(|body| issued(body, &scope))
        } else {
            None
        };
        match token {
            Some(token) => {
                tracing::debug!(host, "oauth: token issued");
                Ok(token)
            }
            None => {
                let oauth_error = body.as_ref().and_then(|body| oauth_error(body));
                tracing::info!(
                    host,
                    status,
                    oauth_error,
                    "oauth: the token endpoint refused"
                );
                Err(BrokerError::Refused {
                    status,
                    oauth_error,
                })
            }
        }
    }
}

#[async_trait]
impl TokenBroker for OAuthBroker {
    async fn token(
        &self,
        key: &TokenKey,
        client: &OAuthClient,
    ) -> Result<IssuedToken, BrokerError> {
        if let Some(token) = self.cached(key, None) {
            return Ok(token);
        }
        self.shared_fetch(key, client, None).await
    }

    async fn refresh(
        &self,
        key: &TokenKey,
        client: &OAuthClient,
        stale: &str,
    ) -> Result<IssuedToken, BrokerError> {
        if let Some(token) = self.cached(key, Some(stale)) {
            return Ok(token); // Another caller refreshed it already.
        }
        self.cache
            .remove_if(key, |token| token.access_token.as_str() == stale);
        let token = self.shared_fetch(key, client, Some(stale)).await?;
        if token.access_token.as_str() != stale {
            return Ok(token);
        }
        // Joined a flight that started before the stale token was dropped.
        self.cache
            .remove_if(key, |token| token.access_token.as_str() == stale);
        self.shared_fetch(key, client, Some(stale)).await
    }

    fn forget(&self, tenant: &TenantId, service: ServiceId) {
        self.forgets.fetch_add(1, Ordering::SeqCst);
        self.cache
            .retain(|key, _| !(key.tenant == *tenant && key.service == service));
    }
}

/// The headers and form of a client-credentials request (RFC 6749 §4.4.2, §2.3.1).
fn token_request(client: &OAuthClient, scope: &str) -> (http::HeaderMap, Zeroizing<String>) {
    // Capacity up front: a reallocation would leave a copy of the secret behind.
    let mut body = Zeroizing::new(String::with_capacity(1024));
    let mut form = form_urlencoded::Serializer::new(&mut *body);
    form.append_pair("grant_type", "client_credentials");
    if !scope.is_empty() {
        form.append_pair("scope", scope);
    }
    if let Some(audience) = &client.audience {
        form.append_pair("audience", audience);
    }
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    headers.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    match client.auth_method {
        TokenAuthMethod::ClientSecretPost => {
            form.append_pair("client_id", &client.client_id);
            form.append_pair("client_secret", &client.client_secret);
        }
        TokenAuthMethod::ClientSecretBasic => {
            headers.insert(http::header::AUTHORIZATION, basic_authorization(client));
        }
    }
    form.finish();
    (headers, body)
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1), marked sensitive.
fn basic_authorization(client: &OAuthClient) -> http::HeaderValue {
    let encode = |value: &str| -> Zeroizing<String> {
        Zeroizing::new(form_urlencoded::byte_serialize(value.as_bytes()).collect())
    };
    let pair = Zeroizing::new(format!(
        "{}:{}",
        *encode(&client.client_id),
        *encode(&client.client_secret)
    ));
    let header = Zeroizing::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
    ));
    // Base64 is always a valid header value.
    let mut value = http::HeaderValue::from_str(&header)
        .unwrap_or_else(|_| http::HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

/// The body, or `None` when it is longer than [`TOKEN_BODY_LIMIT`].
async fn read_limited(
    mut response: reqwest::Response,
) -> Result<Option<Zeroizing<Vec<u8>>>, EgressError> {
    let mut body = Zeroizing::new(Vec::new());
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > TOKEN_BODY_LIMIT {
                    return Ok(None);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(Some(body)),
            Err(_) => return Err(EgressError::Unreachable),
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    scope: Option<String>,
}

/// A successful answer (RFC 6749 §5.1), or `None` when it holds no usable token.
fn issued(body: &[u8], requested_scope: &str) -> Option<IssuedToken> {
    let answer: TokenResponse = serde_json::from_slice(body).ok()?;
    let access_token = Zeroizing::new(answer.access_token?);
    // Sent as `Authorization: Bearer …`: visible ASCII only (RFC 6750 §2.1 b64token and more).
    if access_token.is_empty() || !access_token.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let token_type = match answer.token_type {
        None => "Bearer".to_owned(),
        Some(t) if is_short_token(&t) => t,
        Some(_) => return None,
    };
    let expires_in = expires_in(answer.expires_in.as_ref());
    let expires_at = Utc::now() + chrono::Duration::from_std(expires_in).ok()?;
    let scope = answer
        .scope
        .or_else(|| (!requested_scope.is_empty()).then(|| requested_scope.to_owned()));
    Some(IssuedToken {
        access_token,
        token_type,
        expires_at,
        scope,
        cached: false,
        upstream_status: Some(200),
    })
}

/// `expires_in` as seconds: a non-negative number (or a numeric string, which
/// some endpoints send); absent or unreadable, [`DEFAULT_EXPIRES_IN`].
fn expires_in(value: Option<&serde_json::Value>) -> Duration {
    let seconds = match value {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match seconds {
        Some(s) if s.is_finite() && s >= 0.0 => {
            Duration::from_secs_f64(s.min(MAX_EXPIRES_IN.as_secs_f64()))
        }
        _ => DEFAULT_EXPIRES_IN,
    }
}

fn is_short_token(value: &str) -> bool {
    (1..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}

/// The RFC 6749 §5.2 `error` code of an error answer, if it is one: 1–64
/// characters of NQSCHAR (%x20-21 / %x23-5B / %x5D-7E). Nothing else of the
/// body is ever kept.
fn oauth_error(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorResponse {
        error: Option<serde_json::Value>,
    }
    let answer: ErrorResponse = serde_json::from_slice(body).ok()?;
    let serde_json::Value::String(code) = answer.error? else {
        return None;
    };
    let valid = (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E));
    valid.then_some(code)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn oauth_error_codes_are_short_printable_ascii() {
        assert_eq!(
            oauth_error(br#"{"error":"invalid_client","error_description":"secret s3cret"}"#),
            Some("invalid_client".into())
        );
        assert_eq!(oauth_error(br#"{"error":"bad\"quote"}"#), None);
        assert_eq!(oauth_error(br#"{"error":"caf\u00e9"}"#), None);
        assert_eq!(oauth_error(br#"{"error":""}"#), None);
        assert_eq!(
            oauth_error(format!(r#"{{"error":"{}"}}"#, "x".repeat(65)).as_bytes()),
            None
        );
        assert_eq!(oauth_error(br#"{"error":42}"#), None);
        assert_eq!(oauth_error(b"<html>"), None);
    }

    #[test]
    fn expires_in_defaults_and_bounds() {
        assert_eq!(expires_in(None), DEFAULT_EXPIRES_IN);
        assert_eq!(
            expires_in(Some(&serde_json::json!(3600))),
            Duration::from_secs(3600)
        );
        assert_eq!(
            expires_in(Some(&serde_json::json!("120"))),
            Duration::from_secs(120)
        );
        assert_eq!(expires_in(Some(&serde_json::json!(-5))), DEFAULT_EXPIRES_IN);
        assert_eq!(expires_in(Some(&serde_json::json!(1e300))), MAX_EXPIRES_IN);
        assert_eq!(
            expires_in(Some(&serde_json::json!(true))),
            DEFAULT_EXPIRES_IN
        );
    }

    #[test]
    fn an_answer_without_a_usable_token_is_no_token() {
        assert!(issued(br#"{"token_type":"Bearer"}"#, "").is_none());
        assert!(issued(br#"{"access_token":""}"#, "").is_none());
        assert!(issued(br#"{"access_token":"a b"}"#, "").is_none());
        assert!(issued(b"not json", "").is_none());
        let token = issued(br#"{"access_token":"t"}"#, "read write").unwrap();
        assert_eq!(token.token_type, "Bearer");
        assert_eq!(token.scope.as_deref(), Some("read write"));
        let life = token.expires_at - Utc::now();
        assert!(life <= chrono::Duration::seconds(60) && life > chrono::Duration::seconds(58));
    }
}
