//! `OAuthBroker` against a real token endpoint on 127.0.0.1 (docs/api.md §10.1).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use exsvc_domain::ports::{
    BrokerError, EgressError, OAuthClient, TokenAuthMethod, TokenBroker, TokenKey,
};
use exsvc_domain::{ServiceId, TenantId};
use exsvc_egress::OAuthBroker;
use exsvc_testkit_net::{TestCa, TokenAuth, TokenEndpoint, TokenEndpointConfig};
use zeroize::Zeroizing;

const SECRET: &str = "CANARY-s3cret/with+chars";

struct Setup {
    _ca: TestCa,
    endpoint: TokenEndpoint,
    broker: Arc<OAuthBroker>,
    client: OAuthClient,
}

async fn setup(auth: TokenAuth, change: impl FnOnce(&mut TokenEndpointConfig)) -> Setup {
    let ca = TestCa::new();
    let mut config = TokenEndpointConfig {
        client_id: "client:1".into(),
        client_secret: SECRET.into(),
        auth,
        ..TokenEndpointConfig::default()
    };
    change(&mut config);
    let endpoint = TokenEndpoint::start(&ca, config).await;
    let (egress, _) = egress(settings(&ca));
    let client = OAuthClient {
        client_id: "client:1".into(),
        client_secret: Zeroizing::new(SECRET.into()),
        token_url: url::Url::parse(&endpoint.url()).unwrap(),
        scopes: vec!["read".into(), "write".into()],
        audience: Some("https://api.example".into()),
        auth_method: match auth {
            TokenAuth::Basic => TokenAuthMethod::ClientSecretBasic,
            TokenAuth::Post => TokenAuthMethod::ClientSecretPost,
        },
    };
    Setup {
        _ca: ca,
        endpoint,
        broker: Arc::new(OAuthBroker::new(egress)),
        client,
    }
}

fn key(version: i64) -> TokenKey {
    TokenKey {
        tenant: TenantId::parse("tenant-1").unwrap(),
        service: ServiceId::parse("00000000-0000-0000-0000-00000000000a").unwrap(),
        credential_version: version,
    }
}

#[tokio::test]
async fn client_secret_basic_is_accepted() {
    let s = setup(TokenAuth::Basic, |_| {}).await;
    let token = s.broker.token(&key(1), &s.client).await.unwrap();
    assert_eq!(token.access_token.as_str(), "tok-1");
    assert_eq!(token.token_type, "Bearer");
    assert_eq!(token.scope.as_deref(), Some("read write"));
    assert!(!token.cached);
    assert_eq!(token.upstream_status, Some(200));
    let life = token.expires_at - chrono::Utc::now();
    assert!(life > chrono::Duration::seconds(3590) && life <= chrono::Duration::seconds(3600));
    let request = &s.endpoint.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert!(request
        .authorization
        .as_deref()
        .unwrap()
        .starts_with("Basic "));
    assert_eq!(request.form_value("grant_type"), Some("client_credentials"));
    assert_eq!(request.form_value("scope"), Some("read write"));
    assert_eq!(request.form_value("audience"), Some("https://api.example"));
    assert_eq!(request.form_value("client_secret"), None);
    assert_eq!(request.form_value("client_id"), None);
}

#[tokio::test]
async fn client_secret_post_is_accepted() {
    let s = setup(TokenAuth::Post, |_| {}).await;
    let token = s.broker.token(&key(1), &s.client).await.unwrap();
    assert_eq!(token.access_token.as_str(), "tok-1");
    let request = &s.endpoint.requests()[0];
    assert_eq!(request.authorization, None);
    assert_eq!(request.form_value("client_id"), Some("client:1"));
    assert_eq!(request.form_value("client_secret"), Some(SECRET));
}

#[tokio::test]
async fn no_scope_and_no_audience_are_left_out() {
    let mut s = setup(TokenAuth::Basic, |_| {}).await;
    s.client.scopes.clear();
    s.client.audience = None;
    let token = s.broker.token(&key(1), &s.client).await.unwrap();
    assert_eq!(token.scope, None);
    let request = &s.endpoint.requests()[0];
    assert_eq!(request.form.len(), 1, "{:?}", request.form);
}

#[tokio::test]
async fn fifty_concurrent_calls_share_one_request() {
    let s = setup(TokenAuth::Basic, |c| c.delay = Duration::from_millis(200)).await;
    let calls = (0..50).map(|_| {
        let broker = s.broker.clone();
        let client = s.client.clone();
        tokio::spawn(async move { broker.token(&key(1), &client).await })
    });
    for call in calls.collect::<Vec<_>>() {
        assert_eq!(call.await.unwrap().unwrap().access_token.as_str(), "tok-1");
    }
    assert_eq!(s.endpoint.request_count(), 1);
}

#[tokio::test]
async fn a_second_call_is_served_from_the_cache() {
    let s = setup(TokenAuth::Basic, |_| {}).await;
    let first = s.broker.token(&key(1), &s.client).await.unwrap();
    let second = s.broker.token(&key(1), &s.client).await.unwrap();
    assert!(second.cached);
    assert_eq!(second.upstream_status, None);
    assert_eq!(second.access_token, first.access_token);
    assert_eq!(second.expires_at, first.expires_at);
    assert_eq!(s.endpoint.request_count(), 1);
    // A new credential version is a new key.
    let other = s.broker.token(&key(2), &s.client).await.unwrap();
    assert_eq!(other.access_token.as_str(), "tok-2");
}

#[tokio::test]
async fn a_token_is_cached_until_30_s_before_it_expires() {
    let s = setup(TokenAuth::Basic, |c| c.expires_in = Some(32)).await;
    s.broker.token(&key(1), &s.client).await.unwrap();
    assert!(s.broker.token(&key(1), &s.client).await.unwrap().cached);
    assert_eq!(s.endpoint.request_count(), 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let renewed = s.broker.token(&key(1), &s.client).await.unwrap();
    assert!(!renewed.cached);
    assert_eq!(renewed.access_token.as_str(), "tok-2");
}

#[tokio::test]
async fn a_token_with_less_than_the_margin_is_used_but_not_cached() {
    let s = setup(TokenAuth::Basic, |c| c.expires_in = Some(20)).await;
    let first = s.broker.token(&key(1), &s.client).await.unwrap();
    assert_eq!(first.access_token.as_str(), "tok-1");
    let second = s.broker.token(&key(1), &s.client).await.unwrap();
    assert!(!second.cached);
    assert_eq!(second.access_token.as_str(), "tok-2");
    assert_eq!(s.endpoint.request_count(), 2);
}

#[tokio::test]
async fn without_expires_in_a_token_lives_60_s() {
    let s = setup(TokenAuth::Basic, |c| c.expires_in = None).await;
    let token = s.broker.token(&key(1), &s.client).await.unwrap();
    let life = token.expires_at - chrono::Utc::now();
    assert!(life > chrono::Duration::seconds(58) && life <= chrono::Duration::seconds(60));
    assert!(s.broker.token(&key(1), &s.client).await.unwrap().cached);
}

#[tokio::test]
async fn forget_drops_every_version_of_the_service() {
    let s = setup(TokenAuth::Basic, |_| {}).await;
    s.broker.token(&key(1), &s.client).await.unwrap();
    s.broker.token(&key(2), &s.client).await.unwrap();
    let k = key(1);
    s.broker.forget(&k.tenant, k.service);
    assert!(!s.broker.token(&key(1), &s.client).await.unwrap().cached);
    assert!(!s.broker.token(&key(2), &s.client).await.unwrap().cached);
    assert_eq!(s.endpoint.request_count(), 4);
}

#[tokio::test]
async fn refresh_skips_the_stale_token_once_for_all_callers() {
    let s = setup(TokenAuth::Basic, |c| c.delay = Duration::from_millis(100)).await;
    let stale = s.broker.token(&key(1), &s.client).await.unwrap();
    let calls = (0..10).map(|_| {
        let broker = s.broker.clone();
        let client = s.client.clone();
        let stale = stale.access_token.to_string();
        tokio::spawn(async move { broker.refresh(&key(1), &client, &stale).await })
    });
    for call in calls.collect::<Vec<_>>() {
        assert_eq!(call.await.unwrap().unwrap().access_token.as_str(), "tok-2");
    }
    assert_eq!(s.endpoint.request_count(), 2);
    // A refresh naming a token that is no longer cached gets the cached one.
    let token = s.broker.refresh(&key(1), &s.client, "tok-1").await.unwrap();
    assert!(token.cached);
    assert_eq!(token.access_token.as_str(), "tok-2");
}

#[tokio::test]
async fn invalid_client_is_refused_with_the_oauth_error() {
    let s = setup(TokenAuth::Basic, |c| c.client_secret = "other".into()).await;
    let error = s.broker.token(&key(1), &s.client).await.unwrap_err();
    assert_eq!(
        error,
        BrokerError::Refused {
            status: 400,
            oauth_error: Some("invalid_client".into())
        }
    );
    // A failure is not cached: the next call asks again.
    s.broker.token(&key(1), &s.client).await.unwrap_err();
    assert_eq!(s.endpoint.request_count(), 2);
}

#[tokio::test]
async fn a_401_and_a_non_json_error_are_refusals() {
    let s = setup(TokenAuth::Post, |c| {
        c.client_id = "someone-else".into();
        c.mismatch_status = 401;
    })
    .await;
    assert_eq!(
        s.broker.token(&key(1), &s.client).await.unwrap_err(),
        BrokerError::Refused {
            status: 401,
            oauth_error: Some("invalid_client".into())
        }
    );
    s.endpoint.fail_next(503, "<html>down</html>");
    assert_eq!(
        s.broker.token(&key(1), &s.client).await.unwrap_err(),
        BrokerError::Refused {
            status: 503,
            oauth_error: None
        }
    );
    s.endpoint.fail_next(200, r#"{"token_type":"Bearer"}"#);
    assert_eq!(
        s.broker.token(&key(1), &s.client).await.unwrap_err(),
        BrokerError::Refused {
            status: 200,
            oauth_error: None
        }
    );
}

#[tokio::test]
async fn a_slow_endpoint_is_a_response_timeout() {
    let s = setup(TokenAuth::Basic, |c| c.delay = Duration::from_secs(3)).await;
    let started = std::time::Instant::now();
    let error = s.broker.token(&key(1), &s.client).await.unwrap_err();
    assert_eq!(error, BrokerError::Egress(EgressError::ResponseTimeout));
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(s.endpoint.request_count(), 1, "sent once");
}

#[tokio::test]
async fn a_token_endpoint_on_a_denied_address_is_not_contacted() {
    let s = setup(TokenAuth::Basic, |_| {}).await;
    let (strict, _) = egress(exsvc_egress::EgressSettings::default());
    let broker = OAuthBroker::new(strict);
    let error = broker.token(&key(1), &s.client).await.unwrap_err();
    assert!(
        matches!(error, BrokerError::Egress(EgressError::Denied { .. })),
        "{error:?}"
    );
    assert_eq!(s.endpoint.connections(), 0);
}

#[tokio::test]
async fn the_client_secret_appears_in_no_error_or_debug_output() {
    let s = setup(TokenAuth::Basic, |c| c.client_secret = "other".into()).await;
    let mut texts = vec![format!("{:?}", s.client), format!("{:?}", s.broker)];
    let error = s.broker.token(&key(1), &s.client).await.unwrap_err();
    texts.push(format!("{error} {error:?}"));
    s.endpoint.set_delay(Duration::from_secs(3));
    let error = s.broker.token(&key(1), &s.client).await.unwrap_err();
    texts.push(format!("{error} {error:?}"));
    let ok = setup(TokenAuth::Post, |_| {}).await;
    let token = ok.broker.token(&key(1), &ok.client).await.unwrap();
    texts.push(format!("{token:?}"));
    for text in texts {
        assert!(!text.contains("CANARY"), "{text}");
        assert!(!text.contains("tok-1"), "{text}");
    }
}
