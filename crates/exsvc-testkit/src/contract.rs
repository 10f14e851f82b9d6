//! The contract of the repository ports, as one suite every store runs:
//! `service_repository_contract!(factory)` expands to one test per case, where
//! `factory` is an async expression giving `(Arc<dyn ServiceRepository>, guard)`
//! (the guard keeps the store's database alive for the test).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use exsvc_domain::pagination::{CursorKey, ListQuery, RawListParams};
use exsvc_domain::ports::{RepositoryError, ServiceRepository};
use exsvc_domain::service::UrlPolicy;
use exsvc_domain::{Service, ServiceId, ServiceSpec, TenantId};
use serde_json::json;

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("tenant")
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
        &key(),
    )
    .expect("query")
}

pub async fn insert_then_find_round_trips(repo: Arc<dyn ServiceRepository>) {
    let s = service("t1", "Stripe", 0);
    repo.insert(&s).await.unwrap();
    let found = repo.find(&s.tenant_id, s.id).await.unwrap().expect("found");
    assert_eq!(found, s);
    let missing = ServiceId::from_uuid(uuid::Uuid::now_v7());
    assert!(repo.find(&s.tenant_id, missing).await.unwrap().is_none());
}

pub async fn find_is_scoped_to_the_tenant(repo: Arc<dyn ServiceRepository>) {
    let s = service("t1", "Stripe", 0);
    repo.insert(&s).await.unwrap();
    assert!(repo.find(&tenant("t2"), s.id).await.unwrap().is_none());
    assert!(matches!(
        repo.delete(&tenant("t2"), s.id, None).await,
        Err(RepositoryError::NotFound)
    ));
    let mut moved = s.clone();
    moved.tenant_id = tenant("t2");
    moved.version = 2;
    assert!(matches!(
        repo.update(&moved, 1).await,
        Err(RepositoryError::NotFound)
    ));
    assert_eq!(repo.find(&s.tenant_id, s.id).await.unwrap(), Some(s));
}

pub async fn names_are_unique_per_tenant_ignoring_case(repo: Arc<dyn ServiceRepository>) {
    repo.insert(&service("t1", "Stripe", 0)).await.unwrap();
    for clash in ["Stripe", "STRIPE", "stripe"] {
        assert!(
            matches!(
                repo.insert(&service("t1", clash, 1)).await,
                Err(RepositoryError::Duplicate)
            ),
            "{clash}"
        );
    }
    repo.insert(&service("t2", "stripe", 2)).await.unwrap();
    // Beyond ASCII too, in every store.
    repo.insert(&service("t1", "Ärzte Über", 3)).await.unwrap();
    assert!(matches!(
        repo.insert(&service("t1", "ärzte über", 4)).await,
        Err(RepositoryError::Duplicate)
    ));
}

pub async fn racing_inserts_of_one_name_have_one_winner(repo: Arc<dyn ServiceRepository>) {
    let attempts: Vec<_> = (0..16)
        .map(|i| {
            let repo = repo.clone();
            {
                // Every other attempt differs only in case.
                let name = if i % 2 == 0 { "Race" } else { "RACE" };
                tokio::spawn(async move { repo.insert(&service("t1", name, i)).await })
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
pub async fn concurrent_writers_all_succeed(repo: Arc<dyn ServiceRepository>) {
    let writers: Vec<_> = (0..32)
        .map(|i| {
            let repo = repo.clone();
            tokio::spawn(async move {
                let mut s = service("t1", &format!("writer-{i}"), i);
                repo.insert(&s).await?;
                s.version = 2;
                s.spec.description =
                    exsvc_domain::service::Description::parse("updated").expect("description");
                repo.update(&s, 1).await
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

pub async fn list_is_newest_first_and_pages_by_keyset(repo: Arc<dyn ServiceRepository>) {
    // Two services share a created_at, so the id decides their order.
    let mut all = Vec::new();
    for i in 0..7 {
        let s = service("t1", &format!("svc-{i}"), i64::from(i / 2));
        repo.insert(&s).await.unwrap();
        all.push(s);
    }
    repo.insert(&service("t2", "other-tenant", 100))
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
            created_at: last.created_at,
            id: last.id,
        });
    }
    let expected: Vec<_> = all.iter().map(|s| s.id).collect();
    assert_eq!(seen, expected);
}

pub async fn list_filters(repo: Arc<dyn ServiceRepository>) {
    let mut mail = service("t1", "Mail_Gun 100%", 0);
    mail.spec.service_type = exsvc_domain::service::ServiceType::parse("mail").unwrap();
    let mut off = service("t1", "Stripe", 1);
    off.spec.status = exsvc_domain::service::ServiceStatus::Inactive;
    repo.insert(&mail).await.unwrap();
    repo.insert(&off).await.unwrap();
    let list = |raw: RawListParams<'static>| {
        let repo = repo.clone();
        async move {
            let q = ListQuery::parse(&raw, &key()).unwrap();
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
    repo.insert(&service("t1", "Ärzte Über", 2)).await.unwrap();
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

pub async fn update_applies_only_under_the_expected_version(repo: Arc<dyn ServiceRepository>) {
    let s = service("t1", "Stripe", 0);
    repo.insert(&s).await.unwrap();
    let mut changed = s.clone();
    changed.spec.description = exsvc_domain::service::Description::parse("new").unwrap();
    changed.spec.api_version = None;
    changed.version = 2;
    changed.updated_at = s.updated_at + Duration::seconds(5);
    repo.update(&changed, 1).await.unwrap();
    assert_eq!(
        repo.find(&s.tenant_id, s.id).await.unwrap(),
        Some(changed.clone())
    );

    let mut stale = changed.clone();
    stale.version = 2;
    assert!(matches!(
        repo.update(&stale, 1).await,
        Err(RepositoryError::VersionConflict)
    ));
    assert_eq!(repo.find(&s.tenant_id, s.id).await.unwrap(), Some(changed));
}

pub async fn update_onto_a_taken_name_is_duplicate(repo: Arc<dyn ServiceRepository>) {
    let a = service("t1", "Alpha", 0);
    let b = service("t1", "Beta", 1);
    repo.insert(&a).await.unwrap();
    repo.insert(&b).await.unwrap();
    let mut renamed = b.clone();
    renamed.spec.name = exsvc_domain::service::ServiceName::parse("ALPHA").unwrap();
    renamed.version = 2;
    assert!(matches!(
        repo.update(&renamed, 1).await,
        Err(RepositoryError::Duplicate)
    ));
    assert_eq!(repo.find(&b.tenant_id, b.id).await.unwrap(), Some(b));
}

pub async fn delete_honours_the_expected_version(repo: Arc<dyn ServiceRepository>) {
    let s = service("t1", "Stripe", 0);
    repo.insert(&s).await.unwrap();
    assert!(matches!(
        repo.delete(&s.tenant_id, s.id, Some(7)).await,
        Err(RepositoryError::VersionConflict)
    ));
    assert!(repo.find(&s.tenant_id, s.id).await.unwrap().is_some());
    repo.delete(&s.tenant_id, s.id, Some(1)).await.unwrap();
    assert!(repo.find(&s.tenant_id, s.id).await.unwrap().is_none());
    assert!(matches!(
        repo.delete(&s.tenant_id, s.id, None).await,
        Err(RepositoryError::NotFound)
    ));
    // The name is free again.
    repo.insert(&service("t1", "stripe", 1)).await.unwrap();
}

pub async fn ping_answers(repo: Arc<dyn ServiceRepository>) {
    repo.ping().await.unwrap();
}

/// Expands to one `#[tokio::test]` per contract case for the store `factory`.
#[macro_export]
macro_rules! service_repository_contract {
    ($factory:expr) => {
        $crate::service_repository_contract!(@cases $factory;
            insert_then_find_round_trips,
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
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (repo, _guard) = $factory.await;
                $crate::contract::$case(repo).await;
            }
        )*
    };
}
