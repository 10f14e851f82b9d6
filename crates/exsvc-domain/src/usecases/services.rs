use std::sync::Arc;

use serde_json::{Map, Value};

use crate::audit::{AuditAction, AuditEvent, AuditOutcome};
use crate::pagination::{Cursor, CursorKey, Page, Scoped, ServiceListRequest};
use crate::ports::{
    Clock, CredentialCipher, IdGenerator, RepositoryError, ServiceRepository, TokenBroker,
};
use crate::principal::{Permission, Permit, Principal};
use crate::service::CredentialSummary;
use crate::service::{Service, ServiceDocument, ServiceId, ServicePatch, ServiceSpec, UrlPolicy};
use crate::usecases::credentials::{seal, CredentialInput};
use crate::usecases::{audit_event, find_reachable, plain_store_error};
use crate::validation::FieldErrors;
use crate::UseCaseError;

/// How often an unconditional change is retried when another writer got there
/// first. Each round one writer wins, so this bounds the wait under heavy
/// contention on one service rather than any normal case.
const MAX_UPDATE_ATTEMPTS: usize = 100;

/// An `If-Match` condition: the change applies only while the stored version is
/// one of these (`Any` matches any existing service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    Any,
    Versions(Vec<i64>),
}

impl Precondition {
    pub fn matches(&self, version: i64) -> bool {
        match self {
            Precondition::Any => true,
            Precondition::Versions(versions) => versions.contains(&version),
        }
    }
}

/// A validated create body: the service and, when `auth_type` and
/// `credentials` come along, its first credential version (stored in the same
/// transaction).
#[derive(Debug, Clone)]
pub struct NewService {
    pub spec: ServiceSpec,
    pub credential: Option<CredentialInput>,
}

impl NewService {
    /// Every problem of the service's fields (under the deployment's URL
    /// `policy`) and of the credential, at once. The HTTP adapter calls it
    /// through `ServiceCatalog::parse_new`, which supplies the policy.
    ///
    /// # Errors
    /// The field errors.
    pub(crate) fn parse(
        mut fields: Map<String, Value>,
        policy: UrlPolicy,
    ) -> Result<Self, FieldErrors> {
        let mut credential_fields = Map::new();
        for key in ["auth_type", "credentials"] {
            if let Some(value) = fields.remove(key) {
                credential_fields.insert(key.to_owned(), value);
            }
        }
        let spec = ServiceSpec::from_document(&fields, policy);
        let credential =
            (!credential_fields.is_empty()).then(|| CredentialInput::parse(&credential_fields));
        match (spec, credential.transpose()) {
            (Ok(spec), Ok(credential)) => Ok(Self { spec, credential }),
            (spec, credential) => {
                let mut errors = spec.err().unwrap_or_default();
                for (field, reason) in credential.err().unwrap_or_default().iter() {
                    errors.add(field, reason);
                }
                Err(errors)
            }
        }
    }
}

/// What the service use cases are configured with.
#[derive(Debug, Clone)]
pub struct CatalogSettings {
    pub url_policy: UrlPolicy,
    pub cursor_key: CursorKey,
}

/// The service registry's use cases.
#[derive(Clone)]
pub struct ServiceCatalog {
    repository: Arc<dyn ServiceRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    /// Seals a credential given with a create.
    cipher: Arc<dyn CredentialCipher>,
    /// Told of every delete: tokens issued for its credentials are dropped.
    tokens: Arc<dyn TokenBroker>,
    settings: CatalogSettings,
}

impl ServiceCatalog {
    pub fn new(
        repository: Arc<dyn ServiceRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        cipher: Arc<dyn CredentialCipher>,
        tokens: Arc<dyn TokenBroker>,
        settings: CatalogSettings,
    ) -> Self {
        Self {
            repository,
            clock,
            ids,
            cipher,
            tokens,
            settings,
        }
    }

    /// A create body, validated under this deployment's URL policy.
    ///
    /// # Errors
    /// Every field error at once.
    pub fn parse_new(&self, body: Map<String, Value>) -> Result<NewService, FieldErrors> {
        NewService::parse(body, self.settings.url_policy)
    }

    /// Registers a service (`input` from `parse_new`).
    ///
    /// # Errors
    /// `Forbidden` without a permit of `external-service:create` that covers
    /// the new service; `AlreadyExists` when the tenant has a service of that name in any case.
    pub async fn create(
        &self,
        permit: Permit<'_>,
        input: NewService,
    ) -> Result<Service, UseCaseError> {
        let principal = permit.holder_of(Permission::Create)?;
        let NewService { spec, credential } = input;
        let now = self.clock.now();
        let id = self.ids.new_service_id();
        let mut service = Service {
            id,
            tenant_id: principal.tenant().clone(),
            spec,
            credential: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        // Only a grant that covers the service as it would be may create it;
        // decided before a credential is sealed for it.
        permit.check_new(&service)?;
        let record = credential
            .as_ref()
            .map(|input| seal(self.cipher.as_ref(), now, principal, id, 1, input))
            .transpose()?;
        service.credential = record.as_ref().map(|r| CredentialSummary {
            auth_type: r.auth_type,
            expires_at: r.expires_at,
        });
        let mut audit = vec![self.audit(principal, AuditAction::ServiceCreate, Some(id), None)];
        if let Some(record) = &record {
            audit.push(self.audit(
                principal,
                AuditAction::CredentialsWrite,
                Some(id),
                Some(record.version),
            ));
        }
        self.repository
            .insert(&service, record.as_ref(), &audit)
            .await
            .map_err(|e| store_error(e, &service))?;
        Ok(service)
    }

    /// # Errors
    /// `Forbidden` without a permit of `external-service:read`, or with one
    /// that does not reach a service the caller can see; `NotFound` when the
    /// caller's tenant has no service `id` or none of its grants covers it.
    pub async fn get(&self, permit: Permit<'_>, id: ServiceId) -> Result<Service, UseCaseError> {
        permit.holder_of(Permission::Read)?;
        find_reachable(self.repository.as_ref(), &permit, id).await
    }

    /// One page of the services the caller may read, newest first.
    ///
    /// # Errors
    /// `Forbidden` without a permit of `external-service:read`; `InvalidCursor`
    /// for a cursor not issued for this listing.
    pub async fn list(
        &self,
        permit: Permit<'_>,
        request: ServiceListRequest,
    ) -> Result<Page<Service>, UseCaseError> {
        let principal = permit.holder_of(Permission::Read)?;
        let tenant = principal.tenant();
        let query = request.open(tenant, &self.settings.cursor_key, permit.reach())?;
        let rows = self
            .repository
            .list(tenant, &query)
            .await
            .map_err(plain_store_error)?;
        Ok(Page::from_rows(rows, query.limit, |last| {
            let position = Cursor {
                at: last.created_at,
                id: last.id.as_uuid(),
            };
            query
                .filter
                .cursor_after(tenant, &self.settings.cursor_key, position)
        }))
    }

    /// Replaces every writable field (PUT): omitted optional fields take their
    /// defaults.
    ///
    /// # Errors
    /// `Forbidden`, `Validation`, `NotFound`, `AlreadyExists` (renamed onto another
    /// service's name), `PreconditionFailed` when `precondition` does not hold.
    pub async fn replace(
        &self,
        permit: Permit<'_>,
        id: ServiceId,
        document: ServiceDocument,
        precondition: Option<Precondition>,
    ) -> Result<Service, UseCaseError> {
        permit.holder_of(Permission::Update)?;
        self.modify(permit, id, precondition, |current| {
            self.validate_change(document.as_map(), current)
        })
        .await
    }

    /// Applies a JSON Merge Patch (RFC 7396) to the writable fields (PATCH).
    ///
    /// # Errors
    /// As `replace`; `Validation` names what the patched service breaks.
    pub async fn patch(
        &self,
        permit: Permit<'_>,
        id: ServiceId,
        patch: ServicePatch,
        precondition: Option<Precondition>,
    ) -> Result<Service, UseCaseError> {
        permit.holder_of(Permission::Update)?;
        self.modify(permit, id, precondition, |current| {
            self.validate_change(&patch.apply_to(&current.spec), current)
        })
        .await
    }

    /// Deletes a service.
    ///
    /// # Errors
    /// `Forbidden` without `external-service:delete`, `NotFound`,
    /// `PreconditionFailed`.
    pub async fn delete(
        &self,
        permit: Permit<'_>,
        id: ServiceId,
        precondition: Option<Precondition>,
    ) -> Result<(), UseCaseError> {
        let principal = permit.holder_of(Permission::Delete)?;
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            // A caller whose reach comes from bindings deletes the service it
            // was allowed to, not one changed meanwhile: the version it read
            // guards the delete, as an `If-Match` does.
            let expected_version = if precondition.is_none() && permit.is_tenant_wide() {
                None
            } else {
                let current = find_reachable(self.repository.as_ref(), &permit, id).await?;
                if let Some(precondition) = &precondition {
                    if !precondition.matches(current.version) {
                        return Err(UseCaseError::PreconditionFailed);
                    }
                }
                Some(current.version)
            };
            let audit = self.audit(principal, AuditAction::ServiceDelete, Some(id), None);
            match self
                .repository
                .delete(principal.tenant(), id, expected_version, &audit)
                .await
            {
                Ok(()) => {
                    // Its credentials are gone, and so are tokens issued for them.
                    self.tokens.forget(principal.tenant(), id);
                    return Ok(());
                }
                Err(RepositoryError::NotFound) => {
                    return Err(UseCaseError::NotFound(id.to_string()))
                }
                Err(RepositoryError::VersionConflict) if precondition.is_none() => continue,
                Err(RepositoryError::VersionConflict) => {
                    return Err(UseCaseError::PreconditionFailed)
                }
                Err(other) => return Err(plain_store_error(other)),
            }
        }
        Err(UseCaseError::Unavailable)
    }

    /// Whether the store answers now (readiness). Needs no permission.
    ///
    /// # Errors
    /// `Unavailable` when it does not answer in time, `Internal` when it fails.
    pub async fn check_store(&self) -> Result<(), UseCaseError> {
        self.repository.ping().await.map_err(plain_store_error)
    }

    /// A successful audit event of `principal` doing `action`.
    pub(crate) fn audit(
        &self,
        principal: &Principal,
        action: AuditAction,
        service: Option<ServiceId>,
        credential_version: Option<i64>,
    ) -> AuditEvent {
        audit_event(
            self.ids.as_ref(),
            self.clock.as_ref(),
            principal,
            action,
            service,
            credential_version,
            AuditOutcome::Success,
        )
    }

    /// Validates the new document of an existing service, every problem at
    /// once. A `base_url` the change leaves as it is stays acceptable even if
    /// the URL policy has since been tightened: only new URLs must follow it.
    fn validate_change(
        &self,
        doc: &Map<String, Value>,
        current: &Service,
    ) -> Result<ServiceSpec, UseCaseError> {
        let unchanged_url =
            doc.get("base_url").and_then(Value::as_str) == Some(current.spec.base_url.as_str());
        let policy = if unchanged_url {
            UrlPolicy { allow_http: true }
        } else {
            self.settings.url_policy
        };
        Ok(ServiceSpec::from_document(doc, policy)?)
    }

    /// Read, change, write back under the read version: an optimistic
    /// read-modify-write. A lost race is retried on the newer version, where the
    /// precondition is checked again: a stale `If-Match` then fails with 412, while
    /// `*` or no precondition re-applies the change, so no concurrent update is lost.
    /// The caller needs `update` on the service as it is and as it would
    /// become: nobody moves a service into or out of their reach.
    async fn modify(
        &self,
        permit: Permit<'_>,
        id: ServiceId,
        precondition: Option<Precondition>,
        change: impl Fn(&Service) -> Result<ServiceSpec, UseCaseError>,
    ) -> Result<Service, UseCaseError> {
        let principal = permit.principal();
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let current = find_reachable(self.repository.as_ref(), &permit, id).await?;
            // An invalid change is refused as such whatever `If-Match` says: a
            // 412 would send the client to re-read and resend the same bad body.
            let spec = change(&current)?;
            if let Some(precondition) = &precondition {
                if !precondition.matches(current.version) {
                    return Err(UseCaseError::PreconditionFailed);
                }
            }
            if spec == current.spec {
                // Nothing changes, so the version (and the ETag) stays.
                return Ok(current);
            }
            let updated = Service {
                spec,
                updated_at: self.clock.now().max(current.updated_at),
                version: current.version + 1,
                ..current.clone()
            };
            permit.check_new(&updated)?;
            let audit = self.audit(principal, AuditAction::ServiceUpdate, Some(id), None);
            match self
                .repository
                .update(&updated, current.version, &audit)
                .await
            {
                Ok(()) => return Ok(updated),
                Err(RepositoryError::VersionConflict) => continue,
                Err(e) => return Err(store_error(e, &updated)),
            }
        }
        Err(UseCaseError::Unavailable)
    }
}

/// Translates a store error of a write of `service`.
fn store_error(error: RepositoryError, service: &Service) -> UseCaseError {
    match error {
        RepositoryError::Duplicate => {
            UseCaseError::AlreadyExists(service.spec.name.as_str().to_owned())
        }
        RepositoryError::NotFound => UseCaseError::NotFound(service.id.to_string()),
        RepositoryError::VersionConflict => UseCaseError::PreconditionFailed,
        other => plain_store_error(other),
    }
}

#[cfg(test)]
#[path = "services_tests.rs"]
pub(crate) mod tests;
