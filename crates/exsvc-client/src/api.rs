//! The typed methods of [`Client`]: one per endpoint of docs/api.md §2, plus
//! the conveniences every caller writes otherwise (all pages, a service by
//! name).

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use uuid::Uuid;

use crate::client::{shown_url, transport_error};
use crate::request;
use crate::types::{
    AccessReview, AuditEventList, AuditQuery, Credential, CredentialMeta, CredentialVersions,
    CredentialWrite, DebugAuth, PageQuery, Role, RoleBinding, RoleBindingCreate, RoleBindingList,
    RoleBindingQuery, RoleCreate, RoleList, RoleReplace, Service, ServiceCreate, ServiceList,
    ServicePatch, ServiceQuery, ServiceToken, ServiceWrite, WriteOptions,
};
use crate::{Client, Error};

/// A proxied request's answer from the upstream (docs/api.md §10.2): its
/// status, headers and body, streamed. `Debug` gives the status and the
/// headers' names: a header may echo what the caller sent, its proxied query
/// among it.
pub struct ProxyResponse {
    response: reqwest::Response,
    /// The client's timeout, which the body's reading is within too.
    timeout: Duration,
}

impl std::fmt::Debug for ProxyResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyResponse")
            .field("status", &self.response.status())
            .field(
                "headers",
                &self.response.headers().keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ProxyResponse {
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    pub fn headers(&self) -> &HeaderMap {
        self.response.headers()
    }

    /// The next chunk of the body, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        let url = shown_url(self.response.url());
        let timeout = self.timeout;
        self.response
            .chunk()
            .await
            .map_err(|e| transport_error(&url, timeout, e))
    }

    /// The whole body.
    pub async fn bytes(self) -> Result<Bytes, Error> {
        let url = shown_url(self.response.url());
        self.response
            .bytes()
            .await
            .map_err(|e| transport_error(&url, self.timeout, e))
    }
}

/// Whether `reference` may be a service's name (docs/api.md §1.1), and so a
/// valid `q` of the listing.
fn could_be_a_name(reference: &str) -> bool {
    let length = reference.chars().count();
    (1..=100).contains(&length) && !reference.chars().any(char::is_control)
}

impl Client {
    /// One page of the services the caller may read (`GET /api/v1/services`).
    pub async fn list_services(&self, query: &ServiceQuery) -> Result<ServiceList, Error> {
        self.call(request::list_services(query)?).await
    }

    /// Every service matching `query`, following `next_cursor` to the end.
    /// A `next_cursor` the server gave before (the listing would never end)
    /// is [`Error::Decode`].
    pub async fn all_services(&self, query: &ServiceQuery) -> Result<Vec<Service>, Error> {
        let mut query = ServiceQuery {
            limit: query.limit.or(Some(100)),
            ..query.clone()
        };
        let mut services = Vec::new();
        let mut seen = HashSet::new();
        if let Some(cursor) = &query.cursor {
            seen.insert(cursor.clone());
        }
        loop {
            let page = self.list_services(&query).await?;
            services.extend(page.services);
            match page.next_cursor {
                Some(cursor) if !seen.insert(cursor.clone()) => {
                    let url = request::list_services(&query)?.url(self.base_url())?;
                    return Err(Error::Decode {
                        url: shown_url(&url),
                        reason: format!(
                            "next_cursor '{cursor}' was given before: the listing would not end"
                        ),
                    });
                }
                Some(cursor) => query.cursor = Some(cursor),
                None => return Ok(services),
            }
        }
    }

    /// Registers a service, with its first credential when `body` has one.
    pub async fn create_service(
        &self,
        body: &ServiceCreate,
        options: &WriteOptions,
    ) -> Result<Service, Error> {
        self.call(request::create_service(body, options)?).await
    }

    pub async fn get_service(&self, id: Uuid) -> Result<Service, Error> {
        self.call(request::get_service(id)).await
    }

    /// The service that `reference` names: its id, or its exact name (names
    /// are unique per tenant, ignoring case; an exact match wins). A
    /// reference that is one service's id and another's name is refused as
    /// ambiguous.
    pub async fn find_service(&self, reference: &str) -> Result<Service, Error> {
        let by_id = match Uuid::parse_str(reference) {
            Ok(id) => match self.get_service(id).await {
                Ok(service) => Some(service),
                Err(Error::Api(e)) if e.status == 404 => None,
                Err(error) => return Err(error),
            },
            Err(_) => None,
        };
        // A reference no name can be (names are 1–100 characters without
        // control characters) is not looked for: the listing would refuse it
        // as a `q`, or, empty, list every service.
        let named = if could_be_a_name(reference) {
            let query = ServiceQuery {
                q: Some(reference.to_owned()),
                ..ServiceQuery::default()
            };
            self.all_services(&query).await?
        } else {
            Vec::new()
        };
        let by_name = named.iter().find(|s| s.name == reference).or_else(|| {
            named
                .iter()
                .find(|s| s.name.to_lowercase() == reference.to_lowercase())
        });
        match (by_id, by_name) {
            (Some(a), Some(b)) if a.id != b.id => Err(Error::Reference(format!(
                "'{reference}' is ambiguous: the id of service '{}' and the name of service {}; use the other's id",
                a.name, b.id
            ))),
            (Some(service), _) => Ok(service),
            (None, Some(service)) => Ok(service.clone()),
            (None, None) => Err(Error::Reference(format!(
                "no service has the id or name '{reference}'"
            ))),
        }
    }

    /// Replaces every writable field (`PUT`).
    pub async fn replace_service(
        &self,
        id: Uuid,
        body: &ServiceWrite,
        options: &WriteOptions,
    ) -> Result<Service, Error> {
        self.call(request::replace_service(id, body, options)?)
            .await
    }

    /// Changes the fields `patch` sets (JSON Merge Patch).
    pub async fn patch_service(
        &self,
        id: Uuid,
        patch: &ServicePatch,
        options: &WriteOptions,
    ) -> Result<Service, Error> {
        self.call(request::patch_service(id, patch, options)?).await
    }

    /// Deletes the service and destroys its credentials.
    pub async fn delete_service(&self, id: Uuid, options: &WriteOptions) -> Result<(), Error> {
        self.call_empty(request::delete_service(id, options)?).await
    }

    /// Reveals the current credential, or a kept earlier `version` (an audit
    /// event records the read).
    pub async fn get_credential(
        &self,
        id: Uuid,
        version: Option<i64>,
    ) -> Result<Credential, Error> {
        self.call(request::get_credential(id, version)?).await
    }

    /// Stores a new current version; the answer is metadata only.
    pub async fn put_credential(
        &self,
        id: Uuid,
        body: &CredentialWrite,
        options: &WriteOptions,
    ) -> Result<CredentialMeta, Error> {
        self.call(request::put_credential(id, body, options)?).await
    }

    pub async fn credential_versions(&self, id: Uuid) -> Result<CredentialVersions, Error> {
        self.call(request::credential_versions(id)).await
    }

    /// Destroys every version of the service's credential.
    pub async fn delete_credential(&self, id: Uuid) -> Result<(), Error> {
        self.call_empty(request::delete_credential(id)).await
    }

    pub async fn list_audit_events(&self, query: &AuditQuery) -> Result<AuditEventList, Error> {
        self.call(request::list_audit_events(query)?).await
    }

    /// An access token for the service's `oauth2_client_credentials`
    /// credential, from exsvc's token broker (docs/api.md §10.1).
    pub async fn service_token(&self, id: Uuid) -> Result<ServiceToken, Error> {
        self.call(request::service_token(id)).await
    }

    /// Has exsvc send `method path` to the service with its credential
    /// (docs/api.md §10.2). The upstream's answer comes back whatever its
    /// status; exsvc's own refusals (egress rules, timeouts, 404 …) are
    /// [`Error::Api`]. `path` may carry a query string and is sent as given
    /// (one with a `.` or `..` segment is refused: [`Error::InvalidInput`]).
    /// An `Authorization` among `headers` is replaced by the client's token.
    pub async fn proxy(
        &self,
        method: Method,
        id: Uuid,
        path: &str,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<ProxyResponse, Error> {
        let mut request = request::proxy(method, id, path);
        for (name, value) in &headers {
            request = request.header(name.clone(), value.clone());
        }
        if let Some(body) = body {
            request = request.body(body, "application/octet-stream");
            if let Some(content_type) = headers.get(reqwest::header::CONTENT_TYPE) {
                request
                    .headers
                    .insert(reqwest::header::CONTENT_TYPE, content_type.clone());
            }
        } else if !crate::client::is_bodiless(request.method()) {
            request = request.body(Bytes::new(), "application/octet-stream");
        }
        let response = self.send(&request).await?;
        Ok(ProxyResponse {
            response,
            timeout: self.timeout(),
        })
    }

    /// Who can reach the service's secret and who did (docs/api.md §4.6).
    pub async fn service_access(&self, id: Uuid) -> Result<AccessReview, Error> {
        self.call(request::service_access(id)).await
    }

    pub async fn list_roles(&self, query: &PageQuery) -> Result<RoleList, Error> {
        self.call(request::list_roles(query)?).await
    }

    pub async fn create_role(&self, body: &RoleCreate) -> Result<Role, Error> {
        self.call(request::create_role(body)?).await
    }

    pub async fn get_role(&self, name: &str) -> Result<Role, Error> {
        self.call(request::get_role(name)).await
    }

    pub async fn replace_role(
        &self,
        name: &str,
        body: &RoleReplace,
        options: &WriteOptions,
    ) -> Result<Role, Error> {
        self.call(request::replace_role(name, body, options)?).await
    }

    /// Deletes a role; 409 `ROLE_IN_USE` while a binding names it.
    pub async fn delete_role(&self, name: &str, options: &WriteOptions) -> Result<(), Error> {
        self.call_empty(request::delete_role(name, options)?).await
    }

    pub async fn list_role_bindings(
        &self,
        query: &RoleBindingQuery,
    ) -> Result<RoleBindingList, Error> {
        self.call(request::list_role_bindings(query)?).await
    }

    pub async fn create_role_binding(
        &self,
        body: &RoleBindingCreate,
    ) -> Result<RoleBinding, Error> {
        self.call(request::create_role_binding(body)?).await
    }

    pub async fn get_role_binding(&self, id: Uuid) -> Result<RoleBinding, Error> {
        self.call(request::get_role_binding(id)).await
    }

    pub async fn delete_role_binding(&self, id: Uuid) -> Result<(), Error> {
        self.call_empty(request::delete_role_binding(id)).await
    }

    /// What the server understood of the client's token.
    pub async fn debug_auth(&self) -> Result<DebugAuth, Error> {
        self.call(request::debug_auth()).await
    }

    /// Whether the process answers (`/healthz`).
    pub async fn healthz(&self) -> Result<(), Error> {
        self.call_empty(request::healthz()).await
    }

    /// Whether the database answers (`/readyz`); a 503 is [`Error::Api`].
    pub async fn readyz(&self) -> Result<(), Error> {
        self.call_empty(request::readyz()).await
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> Result<String, Error> {
        let answer = self.execute(&request::metrics()).await?;
        Ok(String::from_utf8_lossy(&answer.body).into_owned())
    }

    /// The served OpenAPI document.
    pub async fn openapi(&self) -> Result<serde_json::Value, Error> {
        self.call(request::openapi()).await
    }
}
