//! The typed client (crates/exsvc-client) against the real server: every
//! endpoint through `exsvc_client::Client`, the error envelope as
//! `Error::Api` for each code a caller can meet, the retries after 429 and
//! 503, token sources that change under a running client, and a secret that
//! never shows in `Debug`. Raw HTTP appears only to set up a condition.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use exsvc_client::request::ApiRequest;
use exsvc_client::reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use exsvc_client::reqwest::Method;
use exsvc_client::token::{FreshToken, RefreshingToken};
use exsvc_client::types::{
    AuditQuery, AuthType, CredentialWrite, Object, PageQuery, RoleBindingCreate, RoleBindingQuery,
    RoleCreate, RoleReplace, SecretObject, ServiceCreate, ServicePatch, ServiceQuery,
    ServiceSelector, ServiceStatus, ServiceWrite, Subject, SubjectType,
};
use exsvc_client::{ApiError, Client, Error, ErrorCode, RetryPolicy, WriteOptions};
use exsvc_testkit::egress::LocalEgress;
use exsvc_testkit::net::{closed_port, Reply, TokenEndpoint, TokenEndpointConfig, UpstreamServer};
use exsvc_testkit::tokens::{admin, client, now, sign, with_permissions};
use exsvc_testkit::{TestApp, TestOptions};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

const CANARY: &str = "CANARY-client-7f3e21-secret";

fn client_of(app: &TestApp, token: impl Into<String>) -> Client {
    Client::builder(&app.address).token(token).build().unwrap()
}

/// The API error of a refused call, checked for status, code and the parts
/// every envelope has (a message, the request id).
#[track_caller]
fn refused<T: Debug>(result: Result<T, Error>, status: u16, code: ErrorCode) -> ApiError {
    let error = result.expect_err("the call was refused");
    let Error::Api(api) = error else {
        panic!("expected Error::Api {status} {code}, got {error:?}");
    };
    assert_eq!((api.status, &api.code), (status, &code), "{api:?}");
    assert!(!api.message.is_empty(), "{api:?}");
    assert!(api.request_id.is_some(), "{api:?}");
    *api
}

fn object(value: Value) -> Object {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn secret(value: Value) -> SecretObject {
    SecretObject::new(object(value))
}

fn api_key(key: &str) -> CredentialWrite {
    CredentialWrite {
        auth_type: AuthType::ApiKey,
        credentials: secret(json!({ "key": key })),
        expires_at: None,
    }
}

fn bearer(token: &str) -> CredentialWrite {
    CredentialWrite {
        auth_type: AuthType::Bearer,
        credentials: secret(json!({ "token": token })),
        expires_at: None,
    }
}

fn none() -> WriteOptions {
    WriteOptions::default()
}

async fn new_service(api: &Client, name: &str, base_url: &str) -> exsvc_client::types::Service {
    api.create_service(
        &ServiceWrite::new(name, "payment", base_url).into(),
        &none(),
    )
    .await
    .unwrap()
}

/// A service at `base_url` holding `credential`.
async fn service_with(
    api: &Client,
    base_url: &str,
    credential: &CredentialWrite,
) -> exsvc_client::types::Service {
    let service = new_service(api, &format!("svc-{}", Uuid::now_v7()), base_url).await;
    api.put_credential(service.id, credential, &none())
        .await
        .unwrap();
    service
}

#[tokio::test]
async fn services_round_trip_with_preconditions_and_idempotent_replays() {
    let app = TestApp::spawn().await;
    let api = client_of(&app, admin("acme"));

    // Created without, then with, a first credential.
    let stripe = new_service(&api, "Stripe", "https://api.stripe.com/v1").await;
    assert_eq!((stripe.version, stripe.auth_type), (1, None));
    assert_eq!(stripe.tenant_id, "acme");
    let with_key = api
        .create_service(
            &ServiceCreate {
                service: ServiceWrite {
                    description: Some("mail".into()),
                    metadata: Some(object(json!({"team": "growth"}))),
                    ..ServiceWrite::new("Mailgun", "mail", "https://api.mailgun.net")
                },
                auth_type: Some(AuthType::ApiKey),
                credentials: Some(secret(json!({"key": "mg-1"}))),
            },
            &none(),
        )
        .await
        .unwrap();
    assert_eq!(with_key.auth_type, Some(AuthType::ApiKey));
    assert_eq!(with_key.metadata["team"], "growth");
    let revealed = api.get_credential(with_key.id, None).await.unwrap();
    assert_eq!(revealed.credentials.field("key").as_deref(), Some("mg-1"));
    assert_eq!(revealed.version, 1);

    // An Idempotency-Key replays the first answer; another body under it is 422.
    let keyed = ServiceCreate::from(ServiceWrite::new(
        "Adyen",
        "payment",
        "https://adyen.example",
    ));
    let first = api
        .create_service(&keyed, &WriteOptions::idempotency_key("create-adyen"))
        .await
        .unwrap();
    let replay = api
        .create_service(&keyed, &WriteOptions::idempotency_key("create-adyen"))
        .await
        .unwrap();
    assert_eq!(replay, first);
    let other = ServiceCreate::from(ServiceWrite::new("Other", "payment", "https://o.example"));
    refused(
        api.create_service(&other, &WriteOptions::idempotency_key("create-adyen"))
            .await,
        422,
        ErrorCode::IdempotencyKeyReused,
    );
    // Names are unique ignoring case.
    refused(
        api.create_service(
            &ServiceWrite::new("STRIPE", "payment", "https://x.example").into(),
            &none(),
        )
        .await,
        409,
        ErrorCode::ServiceAlreadyExists,
    );

    // Listing: one page, every page, filters.
    let page = api
        .list_services(&ServiceQuery {
            limit: Some(2),
            ..ServiceQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.services.len(), 2);
    assert!(page.next_cursor.is_some());
    let all = api
        .all_services(&ServiceQuery {
            limit: Some(1),
            ..ServiceQuery::default()
        })
        .await
        .unwrap();
    let mut names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Adyen", "Mailgun", "Stripe"]);
    let payments = api
        .all_services(&ServiceQuery {
            service_type: Some("payment".into()),
            status: Some(ServiceStatus::Active),
            ..ServiceQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(payments.len(), 2);
    let invalid = refused(
        api.list_services(&ServiceQuery {
            limit: Some(500),
            ..ServiceQuery::default()
        })
        .await,
        400,
        ErrorCode::ValidationError,
    );
    assert!(invalid.field("limit").is_some(), "{invalid:?}");
    refused(
        api.list_services(&ServiceQuery {
            cursor: Some("not-a-cursor".into()),
            ..ServiceQuery::default()
        })
        .await,
        400,
        ErrorCode::InvalidCursor,
    );

    // Found by id, by name (exactly, or ignoring case); unknown; ambiguous.
    assert_eq!(api.get_service(stripe.id).await.unwrap(), stripe);
    assert_eq!(
        api.find_service(&stripe.id.to_string()).await.unwrap(),
        stripe
    );
    assert_eq!(api.find_service("Stripe").await.unwrap().id, stripe.id);
    assert_eq!(api.find_service("stripe").await.unwrap().id, stripe.id);
    // Also references that cannot be names (too long, a control character,
    // empty): no service, rather than the listing's refusal of its `q`.
    let long = "x".repeat(101);
    for unknown in ["Nothing", &Uuid::now_v7().to_string(), &long, "a\u{1}b", ""] {
        let error = api.find_service(unknown).await.unwrap_err();
        assert!(matches!(error, Error::Reference(_)), "{error:?}");
    }
    let impostor = new_service(&api, &with_key.id.to_string(), "https://i.example").await;
    let ambiguous = api
        .find_service(&with_key.id.to_string())
        .await
        .unwrap_err();
    let Error::Reference(reason) = &ambiguous else {
        panic!("{ambiguous:?}")
    };
    assert!(reason.contains("ambiguous"), "{reason}");
    assert!(reason.contains(&impostor.id.to_string()), "{reason}");
    assert_eq!(
        api.find_service(&impostor.id.to_string()).await.unwrap().id,
        impostor.id
    );

    // Replace and patch under If-Match; a stale version is 412 and changes nothing.
    let replaced = api
        .replace_service(
            stripe.id,
            &ServiceWrite {
                description: Some("payments".into()),
                api_version: Some("2024-06-20".into()),
                ..ServiceWrite::new("Stripe", "payment", "https://api.stripe.com/v2")
            },
            &WriteOptions::if_match(stripe.version),
        )
        .await
        .unwrap();
    assert_eq!(replaced.version, 2);
    assert_eq!(replaced.base_url, "https://api.stripe.com/v2");
    refused(
        api.patch_service(
            stripe.id,
            &ServicePatch {
                status: Some(ServiceStatus::Inactive),
                ..ServicePatch::default()
            },
            &WriteOptions::if_match(1),
        )
        .await,
        412,
        ErrorCode::PreconditionFailed,
    );
    assert_eq!(api.get_service(stripe.id).await.unwrap(), replaced);
    let patched = api
        .patch_service(
            stripe.id,
            &ServicePatch {
                status: Some(ServiceStatus::Inactive),
                api_version: Some(None),
                metadata: Some(object(json!({"tier": 1}))),
                ..ServicePatch::default()
            },
            &WriteOptions::if_match(2),
        )
        .await
        .unwrap();
    assert_eq!(patched.version, 3);
    assert_eq!(patched.status, ServiceStatus::Inactive);
    assert_eq!(patched.api_version, None);
    assert_eq!(patched.description, "payments");
    assert_eq!(patched.metadata["tier"], 1);
    let bad_patch = refused(
        api.patch_service(
            stripe.id,
            &ServicePatch {
                service_type: Some("Not A Type".into()),
                ..ServicePatch::default()
            },
            &none(),
        )
        .await,
        400,
        ErrorCode::ValidationError,
    );
    assert!(bad_patch.field("type").is_some(), "{bad_patch:?}");

    // Every problem of a body in one answer, by field.
    let invalid = refused(
        api.create_service(
            &ServiceWrite::new("", "Bad Type", "ftp://x").into(),
            &none(),
        )
        .await,
        400,
        ErrorCode::ValidationError,
    );
    for field in ["name", "type", "base_url"] {
        assert!(invalid.field(field).is_some(), "{field}: {invalid:?}");
    }
    // Over 64 KiB of body.
    let huge = ServiceWrite {
        metadata: Some(object(json!({"blob": "x".repeat(70 * 1024)}))),
        ..ServiceWrite::new("Huge", "payment", "https://h.example")
    };
    refused(
        api.create_service(&huge.into(), &none()).await,
        413,
        ErrorCode::PayloadTooLarge,
    );

    // A key on a write that takes none would not make it safe to repeat.
    let unkeyed = api
        .patch_service(
            stripe.id,
            &ServicePatch::default(),
            &WriteOptions::idempotency_key("k"),
        )
        .await;
    assert!(
        matches!(unkeyed, Err(Error::InvalidInput(_))),
        "{unkeyed:?}"
    );
    let unguarded = api
        .create_service(
            &ServiceWrite::new("Guarded", "payment", "https://g.example").into(),
            &WriteOptions::if_match(1),
        )
        .await;
    assert!(
        matches!(unguarded, Err(Error::InvalidInput(_))),
        "{unguarded:?}"
    );

    // Delete under If-Match; then the service is gone.
    refused(
        api.delete_service(stripe.id, &WriteOptions::if_match(2))
            .await,
        412,
        ErrorCode::PreconditionFailed,
    );
    api.delete_service(stripe.id, &WriteOptions::if_match(3))
        .await
        .unwrap();
    refused(
        api.get_service(stripe.id).await,
        404,
        ErrorCode::ServiceNotFound,
    );
    refused(
        api.delete_service(stripe.id, &none()).await,
        404,
        ErrorCode::ServiceNotFound,
    );
}

#[tokio::test]
async fn credentials_are_versioned_revealed_and_deleted() {
    let app = TestApp::spawn().await;
    let api = client_of(&app, admin("acme"));
    let service = new_service(&api, "Stripe", "https://api.stripe.com").await;
    refused(
        api.get_credential(service.id, None).await,
        404,
        ErrorCode::CredentialsNotFound,
    );
    assert!(api
        .credential_versions(service.id)
        .await
        .unwrap()
        .versions
        .is_empty());

    let expires_at = "2030-01-02T03:04:05.123456Z".parse().unwrap();
    let first = api
        .put_credential(
            service.id,
            &CredentialWrite {
                expires_at: Some(expires_at),
                ..api_key("sk-1")
            },
            &WriteOptions::idempotency_key("put-1"),
        )
        .await
        .unwrap();
    assert_eq!(
        (first.version, first.auth_type, first.expires_at),
        (1, AuthType::ApiKey, Some(expires_at))
    );
    let expiring = |before| ServiceQuery {
        credential_expires_before: Some(before),
        ..ServiceQuery::default()
    };
    let soon = api
        .all_services(&expiring(expires_at + chrono::Duration::seconds(1)))
        .await
        .unwrap();
    assert_eq!(soon.len(), 1);
    assert_eq!(soon[0].credential_expires_at, Some(expires_at));
    assert!(api
        .all_services(&expiring(expires_at))
        .await
        .unwrap()
        .is_empty());
    // The same key and body: the first answer again, no second version.
    let replay = api
        .put_credential(
            service.id,
            &CredentialWrite {
                expires_at: Some(expires_at),
                ..api_key("sk-1")
            },
            &WriteOptions::idempotency_key("put-1"),
        )
        .await
        .unwrap();
    assert_eq!(replay, first);
    // exsvc checks no If-Match on a credential write: the client refuses to
    // send one rather than let it look like a guard, and stores nothing.
    let unguarded = api
        .put_credential(service.id, &bearer("tok-x"), &WriteOptions::if_match(7))
        .await;
    assert!(
        matches!(unguarded, Err(Error::InvalidInput(_))),
        "{unguarded:?}"
    );
    let second = api
        .put_credential(service.id, &bearer("tok-2"), &none())
        .await
        .unwrap();
    assert_eq!(second.version, 2);

    let current = api.get_credential(service.id, None).await.unwrap();
    assert_eq!((current.version, current.auth_type), (2, AuthType::Bearer));
    assert_eq!(current.credentials.field("token").as_deref(), Some("tok-2"));
    assert_eq!(current.service_name, "Stripe");
    let earlier = api.get_credential(service.id, Some(1)).await.unwrap();
    assert_eq!(earlier.credentials.field("key").as_deref(), Some("sk-1"));
    // The default header name is stored with an api_key.
    assert_eq!(
        earlier.credentials.field("header_name").as_deref(),
        Some("X-API-Key")
    );
    assert_eq!(earlier.expires_at, Some(expires_at));
    refused(
        api.get_credential(service.id, Some(9)).await,
        404,
        ErrorCode::CredentialsNotFound,
    );
    let bad_version = refused(
        api.get_credential(service.id, Some(0)).await,
        400,
        ErrorCode::ValidationError,
    );
    assert!(bad_version.field("version").is_some(), "{bad_version:?}");

    let versions = api.credential_versions(service.id).await.unwrap().versions;
    let listed: Vec<(i64, bool)> = versions.iter().map(|v| (v.version, v.current)).collect();
    assert_eq!(listed, [(2, true), (1, false)]);
    assert_eq!(
        api.get_service(service.id).await.unwrap().auth_type,
        Some(AuthType::Bearer)
    );

    let invalid = refused(
        api.put_credential(
            service.id,
            &CredentialWrite {
                auth_type: AuthType::Basic,
                credentials: secret(json!({"username": "ada"})),
                expires_at: None,
            },
            &none(),
        )
        .await,
        400,
        ErrorCode::ValidationError,
    );
    assert!(
        invalid.field("credentials.password").is_some(),
        "{invalid:?}"
    );

    api.delete_credential(service.id).await.unwrap();
    // Deleting again is still 204.
    api.delete_credential(service.id).await.unwrap();
    refused(
        api.get_credential(service.id, None).await,
        404,
        ErrorCode::CredentialsNotFound,
    );
    assert_eq!(api.get_service(service.id).await.unwrap().auth_type, None);
    // Numbers are never reused.
    let third = api
        .put_credential(service.id, &api_key("sk-3"), &none())
        .await
        .unwrap();
    assert_eq!(third.version, 3);
    refused(
        api.put_credential(Uuid::now_v7(), &api_key("x"), &none())
            .await,
        404,
        ErrorCode::ServiceNotFound,
    );
}

#[tokio::test]
async fn the_audit_trail_is_listed_with_its_filters() {
    let app = TestApp::spawn().await;
    let api = client_of(&app, admin("acme"));
    let since = Utc::now() - chrono::Duration::seconds(1);
    let stripe = service_with(&api, "https://api.stripe.com", &api_key("sk")).await;
    let other = new_service(&api, "Other", "https://o.example").await;
    api.get_credential(stripe.id, None).await.unwrap();
    let reader = client_of(
        &app,
        with_permissions("acme", &["external-service:credentials"]),
    );
    reader.get_credential(stripe.id, None).await.unwrap();

    let of_stripe = api
        .list_audit_events(&AuditQuery {
            service_id: Some(stripe.id),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = of_stripe.events.iter().map(|e| e.action.as_str()).collect();
    // Newest first.
    assert_eq!(
        actions,
        [
            "credentials.read",
            "credentials.read",
            "credentials.write",
            "service.create"
        ]
    );
    assert!(of_stripe.events.iter().all(|e| e.tenant_id == "acme"));
    assert!(of_stripe.events.iter().all(|e| e.outcome == "success"));

    let reads = api
        .list_audit_events(&AuditQuery {
            action: Some("credentials.read".into()),
            actor: Some("tester".into()),
            since: Some(since),
            until: Some(Utc::now() + chrono::Duration::seconds(60)),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(reads.events.len(), 1);
    assert_eq!(reads.events[0].service_id, Some(stripe.id));
    assert_eq!(reads.events[0].credential_version, Some(1));

    let before = api
        .list_audit_events(&AuditQuery {
            until: Some(since),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(before.events.is_empty(), "{before:?}");

    // Paging.
    let page = api
        .list_audit_events(&AuditQuery {
            limit: Some(2),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.events.len(), 2);
    let rest = api
        .list_audit_events(&AuditQuery {
            limit: Some(100),
            cursor: page.next_cursor.clone(),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.events.len(), 3, "{rest:?}");
    assert!(rest.events.iter().any(|e| e.service_id == Some(other.id)));
    // A cursor sent with other filters.
    refused(
        api.list_audit_events(&AuditQuery {
            action: Some("service.create".into()),
            cursor: page.next_cursor,
            ..AuditQuery::default()
        })
        .await,
        400,
        ErrorCode::InvalidCursor,
    );
    let forbidden = refused(
        reader.list_audit_events(&AuditQuery::default()).await,
        403,
        ErrorCode::Forbidden,
    );
    assert_eq!(forbidden.details["required"], "external-service:audit");
}

#[tokio::test]
async fn roles_bindings_and_the_access_review() {
    let app = TestApp::spawn().await;
    let api = client_of(&app, admin("acme"));
    let stripe = service_with(&api, "https://api.stripe.com", &api_key("sk")).await;
    let mail = api
        .create_service(
            &ServiceWrite::new("Mailgun", "mail", "https://api.mailgun.net").into(),
            &none(),
        )
        .await
        .unwrap();

    let reader = RoleCreate {
        name: "billing-reader".into(),
        permissions: vec!["external-service:read".into()],
        description: Some("reads payments".into()),
        services: Some(ServiceSelector {
            types: vec!["payment".into()],
            ..ServiceSelector::default()
        }),
    };
    let role = api.create_role(&reader).await.unwrap();
    assert_eq!((role.version, role.permissions.len()), (1, 1));
    refused(
        api.create_role(&reader).await,
        409,
        ErrorCode::RoleAlreadyExists,
    );
    let invalid = refused(
        api.create_role(&RoleCreate {
            name: "Bad Name".into(),
            permissions: vec![],
            ..RoleCreate::default()
        })
        .await,
        400,
        ErrorCode::ValidationError,
    );
    assert!(invalid.field("name").is_some(), "{invalid:?}");
    assert!(invalid.field("permissions").is_some(), "{invalid:?}");

    let widened = api
        .replace_role(
            "billing-reader",
            &RoleReplace {
                permissions: vec![
                    "external-service:read".into(),
                    "external-service:credentials".into(),
                ],
                description: None,
                services: reader.services.clone(),
            },
            &WriteOptions::if_match(1),
        )
        .await
        .unwrap();
    assert_eq!(widened.version, 2);
    assert_eq!(widened.description, "");
    refused(
        api.replace_role(
            "billing-reader",
            &RoleReplace {
                permissions: vec!["external-service:read".into()],
                ..RoleReplace::default()
            },
            &WriteOptions::if_match(1),
        )
        .await,
        412,
        ErrorCode::PreconditionFailed,
    );
    assert_eq!(api.get_role("billing-reader").await.unwrap(), widened);
    let roles = api.list_roles(&PageQuery::default()).await.unwrap();
    assert_eq!(roles.roles, std::slice::from_ref(&widened));
    refused(api.get_role("nobody").await, 404, ErrorCode::RoleNotFound);

    let binding = api
        .create_role_binding(&RoleBindingCreate {
            role: "billing-reader".into(),
            subject: Subject::new(SubjectType::ClientId, "billing-worker"),
            expires_at: None,
        })
        .await
        .unwrap();
    assert_eq!(binding.created_by, "admin");
    let no_role = refused(
        api.create_role_binding(&RoleBindingCreate {
            role: "nobody".into(),
            subject: Subject::new(SubjectType::Sub, "x"),
            expires_at: None,
        })
        .await,
        400,
        ErrorCode::ValidationError,
    );
    assert!(no_role.field("role").is_some(), "{no_role:?}");
    assert_eq!(api.get_role_binding(binding.id).await.unwrap(), binding);
    let listed = api
        .list_role_bindings(&RoleBindingQuery {
            subject_type: Some(SubjectType::ClientId),
            subject_value: Some("billing-worker".into()),
            ..RoleBindingQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.role_bindings, std::slice::from_ref(&binding));
    let filtered = api
        .list_role_bindings(&RoleBindingQuery {
            role: Some("other".into()),
            ..RoleBindingQuery::default()
        })
        .await
        .unwrap();
    assert!(filtered.role_bindings.is_empty());

    // The bound worker sees payments only, and reads Stripe's key.
    let worker = client_of(&app, client("acme", "billing-worker"));
    let seen = worker.all_services(&ServiceQuery::default()).await.unwrap();
    assert_eq!(seen.iter().map(|s| s.id).collect::<Vec<_>>(), [stripe.id]);
    worker.get_credential(stripe.id, None).await.unwrap();
    refused(
        worker.get_service(mail.id).await,
        404,
        ErrorCode::ServiceNotFound,
    );
    let me = worker.debug_auth().await.unwrap();
    assert_eq!(me.client_id.as_deref(), Some("billing-worker"));
    assert_eq!(me.bindings.len(), 1);
    assert_eq!(me.bindings[0].id, binding.id);

    let review = api.service_access(stripe.id).await.unwrap();
    assert_eq!(review.service_id, stripe.id);
    assert_eq!(review.bindings.len(), 1);
    assert_eq!(review.bindings[0].binding_id, binding.id);
    assert_eq!(review.token_grants, "not enumerable");
    assert_eq!(review.readers.len(), 1);
    assert_eq!(review.readers[0].actor, "billing-worker");
    assert!(api
        .service_access(mail.id)
        .await
        .unwrap()
        .bindings
        .is_empty());
    refused(
        api.service_access(Uuid::now_v7()).await,
        404,
        ErrorCode::ServiceNotFound,
    );
    let no_access = refused(
        worker.list_roles(&PageQuery::default()).await,
        403,
        ErrorCode::Forbidden,
    );
    assert_eq!(no_access.details["required"], "external-service:access");

    refused(
        api.delete_role("billing-reader", &none()).await,
        409,
        ErrorCode::RoleInUse,
    );
    api.delete_role_binding(binding.id).await.unwrap();
    refused(
        api.get_role_binding(binding.id).await,
        404,
        ErrorCode::RoleBindingNotFound,
    );
    refused(
        api.delete_role_binding(binding.id).await,
        404,
        ErrorCode::RoleBindingNotFound,
    );
    refused(
        api.delete_role("billing-reader", &WriteOptions::if_match(1))
            .await,
        412,
        ErrorCode::PreconditionFailed,
    );
    api.delete_role("billing-reader", &WriteOptions::if_match(2))
        .await
        .unwrap();
    refused(
        api.delete_role("billing-reader", &none()).await,
        404,
        ErrorCode::RoleNotFound,
    );
}

#[tokio::test]
async fn operations_routes_debug_auth_and_refusals_before_any_route() {
    let app = TestApp::spawn().await;
    let anonymous = Client::builder(&app.address).build().unwrap();
    anonymous.healthz().await.unwrap();
    anonymous.readyz().await.unwrap();
    let metrics = anonymous.metrics().await.unwrap();
    assert!(metrics.contains("exsvc_http_requests_total"), "{metrics}");
    let document = anonymous.openapi().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(document["paths"]["/api/v1/services"].is_object());

    let unauthorized = refused(
        anonymous.list_services(&ServiceQuery::default()).await,
        401,
        ErrorCode::Unauthorized,
    );
    assert_eq!(unauthorized.retry_after, None);
    let expired = sign(json!({"sub": "old", "tenant_id": "acme", "exp": now() - 3600}));
    refused(
        client_of(&app, expired).debug_auth().await,
        401,
        ErrorCode::Unauthorized,
    );

    let api = client_of(&app, admin("acme"));
    let me = api.debug_auth().await.unwrap();
    assert_eq!(
        (me.tenant_id.as_str(), me.actor.as_str()),
        ("acme", "admin")
    );
    assert_eq!(me.roles, ["admin"]);
    assert_eq!(me.token.alg, "HS256");
    assert!(me
        .permissions
        .contains(&"external-service:create".to_owned()));

    let reader = client_of(&app, with_permissions("acme", &["external-service:read"]));
    let forbidden = refused(
        reader
            .create_service(
                &ServiceWrite::new("X", "payment", "https://x.example").into(),
                &none(),
            )
            .await,
        403,
        ErrorCode::Forbidden,
    );
    assert_eq!(forbidden.details["required"], "external-service:create");
    assert!(reader.list_services(&ServiceQuery::default()).await.is_ok());

    // Routes the client has no method for, through `raw`.
    refused(
        api.execute(&ApiRequest::new(Method::GET, ["api", "v1", "nothing-here"]))
            .await,
        404,
        ErrorCode::NotFound,
    );
    refused(
        api.execute(&ApiRequest::new(Method::DELETE, ["api", "v1", "services"]))
            .await,
        405,
        ErrorCode::MethodNotAllowed,
    );
    // Bodies and queries no typed method sends.
    let services = || ApiRequest::new(Method::POST, ["api", "v1", "services"]);
    refused(
        api.execute(&services().body(Bytes::from_static(b"{"), "application/json"))
            .await,
        400,
        ErrorCode::InvalidJson,
    );
    refused(
        api.execute(&services().body(Bytes::from_static(b"{}"), "text/plain"))
            .await,
        415,
        ErrorCode::UnsupportedMediaType,
    );
    let many: Vec<(String, String)> = (0..101).map(|n| (format!("p{n}"), "1".into())).collect();
    refused(
        api.execute(
            &ApiRequest::new(Method::GET, ["api", "v1", "services"])
                .query(&many)
                .unwrap(),
        )
        .await,
        400,
        ErrorCode::BadRequest,
    );
    let answer = api
        .execute(&ApiRequest::new(Method::GET, ["api", "v1", "services"]))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert!(answer.json::<Value>().unwrap()["services"].is_array());
}

#[tokio::test]
async fn the_token_broker_through_the_client() {
    let egress = LocalEgress::new();
    let endpoint = TokenEndpoint::start(
        &egress.ca,
        TokenEndpointConfig {
            client_secret: CANARY.into(),
            ..TokenEndpointConfig::default()
        },
    )
    .await;
    let app = TestApp::spawn_with(egress.options()).await;
    let api = client_of(&app, admin("acme"));
    let oauth = CredentialWrite {
        auth_type: AuthType::OAuth2ClientCredentials,
        credentials: secret(json!({
            "client_id": "client-1",
            "client_secret": CANARY,
            "token_url": endpoint.url(),
            "scopes": ["charges:read"],
        })),
        expires_at: None,
    };
    let service = service_with(&api, "https://api.example.com", &oauth).await;
    let token = api.service_token(service.id).await.unwrap();
    assert_eq!(token.access_token.expose_secret(), "tok-1");
    assert_eq!(token.token_type, "Bearer");
    assert_eq!(token.scope.as_deref(), Some("charges:read"));
    assert!(!token.cached);
    assert!(token.expires_at > Utc::now());
    assert!(!format!("{token:?}").contains("tok-1"), "{token:?}");
    let again = api.service_token(service.id).await.unwrap();
    assert!(again.cached);
    assert_eq!(endpoint.request_count(), 1);

    // The endpoint refuses the client: 502 with what it said.
    let refusing = service_with(&api, "https://api.example.com", &oauth).await;
    endpoint.fail_next(401, r#"{"error":"invalid_client"}"#);
    let upstream = refused(
        api.service_token(refusing.id).await,
        502,
        ErrorCode::UpstreamError,
    );
    assert_eq!(upstream.details["upstream_status"], 401, "{upstream:?}");
    assert_eq!(upstream.details["oauth_error"], "invalid_client");
    assert!(!format!("{upstream:?}").contains(CANARY));

    let keyed = service_with(&api, "https://api.example.com", &api_key("k")).await;
    refused(
        api.service_token(keyed.id).await,
        422,
        ErrorCode::UnsupportedAuthType,
    );
    let bare = new_service(&api, "bare", "https://api.example.com").await;
    refused(
        api.service_token(bare.id).await,
        404,
        ErrorCode::CredentialsNotFound,
    );
}

#[tokio::test]
async fn the_upstreams_answers_come_back_whatever_their_status_and_exsvcs_own_are_errors() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    let app = TestApp::spawn_with(TestOptions {
        egress_response_timeout: Duration::from_millis(500),
        ..egress.options()
    })
    .await;
    let api = client_of(&app, admin("acme"));
    let service = service_with(&api, &upstream.base_url(), &bearer("up-token")).await;

    upstream.push(Reply::text(200, "pong").header("x-upstream", "yes"));
    let answer = api
        .proxy(
            Method::GET,
            service.id,
            "v1/ping?x=1",
            HeaderMap::new(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-upstream"], "yes");
    assert_eq!(answer.bytes().await.unwrap(), "pong");
    let seen = upstream.requests().pop().unwrap();
    assert_eq!(seen.target, "/v1/ping?x=1");
    assert_eq!(seen.header("authorization"), Some("Bearer up-token"));

    // An Authorization of the caller's own is replaced by the client's token
    // (exsvc would refuse two, and forwards neither).
    upstream.push(Reply::echo());
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("authorization", HeaderValue::from_static("Bearer mine"));
    headers.insert("x-caller", HeaderValue::from_static("kept"));
    let mut echoed = api
        .proxy(
            Method::POST,
            service.id,
            "v1/charges",
            headers,
            Some(Bytes::from_static(br#"{"amount":100}"#)),
        )
        .await
        .unwrap();
    assert_eq!(echoed.status(), 200);
    assert_eq!(echoed.headers()["x-echo-method"], "POST");
    assert_eq!(echoed.headers()["content-type"], "application/json");
    let mut body = Vec::new();
    while let Some(chunk) = echoed.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    assert_eq!(body, br#"{"amount":100}"#);
    let seen = upstream.requests().pop().unwrap();
    assert_eq!(seen.header_all("authorization"), ["Bearer up-token"]);
    assert_eq!(seen.header("x-caller"), Some("kept"));

    // The upstream's own 404 and 503 are answers, not errors; its 503 with
    // Retry-After is not retried by the client.
    upstream.push(Reply::json(
        404,
        &json!({"error": {"code": "NOT_FOUND", "message": "theirs"}}),
    ));
    let missing = api
        .proxy(
            Method::GET,
            service.id,
            "v1/missing",
            HeaderMap::new(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["proxy-status"],
        "exsvc; received-status=404"
    );
    let before = upstream.request_count();
    upstream.push(Reply::text(503, "busy").header("retry-after", "1"));
    let started = Instant::now();
    let busy = api
        .proxy(Method::POST, service.id, "v1/busy", HeaderMap::new(), None)
        .await
        .unwrap();
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.bytes().await.unwrap(), "busy");
    assert_eq!(upstream.request_count(), before + 1);
    assert!(started.elapsed() < Duration::from_secs(1), "it waited");

    // The same through `execute` of a proxied request, as a raw caller sends
    // it: a relayed answer is the upstream's, even when it looks like exsvc's
    // envelope, and is not retried whatever the method.
    upstream.push(Reply::json(
        404,
        &json!({"error": {"code": "NOT_FOUND", "message": "theirs"}}),
    ));
    let raw = api
        .execute(&exsvc_client::request::proxy(
            Method::GET,
            service.id,
            "v1/missing",
        ))
        .await
        .unwrap();
    assert_eq!(raw.status, 404);
    assert_eq!(raw.json::<Value>().unwrap()["error"]["message"], "theirs");
    // (A POST: exsvc itself retries a GET that the upstream refuses so.)
    let before = upstream.request_count();
    upstream.push(
        Reply::json(
            503,
            &json!({"error": {"code": "UPSTREAM_UNAVAILABLE", "message": "theirs"}}),
        )
        .header("retry-after", "1"),
    );
    let started = Instant::now();
    let raw = api
        .execute(&exsvc_client::request::proxy(
            Method::POST,
            service.id,
            "v1/busy",
        ))
        .await
        .unwrap();
    assert_eq!(raw.status, 503);
    assert_eq!(upstream.request_count(), before + 1);
    assert!(started.elapsed() < Duration::from_secs(1), "it waited");

    // exsvc's own refusals are errors.
    refused(
        api.proxy(Method::GET, Uuid::now_v7(), "x", HeaderMap::new(), None)
            .await,
        404,
        ErrorCode::ServiceNotFound,
    );
    let private = service_with(&api, "https://10.1.2.3", &bearer("t")).await;
    let denied = refused(
        api.proxy(Method::GET, private.id, "x", HeaderMap::new(), None)
            .await,
        403,
        ErrorCode::EgressDenied,
    );
    assert_eq!(denied.details["proxy_status"], "destination_ip_prohibited");
    let closed = service_with(
        &api,
        &format!("https://127.0.0.1:{}", closed_port()),
        &bearer("t"),
    )
    .await;
    let unreachable = refused(
        api.proxy(Method::GET, closed.id, "x", HeaderMap::new(), None)
            .await,
        502,
        ErrorCode::UpstreamError,
    );
    assert_eq!(unreachable.details["proxy_status"], "connection_refused");
    upstream.push(Reply::hang());
    let timeout = refused(
        api.proxy(Method::GET, service.id, "slow", HeaderMap::new(), None)
            .await,
        504,
        ErrorCode::UpstreamTimeout,
    );
    assert_eq!(timeout.details["proxy_status"], "http_response_timeout");
    let custom = service_with(
        &api,
        &upstream.base_url(),
        &CredentialWrite {
            auth_type: AuthType::Custom,
            credentials: secret(json!({"anything": "x"})),
            expires_at: None,
        },
    )
    .await;
    refused(
        api.proxy(Method::GET, custom.id, "x", HeaderMap::new(), None)
            .await,
        422,
        ErrorCode::UnsupportedAuthType,
    );
    let bad_path = refused(
        api.proxy(Method::GET, service.id, "a/%5C/b", HeaderMap::new(), None)
            .await,
        400,
        ErrorCode::ValidationError,
    );
    assert!(bad_path.field("path").is_some(), "{bad_path:?}");
}

#[tokio::test]
async fn an_open_circuit_is_waited_out_by_default_and_returned_at_once_without_retries() {
    let app = TestApp::spawn_with(TestOptions {
        egress_breaker_failures: 1,
        egress_breaker_open: Duration::from_secs(1),
        ..LocalEgress::new().options()
    })
    .await;
    let api = client_of(&app, admin("acme"));
    let once = Client::builder(&app.address)
        .token(admin("acme"))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let closed = service_with(
        &api,
        &format!("https://127.0.0.1:{}", closed_port()),
        &bearer("t"),
    )
    .await;
    async fn post(client: &Client, id: Uuid) -> Result<exsvc_client::ProxyResponse, Error> {
        client
            .proxy(Method::POST, id, "x", HeaderMap::new(), None)
            .await
    }
    refused(post(&once, closed.id).await, 502, ErrorCode::UpstreamError);
    let open = refused(
        post(&once, closed.id).await,
        503,
        ErrorCode::UpstreamUnavailable,
    );
    assert_eq!(open.retry_after, Some(Duration::from_secs(1)), "{open:?}");
    assert_eq!(open.details["proxy_status"], "destination_unavailable");
    // Waited out: the trial request goes to the upstream, which still refuses.
    refused(post(&api, closed.id).await, 502, ErrorCode::UpstreamError);
}

/// A URL parser resolves `.` and `..` segments (also spelt `%2e`) and reads
/// `\` as `/`: a proxied path holding one would reach another route of exsvc
/// itself, with the caller's token (`DELETE …/proxy/..` is `DELETE` of the
/// service). The client refuses such a path before sending anything.
#[tokio::test]
async fn a_proxied_path_cannot_climb_out_of_the_proxy() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    let app = TestApp::spawn_with(egress.options()).await;
    let api = client_of(&app, admin("acme"));
    let service = service_with(&api, &upstream.base_url(), &bearer(CANARY)).await;
    let service_itself = format!("../../{}", service.id);
    for path in [
        "..",
        "../credentials",
        "a/../../credentials",
        &service_itself,
        "./x",
        "x/.",
        "%2e%2E/credentials",
        ".%2e/credentials",
        "%2e",
        "a\\..\\..\\credentials",
    ] {
        for method in [Method::GET, Method::DELETE] {
            let result = api
                .proxy(method.clone(), service.id, path, HeaderMap::new(), None)
                .await;
            let Err(Error::InvalidInput(reason)) = &result else {
                panic!("{method} {path}: {result:?}");
            };
            assert!(reason.contains("path"), "{reason}");
        }
    }
    assert_eq!(upstream.request_count(), 0);
    assert_eq!(api.get_service(service.id).await.unwrap().id, service.id);
    // Dots inside a segment are a name like any other.
    api.proxy(
        Method::GET,
        service.id,
        "v1/file.tar.gz/...x",
        HeaderMap::new(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(upstream.requests()[0].target, "/v1/file.tar.gz/...x");
}

/// Spends the tenant's budget with `api` until it is refused.
async fn spend_budget(api: &Client) -> ApiError {
    for _ in 0..200 {
        if let Err(error) = api.list_services(&ServiceQuery::default()).await {
            return refused(Err::<(), _>(error), 429, ErrorCode::RateLimitExceeded);
        }
    }
    panic!("the budget was never spent");
}

fn tenant_refusals(metrics: &str) -> u64 {
    metrics
        .lines()
        .find(|line| line.starts_with("exsvc_rate_limit_refusals_total{scope=\"tenant\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test]
async fn a_429_is_waited_out_by_default_and_returned_at_once_without_retries() {
    // 60 a minute: a burst of 60, then one a second (Retry-After: 1).
    let app = TestApp::spawn_with(TestOptions {
        rate_limit_per_minute: 60,
        ..TestOptions::default()
    })
    .await;
    let token = admin("acme");
    let once = Client::builder(&app.address)
        .token(token.clone())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let patient = client_of(&app, token);
    let mut proven = false;
    // A refusal leaves the next token less than a second away: the patient
    // call's first attempt is refused unless that token comes within the few
    // milliseconds between the two calls; then the check is made again.
    for _ in 0..3 {
        let refusal = spend_budget(&once).await;
        let wait = refusal.retry_after.expect("a 429 says Retry-After");
        assert!(
            wait >= Duration::from_secs(1) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        let before = tenant_refusals(&once.metrics().await.unwrap());
        patient
            .list_services(&ServiceQuery::default())
            .await
            .unwrap();
        let after = tenant_refusals(&once.metrics().await.unwrap());
        if after > before {
            // Refused, then waited and passed, with no error for the caller.
            assert_eq!(after, before + 1);
            proven = true;
            break;
        }
    }
    assert!(proven, "the patient call was never refused first");
}

/// An HTTP/1.1 server on 127.0.0.1 answering each connection with the next
/// of `answers` (status, Retry-After, body), then closing it; and counting
/// the requests.
struct Scripted {
    address: String,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

/// One scripted answer: status, extra header lines, body.
type ScriptedAnswer = (u16, Vec<(&'static str, String)>, String);

impl Scripted {
    async fn start(answers: Vec<(u16, Option<&'static str>, String)>) -> Self {
        Self::start_with(
            answers
                .into_iter()
                .map(|(status, retry_after, body)| {
                    let headers = retry_after
                        .map(|wait| ("retry-after", wait.to_owned()))
                        .into_iter()
                        .collect();
                    (status, headers, body)
                })
                .collect(),
        )
        .await
    }

    /// [`Scripted::start`], each answer with the header lines given.
    async fn start_with(answers: Vec<ScriptedAnswer>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let answers = Arc::new(Mutex::new(answers.into_iter()));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                // The head, then as much body as it declares (left unread,
                // it would turn the close into a reset).
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                let whole = |request: &[u8]| {
                    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
                        return false;
                    };
                    let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:"))
                        .map_or(0, |n| n.trim().parse::<usize>().unwrap());
                    request.len() >= end + 4 + length
                };
                while !whole(&request) {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let next = answers.lock().unwrap().next();
                let (status, headers, body) = next.unwrap_or((500, Vec::new(), String::new()));
                let headers: String = headers
                    .iter()
                    .map(|(name, value)| format!("{name}: {value}\r\n"))
                    .collect();
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nx-request-id: r-{n}\r\n{headers}\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        Scripted {
            address,
            requests,
            task,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn unavailable() -> String {
    json!({"error": {"code": "SERVICE_UNAVAILABLE", "message": "The database is unavailable"}})
        .to_string()
}

fn empty_listing() -> String {
    json!({"services": [], "next_cursor": null}).to_string()
}

#[tokio::test]
async fn a_503_with_retry_after_is_retried_once_after_the_wait() {
    let server = Scripted::start(vec![
        (503, Some("1"), unavailable()),
        (200, None, empty_listing()),
    ])
    .await;
    let api = Client::builder(&server.address).token("t").build().unwrap();
    let started = Instant::now();
    let listed = api.list_services(&ServiceQuery::default()).await.unwrap();
    let waited = started.elapsed();
    assert!(listed.services.is_empty());
    assert_eq!(server.requests(), 2);
    assert!(waited >= Duration::from_secs(1), "waited {waited:?}");
}

#[tokio::test]
async fn a_503_without_retry_after_or_asking_too_long_is_returned_at_once() {
    let server = Scripted::start(vec![
        (503, None, unavailable()),
        (503, Some("60"), unavailable()),
        (200, None, empty_listing()),
    ])
    .await;
    let api = Client::builder(&server.address).token("t").build().unwrap();
    let bare = refused(
        api.list_services(&ServiceQuery::default()).await,
        503,
        ErrorCode::ServiceUnavailable,
    );
    assert_eq!(bare.retry_after, None);
    assert_eq!(server.requests(), 1);
    let long = api
        .list_services(&ServiceQuery::default())
        .await
        .unwrap_err();
    let long = long.api().unwrap();
    assert_eq!(long.code, ErrorCode::ServiceUnavailable);
    // Above the default max_wait (30 s): not waited for.
    assert_eq!(long.retry_after, Some(Duration::from_secs(60)));
    assert_eq!(server.requests(), 2);
}

/// A store timeout can race a write's commit (docs/architecture.md, on
/// `Idempotency-Key`): after a 503 `SERVICE_UNAVAILABLE` the write may be
/// stored, so only a read is sent again by itself.
#[tokio::test]
async fn a_write_refused_503_is_not_sent_again() {
    let server = Scripted::start(vec![
        (503, Some("1"), unavailable()),
        (503, Some("1"), unavailable()),
    ])
    .await;
    let api = Client::builder(&server.address).token("t").build().unwrap();
    let create = api
        .create_service(
            &ServiceWrite::new("Stripe", "payment", "https://s.example").into(),
            &WriteOptions::idempotency_key("k"),
        )
        .await;
    let refusal = refused(create, 503, ErrorCode::ServiceUnavailable);
    assert_eq!(refusal.retry_after, Some(Duration::from_secs(1)));
    assert_eq!(server.requests(), 1);
    let stored = api
        .put_credential(Uuid::now_v7(), &bearer("t"), &none())
        .await;
    refused(stored, 503, ErrorCode::ServiceUnavailable);
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn answers_that_are_not_the_apis_and_no_answer_at_all() {
    let server = Scripted::start(vec![
        (502, None, "<html>bad gateway</html>".to_owned()),
        (200, None, json!({"services": "not a list"}).to_string()),
    ])
    .await;
    let api = Client::builder(&server.address).token("t").build().unwrap();
    let gateway = api.list_services(&ServiceQuery::default()).await;
    assert!(
        matches!(gateway, Err(Error::UnexpectedStatus { status: 502, .. })),
        "{gateway:?}"
    );
    let garbled = api.list_services(&ServiceQuery::default()).await;
    assert!(matches!(garbled, Err(Error::Decode { .. })), "{garbled:?}");
    assert_eq!(server.requests(), 2);

    let closed = Client::builder(format!("http://127.0.0.1:{}", closed_port()))
        .build()
        .unwrap()
        .healthz()
        .await;
    assert!(matches!(closed, Err(Error::Connect { .. })), "{closed:?}");

    // Accepted by the kernel, never answered.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = Client::builder(format!("http://{}", silent.local_addr().unwrap()))
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap()
        .healthz()
        .await;
    assert!(matches!(slow, Err(Error::Timeout { .. })), "{slow:?}");

    let bad = Client::builder("127.0.0.1:8080").build();
    assert!(matches!(bad, Err(Error::InvalidInput(_))), "{bad:?}");
}

/// A server that hands back a cursor it gave before would page forever: the
/// listing stops with an error instead.
#[tokio::test]
async fn a_repeated_cursor_ends_the_listing_with_an_error() {
    let page = |name: &str, next: &str| {
        json!({
            "services": [{
                "id": Uuid::now_v7(), "name": name, "description": "", "type": "payment",
                "status": "active", "base_url": "https://s.example", "api_version": null,
                "tenant_id": "acme", "metadata": {}, "created_at": Utc::now(),
                "updated_at": Utc::now(), "version": 1, "auth_type": null,
                "credential_expires_at": null
            }],
            "next_cursor": next,
        })
        .to_string()
    };
    let server = Scripted::start(vec![
        (200, None, page("a", "c1")),
        (200, None, page("b", "c2")),
        (200, None, page("c", "c1")),
        (200, None, page("d", "c1")),
    ])
    .await;
    let api = Client::builder(&server.address).token("t").build().unwrap();
    let listed = tokio::time::timeout(
        Duration::from_secs(10),
        api.all_services(&ServiceQuery::default()),
    )
    .await
    .expect("the listing ends");
    let Err(Error::Decode { reason, .. }) = &listed else {
        panic!("{listed:?}");
    };
    assert!(reason.contains("c1"), "{reason}");
    assert_eq!(server.requests(), 3);
}

/// An ingress that redirects (to HTTPS, to a login page) did nothing: only a
/// 2xx is a success, and the redirect's target is named without its query.
#[tokio::test]
async fn a_redirect_is_no_success() {
    let moved = |status: u16, location: &str| -> ScriptedAnswer {
        (
            status,
            vec![("location", location.to_owned())],
            String::new(),
        )
    };
    let server = Scripted::start_with(vec![
        moved(301, "https://login.example/sso?next=%2Fx&ticket=SECRET"),
        moved(308, "/exsvc/api/v1/services"),
        (302, Vec::new(), String::new()),
        moved(307, "https://login.example/sso?ticket=SECRET"),
    ])
    .await;
    let api = Client::builder(&server.address).token("t").build().unwrap();
    let deleted = api.delete_service(Uuid::now_v7(), &none()).await;
    let Err(Error::UnexpectedStatus {
        status: 301,
        location: Some(location),
        ..
    }) = &deleted
    else {
        panic!("{deleted:?}");
    };
    assert_eq!(location, "https://login.example/sso?…");
    let shown = format!("{} {deleted:?}", deleted.as_ref().unwrap_err());
    assert!(shown.contains("https://login.example/sso"), "{shown}");
    assert!(!shown.contains("SECRET"), "{shown}");

    // A relative Location is named as resolved against the request.
    let listed = api.list_services(&ServiceQuery::default()).await;
    let Err(Error::UnexpectedStatus {
        status: 308,
        location: Some(location),
        ..
    }) = &listed
    else {
        panic!("not a Decode error: {listed:?}");
    };
    assert_eq!(
        location,
        &format!("{}/exsvc/api/v1/services", server.address)
    );
    let bare = api.healthz().await;
    assert!(
        matches!(
            bare,
            Err(Error::UnexpectedStatus {
                status: 302,
                location: None,
                ..
            })
        ),
        "{bare:?}"
    );
    // Through execute too: a raw caller gets no 3xx Answer.
    let raw = api.execute(&exsvc_client::request::debug_auth()).await;
    assert!(
        matches!(raw, Err(Error::UnexpectedStatus { status: 307, .. })),
        "{raw:?}"
    );
    assert_eq!(server.requests(), 4);
}

#[tokio::test]
async fn a_base_path_prefixes_every_call() {
    let app = TestApp::spawn_with(TestOptions {
        base_path: "/exsvc".into(),
        ..TestOptions::default()
    })
    .await;
    assert!(app.address.ends_with("/exsvc"));
    let api = client_of(&app, admin("acme"));
    assert_eq!(api.base_url().path(), "/exsvc/");
    api.healthz().await.unwrap();
    let created = new_service(&api, "Stripe", "https://api.stripe.com").await;
    assert_eq!(api.find_service("Stripe").await.unwrap(), created);
    let answer = api
        .execute(&ApiRequest::new(
            Method::GET,
            ["api", "v1", "services", &created.id.to_string()],
        ))
        .await
        .unwrap();
    assert_eq!(answer.version(), Some(1));
    assert_eq!(
        answer.json::<exsvc_client::types::Service>().unwrap(),
        created
    );
    // Outside the base path there is nothing.
    let outside = Client::builder(app.address.trim_end_matches("/exsvc"))
        .build()
        .unwrap();
    refused(outside.healthz().await, 404, ErrorCode::NotFound);
}

#[tokio::test]
async fn a_rotated_token_file_is_read_by_the_running_client() {
    let app = TestApp::spawn().await;
    new_service(
        &client_of(&app, admin("tenant-a")),
        "A-one",
        "https://a.example",
    )
    .await;
    new_service(
        &client_of(&app, admin("tenant-b")),
        "B-one",
        "https://b.example",
    )
    .await;
    new_service(
        &client_of(&app, admin("tenant-b")),
        "B-two",
        "https://b.example",
    )
    .await;

    let dir = std::env::temp_dir().join(format!("exsvc-client-e2e-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    std::fs::write(&path, format!("{}\n", admin("tenant-a"))).unwrap();
    let api = Client::builder(&app.address)
        .token_file(&path)
        .build()
        .unwrap();
    let names = |services: Vec<exsvc_client::types::Service>| {
        let mut names: Vec<String> = services.into_iter().map(|s| s.name).collect();
        names.sort_unstable();
        names
    };
    assert_eq!(
        names(api.all_services(&ServiceQuery::default()).await.unwrap()),
        ["A-one"]
    );
    // Rotated as a sidecar does it: written aside, renamed over.
    let aside = dir.join("token.new");
    std::fs::write(&aside, format!("{}\n", admin("tenant-b"))).unwrap();
    std::fs::rename(&aside, &path).unwrap();
    assert_eq!(
        names(api.all_services(&ServiceQuery::default()).await.unwrap()),
        ["B-one", "B-two"]
    );
    assert_eq!(api.debug_auth().await.unwrap().tenant_id, "tenant-b");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A refused token from a file that has not changed since it was read is
/// not sent again: the 401 comes back after one request.
#[tokio::test]
async fn a_refused_token_from_an_unchanged_file_is_sent_once() {
    let unauthorized =
        json!({"error": {"code": "UNAUTHORIZED", "message": "The token has expired"}}).to_string();
    let server = Scripted::start(vec![
        (401, None, unauthorized.clone()),
        (401, None, unauthorized.clone()),
        (401, None, unauthorized.clone()),
    ])
    .await;
    let dir = std::env::temp_dir().join(format!("exsvc-client-e2e-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    std::fs::write(&path, "expired\n").unwrap();
    let api = Client::builder(&server.address)
        .token_file(&path)
        .build()
        .unwrap();
    let first = api.debug_auth().await;
    assert_eq!(first.unwrap_err().api().map(|e| e.status), Some(401));
    assert_eq!(server.requests(), 1);
    // Rotated: the next call reads the new token, and that one refused is
    // not sent again either (a rotation while a call is in flight is
    // exsvc-client's own token test).
    let aside = dir.join("token.new");
    std::fs::write(&aside, "rotated\n").unwrap();
    std::fs::rename(&aside, &path).unwrap();
    let token = api.debug_auth().await;
    assert_eq!(token.unwrap_err().api().map(|e| e.status), Some(401));
    assert_eq!(server.requests(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_refused_refreshing_token_is_refreshed_once_and_the_call_sent_again() {
    let app = TestApp::spawn().await;
    new_service(
        &client_of(&app, admin("acme")),
        "Stripe",
        "https://s.example",
    )
    .await;
    let refreshes = Arc::new(AtomicUsize::new(0));
    let counter = refreshes.clone();
    let source = RefreshingToken::new(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            // The first token says it lives an hour, but the server finds it
            // expired (as a revoked or clock-skewed one would be).
            let exp = if n == 0 { now() - 3600 } else { now() + 3600 };
            let token = sign(
                json!({"sub": format!("caller-{n}"), "tenant_id": "acme", "exp": exp, "roles": ["admin"]}),
            );
            Ok(FreshToken {
                token: token.into(),
                expires_at: Utc::now() + chrono::Duration::hours(1),
            })
        }
    });
    let api = Client::builder(&app.address)
        .token_source(source)
        .build()
        .unwrap();
    let listed = api.list_services(&ServiceQuery::default()).await.unwrap();
    assert_eq!(listed.services.len(), 1);
    assert_eq!(refreshes.load(Ordering::SeqCst), 2);
    assert_eq!(api.debug_auth().await.unwrap().actor, "caller-1");
    assert_eq!(
        refreshes.load(Ordering::SeqCst),
        2,
        "the second token is kept"
    );

    // A source that keeps giving a refused token: one retry, then the 401.
    let always = Arc::new(AtomicUsize::new(0));
    let counter = always.clone();
    let stale = Client::builder(&app.address)
        .token_source(RefreshingToken::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(FreshToken {
                    token: sign(json!({"tenant_id": "acme", "exp": now() - 3600})).into(),
                    expires_at: Utc::now() + chrono::Duration::hours(1),
                })
            }
        }))
        .build()
        .unwrap();
    refused(stale.debug_auth().await, 401, ErrorCode::Unauthorized);
    assert_eq!(always.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_canary_secret_never_shows_in_debug_output() {
    let egress = LocalEgress::new();
    let app = TestApp::spawn_with(egress.options()).await;
    let api = client_of(&app, admin("acme"));
    let write = CredentialWrite {
        auth_type: AuthType::ApiKey,
        credentials: secret(json!({"key": CANARY, "query_param": "api_key"})),
        expires_at: None,
    };
    assert!(!format!("{write:?}").contains(CANARY));
    let create = ServiceCreate {
        auth_type: Some(AuthType::ApiKey),
        credentials: Some(write.credentials.clone()),
        ..ServiceCreate::from(ServiceWrite::new(
            "Canary",
            "payment",
            format!("https://127.0.0.1:{}", closed_port()),
        ))
    };
    assert!(!format!("{create:?}").contains(CANARY));
    let service = api.create_service(&create, &none()).await.unwrap();
    let meta = api
        .put_credential(service.id, &write, &none())
        .await
        .unwrap();
    assert!(!format!("{meta:?}").contains(CANARY));

    let credential = api.get_credential(service.id, None).await.unwrap();
    assert_eq!(credential.credentials.field("key").as_deref(), Some(CANARY));
    let shown = format!("{credential:?} {credential:#?}");
    assert!(!shown.contains(CANARY), "{shown}");
    assert!(shown.contains("[REDACTED]"), "{shown}");
    // The same read and write as raw requests and answers (as `exsvc … -o
    // json` makes them): the secret is in their bodies, not their Debug.
    let read = exsvc_client::request::get_credential(service.id, None).unwrap();
    let answer = api.execute(&read).await.unwrap();
    assert!(String::from_utf8_lossy(&answer.body).contains(CANARY));
    let store = exsvc_client::request::put_credential(service.id, &write, &none()).unwrap();
    for shown in [format!("{answer:?}"), format!("{store:?}")] {
        assert!(!shown.contains(CANARY), "{shown}");
    }

    // Errors about the credential, its use, and its refusals.
    let mut errors = Vec::new();
    // The key sent to a closed port in the query: UPSTREAM_ERROR.
    errors.push(
        api.proxy(Method::GET, service.id, "v1/x?a=1", HeaderMap::new(), None)
            .await
            .unwrap_err(),
    );
    // The canary as a value that is not a header name, and as an unknown key.
    errors.push(
        api.put_credential(
            service.id,
            &CredentialWrite {
                credentials: secret(json!({"key": "k", "header_name": format!("{CANARY} \n")})),
                ..write.clone()
            },
            &none(),
        )
        .await
        .unwrap_err(),
    );
    errors.push(
        api.put_credential(
            service.id,
            &CredentialWrite {
                auth_type: AuthType::Bearer,
                credentials: secret(json!({"token": "t", CANARY: CANARY})),
                expires_at: None,
            },
            &none(),
        )
        .await
        .unwrap_err(),
    );
    let custom = service_with(
        &api,
        "https://api.example.com",
        &CredentialWrite {
            auth_type: AuthType::Custom,
            credentials: secret(json!({"value": CANARY})),
            expires_at: None,
        },
    )
    .await;
    errors.push(api.service_token(custom.id).await.unwrap_err());
    errors.push(
        api.proxy(Method::GET, custom.id, "x", HeaderMap::new(), None)
            .await
            .unwrap_err(),
    );
    let codes: Vec<&ErrorCode> = errors.iter().map(|e| e.code().unwrap()).collect();
    assert_eq!(
        codes,
        [
            &ErrorCode::UpstreamError,
            &ErrorCode::ValidationError,
            &ErrorCode::ValidationError,
            &ErrorCode::UnsupportedAuthType,
            &ErrorCode::UnsupportedAuthType,
        ]
    );
    for error in &errors {
        let shown = format!("{error:?} {error}");
        assert!(!shown.contains(CANARY), "{shown}");
    }
}

/// A proxied query is the caller's own and may hold its secret: it shows in
/// no answer's `Debug` nor any error's, whatever happened to the call.
#[tokio::test]
async fn a_secret_in_a_proxied_query_never_shows_in_answers_or_errors() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    let app = TestApp::spawn_with(egress.options()).await;
    let api = client_of(&app, admin("acme"));
    let service = service_with(&api, &upstream.base_url(), &bearer("up-token")).await;
    let path = format!("v1/x?key={CANARY}");
    let proxied = || exsvc_client::request::proxy(Method::GET, service.id, &path);
    let mut shown = Vec::new();

    // The upstream echoes the target (query and all) in a header.
    upstream.push(Reply::echo());
    let streamed = api
        .proxy(Method::GET, service.id, &path, HeaderMap::new(), None)
        .await
        .unwrap();
    assert_eq!(streamed.status(), 200);
    assert!(streamed.headers()["x-echo-target"]
        .to_str()
        .unwrap()
        .contains(CANARY));
    shown.push(format!("{streamed:?} {streamed:#?}"));
    assert!(shown[0].contains("x-echo-target"), "{}", shown[0]);
    upstream.push(Reply::echo());
    let answer = api.execute(&proxied()).await.unwrap();
    shown.push(format!("{answer:?} {answer:#?}"));
    // Not a service: a Decode error naming the proxied URL.
    upstream.push(Reply::text(200, "not json"));
    let answer = api.execute(&proxied()).await.unwrap();
    let decode = answer.json::<exsvc_client::types::Service>().unwrap_err();
    assert!(matches!(decode, Error::Decode { .. }), "{decode:?}");
    assert!(decode.to_string().contains("/proxy/v1/x?…"), "{decode}");
    let mut errors = vec![decode];
    // exsvc's own refusal of a proxied call (the upstream unreachable).
    let closed = service_with(
        &api,
        &format!("https://127.0.0.1:{}", closed_port()),
        &bearer("t"),
    )
    .await;
    errors.push(
        api.proxy(Method::GET, closed.id, &path, HeaderMap::new(), None)
            .await
            .unwrap_err(),
    );

    // Something in front of exsvc: an error page, a redirect, silence, nothing.
    let front = Scripted::start_with(vec![
        (502, Vec::new(), "<html>bad gateway</html>".to_owned()),
        (
            302,
            vec![("location", format!("https://login.example/?next={CANARY}"))],
            String::new(),
        ),
    ])
    .await;
    let fronted = Client::builder(&front.address).token("t").build().unwrap();
    for _ in 0..2 {
        let error = fronted.execute(&proxied()).await.unwrap_err();
        assert!(matches!(error, Error::UnexpectedStatus { .. }), "{error:?}");
        errors.push(error);
    }
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = Client::builder(format!("http://{}", silent.local_addr().unwrap()))
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let timeout = slow
        .proxy(Method::GET, service.id, &path, HeaderMap::new(), None)
        .await
        .unwrap_err();
    assert!(matches!(timeout, Error::Timeout { .. }), "{timeout:?}");
    errors.push(timeout);
    let unreachable = Client::builder(format!("http://127.0.0.1:{}", closed_port()))
        .build()
        .unwrap()
        .execute(&proxied())
        .await
        .unwrap_err();
    assert!(
        matches!(unreachable, Error::Connect { .. }),
        "{unreachable:?}"
    );
    errors.push(unreachable);

    for error in &errors {
        shown.push(format!("{error:?} {error:#?} {error}"));
    }
    for shown in &shown {
        assert!(!shown.contains(CANARY), "{shown}");
    }
}

/// Something posing as exsvc that sends an answer without end: the client
/// stops reading at its limit instead of filling the memory.
#[tokio::test]
async fn an_answer_without_end_is_refused_at_the_limit() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, " ".repeat(1 << 20));
        // Far more than the limit, unless the client hangs up first.
        for _ in 0..200 {
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let endless = Client::builder(format!("http://{address}"))
        .build()
        .unwrap()
        .list_services(&ServiceQuery::default())
        .await;
    match endless {
        Err(Error::Decode { reason, .. }) => assert!(reason.contains("larger than"), "{reason}"),
        other => panic!("expected the limit: {other:?}"),
    }
}
