//! [`Egress`]: the reqwest client under the egress rules, and `Upstream::send`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use exsvc_domain::ports::{
    BodyError, EgressError, OutboundBody, OutboundRequest, OutboundResponse, Upstream,
};
use futures_util::StreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::breaker::{BreakerConfig, Breakers, Outcome};
use crate::classify::{classify, Failure};
use crate::metrics::Metrics;
use crate::policy::AddressPolicy;
use crate::resolve::CheckingResolver;
use crate::retry::{backoff, is_retryable_method, retry_after, MAX_RETRY_AFTER};

/// The egress settings (docs/api.md §7, `EXSVC_EGRESS_*`).
#[derive(Clone)]
pub struct EgressSettings {
    /// `EXSVC_ALLOW_HTTP_BASE_URL`: plain `http://` destinations are allowed.
    pub allow_http: bool,
    /// `EXSVC_EGRESS_ALLOW_CIDRS`: non-public networks let through.
    pub allow_cidrs: Vec<ipnet::IpNet>,
    /// The contents of `EXSVC_EGRESS_CA_FILE`: PEM roots trusted besides the platform's.
    pub extra_roots_pem: Option<Vec<u8>>,
    /// `EXSVC_EGRESS_CONNECT_TIMEOUT_MS` (resolution, TCP and TLS handshake).
    pub connect_timeout: Duration,
    /// `EXSVC_EGRESS_TIMEOUT_MS`: the longest wait for the response headers.
    pub response_timeout: Duration,
    /// `EXSVC_EGRESS_RETRIES`: extra attempts of an idempotent request.
    pub retries: u32,
    /// `EXSVC_EGRESS_BREAKER_FAILURES`: consecutive failed attempts that open a circuit (0: never).
    pub breaker_failures: u32,
    /// `EXSVC_EGRESS_BREAKER_OPEN_SECS`.
    pub breaker_open: Duration,
}

impl Default for EgressSettings {
    fn default() -> Self {
        EgressSettings {
            allow_http: false,
            allow_cidrs: Vec::new(),
            extra_roots_pem: None,
            connect_timeout: Duration::from_secs(3),
            response_timeout: Duration::from_secs(30),
            retries: 2,
            breaker_failures: 5,
            breaker_open: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for EgressSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EgressSettings")
            .field("allow_http", &self.allow_http)
            .field("allow_cidrs", &self.allow_cidrs)
            .field(
                "extra_roots_pem",
                &self.extra_roots_pem.as_ref().map(|pem| pem.len()),
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("retries", &self.retries)
            .field("breaker_failures", &self.breaker_failures)
            .field("breaker_open", &self.breaker_open)
            .finish()
    }
}

/// The egress client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EgressSetupError {
    /// `EXSVC_EGRESS_CA_FILE` is not a PEM file of usable CA certificates.
    #[error("the egress CA file is unusable: {0}")]
    CaPem(String),
    #[error("outbound TLS could not be set up: {0}")]
    Tls(String),
    #[error("the egress metrics could not be registered: {0}")]
    Metrics(String),
}

/// Every `Egress` gets its own key into each thread's clients.
static NEXT_EGRESS: AtomicU64 = AtomicU64::new(0);

std::thread_local! {
    /// This thread's client of each `Egress`, by its key.
    static CLIENTS: RefCell<HashMap<u64, reqwest::Client>> = RefCell::new(HashMap::new());
}

/// What a client is built from: the same on every thread.
struct ClientRecipe {
    tls: rustls::ClientConfig,
    policy: Arc<AddressPolicy>,
    connect_timeout: Duration,
    response_timeout: Duration,
    allow_http: bool,
}

impl ClientRecipe {
    fn build(&self) -> Result<reqwest::Client, EgressSetupError> {
        reqwest::Client::builder()
            .use_preconfigured_tls(self.tls.clone())
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            // An answer whose body stops arriving is cut off after as long
            // as its headers may take, so it cannot hold a caller forever.
            .read_timeout(self.response_timeout)
            .dns_resolver(Arc::new(CheckingResolver {
                policy: self.policy.clone(),
            }))
            .https_only(!self.allow_http)
            .http1_only()
            .build()
            .map_err(|_| EgressSetupError::Tls("the HTTP client could not be built".into()))
    }
}

/// The outbound HTTP client. One per process: its circuits are per process.
///
/// Each thread that sends gets a client (and a connection pool) of its own,
/// built from one recipe. A pooled connection's task runs on the runtime
/// that opened it, and every actix worker is a runtime of one thread: with
/// one shared pool, a request sent on a connection another worker opened
/// waits for that worker, and with a runtime of the client's own, every
/// request crosses threads twice. Both were measured, at about 0.6–0.7× the
/// throughput of a credential read, most of the difference in task switches
/// (docs/benchmarks.md).
pub struct Egress {
    key: u64,
    recipe: ClientRecipe,
    policy: Arc<AddressPolicy>,
    allow_http: bool,
    response_timeout: Duration,
    retries: u32,
    breakers: Arc<Breakers>,
    metrics: Metrics,
}

impl fmt::Debug for Egress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Egress")
            .field("policy", &self.policy)
            .field("allow_http", &self.allow_http)
            .field("response_timeout", &self.response_timeout)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl Egress {
    /// Builds the client and registers its metrics in `registry`.
    ///
    /// # Errors
    /// `CaPem` when `extra_roots_pem` holds no usable certificate, `Tls` when
    /// the client cannot be built, `Metrics` when the metrics are already
    /// registered there.
    pub fn new(
        settings: EgressSettings,
        registry: &prometheus::Registry,
    ) -> Result<Self, EgressSetupError> {
        let roots = root_store(settings.extra_roots_pem.as_deref())?;
        let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| EgressSetupError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];

        let policy = Arc::new(AddressPolicy::new(settings.allow_cidrs.clone()));
        let recipe = ClientRecipe {
            tls,
            policy: policy.clone(),
            connect_timeout: settings.connect_timeout,
            response_timeout: settings.response_timeout,
            allow_http: settings.allow_http,
        };
        // Built once here so that a recipe that cannot make a client fails
        // the start, not a request.
        recipe.build()?;
        let metrics =
            Metrics::register(registry).map_err(|e| EgressSetupError::Metrics(e.to_string()))?;
        let breakers = Arc::new(Breakers::new(
            BreakerConfig {
                failures: settings.breaker_failures,
                open_for: settings.breaker_open,
            },
            metrics.open_circuits.clone(),
        ));
        Ok(Egress {
            key: NEXT_EGRESS.fetch_add(1, Ordering::Relaxed),
            recipe,
            policy,
            allow_http: settings.allow_http,
            response_timeout: settings.response_timeout,
            retries: settings.retries,
            breakers,
            metrics,
        })
    }

    /// This thread's client.
    fn client(&self) -> Result<reqwest::Client, EgressError> {
        CLIENTS.with(|clients| {
            let mut clients = clients.borrow_mut();
            if let Some(client) = clients.get(&self.key) {
                return Ok(client.clone());
            }
            let client = self.recipe.build().map_err(|_| EgressError::Unreachable)?;
            clients.insert(self.key, client.clone());
            Ok(client)
        })
    }

    /// The state of `key`'s circuit in this process.
    pub fn circuit_state(&self, key: &exsvc_domain::ports::CircuitKey) -> crate::CircuitState {
        self.breakers.state(key)
    }

    /// The longest wait for response headers.
    pub fn response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// The scheme and, for an IP-literal host, the address (hyper connects to
    /// a literal without asking the resolver). A host name is checked when
    /// it is resolved.
    fn check_destination(&self, url: &url::Url) -> Result<(), EgressError> {
        let host = url.host_str().unwrap_or_default().to_owned();
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            scheme => {
                return Err(EgressError::Denied {
                    host,
                    reason: format!("the scheme {scheme} is not allowed"),
                })
            }
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(url::Host::Domain(_)) => None,
            None => {
                return Err(EgressError::Denied {
                    host,
                    reason: "the URL names no host".into(),
                })
            }
        };
        if let Some(address) = literal {
            self.policy
                .check(address)
                .map_err(|refusal| EgressError::Denied {
                    host,
                    reason: refusal.to_string(),
                })?;
        }
        Ok(())
    }

    /// One attempt: send, and wait at most the response timeout for the headers.
    async fn attempt(
        &self,
        method: &http::Method,
        url: &url::Url,
        headers: &http::HeaderMap,
        body: Option<reqwest::Body>,
    ) -> Result<reqwest::Response, Failure> {
        let mut request = reqwest::Request::new(method.clone(), url.clone());
        *request.headers_mut() = headers.clone();
        *request.body_mut() = body;
        let host = url.host_str().unwrap_or_default();
        let started = Instant::now();
        let client = self.client().map_err(|error| Failure {
            error,
            not_connected: true,
        })?;
        let result = tokio::time::timeout(self.response_timeout, client.execute(request)).await;
        let outcome = match result {
            Ok(Ok(response)) => {
                self.metrics
                    .answered(response.status(), started.elapsed().as_secs_f64());
                tracing::debug!(host, %method, status = response.status().as_u16(), "egress: answered");
                return Ok(response);
            }
            Ok(Err(error)) => classify(&error, host),
            Err(_) => Failure {
                error: EgressError::ResponseTimeout,
                not_connected: false,
            },
        };
        self.metrics.failed(&outcome.error);
        tracing::debug!(host, %method, error = outcome.error.proxy_status_type(), "egress: no answer");
        Err(outcome)
    }

    /// Sends one request once, outside any circuit (the token endpoint).
    pub(crate) async fn send_once(
        &self,
        method: http::Method,
        url: &url::Url,
        headers: &http::HeaderMap,
        body: Bytes,
    ) -> Result<reqwest::Response, EgressError> {
        if let Err(denied) = self.check_destination(url) {
            self.metrics.failed(&denied);
            return Err(denied);
        }
        self.attempt(&method, url, headers, Some(reqwest::Body::from(body)))
            .await
            .map_err(|failure| failure.error)
    }
}

#[async_trait]
impl Upstream for Egress {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, EgressError> {
        let OutboundRequest {
            circuit,
            method,
            url,
            headers,
            body,
        } = request;
        if let Err(denied) = self.check_destination(&url) {
            self.metrics.failed(&denied);
            tracing::info!(
                host = url.host_str().unwrap_or_default(),
                "egress: destination refused"
            );
            return Err(denied);
        }
        let retryable = is_retryable_method(&method) && body.is_replayable();
        let attempts = if retryable {
            self.retries.saturating_add(1)
        } else {
            1
        };
        let mut body = Some(body);
        // The previous attempt's result, returned when the circuit refuses the next.
        let mut previous: Option<Result<reqwest::Response, EgressError>> = None;
        for n in 0..attempts {
            let permit = match self.breakers.admit(&circuit, Instant::now()) {
                Ok(permit) => permit,
                Err(retry_after) => {
                    return match previous {
                        Some(result) => result.map(outbound),
                        None => {
                            let open = EgressError::CircuitOpen { retry_after };
                            self.metrics.failed(&open);
                            Err(open)
                        }
                    };
                }
            };
            drop(previous.take());
            let attempt_body = match &mut body {
                Some(OutboundBody::Full(bytes)) => Some(reqwest::Body::from(bytes.clone())),
                Some(OutboundBody::Empty) => None,
                stream @ Some(OutboundBody::Stream(_)) => match stream.take() {
                    Some(OutboundBody::Stream(stream)) => Some(reqwest::Body::wrap_stream(stream)),
                    _ => None,
                },
                None => None,
            };
            let last = n + 1 >= attempts;
            match self.attempt(&method, &url, &headers, attempt_body).await {
                Ok(response) => {
                    let status = response.status();
                    permit.record(
                        if status.is_server_error() {
                            Outcome::Failure
                        } else {
                            Outcome::Success
                        },
                        Instant::now(),
                    );
                    if last || !matches!(status.as_u16(), 502..=504) {
                        return Ok(outbound(response));
                    }
                    let wait = match retry_after(response.headers(), chrono::Utc::now()) {
                        Some(wait) if wait <= MAX_RETRY_AFTER => wait,
                        Some(_) => return Ok(outbound(response)),
                        None => backoff(n),
                    };
                    previous = Some(Ok(response));
                    tokio::time::sleep(wait).await;
                }
                Err(failure) => {
                    // Neither a refused destination nor a caller's broken
                    // body says anything about the upstream's health.
                    let denied = matches!(
                        failure.error,
                        EgressError::Denied { .. } | EgressError::RequestBody
                    );
                    permit.record(
                        if denied {
                            Outcome::Neutral
                        } else {
                            Outcome::Failure
                        },
                        Instant::now(),
                    );
                    if last || !failure.not_connected {
                        return Err(failure.error);
                    }
                    previous = Some(Err(failure.error));
                    tokio::time::sleep(backoff(n)).await;
                }
            }
        }
        // Not reached: the last attempt returns.
        match previous {
            Some(result) => result.map(outbound),
            None => Err(EgressError::Unreachable),
        }
    }
}

/// The answer with its body still streaming. A body error says nothing of the URL.
fn outbound(mut response: reqwest::Response) -> OutboundResponse {
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let body = response
        .bytes_stream()
        .map(|chunk| chunk.map_err(|_| BodyError("the upstream's body could not be read".into())));
    OutboundResponse {
        status,
        headers,
        body: Box::pin(body),
    }
}

/// The platform's roots (none is not an error) and the extra PEM roots.
fn root_store(extra_pem: Option<&[u8]>) -> Result<rustls::RootCertStore, EgressSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    if !native.errors.is_empty() {
        tracing::warn!(
            errors = native.errors.len(),
            "egress: some platform root certificates could not be loaded"
        );
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "egress: platform root certificates");
    if let Some(pem) = extra_pem {
        let mut count = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|_| {
                EgressSetupError::CaPem("a certificate could not be read as PEM".into())
            })?;
            roots.add(cert).map_err(|_| {
                EgressSetupError::CaPem("a certificate is not a usable trust anchor".into())
            })?;
            count += 1;
        }
        if count == 0 {
            return Err(EgressSetupError::CaPem(
                "it holds no PEM certificate".into(),
            ));
        }
    }
    Ok(roots)
}
