//! The decision table of docs/api.md §4.5, the role and binding documents,
//! and the replica's copy of bindings.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::*;
use crate::ports::{AccessChanges, MockAccessRepository, MockClock};
use crate::principal::{CallerIdentity, Permission, Principal, TenantId};
use crate::service::{ServiceId, ServiceSpec, UrlPolicy};
use crate::{Service, UseCaseError};

fn obj(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn service(kind: &str, metadata: Value) -> Service {
    let doc = obj(json!({"name": format!("svc-{kind}"), "type": kind,
        "base_url": "https://x.example", "metadata": metadata}));
    let at = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
    Service {
        id: ServiceId::from_uuid(Uuid::now_v7()),
        tenant_id: tenant(),
        spec: ServiceSpec::from_document(&doc, UrlPolicy::default()).unwrap(),
        credential: None,
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

fn role(permissions: Value, services: Value) -> RoleSpec {
    RoleSpec::parse_replacement(&obj(
        json!({"permissions": permissions, "services": services}),
    ))
    .unwrap()
}

fn grant(spec: &RoleSpec) -> Arc<Grant> {
    Arc::new(Grant {
        binding_id: Uuid::now_v7(),
        role: RoleName::parse("r").unwrap(),
        permissions: spec.permissions.clone(),
        selector: spec.services.clone(),
    })
}

fn bound(tenant_wide: &[Permission], grants: Vec<Arc<Grant>>) -> Principal {
    Principal::new(tenant(), "worker", tenant_wide.iter().copied()).with_grants(Arc::from(grants))
}

#[test]
fn the_decision_table() {
    let stripe = service(
        "payment",
        json!({"team": "billing", "tier": 1, "pci": true}),
    );
    let mail = service("mail", json!({"team": "growth"}));
    let reader_of_payments = role(
        json!(["external-service:read", "external-service:credentials"]),
        json!({"types": ["payment"]}),
    );
    let by_id = role(
        json!(["external-service:read"]),
        json!({"ids": [stripe.id.to_string()]}),
    );
    let by_metadata = role(
        json!(["external-service:*"]),
        json!({"metadata": {"team": "billing", "tier": 1}}),
    );
    let combined = role(
        json!(["external-service:update"]),
        json!({"types": ["payment"], "metadata": {"team": "growth"}}),
    );
    let everything = role(json!(["external-service:read"]), json!({}));
    use Decision::{Allow, Forbid, Invisible};
    use Permission::{Credentials, Delete, Read, Update};
    let cases: Vec<(&str, Principal, Permission, &Service, Decision)> = vec![
        (
            "tenant-wide read reaches every service",
            bound(&[Read], vec![]),
            Read,
            &mail,
            Allow,
        ),
        (
            "tenant-wide grants make every service visible",
            bound(&[Read], vec![]),
            Delete,
            &mail,
            Forbid,
        ),
        (
            "a type selector allows its type",
            bound(&[], vec![grant(&reader_of_payments)]),
            Credentials,
            &stripe,
            Allow,
        ),
        (
            "and hides the others",
            bound(&[], vec![grant(&reader_of_payments)]),
            Credentials,
            &mail,
            Invisible,
        ),
        (
            "a matching role without the permission is 403",
            bound(&[], vec![grant(&reader_of_payments)]),
            Delete,
            &stripe,
            Forbid,
        ),
        (
            "an id selector",
            bound(&[], vec![grant(&by_id)]),
            Read,
            &stripe,
            Allow,
        ),
        (
            "an id selector hides the others",
            bound(&[], vec![grant(&by_id)]),
            Read,
            &mail,
            Invisible,
        ),
        (
            "a metadata selector with a wildcard role",
            bound(&[], vec![grant(&by_metadata)]),
            Delete,
            &stripe,
            Allow,
        ),
        (
            "a metadata selector hides a service without the value",
            bound(&[], vec![grant(&by_metadata)]),
            Read,
            &mail,
            Invisible,
        ),
        (
            "a combined selector needs every field",
            bound(&[], vec![grant(&combined)]),
            Update,
            &stripe,
            Invisible,
        ),
        (
            "an empty selector matches every service",
            bound(&[], vec![grant(&everything)]),
            Read,
            &mail,
            Allow,
        ),
        (
            "grants add up",
            bound(&[], vec![grant(&by_id), grant(&reader_of_payments)]),
            Credentials,
            &stripe,
            Allow,
        ),
    ];
    for (case, principal, permission, service, expected) in cases {
        assert_eq!(decide(&principal, permission, service), expected, "{case}");
    }
}

#[test]
fn a_role_grants_every_permission_but_access() {
    let expected: Vec<Permission> = Permission::ALL
        .into_iter()
        .filter(|p| *p != Permission::Access)
        .collect();
    assert_eq!(Permission::GRANTABLE.to_vec(), expected);
}

#[test]
fn step_zero_needs_the_permission_somewhere() {
    let reader = role(
        json!(["external-service:read"]),
        json!({"types": ["payment"]}),
    );
    let p = bound(&[], vec![grant(&reader)]);
    assert!(p.permit(Permission::Read).is_ok());
    assert!(matches!(
        p.permit(Permission::Delete),
        Err(UseCaseError::Forbidden(Permission::Delete))
    ));
}

#[test]
fn permits_check_existing_and_new_services() {
    let reader = role(
        json!(["external-service:create"]),
        json!({"types": ["payment"]}),
    );
    let p = bound(&[], vec![grant(&reader)]);
    let permit = p.permit(Permission::Create).unwrap();
    assert!(permit.check_new(&service("payment", json!({}))).is_ok());
    assert!(matches!(
        permit.check_new(&service("mail", json!({}))),
        Err(UseCaseError::Forbidden(Permission::Create))
    ));
    assert!(matches!(
        permit.check(&service("mail", json!({}))),
        Err(UseCaseError::NotFound(_))
    ));
}

#[test]
fn reach_is_the_selectors_of_the_grants_of_the_permission() {
    let payments = role(
        json!(["external-service:read"]),
        json!({"types": ["payment"]}),
    );
    let audit = role(
        json!(["external-service:audit"]),
        json!({"types": ["mail"]}),
    );
    let p = bound(&[], vec![grant(&payments), grant(&audit)]);
    assert_eq!(
        reach(&p, Permission::Read),
        Reach::Matching(vec![payments.services.clone()])
    );
    assert_eq!(reach(&p, Permission::Delete), Reach::Matching(vec![]));
    assert_eq!(
        reach(&bound(&[Permission::Read], vec![]), Permission::Read),
        Reach::Tenant
    );
    let all = role(
        json!(["external-service:read"]),
        json!({"ids": [], "types": []}),
    );
    assert_eq!(
        reach(&bound(&[], vec![grant(&all)]), Permission::Read),
        Reach::Tenant
    );
}

#[test]
fn metadata_values_compare_as_both_stores_do() {
    let s = |value: Value| SelectorValue::parse_value(&value).unwrap();
    assert!(s(json!(1)).matches(&json!(1)));
    assert!(
        !s(json!(1)).matches(&json!(1.0)),
        "an integer is not a float"
    );
    assert!(!s(json!(1)).matches(&json!("1")));
    assert!(!s(json!(true)).matches(&json!(1)));
    assert!(s(json!("a")).matches(&json!("a")));
    assert!(!s(json!("a")).matches(&json!(["a"])));
    // JSON Schema's integer: a float without a fraction is one.
    assert_eq!(s(json!(755.0)), SelectorValue::Integer(755));
    assert!(
        !s(json!(755.0)).matches(&json!(755.0)),
        "it matches integers, as 755 does"
    );
    for refused in [
        json!(1.5),
        json!(1e20),
        json!([1]),
        json!({"a": 1}),
        json!(null),
    ] {
        assert!(SelectorValue::parse_value(&refused).is_err(), "{refused}");
    }
}

#[test]
fn role_documents() {
    let (name, spec) = RoleSpec::parse_new(&obj(json!({
        "name": "billing-reader", "description": "Stripe only",
        "permissions": ["external-service:read", "external-service:credentials"],
        "services": {"types": ["payment"], "metadata": {"b": 1, "a": "x"}}
    })))
    .unwrap();
    assert_eq!(name.as_str(), "billing-reader");
    assert_eq!(
        spec.services.metadata[0].0, "a",
        "sorted, so it reads back as stored"
    );
    assert_eq!(
        ServiceSelector::from_stored(&spec.services.to_json()).unwrap(),
        spec.services
    );
    assert_eq!(
        RolePermissions::from_stored(&spec.permissions.to_json()).unwrap(),
        spec.permissions
    );
    let refused = |doc: Value, field: &str| {
        let errors = RoleSpec::parse_new(&obj(doc.clone())).unwrap_err();
        assert!(
            errors.iter().any(|(f, _)| f == field),
            "{doc} should name {field}: {errors}"
        );
    };
    refused(json!({"permissions": []}), "permissions");
    refused(
        json!({"permissions": ["external-service:access"]}),
        "permissions",
    );
    refused(
        json!({"permissions": ["external-service:fly"]}),
        "permissions",
    );
    refused(
        json!({"permissions": ["external-service:read"], "name": "Bad Name"}),
        "name",
    );
    refused(
        json!({"permissions": ["external-service:read"], "name": "x".repeat(65)}),
        "name",
    );
    refused(
        json!({"permissions": ["external-service:read"], "version": 3}),
        "version",
    );
    refused(
        json!({"permissions": ["external-service:read"], "colour": 3}),
        "colour",
    );
    refused(
        json!({"permissions": ["external-service:read"], "services": {"kinds": []}}),
        "services.kinds",
    );
    refused(
        json!({"permissions": ["external-service:read"], "services": {"ids": ["nope"]}}),
        "services.ids",
    );
    let ids: Vec<String> = (0..101).map(|_| Uuid::now_v7().to_string()).collect();
    refused(
        json!({"permissions": ["external-service:read"], "services": {"ids": ids}}),
        "services.ids",
    );
    let types: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    refused(
        json!({"permissions": ["external-service:read"], "services": {"types": types}}),
        "services.types",
    );
    let metadata: Map<String, Value> = (0..21).map(|i| (format!("k{i}"), json!(1))).collect();
    refused(
        json!({"permissions": ["external-service:read"], "services": {"metadata": metadata}}),
        "services.metadata",
    );
    refused(
        json!({"permissions": ["external-service:read"], "services": {"metadata": {"k": 1.5}}}),
        "services.metadata",
    );
    refused(json!({"permissions": ["external-service:read"]}), "name");
    let renamed = RoleSpec::parse_replacement(&obj(
        json!({"name": "x", "permissions": ["external-service:read"]}),
    ));
    assert!(
        renamed.unwrap_err().iter().any(|(f, _)| f == "name"),
        "a replacement cannot rename"
    );
    // The wildcard grants everything but `access`.
    let all = role(json!(["external-service:*"]), json!({}));
    assert!(all.permissions.grants(Permission::Use));
    assert!(!all.permissions.grants(Permission::Access));
}

#[test]
fn binding_documents() {
    let ok = NewRoleBinding::parse(&obj(json!({
        "role": "billing-reader", "subject": {"type": "client_id", "value": "billing-worker"},
        "expires_at": "2030-01-01T00:00:00Z"
    })))
    .unwrap();
    assert_eq!(ok.subject.kind, SubjectType::ClientId);
    let refused = |doc: Value, field: &str| {
        let errors = NewRoleBinding::parse(&obj(doc.clone())).unwrap_err();
        assert!(
            errors.iter().any(|(f, _)| f == field),
            "{doc} should name {field}: {errors}"
        );
    };
    refused(json!({"subject": {"type": "sub", "value": "a"}}), "role");
    refused(
        json!({"role": "r", "subject": {"type": "group", "value": "a"}}),
        "subject.type",
    );
    refused(
        json!({"role": "r", "subject": {"type": "sub", "value": ""}}),
        "subject.value",
    );
    refused(
        json!({"role": "r", "subject": {"type": "sub", "value": "a\u{202E}"}}),
        "subject.value",
    );
    refused(
        json!({"role": "r", "subject": {"type": "sub", "value": "a"}, "expires_at": "soon"}),
        "expires_at",
    );
    refused(
        json!({"role": "r", "subject": {"type": "sub", "value": "a"}, "id": "x"}),
        "id",
    );
}

fn stored_role(name: &str, spec: RoleSpec) -> Role {
    let at = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
    Role {
        id: Uuid::now_v7(),
        tenant_id: tenant(),
        name: RoleName::parse(name).unwrap(),
        spec,
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

fn binding(
    role: &Role,
    kind: SubjectType,
    value: &str,
    expires_at: Option<DateTime<Utc>>,
) -> RoleBinding {
    RoleBinding {
        id: Uuid::now_v7(),
        tenant_id: tenant(),
        role: role.name.clone(),
        subject: Subject::new(kind, value).unwrap(),
        expires_at,
        created_at: role.created_at,
        created_by: "admin".into(),
    }
}

#[test]
fn a_caller_gets_the_live_bindings_of_its_subjects() {
    let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let r = stored_role("r", role(json!(["external-service:read"]), json!({})));
    let by_client = binding(&r, SubjectType::ClientId, "worker", None);
    let by_role = binding(
        &r,
        SubjectType::Role,
        "billing",
        Some(now + Duration::seconds(1)),
    );
    let expired = binding(&r, SubjectType::Sub, "u1", Some(now));
    let other = binding(&r, SubjectType::Sub, "someone-else", None);
    let access = TenantAccess::new(
        [&by_client, &by_role, &expired, &other]
            .into_iter()
            .map(|b| (b.clone(), r.clone()))
            .collect(),
    );
    let identity = CallerIdentity {
        sub: Some("u1".into()),
        client_id: Some("worker".into()),
        roles: vec!["billing".into(), "viewer".into()],
    };
    let ids: Vec<Uuid> = access
        .grants_for(&identity, now)
        .iter()
        .map(|g| g.binding_id)
        .collect();
    assert_eq!(
        ids,
        [by_client.id, by_role.id],
        "expiry is exclusive: at expires_at it no longer grants"
    );
    // A sub equal to a client id binding's value is not that client.
    let impostor = CallerIdentity {
        sub: Some("worker".into()),
        ..CallerIdentity::default()
    };
    assert!(access.grants_for(&impostor, now).is_empty());
}

#[tokio::test]
async fn the_copy_is_forgotten_on_a_change_and_learns_other_replicas_changes() {
    let r = stored_role("r", role(json!(["external-service:read"]), json!({})));
    let b = binding(&r, SubjectType::Sub, "alice", None);
    let mut repo = MockAccessRepository::new();
    // Loaded once, then again after each forgetting: three loads in all.
    let rows = vec![(b.clone(), r.clone())];
    repo.expect_tenant_bindings()
        .times(3)
        .returning(move |_| Ok(rows.clone()));
    let mut seq = mockall::Sequence::new();
    repo.expect_changes_since()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| {
            Ok(AccessChanges {
                clock: 7,
                tenants: vec![],
            })
        });
    repo.expect_changes_since()
        .withf(|after| *after == 7)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| {
            Ok(AccessChanges {
                clock: 8,
                tenants: vec![tenant()],
            })
        });
    let mut clock = MockClock::new();
    clock
        .expect_now()
        .returning(|| DateTime::from_timestamp(1_800_000_000, 0).unwrap());
    let directory = AccessDirectory::new(Arc::new(repo), Arc::new(clock));
    let alice = || {
        Principal::new(tenant(), "alice", []).with_identity(CallerIdentity {
            sub: Some("alice".into()),
            ..CallerIdentity::default()
        })
    };
    directory.poll().await.unwrap();
    assert_eq!(directory.resolve(alice()).await.unwrap().grants().len(), 1);
    // Cached: no second load.
    assert_eq!(directory.resolve(alice()).await.unwrap().grants().len(), 1);
    directory.forget(&tenant());
    directory.resolve(alice()).await.unwrap();
    directory.poll().await.unwrap();
    directory.resolve(alice()).await.unwrap();
}

/// Review finding: a copy that no poll refreshed for `MAX_STALENESS` (a poll
/// that hangs, a dead poll task) is not trusted, and a clock found behind the
/// one seen (a restored store) starts the copy over.
#[tokio::test]
async fn a_stale_copy_is_not_trusted_and_a_clock_behind_starts_over() {
    use std::sync::atomic::{AtomicI64, Ordering};
    let r = stored_role("r", role(json!(["external-service:read"]), json!({})));
    let b = binding(&r, SubjectType::Sub, "alice", None);
    let mut repo = MockAccessRepository::new();
    let rows = vec![(b.clone(), r.clone())];
    let loads = Arc::new(AtomicI64::new(0));
    let counted = loads.clone();
    repo.expect_tenant_bindings().returning(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        Ok(rows.clone())
    });
    let mut seq = mockall::Sequence::new();
    for clock in [7, 3] {
        repo.expect_changes_since()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| {
                Ok(AccessChanges {
                    clock,
                    tenants: vec![],
                })
            });
    }
    let millis = Arc::new(AtomicI64::new(1_800_000_000_000));
    let now = millis.clone();
    let mut clock = MockClock::new();
    clock
        .expect_now()
        .returning(move || DateTime::from_timestamp_millis(now.load(Ordering::SeqCst)).unwrap());
    let directory = AccessDirectory::new(Arc::new(repo), Arc::new(clock));
    let alice = || {
        Principal::new(tenant(), "alice", []).with_identity(CallerIdentity {
            sub: Some("alice".into()),
            ..CallerIdentity::default()
        })
    };
    directory.poll().await.unwrap();
    directory.resolve(alice()).await.unwrap();
    directory.resolve(alice()).await.unwrap();
    assert_eq!(loads.load(Ordering::SeqCst), 1, "fresh: loaded once");
    millis.fetch_add(1600, Ordering::SeqCst);
    directory.resolve(alice()).await.unwrap();
    directory.resolve(alice()).await.unwrap();
    assert_eq!(
        loads.load(Ordering::SeqCst),
        3,
        "stale: every request loads"
    );
    // The poll succeeds again, but finds the clock behind: nothing cached survives.
    directory.poll().await.unwrap();
    directory.resolve(alice()).await.unwrap();
    directory.resolve(alice()).await.unwrap();
    assert_eq!(loads.load(Ordering::SeqCst), 4);
}
