//! The audit port: events are stored with the change they record (a failed
//! change stores none), listed newest first by keyset, and filtered.

use super::fixtures::*;
use chrono::Duration;
use exsvc_domain::access::Reach;
use exsvc_domain::audit::{AuditAction, AuditFilter, AuditOutcome, AuditQuery};

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
}
