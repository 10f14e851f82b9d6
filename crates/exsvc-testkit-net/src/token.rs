//! An OAuth 2.0 client-credentials token endpoint (RFC 6749 §4.4).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::json;

use crate::serve::{bind_local, serve, Handler, Server, TestBody};
use crate::upstream::{build, full};
use crate::TestCa;

/// How the endpoint expects the client to authenticate (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenAuth {
    /// `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

/// What the endpoint expects and answers.
#[derive(Clone, Debug)]
pub struct TokenEndpointConfig {
    pub client_id: String,
    pub client_secret: String,
    pub auth: TokenAuth,
    /// `expires_in` of the answer; `None` leaves it out.
    pub expires_in: Option<u64>,
    /// `scope` of the answer; `None` echoes the requested scope (if any).
    pub scope: Option<String>,
    /// Waited before each answer (the request is recorded on arrival).
    pub delay: Duration,
    /// The status of `{"error":"invalid_client"}` on a client mismatch: 400 or 401.
    pub mismatch_status: u16,
}

impl Default for TokenEndpointConfig {
    fn default() -> Self {
        TokenEndpointConfig {
            client_id: "client-1".into(),
            client_secret: "s3cret".into(),
            auth: TokenAuth::Basic,
            expires_in: Some(3600),
            scope: None,
            delay: Duration::ZERO,
            mismatch_status: 400,
        }
    }
}

/// One request as the endpoint received it.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    /// The decoded form, in order.
    pub form: Vec<(String, String)>,
}

impl TokenRequest {
    /// The first value of form field `name`.
    pub fn form_value(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct State {
    config: TokenEndpointConfig,
    requests: Vec<TokenRequest>,
    issued: u64,
    /// Answered (status, JSON body) before any check, once each.
    errors: VecDeque<(u16, String)>,
}

/// The token endpoint at `https://127.0.0.1:PORT/token`. It checks the method,
/// the media type, `grant_type=client_credentials` and the client's
/// authentication, then issues `tok-<n>` (n counts the tokens issued, from 1).
pub struct TokenEndpoint {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl TokenEndpoint {
    /// HTTPS with a certificate from `ca`.
    pub async fn start(ca: &TestCa, config: TokenEndpointConfig) -> Self {
        Self::start_with(Some(ca.server_config_default()), config).await
    }

    /// TLS with `tls`, or plain HTTP without.
    pub async fn start_with(
        tls: Option<Arc<rustls::ServerConfig>>,
        config: TokenEndpointConfig,
    ) -> Self {
        let state = Arc::new(Mutex::new(State {
            config,
            requests: Vec::new(),
            issued: 0,
            errors: VecDeque::new(),
        }));
        let shared = state.clone();
        let handler: Handler = Arc::new(move |request| {
            let state = shared.clone();
            Box::pin(async move { answer(state, request).await })
        });
        let server = serve(bind_local().await, tls, handler);
        TokenEndpoint { server, state }
    }

    /// The token URL.
    pub fn url(&self) -> String {
        format!("{}/token", self.server.base_url())
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn request_count(&self) -> usize {
        self.state.lock().unwrap().requests.len()
    }

    /// Changes what the endpoint expects or answers from now on.
    pub fn configure(&self, change: impl FnOnce(&mut TokenEndpointConfig)) {
        change(&mut self.state.lock().unwrap().config);
    }

    pub fn set_delay(&self, delay: Duration) {
        self.configure(|c| c.delay = delay);
    }

    pub fn set_expires_in(&self, expires_in: Option<u64>) {
        self.configure(|c| c.expires_in = expires_in);
    }

    /// The next request is answered `status` with `body` (JSON text), whatever it is.
    pub fn fail_next(&self, status: u16, body: &str) {
        self.state
            .lock()
            .unwrap()
            .errors
            .push_back((status, body.to_owned()));
    }
}

async fn answer(state: Arc<Mutex<State>>, request: Request<Incoming>) -> Response<TestBody> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let recorded = TokenRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        content_type: header("content-type"),
        authorization: header("authorization"),
        form,
    };
    let (config, forced) = {
        let mut state = state.lock().unwrap();
        state.requests.push(recorded.clone());
        (state.config.clone(), state.errors.pop_front())
    };
    if !config.delay.is_zero() {
        tokio::time::sleep(config.delay).await;
    }
    if let Some((status, body)) = forced {
        return json_response(status, body);
    }
    if recorded.method != "POST"
        || !recorded
            .content_type
            .as_deref()
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
    {
        return json_response(400, json!({"error": "invalid_request"}).to_string());
    }
    if recorded.form_value("grant_type") != Some("client_credentials") {
        return json_response(400, json!({"error": "unsupported_grant_type"}).to_string());
    }
    if !client_matches(&config, &recorded) {
        let mut response = json_response(
            config.mismatch_status,
            json!({"error": "invalid_client"}).to_string(),
        );
        if config.mismatch_status == 401 {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Basic realm=\"token\""),
            );
        }
        return response;
    }
    let n = {
        let mut state = state.lock().unwrap();
        state.issued += 1;
        state.issued
    };
    let mut token = json!({"access_token": format!("tok-{n}"), "token_type": "Bearer"});
    if let Some(expires_in) = config.expires_in {
        token["expires_in"] = json!(expires_in);
    }
    if let Some(scope) = config
        .scope
        .clone()
        .or_else(|| recorded.form_value("scope").map(str::to_owned))
    {
        token["scope"] = json!(scope);
    }
    let mut response = json_response(200, token.to_string());
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

fn client_matches(config: &TokenEndpointConfig, request: &TokenRequest) -> bool {
    match config.auth {
        TokenAuth::Post => {
            request.authorization.is_none()
                && request.form_value("client_id") == Some(config.client_id.as_str())
                && request.form_value("client_secret") == Some(config.client_secret.as_str())
        }
        TokenAuth::Basic => {
            if request.form_value("client_secret").is_some() {
                return false; // RFC 6749 §2.3: one method per request.
            }
            let Some(encoded) = request
                .authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("Basic "))
            else {
                return false;
            };
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim())
            else {
                return false;
            };
            let Ok(decoded) = String::from_utf8(decoded) else {
                return false;
            };
            let Some((id, secret)) = decoded.split_once(':') else {
                return false;
            };
            form_decode(id).as_deref() == Some(config.client_id.as_str())
                && form_decode(secret).as_deref() == Some(config.client_secret.as_str())
        }
    }
}

/// Decodes one `application/x-www-form-urlencoded` value (RFC 6749 §2.3.1, Appendix B).
fn form_decode(value: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={value}")).ok()?;
    pairs.into_iter().next().map(|(_, v)| v)
}

fn json_response(status: u16, body: String) -> Response<TestBody> {
    build(
        status,
        &[("content-type".to_owned(), "application/json".to_owned())],
        full(Bytes::from(body)),
    )
}
