//! The audit port: events are stored with the change they record (a failed
//! change stores none), listed newest first by keyset, and filtered.

use super::fixtures::*;
use chrono::Duration;
use exsvc_domain::access::Reach;
use exsvc_domain::audit::{AuditAction, AuditEvent, AuditFilter, AuditOutcome, AuditQuery};
use exsvc_domain::ports::UseOutcome;
use serde_json::json;

/// Every event of `tenant_name`, newest first.
async fn all_events(stores: &super::Stores, tenant_name: &str) -> Vec<AuditEvent> {
    let query = AuditQuery {
        limit: 1000,
        after: None,
        filter: AuditFilter::default(),
        reach: Reach::Tenant,
    };
    stores
        .audit
        .list(&tenant(tenant_name), &query)
        .await
        .expect("list")
}

fn outcome_of(event: &AuditEvent, status: u16) -> UseOutcome {
    UseOutcome {
        tenant: event.tenant_id.clone(),
        event_id: event.id,
        details: json!({
            "kind": "proxy", "method": "GET", "path": "/v1/charges",
            "upstream_status": status, "latency_ms": 12
        }),
    }
}

contract_cases! {
    audit => __exsvc_contract_audit;

    async fn audit_events_are_recorded_with_changes_and_listed(stores) {
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
            filter: AuditFilter::default(),
            reach: Reach::Tenant,
        };
        let filtered = |filter: AuditFilter| AuditQuery {
            filter,
            ..query(100)
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
        let by_action = filtered(AuditFilter {
            action: Some(AuditAction::ServiceCreate),
            ..AuditFilter::default()
        });
        assert_eq!(
            stores.audit.list(&tenant("t1"), &by_action).await.unwrap(),
            [created.clone()]
        );
        let by_actor = filtered(AuditFilter {
            actor: Some("bob".into()),
            ..AuditFilter::default()
        });
        assert_eq!(
            stores
                .audit
                .list(&tenant("t1"), &by_actor)
                .await
                .unwrap()
                .len(),
            2
        );
        let by_service = filtered(AuditFilter {
            service_id: Some(s.id),
            ..AuditFilter::default()
        });
        assert_eq!(
            stores
                .audit
                .list(&tenant("t1"), &by_service)
                .await
                .unwrap()
                .len(),
            6
        );
        let window = filtered(AuditFilter {
            since: Some(reads[1].occurred_at),
            until: Some(reads[3].occurred_at),
            ..AuditFilter::default()
        });
        assert_eq!(
            stores.audit.list(&tenant("t1"), &window).await.unwrap(),
            [reads[2].clone(), reads[1].clone()]
        );
    }

    async fn use_outcomes_set_the_details_of_the_tenants_events_only(stores) {
        let mut used = audit("t1", AuditAction::CredentialsUse);
        used.details = Some(json!({
            "kind": "proxy", "method": "GET", "path": "/v1/charges",
            "upstream_status": null, "latency_ms": null
        }));
        stores.audit.record(&used).await.unwrap();
        let other = audit("t2", AuditAction::CredentialsUse);
        stores.audit.record(&other).await.unwrap();
        let untouched = audit("t1", AuditAction::CredentialsUse);
        stores.audit.record(&untouched).await.unwrap();

        let mine = outcome_of(&used, 200);
        // t2 naming t1's event, t1 naming t2's event, and an id nobody has:
        // all skipped without an error.
        let foreign = UseOutcome {
            tenant: tenant("t2"),
            ..outcome_of(&used, 500)
        };
        let across = UseOutcome {
            tenant: tenant("t1"),
            ..outcome_of(&other, 500)
        };
        let missing = UseOutcome {
            event_id: uuid::Uuid::now_v7(),
            ..outcome_of(&used, 500)
        };
        stores
            .audit
            .record_outcomes(&[foreign, mine.clone(), across, missing])
            .await
            .unwrap();
        stores.audit.record_outcomes(&[]).await.unwrap();

        let t1 = all_events(&stores, "t1").await;
        let expected = AuditEvent {
            details: Some(mine.details.clone()),
            ..used.clone()
        };
        assert_eq!(t1.len(), 2);
        assert!(t1.contains(&expected), "the outcome is read back as written");
        assert!(t1.contains(&untouched), "an event not named keeps its details");
        assert_eq!(
            all_events(&stores, "t2").await,
            [other],
            "another tenant's event is untouched"
        );

        // An event named twice in one batch takes the later outcome.
        stores
            .audit
            .record_outcomes(&[outcome_of(&used, 502), outcome_of(&used, 504)])
            .await
            .unwrap();
        let again = all_events(&stores, "t1").await;
        let event = again.iter().find(|e| e.id == used.id).unwrap();
        assert_eq!(event.details, Some(outcome_of(&used, 504).details));
    }

    async fn a_batch_of_use_outcomes_is_written_at_once(stores) {
        let mut events = Vec::new();
        for _ in 0..300 {
            let event = audit("t1", AuditAction::CredentialsUse);
            stores.audit.record(&event).await.unwrap();
            events.push(event);
        }
        let outcomes: Vec<UseOutcome> = events
            .iter()
            .enumerate()
            .map(|(i, e)| outcome_of(e, 200 + u16::try_from(i).unwrap()))
            .collect();
        stores.audit.record_outcomes(&outcomes).await.unwrap();
        let stored = all_events(&stores, "t1").await;
        assert_eq!(stored.len(), 300);
        for (event, outcome) in events.iter().zip(&outcomes) {
            let read = stored.iter().find(|e| e.id == event.id).unwrap();
            assert_eq!(read.details.as_ref(), Some(&outcome.details));
        }
    }
}
