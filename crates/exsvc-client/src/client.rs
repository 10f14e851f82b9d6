//! The connection to one exsvc: base address, token source, timeouts and the
//! retry rule, and the one function every call goes through.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::error::{ApiError, Error, ErrorCode};
use crate::request::ApiRequest;
use crate::token::{bearer, StaticToken, TokenFile, TokenSource};

/// The address `exsvc serve` listens on by default.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:8080";

/// The largest answer [`Client::execute`] reads: far above any page of the
/// API (100 services with 16 KiB of metadata each); a proxied answer streams
/// and is not bound by it.
const ANSWER_LIMIT: usize = 32 << 20;

/// The largest error body read to find the envelope in.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// When a refused request is sent again: after a 429 `RATE_LIMIT_EXCEEDED`
/// or 503 `UPSTREAM_UNAVAILABLE` that carries `Retry-After`, and after a 503
/// `SERVICE_UNAVAILABLE` that does to a `GET`, `HEAD` or `OPTIONS`; at most
/// `max_retries` times, and only when the wait it asks for is at most
/// `max_wait` (a longer one is returned as the error at once).
///
/// A 429 comes before anything is done, and an open circuit sends nothing
/// upstream, so a retried write is not doubled. A 503 `SERVICE_UNAVAILABLE`
/// can be a store timeout that raced the write's commit (docs/architecture.md,
/// on `Idempotency-Key`, which frees its key after a 5xx): a write may then be
/// stored, so it is returned, for the caller to look before it writes again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            max_wait: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            max_wait: Duration::ZERO,
        }
    }
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    addr: String,
    token: Option<Arc<dyn TokenSource>>,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    roots: Vec<reqwest::Certificate>,
    user_agent: String,
}

impl ClientBuilder {
    /// Sends `Authorization: Bearer <token>` on every request.
    pub fn token(self, token: impl Into<String>) -> Self {
        self.token_source(StaticToken::new(token))
    }

    /// Reads the token from a file, anew whenever the file changes.
    pub fn token_file(self, path: impl Into<std::path::PathBuf>) -> Self {
        self.token_source(TokenFile::new(path))
    }

    pub fn token_source(mut self, source: impl TokenSource + 'static) -> Self {
        self.token = Some(Arc::new(source));
        self
    }

    /// The longest one attempt may take, from connecting until its answer's
    /// body is read (a [`crate::ProxyResponse`]'s streamed body included);
    /// default 30 s. It applies to each attempt: a call sent again (after a
    /// retryable refusal, [`RetryPolicy`], or a 401) may take that long per
    /// attempt, plus the `Retry-After` waits, plus the time the token source
    /// takes.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest wait for a connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Trusts this PEM certificate authority besides the platform's roots
    /// (an exsvc behind TLS with a private CA).
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let certificate = reqwest::Certificate::from_pem(pem)
            .map_err(|e| Error::InvalidInput(format!("not a PEM certificate: {e}")))?;
        self.roots.push(certificate);
        Ok(self)
    }

    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let base = base_url(&self.addr)?;
        let mut http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent)
            // exsvc answers every path itself; a redirect is not to be followed
            // with the token attached.
            .redirect(reqwest::redirect::Policy::none());
        for root in self.roots {
            http = http.add_root_certificate(root);
        }
        let http = http
            .build()
            .map_err(|e| Error::InvalidInput(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                token: self.token,
                timeout: self.timeout,
                retry: self.retry,
            }),
        })
    }
}

/// `addr` as the base every path is joined to: an http(s) URL, its path
/// ending in `/` (a base path such as `/exsvc` is kept).
fn base_url(addr: &str) -> Result<Url, Error> {
    let invalid = |reason: &str| Error::InvalidInput(format!("address '{addr}' {reason}"));
    let mut url =
        Url::parse(addr).map_err(|_| invalid("is not a URL such as http://127.0.0.1:8080"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must be http:// or https://"));
    }
    if url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "must be scheme, host, port and an optional base path",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry a user name or password"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    token: Option<Arc<dyn TokenSource>>,
    timeout: Duration,
    retry: RetryPolicy,
}

/// A client of one exsvc. Cheap to clone: clones share connections.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

/// A success answer (or an upstream's, relayed): status, headers and the
/// body as the server sent it. The body may be a revealed credential, a
/// relayed header may echo what the caller sent, and a proxied query may hold
/// the caller's secret, so `Debug` gives the body's length, the headers'
/// names and the URL without its query.
#[derive(Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The URL without its query ([`shown_url`]).
    url: String,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .field("url", &self.url)
            .finish()
    }
}

impl Answer {
    /// The body decoded as `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode {
            url: self.url.clone(),
            reason: e.to_string(),
        })
    }

    /// The answer's `ETag` as a version number (`"5"` → 5).
    pub fn version(&self) -> Option<i64> {
        let etag = self.headers.get(reqwest::header::ETAG)?.to_str().ok()?;
        etag.trim_matches('"').parse().ok()
    }
}

impl Client {
    /// A client of the exsvc at `addr` (`http://127.0.0.1:8080`, or with a
    /// base path: `https://exsvc.internal/exsvc`).
    pub fn builder(addr: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            addr: addr.into(),
            token: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            roots: Vec::new(),
            user_agent: format!("exsvc-client/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// The base address every path is joined to.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Sends one request: with the token, within the timeout, sent again after
    /// a retryable refusal (see [`RetryPolicy`]) or, once, after a 401 when the
    /// token source may have a newer token. A success comes back whole; an
    /// error answer as [`Error::Api`]. An answer that exsvc relayed from a
    /// service's upstream (a proxied request's, with `Proxy-Status: …;
    /// received-status`) comes back whole whatever its status, never read as
    /// exsvc's error nor retried.
    pub async fn execute(&self, request: &ApiRequest) -> Result<Answer, Error> {
        let response = self.send(request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let url = shown_url(response.url());
        let body = read_limited(response, ANSWER_LIMIT + 1)
            .await
            .map_err(|e| transport_error(&url, self.inner.timeout, e))?;
        if body.len() > ANSWER_LIMIT {
            // A server (or something posing as one) that sends without end
            // must not fill the caller's memory.
            return Err(Error::Decode {
                url,
                reason: format!("the answer is larger than {} MiB", ANSWER_LIMIT >> 20),
            });
        }
        let body = Bytes::from(body);
        Ok(Answer {
            status,
            headers,
            body,
            url,
        })
    }

    /// [`Client::execute`], the body decoded as `T`.
    pub(crate) async fn call<T: DeserializeOwned>(&self, request: ApiRequest) -> Result<T, Error> {
        self.execute(&request).await?.json()
    }

    /// [`Client::execute`] of a request answered with no body.
    pub(crate) async fn call_empty(&self, request: ApiRequest) -> Result<(), Error> {
        self.execute(&request).await.map(|_| ())
    }

    /// The answer's head, its body left to stream: a success, or an answer
    /// exsvc relayed from the upstream (`Proxy-Status` with
    /// `received-status`) whatever its status and the request's method, since
    /// it is the upstream's, not exsvc's error nor its `Retry-After`.
    pub(crate) async fn send(&self, request: &ApiRequest) -> Result<reqwest::Response, Error> {
        let url = request.url(&self.inner.base)?;
        let mut retries = 0;
        let mut token_refreshed = false;
        loop {
            let response = self.attempt(request, &url).await?;
            let status = response.status();
            // Only a 2xx is a success: exsvc never redirects, and the client
            // follows no redirect, so a 3xx (an ingress's) did nothing.
            if status.is_success() || relayed(response.headers()) {
                return Ok(response);
            }
            let error = error_of(response, self.inner.timeout).await;
            if let Error::Api(api) = &error {
                if api.status == 401 && !token_refreshed {
                    if let Some(source) = &self.inner.token {
                        if source.refused() {
                            token_refreshed = true;
                            continue;
                        }
                    }
                }
                let stored_maybe = api.code == ErrorCode::ServiceUnavailable
                    && !matches!(request.method, Method::GET | Method::HEAD | Method::OPTIONS);
                if api.retryable() && !stored_maybe && retries < self.inner.retry.max_retries {
                    if let Some(wait) = api.retry_after.filter(|w| *w <= self.inner.retry.max_wait)
                    {
                        retries += 1;
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                }
            }
            return Err(error);
        }
    }

    async fn attempt(&self, request: &ApiRequest, url: &Url) -> Result<reqwest::Response, Error> {
        let mut headers = request.headers.clone();
        if let Some(source) = &self.inner.token {
            // Replaces any the request carries: exsvc refuses a request with
            // two (401), and never forwards the caller's to an upstream.
            headers.insert(AUTHORIZATION, bearer(&source.token().await?)?);
        }
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), url.clone())
            .timeout(self.inner.timeout)
            .headers(headers);
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        builder
            .send()
            .await
            .map_err(|e| transport_error(&shown_url(url), self.inner.timeout, e))
    }
}

/// Whether exsvc relayed this answer from the upstream (RFC 9209
/// `received-status`), rather than answering itself.
fn relayed(headers: &HeaderMap) -> bool {
    // A list of members, one per proxy; only exsvc's own says it relayed
    // (an ingress in front may add a member of its own).
    headers
        .get_all(HeaderName::from_static("proxy-status"))
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|member| {
            let mut parts = member.split(';').map(str::trim);
            parts.next() == Some("exsvc") && parts.any(|p| p.starts_with("received-status="))
        })
}

/// The error of a request that got no (whole) answer; `url` as
/// [`shown_url`] gives it.
pub(crate) fn transport_error(url: &str, timeout: Duration, error: reqwest::Error) -> Error {
    let url = url.to_owned();
    if error.is_timeout() {
        return Error::Timeout { url, timeout };
    }
    // The innermost cause says what happened ("Connection refused"); reqwest's
    // own message only says that a request failed, naming the whole URL.
    let error = error.without_url();
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        reason = cause.to_string();
        source = cause.source();
    }
    Error::Connect { url, reason }
}

/// `url` as errors and `Debug` show it: without its query (a proxied one is
/// the caller's own and may hold a secret), `?…` marking that it had one.
pub(crate) fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_fragment(None);
    shown.set_query(None);
    let mut shown = shown.to_string();
    if url.query().is_some() {
        shown.push_str("?…");
    }
    shown
}

/// The answer's `Location`, resolved against the request's URL, without its
/// query.
fn location_of(headers: &HeaderMap, url: &Url) -> Option<String> {
    let location = headers.get(LOCATION)?.to_str().ok()?;
    match url.join(location) {
        Ok(target) => Some(shown_url(&target)),
        Err(_) => {
            let cut = location.split(['?', '#']).next().unwrap_or_default();
            Some(if cut.len() < location.len() {
                format!("{cut}?…")
            } else {
                cut.to_owned()
            })
        }
    }
}

/// The error an answer carries: the envelope when it has one.
async fn error_of(response: reqwest::Response, timeout: Duration) -> Error {
    let status = response.status().as_u16();
    let url = shown_url(response.url());
    let headers = response.headers().clone();
    let location = location_of(&headers, response.url());
    let body = match read_limited(response, ERROR_BODY_LIMIT).await {
        Ok(body) => body,
        Err(error) => return transport_error(&url, timeout, error),
    };
    let Some(error) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|mut v| v.get_mut("error").map(Value::take))
    else {
        return Error::UnexpectedStatus {
            status,
            url,
            location,
        };
    };
    let (Some(code), Some(message)) = (
        error.get("code").and_then(Value::as_str),
        error.get("message").and_then(Value::as_str),
    ) else {
        return Error::UnexpectedStatus {
            status,
            url,
            location,
        };
    };
    Error::Api(Box::new(ApiError {
        status,
        code: ErrorCode::parse(code),
        message: message.to_owned(),
        details: error.get("details").cloned().unwrap_or(Value::Null),
        request_id: header_text(&headers, "x-request-id"),
        retry_after: headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs),
    }))
}

async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    Ok(body)
}

fn header_text(headers: &HeaderMap, name: &'static str) -> Option<String> {
    headers
        .get(HeaderName::from_static(name))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The `If-Match` value of a version.
pub(crate) fn if_match(version: i64) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(&format!("\"{version}\""))
        .map_err(|_| Error::InvalidInput("version".into()))
}

/// Methods without a body, sent as they are.
pub(crate) fn is_bodiless(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_url_has_no_query() {
        let url = Url::parse("https://h.example/api/v1/services/x/proxy/a?key=SECRET#f").unwrap();
        assert_eq!(
            shown_url(&url),
            "https://h.example/api/v1/services/x/proxy/a?…"
        );
        let plain = Url::parse("https://h.example/healthz").unwrap();
        assert_eq!(shown_url(&plain), "https://h.example/healthz");
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_static("../login?t=SECRET"));
        assert_eq!(
            location_of(&headers, &url).as_deref(),
            Some("https://h.example/api/v1/services/x/login?…")
        );
    }

    #[test]
    fn only_exsvcs_own_proxy_status_member_says_it_relayed() {
        let headers = |values: &[&str]| {
            let mut map = HeaderMap::new();
            for v in values {
                map.append("proxy-status", HeaderValue::from_str(v).unwrap());
            }
            map
        };
        assert!(relayed(&headers(&["exsvc; received-status=404"])));
        assert!(relayed(&headers(&["exsvc; received-status=200, ingress"])));
        assert!(relayed(&headers(&["ingress", "exsvc;received-status=503"])));
        assert!(!relayed(&headers(&["exsvc"])));
        assert!(!relayed(&headers(&["exsvc; error=dns_error"])));
        assert!(!relayed(&headers(&[
            "ingress; received-status=404",
            "exsvc"
        ])));
    }

    #[test]
    fn the_address_keeps_a_base_path_and_refuses_what_is_not_a_base() {
        assert_eq!(
            base_url("http://127.0.0.1:8080").unwrap().as_str(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            base_url("https://exsvc.internal/exsvc").unwrap().as_str(),
            "https://exsvc.internal/exsvc/"
        );
        for bad in [
            "127.0.0.1:8080",
            "ftp://host/",
            "http://host/?q=1",
            "http://user:pw@host/",
            "not a url",
        ] {
            assert!(
                matches!(base_url(bad), Err(Error::InvalidInput(_))),
                "{bad}"
            );
        }
    }
}
