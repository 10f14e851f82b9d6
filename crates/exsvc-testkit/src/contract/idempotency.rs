//! The idempotency port: a key is claimed once per tenant; only its holder
//! completes or releases it; it is taken over only once expired or past its
//! lease; expired keys are purged.

use super::fixtures::*;
use chrono::SubsecRound;
use chrono::{DateTime, Duration, Utc};
use exsvc_domain::idempotency::{IdempotencyKey, IdempotencyRecord, StoredResponse};
use uuid::Uuid;

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

contract_cases! {
    idempotency => __exsvc_contract_idempotency;

    async fn idempotency_keys_are_claimed_once_per_tenant(stores) {
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

    async fn idempotency_claims_guard_complete_release_and_takeover(stores) {
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

    async fn idempotency_keys_expire(stores) {
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
}
