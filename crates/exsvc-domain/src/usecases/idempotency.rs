use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::idempotency::{request_material, IdempotencyKey, IdempotencyRecord, StoredResponse};
use crate::ports::{Clock, CredentialCipher, IdGenerator, IdempotencyStore};
use crate::principal::{Permit, TenantId};
use crate::usecases::plain_store_error;
use crate::UseCaseError;

/// How long a key and its response are kept (docs/api.md §2).
pub const KEY_LIFETIME: Duration = Duration::hours(24);

/// The shortest time a running request holds its key; `IdempotencyGuard::new`
/// lengthens it for slow stores. A key whose holder died is free again after
/// it.
pub const MIN_CLAIM_LEASE: Duration = Duration::seconds(60);

/// A request makes a handful of store operations, each bounded by the store's
/// timeout; its lease outlasts this many of them.
const LEASE_STORE_TIMEOUTS: i32 = 10;

/// Claims are raced by at most a few steps (a release or a takeover between
/// our insert and our read); past this many rounds the key is busy.
const MAX_CLAIM_ROUNDS: usize = 4;

/// What to do with a request that carries an `Idempotency-Key`.
#[derive(Debug)]
pub enum Admission {
    /// Run it: the key is held for it until `complete` or `release`.
    Proceed(Claim),
    /// The same request already succeeded: answer with its response again.
    Replay(StoredResponse),
}

/// A held key. `complete` or `release` it when the request is done.
#[derive(Debug)]
#[must_use = "a claim holds its key until completed, released or its lease ends"]
pub struct Claim {
    tenant: TenantId,
    key: IdempotencyKey,
    id: Uuid,
}

/// The idempotency use cases: admit a keyed request, then keep or forget its
/// outcome.
#[derive(Clone)]
pub struct IdempotencyGuard {
    store: Arc<dyn IdempotencyStore>,
    /// Digests requests under a master key, so a stored fingerprint of a body
    /// holding a secret cannot be searched with guesses.
    cipher: Arc<dyn CredentialCipher>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    lease: Duration,
}

impl IdempotencyGuard {
    /// `store_timeout` bounds each store operation; a claim's lease is
    /// [`MIN_CLAIM_LEASE`] or, for a slow store, long enough that no request
    /// still running loses its key.
    pub fn new(
        store: Arc<dyn IdempotencyStore>,
        cipher: Arc<dyn CredentialCipher>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        store_timeout: std::time::Duration,
    ) -> Self {
        let lease = Duration::from_std(store_timeout)
            .ok()
            .and_then(|timeout| timeout.checked_mul(LEASE_STORE_TIMEOUTS))
            .map_or(MIN_CLAIM_LEASE, |lease| lease.max(MIN_CLAIM_LEASE));
        Self {
            store,
            cipher,
            clock,
            ids,
            lease,
        }
    }

    /// Claims `key` for the request `operation` (method and path) with `body`,
    /// or finds the response to replay.
    ///
    /// The permit is the operation's: a caller who may not make the request
    /// must not see its replay either. A key is the tenant's for callers whose
    /// permission is tenant-wide (docs/api.md §2); for a caller whose
    /// permission comes from bindings it is its own, so that it can never be
    /// replayed another caller's answer about a service outside its reach
    /// (its requests are fingerprinted with its actor: another caller under
    /// the same key is another request, 422).
    ///
    /// # Errors
    /// `IdempotencyKeyReused` when the key was used with another request,
    /// `IdempotencyKeyInUse` while that request is still running,
    /// `Unavailable` when the store is.
    pub async fn admit(
        &self,
        permit: Permit<'_>,
        key: IdempotencyKey,
        operation: &str,
        body: &Map<String, Value>,
    ) -> Result<Admission, UseCaseError> {
        let principal = permit.principal();
        let material = if permit.is_tenant_wide() {
            request_material(operation, body)
        } else {
            request_material(&format!("{operation}\0{}", principal.actor()), body)
        };
        let (fingerprint_key, fingerprint) = self.cipher.request_digest(&material);
        for _ in 0..MAX_CLAIM_ROUNDS {
            let now = self.clock.now();
            let record = IdempotencyRecord {
                tenant: principal.tenant().clone(),
                key: key.clone(),
                claim: self.ids.new_event_id(),
                fingerprint: fingerprint.to_vec(),
                fingerprint_key: fingerprint_key.clone(),
                response: None,
                locked_until: now + self.lease,
                expires_at: now + KEY_LIFETIME,
            };
            if self
                .store
                .insert(&record)
                .await
                .map_err(plain_store_error)?
            {
                return Ok(Admission::Proceed(self.claim_of(record)));
            }
            let Some(existing) = self
                .store
                .find(&record.tenant, &key)
                .await
                .map_err(plain_store_error)?
            else {
                continue; // released since our insert: try again
            };
            if is_free(&existing, now) {
                if self
                    .store
                    .take_over(existing.claim, now, &record)
                    .await
                    .map_err(plain_store_error)?
                {
                    return Ok(Admission::Proceed(self.claim_of(record)));
                }
                continue; // someone else took it over first
            }
            if !self.same_request(&existing, &material) {
                return Err(UseCaseError::IdempotencyKeyReused);
            }
            return match existing.response {
                Some(response) => Ok(Admission::Replay(response)),
                None => Err(UseCaseError::IdempotencyKeyInUse),
            };
        }
        Err(UseCaseError::IdempotencyKeyInUse)
    }

    /// Keeps `response` as the answer to every retry for the next 24 hours.
    ///
    /// # Errors
    /// `Unavailable` when the store is; the write itself has happened.
    pub async fn complete(
        &self,
        claim: &Claim,
        response: &StoredResponse,
    ) -> Result<(), UseCaseError> {
        let expires_at = self.clock.now() + KEY_LIFETIME;
        let kept = self
            .store
            .complete(&claim.tenant, &claim.key, claim.id, response, expires_at)
            .await
            .map_err(plain_store_error)?;
        if !kept {
            tracing::warn!(
                tenant = claim.tenant.as_str(),
                "an idempotency key's lease ended before its request finished; its response is not kept"
            );
        }
        Ok(())
    }

    /// Forgets the claim of a request that changed nothing, so a retry runs.
    ///
    /// # Errors
    /// `Unavailable` when the store is; the lease then frees the key.
    pub async fn release(&self, claim: Claim) -> Result<(), UseCaseError> {
        self.store
            .release(&claim.tenant, &claim.key, claim.id)
            .await
            .map_err(plain_store_error)
    }

    /// Forgets expired keys; returns how many.
    ///
    /// # Errors
    /// `Unavailable` when the store is.
    pub async fn purge_expired(&self) -> Result<u64, UseCaseError> {
        self.store
            .purge_expired(self.clock.now())
            .await
            .map_err(plain_store_error)
    }

    fn claim_of(&self, record: IdempotencyRecord) -> Claim {
        Claim {
            tenant: record.tenant,
            key: record.key,
            id: record.claim,
        }
    }

    /// Whether `existing` was made for the same request. A digest whose master
    /// key has left the keyring cannot be checked, so it counts as different:
    /// a response is never replayed to a request it was not made for.
    fn same_request(&self, existing: &IdempotencyRecord, material: &[u8]) -> bool {
        self.cipher
            .request_digest_with(&existing.fingerprint_key, material)
            .is_some_and(|digest| constant_time_eq(&digest, &existing.fingerprint))
    }
}

/// Expired, or held by a request whose lease has ended without a response.
fn is_free(record: &IdempotencyRecord, now: DateTime<Utc>) -> bool {
    record.expires_at <= now || (record.response.is_none() && record.locked_until <= now)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use crate::Principal;
    use mockall::predicate::eq;
    use serde_json::json;

    fn obj(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    use super::*;
    use crate::ports::RepositoryError;
    use crate::ports::{MockClock, MockCredentialCipher, MockIdGenerator, MockIdempotencyStore};
    use crate::principal::Permission;

    const OPERATION: &str = "POST /api/v1/services";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).unwrap()
    }

    fn caller() -> Principal {
        Principal::new(TenantId::parse("acme").unwrap(), "alice", Permission::ALL)
    }

    fn key() -> IdempotencyKey {
        IdempotencyKey::parse("retry-1").unwrap()
    }

    /// A stand-in keyed digest: a hash of the key id and the material.
    fn digest(key_id: &str, data: &[u8]) -> [u8; 32] {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut hasher = DefaultHasher::new();
        (key_id, data).hash(&mut hasher);
        let mut out = [0u8; 32];
        out[..8].copy_from_slice(&hasher.finish().to_le_bytes());
        out
    }

    fn guard(store: MockIdempotencyStore) -> IdempotencyGuard {
        let mut cipher = MockCredentialCipher::new();
        cipher
            .expect_request_digest()
            .returning(|data| ("k1".to_owned(), digest("k1", data)));
        cipher
            .expect_request_digest_with()
            .returning(|id, data| (id == "k1").then(|| digest(id, data)));
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        let mut ids = MockIdGenerator::new();
        ids.expect_new_event_id().returning(Uuid::now_v7);
        IdempotencyGuard::new(
            Arc::new(store),
            Arc::new(cipher),
            Arc::new(clock),
            Arc::new(ids),
            std::time::Duration::from_secs(2),
        )
    }

    fn existing(body: &Map<String, Value>, response: Option<StoredResponse>) -> IdempotencyRecord {
        IdempotencyRecord {
            tenant: caller().tenant().clone(),
            key: key(),
            claim: Uuid::now_v7(),
            fingerprint: digest("k1", &request_material(OPERATION, body)).to_vec(),
            fingerprint_key: "k1".to_owned(),
            response,
            locked_until: now() + Duration::seconds(30),
            expires_at: now() + Duration::hours(23),
        }
    }

    fn created() -> StoredResponse {
        StoredResponse {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{}".to_vec(),
        }
    }

    #[tokio::test]
    async fn a_new_key_is_claimed_with_a_lease_and_a_day_to_live() {
        let mut store = MockIdempotencyStore::new();
        store
            .expect_insert()
            .withf(|r| {
                r.response.is_none()
                    && r.locked_until == now() + MIN_CLAIM_LEASE
                    && r.expires_at == now() + KEY_LIFETIME
                    && r.fingerprint_key == "k1"
            })
            .times(1)
            .returning(|_| Ok(true));
        let admission = guard(store)
            .admit(
                caller().permit(Permission::Create).unwrap(),
                key(),
                OPERATION,
                &obj(json!({"a": 1})),
            )
            .await
            .unwrap();
        assert!(matches!(admission, Admission::Proceed(_)));
    }

    #[tokio::test]
    async fn the_same_request_replays_the_kept_response() {
        let body = obj(json!({"name": "x"}));
        let mut store = MockIdempotencyStore::new();
        store.expect_insert().returning(|_| Ok(false));
        let record = existing(&body, Some(created()));
        store
            .expect_find()
            .with(eq(caller().tenant().clone()), eq(key()))
            .returning(move |_, _| Ok(Some(record.clone())));
        store.expect_take_over().never();
        match guard(store)
            .admit(
                caller().permit(Permission::Create).unwrap(),
                key(),
                OPERATION,
                &body,
            )
            .await
        {
            Ok(Admission::Replay(response)) => assert_eq!(response, created()),
            other => panic!("expected a replay, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn another_body_or_operation_under_the_key_is_refused() {
        for (operation, body) in [
            (OPERATION, obj(json!({"name": "a much longer name"}))),
            (
                "PUT /api/v1/services/1/credentials",
                obj(json!({"name": "x"})),
            ),
        ] {
            let mut store = MockIdempotencyStore::new();
            store.expect_insert().returning(|_| Ok(false));
            let record = existing(&obj(json!({"name": "x"})), Some(created()));
            store
                .expect_find()
                .returning(move |_, _| Ok(Some(record.clone())));
            let outcome = guard(store)
                .admit(
                    caller().permit(Permission::Create).unwrap(),
                    key(),
                    operation,
                    &body,
                )
                .await;
            assert!(
                matches!(outcome, Err(UseCaseError::IdempotencyKeyReused)),
                "{outcome:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_digest_under_a_retired_master_key_is_never_replayed() {
        let body = obj(json!({"name": "x"}));
        let mut store = MockIdempotencyStore::new();
        store.expect_insert().returning(|_| Ok(false));
        let mut record = existing(&body, Some(created()));
        record.fingerprint_key = "retired".to_owned();
        store
            .expect_find()
            .returning(move |_, _| Ok(Some(record.clone())));
        let outcome = guard(store)
            .admit(
                caller().permit(Permission::Create).unwrap(),
                key(),
                OPERATION,
                &body,
            )
            .await;
        assert!(matches!(outcome, Err(UseCaseError::IdempotencyKeyReused)));
    }

    #[tokio::test]
    async fn a_running_first_request_makes_the_key_busy() {
        let body = obj(json!({"name": "x"}));
        let mut store = MockIdempotencyStore::new();
        store.expect_insert().returning(|_| Ok(false));
        let record = existing(&body, None);
        store
            .expect_find()
            .returning(move |_, _| Ok(Some(record.clone())));
        let outcome = guard(store)
            .admit(
                caller().permit(Permission::Create).unwrap(),
                key(),
                OPERATION,
                &body,
            )
            .await;
        assert!(matches!(outcome, Err(UseCaseError::IdempotencyKeyInUse)));
    }

    #[tokio::test]
    async fn an_expired_key_or_an_ended_lease_is_taken_over() {
        let body = obj(json!({"name": "x"}));
        let mut expired = existing(&obj(json!({"other": true})), Some(created()));
        expired.expires_at = now();
        let mut abandoned = existing(&body, None);
        abandoned.locked_until = now() - Duration::seconds(1);
        for record in [expired, abandoned] {
            let previous = record.claim;
            let mut store = MockIdempotencyStore::new();
            store.expect_insert().returning(|_| Ok(false));
            store
                .expect_find()
                .returning(move |_, _| Ok(Some(record.clone())));
            store
                .expect_take_over()
                .withf(move |claim, at, new| {
                    *claim == previous && *at == now() && new.claim != previous
                })
                .times(1)
                .returning(|_, _, _| Ok(true));
            let admission = guard(store)
                .admit(
                    caller().permit(Permission::Create).unwrap(),
                    key(),
                    OPERATION,
                    &body,
                )
                .await
                .unwrap();
            assert!(matches!(admission, Admission::Proceed(_)));
        }
    }

    #[test]
    fn the_lease_outlasts_a_slow_store() {
        let slow = IdempotencyGuard::new(
            Arc::new(MockIdempotencyStore::new()),
            Arc::new(MockCredentialCipher::new()),
            Arc::new(MockClock::new()),
            Arc::new(MockIdGenerator::new()),
            std::time::Duration::from_secs(30),
        );
        assert_eq!(slow.lease, Duration::seconds(300));
        assert_eq!(guard(MockIdempotencyStore::new()).lease, MIN_CLAIM_LEASE);
    }

    #[tokio::test]
    async fn a_key_released_between_insert_and_find_is_claimed_again() {
        let mut store = MockIdempotencyStore::new();
        let mut inserts = 0;
        store.expect_insert().times(2).returning(move |_| {
            inserts += 1;
            Ok(inserts == 2)
        });
        store.expect_find().times(1).returning(|_, _| Ok(None));
        let admission = guard(store)
            .admit(
                caller().permit(Permission::Create).unwrap(),
                key(),
                OPERATION,
                &obj(json!({})),
            )
            .await
            .unwrap();
        assert!(matches!(admission, Admission::Proceed(_)));
    }

    #[tokio::test]
    async fn a_store_outage_is_unavailable() {
        let mut store = MockIdempotencyStore::new();
        store
            .expect_insert()
            .returning(|_| Err(RepositoryError::Unavailable));
        let outcome = guard(store)
            .admit(
                caller().permit(Permission::Create).unwrap(),
                key(),
                OPERATION,
                &obj(json!({})),
            )
            .await;
        assert!(matches!(outcome, Err(UseCaseError::Unavailable)));
    }

    #[tokio::test]
    async fn complete_and_release_name_the_claim() {
        let mut store = MockIdempotencyStore::new();
        store.expect_insert().returning(|_| Ok(true));
        store
            .expect_complete()
            .withf(|_, k, _, response, expires| {
                *k == key() && response.status == 201 && *expires == now() + KEY_LIFETIME
            })
            .times(1)
            .returning(|_, _, _, _, _| Ok(true));
        store.expect_release().times(1).returning(|_, _, _| Ok(()));
        let guard = guard(store);
        let Admission::Proceed(claim) = guard
            .admit(
                caller().permit(Permission::Create).unwrap(),
                key(),
                OPERATION,
                &obj(json!({})),
            )
            .await
            .unwrap()
        else {
            panic!("expected a claim")
        };
        guard.complete(&claim, &created()).await.unwrap();
        let Admission::Proceed(claim) = guard
            .admit(
                caller().permit(Permission::Create).unwrap(),
                key(),
                OPERATION,
                &obj(json!({})),
            )
            .await
            .unwrap()
        else {
            panic!("expected a claim")
        };
        guard.release(claim).await.unwrap();
    }
}
