//! The services port: a service reads back as written, names are unique per
//! tenant ignoring case, listings page by keyset and filter, updates and
//! deletes apply only under the expected version.

use super::fixtures::*;
use chrono::Duration;
use exsvc_domain::audit::AuditAction;
use exsvc_domain::pagination::{ListQuery, RawListParams};
use exsvc_domain::ports::RepositoryError;
use exsvc_domain::service::UrlPolicy;
use exsvc_domain::{ServiceId, ServiceSpec};
use serde_json::json;

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

contract_cases! {
    services => __exsvc_contract_services;

    async fn insert_then_find_round_trips(stores) {
        let repo = stores.services.clone();
        let s = service("t1", "Stripe", 0);
        repo.insert(&s, None, &[]).await.unwrap();
        let found = repo.find(&s.tenant_id, s.id).await.unwrap().expect("found");
        assert_eq!(found, s);
        let missing = ServiceId::from_uuid(uuid::Uuid::now_v7());
        assert!(repo.find(&s.tenant_id, missing).await.unwrap().is_none());
    }

    /// Metadata the domain accepts, generated: every value reads back equal, by id
    /// and in the tenant's listing (docs/api.md §9: nothing stored breaks a read).
    async fn accepted_metadata_reads_back_equal(stores) {
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

    async fn find_is_scoped_to_the_tenant(stores) {
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

    async fn names_are_unique_per_tenant_ignoring_case(stores) {
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

    async fn racing_inserts_of_one_name_have_one_winner(stores) {
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
    async fn concurrent_writers_all_succeed(stores) {
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

    async fn list_is_newest_first_and_pages_by_keyset(stores) {
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

    async fn list_filters(stores) {
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

    async fn update_applies_only_under_the_expected_version(stores) {
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

    async fn update_onto_a_taken_name_is_duplicate(stores) {
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

    async fn delete_honours_the_expected_version(stores) {
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

    async fn ping_answers(stores) {
        let repo = stores.services.clone();
        repo.ping().await.unwrap();
    }
}
