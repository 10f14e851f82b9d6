//! One request of the API, before it is sent: what each endpoint sends is
//! written once here, and both the typed methods of [`crate::Client`] and a
//! caller that wants the raw answer (`exsvc … -o json`) use it.

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use serde::Serialize;
use url::Url;
use uuid::Uuid;

use crate::client::if_match;
use crate::types::{
    AuditQuery, CredentialWrite, PageQuery, RoleBindingCreate, RoleBindingQuery, RoleCreate,
    RoleReplace, ServiceCreate, ServicePatch, ServiceQuery, ServiceWrite, WriteOptions,
};
use crate::Error;

/// One request: method, path below the base address, query, headers, body.
/// The body may be a credential, and a header or a proxied query a caller's
/// secret, so `Debug` gives their names or lengths only.
#[derive(Clone)]
pub struct ApiRequest {
    pub(crate) method: Method,
    /// Path segments, each percent-encoded when the URL is made.
    segments: Vec<String>,
    /// Already encoded: the rest of a proxied path, sent as given.
    raw_tail: Option<String>,
    query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
}

impl std::fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiRequest")
            .field("method", &self.method)
            .field("segments", &self.segments)
            .field("raw_tail", &self.raw_tail)
            // A proxied query is the caller's own, and may hold its secrets.
            .field(
                "query",
                &match (&self.raw_tail, &self.query) {
                    (Some(_), Some(query)) => Some(format!("[{} bytes]", query.len())),
                    (_, query) => query.clone(),
                },
            )
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field(
                "body",
                &self
                    .body
                    .as_ref()
                    .map(|body| format!("[{} bytes]", body.len())),
            )
            .finish()
    }
}

impl ApiRequest {
    /// A request of `method` to the path made of `segments`
    /// (`["api", "v1", "services"]`).
    pub fn new<S: Into<String>>(method: Method, segments: impl IntoIterator<Item = S>) -> Self {
        Self {
            method,
            segments: segments.into_iter().map(Into::into).collect(),
            raw_tail: None,
            query: None,
            headers: HeaderMap::new(),
            body: None,
        }
    }

    fn api<S: Into<String>>(method: Method, segments: impl IntoIterator<Item = S>) -> Self {
        let mut path = vec!["api".to_owned(), "v1".to_owned()];
        path.extend(segments.into_iter().map(Into::into));
        Self::new(method, path)
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The query string of `query`'s fields that are set.
    pub fn query(mut self, query: &impl Serialize) -> Result<Self, Error> {
        let text = serde_urlencoded::to_string(query)
            .map_err(|e| Error::InvalidInput(format!("query: {e}")))?;
        self.query = (!text.is_empty()).then_some(text);
        Ok(self)
    }

    /// `body` as JSON.
    pub fn json(self, body: &impl Serialize) -> Result<Self, Error> {
        let bytes =
            serde_json::to_vec(body).map_err(|e| Error::InvalidInput(format!("body: {e}")))?;
        Ok(self.body(Bytes::from(bytes), "application/json"))
    }

    pub fn body(mut self, body: Bytes, content_type: &'static str) -> Self {
        self.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        self.body = Some(body);
        self
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// `options` as headers. One the endpoint does not honour is refused:
    /// exsvc would ignore it, and the write would look guarded (`If-Match`)
    /// or safe to repeat (`Idempotency-Key`) without being so.
    fn write_options(mut self, options: &WriteOptions, honours: Honours) -> Result<Self, Error> {
        match honours {
            Honours::IfMatch if options.idempotency_key.is_some() => {
                return Err(Error::InvalidInput(
                    "exsvc takes an Idempotency-Key only when creating a service or storing \
                     a credential"
                        .into(),
                ))
            }
            Honours::IdempotencyKey if options.if_match.is_some() => {
                return Err(Error::InvalidInput(
                    "exsvc checks If-Match only when replacing, patching or deleting a service \
                     or a role"
                        .into(),
                ))
            }
            _ => {}
        }
        if let Some(version) = options.if_match {
            self.headers
                .insert(reqwest::header::IF_MATCH, if_match(version)?);
        }
        if let Some(key) = &options.idempotency_key {
            let value = HeaderValue::from_str(key).map_err(|_| {
                Error::InvalidInput("an idempotency key is 1–255 visible ASCII characters".into())
            })?;
            self.headers
                .insert(HeaderName::from_static("idempotency-key"), value);
        }
        Ok(self)
    }

    /// The full URL below `base`.
    pub fn url(&self, base: &Url) -> Result<Url, Error> {
        // A URL drops a `.` or `..` segment instead of sending it: a role
        // named `..` would be the listing of roles.
        if let Some(dots) = self
            .segments
            .iter()
            .find(|s| matches!(s.as_str(), "." | ".."))
        {
            return Err(Error::InvalidInput(format!(
                "'{dots}' cannot be a path segment"
            )));
        }
        let mut url = base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| Error::InvalidInput(format!("'{base}' cannot be a base")))?;
            path.pop_if_empty();
            path.extend(&self.segments);
        }
        if let Some(tail) = &self.raw_tail {
            check_tail(tail)?;
            let joined = format!("{}/{}", url.path(), tail.trim_start_matches('/'));
            url.set_path(&joined);
        }
        url.set_query(self.query.as_deref());
        Ok(url)
    }
}

/// Refuses a proxied path that a URL parser would not send as given: its
/// `.` and `..` segments (also spelt `%2e`) are resolved, a `\` is read as
/// `/`, and tabs and line breaks are dropped. Resolved against
/// `…/services/{id}/proxy/`, such a path reaches exsvc's own routes with the
/// caller's token (`DELETE …/proxy/../../{id}` is the service's `DELETE`);
/// exsvc refuses them too (docs/api.md §10.2), but only if they arrive.
fn check_tail(tail: &str) -> Result<(), Error> {
    let dot = |segment: &str| {
        let segment = segment.to_ascii_lowercase().replace("%2e", ".");
        segment == "." || segment == ".."
    };
    if tail.contains(['\\', '\t', '\n', '\r']) || tail.split('/').any(dot) {
        return Err(Error::InvalidInput(
            "a proxied path must not have a '.' or '..' segment (also as %2e), a backslash \
             or a line break: it would not be sent as given"
                .into(),
        ));
    }
    Ok(())
}

/// Which of [`WriteOptions`] an endpoint honours (docs/api.md §2).
#[derive(Clone, Copy)]
enum Honours {
    /// Replacing, patching and deleting services and roles.
    IfMatch,
    /// Creating a service, storing a credential.
    IdempotencyKey,
}

fn id_segment(id: Uuid) -> String {
    id.to_string()
}

pub fn list_services(query: &ServiceQuery) -> Result<ApiRequest, Error> {
    ApiRequest::api(Method::GET, ["services"]).query(query)
}

pub fn create_service(body: &ServiceCreate, options: &WriteOptions) -> Result<ApiRequest, Error> {
    ApiRequest::api(Method::POST, ["services"])
        .json(body)?
        .write_options(options, Honours::IdempotencyKey)
}

pub fn get_service(id: Uuid) -> ApiRequest {
    ApiRequest::api(Method::GET, ["services".to_owned(), id_segment(id)])
}

pub fn replace_service(
    id: Uuid,
    body: &ServiceWrite,
    options: &WriteOptions,
) -> Result<ApiRequest, Error> {
    ApiRequest::api(Method::PUT, ["services".to_owned(), id_segment(id)])
        .json(body)?
        .write_options(options, Honours::IfMatch)
}

pub fn patch_service(
    id: Uuid,
    patch: &ServicePatch,
    options: &WriteOptions,
) -> Result<ApiRequest, Error> {
    let body = serde_json::to_vec(patch).map_err(|e| Error::InvalidInput(e.to_string()))?;
    ApiRequest::api(Method::PATCH, ["services".to_owned(), id_segment(id)])
        .body(Bytes::from(body), "application/merge-patch+json")
        .write_options(options, Honours::IfMatch)
}

pub fn delete_service(id: Uuid, options: &WriteOptions) -> Result<ApiRequest, Error> {
    ApiRequest::api(Method::DELETE, ["services".to_owned(), id_segment(id)])
        .write_options(options, Honours::IfMatch)
}

fn credentials_path(id: Uuid) -> [String; 3] {
    [
        "services".to_owned(),
        id_segment(id),
        "credentials".to_owned(),
    ]
}

pub fn get_credential(id: Uuid, version: Option<i64>) -> Result<ApiRequest, Error> {
    #[derive(Serialize)]
    struct Version {
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<i64>,
    }
    ApiRequest::api(Method::GET, credentials_path(id)).query(&Version { version })
}

pub fn put_credential(
    id: Uuid,
    body: &CredentialWrite,
    options: &WriteOptions,
) -> Result<ApiRequest, Error> {
    ApiRequest::api(Method::PUT, credentials_path(id))
        .json(body)?
        .write_options(options, Honours::IdempotencyKey)
}

pub fn credential_versions(id: Uuid) -> ApiRequest {
    let mut path = credentials_path(id).to_vec();
    path.push("versions".to_owned());
    ApiRequest::api(Method::GET, path)
}

pub fn delete_credential(id: Uuid) -> ApiRequest {
    ApiRequest::api(Method::DELETE, credentials_path(id))
}

pub fn list_audit_events(query: &AuditQuery) -> Result<ApiRequest, Error> {
    ApiRequest::api(Method::GET, ["audit-events"]).query(query)
}

pub fn service_token(id: Uuid) -> ApiRequest {
    ApiRequest::api(
        Method::POST,
        ["services".to_owned(), id_segment(id), "token".to_owned()],
    )
}

/// A proxied request: `path` (with its query string, if any) is joined to the
/// service's `base_url` by exsvc; it is sent as given, already encoded.
pub fn proxy(method: Method, id: Uuid, path: &str) -> ApiRequest {
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (path, None),
    };
    let mut request = ApiRequest::api(
        method,
        ["services".to_owned(), id_segment(id), "proxy".to_owned()],
    );
    request.raw_tail = Some(path.to_owned());
    request.query = query;
    request
}

pub fn service_access(id: Uuid) -> ApiRequest {
    ApiRequest::api(
        Method::GET,
        ["services".to_owned(), id_segment(id), "access".to_owned()],
    )
}

pub fn list_roles(query: &PageQuery) -> Result<ApiRequest, Error> {
    ApiRequest::api(Method::GET, ["roles"]).query(query)
}

pub fn create_role(body: &RoleCreate) -> Result<ApiRequest, Error> {
    ApiRequest::api(Method::POST, ["roles"]).json(body)
}

pub fn get_role(name: &str) -> ApiRequest {
    ApiRequest::api(Method::GET, ["roles", name])
}

pub fn replace_role(
    name: &str,
    body: &RoleReplace,
    options: &WriteOptions,
) -> Result<ApiRequest, Error> {
    ApiRequest::api(Method::PUT, ["roles", name])
        .json(body)?
        .write_options(options, Honours::IfMatch)
}

pub fn delete_role(name: &str, options: &WriteOptions) -> Result<ApiRequest, Error> {
    ApiRequest::api(Method::DELETE, ["roles", name]).write_options(options, Honours::IfMatch)
}

pub fn list_role_bindings(query: &RoleBindingQuery) -> Result<ApiRequest, Error> {
    ApiRequest::api(Method::GET, ["role-bindings"]).query(query)
}

pub fn create_role_binding(body: &RoleBindingCreate) -> Result<ApiRequest, Error> {
    ApiRequest::api(Method::POST, ["role-bindings"]).json(body)
}

pub fn get_role_binding(id: Uuid) -> ApiRequest {
    ApiRequest::api(Method::GET, ["role-bindings".to_owned(), id_segment(id)])
}

pub fn delete_role_binding(id: Uuid) -> ApiRequest {
    ApiRequest::api(Method::DELETE, ["role-bindings".to_owned(), id_segment(id)])
}

pub fn debug_auth() -> ApiRequest {
    ApiRequest::new(Method::GET, ["debug", "auth"])
}

pub fn healthz() -> ApiRequest {
    ApiRequest::new(Method::GET, ["healthz"])
}

pub fn readyz() -> ApiRequest {
    ApiRequest::new(Method::GET, ["readyz"])
}

pub fn metrics() -> ApiRequest {
    ApiRequest::new(Method::GET, ["metrics"])
}

pub fn openapi() -> ApiRequest {
    ApiRequest::new(Method::GET, ["api-docs", "openapi.json"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_below_the_base_path_and_a_proxied_tail_is_sent_as_given() {
        let base = Url::parse("https://h.example/exsvc/").unwrap();
        let id = Uuid::nil();
        assert_eq!(
            get_role("a b/c").url(&base).unwrap().as_str(),
            "https://h.example/exsvc/api/v1/roles/a%20b%2Fc"
        );
        assert_eq!(
            proxy(Method::GET, id, "/v1/charges/ch%201?limit=3&x=%2F")
                .url(&base)
                .unwrap()
                .as_str(),
            format!("https://h.example/exsvc/api/v1/services/{id}/proxy/v1/charges/ch%201?limit=3&x=%2F")
        );
        let query = ServiceQuery {
            q: Some("a&b".into()),
            limit: Some(5),
            ..ServiceQuery::default()
        };
        assert_eq!(
            list_services(&query).unwrap().url(&base).unwrap().query(),
            Some("q=a%26b&limit=5")
        );
        assert_eq!(
            healthz().url(&base).unwrap().as_str(),
            "https://h.example/exsvc/healthz"
        );
    }

    #[test]
    fn debug_shows_no_body_header_value_or_proxied_query() {
        let credential = CredentialWrite {
            auth_type: crate::types::AuthType::Bearer,
            credentials: [("token".to_owned(), "CANARY-1".into())]
                .into_iter()
                .collect(),
            expires_at: None,
        };
        let put = put_credential(Uuid::nil(), &credential, &WriteOptions::default()).unwrap();
        let proxied = proxy(Method::GET, Uuid::nil(), "x?key=CANARY-2").header(
            HeaderName::from_static("x-secret"),
            HeaderValue::from_static("CANARY-3"),
        );
        let shown = format!("{put:?} {proxied:?}");
        assert!(!shown.contains("CANARY"), "{shown}");
        assert!(shown.contains("x-secret"), "{shown}");
        let listing = list_services(&ServiceQuery {
            q: Some("stripe".into()),
            ..ServiceQuery::default()
        })
        .unwrap();
        assert!(format!("{listing:?}").contains("q=stripe"));
    }

    #[test]
    fn a_write_option_the_endpoint_ignores_is_refused() {
        let id = Uuid::nil();
        let guarded = WriteOptions::if_match(3);
        let keyed = WriteOptions::idempotency_key("k");
        let credential = CredentialWrite {
            auth_type: crate::types::AuthType::Bearer,
            credentials: crate::types::SecretObject::default(),
            expires_at: None,
        };
        let service = ServiceWrite::new("a", "b", "https://c.example");
        assert!(put_credential(id, &credential, &keyed).is_ok());
        assert!(create_service(&service.clone().into(), &keyed).is_ok());
        assert!(delete_service(id, &guarded).is_ok());
        assert!(delete_role("r", &guarded).is_ok());
        for refused in [
            put_credential(id, &credential, &guarded),
            create_service(&service.clone().into(), &guarded),
            replace_service(id, &service, &keyed),
            patch_service(id, &ServicePatch::default(), &keyed),
            delete_service(id, &keyed),
            replace_role("r", &RoleReplace::default(), &keyed),
            delete_role("r", &keyed),
        ] {
            assert!(
                matches!(refused, Err(Error::InvalidInput(_))),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn a_path_the_url_would_rewrite_is_refused_before_it_is_sent() {
        let base = Url::parse("http://h.example/").unwrap();
        let id = Uuid::nil();
        for tail in [
            "..",
            "../credentials",
            &format!("../../{id}"),
            "a/./b",
            "a/.",
            "%2e%2e/x",
            ".%2E/x",
            "%2e./x",
            "%2E",
            "a\\b",
            "a\tb",
            "a\nb",
        ] {
            let refused = proxy(Method::DELETE, id, tail).url(&base);
            assert!(
                matches!(refused, Err(Error::InvalidInput(_))),
                "{tail}: {refused:?}"
            );
        }
        for name in [".", ".."] {
            assert!(matches!(
                get_role(name).url(&base),
                Err(Error::InvalidInput(_))
            ));
        }
        // Dots within a name, and in the query, are sent as they are.
        assert_eq!(
            proxy(Method::GET, id, "v1/a.b/...c/.d?x=../..")
                .url(&base)
                .unwrap()
                .as_str(),
            format!("http://h.example/api/v1/services/{id}/proxy/v1/a.b/...c/.d?x=../..")
        );
        assert_eq!(
            get_role("a..b").url(&base).unwrap().as_str(),
            "http://h.example/api/v1/roles/a..b"
        );
    }
}
