//! The access port: roles and bindings are tenant-scoped, unique and
//! versioned; the store itself keeps a binding from naming a missing role
//! (also against racing writers); every change stores its audit event and
//! advances the access clock in its transaction. And the services and audit
//! listings narrowed to a reach return exactly what `ServiceSelector::matches`
//! says, page after page.

use super::fixtures::*;
use chrono::{DateTime, Duration, Utc};
use exsvc_domain::access::{
    BindingFilter, Reach, Role, RoleBinding, RoleFilter, RoleName, RoleSpec, SelectorValue,
    ServiceSelector, Subject, SubjectType,
};
use exsvc_domain::audit::{AuditAction, AuditEvent, AuditFilter, AuditOutcome, AuditQuery};
use exsvc_domain::pagination::{Cursor, ListQuery};
use exsvc_domain::ports::{AccessQuery, RepositoryError};
use exsvc_domain::service::{ServiceType, UrlPolicy};
use exsvc_domain::{Service, ServiceId, ServiceSpec};
use serde_json::{json, Value};

fn role(tenant_name: &str, name: &str, offset_secs: i64) -> Role {
    let doc = json!({
        "description": "reads payments",
        "permissions": ["external-service:read", "external-service:credentials"],
        "services": {"types": ["payment"], "metadata": {"env": "prod", "tier": 1, "pci": true}},
    });
    let spec = RoleSpec::parse_replacement(doc.as_object().expect("object")).expect("role spec");
    let at = base_time() + Duration::seconds(offset_secs);
    Role {
        id: uuid::Uuid::now_v7(),
        tenant_id: tenant(tenant_name),
        name: RoleName::parse(name).expect("role name"),
        spec,
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

fn binding(role: &Role, kind: SubjectType, value: &str, offset_secs: i64) -> RoleBinding {
    RoleBinding {
        id: uuid::Uuid::now_v7(),
        tenant_id: role.tenant_id.clone(),
        role: role.name.clone(),
        subject: Subject::new(kind, value).expect("subject"),
        expires_at: None,
        created_at: base_time() + Duration::seconds(offset_secs),
        created_by: "contract".into(),
    }
}

/// The audit event of an access change, with the details the use cases write.
fn change(tenant_name: &str, action: AuditAction, details: Value) -> AuditEvent {
    let mut event = audit(tenant_name, action);
    event.details = Some(details);
    event
}

fn page<F>(limit: u16, after: Option<Cursor>, filter: F) -> AccessQuery<F> {
    AccessQuery {
        limit,
        after,
        filter,
    }
}

fn events(action: AuditAction) -> AuditQuery {
    AuditQuery {
        limit: 100,
        after: None,
        filter: AuditFilter {
            action: Some(action),
            ..AuditFilter::default()
        },
        reach: Reach::Tenant,
    }
}

fn name(raw: &str) -> RoleName {
    RoleName::parse(raw).expect("role name")
}

/// A service of `t1` with this type and metadata, created `offset_secs` in.
fn service_with(name: &str, service_type: &str, metadata: Value, offset_secs: i64) -> Service {
    let doc = json!({"name": name, "type": service_type, "base_url": "https://api.example.com",
                     "metadata": metadata});
    let mut s = service("t1", name, offset_secs);
    s.spec = ServiceSpec::from_document(doc.as_object().expect("object"), UrlPolicy::default())
        .expect("spec");
    s
}

fn meta(key: &str, value: SelectorValue) -> ServiceSelector {
    ServiceSelector {
        metadata: vec![(key.to_owned(), value)],
        ..ServiceSelector::default()
    }
}

fn text(value: &str) -> SelectorValue {
    SelectorValue::String(value.to_owned())
}

/// Services whose metadata hold every kind of value a selector could confuse:
/// an integer and the same number as a float, a string of digits, booleans
/// and their spellings, nested objects, missing keys, keys with quotes, dots,
/// JSON-path syntax and non-ASCII letters. Each is created a second after the
/// one before it, so the listing's order is the reverse of this one.
fn varied_services() -> Vec<Service> {
    let metadata = [
        json!({"env": "prod", "tier": 1, "pci": true}),
        json!({"env": "staging", "tier": 1.0, "pci": false}),
        json!({"env": "prod", "tier": 2, "nested": {"env": "prod"}}),
        json!({"tier": "1", "pci": "true", "env": "PROD"}),
        json!({}),
        json!({"a.b": "x", "it's": "q\"uote", "ключ": "значение", "$.env": "prod", "[0]": 0}),
        json!({"env": ["prod"], "tier": -1, "big": 9_007_199_254_740_993_i64}),
        json!({"env": null, "pci": 1, "zero": 0.0}),
        json!({"env": "prod ", "tier": 100.0, "zero": 0}),
        json!({"env": "prod", "tier": 100, "min": i64::MIN, "max": u64::MAX}),
        json!({"env": {"prod": true}, "pci": [true], "nested": "prod"}),
        json!({"env": "prod", "a": {"b": "x"}, "pci": true}),
    ];
    let types = ["payment", "crm", "storage"];
    metadata
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let offset = i64::try_from(i).expect("small");
            service_with(&format!("svc-{i}"), types[i % types.len()], m, offset)
        })
        .collect()
}

fn selectors(services: &[Service]) -> Vec<ServiceSelector> {
    let kind = |raw: &str| ServiceType::parse(raw).expect("type");
    vec![
        ServiceSelector::default(),
        meta("env", text("prod")),
        meta("env", text("PROD")),
        meta("env", text("prod ")),
        meta("tier", SelectorValue::Integer(1)),
        meta("tier", SelectorValue::Integer(100)),
        meta("tier", SelectorValue::Integer(-1)),
        meta("tier", text("1")),
        meta("zero", SelectorValue::Integer(0)),
        meta("pci", SelectorValue::Bool(true)),
        meta("pci", SelectorValue::Bool(false)),
        meta("pci", SelectorValue::Integer(1)),
        meta("pci", text("true")),
        meta("nested", text("prod")),
        meta("a.b", text("x")),
        meta("it's", text("q\"uote")),
        meta("ключ", text("значение")),
        meta("$.env", text("prod")),
        meta("[0]", SelectorValue::Integer(0)),
        meta("big", SelectorValue::Integer(9_007_199_254_740_993)),
        meta("min", SelectorValue::Integer(i64::MIN)),
        meta("max", SelectorValue::Integer(i64::MAX)),
        meta("missing", text("")),
        ServiceSelector {
            metadata: vec![
                ("env".into(), text("prod")),
                ("tier".into(), SelectorValue::Integer(2)),
            ],
            ..ServiceSelector::default()
        },
        ServiceSelector {
            types: vec![kind("crm"), kind("storage")],
            metadata: vec![("env".into(), text("prod"))],
            ..ServiceSelector::default()
        },
        ServiceSelector {
            types: vec![kind("payment")],
            ..ServiceSelector::default()
        },
        ServiceSelector {
            ids: vec![services[0].id, services[3].id, services[11].id],
            ..ServiceSelector::default()
        },
        ServiceSelector {
            ids: vec![services[0].id, services[1].id],
            types: vec![kind("crm")],
            ..ServiceSelector::default()
        },
        ServiceSelector {
            ids: vec![ServiceId::from_uuid(uuid::Uuid::now_v7())],
            ..ServiceSelector::default()
        },
    ]
}

fn listing(limit: u16, after: Option<Cursor>, reach: Reach) -> ListQuery {
    ListQuery {
        limit,
        after,
        reach,
        ..query("100")
    }
}

/// The ids the domain says `reach` covers, in the listing's order.
fn expected(services: &[Service], selectors: &[ServiceSelector]) -> Vec<ServiceId> {
    let mut matching: Vec<&Service> = services
        .iter()
        .filter(|s| selectors.iter().any(|sel| sel.matches(s)))
        .collect();
    matching.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id.as_uuid())));
    matching.into_iter().map(|s| s.id).collect()
}

fn ids(services: &[Service]) -> Vec<ServiceId> {
    services.iter().map(|s| s.id).collect()
}

fn at(offset_secs: i64) -> DateTime<Utc> {
    base_time() + Duration::seconds(offset_secs)
}

contract_cases! {
    access => __exsvc_contract_access;

    async fn a_role_reads_back_as_written_and_its_name_is_unique(stores) {
        let repo = stores.access.clone();
        let r = role("t1", "payments.reader", 0);
        let created = change("t1", AuditAction::RoleCreate, json!({"role": "payments.reader"}));
        repo.insert_role(&r, &created).await.unwrap();
        assert_eq!(repo.find_role(&r.tenant_id, &r.name).await.unwrap(), Some(r.clone()));
        assert_eq!(repo.find_role(&r.tenant_id, &name("other")).await.unwrap(), None);
        let again = role("t1", "payments.reader", 1);
        let refused = change("t1", AuditAction::RoleCreate, json!({"role": "payments.reader"}));
        assert!(matches!(
            repo.insert_role(&again, &refused).await,
            Err(RepositoryError::Duplicate)
        ));
        // Another tenant may use the name.
        let theirs = role("t2", "payments.reader", 0);
        repo.insert_role(&theirs, &change("t2", AuditAction::RoleCreate, json!({})))
            .await
            .unwrap();
        assert_eq!(repo.find_role(&r.tenant_id, &r.name).await.unwrap(), Some(r));
        // The refused insert left no event; the stored one keeps its details.
        let stored = stores
            .audit
            .list(&tenant("t1"), &events(AuditAction::RoleCreate))
            .await
            .unwrap();
        assert_eq!(stored, [created]);
    }

    async fn racing_role_inserts_of_one_name_have_one_winner(stores) {
        let mut tasks = Vec::new();
        for i in 0..8 {
            let repo = stores.access.clone();
            tasks.push(tokio::spawn(async move {
                let r = role("t1", "racer", i);
                repo.insert_role(&r, &change("t1", AuditAction::RoleCreate, json!({})))
                    .await
            }));
        }
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => won += 1,
                Err(RepositoryError::Duplicate) => {}
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(won, 1);
        let stored = stores
            .audit
            .list(&tenant("t1"), &events(AuditAction::RoleCreate))
            .await
            .unwrap();
        assert_eq!(stored.len(), 1, "one event, of the winner");
    }

    async fn a_role_updates_only_under_the_expected_version(stores) {
        let repo = stores.access.clone();
        let r = role("t1", "ops", 0);
        repo.insert_role(&r, &audit("t1", AuditAction::RoleCreate)).await.unwrap();
        let doc = json!({"permissions": ["external-service:*"], "services": {"ids": [], "types": []}});
        let spec = RoleSpec::parse_replacement(doc.as_object().unwrap()).unwrap();
        let mut updated = r.clone();
        updated.spec = spec;
        updated.version = 2;
        updated.updated_at = at(10);
        let update = audit("t1", AuditAction::RoleUpdate);
        repo.update_role(&updated, 1, &update).await.unwrap();
        assert_eq!(repo.find_role(&r.tenant_id, &r.name).await.unwrap(), Some(updated.clone()));
        let mut stale = updated.clone();
        stale.version = 3;
        assert!(matches!(
            repo.update_role(&stale, 1, &audit("t1", AuditAction::RoleUpdate)).await,
            Err(RepositoryError::VersionConflict)
        ));
        let mut missing = stale.clone();
        missing.name = name("nobody");
        assert!(matches!(
            repo.update_role(&missing, 2, &audit("t1", AuditAction::RoleUpdate)).await,
            Err(RepositoryError::NotFound)
        ));
        let mut foreign = stale.clone();
        foreign.tenant_id = tenant("t2");
        assert!(matches!(
            repo.update_role(&foreign, 2, &audit("t2", AuditAction::RoleUpdate)).await,
            Err(RepositoryError::NotFound)
        ));
        assert_eq!(repo.find_role(&r.tenant_id, &r.name).await.unwrap(), Some(updated));
        let stored = stores
            .audit
            .list(&tenant("t1"), &events(AuditAction::RoleUpdate))
            .await
            .unwrap();
        assert_eq!(stored, [update], "refused updates store no event");
    }

    async fn a_role_named_by_a_binding_cannot_be_deleted(stores) {
        let repo = stores.access.clone();
        let t1 = tenant("t1");
        let delete = || audit("t1", AuditAction::RoleDelete);
        assert!(matches!(
            repo.delete_role(&t1, &name("nobody"), None, &delete()).await,
            Err(RepositoryError::NotFound)
        ));
        let r = role("t1", "ops", 0);
        repo.insert_role(&r, &audit("t1", AuditAction::RoleCreate)).await.unwrap();
        assert!(matches!(
            repo.delete_role(&t1, &r.name, Some(7), &delete()).await,
            Err(RepositoryError::VersionConflict)
        ));
        let b = binding(&r, SubjectType::Sub, "alice", 1);
        repo.insert_binding(&b, &audit("t1", AuditAction::RoleBindingCreate)).await.unwrap();
        assert!(matches!(
            repo.delete_role(&t1, &r.name, Some(1), &delete()).await,
            Err(RepositoryError::InUse)
        ));
        assert!(matches!(
            repo.delete_role(&t1, &r.name, None, &delete()).await,
            Err(RepositoryError::InUse)
        ));
        assert!(matches!(
            repo.delete_role(&tenant("t2"), &r.name, None, &audit("t2", AuditAction::RoleDelete)).await,
            Err(RepositoryError::NotFound)
        ));
        assert!(repo.find_role(&t1, &r.name).await.unwrap().is_some());
        assert!(stores.audit.list(&t1, &events(AuditAction::RoleDelete)).await.unwrap().is_empty());
        repo.delete_binding(&t1, b.id, &audit("t1", AuditAction::RoleBindingDelete)).await.unwrap();
        let deleted = delete();
        repo.delete_role(&t1, &r.name, Some(1), &deleted).await.unwrap();
        assert_eq!(repo.find_role(&t1, &r.name).await.unwrap(), None);
        assert_eq!(stores.audit.list(&t1, &events(AuditAction::RoleDelete)).await.unwrap(), [deleted]);
    }

    async fn a_binding_names_an_existing_role_of_its_tenant(stores) {
        let repo = stores.access.clone();
        let r = role("t1", "ops", 0);
        repo.insert_role(&r, &audit("t1", AuditAction::RoleCreate)).await.unwrap();
        let ghost = role("t1", "ghost", 0);
        assert!(matches!(
            repo.insert_binding(
                &binding(&ghost, SubjectType::Sub, "alice", 1),
                &audit("t1", AuditAction::RoleBindingCreate)
            )
            .await,
            Err(RepositoryError::NotFound)
        ));
        // t1's role is not t2's.
        let mut foreign = binding(&r, SubjectType::Sub, "alice", 1);
        foreign.tenant_id = tenant("t2");
        assert!(matches!(
            repo.insert_binding(&foreign, &audit("t2", AuditAction::RoleBindingCreate)).await,
            Err(RepositoryError::NotFound)
        ));
        assert!(stores
            .audit
            .list(&tenant("t1"), &events(AuditAction::RoleBindingCreate))
            .await
            .unwrap()
            .is_empty());
        let mut b = binding(&r, SubjectType::ClientId, "ci-bot", 2);
        b.expires_at = Some(at(3600));
        let created = change(
            "t1",
            AuditAction::RoleBindingCreate,
            json!({"binding_id": b.id.to_string(), "role": "ops",
                   "subject": {"type": "client_id", "value": "ci-bot"}}),
        );
        repo.insert_binding(&b, &created).await.unwrap();
        assert_eq!(repo.find_binding(&tenant("t1"), b.id).await.unwrap(), Some(b.clone()));
        assert_eq!(repo.find_binding(&tenant("t2"), b.id).await.unwrap(), None);
        assert_eq!(
            stores
                .audit
                .list(&tenant("t1"), &events(AuditAction::RoleBindingCreate))
                .await
                .unwrap(),
            [created]
        );
    }

    /// Deleting a role while a binding of it is created: whichever commits
    /// first wins, and the store never keeps a binding of a deleted role.
    async fn racing_role_delete_and_binding_insert_never_orphan_a_binding(stores) {
        let t1 = tenant("t1");
        for round in 0..6 {
            let r = role("t1", &format!("r{round}"), round);
            stores.access.insert_role(&r, &audit("t1", AuditAction::RoleCreate)).await.unwrap();
            let b = binding(&r, SubjectType::Sub, "alice", round);
            let (repo_a, repo_b) = (stores.access.clone(), stores.access.clone());
            let (name_a, tenant_a, binding_b) = (r.name.clone(), t1.clone(), b.clone());
            let delete = tokio::spawn(async move {
                repo_a
                    .delete_role(&tenant_a, &name_a, None, &audit("t1", AuditAction::RoleDelete))
                    .await
            });
            let insert = tokio::spawn(async move {
                repo_b
                    .insert_binding(&binding_b, &audit("t1", AuditAction::RoleBindingCreate))
                    .await
            });
            let (deleted, inserted) = (delete.await.unwrap(), insert.await.unwrap());
            match (&deleted, &inserted) {
                (Ok(()), Err(RepositoryError::NotFound)) => {
                    assert_eq!(stores.access.find_role(&t1, &r.name).await.unwrap(), None);
                    assert_eq!(stores.access.find_binding(&t1, b.id).await.unwrap(), None);
                }
                (Err(RepositoryError::InUse), Ok(())) => {
                    assert!(stores.access.find_role(&t1, &r.name).await.unwrap().is_some());
                    assert!(stores.access.find_binding(&t1, b.id).await.unwrap().is_some());
                }
                other => panic!("round {round}: {other:?}"),
            }
        }
    }

    async fn a_binding_is_deleted_once_and_only_in_its_tenant(stores) {
        let repo = stores.access.clone();
        let r = role("t1", "ops", 0);
        repo.insert_role(&r, &audit("t1", AuditAction::RoleCreate)).await.unwrap();
        let b = binding(&r, SubjectType::Role, "admins", 1);
        repo.insert_binding(&b, &audit("t1", AuditAction::RoleBindingCreate)).await.unwrap();
        assert!(matches!(
            repo.delete_binding(&tenant("t2"), b.id, &audit("t2", AuditAction::RoleBindingDelete)).await,
            Err(RepositoryError::NotFound)
        ));
        let deleted = audit("t1", AuditAction::RoleBindingDelete);
        repo.delete_binding(&tenant("t1"), b.id, &deleted).await.unwrap();
        assert_eq!(repo.find_binding(&tenant("t1"), b.id).await.unwrap(), None);
        assert!(matches!(
            repo.delete_binding(&tenant("t1"), b.id, &audit("t1", AuditAction::RoleBindingDelete)).await,
            Err(RepositoryError::NotFound)
        ));
        assert_eq!(
            stores
                .audit
                .list(&tenant("t1"), &events(AuditAction::RoleBindingDelete))
                .await
                .unwrap(),
            [deleted]
        );
    }

    async fn listings_page_by_keyset_with_filters_within_the_tenant(stores) {
        let repo = stores.access.clone();
        let mut roles = Vec::new();
        for i in 0..5 {
            let r = role("t1", &format!("role-{i}"), i);
            repo.insert_role(&r, &audit("t1", AuditAction::RoleCreate)).await.unwrap();
            roles.push(r);
        }
        // Two roles created in the same instant: the id breaks the tie.
        let twin = role("t1", "twin", 4);
        repo.insert_role(&twin, &audit("t1", AuditAction::RoleCreate)).await.unwrap();
        roles.push(twin);
        repo.insert_role(&role("t2", "theirs", 9), &audit("t2", AuditAction::RoleCreate))
            .await
            .unwrap();
        let mut want = roles.clone();
        want.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
        let mut listed = Vec::new();
        let mut after = None;
        loop {
            let rows = repo.list_roles(&tenant("t1"), &page(2, after, RoleFilter)).await.unwrap();
            assert!(rows.len() <= 3, "limit + 1");
            let more = rows.len() > 2;
            listed.extend(rows.into_iter().take(2));
            if !more {
                break;
            }
            let last = listed.last().unwrap();
            after = Some(Cursor { at: last.created_at, id: last.id });
        }
        assert_eq!(listed, want, "every role once, newest first, t2's not among them");

        // Bindings: alice on role-0 and role-1, bob on role-0, the admins role on role-0.
        let mut bindings = Vec::new();
        for (i, (r, kind, value)) in [
            (0, SubjectType::Sub, "alice"),
            (1, SubjectType::Sub, "alice"),
            (0, SubjectType::Sub, "bob"),
            (0, SubjectType::Role, "alice"),
            (0, SubjectType::Sub, "alice"),
        ]
        .into_iter()
        .enumerate()
        {
            let b = binding(&roles[r], kind, value, 10 + i64::try_from(i).unwrap());
            repo.insert_binding(&b, &audit("t1", AuditAction::RoleBindingCreate)).await.unwrap();
            bindings.push(b);
        }
        let theirs = role("t2", "ops", 0);
        repo.insert_role(&theirs, &audit("t2", AuditAction::RoleCreate)).await.unwrap();
        let their_binding = binding(&theirs, SubjectType::Sub, "alice", 0);
        repo.insert_binding(&their_binding, &audit("t2", AuditAction::RoleBindingCreate))
            .await
            .unwrap();
        let filters = [
            BindingFilter::default(),
            BindingFilter { role: Some(roles[0].name.clone()), ..BindingFilter::default() },
            BindingFilter { subject_type: Some(SubjectType::Sub), ..BindingFilter::default() },
            BindingFilter { subject_value: Some("alice".into()), ..BindingFilter::default() },
            BindingFilter {
                role: Some(roles[0].name.clone()),
                subject_type: Some(SubjectType::Sub),
                subject_value: Some("alice".into()),
            },
            BindingFilter { role: Some(name("role-4")), ..BindingFilter::default() },
        ];
        for filter in filters {
            let mut want: Vec<RoleBinding> = bindings
                .iter()
                .filter(|b| filter.role.as_ref().is_none_or(|r| &b.role == r))
                .filter(|b| filter.subject_type.is_none_or(|k| b.subject.kind == k))
                .filter(|b| filter.subject_value.as_ref().is_none_or(|v| &b.subject.value == v))
                .cloned()
                .collect();
            want.reverse();
            let mut listed = Vec::new();
            let mut after = None;
            loop {
                let rows = repo
                    .list_bindings(&tenant("t1"), &page(1, after, filter.clone()))
                    .await
                    .unwrap();
                let more = rows.len() > 1;
                listed.extend(rows.into_iter().take(1));
                if !more {
                    break;
                }
                let last = listed.last().unwrap();
                after = Some(Cursor { at: last.created_at, id: last.id });
            }
            assert_eq!(listed, want, "{filter:?}");
        }
    }

    async fn another_tenants_roles_and_bindings_are_invisible(stores) {
        let repo = stores.access.clone();
        let r = role("t1", "ops", 0);
        repo.insert_role(&r, &audit("t1", AuditAction::RoleCreate)).await.unwrap();
        let b = binding(&r, SubjectType::Sub, "alice", 1);
        repo.insert_binding(&b, &audit("t1", AuditAction::RoleBindingCreate)).await.unwrap();
        let t2 = tenant("t2");
        assert_eq!(repo.find_role(&t2, &r.name).await.unwrap(), None);
        assert_eq!(repo.find_binding(&t2, b.id).await.unwrap(), None);
        assert!(repo.list_roles(&t2, &page(10, None, RoleFilter)).await.unwrap().is_empty());
        assert!(repo
            .list_bindings(&t2, &page(10, None, BindingFilter::default()))
            .await
            .unwrap()
            .is_empty());
        assert!(repo.tenant_bindings(&t2).await.unwrap().is_empty());
    }

    async fn tenant_bindings_are_every_binding_with_its_role(stores) {
        let repo = stores.access.clone();
        let ops = role("t1", "ops", 0);
        let readers = role("t1", "readers", 1);
        for r in [&ops, &readers] {
            repo.insert_role(r, &audit("t1", AuditAction::RoleCreate)).await.unwrap();
        }
        let mut expired = binding(&ops, SubjectType::Sub, "alice", 2);
        expired.expires_at = Some(at(3));
        let live = binding(&readers, SubjectType::ClientId, "bot", 4);
        let shared = binding(&ops, SubjectType::Role, "admins", 5);
        for b in [&expired, &live, &shared] {
            repo.insert_binding(b, &audit("t1", AuditAction::RoleBindingCreate)).await.unwrap();
        }
        let theirs = role("t2", "ops", 0);
        repo.insert_role(&theirs, &audit("t2", AuditAction::RoleCreate)).await.unwrap();
        let their_binding = binding(&theirs, SubjectType::Sub, "alice", 0);
        repo.insert_binding(&their_binding, &audit("t2", AuditAction::RoleBindingCreate))
            .await
            .unwrap();
        let mut got = repo.tenant_bindings(&tenant("t1")).await.unwrap();
        got.sort_by_key(|(b, _)| b.id);
        let mut want = vec![(expired, ops.clone()), (live, readers), (shared, ops)];
        want.sort_by_key(|(b, _)| b.id);
        assert_eq!(got, want, "expired ones too, each with its role");
    }

    async fn the_access_clock_names_every_changed_tenant(stores) {
        let repo = stores.access.clone();
        let start = repo.changes_since(i64::MAX).await.unwrap();
        assert!(start.tenants.is_empty(), "nothing is after the end of time");
        assert_eq!(repo.changes_since(start.clock).await.unwrap().tenants, []);
        let r = role("t1", "ops", 0);
        repo.insert_role(&r, &audit("t1", AuditAction::RoleCreate)).await.unwrap();
        let first = repo.changes_since(start.clock).await.unwrap();
        assert!(first.clock > start.clock);
        assert_eq!(first.tenants, [tenant("t1")]);
        assert_eq!(repo.changes_since(first.clock).await.unwrap(), exsvc_domain::ports::AccessChanges {
            clock: first.clock,
            tenants: vec![],
        });
        // A refused write does not advance the clock.
        assert!(repo.insert_role(&r, &audit("t1", AuditAction::RoleCreate)).await.is_err());
        assert!(repo
            .delete_role(&tenant("t1"), &name("nobody"), None, &audit("t1", AuditAction::RoleDelete))
            .await
            .is_err());
        assert_eq!(repo.changes_since(first.clock).await.unwrap().clock, first.clock);
        // Each kind of write advances it and names its tenant.
        let theirs = role("t2", "ops", 0);
        repo.insert_role(&theirs, &audit("t2", AuditAction::RoleCreate)).await.unwrap();
        let b = binding(&r, SubjectType::Sub, "alice", 1);
        repo.insert_binding(&b, &audit("t1", AuditAction::RoleBindingCreate)).await.unwrap();
        let second = repo.changes_since(first.clock).await.unwrap();
        assert!(second.clock >= first.clock + 2);
        let mut tenants = second.tenants.clone();
        tenants.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        assert_eq!(tenants, [tenant("t1"), tenant("t2")]);
        let mut updated = r.clone();
        updated.version = 2;
        repo.update_role(&updated, 1, &audit("t1", AuditAction::RoleUpdate)).await.unwrap();
        let third = repo.changes_since(second.clock).await.unwrap();
        assert_eq!(third.tenants, [tenant("t1")]);
        repo.delete_binding(&tenant("t1"), b.id, &audit("t1", AuditAction::RoleBindingDelete)).await.unwrap();
        let fourth = repo.changes_since(third.clock).await.unwrap();
        assert_eq!(fourth.tenants, [tenant("t1")]);
        let deleted = audit("t1", AuditAction::RoleDelete);
        repo.delete_role(&tenant("t1"), &r.name, Some(2), &deleted).await.unwrap();
        let fifth = repo.changes_since(fourth.clock).await.unwrap();
        assert!(fifth.clock > fourth.clock);
        assert_eq!(fifth.tenants, [tenant("t1")]);
        assert_eq!(repo.changes_since(fifth.clock).await.unwrap().tenants, []);
    }

    async fn secret_readers_are_the_successful_reads_and_uses_since(stores) {
        let s = service("t1", "Stripe", 0);
        stores.services.insert(&s, None, &[]).await.unwrap();
        let other = service("t1", "Adyen", 1);
        stores.services.insert(&other, None, &[]).await.unwrap();
        let since = at(100);
        let event = |actor: &str, action: AuditAction, outcome: AuditOutcome, offset: i64, on: ServiceId| {
            let mut e = audit("t1", action);
            e.actor = actor.into();
            e.outcome = outcome;
            e.occurred_at = at(offset);
            e.service_id = Some(on);
            e
        };
        let ok = AuditOutcome::Success;
        let recorded = [
            event("alice", AuditAction::CredentialsRead, ok, 99, s.id), // before since
            event("alice", AuditAction::CredentialsRead, ok, 100, s.id),
            event("alice", AuditAction::CredentialsRead, ok, 105, s.id),
            event("bob", AuditAction::CredentialsUse, ok, 110, s.id),
            event("carol", AuditAction::CredentialsRead, AuditOutcome::Denied, 120, s.id),
            event("dave", AuditAction::CredentialsRead, ok, 130, other.id),
            event("erin", AuditAction::CredentialsWrite, ok, 140, s.id),
            event("bob", AuditAction::CredentialsRead, ok, 101, s.id),
        ];
        for e in &recorded {
            stores.audit.record(e).await.unwrap();
        }
        let mut foreign = event("mallory", AuditAction::CredentialsRead, ok, 150, s.id);
        foreign.tenant_id = tenant("t2");
        stores.audit.record(&foreign).await.unwrap();
        let readers = stores.access.secret_readers(&tenant("t1"), s.id, since).await.unwrap();
        let got: Vec<(&str, DateTime<Utc>, i64)> = readers
            .iter()
            .map(|r| (r.actor.as_str(), r.last_read_at, r.reads))
            .collect();
        assert_eq!(got, [("bob", at(110), 2), ("alice", at(105), 2)]);
        assert!(stores
            .access
            .secret_readers(&tenant("t2"), other.id, since)
            .await
            .unwrap()
            .is_empty());
    }

    /// For every selector, the listing narrowed to it returns exactly the
    /// services `ServiceSelector::matches` accepts, newest first.
    async fn a_reach_lists_exactly_the_services_its_selectors_match(stores) {
        let services = varied_services();
        for s in &services {
            stores.services.insert(s, None, &[]).await.unwrap();
        }
        // Another tenant's service that every metadata selector would match.
        let mut theirs = service_with("theirs", "payment", json!({"env": "prod", "tier": 1}), 50);
        theirs.tenant_id = tenant("t2");
        stores.services.insert(&theirs, None, &[]).await.unwrap();
        let selectors = selectors(&services);
        for selector in &selectors {
            let one = std::slice::from_ref(selector);
            let listed = stores
                .services
                .list(&tenant("t1"), &listing(100, None, Reach::Matching(one.to_vec())))
                .await
                .unwrap();
            assert_eq!(ids(&listed), expected(&services, one), "{selector:?}");
        }
        // Selectors are alternatives.
        let any = vec![selectors[5].clone(), selectors[10].clone(), selectors[16].clone()];
        let listed = stores
            .services
            .list(&tenant("t1"), &listing(100, None, Reach::Matching(any.clone())))
            .await
            .unwrap();
        let want = expected(&services, &any);
        assert!(want.len() >= 3, "the alternatives match several services");
        assert_eq!(ids(&listed), want);
        // No selector: nothing.
        let none = stores
            .services
            .list(&tenant("t1"), &listing(100, None, Reach::Matching(vec![])))
            .await
            .unwrap();
        assert!(none.is_empty());
        assert_eq!(
            stores.services.list(&tenant("t1"), &listing(100, None, Reach::Tenant)).await.unwrap().len(),
            services.len()
        );
    }

    /// Pages of a reach hold each matching service once, however matching
    /// and other services fall around the page boundaries.
    async fn a_reach_pages_by_keyset(stores) {
        let services = varied_services();
        for s in &services {
            stores.services.insert(s, None, &[]).await.unwrap();
        }
        let reach = vec![meta("env", text("prod")), meta("pci", SelectorValue::Bool(false))];
        let want = expected(&services, &reach);
        assert!(want.len() >= 4 && want.len() < services.len());
        for limit in [1, 2, 3] {
            let mut listed = Vec::new();
            let mut after = None;
            loop {
                let rows = stores
                    .services
                    .list(&tenant("t1"), &listing(limit, after, Reach::Matching(reach.clone())))
                    .await
                    .unwrap();
                let more = rows.len() > usize::from(limit);
                listed.extend(rows.into_iter().take(usize::from(limit)));
                if !more {
                    break;
                }
                let last = listed.last().unwrap();
                after = Some(Cursor { at: last.created_at, id: last.id.as_uuid() });
            }
            assert_eq!(ids(&listed), want, "limit {limit}");
        }
    }

    /// The audit listing narrowed to a reach: only events of existing
    /// services of the tenant that a selector matches.
    async fn a_reach_narrows_the_audit_listing(stores) {
        let services = varied_services();
        let mut recorded = Vec::new();
        for (i, s) in services.iter().enumerate() {
            stores.services.insert(s, None, &[]).await.unwrap();
            let mut e = audit("t1", AuditAction::CredentialsRead);
            e.service_id = Some(s.id);
            e.occurred_at = at(200 + i64::try_from(i).unwrap());
            e.details = Some(json!({"n": i}));
            stores.audit.record(&e).await.unwrap();
            recorded.push(e);
        }
        // A tenant-level event, one of a service that no longer exists, and
        // one naming another tenant's matching service.
        stores.audit.record(&audit("t1", AuditAction::RoleCreate)).await.unwrap();
        let mut gone = audit("t1", AuditAction::ServiceDelete);
        gone.service_id = Some(ServiceId::from_uuid(uuid::Uuid::now_v7()));
        stores.audit.record(&gone).await.unwrap();
        let mut theirs = service_with("theirs", "payment", json!({"env": "prod"}), 50);
        theirs.tenant_id = tenant("t2");
        stores.services.insert(&theirs, None, &[]).await.unwrap();
        let mut crossed = audit("t1", AuditAction::CredentialsRead);
        crossed.service_id = Some(theirs.id);
        stores.audit.record(&crossed).await.unwrap();

        let reach = vec![meta("env", text("prod"))];
        let matching = expected(&services, &reach);
        let mut want: Vec<AuditEvent> = recorded
            .iter()
            .filter(|e| e.service_id.is_some_and(|id| matching.contains(&id)))
            .cloned()
            .collect();
        want.reverse();
        let query = |limit: u16, after: Option<Cursor>, reach: Reach| AuditQuery {
            limit,
            after,
            filter: AuditFilter::default(),
            reach,
        };
        let mut listed = Vec::new();
        let mut after = None;
        loop {
            let rows = stores
                .audit
                .list(&tenant("t1"), &query(2, after, Reach::Matching(reach.clone())))
                .await
                .unwrap();
            let more = rows.len() > 2;
            listed.extend(rows.into_iter().take(2));
            if !more {
                break;
            }
            let last: &AuditEvent = listed.last().unwrap();
            after = Some(Cursor { at: last.occurred_at, id: last.id });
        }
        assert_eq!(listed, want);
        assert!(stores
            .audit
            .list(&tenant("t1"), &query(100, None, Reach::Matching(vec![])))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            stores.audit.list(&tenant("t1"), &query(100, None, Reach::Tenant)).await.unwrap().len(),
            recorded.len() + 3
        );
    }
}
