//! The credential vault's use cases: store, reveal, list and destroy the
//! credentials of a service, with every read and change in the audit trail.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::audit::{AuditAction, AuditEvent, AuditOutcome};
use crate::credential::{CredentialMeta, CredentialRecord, CredentialSecret};
use crate::pagination::parse_timestamp;
use crate::ports::{
    AuditLog, Clock, CredentialBinding, CredentialCipher, CredentialRepository, IdGenerator,
    RepositoryError, ServiceRepository, TokenBroker,
};
use crate::principal::{Permission, Permit, Principal};
use crate::service::{Service, ServiceId};
use crate::usecases::{audit_event, check_reach, find_reachable, plain_store_error};
use crate::validation::FieldErrors;
use crate::UseCaseError;

/// A racing writer took the version number: try the next one, this often.
const MAX_VERSION_ATTEMPTS: usize = 20;

/// What a key rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewrapReport {
    pub rewrapped: u64,
    pub already_current: u64,
    /// Versions that did not open with the keyring: (service, version).
    pub unreadable: Vec<(ServiceId, i64)>,
}

/// A validated `PUT …/credentials` body (or the credential part of a create).
#[derive(Debug, Clone)]
pub struct CredentialInput {
    pub secret: CredentialSecret,
    pub expires_at: Option<DateTime<Utc>>,
}

impl CredentialInput {
    /// `{"auth_type", "credentials", "expires_at"?}`; any other key is refused.
    ///
    /// # Errors
    /// Field errors naming each problem.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        // Not named: a key in the wrong place can itself be a secret
        // (docs/api.md §1.2), as inside `credentials`.
        if body
            .keys()
            .any(|key| !["auth_type", "credentials", "expires_at"].contains(&key.as_str()))
        {
            errors.add(
                "body",
                "has a key that is not a field of a credential (auth_type, credentials, expires_at)",
            );
        }
        let expires_at = match body.get("expires_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => parse_timestamp("expires_at", Some(text), &mut errors),
            Some(_) => {
                errors.add("expires_at", "must be an RFC 3339 timestamp");
                None
            }
        };
        let auth_type = body.get("auth_type").cloned().unwrap_or(Value::Null);
        let credentials = body.get("credentials").cloned().unwrap_or(Value::Null);
        let secret = CredentialSecret::parse(&auth_type, &credentials);
        match secret {
            Ok(secret) if errors.is_empty() => Ok(Self { secret, expires_at }),
            Ok(_) => Err(errors),
            Err(more) => {
                for (field, reason) in more.iter() {
                    errors.add(field, reason);
                }
                Err(errors)
            }
        }
    }
}

/// The permit to reveal a credential, made only by
/// `CredentialVault::permit_reveal`: the one way to a secret goes through the
/// step that records a refusal as `denied`.
#[derive(Debug)]
pub struct RevealPermit<'p>(Permit<'p>);

/// A revealed credential: the one value in the system that holds a plaintext.
#[derive(Debug)]
pub struct RevealedCredential {
    pub service: Service,
    pub record: CredentialRecord,
    pub secret: CredentialSecret,
    pub retrieved_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct CredentialVault {
    services: Arc<dyn ServiceRepository>,
    credentials: Arc<dyn CredentialRepository>,
    audit: Arc<dyn AuditLog>,
    cipher: Arc<dyn CredentialCipher>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    /// Told of every new version and delete: tokens issued for an earlier
    /// credential are dropped.
    tokens: Arc<dyn TokenBroker>,
    /// `EXSVC_CREDENTIAL_MAX_VERSIONS`: versions kept per service.
    /// Earlier versions kept beside the current one.
    max_earlier_versions: usize,
}

/// The `version` query parameter of a credential read.
///
/// # Errors
/// A `version` field error unless it is a positive integer.
pub fn parse_version(raw: &str) -> Result<i64, FieldErrors> {
    raw.parse::<i64>()
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| FieldErrors::single("version", "must be a positive integer"))
}

/// Seals `input` as version `version` of `service`, created `now`.
pub(crate) fn seal(
    cipher: &dyn CredentialCipher,
    now: DateTime<Utc>,
    principal: &Principal,
    service: ServiceId,
    version: i64,
    input: &CredentialInput,
) -> Result<CredentialRecord, UseCaseError> {
    let binding = CredentialBinding {
        tenant: principal.tenant().clone(),
        service,
        version,
    };
    let ciphertext = cipher
        .encrypt(input.secret.plaintext(), &binding)
        .map_err(|e| UseCaseError::Internal(Box::new(e)))?;
    Ok(CredentialRecord {
        tenant_id: principal.tenant().clone(),
        service_id: service,
        version,
        auth_type: input.secret.auth_type(),
        ciphertext,
        created_at: now,
        expires_at: input.expires_at,
    })
}

/// Why a stored credential could not be opened: names the service, never the secret.
#[derive(Debug, thiserror::Error)]
#[error("credential version {version} of service {service} cannot be decrypted: {reason}")]
struct Unreadable {
    service: ServiceId,
    version: i64,
    reason: String,
}

/// Decrypts a stored version: the one way from a ciphertext to a secret.
///
/// # Errors
/// `Internal` naming the service and version when the ciphertext does not
/// open with the keyring or is not a credential.
pub(crate) fn open_secret(
    cipher: &dyn CredentialCipher,
    record: &CredentialRecord,
) -> Result<CredentialSecret, UseCaseError> {
    let unreadable = |reason: String| {
        UseCaseError::Internal(Box::new(Unreadable {
            service: record.service_id,
            version: record.version,
            reason,
        }))
    };
    let binding = CredentialBinding {
        tenant: record.tenant_id.clone(),
        service: record.service_id,
        version: record.version,
    };
    let plaintext = cipher
        .decrypt(&record.ciphertext, &binding)
        .map_err(|e| unreadable(e.to_string()))?;
    CredentialSecret::from_plaintext(record.auth_type, plaintext)
        .map_err(|reason| unreadable(reason.into()))
}

/// The ports through which a secret is reached: shared by the reveal and by
/// the uses of a credential (`usage.rs`), which differ only in the audit
/// action they record.
pub(crate) struct SecretPorts<'a> {
    pub services: &'a dyn ServiceRepository,
    pub credentials: &'a dyn CredentialRepository,
    pub cipher: &'a dyn CredentialCipher,
    pub audit: &'a dyn AuditLog,
    pub clock: &'a dyn Clock,
    pub ids: &'a dyn IdGenerator,
}

impl SecretPorts<'_> {
    /// The service `id` and its credential `version` (the current one for
    /// `None`), opened, for a caller whose permit reaches the service. When a
    /// grant covers the service but does not allow the permission, the
    /// refusal is recorded as `action` `denied` before it is returned.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`, `CredentialsNotFound`, store and cipher errors.
    pub async fn open(
        &self,
        permit: &Permit<'_>,
        action: AuditAction,
        id: ServiceId,
        version: Option<i64>,
    ) -> Result<(Service, CredentialRecord, CredentialSecret), UseCaseError> {
        let principal = permit.principal();
        let service = match find_reachable(self.services, permit, id).await {
            Err(refusal @ UseCaseError::Forbidden(_)) => {
                self.record_denied(principal, action, Some(id)).await;
                return Err(refusal);
            }
            other => other?,
        };
        let record = self
            .credentials
            .find(principal.tenant(), id, version)
            .await
            .map_err(plain_store_error)?
            .ok_or_else(|| UseCaseError::CredentialsNotFound(id.to_string()))?;
        let secret = open_secret(self.cipher, &record)?;
        Ok((service, record, secret))
    }

    /// Records a refused read or use as `denied`. The refusal stands whether
    /// or not it could be recorded; a gap in the trail must at least be
    /// visible in the log.
    pub async fn record_denied(
        &self,
        principal: &Principal,
        action: AuditAction,
        service: Option<ServiceId>,
    ) {
        let denied = audit_event(
            self.ids,
            self.clock,
            principal,
            action,
            service,
            None,
            AuditOutcome::Denied,
        );
        if let Err(error) = self.audit.record(&denied).await {
            tracing::warn!(%error, service = ?service, action = action.as_str(), "a refusal could not be recorded");
        }
    }
}

impl CredentialVault {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        services: Arc<dyn ServiceRepository>,
        credentials: Arc<dyn CredentialRepository>,
        audit: Arc<dyn AuditLog>,
        cipher: Arc<dyn CredentialCipher>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        tokens: Arc<dyn TokenBroker>,
        max_earlier_versions: usize,
    ) -> Self {
        Self {
            services,
            credentials,
            audit,
            cipher,
            clock,
            ids,
            tokens,
            max_earlier_versions,
        }
    }

    fn event(
        &self,
        principal: &Principal,
        action: AuditAction,
        service: Option<ServiceId>,
        version: Option<i64>,
        outcome: AuditOutcome,
    ) -> AuditEvent {
        audit_event(
            self.ids.as_ref(),
            self.clock.as_ref(),
            principal,
            action,
            service,
            version,
            outcome,
        )
    }

    /// Stores a new current version. Returns its metadata and whether it is the
    /// service's first credential (201 rather than 200).
    ///
    /// # Errors
    /// `Forbidden` without a permit of `external-service:update`, `NotFound`.
    pub async fn put(
        &self,
        permit: Permit<'_>,
        id: ServiceId,
        input: CredentialInput,
    ) -> Result<(CredentialMeta, bool), UseCaseError> {
        let principal = permit.holder_of(Permission::Update)?;
        check_reach(self.services.as_ref(), &permit, id).await?;
        for _ in 0..MAX_VERSION_ATTEMPTS {
            let state = match self.credentials.version_state(principal.tenant(), id).await {
                Ok(state) => state,
                Err(RepositoryError::NotFound) => {
                    return Err(UseCaseError::NotFound(id.to_string()))
                }
                Err(e) => return Err(plain_store_error(e)),
            };
            // Numbers are never reused, also after a delete: an audit event's
            // version names one secret, and a ciphertext bound to an old number
            // can never open in a new row.
            let version = state.issued + 1;
            let record = seal(
                self.cipher.as_ref(),
                self.clock.now(),
                principal,
                id,
                version,
                &input,
            )?;
            let audit = self.event(
                principal,
                AuditAction::CredentialsWrite,
                Some(id),
                Some(version),
                AuditOutcome::Success,
            );
            match self
                .credentials
                .insert(&record, record.keep_from(self.max_earlier_versions), &audit)
                .await
            {
                Ok(()) => {
                    self.tokens.forget(principal.tenant(), id);
                    return Ok((CredentialMeta::from(&record), state.current.is_none()));
                }
                Err(RepositoryError::Duplicate) => continue,
                Err(RepositoryError::NotFound) => {
                    return Err(UseCaseError::NotFound(id.to_string()))
                }
                Err(e) => return Err(plain_store_error(e)),
            }
        }
        Err(UseCaseError::Unavailable)
    }

    /// The permit to reveal a credential of `service` (`None`: the path names
    /// no service), checked before anything else of the request. A caller
    /// without `external-service:credentials` is refused and the refusal
    /// recorded as `denied`.
    ///
    /// # Errors
    /// `Forbidden`.
    pub async fn permit_reveal<'p>(
        &self,
        principal: &'p Principal,
        service: Option<ServiceId>,
    ) -> Result<RevealPermit<'p>, UseCaseError> {
        let refusal = match principal.permit(Permission::Credentials) {
            Ok(permit) => return Ok(RevealPermit(permit)),
            Err(refusal) => refusal,
        };
        self.secrets()
            .record_denied(principal, AuditAction::CredentialsRead, service)
            .await;
        Err(refusal)
    }

    fn secrets(&self) -> SecretPorts<'_> {
        SecretPorts {
            services: self.services.as_ref(),
            credentials: self.credentials.as_ref(),
            cipher: self.cipher.as_ref(),
            audit: self.audit.as_ref(),
            clock: self.clock.as_ref(),
            ids: self.ids.as_ref(),
        }
    }

    /// Reveals the current version, or `version`. The read is recorded before the
    /// secret is returned; if it cannot be recorded the secret is not returned.
    ///
    /// # Errors
    /// `Forbidden` without a permit of `external-service:credentials`,
    /// `NotFound`, `CredentialsNotFound`, `Unavailable` (the audit trail cannot
    /// be written), `Internal` (the ciphertext does not open).
    pub async fn reveal(
        &self,
        permit: RevealPermit<'_>,
        id: ServiceId,
        version: Option<i64>,
    ) -> Result<RevealedCredential, UseCaseError> {
        let principal = permit.0.holder_of(Permission::Credentials)?;
        let (service, record, secret) = self
            .secrets()
            .open(&permit.0, AuditAction::CredentialsRead, id, version)
            .await?;
        let read = self.event(
            principal,
            AuditAction::CredentialsRead,
            Some(id),
            Some(record.version),
            AuditOutcome::Success,
        );
        self.audit.record(&read).await.map_err(|error| {
            tracing::warn!(%error, service = %id, "a credential read could not be recorded; the secret is withheld");
            UseCaseError::Unavailable
        })?;
        Ok(RevealedCredential {
            service,
            record,
            secret,
            retrieved_at: self.clock.now(),
        })
    }

    /// Every kept version, newest first; never a secret.
    ///
    /// # Errors
    /// `Forbidden` without `external-service:read`, `NotFound` for an unknown
    /// service. A service without a credential has an empty list.
    pub async fn versions(
        &self,
        permit: Permit<'_>,
        id: ServiceId,
    ) -> Result<Vec<CredentialMeta>, UseCaseError> {
        let principal = permit.holder_of(Permission::Read)?;
        find_reachable(self.services.as_ref(), &permit, id).await?;
        // A service without a credential has no versions: an empty list, the
        // answer a client expects of an existing resource (docs/api.md §2).
        self.credentials
            .versions(principal.tenant(), id)
            .await
            .map_err(plain_store_error)
    }

    /// Destroys every version. With none to destroy the outcome already holds:
    /// `Ok`, and nothing is written (no audit event, as for a change that
    /// changes nothing), so a client can repeat the call safely.
    ///
    /// # Errors
    /// `Forbidden` without `external-service:update`, `NotFound`.
    pub async fn delete(&self, permit: Permit<'_>, id: ServiceId) -> Result<(), UseCaseError> {
        let principal = permit.holder_of(Permission::Update)?;
        check_reach(self.services.as_ref(), &permit, id).await?;
        match self.credentials.version_state(principal.tenant(), id).await {
            Ok(state) if state.current.is_some() => {}
            Ok(_) => return Ok(()),
            Err(RepositoryError::NotFound) => return Err(UseCaseError::NotFound(id.to_string())),
            Err(e) => return Err(plain_store_error(e)),
        }
        let audit = self.event(
            principal,
            AuditAction::CredentialsDelete,
            Some(id),
            None,
            AuditOutcome::Success,
        );
        match self
            .credentials
            .delete_all(principal.tenant(), id, &audit)
            .await
        {
            Ok(_) => {
                self.tokens.forget(principal.tenant(), id);
                Ok(())
            }
            Err(RepositoryError::NotFound) => Err(UseCaseError::NotFound(id.to_string())),
            Err(e) => Err(plain_store_error(e)),
        }
    }

    /// Re-encrypts every data key under the keyring's first master key, in
    /// batches, while the service runs (a concurrent change of a version wins).
    /// A version that does not open is skipped and reported, so one bad row does
    /// not hide how far the rotation got.
    ///
    /// # Errors
    /// Store errors only.
    pub async fn rewrap_all(&self, batch_size: usize) -> Result<RewrapReport, UseCaseError> {
        let mut after = None;
        let mut report = RewrapReport::default();
        loop {
            let batch = self
                .credentials
                .batch(after, batch_size)
                .await
                .map_err(plain_store_error)?;
            let Some(last) = batch.last() else {
                return Ok(report);
            };
            after = Some((last.service_id, last.version));
            for record in &batch {
                let binding = CredentialBinding {
                    tenant: record.tenant_id.clone(),
                    service: record.service_id,
                    version: record.version,
                };
                match self.cipher.rewrap(&record.ciphertext, &binding) {
                    Ok(Some(bytes)) => {
                        if self
                            .credentials
                            .replace_ciphertext(record, &bytes)
                            .await
                            .map_err(plain_store_error)?
                        {
                            report.rewrapped += 1;
                        }
                    }
                    Ok(None) => report.already_current += 1,
                    Err(_) => report.unreadable.push((record.service_id, record.version)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{DateTime, Utc};
    use serde_json::json;
    use uuid::Uuid;
    use zeroize::Zeroizing;

    use super::*;
    use crate::credential::AuthType;
    use crate::ports::{
        MockAuditLog, MockClock, MockCredentialCipher, MockCredentialRepository, MockIdGenerator,
        MockServiceRepository,
    };
    use crate::principal::TenantId;
    use crate::service::{ServiceSpec, UrlPolicy};

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).unwrap()
    }

    #[test]
    fn a_misplaced_key_is_refused_without_its_name() {
        let body = json!({"auth_type": "bearer", "credentials": {"token": "x"}, "CANARY-7f3a": 1});
        let errors = CredentialInput::parse(body.as_object().unwrap()).unwrap_err();
        assert!(errors.get("body").is_some(), "{errors:?}");
        assert!(!format!("{errors:?}").contains("CANARY"), "{errors:?}");
    }

    fn principal(permissions: &[Permission]) -> Principal {
        Principal::new(
            TenantId::parse("acme").unwrap(),
            "alice",
            permissions.iter().copied(),
        )
        .with_request_id("req-9")
    }

    fn service(id: ServiceId) -> Service {
        let doc =
            json!({"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com"});
        Service {
            id,
            tenant_id: TenantId::parse("acme").unwrap(),
            spec: ServiceSpec::from_document(doc.as_object().unwrap(), UrlPolicy::default())
                .unwrap(),
            credential: None,
            created_at: t0(),
            updated_at: t0(),
            version: 1,
        }
    }

    fn record(id: ServiceId) -> CredentialRecord {
        CredentialRecord {
            tenant_id: TenantId::parse("acme").unwrap(),
            service_id: id,
            version: 1,
            auth_type: AuthType::Bearer,
            ciphertext: b"sealed".to_vec(),
            created_at: t0(),
            expires_at: None,
        }
    }

    fn vault(
        services: MockServiceRepository,
        credentials: MockCredentialRepository,
        audit: MockAuditLog,
    ) -> CredentialVault {
        let mut clock = MockClock::new();
        clock.expect_now().returning(t0);
        let mut ids = MockIdGenerator::new();
        ids.expect_new_event_id().returning(Uuid::now_v7);
        let mut cipher = MockCredentialCipher::new();
        cipher
            .expect_decrypt()
            .returning(|_, _| Ok(Zeroizing::new(br#"{"token":"CANARY"}"#.to_vec())));
        CredentialVault::new(
            Arc::new(services),
            Arc::new(credentials),
            Arc::new(audit),
            Arc::new(cipher),
            Arc::new(clock),
            Arc::new(ids),
            Arc::new(crate::usecases::services::tests::forgetting_broker()),
            10,
        )
    }

    /// Each vault use case refuses a permit for another permission, before
    /// touching a store (the mocks have no expectations: any call panics).
    #[tokio::test]
    async fn each_use_case_requires_its_permit() {
        let v = vault(
            MockServiceRepository::new(),
            MockCredentialRepository::new(),
            MockAuditLog::new(),
        );
        let id = ServiceId::from_uuid(Uuid::now_v7());
        let reader = principal(&[Permission::Read]);
        let updater = principal(&[Permission::Update]);
        let read = || reader.permit(Permission::Read).unwrap();
        let update = || updater.permit(Permission::Update).unwrap();
        let input = CredentialInput::parse(
            json!({"auth_type": "bearer", "credentials": {"token": "x"}})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let forbidden = |r: Result<(), UseCaseError>, p: Permission| match r {
            Err(UseCaseError::Forbidden(got)) => assert_eq!(got, p),
            other => panic!("expected Forbidden({p}), got {other:?}"),
        };
        forbidden(v.put(read(), id, input).await.map(drop), Permission::Update);
        forbidden(v.delete(read(), id).await, Permission::Update);
        forbidden(v.versions(update(), id).await.map(drop), Permission::Read);
        forbidden(
            v.reveal(RevealPermit(update()), id, None).await.map(drop),
            Permission::Credentials,
        );
    }

    #[tokio::test]
    async fn a_refused_read_is_recorded_as_denied_and_reveals_nothing() {
        let id = ServiceId::from_uuid(Uuid::now_v7());
        let mut audit = MockAuditLog::new();
        audit
            .expect_record()
            .withf(move |e| {
                e.outcome == AuditOutcome::Denied
                    && e.action == AuditAction::CredentialsRead
                    && e.service_id == Some(id)
                    && e.request_id.as_deref() == Some("req-9")
            })
            .times(1)
            .returning(|_| Ok(()));
        // No store call may happen: the mocks have no other expectations.
        let v = vault(
            MockServiceRepository::new(),
            MockCredentialRepository::new(),
            audit,
        );
        let err = v
            .permit_reveal(&principal(&[Permission::Read]), Some(id))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            UseCaseError::Forbidden(Permission::Credentials)
        ));
    }

    #[tokio::test]
    async fn no_secret_without_a_recorded_read() {
        let id = ServiceId::from_uuid(Uuid::now_v7());
        let mut services = MockServiceRepository::new();
        services
            .expect_find()
            .returning(move |_, _| Ok(Some(service(id))));
        let mut credentials = MockCredentialRepository::new();
        credentials
            .expect_find()
            .returning(move |_, _, _| Ok(Some(record(id))));
        let mut audit = MockAuditLog::new();
        audit
            .expect_record()
            .times(1)
            .returning(|_| Err(RepositoryError::Unavailable));
        let v = vault(services, credentials, audit);
        let err = v
            .reveal(
                RevealPermit(
                    principal(&[Permission::Credentials])
                        .permit(Permission::Credentials)
                        .unwrap(),
                ),
                id,
                None,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, UseCaseError::Unavailable),
            "503, and the secret stays in the vault"
        );
    }

    #[tokio::test]
    async fn a_recorded_read_reveals_the_secret() {
        let id = ServiceId::from_uuid(Uuid::now_v7());
        let mut services = MockServiceRepository::new();
        services
            .expect_find()
            .returning(move |_, _| Ok(Some(service(id))));
        let mut credentials = MockCredentialRepository::new();
        credentials
            .expect_find()
            .returning(move |_, _, _| Ok(Some(record(id))));
        let mut audit = MockAuditLog::new();
        audit
            .expect_record()
            .withf(|e| e.outcome == AuditOutcome::Success && e.credential_version == Some(1))
            .times(1)
            .returning(|_| Ok(()));
        let v = vault(services, credentials, audit);
        let revealed = v
            .reveal(
                RevealPermit(
                    principal(&[Permission::Credentials])
                        .permit(Permission::Credentials)
                        .unwrap(),
                ),
                id,
                None,
            )
            .await
            .unwrap();
        assert_eq!(revealed.secret.expose(), json!({"token": "CANARY"}));
        assert!(
            !format!("{revealed:?}").contains("CANARY"),
            "Debug never shows the secret"
        );
    }
}
