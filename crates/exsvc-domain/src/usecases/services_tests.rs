//! Unit tests of the service use cases against mocked ports.

use crate::pagination::ServiceFilter;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use mockall::predicate::{always, eq};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::*;
use crate::pagination::{CursorKey, RawListParams, ServiceListRequest};
use crate::ports::{MockClock, MockIdGenerator, MockServiceRepository};
use crate::principal::TenantId;
use crate::service::ServiceDocument;
use crate::usecases::service_id;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn caller(permissions: &[Permission]) -> Principal {
    Principal::new(tenant(), "alice", permissions.iter().copied())
}

fn everyone() -> Principal {
    caller(&Permission::ALL)
}

fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("not an object"),
    }
}

fn body() -> Map<String, Value> {
    obj(json!({"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com"}))
}

fn stored(version: i64) -> Service {
    Service {
        id: ServiceId::from_uuid(Uuid::now_v7()),
        tenant_id: tenant(),
        spec: ServiceSpec::from_document(&body(), UrlPolicy::default()).unwrap(),
        credential: None,
        created_at: t0(),
        updated_at: t0(),
        version,
    }
}

/// The use cases as the HTTP adapter calls them: the caller's permit first,
/// then the typed input parsed from the raw request, then the use case. The
/// tests below read as requests; `each_use_case_requires_its_permit` checks the
/// use cases themselves.
struct Adapter(ServiceCatalog);

impl Adapter {
    async fn create(
        &self,
        p: &Principal,
        body: &Map<String, Value>,
    ) -> Result<Service, UseCaseError> {
        let permit = p.permit(Permission::Create)?;
        self.0.create(permit, self.0.parse_new(body.clone())?).await
    }

    async fn get(&self, p: &Principal, raw_id: &str) -> Result<Service, UseCaseError> {
        let permit = p.permit(Permission::Read)?;
        self.0.get(permit, service_id(raw_id)?).await
    }

    async fn list(
        &self,
        p: &Principal,
        raw: &RawListParams<'_>,
    ) -> Result<Page<Service>, UseCaseError> {
        let permit = p.permit(Permission::Read)?;
        self.0.list(permit, ServiceListRequest::parse(raw)?).await
    }

    async fn replace(
        &self,
        p: &Principal,
        raw_id: &str,
        body: &Map<String, Value>,
        precondition: Option<Precondition>,
    ) -> Result<Service, UseCaseError> {
        let permit = p.permit(Permission::Update)?;
        let id = service_id(raw_id)?;
        let document = ServiceDocument::parse(body.clone())?;
        self.0.replace(permit, id, document, precondition).await
    }

    async fn patch(
        &self,
        p: &Principal,
        raw_id: &str,
        patch: &Value,
        precondition: Option<Precondition>,
    ) -> Result<Service, UseCaseError> {
        let permit = p.permit(Permission::Update)?;
        let id = service_id(raw_id)?;
        self.0
            .patch(
                permit,
                id,
                ServicePatch::parse(patch.clone())?,
                precondition,
            )
            .await
    }

    async fn delete(
        &self,
        p: &Principal,
        raw_id: &str,
        precondition: Option<Precondition>,
    ) -> Result<(), UseCaseError> {
        let permit = p.permit(Permission::Delete)?;
        self.0
            .delete(permit, service_id(raw_id)?, precondition)
            .await
    }
}

fn catalog(repo: MockServiceRepository) -> Adapter {
    let mut clock = MockClock::new();
    clock
        .expect_now()
        .returning(|| t0() + Duration::seconds(60));
    let mut ids = MockIdGenerator::new();
    ids.expect_new_service_id()
        .returning(|| ServiceId::from_uuid(Uuid::now_v7()));
    ids.expect_new_event_id().returning(Uuid::now_v7);
    Adapter(ServiceCatalog::new(
        Arc::new(repo),
        Arc::new(clock),
        Arc::new(ids),
        Arc::new(crate::ports::MockCredentialCipher::new()),
        Arc::new(forgetting_broker()),
        settings(),
    ))
}

/// A token broker that only ever forgets: the catalog has nothing else to ask.
pub(crate) fn forgetting_broker() -> crate::ports::MockTokenBroker {
    let mut broker = crate::ports::MockTokenBroker::new();
    broker.expect_forget().returning(|_, _| ());
    broker
}

fn settings() -> CatalogSettings {
    CatalogSettings {
        url_policy: UrlPolicy::default(),
        cursor_key: CursorKey::derive(b"test"),
    }
}

/// A caller without a permission gets no permit for it; and every use case
/// refuses a permit for another permission, before touching the store.
#[tokio::test]
async fn each_use_case_requires_its_permit() {
    let c = catalog(MockServiceRepository::new()).0; // any call to the store would panic
    let id = ServiceId::from_uuid(Uuid::now_v7());
    let reader = caller(&[Permission::Read]);
    let creator = caller(&[Permission::Create]);
    assert!(matches!(
        reader.permit(Permission::Create),
        Err(UseCaseError::Forbidden(Permission::Create))
    ));
    // A permit of another permission proves nothing.
    fn wrong(p: &Principal) -> Permit<'_> {
        p.permit(p.permissions().next().unwrap()).unwrap()
    }
    let forbidden = |r: Result<(), UseCaseError>, p: Permission| match r {
        Err(UseCaseError::Forbidden(got)) => assert_eq!(got, p),
        other => panic!("expected Forbidden({p}), got {other:?}"),
    };
    let input = c.parse_new(body()).unwrap();
    let document = ServiceDocument::parse(body()).unwrap();
    let patch = ServicePatch::parse(json!({})).unwrap();
    let request = ServiceListRequest::parse(&RawListParams::default()).unwrap();
    forbidden(
        c.create(wrong(&reader), input).await.map(drop),
        Permission::Create,
    );
    forbidden(c.get(wrong(&creator), id).await.map(drop), Permission::Read);
    forbidden(
        c.list(wrong(&creator), request).await.map(drop),
        Permission::Read,
    );
    forbidden(
        c.replace(wrong(&reader), id, document, None)
            .await
            .map(drop),
        Permission::Update,
    );
    forbidden(
        c.patch(wrong(&reader), id, patch, None).await.map(drop),
        Permission::Update,
    );
    forbidden(c.delete(wrong(&reader), id, None).await, Permission::Delete);
}

#[tokio::test]
async fn create_stores_a_versioned_service_in_the_callers_tenant() {
    let mut repo = MockServiceRepository::new();
    repo.expect_insert()
        .withf(|s, _, _| {
            s.tenant_id.as_str() == "acme" && s.version == 1 && s.created_at == s.updated_at
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    let created = catalog(repo)
        .create(&caller(&[Permission::Create]), &body())
        .await
        .unwrap();
    assert_eq!(created.spec.name.as_str(), "Stripe");
    assert_eq!(created.created_at, t0() + Duration::seconds(60));
    assert_eq!(created.id.as_uuid().get_version_num(), 7);
}

#[tokio::test]
async fn create_validates_before_storing() {
    let c = catalog(MockServiceRepository::new());
    let err = c
        .create(&everyone(), &obj(json!({"name": ""})))
        .await
        .unwrap_err();
    let UseCaseError::Validation(fields) = err else {
        panic!("{err:?}")
    };
    assert!(
        fields.get("name").is_some()
            && fields.get("type").is_some()
            && fields.get("base_url").is_some()
    );
}

#[tokio::test]
async fn create_duplicate_name_is_already_exists() {
    let mut repo = MockServiceRepository::new();
    repo.expect_insert()
        .returning(|_, _, _| Err(RepositoryError::Duplicate));
    let err = catalog(repo)
        .create(&everyone(), &body())
        .await
        .unwrap_err();
    assert!(matches!(err, UseCaseError::AlreadyExists(name) if name == "Stripe"));
}

#[tokio::test]
async fn store_outage_and_failure_are_reported_as_such() {
    let mut repo = MockServiceRepository::new();
    repo.expect_insert()
        .returning(|_, _, _| Err(RepositoryError::Unavailable));
    repo.expect_find()
        .returning(|_, _| Err(RepositoryError::Internal("boom".into())));
    let c = catalog(repo);
    assert!(matches!(
        c.create(&everyone(), &body()).await,
        Err(UseCaseError::Unavailable)
    ));
    let id = Uuid::now_v7().to_string();
    assert!(matches!(
        c.get(&everyone(), &id).await,
        Err(UseCaseError::Internal(_))
    ));
}

#[tokio::test]
async fn get_is_scoped_to_the_callers_tenant() {
    let service = stored(1);
    let id = service.id;
    let mut repo = MockServiceRepository::new();
    repo.expect_find()
        .with(eq(tenant()), eq(id))
        .times(1)
        .returning(move |_, _| Ok(Some(service.clone())));
    let got = catalog(repo)
        .get(&caller(&[Permission::Read]), &id.to_string())
        .await
        .unwrap();
    assert_eq!(got.id, id);
}

#[tokio::test]
async fn get_missing_or_malformed_id_is_not_found() {
    let mut repo = MockServiceRepository::new();
    repo.expect_find().returning(|_, _| Ok(None));
    let c = catalog(repo);
    let id = Uuid::now_v7().to_string();
    assert!(matches!(c.get(&everyone(), &id).await, Err(UseCaseError::NotFound(got)) if got == id));
    // Not a UUID: no store call can find it.
    assert!(
        matches!(c.get(&everyone(), "abc123").await, Err(UseCaseError::NotFound(got)) if got == "abc123")
    );
}

#[tokio::test]
async fn list_returns_a_cursor_only_when_more_rows_exist() {
    let rows: Vec<Service> = (0..3).map(|_| stored(1)).collect();
    let third = rows[1].clone();
    let mut repo = MockServiceRepository::new();
    repo.expect_list()
        .withf(|t, q| t.as_str() == "acme" && q.limit == 2)
        .returning(move |_, _| Ok(rows.clone()));
    let q = RawListParams {
        limit: Some("2"),
        ..Default::default()
    };
    let page = catalog(repo).list(&everyone(), &q).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let next = page.next_cursor.expect("a next page");
    let decoded = ServiceFilter::default()
        .with_scope(everyone().tenant(), |scope| {
            Cursor::decode(&next, scope, &settings().cursor_key)
        })
        .unwrap();
    assert_eq!(
        decoded,
        Cursor {
            at: third.created_at,
            id: third.id.as_uuid()
        }
    );

    let mut repo = MockServiceRepository::new();
    repo.expect_list()
        .returning(|_, _| Ok(vec![stored(1), stored(1)]));
    let page = catalog(repo).list(&everyone(), &q).await.unwrap();
    assert_eq!((page.items.len(), page.next_cursor), (2, None));
}

#[tokio::test]
async fn replace_writes_the_next_version_under_the_read_version() {
    let current = stored(3);
    let id = current.id;
    let mut repo = MockServiceRepository::new();
    repo.expect_find()
        .returning(move |_, _| Ok(Some(current.clone())));
    repo.expect_update()
        .withf(|s, expected, _| {
            *expected == 3 && s.version == 4 && s.spec.name.as_str() == "Renamed"
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    let mut new_body = body();
    new_body.insert("name".into(), json!("Renamed"));
    let updated = catalog(repo)
        .replace(
            &everyone(),
            &id.to_string(),
            &new_body,
            Some(Precondition::Versions(vec![3])),
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 4);
    assert_eq!(updated.created_at, t0());
    assert_eq!(updated.updated_at, t0() + Duration::seconds(60));
    // Omitted optional fields take their defaults.
    assert_eq!(updated.spec.description.as_str(), "");
}

#[tokio::test]
async fn replace_with_a_stale_if_match_changes_nothing() {
    let current = stored(3);
    let id = current.id;
    let mut repo = MockServiceRepository::new();
    repo.expect_find()
        .returning(move |_, _| Ok(Some(current.clone())));
    repo.expect_update().never();
    let err = catalog(repo)
        .replace(
            &everyone(),
            &id.to_string(),
            &body(),
            Some(Precondition::Versions(vec![2])),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, UseCaseError::PreconditionFailed));
}

#[tokio::test]
async fn an_invalid_change_is_a_validation_error_even_with_a_stale_if_match() {
    let current = stored(3);
    let id = current.id;
    let mut repo = MockServiceRepository::new();
    repo.expect_find()
        .returning(move |_, _| Ok(Some(current.clone())));
    repo.expect_update().never();
    let catalog = catalog(repo);
    let mut bad = body();
    bad.remove("base_url");
    let err = catalog
        .replace(
            &everyone(),
            &id.to_string(),
            &bad,
            Some(Precondition::Versions(vec![2])),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, UseCaseError::Validation(_)), "{err:?}");
    let err = catalog
        .patch(
            &everyone(),
            &id.to_string(),
            &json!({"type": "Not A Type"}),
            Some(Precondition::Versions(vec![])),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, UseCaseError::Validation(_)), "{err:?}");
}

#[tokio::test]
async fn an_identical_replace_is_not_a_change() {
    let current = stored(5);
    let id = current.id;
    let mut repo = MockServiceRepository::new();
    repo.expect_find()
        .returning(move |_, _| Ok(Some(current.clone())));
    repo.expect_update().never();
    let same = catalog(repo)
        .replace(&everyone(), &id.to_string(), &body(), None)
        .await
        .unwrap();
    assert_eq!(same.version, 5);
}

#[tokio::test]
async fn replace_onto_another_services_name_is_already_exists() {
    let current = stored(1);
    let id = current.id;
    let mut repo = MockServiceRepository::new();
    repo.expect_find()
        .returning(move |_, _| Ok(Some(current.clone())));
    repo.expect_update()
        .returning(|_, _, _| Err(RepositoryError::Duplicate));
    let mut renamed = body();
    renamed.insert("name".into(), json!("Taken"));
    let err = catalog(repo)
        .replace(&everyone(), &id.to_string(), &renamed, None)
        .await
        .unwrap_err();
    assert!(matches!(err, UseCaseError::AlreadyExists(n) if n == "Taken"));
}

#[tokio::test]
async fn replace_of_a_missing_service_is_not_found() {
    let mut repo = MockServiceRepository::new();
    repo.expect_find().returning(|_, _| Ok(None));
    let id = Uuid::now_v7().to_string();
    let err = catalog(repo)
        .replace(&everyone(), &id, &body(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, UseCaseError::NotFound(_)));
    // Deleted between read and write.
    let current = stored(1);
    let id = current.id.to_string();
    let mut repo = MockServiceRepository::new();
    repo.expect_find()
        .returning(move |_, _| Ok(Some(current.clone())));
    repo.expect_update()
        .returning(|_, _, _| Err(RepositoryError::NotFound));
    let mut renamed = body();
    renamed.insert("name".into(), json!("Other"));
    let err = catalog(repo)
        .replace(&everyone(), &id, &renamed, None)
        .await
        .unwrap_err();
    assert!(matches!(err, UseCaseError::NotFound(_)));
}

#[tokio::test]
async fn patch_merges_and_keeps_untouched_fields() {
    let mut current = stored(1);
    current.spec.metadata =
        crate::service::Metadata::parse(obj(json!({"team": "core", "tier": 1}))).unwrap();
    let id = current.id;
    let mut repo = MockServiceRepository::new();
    repo.expect_find()
        .returning(move |_, _| Ok(Some(current.clone())));
    repo.expect_update().times(1).returning(|_, _, _| Ok(()));
    let patched = catalog(repo)
        .patch(
            &everyone(),
            &id.to_string(),
            &json!({"description": "cards", "metadata": {"tier": null, "region": "eu"}}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.description.as_str(), "cards");
    assert_eq!(patched.spec.name.as_str(), "Stripe");
    assert_eq!(
        Value::Object(patched.spec.metadata.into_map()),
        json!({"team": "core", "region": "eu"})
    );
    assert_eq!(patched.version, 2);
}

#[tokio::test]
async fn patch_refuses_bad_patches_without_writing() {
    let current = stored(1);
    let id = current.id.to_string();
    let mut repo = MockServiceRepository::new();
    repo.expect_find()
        .returning(move |_, _| Ok(Some(current.clone())));
    repo.expect_update().never();
    let c = catalog(repo);
    for (patch, field) in [
        (json!(["not", "an", "object"]), "body"),
        (json!({"id": "x"}), "id"),
        (json!({"version": null}), "version"),
        (json!({"colour": "red"}), "colour"),
        (json!({"name": null}), "name"),
        (json!({"base_url": "http://insecure.example"}), "base_url"),
        (json!({"metadata": 3}), "metadata"),
    ] {
        match c.patch(&everyone(), &id, &patch, None).await {
            Err(UseCaseError::Validation(fields)) => {
                assert!(fields.get(field).is_some(), "{patch}")
            }
            other => panic!("{patch}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn unconditional_patch_retries_a_lost_race_so_no_update_is_lost() {
    let first = stored(1);
    let id = first.id;
    let mut second = first.clone();
    second.version = 2;
    second.spec.metadata = crate::service::Metadata::parse(obj(json!({"a": 1}))).unwrap();
    let mut seq = mockall::Sequence::new();
    let mut repo = MockServiceRepository::new();
    repo.expect_find()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _| Ok(Some(first.clone())));
    repo.expect_update()
        .with(always(), eq(1), always())
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Err(RepositoryError::VersionConflict));
    repo.expect_find()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _| Ok(Some(second.clone())));
    repo.expect_update()
        .withf(|s, expected, _| *expected == 2 && s.spec.metadata.as_map().len() == 2)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(()));
    let patched = catalog(repo)
        .patch(
            &everyone(),
            &id.to_string(),
            &json!({"metadata": {"b": 2}}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(patched.version, 3);
}

#[tokio::test]
async fn conditional_patch_that_loses_a_race_is_412() {
    let current = stored(1);
    let id = current.id;
    let mut newer = current.clone();
    newer.version = 2;
    let mut seq = mockall::Sequence::new();
    let mut repo = MockServiceRepository::new();
    repo.expect_find()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _| Ok(Some(current.clone())));
    repo.expect_update()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Err(RepositoryError::VersionConflict));
    // The retry reads the winner's version, which the client's tag no longer matches.
    repo.expect_find()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _| Ok(Some(newer.clone())));
    let err = catalog(repo)
        .patch(
            &everyone(),
            &id.to_string(),
            &json!({"description": "x"}),
            Some(Precondition::Versions(vec![1])),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, UseCaseError::PreconditionFailed));
}

#[tokio::test]
async fn if_match_any_that_loses_a_race_is_retried() {
    let current = stored(1);
    let id = current.id;
    let mut newer = current.clone();
    newer.version = 2;
    let mut seq = mockall::Sequence::new();
    let mut repo = MockServiceRepository::new();
    repo.expect_find()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _| Ok(Some(current.clone())));
    repo.expect_update()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Err(RepositoryError::VersionConflict));
    repo.expect_find()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _| Ok(Some(newer.clone())));
    repo.expect_update()
        .withf(|_, expected, _| *expected == 2)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(()));
    let patched = catalog(repo)
        .patch(
            &everyone(),
            &id.to_string(),
            &json!({"description": "x"}),
            Some(Precondition::Any),
        )
        .await
        .unwrap();
    assert_eq!(patched.version, 3);
}

#[tokio::test]
async fn a_base_url_left_unchanged_survives_a_tightened_policy() {
    let mut current = stored(1);
    current.spec.base_url = crate::service::BaseUrl::parse("http://legacy.example", true).unwrap();
    let id = current.id;
    let mut repo = MockServiceRepository::new();
    repo.expect_find()
        .returning(move |_, _| Ok(Some(current.clone())));
    repo.expect_update().times(1).returning(|_, _, _| Ok(()));
    let c = catalog(repo);
    let patched = c
        .patch(
            &everyone(),
            &id.to_string(),
            &json!({"description": "kept"}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.base_url.as_str(), "http://legacy.example");
    // A new http URL still follows the policy.
    let err = c
        .patch(
            &everyone(),
            &id.to_string(),
            &json!({"base_url": "http://other.example"}),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, UseCaseError::Validation(f) if f.get("base_url").is_some()));
}

/// docs/api.md §1: every problem in one answer, the URL policy's too.
#[tokio::test]
async fn a_refused_scheme_is_reported_with_the_other_problems() {
    let current = stored(1);
    let id = current.id;
    let mut repo = MockServiceRepository::new();
    repo.expect_find()
        .returning(move |_, _| Ok(Some(current.clone())));
    let c = catalog(repo); // https only
    let bad = obj(json!({"name": "", "type": "payment", "base_url": "http://x.example"}));
    let fields = |err: UseCaseError| match err {
        UseCaseError::Validation(f) => (f.get("name").is_some(), f.get("base_url").is_some()),
        other => panic!("expected a validation error, got {other:?}"),
    };
    let create = c.create(&everyone(), &bad).await.unwrap_err();
    assert_eq!(fields(create), (true, true), "create");
    let replace = c
        .replace(&everyone(), &id.to_string(), &bad, None)
        .await
        .unwrap_err();
    assert_eq!(fields(replace), (true, true), "replace");
    let patch = c
        .patch(
            &everyone(),
            &id.to_string(),
            &json!({"name": "", "base_url": "http://x.example"}),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(fields(patch), (true, true), "patch");
}

#[tokio::test]
async fn delete_without_precondition_goes_straight_to_the_store() {
    let id = ServiceId::from_uuid(Uuid::now_v7());
    let mut repo = MockServiceRepository::new();
    repo.expect_find().never();
    repo.expect_delete()
        .with(eq(tenant()), eq(id), eq(None), always())
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    catalog(repo)
        .delete(&caller(&[Permission::Delete]), &id.to_string(), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn delete_paths() {
    let current = stored(4);
    let id = current.id;
    let mut repo = MockServiceRepository::new();
    repo.expect_find()
        .returning(move |_, _| Ok(Some(current.clone())));
    repo.expect_delete()
        .with(always(), eq(id), eq(Some(4)), always())
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    let c = catalog(repo);
    c.delete(
        &everyone(),
        &id.to_string(),
        Some(Precondition::Versions(vec![4])),
    )
    .await
    .unwrap();
    let err = c
        .delete(
            &everyone(),
            &id.to_string(),
            Some(Precondition::Versions(vec![3])),
        )
        .await;
    assert!(matches!(err, Err(UseCaseError::PreconditionFailed)));

    let mut repo = MockServiceRepository::new();
    repo.expect_delete()
        .returning(|_, _, _, _| Err(RepositoryError::NotFound));
    let c = catalog(repo);
    let err = c.delete(&everyone(), &id.to_string(), None).await;
    assert!(matches!(err, Err(UseCaseError::NotFound(_))));
    assert!(matches!(
        c.delete(&everyone(), "nope", None).await,
        Err(UseCaseError::NotFound(_))
    ));
}

#[test]
fn precondition_matching() {
    assert!(Precondition::Any.matches(7));
    assert!(Precondition::Versions(vec![1, 7]).matches(7));
    assert!(!Precondition::Versions(vec![]).matches(7));
}

/// A caller whose only grant is a binding of `permissions` on services of
/// type `payment`.
fn bound_to_payments(permissions: Value) -> Principal {
    use crate::access::{Grant, RoleName, RoleSpec};
    let spec = RoleSpec::parse_replacement(&obj(
        json!({"permissions": permissions, "services": {"types": ["payment"]}}),
    ))
    .unwrap();
    let grant = Arc::new(Grant {
        binding_id: Uuid::now_v7(),
        role: RoleName::parse("payments").unwrap(),
        permissions: spec.permissions,
        selector: spec.services,
    });
    Principal::new(tenant(), "worker", []).with_grants(Arc::from(vec![grant]))
}

#[tokio::test]
async fn a_bound_caller_reaches_only_what_its_selector_matches() {
    let stripe = stored(1);
    let mut mail = stored(1);
    mail.spec.service_type = crate::service::ServiceType::parse("mail").unwrap();
    let (stripe_id, mail_id) = (stripe.id, mail.id);
    let mut repo = MockServiceRepository::new();
    repo.expect_find().returning(move |_, id| {
        Ok(Some(if id == stripe_id {
            stripe.clone()
        } else {
            mail.clone()
        }))
    });
    let adapter = catalog(repo);
    let worker = bound_to_payments(json!(["external-service:read"]));
    assert!(adapter.get(&worker, &stripe_id.to_string()).await.is_ok());
    assert!(matches!(
        adapter.get(&worker, &mail_id.to_string()).await,
        Err(UseCaseError::NotFound(_))
    ));
    // Visible, but `delete` is not granted: 403, not 404.
    let reader_deleter =
        bound_to_payments(json!(["external-service:read", "external-service:update"]));
    assert!(matches!(
        adapter
            .delete(&reader_deleter, &stripe_id.to_string(), None)
            .await,
        Err(UseCaseError::Forbidden(Permission::Delete))
    ));
}

#[tokio::test]
async fn the_listing_asks_the_store_for_the_callers_reach_only() {
    let mut repo = MockServiceRepository::new();
    repo.expect_list()
        .withf(|_, q| match &q.reach {
            crate::access::Reach::Matching(selectors) => {
                selectors.len() == 1 && selectors[0].types[0].as_str() == "payment"
            }
            crate::access::Reach::Tenant => false,
        })
        .times(1)
        .returning(|_, _| Ok(vec![]));
    let worker = bound_to_payments(json!(["external-service:read"]));
    catalog(repo)
        .list(&worker, &RawListParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn nobody_moves_a_service_out_of_or_into_their_reach() {
    let current = stored(1);
    let id = current.id;
    let mut repo = MockServiceRepository::new();
    repo.expect_find()
        .returning(move |_, _| Ok(Some(current.clone())));
    // No expectation of `update`: a write would panic.
    let adapter = catalog(repo);
    let worker = bound_to_payments(json!(["external-service:update"]));
    let moved = adapter
        .patch(&worker, &id.to_string(), &json!({"type": "mail"}), None)
        .await;
    assert!(matches!(
        moved,
        Err(UseCaseError::Forbidden(Permission::Update))
    ));

    let creator = bound_to_payments(json!(["external-service:create"]));
    let mut outside = body();
    outside.insert("type".into(), json!("mail"));
    assert!(matches!(
        adapter.create(&creator, &outside).await,
        Err(UseCaseError::Forbidden(Permission::Create))
    ));
}
