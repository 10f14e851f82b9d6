//! A typed client of a running `TestApp`: one value bound to the server and a
//! token, whose methods read as the API (`create_service`, `reveal`, `audit`…).
//!
//! Every call answers a [`Reply`] whose body is read already, so checks are
//! plain functions: `expect_status(201)`, `expect_error(404, "SERVICE_NOT_FOUND")`
//! (which also checks the envelope and the `X-Request-Id`). A call is a builder
//! until it is awaited: `.if_match("\"1\"")`, `.idempotency_key("k")`,
//! `.header(…)` or `.raw(…)` (any reqwest setting) shape it first.
//!
//! ```ignore
//! let api = app.api(&admin("acme"));
//! let id = api.create_service(&service_body("Stripe")).await.expect_status(201).id();
//! api.get_service("nope").await.expect_error(404, "SERVICE_NOT_FOUND");
//! ```

use std::fmt::Display;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;

use crate::TestApp;

/// The API as one caller sees it.
#[derive(Clone)]
pub struct ApiClient<'a> {
    app: &'a TestApp,
    /// The whole `Authorization` header, if any.
    authorization: Option<String>,
}

impl TestApp {
    /// A client that sends `token` as its bearer token.
    pub fn api(&self, token: impl Display) -> ApiClient<'_> {
        ApiClient {
            app: self,
            authorization: Some(format!("Bearer {token}")),
        }
    }

    /// A client that sends this `Authorization` header as it is.
    pub fn api_with_authorization(&self, value: impl Into<String>) -> ApiClient<'_> {
        ApiClient {
            app: self,
            authorization: Some(value.into()),
        }
    }

    /// A client that sends no `Authorization` header.
    pub fn anonymous(&self) -> ApiClient<'_> {
        ApiClient {
            app: self,
            authorization: None,
        }
    }
}

fn query_suffix(query: &str) -> String {
    if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.trim_start_matches('?'))
    }
}

impl<'a> ApiClient<'a> {
    pub fn app(&self) -> &'a TestApp {
        self.app
    }

    /// Any request to `path` (under the app's base path), authorized as this client.
    pub fn request(&self, method: Method, path: &str) -> Call {
        self.request_url(method, self.app.url(path))
    }

    /// Any request to a full URL (e.g. one outside the base path).
    pub fn request_url(&self, method: Method, url: String) -> Call {
        let mut builder = self.app.client.request(method.clone(), &url);
        if let Some(value) = &self.authorization {
            builder = builder.header("authorization", value);
        }
        Call {
            what: format!("{method} {url}"),
            builder,
        }
    }

    pub fn get(&self, path: &str) -> Call {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Call {
        self.request(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> Call {
        self.request(Method::PUT, path)
    }

    pub fn patch(&self, path: &str) -> Call {
        self.request(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> Call {
        self.request(Method::DELETE, path)
    }

    // Services.

    /// `POST /api/v1/services`.
    pub fn create_service(&self, body: &Value) -> Call {
        self.post("/api/v1/services").json(body)
    }

    /// Creates a service, asserting 201, and returns its id.
    pub async fn new_service(&self, body: &Value) -> String {
        self.create_service(body).await.expect_status(201).id()
    }

    /// `GET /api/v1/services/{id}`.
    pub fn get_service(&self, id: &str) -> Call {
        self.get(&format!("/api/v1/services/{id}"))
    }

    /// `GET /api/v1/services?{query}` (`query` may be empty).
    pub fn list_services(&self, query: &str) -> Call {
        self.get(&format!("/api/v1/services{}", query_suffix(query)))
    }

    /// `PUT /api/v1/services/{id}`: replaces every writable field.
    pub fn replace_service(&self, id: &str, body: &Value) -> Call {
        self.put(&format!("/api/v1/services/{id}")).json(body)
    }

    /// `PATCH /api/v1/services/{id}` with a JSON body (`application/json`).
    pub fn patch_service(&self, id: &str, patch: &Value) -> Call {
        self.patch(&format!("/api/v1/services/{id}")).json(patch)
    }

    /// `PATCH /api/v1/services/{id}` as `application/merge-patch+json`, sent as written.
    pub fn merge_patch_service(&self, id: &str, patch: &str) -> Call {
        self.patch(&format!("/api/v1/services/{id}"))
            .body("application/merge-patch+json", patch.to_owned())
    }

    /// `DELETE /api/v1/services/{id}`.
    pub fn delete_service(&self, id: &str) -> Call {
        self.delete(&format!("/api/v1/services/{id}"))
    }

    // Credentials.

    /// `PUT /api/v1/services/{id}/credentials`.
    pub fn put_credentials(&self, id: &str, body: &Value) -> Call {
        self.put(&format!("/api/v1/services/{id}/credentials"))
            .json(body)
    }

    /// `GET /api/v1/services/{id}/credentials`: the current secret.
    pub fn reveal(&self, id: &str) -> Call {
        self.get(&format!("/api/v1/services/{id}/credentials"))
    }

    /// `GET /api/v1/services/{id}/credentials?version={version}` (sent as
    /// written, so `"zero"` or `"%00"` go through too).
    pub fn reveal_version(&self, id: &str, version: impl Display) -> Call {
        self.get(&format!(
            "/api/v1/services/{id}/credentials?version={version}"
        ))
    }

    /// `GET /api/v1/services/{id}/credentials/versions`.
    pub fn versions(&self, id: &str) -> Call {
        self.get(&format!("/api/v1/services/{id}/credentials/versions"))
    }

    /// `DELETE /api/v1/services/{id}/credentials`.
    pub fn delete_credentials(&self, id: &str) -> Call {
        self.delete(&format!("/api/v1/services/{id}/credentials"))
    }

    // Roles, bindings and the access review.

    /// `POST /api/v1/roles`.
    pub fn create_role(&self, body: &Value) -> Call {
        self.post("/api/v1/roles").json(body)
    }

    /// `GET /api/v1/roles?{query}`.
    pub fn list_roles(&self, query: &str) -> Call {
        self.get(&format!("/api/v1/roles{}", query_suffix(query)))
    }

    /// `GET /api/v1/roles/{name}`.
    pub fn get_role(&self, name: &str) -> Call {
        self.get(&format!("/api/v1/roles/{name}"))
    }

    /// `PUT /api/v1/roles/{name}`.
    pub fn replace_role(&self, name: &str, body: &Value) -> Call {
        self.put(&format!("/api/v1/roles/{name}")).json(body)
    }

    /// `DELETE /api/v1/roles/{name}`.
    pub fn delete_role(&self, name: &str) -> Call {
        self.delete(&format!("/api/v1/roles/{name}"))
    }

    /// `POST /api/v1/role-bindings`.
    pub fn create_binding(&self, body: &Value) -> Call {
        self.post("/api/v1/role-bindings").json(body)
    }

    /// Binds `role` to the caller whose `subject_type` claim is `value`,
    /// asserting 201, and returns the binding's id.
    pub async fn bind(&self, role: &str, subject_type: &str, value: &str) -> String {
        self.create_binding(&serde_json::json!({
            "role": role, "subject": {"type": subject_type, "value": value}
        }))
        .await
        .expect_status(201)
        .id()
    }

    /// `GET /api/v1/role-bindings?{query}`.
    pub fn list_bindings(&self, query: &str) -> Call {
        self.get(&format!("/api/v1/role-bindings{}", query_suffix(query)))
    }

    /// `GET /api/v1/role-bindings/{id}`.
    pub fn get_binding(&self, id: &str) -> Call {
        self.get(&format!("/api/v1/role-bindings/{id}"))
    }

    /// `DELETE /api/v1/role-bindings/{id}`.
    pub fn delete_binding(&self, id: &str) -> Call {
        self.delete(&format!("/api/v1/role-bindings/{id}"))
    }

    /// `GET /api/v1/services/{id}/access`.
    pub fn access_review(&self, id: &str) -> Call {
        self.get(&format!("/api/v1/services/{id}/access"))
    }

    // Using a credential without revealing it.

    /// `POST /api/v1/services/{id}/token`.
    pub fn service_token(&self, id: &str) -> Call {
        self.post(&format!("/api/v1/services/{id}/token"))
    }

    /// The `credentials.use` events of service `id`, once there are `expected`
    /// of them and each has its outcome (written off the request path, so it
    /// may lag the answer a little). Fails the test after 5 s.
    pub async fn completed_uses(&self, id: &str, expected: usize) -> Vec<Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let events = self
                .audit(&format!("service_id={id}&action=credentials.use&limit=100"))
                .await
                .expect_status(200)
                .into_json()["events"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let complete = events
                .iter()
                .filter(|e| !e["details"]["latency_ms"].is_null())
                .count();
            if events.len() == expected && complete == expected {
                return events;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "expected {expected} complete use events, have {events:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// `{method} /api/v1/services/{id}/proxy/{path}` (`path` may carry a query).
    pub fn proxy(&self, method: Method, id: &str, path: &str) -> Call {
        self.request(method, &format!("/api/v1/services/{id}/proxy/{path}"))
    }

    // The rest.

    /// `GET /api/v1/audit-events?{query}` (`query` may be empty).
    pub fn audit(&self, query: &str) -> Call {
        self.get(&format!("/api/v1/audit-events{}", query_suffix(query)))
    }

    /// `GET /debug/auth`.
    pub fn debug_auth(&self) -> Call {
        self.get("/debug/auth")
    }
}

/// One request, not sent until awaited.
#[must_use = "a call does nothing until it is awaited"]
pub struct Call {
    what: String,
    builder: RequestBuilder,
}

impl Call {
    /// Adds a header (a second one of a name is added, not replaced).
    pub fn header(self, name: &str, value: impl AsRef<str>) -> Self {
        let value = value.as_ref().to_owned();
        self.raw(|b| b.header(name, value))
    }

    pub fn if_match(self, tag: &str) -> Self {
        self.header("if-match", tag)
    }

    pub fn idempotency_key(self, key: &str) -> Self {
        self.header("idempotency-key", key)
    }

    /// `body` as JSON (`Content-Type: application/json`).
    pub fn json(self, body: &Value) -> Self {
        self.raw(|b| b.json(body))
    }

    /// `body` as it is, under `content_type`.
    pub fn body(self, content_type: &str, body: impl Into<reqwest::Body>) -> Self {
        let body = body.into();
        self.raw(|b| b.header("content-type", content_type).body(body))
    }

    /// The escape hatch: any reqwest setting.
    pub fn raw(mut self, f: impl FnOnce(RequestBuilder) -> RequestBuilder) -> Self {
        self.builder = f(self.builder);
        self
    }

    pub async fn send(self) -> Reply {
        let response = self
            .builder
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", self.what));
        Reply::read(self.what, response).await
    }
}

impl IntoFuture for Call {
    type Output = Reply;
    type IntoFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A response, read whole: status, headers, body text and (if it is JSON) its value.
#[derive(Debug, Clone)]
pub struct Reply {
    /// `METHOD url` of the request, for messages.
    pub what: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    value: Option<Value>,
}

impl Reply {
    /// Reads a response of a request made some other way.
    pub async fn read(what: impl Into<String>, response: reqwest::Response) -> Self {
        let what = what.into();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("{what}: reading the body: {e}"));
        let value = serde_json::from_str(&text).ok();
        Self {
            what,
            status,
            headers,
            text,
            value,
        }
    }

    /// The status as a number.
    pub fn code(&self) -> u16 {
        self.status.as_u16()
    }

    /// The JSON body; fails the test when the body is not JSON.
    #[track_caller]
    pub fn json(&self) -> &Value {
        match &self.value {
            Some(value) => value,
            None => panic!(
                "{} answered {} with a body that is not JSON: {:?}",
                self.what, self.status, self.text
            ),
        }
    }

    #[track_caller]
    pub fn into_json(self) -> Value {
        self.json();
        self.value.unwrap_or_default()
    }

    /// The JSON body's `id` (of a service).
    #[track_caller]
    pub fn id(&self) -> String {
        match self.json()["id"].as_str() {
            Some(id) => id.to_owned(),
            None => panic!("{}: no id in {}", self.what, self.text),
        }
    }

    /// A header's value as text, if present.
    #[track_caller]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| {
            v.to_str()
                .unwrap_or_else(|_| panic!("{}: header {name} is not text", self.what))
        })
    }

    /// A header that must be there.
    #[track_caller]
    pub fn must_header(&self, name: &str) -> &str {
        match self.header(name) {
            Some(value) => value,
            None => panic!("{}: no {name} header ({})", self.what, self.status),
        }
    }

    #[track_caller]
    pub fn etag(&self) -> &str {
        self.must_header("etag")
    }

    /// Fails unless the status is `status`; the message shows the body.
    #[track_caller]
    pub fn expect_status(self, status: u16) -> Self {
        assert_eq!(
            self.code(),
            status,
            "{} answered {}: {}",
            self.what,
            self.status,
            self.text
        );
        self
    }

    /// Fails unless this is the error envelope of docs/api.md §3 with `status`
    /// and `code`: JSON, exactly `{"error": {"code", "message", "details"}}`,
    /// a message, a details object, and an `X-Request-Id`. Returns the
    /// `error` object.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Value {
        let reply = self.expect_status(status);
        let what = &reply.what;
        let body = reply.json();
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
        assert!(
            reply.headers.contains_key("x-request-id"),
            "{what}: no X-Request-Id"
        );
        assert!(
            reply
                .header("content-type")
                .is_some_and(|ct| ct.starts_with("application/json")),
            "{what}: the error is not sent as JSON"
        );
        let error = body
            .as_object()
            .filter(|envelope| envelope.len() == 1)
            .and_then(|envelope| envelope.get("error"))
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("{what}: not an error envelope: {body}"));
        assert!(error["message"].is_string(), "{what}: no message: {body}");
        assert!(error["details"].is_object(), "{what}: no details: {body}");
        assert_eq!(
            error.len(),
            3,
            "{what}: more than code, message, details: {body}"
        );
        Value::Object(error.clone())
    }

    /// A validation error naming `field`; returns the `error` object.
    #[track_caller]
    pub fn expect_invalid_field(self, field: &str) -> Value {
        let what = self.what.clone();
        let error = self.expect_error(400, "VALIDATION_ERROR");
        assert!(
            error["details"]["fields"][field].is_string(),
            "{what}: {field} not named in {error}"
        );
        error
    }
}
