//! The credentials port: versions numbered once and pruned to the current and
//! one earlier, scoped to the tenant and the service, destroyed with either,
//! written atomically with a new service, batched for key rotation.

use super::fixtures::*;
use super::Stores;
use chrono::Duration;
use exsvc_domain::audit::AuditAction;
use exsvc_domain::credential::{AuthType, CredentialRecord};
use exsvc_domain::pagination::{ListQuery, RawListParams};
use exsvc_domain::ports::{RepositoryError, VersionState};
use exsvc_domain::Service;

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

contract_cases! {
    credentials => __exsvc_contract_credentials;

    async fn credentials_are_versioned_and_pruned(stores) {
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

    async fn credentials_are_tenant_scoped_and_need_a_service(stores) {
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

    async fn deleting_credentials_or_the_service_destroys_every_version(stores) {
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

    async fn a_service_created_with_a_credential_is_atomic(stores) {
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

    /// The stores once differed here: SQLite refused another service's first
    /// credential and took the summary from the credential; PostgreSQL stored
    /// whatever it was given.
    async fn a_create_takes_its_summary_from_its_own_credential_only(stores) {
        let s = service("t1", "Stripe", 0);
        let other = service("t1", "Other", 1);
        let foreign = credential(&other, 1, b"sealed");
        assert!(matches!(
            stores.services.insert(&s, Some(&foreign), &[]).await,
            Err(RepositoryError::Internal(_))
        ));
        assert_eq!(stores.services.find(&s.tenant_id, s.id).await.unwrap(), None);
        assert!(stores.credentials.batch(None, 100).await.unwrap().is_empty());
        // A summary the caller set without a credential is not stored.
        let mut claims_one = s.clone();
        claims_one.credential = Some(exsvc_domain::service::CredentialSummary {
            auth_type: AuthType::Bearer,
            expires_at: None,
        });
        stores.services.insert(&claims_one, None, &[]).await.unwrap();
        let stored = stores.services.find(&s.tenant_id, s.id).await.unwrap().unwrap();
        assert_eq!(stored.credential, None);
    }

    async fn rotation_batches_and_compare_and_swap(stores) {
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
}
