//! The contract of the repository ports, as one suite every store runs:
//! `service_repository_contract!(factory)` expands to one test per case, where
//! `factory` is an async expression giving `(Stores, guard)` (the guard keeps the
//! store's database alive for the test).

use chrono::SubsecRound;
use chrono::{DateTime, Duration, Utc};
use exsvc_domain::audit::{AuditAction, AuditEvent, AuditOutcome, AuditQuery};
use exsvc_domain::credential::{AuthType, CredentialRecord};
use exsvc_domain::idempotency::{IdempotencyKey, IdempotencyRecord, StoredResponse};
use exsvc_domain::pagination::{CursorKey, ListQuery, RawListParams};
use exsvc_domain::ports::{RepositoryError, VersionState};
use exsvc_domain::service::UrlPolicy;
use exsvc_domain::{Service, ServiceId, ServiceSpec, TenantId};
use serde_json::json;
use uuid::Uuid;

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("tenant")
}

/// One store, through each of its ports.
pub use exsvc_domain::ports::Stores;

/// An audit event of tenant `tenant_name`.
pub fn audit(tenant_name: &str, action: AuditAction) -> AuditEvent {
    AuditEvent {
        id: uuid::Uuid::now_v7(),
        occurred_at: chrono::Utc::now().trunc_subsecs(6),
        tenant_id: tenant(tenant_name),
        actor: "contract".into(),
        action,
        service_id: None,
        credential_version: None,
        outcome: AuditOutcome::Success,
        request_id: Some("req-1".into()),
    }
}

fn key() -> CursorKey {
    CursorKey::derive(b"contract")
}

fn base_time() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_767_225_600_000_000).expect("time") // 2026-01-01
}

/// A valid service of `tenant` named `name`, created `offset_secs` after a fixed instant.
pub fn service(tenant_name: &str, name: &str, offset_secs: i64) -> Service {
    let doc = json!({
        "name": name, "type": "payment", "base_url": "https://api.example.com",
        "description": "d", "api_version": "v1", "metadata": {"k": [1, "two", {"three": 3}]}
    });
    let spec = ServiceSpec::from_document(doc.as_object().expect("object"), UrlPolicy::default())
        .expect("spec");
    let at = base_time() + Duration::seconds(offset_secs);
    Service {
        id: ServiceId::from_uuid(uuid::Uuid::now_v7()),
        tenant_id: tenant(tenant_name),
        spec,
        credential: None,
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

fn query(limit: &str) -> ListQuery {
    ListQuery::parse(
        &RawListParams {
            limit: Some(limit),
            ..Default::default()
        },
        &tenant("t1"),
        &key(),
    )
    .expect("query")
}

pub async fn insert_then_find_round_trips(stores: Stores) {
    let repo = stores.services.clone();
    let s = service("t1", "Stripe", 0);
    repo.insert(&s, None, &[]).await.unwrap();
    let found = repo.find(&s.tenant_id, s.id).await.unwrap().expect("found");
    assert_eq!(found, s);
    let missing = ServiceId::from_uuid(uuid::Uuid::now_v7());
    assert!(repo.find(&s.tenant_id, missing).await.unwrap().is_none());
}

/// Any JSON value with the extremes PostgreSQL and SQLite could mangle: the
/// largest and smallest floats, integers at the ends of 64 bits, any string.
fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    use serde_json::Value;
    let extremes = prop::sample::select(vec![
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324,
        -5e-324,
        1e-7,
        1e16,
        -1e16,
        1.8e19,
        1e300,
        -0.0,
        0.1,
        100.0,
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        extremes.prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Metadata the domain accepts, generated: every value reads back equal, by id
/// and in the tenant's listing (docs/api.md §9: nothing stored breaks a read).
pub async fn accepted_metadata_reads_back_equal(stores: Stores) {
    use proptest::strategy::{Strategy, ValueTree};
    let strategy = proptest::collection::btree_map("[a-z]{1,8}", json_value(), 0..6);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut stored = Vec::new();
    let mut extremes = vec![
        json!({"x": 1.797_693_134_862_315_7e308}),
        json!({"x": -1.797_693_134_862_315_7e308}),
        json!({"x": 5e-324, "y": [u64::MAX, i64::MIN]}),
    ];
    while stored.len() < 60 {
        let metadata = match extremes.pop() {
            Some(value) => value,
            None => serde_json::Value::Object(
                strategy
                    .new_tree(&mut runner)
                    .expect("a value")
                    .current()
                    .into_iter()
                    .collect(),
            ),
        };
        let mut doc = json!({"name": format!("svc-{}", stored.len()), "type": "t",
                             "base_url": "https://api.example.com"});
        doc["metadata"] = metadata;
        // Only what the domain accepts must round-trip (NUL, size: refused).
        let Ok(spec) =
            ServiceSpec::from_document(doc.as_object().expect("object"), UrlPolicy::default())
        else {
            continue;
        };
        let mut s = service("t1", "unused", i64::try_from(stored.len()).expect("small"));
        s.spec = spec;
        stores.services.insert(&s, None, &[]).await.expect("insert");
        stored.push(s);
    }
    for s in &stored {
        let found = stores
            .services
            .find(&s.tenant_id, s.id)
            .await
            .expect("find");
        assert_eq!(found.as_ref(), Some(s), "read back by id");
    }
    let listed = stores
        .services
        .list(&tenant("t1"), &query("100"))
        .await
        .expect("listing");
    assert_eq!(listed.len(), stored.len());
    for s in &listed {
        let original = stored.iter().find(|o| o.id == s.id).expect("listed");
        assert_eq!(s, original, "read back in the listing");
    }
}

pub async fn find_is_scoped_to_the_tenant(stores: Stores) {
    let repo = stores.services.clone();
    let s = service("t1", "Stripe", 0);
    repo.insert(&s, None, &[]).await.unwrap();
    assert!(repo.find(&tenant("t2"), s.id).await.unwrap().is_none());
    assert!(matches!(
        repo.delete(
            &tenant("t2"),
            s.id,
            None,
            &audit("t1", AuditAction::ServiceDelete)
        )
        .await,
        Err(RepositoryError::NotFound)
    ));
    let mut moved = s.clone();
    moved.tenant_id = tenant("t2");
    moved.version = 2;
    assert!(matches!(
        repo.update(&moved, 1, &audit("t1", AuditAction::ServiceUpdate))
            .await,
        Err(RepositoryError::NotFound)
    ));
    assert_eq!(repo.find(&s.tenant_id, s.id).await.unwrap(), Some(s));
}

pub async fn names_are_unique_per_tenant_ignoring_case(stores: Stores) {
    let repo = stores.services.clone();
    repo.insert(&service("t1", "Stripe", 0), None, &[])
        .await
        .unwrap();
    for clash in ["Stripe", "STRIPE", "stripe"] {
        assert!(
            matches!(
                repo.insert(&service("t1", clash, 1), None, &[]).await,
                Err(RepositoryError::Duplicate)
            ),
            "{clash}"
        );
    }
    repo.insert(&service("t2", "stripe", 2), None, &[])
        .await
        .unwrap();
    // Beyond ASCII too, in every store.
    repo.insert(&service("t1", "Ärzte Über", 3), None, &[])
        .await
        .unwrap();
    assert!(matches!(
        repo.insert(&service("t1", "ärzte über", 4), None, &[])
            .await,
        Err(RepositoryError::Duplicate)
    ));
}

pub async fn racing_inserts_of_one_name_have_one_winner(stores: Stores) {
    let repo = stores.services.clone();
    let attempts: Vec<_> = (0..16)
        .map(|i| {
            let repo = repo.clone();
            {
                // Every other attempt differs only in case.
                let name = if i % 2 == 0 { "Race" } else { "RACE" };
                tokio::spawn(async move { repo.insert(&service("t1", name, i), None, &[]).await })
            }
        })
        .collect();
    let mut wins = 0;
    let mut duplicates = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => wins += 1,
            Err(RepositoryError::Duplicate) => duplicates += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((wins, duplicates), (1, 15));
}

/// 32 writers at once all succeed: no "database is locked", no lost write.
pub async fn concurrent_writers_all_succeed(stores: Stores) {
    let repo = stores.services.clone();
    let writers: Vec<_> = (0..32)
        .map(|i| {
            let repo = repo.clone();
            tokio::spawn(async move {
                let mut s = service("t1", &format!("writer-{i}"), i);
                repo.insert(&s, None, &[]).await?;
                s.version = 2;
                s.spec.description =
                    exsvc_domain::service::Description::parse("updated").expect("description");
                repo.update(&s, 1, &audit("t1", AuditAction::ServiceUpdate))
                    .await
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("task").expect("every write succeeds");
    }
    let all = repo.list(&tenant("t1"), &query("100")).await.unwrap();
    assert_eq!(all.len(), 32);
    assert!(all
        .iter()
        .all(|s| s.version == 2 && s.spec.description.as_str() == "updated"));
}

pub async fn list_is_newest_first_and_pages_by_keyset(stores: Stores) {
    let repo = stores.services.clone();
    // Two services share a created_at, so the id decides their order.
    let mut all = Vec::new();
    for i in 0..7 {
        let s = service("t1", &format!("svc-{i}"), i64::from(i / 2));
        repo.insert(&s, None, &[]).await.unwrap();
        all.push(s);
    }
    repo.insert(&service("t2", "other-tenant", 100), None, &[])
        .await
        .unwrap();
    all.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));

    let mut seen = Vec::new();
    let mut q = query("3");
    loop {
        let rows = repo.list(&tenant("t1"), &q).await.unwrap();
        assert!(rows.len() <= 4, "at most limit + 1 rows");
        let page: Vec<_> = rows.iter().take(3).cloned().collect();
        seen.extend(page.iter().map(|s| s.id));
        if rows.len() <= 3 {
            break;
        }
        let last = page.last().expect("non-empty page");
        q.after = Some(exsvc_domain::pagination::Cursor {
            at: last.created_at,
            id: last.id.as_uuid(),
        });
    }
    let expected: Vec<_> = all.iter().map(|s| s.id).collect();
    assert_eq!(seen, expected);
}

pub async fn list_filters(stores: Stores) {
    let repo = stores.services.clone();
    let mut mail = service("t1", "Mail_Gun 100%", 0);
    mail.spec.service_type = exsvc_domain::service::ServiceType::parse("mail").unwrap();
    let mut off = service("t1", "Stripe", 1);
    off.spec.status = exsvc_domain::service::ServiceStatus::Inactive;
    repo.insert(&mail, None, &[]).await.unwrap();
    repo.insert(&off, None, &[]).await.unwrap();
    let list = |raw: RawListParams<'static>| {
        let repo = repo.clone();
        async move {
            let q = ListQuery::parse(&raw, &tenant("t1"), &key()).unwrap();
            repo.list(&tenant("t1"), &q)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.spec.name.as_str().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(RawListParams {
            service_type: Some("mail"),
            ..Default::default()
        })
        .await,
        ["Mail_Gun 100%"]
    );
    assert_eq!(
        list(RawListParams {
            status: Some("inactive"),
            ..Default::default()
        })
        .await,
        ["Stripe"]
    );
    assert_eq!(
        list(RawListParams {
            q: Some("GUN"),
            ..Default::default()
        })
        .await,
        ["Mail_Gun 100%"]
    );
    // Case-insensitive beyond ASCII, the same in every store.
    repo.insert(&service("t1", "Ärzte Über", 2), None, &[])
        .await
        .unwrap();
    assert_eq!(
        list(RawListParams {
            q: Some("üBER"),
            ..Default::default()
        })
        .await,
        ["Ärzte Über"]
    );
    // LIKE wildcards in q match literally.
    assert_eq!(
        list(RawListParams {
            q: Some("%"),
            ..Default::default()
        })
        .await,
        ["Mail_Gun 100%"]
    );
    assert_eq!(
        list(RawListParams {
            q: Some("l_g"),
            ..Default::default()
        })
        .await,
        ["Mail_Gun 100%"]
    );
    assert!(list(RawListParams {
        q: Some("a_g"),
        ..Default::default()
    })
    .await
    .is_empty());
}

pub async fn update_applies_only_under_the_expected_version(stores: Stores) {
    let repo = stores.services.clone();
    let s = service("t1", "Stripe", 0);
    repo.insert(&s, None, &[]).await.unwrap();
    let mut changed = s.clone();
    changed.spec.description = exsvc_domain::service::Description::parse("new").unwrap();
    changed.spec.api_version = None;
    changed.version = 2;
    changed.updated_at = s.updated_at + Duration::seconds(5);
    repo.update(&changed, 1, &audit("t1", AuditAction::ServiceUpdate))
        .await
        .unwrap();
    assert_eq!(
        repo.find(&s.tenant_id, s.id).await.unwrap(),
        Some(changed.clone())
    );

    let mut stale = changed.clone();
    stale.version = 2;
    assert!(matches!(
        repo.update(&stale, 1, &audit("t1", AuditAction::ServiceUpdate))
            .await,
        Err(RepositoryError::VersionConflict)
    ));
    assert_eq!(repo.find(&s.tenant_id, s.id).await.unwrap(), Some(changed));
}

pub async fn update_onto_a_taken_name_is_duplicate(stores: Stores) {
    let repo = stores.services.clone();
    let a = service("t1", "Alpha", 0);
    let b = service("t1", "Beta", 1);
    repo.insert(&a, None, &[]).await.unwrap();
    repo.insert(&b, None, &[]).await.unwrap();
    let mut renamed = b.clone();
    renamed.spec.name = exsvc_domain::service::ServiceName::parse("ALPHA").unwrap();
    renamed.version = 2;
    assert!(matches!(
        repo.update(&renamed, 1, &audit("t1", AuditAction::ServiceUpdate))
            .await,
        Err(RepositoryError::Duplicate)
    ));
    assert_eq!(repo.find(&b.tenant_id, b.id).await.unwrap(), Some(b));
}

pub async fn delete_honours_the_expected_version(stores: Stores) {
    let repo = stores.services.clone();
    let s = service("t1", "Stripe", 0);
    repo.insert(&s, None, &[]).await.unwrap();
    assert!(matches!(
        repo.delete(
            &s.tenant_id,
            s.id,
            Some(7),
            &audit("t1", AuditAction::ServiceDelete)
        )
        .await,
        Err(RepositoryError::VersionConflict)
    ));
    assert!(repo.find(&s.tenant_id, s.id).await.unwrap().is_some());
    repo.delete(
        &s.tenant_id,
        s.id,
        Some(1),
        &audit("t1", AuditAction::ServiceDelete),
    )
    .await
    .unwrap();
    assert!(repo.find(&s.tenant_id, s.id).await.unwrap().is_none());
    assert!(matches!(
        repo.delete(
            &s.tenant_id,
            s.id,
            None,
            &audit("t1", AuditAction::ServiceDelete)
        )
        .await,
        Err(RepositoryError::NotFound)
    ));
    // The name is free again.
    repo.insert(&service("t1", "stripe", 1), None, &[])
        .await
        .unwrap();
}

pub async fn ping_answers(stores: Stores) {
    let repo = stores.services.clone();
    repo.ping().await.unwrap();
}

fn credential(s: &Service, version: i64, bytes: &[u8]) -> CredentialRecord {
    CredentialRecord {
        tenant_id: s.tenant_id.clone(),
        service_id: s.id,
        version,
        auth_type: AuthType::Bearer,
        ciphertext: bytes.to_vec(),
        created_at: base_time() + Duration::seconds(version),
        expires_at: Some(base_time() + Duration::days(30 + version)),
    }
}

pub async fn credentials_are_versioned_and_pruned(stores: Stores) {
    let s = service("t1", "Stripe", 0);
    stores.services.insert(&s, None, &[]).await.unwrap();
    let creds = &stores.credentials;
    assert_eq!(
        creds.version_state(&s.tenant_id, s.id).await.unwrap(),
        VersionState {
            current: None,
            issued: 0
        }
    );
    for version in 1..=3 {
        let record = credential(&s, version, &[version as u8; 40]);
        creds
            .insert(
                &record,
                record.keep_from(1),
                &audit("t1", AuditAction::CredentialsWrite),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        creds.version_state(&s.tenant_id, s.id).await.unwrap(),
        VersionState {
            current: Some(3),
            issued: 3
        }
    );
    let versions = creds.versions(&s.tenant_id, s.id).await.unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|v| (v.version, v.current))
            .collect::<Vec<_>>(),
        [(3, true), (2, false)],
        "the current version and one earlier one are kept"
    );
    assert_eq!(
        creds.find(&s.tenant_id, s.id, None).await.unwrap(),
        Some(credential(&s, 3, &[3; 40]))
    );
    assert_eq!(
        creds.find(&s.tenant_id, s.id, Some(2)).await.unwrap(),
        Some(credential(&s, 2, &[2; 40]))
    );
    assert_eq!(
        creds.find(&s.tenant_id, s.id, Some(1)).await.unwrap(),
        None,
        "pruned"
    );
    // The service shows its current credential.
    let shown = stores
        .services
        .find(&s.tenant_id, s.id)
        .await
        .unwrap()
        .unwrap()
        .credential
        .unwrap();
    assert_eq!(shown.auth_type, AuthType::Bearer);
    assert_eq!(shown.expires_at, credential(&s, 3, &[]).expires_at);
    // A racing writer's version number is taken.
    assert!(matches!(
        creds
            .insert(
                &credential(&s, 3, &[9; 40]),
                2,
                &audit("t1", AuditAction::CredentialsWrite)
            )
            .await,
        Err(RepositoryError::Duplicate)
    ));
    // Listing by expiry.
    let q = ListQuery::parse(
        &RawListParams {
            credential_expires_before: Some("2026-03-01T00:00:00Z"),
            ..Default::default()
        },
        &tenant("t1"),
        &key(),
    )
    .unwrap();
    assert_eq!(repo_names(&stores, &q).await, ["Stripe"]);
    let q = ListQuery::parse(
        &RawListParams {
            credential_expires_before: Some("2026-01-15T00:00:00Z"),
            ..Default::default()
        },
        &tenant("t1"),
        &key(),
    )
    .unwrap();
    assert!(repo_names(&stores, &q).await.is_empty());
}

async fn repo_names(stores: &Stores, q: &ListQuery) -> Vec<String> {
    stores
        .services
        .list(&tenant("t1"), q)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.spec.name.as_str().to_owned())
        .collect()
}

pub async fn credentials_are_tenant_scoped_and_need_a_service(stores: Stores) {
    let s = service("t1", "Stripe", 0);
    stores.services.insert(&s, None, &[]).await.unwrap();
    let creds = &stores.credentials;
    creds
        .insert(
            &credential(&s, 1, b"sealed"),
            1,
            &audit("t1", AuditAction::CredentialsWrite),
        )
        .await
        .unwrap();
    assert!(creds
        .find(&tenant("t2"), s.id, None)
        .await
        .unwrap()
        .is_none());
    assert!(creds
        .versions(&tenant("t2"), s.id)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        creds.version_state(&tenant("t2"), s.id).await,
        Err(RepositoryError::NotFound)
    ));
    assert!(matches!(
        creds
            .delete_all(
                &tenant("t2"),
                s.id,
                &audit("t2", AuditAction::CredentialsDelete)
            )
            .await,
        Err(RepositoryError::NotFound)
    ));
    let mut foreign = credential(&s, 2, b"x");
    foreign.tenant_id = tenant("t2");
    assert!(matches!(
        creds
            .insert(&foreign, 1, &audit("t2", AuditAction::CredentialsWrite))
            .await,
        Err(RepositoryError::NotFound)
    ));
    let ghost = service("t1", "Ghost", 1);
    assert!(matches!(
        creds.version_state(&ghost.tenant_id, ghost.id).await,
        Err(RepositoryError::NotFound)
    ));
    assert!(matches!(
        creds
            .insert(
                &credential(&ghost, 1, b"x"),
                1,
                &audit("t1", AuditAction::CredentialsWrite)
            )
            .await,
        Err(RepositoryError::NotFound)
    ));
}

pub async fn deleting_credentials_or_the_service_destroys_every_version(stores: Stores) {
    let a = service("t1", "Alpha", 0);
    let b = service("t1", "Beta", 1);
    for s in [&a, &b] {
        stores.services.insert(s, None, &[]).await.unwrap();
        for version in 1..=2 {
            stores
                .credentials
                .insert(
                    &credential(s, version, b"sealed"),
                    1,
                    &audit("t1", AuditAction::CredentialsWrite),
                )
                .await
                .unwrap();
        }
    }
    assert_eq!(
        stores
            .credentials
            .delete_all(
                &a.tenant_id,
                a.id,
                &audit("t1", AuditAction::CredentialsDelete)
            )
            .await
            .unwrap(),
        2
    );
    assert!(stores
        .credentials
        .versions(&a.tenant_id, a.id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        stores
            .services
            .find(&a.tenant_id, a.id)
            .await
            .unwrap()
            .unwrap()
            .credential,
        None
    );
    // Numbers are never reused after a delete.
    assert_eq!(
        stores
            .credentials
            .version_state(&a.tenant_id, a.id)
            .await
            .unwrap(),
        VersionState {
            current: None,
            issued: 2
        }
    );
    assert!(matches!(
        stores
            .credentials
            .insert(
                &credential(&a, 1, b"again"),
                1,
                &audit("t1", AuditAction::CredentialsWrite)
            )
            .await,
        Err(RepositoryError::Duplicate)
    ));
    stores
        .credentials
        .insert(
            &credential(&a, 3, b"next"),
            1,
            &audit("t1", AuditAction::CredentialsWrite),
        )
        .await
        .unwrap();
    stores
        .services
        .delete(
            &b.tenant_id,
            b.id,
            None,
            &audit("t1", AuditAction::ServiceDelete),
        )
        .await
        .unwrap();
    // Of both services, only the version written after the delete is left.
    let left = stores.credentials.batch(None, 100).await.unwrap();
    assert_eq!(
        left.iter()
            .map(|r| (r.service_id, r.version))
            .collect::<Vec<_>>(),
        [(a.id, 3)]
    );
}

pub async fn a_service_created_with_a_credential_is_atomic(stores: Stores) {
    let s = service("t1", "Stripe", 0);
    let first = credential(&s, 1, b"sealed");
    let mut with_summary = s.clone();
    with_summary.credential = Some(exsvc_domain::service::CredentialSummary {
        auth_type: AuthType::Bearer,
        expires_at: first.expires_at,
    });
    stores
        .services
        .insert(
            &with_summary,
            Some(&first),
            &[audit("t1", AuditAction::ServiceCreate)],
        )
        .await
        .unwrap();
    assert_eq!(
        stores
            .credentials
            .find(&s.tenant_id, s.id, None)
            .await
            .unwrap(),
        Some(first)
    );
    assert_eq!(
        stores.services.find(&s.tenant_id, s.id).await.unwrap(),
        Some(with_summary)
    );
    assert_eq!(
        stores
            .credentials
            .version_state(&s.tenant_id, s.id)
            .await
            .unwrap(),
        VersionState {
            current: Some(1),
            issued: 1
        }
    );
    // A clash leaves neither the service nor its credential behind.
    let clash = service("t1", "STRIPE", 1);
    let clash_credential = credential(&clash, 1, b"sealed");
    assert!(matches!(
        stores
            .services
            .insert(&clash, Some(&clash_credential), &[])
            .await,
        Err(RepositoryError::Duplicate)
    ));
    assert_eq!(stores.credentials.batch(None, 100).await.unwrap().len(), 1);
}

pub async fn rotation_batches_and_compare_and_swap(stores: Stores) {
    let mut all = Vec::new();
    for i in 0..3 {
        let s = service("t1", &format!("svc-{i}"), i);
        stores.services.insert(&s, None, &[]).await.unwrap();
        for version in 1..=2 {
            let record = credential(&s, version, b"sealed");
            stores
                .credentials
                .insert(&record, 1, &audit("t1", AuditAction::CredentialsWrite))
                .await
                .unwrap();
            all.push(record);
        }
    }
    all.sort_by_key(|r| (r.service_id, r.version));
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let batch = stores.credentials.batch(after, 4).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = Some((last.service_id, last.version));
        seen.extend(batch);
    }
    assert_eq!(seen, all);
    let record = &all[0];
    assert!(stores
        .credentials
        .replace_ciphertext(record, b"rewrapped")
        .await
        .unwrap());
    assert!(
        !stores
            .credentials
            .replace_ciphertext(record, b"again")
            .await
            .unwrap(),
        "the old ciphertext is gone"
    );
    let stored = stores
        .credentials
        .find(&record.tenant_id, record.service_id, Some(record.version))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.ciphertext, b"rewrapped");
}

pub async fn audit_events_are_recorded_with_changes_and_listed(stores: Stores) {
    let s = service("t1", "Stripe", 0);
    let mut created = audit("t1", AuditAction::ServiceCreate);
    created.service_id = Some(s.id);
    stores
        .services
        .insert(&s, None, std::slice::from_ref(&created))
        .await
        .unwrap();
    // A change that fails stores no event.
    let clash = service("t1", "stripe", 1);
    let mut failed = audit("t1", AuditAction::ServiceCreate);
    failed.service_id = Some(clash.id);
    assert!(stores
        .services
        .insert(&clash, None, std::slice::from_ref(&failed))
        .await
        .is_err());
    let mut reads = Vec::new();
    for i in 0..5 {
        let mut read = audit("t1", AuditAction::CredentialsRead);
        read.service_id = Some(s.id);
        read.credential_version = Some(1);
        read.occurred_at = created.occurred_at + Duration::seconds(i + 1);
        read.actor = if i % 2 == 0 {
            "alice".into()
        } else {
            "bob".into()
        };
        read.outcome = if i == 4 {
            AuditOutcome::Denied
        } else {
            AuditOutcome::Success
        };
        stores.audit.record(&read).await.unwrap();
        reads.push(read);
    }
    stores
        .audit
        .record(&audit("t2", AuditAction::CredentialsRead))
        .await
        .unwrap();
    let query = |limit: u16| AuditQuery {
        limit,
        after: None,
        service_id: None,
        action: None,
        actor: None,
        since: None,
        until: None,
    };
    let all = stores.audit.list(&tenant("t1"), &query(100)).await.unwrap();
    assert_eq!(
        all.len(),
        6,
        "the failed create left no event; t2's is not listed"
    );
    assert_eq!(all[0], reads[4], "newest first");
    assert_eq!(all[5], created);
    // Keyset pages.
    let first = stores.audit.list(&tenant("t1"), &query(2)).await.unwrap();
    assert_eq!(first.len(), 3, "limit + 1");
    let next = AuditQuery {
        after: Some(exsvc_domain::pagination::Cursor {
            at: first[1].occurred_at,
            id: first[1].id,
        }),
        ..query(2)
    };
    assert_eq!(
        stores.audit.list(&tenant("t1"), &next).await.unwrap()[0],
        all[2]
    );
    // Filters.
    let by_action = AuditQuery {
        action: Some(AuditAction::ServiceCreate),
        ..query(100)
    };
    assert_eq!(
        stores.audit.list(&tenant("t1"), &by_action).await.unwrap(),
        [created.clone()]
    );
    let by_actor = AuditQuery {
        actor: Some("bob".into()),
        ..query(100)
    };
    assert_eq!(
        stores
            .audit
            .list(&tenant("t1"), &by_actor)
            .await
            .unwrap()
            .len(),
        2
    );
    let by_service = AuditQuery {
        service_id: Some(s.id),
        ..query(100)
    };
    assert_eq!(
        stores
            .audit
            .list(&tenant("t1"), &by_service)
            .await
            .unwrap()
            .len(),
        6
    );
    let window = AuditQuery {
        since: Some(reads[1].occurred_at),
        until: Some(reads[3].occurred_at),
        ..query(100)
    };
    assert_eq!(
        stores.audit.list(&tenant("t1"), &window).await.unwrap(),
        [reads[2].clone(), reads[1].clone()]
    );
}

fn idempotency_record(tenant_name: &str, key: &str, now: DateTime<Utc>) -> IdempotencyRecord {
    IdempotencyRecord {
        tenant: tenant(tenant_name),
        key: IdempotencyKey::parse(key).expect("key"),
        claim: Uuid::now_v7(),
        fingerprint: vec![7; 32],
        fingerprint_key: "k1".into(),
        response: None,
        locked_until: now + Duration::seconds(60),
        expires_at: now + Duration::hours(24),
    }
}

fn created_response() -> StoredResponse {
    StoredResponse {
        status: 201,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("etag".into(), "\"1\"".into()),
        ],
        body: br#"{"id":"x"}"#.to_vec(),
    }
}

pub async fn idempotency_keys_are_claimed_once_per_tenant(stores: Stores) {
    let now = Utc::now().trunc_subsecs(6);
    let first = idempotency_record("t1", "k-1", now);
    assert!(stores.idempotency.insert(&first).await.unwrap());
    assert_eq!(
        stores
            .idempotency
            .find(&first.tenant, &first.key)
            .await
            .unwrap(),
        Some(first.clone())
    );
    // The same key again, in the same tenant: refused, the first kept.
    let again = idempotency_record("t1", "k-1", now);
    assert!(!stores.idempotency.insert(&again).await.unwrap());
    let found = stores
        .idempotency
        .find(&first.tenant, &first.key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.claim, first.claim);
    // Keys are per tenant, and case-sensitive.
    assert!(stores
        .idempotency
        .insert(&idempotency_record("t2", "k-1", now))
        .await
        .unwrap());
    assert!(stores
        .idempotency
        .insert(&idempotency_record("t1", "K-1", now))
        .await
        .unwrap());
    assert_eq!(
        stores
            .idempotency
            .find(&tenant("t3"), &first.key)
            .await
            .unwrap(),
        None
    );
    // Racing claims of one key: exactly one wins.
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let store = stores.idempotency.clone();
            let record = idempotency_record("t1", "raced", now);
            tokio::spawn(async move { store.insert(&record).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap());
    }
    assert_eq!(winners, 1);
}

pub async fn idempotency_claims_guard_complete_release_and_takeover(stores: Stores) {
    let now = Utc::now().trunc_subsecs(6);
    let record = idempotency_record("t1", "k", now);
    assert!(stores.idempotency.insert(&record).await.unwrap());
    let (t, k) = (record.tenant.clone(), record.key.clone());
    let later = now + Duration::hours(24) + Duration::seconds(5);

    // Only the holder completes; the response and new expiry are kept.
    assert!(!stores
        .idempotency
        .complete(&t, &k, Uuid::now_v7(), &created_response(), later)
        .await
        .unwrap());
    assert!(stores
        .idempotency
        .complete(&t, &k, record.claim, &created_response(), later)
        .await
        .unwrap());
    let done = stores.idempotency.find(&t, &k).await.unwrap().unwrap();
    assert_eq!(done.response, Some(created_response()));
    assert_eq!(done.expires_at, later);
    // A completed key is not released.
    stores
        .idempotency
        .release(&t, &k, record.claim)
        .await
        .unwrap();
    assert!(stores.idempotency.find(&t, &k).await.unwrap().is_some());

    // A completed key that has not expired is never taken over, even by
    // someone naming its claim (they saw it free a moment ago).
    let successor = idempotency_record("t1", "k", now);
    assert!(!stores
        .idempotency
        .take_over(record.claim, now, &successor)
        .await
        .unwrap());
    assert_eq!(
        stores
            .idempotency
            .find(&t, &k)
            .await
            .unwrap()
            .unwrap()
            .response,
        Some(created_response())
    );
    // Once it has expired it is, by its current claim only; the response goes.
    assert!(!stores
        .idempotency
        .take_over(Uuid::now_v7(), later, &successor)
        .await
        .unwrap());
    assert!(stores
        .idempotency
        .take_over(record.claim, later, &successor)
        .await
        .unwrap());
    assert_eq!(
        stores.idempotency.find(&t, &k).await.unwrap(),
        Some(successor.clone())
    );
    // A running claim is taken over only after its lease.
    let third = idempotency_record("t1", "k", now);
    assert!(!stores
        .idempotency
        .take_over(successor.claim, now, &third)
        .await
        .unwrap());
    assert!(!stores
        .idempotency
        .take_over(
            successor.claim,
            successor.locked_until - Duration::seconds(1),
            &third
        )
        .await
        .unwrap());
    // A release by another claim does nothing; by the holder forgets the key.
    stores
        .idempotency
        .release(&t, &k, record.claim)
        .await
        .unwrap();
    assert!(stores.idempotency.find(&t, &k).await.unwrap().is_some());
    stores
        .idempotency
        .release(&t, &k, successor.claim)
        .await
        .unwrap();
    assert_eq!(stores.idempotency.find(&t, &k).await.unwrap(), None);

    // A running claim whose lease has ended is free.
    let abandoned = idempotency_record("t1", "k", now);
    assert!(stores.idempotency.insert(&abandoned).await.unwrap());
    let heir = idempotency_record("t1", "k", now);
    assert!(stores
        .idempotency
        .take_over(abandoned.claim, abandoned.locked_until, &heir)
        .await
        .unwrap());
    assert_eq!(
        stores
            .idempotency
            .find(&t, &k)
            .await
            .unwrap()
            .unwrap()
            .claim,
        heir.claim
    );
}

pub async fn idempotency_keys_expire(stores: Stores) {
    let now = Utc::now().trunc_subsecs(6);
    let mut old = idempotency_record("t1", "old", now - Duration::hours(25));
    old.response = Some(created_response());
    let fresh = idempotency_record("t1", "fresh", now);
    assert!(stores.idempotency.insert(&old).await.unwrap());
    assert!(stores.idempotency.insert(&fresh).await.unwrap());
    assert_eq!(stores.idempotency.purge_expired(now).await.unwrap(), 1);
    assert_eq!(
        stores
            .idempotency
            .find(&old.tenant, &old.key)
            .await
            .unwrap(),
        None
    );
    assert!(stores
        .idempotency
        .find(&fresh.tenant, &fresh.key)
        .await
        .unwrap()
        .is_some());
}

/// Expands to one `#[tokio::test]` per contract case for the store `factory`.
#[macro_export]
macro_rules! service_repository_contract {
    ($factory:expr) => {
        $crate::service_repository_contract!(@cases $factory;
            insert_then_find_round_trips,
            accepted_metadata_reads_back_equal,
            find_is_scoped_to_the_tenant,
            names_are_unique_per_tenant_ignoring_case,
            racing_inserts_of_one_name_have_one_winner,
            concurrent_writers_all_succeed,
            list_is_newest_first_and_pages_by_keyset,
            list_filters,
            update_applies_only_under_the_expected_version,
            update_onto_a_taken_name_is_duplicate,
            delete_honours_the_expected_version,
            ping_answers,
            credentials_are_versioned_and_pruned,
            credentials_are_tenant_scoped_and_need_a_service,
            deleting_credentials_or_the_service_destroys_every_version,
            a_service_created_with_a_credential_is_atomic,
            rotation_batches_and_compare_and_swap,
            audit_events_are_recorded_with_changes_and_listed,
            idempotency_keys_are_claimed_once_per_tenant,
            idempotency_claims_guard_complete_release_and_takeover,
            idempotency_keys_expire,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (stores, _guard) = $factory.await;
                $crate::contract::$case(stores).await;
            }
        )*
    };
}
