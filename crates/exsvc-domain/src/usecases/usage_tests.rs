//! The proxy's and the broker's decisions against mocked ports: what is
//! sent where, what is never forwarded, and that nothing leaves before the
//! use is recorded.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::*;
use crate::audit::AuditEvent;
use crate::credential::{AuthType, CredentialRecord};
use crate::ports::{
    EgressError, MockAuditLog, MockClock, MockCredentialCipher, MockCredentialRepository,
    MockIdGenerator, MockOutcomeSink, MockServiceRepository, MockTokenBroker, MockUpstream,
    RepositoryError,
};
use crate::principal::TenantId;
use crate::service::{ServiceSpec, UrlPolicy};

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn principal(permissions: &[Permission]) -> Principal {
    Principal::new(
        TenantId::parse("acme").unwrap(),
        "worker",
        permissions.iter().copied(),
    )
    .with_request_id("req-1")
}

fn service(id: ServiceId, base_url: &str) -> Service {
    let doc = json!({"name": "Stripe", "type": "payment", "base_url": base_url});
    Service {
        id,
        tenant_id: TenantId::parse("acme").unwrap(),
        spec: ServiceSpec::from_document(doc.as_object().unwrap(), UrlPolicy::default()).unwrap(),
        credential: None,
        created_at: t0(),
        updated_at: t0(),
        version: 1,
    }
}

/// What a test sets up: the service's base URL and credential, and whether
/// the audit trail can be written.
struct Setup {
    base_url: &'static str,
    auth_type: AuthType,
    secret: Value,
    audit_works: bool,
}

impl Setup {
    fn new(auth_type: AuthType, secret: Value) -> Self {
        Self {
            base_url: "https://api.example.com/v1",
            auth_type,
            secret,
            audit_works: true,
        }
    }
}

/// Every request the mocked upstream was sent.
type Sent = Arc<Mutex<Vec<(Method, String, HeaderMap)>>>;

fn usage(
    setup: Setup,
    upstream: MockUpstream,
    broker: MockTokenBroker,
) -> (CredentialUse, Arc<Mutex<Vec<AuditEvent>>>) {
    let mut outcomes = MockOutcomeSink::new();
    outcomes.expect_submit().returning(|_| ());
    usage_with_outcomes(setup, upstream, broker, outcomes)
}

fn usage_with_outcomes(
    setup: Setup,
    upstream: MockUpstream,
    broker: MockTokenBroker,
    outcomes: MockOutcomeSink,
) -> (CredentialUse, Arc<Mutex<Vec<AuditEvent>>>) {
    let id_service = setup.base_url;
    let mut services = MockServiceRepository::new();
    services
        .expect_find()
        .returning(move |_, id| Ok(Some(service(id, id_service))));
    let mut credentials = MockCredentialRepository::new();
    let auth_type = setup.auth_type;
    credentials.expect_find().returning(move |_, id, _| {
        Ok(Some(CredentialRecord {
            tenant_id: TenantId::parse("acme").unwrap(),
            service_id: id,
            version: 3,
            auth_type,
            ciphertext: b"sealed".to_vec(),
            created_at: t0(),
            expires_at: None,
        }))
    });
    let plaintext = serde_json::to_vec(&setup.secret).unwrap();
    let mut cipher = MockCredentialCipher::new();
    cipher
        .expect_decrypt()
        .returning(move |_, _| Ok(Zeroizing::new(plaintext.clone())));
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let mut audit = MockAuditLog::new();
    let sink = recorded.clone();
    let works = setup.audit_works;
    audit.expect_record().returning(move |event| {
        if works {
            sink.lock().unwrap().push(event.clone());
            Ok(())
        } else {
            Err(RepositoryError::Unavailable)
        }
    });
    let mut clock = MockClock::new();
    clock.expect_now().returning(t0);
    let mut ids = MockIdGenerator::new();
    ids.expect_new_event_id().returning(Uuid::now_v7);
    let usage = CredentialUse::new(CredentialUsePorts {
        services: Arc::new(services),
        credentials: Arc::new(credentials),
        audit: Arc::new(audit),
        outcomes: Arc::new(outcomes),
        cipher: Arc::new(cipher),
        upstream: Arc::new(upstream),
        broker: Arc::new(broker),
        clock: Arc::new(clock),
        ids: Arc::new(ids),
    });
    (usage, recorded)
}

/// An upstream that answers each request with the next status of `statuses`
/// (the last one repeated) and keeps what it was sent.
fn recording_upstream(statuses: &[u16]) -> (MockUpstream, Sent) {
    let sent: Sent = Arc::new(Mutex::new(Vec::new()));
    let keep = sent.clone();
    let statuses: Vec<u16> = statuses.to_vec();
    let mut upstream = MockUpstream::new();
    upstream.expect_send().returning(move |request| {
        let mut sent = keep.lock().unwrap();
        let status = statuses[sent.len().min(statuses.len() - 1)];
        sent.push((request.method, request.url.to_string(), request.headers));
        let mut headers = HeaderMap::new();
        headers.insert("set-cookie", HeaderValue::from_static("session=upstream"));
        headers.insert("connection", HeaderValue::from_static("x-hop"));
        headers.insert("x-hop", HeaderValue::from_static("1"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        Ok(OutboundResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: Box::pin(futures_util_empty()),
        })
    });
    (upstream, sent)
}

fn futures_util_empty(
) -> impl futures_core::Stream<Item = Result<bytes::Bytes, crate::ports::BodyError>> + Send {
    struct Empty;
    impl futures_core::Stream for Empty {
        type Item = Result<bytes::Bytes, crate::ports::BodyError>;
        fn poll_next(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(None)
        }
    }
    Empty
}

fn request(method: Method, path: &str, query: Option<&str>) -> ProxyRequest {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("authorization", "Bearer caller-jwt"),
        ("cookie", "session=caller"),
        ("host", "exsvc.local"),
        ("forwarded", "for=1.2.3.4"),
        ("x-forwarded-for", "1.2.3.4"),
        ("connection", "x-private, keep-alive"),
        ("x-private", "hop"),
        ("keep-alive", "timeout=5"),
        ("te", "trailers"),
        ("upgrade", "h2c"),
        ("proxy-authorization", "Basic eA=="),
        ("x-request-id", "req-1"),
        ("content-type", "application/json"),
        ("x-api-key", "caller-chosen"),
    ] {
        headers.insert(
            http::HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    ProxyRequest {
        method,
        path: path.to_owned(),
        query: query.map(str::to_owned),
        headers,
        body: OutboundBody::Empty,
    }
}

fn no_broker() -> MockTokenBroker {
    MockTokenBroker::new()
}

#[tokio::test]
async fn an_api_key_goes_in_its_header_and_the_callers_own_credentials_stay_behind() {
    let (upstream, sent) = recording_upstream(&[200]);
    let (usage, recorded) = usage(
        Setup::new(
            AuthType::ApiKey,
            json!({"key": "CANARY-KEY", "header_name": "X-API-Key"}),
        ),
        upstream,
        no_broker(),
    );
    let caller = principal(&[Permission::Use]);
    let permit = caller.permit(Permission::Use).unwrap();
    let id = ServiceId::from_uuid(Uuid::now_v7());
    let answer = usage
        .proxy(
            permit,
            id,
            request(Method::POST, "charges/ch%2F1", Some("a=1&b=%20")),
        )
        .await
        .unwrap();
    let sent = sent.lock().unwrap();
    let (method, url, headers) = &sent[0];
    assert_eq!(*method, Method::POST);
    assert_eq!(url, "https://api.example.com/v1/charges/ch%2F1?a=1&b=%20");
    assert_eq!(headers["x-api-key"], "CANARY-KEY");
    assert!(headers["x-api-key"].is_sensitive());
    for gone in [
        "authorization",
        "cookie",
        "host",
        "forwarded",
        "x-forwarded-for",
        "connection",
        "x-private",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-authorization",
    ] {
        assert!(!headers.contains_key(gone), "{gone} was forwarded");
    }
    assert_eq!(headers["x-request-id"], "req-1");
    assert_eq!(headers["content-type"], "application/json");
    // Hop-by-hop and Set-Cookie never come back.
    assert!(!answer.headers.contains_key("set-cookie"));
    assert!(!answer.headers.contains_key("connection"));
    assert!(!answer.headers.contains_key("x-hop"));
    assert_eq!(answer.headers["x-kept"], "1");
    let events = recorded.lock().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, AuditAction::CredentialsUse);
    assert_eq!(events[0].credential_version, Some(3));
    assert_eq!(
        events[0].details,
        Some(
            json!({"kind": "proxy", "method": "POST", "path": "/charges/ch%2F1", "upstream_status": null, "latency_ms": null})
        )
    );
}

#[tokio::test]
async fn a_query_param_key_replaces_the_callers_parameter_of_that_name() {
    let (upstream, sent) = recording_upstream(&[200]);
    let (usage, _) = usage(
        Setup::new(
            AuthType::ApiKey,
            json!({"key": "k&1", "query_param": "api_key"}),
        ),
        upstream,
        no_broker(),
    );
    let caller = principal(&[Permission::Use]);
    let id = ServiceId::from_uuid(Uuid::now_v7());
    usage
        .proxy(
            caller.permit(Permission::Use).unwrap(),
            id,
            request(Method::GET, "", Some("api_key=mine&q=caf%C3%A9")),
        )
        .await
        .unwrap();
    let (_, url, _) = &sent.lock().unwrap()[0];
    assert_eq!(url, "https://api.example.com/v1/?q=caf%C3%A9&api_key=k%261");
}

#[tokio::test]
async fn basic_and_bearer_go_in_authorization() {
    for (auth_type, secret, expected) in [
        (
            AuthType::Basic,
            json!({"username": "u", "password": "p:w"}),
            "Basic dTpwOnc=",
        ),
        (AuthType::Bearer, json!({"token": "T0K"}), "Bearer T0K"),
    ] {
        let (upstream, sent) = recording_upstream(&[200]);
        let (usage, _) = usage(Setup::new(auth_type, secret), upstream, no_broker());
        let caller = principal(&[Permission::Use]);
        usage
            .proxy(
                caller.permit(Permission::Use).unwrap(),
                ServiceId::from_uuid(Uuid::now_v7()),
                request(Method::GET, "me", None),
            )
            .await
            .unwrap();
        assert_eq!(sent.lock().unwrap()[0].2["authorization"], expected);
    }
}

#[tokio::test]
async fn a_custom_credential_is_not_proxied_and_nothing_is_sent() {
    let mut upstream = MockUpstream::new();
    upstream.expect_send().never();
    let (usage, recorded) = usage(
        Setup::new(AuthType::Custom, json!({"anything": 1})),
        upstream,
        no_broker(),
    );
    let caller = principal(&[Permission::Use]);
    let refusal = usage
        .proxy(
            caller.permit(Permission::Use).unwrap(),
            ServiceId::from_uuid(Uuid::now_v7()),
            request(Method::GET, "x", None),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refusal, UseCaseError::UnsupportedAuthType { .. }),
        "{refusal:?}"
    );
    assert!(recorded.lock().unwrap().is_empty());
}

#[tokio::test]
async fn nothing_is_sent_when_the_use_cannot_be_recorded() {
    let mut upstream = MockUpstream::new();
    upstream.expect_send().never();
    let mut setup = Setup::new(AuthType::Bearer, json!({"token": "T"}));
    setup.audit_works = false;
    let (usage, _) = usage(setup, upstream, no_broker());
    let caller = principal(&[Permission::Use]);
    let refusal = usage
        .proxy(
            caller.permit(Permission::Use).unwrap(),
            ServiceId::from_uuid(Uuid::now_v7()),
            request(Method::GET, "x", None),
        )
        .await
        .unwrap_err();
    assert!(matches!(refusal, UseCaseError::Unavailable), "{refusal:?}");
}

#[tokio::test]
async fn dot_segments_are_refused_before_anything_is_looked_up() {
    let (usage, recorded) = usage(
        Setup::new(AuthType::Bearer, json!({"token": "T"})),
        MockUpstream::new(),
        no_broker(),
    );
    let caller = principal(&[Permission::Use]);
    for path in [
        "../admin",
        "a/./b",
        "a/%2e%2E/b",
        "%2e",
        "a\\..\\..\\admin",
        "a%5C..%5c..%5cadmin",
    ] {
        let refusal = usage
            .proxy(
                caller.permit(Permission::Use).unwrap(),
                ServiceId::from_uuid(Uuid::now_v7()),
                request(Method::GET, path, None),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(refusal, UseCaseError::Validation(_)),
            "{path}: {refusal:?}"
        );
    }
    assert!(recorded.lock().unwrap().is_empty());
}

fn oauth_secret() -> Value {
    json!({"client_id": "cid", "client_secret": "CANARY-SECRET", "token_url": "https://auth.example.com/token", "scopes": ["a", "b"]})
}

fn issued(token: &str, cached: bool) -> IssuedToken {
    IssuedToken {
        access_token: Zeroizing::new(token.to_owned()),
        token_type: "Bearer".into(),
        expires_at: t0(),
        scope: None,
        cached,
        upstream_status: if cached { None } else { Some(200) },
    }
}

#[tokio::test]
async fn an_oauth_401_fetches_a_new_token_once_and_retries_once() {
    let (upstream, sent) = recording_upstream(&[401, 200]);
    let mut broker = MockTokenBroker::new();
    broker.expect_token().times(1).returning(|key, client| {
        assert_eq!(key.credential_version, 3);
        assert_eq!(client.scopes, ["a", "b"]);
        Ok(issued("old", true))
    });
    broker.expect_refresh().times(1).returning(|_, _, stale| {
        assert_eq!(stale, "old");
        Ok(issued("new", false))
    });
    let (usage, _) = usage(
        Setup::new(AuthType::OAuth2ClientCredentials, oauth_secret()),
        upstream,
        broker,
    );
    let caller = principal(&[Permission::Use]);
    let answer = usage
        .proxy(
            caller.permit(Permission::Use).unwrap(),
            ServiceId::from_uuid(Uuid::now_v7()),
            request(Method::POST, "x", None),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    let sent = sent.lock().unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].2["authorization"], "Bearer old");
    assert_eq!(sent[1].2["authorization"], "Bearer new");
}

#[tokio::test]
async fn a_streamed_body_is_not_replayed_after_a_401() {
    let (upstream, sent) = recording_upstream(&[401, 200]);
    let mut broker = MockTokenBroker::new();
    broker
        .expect_token()
        .returning(|_, _| Ok(issued("old", true)));
    broker.expect_refresh().never();
    // The refused token is not offered to the next request.
    broker.expect_forget().times(1).returning(|_, _| ());
    let (usage, _) = usage(
        Setup::new(AuthType::OAuth2ClientCredentials, oauth_secret()),
        upstream,
        broker,
    );
    let caller = principal(&[Permission::Use]);
    let mut streamed = request(Method::PUT, "x", None);
    streamed.body = OutboundBody::Stream(Box::pin(futures_util_empty()));
    let answer = usage
        .proxy(
            caller.permit(Permission::Use).unwrap(),
            ServiceId::from_uuid(Uuid::now_v7()),
            streamed,
        )
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_broker_refuses_other_types_and_maps_endpoint_errors() {
    let (usage_bearer, _) = usage(
        Setup::new(AuthType::Bearer, json!({"token": "T"})),
        MockUpstream::new(),
        no_broker(),
    );
    let caller = principal(&[Permission::Use]);
    let refusal = usage_bearer
        .token(
            caller.permit(Permission::Use).unwrap(),
            ServiceId::from_uuid(Uuid::now_v7()),
        )
        .await
        .unwrap_err();
    assert!(matches!(refusal, UseCaseError::UnsupportedAuthType { .. }));

    let mut broker = MockTokenBroker::new();
    broker.expect_token().returning(|_, _| {
        Err(BrokerError::Refused {
            status: 401,
            oauth_error: Some("invalid_client".into()),
        })
    });
    let (usage_oauth, recorded) = usage(
        Setup::new(AuthType::OAuth2ClientCredentials, oauth_secret()),
        MockUpstream::new(),
        broker,
    );
    let refusal = usage_oauth
        .token(
            caller.permit(Permission::Use).unwrap(),
            ServiceId::from_uuid(Uuid::now_v7()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&refusal, UseCaseError::TokenRefused { status: 401, oauth_error: Some(e) } if e == "invalid_client"),
        "{refusal:?}"
    );
    assert!(!format!("{refusal:?} {refusal}").contains("CANARY"));
    assert_eq!(
        recorded.lock().unwrap()[0].details.as_ref().unwrap()["kind"],
        "token"
    );
}

#[tokio::test]
async fn a_caller_without_use_is_refused_and_the_refusal_recorded() {
    let (usage, recorded) = usage(
        Setup::new(AuthType::Bearer, json!({"token": "T"})),
        MockUpstream::new(),
        no_broker(),
    );
    let reader = principal(&[Permission::Credentials]);
    let id = ServiceId::from_uuid(Uuid::now_v7());
    let refusal = usage.permit_use(&reader, Some(id)).await.unwrap_err();
    assert!(matches!(refusal, UseCaseError::Forbidden(Permission::Use)));
    let events = recorded.lock().unwrap();
    assert_eq!(events[0].outcome, AuditOutcome::Denied);
    assert_eq!(events[0].action, AuditAction::CredentialsUse);
}

#[tokio::test]
async fn an_egress_failure_is_returned_as_such() {
    let mut upstream = MockUpstream::new();
    upstream
        .expect_send()
        .returning(|_| Err(EgressError::ResponseTimeout));
    let (usage, _) = usage(
        Setup::new(AuthType::Bearer, json!({"token": "T"})),
        upstream,
        no_broker(),
    );
    let caller = principal(&[Permission::Use]);
    let refusal = usage
        .proxy(
            caller.permit(Permission::Use).unwrap(),
            ServiceId::from_uuid(Uuid::now_v7()),
            request(Method::GET, "x", None),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        refusal,
        UseCaseError::Egress(EgressError::ResponseTimeout)
    ));
}

#[tokio::test]
async fn a_query_key_echoed_by_the_upstream_is_not_handed_back() {
    let mut upstream = MockUpstream::new();
    upstream.expect_send().returning(|request| {
        let mut headers = HeaderMap::new();
        // A redirect that keeps the query, as many servers send one.
        let location = format!("{}/", request.url);
        headers.insert("location", HeaderValue::from_str(&location).unwrap());
        headers.insert("x-other", HeaderValue::from_static("plain"));
        Ok(OutboundResponse {
            status: StatusCode::MOVED_PERMANENTLY,
            headers,
            body: Box::pin(futures_util_empty()),
        })
    });
    let (usage, _) = usage(
        Setup::new(
            AuthType::ApiKey,
            json!({"key": "CANARY k&1", "query_param": "api_key"}),
        ),
        upstream,
        no_broker(),
    );
    let caller = principal(&[Permission::Use]);
    let answer = usage
        .proxy(
            caller.permit(Permission::Use).unwrap(),
            ServiceId::from_uuid(Uuid::now_v7()),
            request(Method::GET, "x", None),
        )
        .await
        .unwrap();
    let location = answer.headers["location"].to_str().unwrap();
    assert!(!location.contains("CANARY"), "{location}");
    assert!(location.contains("api_key=REDACTED"), "{location}");
    assert_eq!(answer.headers["x-other"], "plain");
}

#[tokio::test]
async fn a_use_that_fails_early_still_gets_its_outcome() {
    let mut broker = MockTokenBroker::new();
    broker
        .expect_token()
        .returning(|_, _| Err(BrokerError::Egress(EgressError::Dns)));
    let sunk = Arc::new(Mutex::new(Vec::new()));
    let keep = sunk.clone();
    let mut outcomes = MockOutcomeSink::new();
    outcomes
        .expect_submit()
        .returning(move |outcome| keep.lock().unwrap().push(outcome));
    let (usage, recorded) = usage_with_outcomes(
        Setup::new(AuthType::OAuth2ClientCredentials, oauth_secret()),
        MockUpstream::new(),
        broker,
        outcomes,
    );
    let caller = principal(&[Permission::Use]);
    usage
        .proxy(
            caller.permit(Permission::Use).unwrap(),
            ServiceId::from_uuid(Uuid::now_v7()),
            request(Method::GET, "x", None),
        )
        .await
        .unwrap_err();
    let events = recorded.lock().unwrap();
    let sunk = sunk.lock().unwrap();
    assert_eq!(sunk.len(), 1);
    assert_eq!(sunk[0].event_id, events[0].id);
    assert_eq!(sunk[0].details["upstream_status"], Value::Null);
    assert!(sunk[0].details["latency_ms"].is_u64());
}
