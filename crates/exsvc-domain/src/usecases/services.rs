use std::sync::Arc;

use serde_json::{Map, Value};

use crate::audit::{AuditAction, AuditEvent, AuditOutcome};
use crate::pagination::{Cursor, CursorKey, ListQuery, Page, RawListParams};
use crate::ports::{Clock, CredentialCipher, IdGenerator, RepositoryError, ServiceRepository};
use crate::principal::{Permission, Principal};
use crate::service::CredentialSummary;
use crate::service::{
    apply_merge_patch, check_field_names, Service, ServiceId, ServiceSpec, UrlPolicy,
};
use crate::usecases::credentials::{seal, CredentialInput};
use crate::usecases::plain_store_error;
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
    settings: CatalogSettings,
}

impl ServiceCatalog {
    pub fn new(
        repository: Arc<dyn ServiceRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        cipher: Arc<dyn CredentialCipher>,
        settings: CatalogSettings,
    ) -> Self {
        Self {
            repository,
            clock,
            ids,
            cipher,
            settings,
        }
    }

    /// Registers a service from a request body.
    ///
    /// # Errors
    /// `Forbidden` without `external-service:create`; `Validation` for a bad body;
    /// `AlreadyExists` when the tenant has a service of that name in any case.
    pub async fn create(
        &self,
        principal: &Principal,
        body: &Map<String, Value>,
    ) -> Result<Service, UseCaseError> {
        principal.require(Permission::Create)?;
        // `auth_type` + `credentials` may come along: the first credential version,
        // stored in the same transaction.
        let mut fields = body.clone();
        let mut credential_fields = Map::new();
        for key in ["auth_type", "credentials"] {
            if let Some(value) = fields.remove(key) {
                credential_fields.insert(key.to_owned(), value);
            }
        }
        let spec = ServiceSpec::from_document(&fields, self.settings.url_policy);
        let credential =
            (!credential_fields.is_empty()).then(|| CredentialInput::parse(&credential_fields));
        let (spec, credential) = match (spec, credential.transpose()) {
            (Ok(spec), Ok(credential)) => (spec, credential),
            (spec, credential) => {
                let mut errors = spec.err().unwrap_or_default();
                for (field, reason) in credential.err().unwrap_or_default().iter() {
                    errors.add(field, reason);
                }
                return Err(errors.into());
            }
        };
        let now = self.clock.now();
        let id = self.ids.new_service_id();
        let record = credential
            .as_ref()
            .map(|input| seal(self.cipher.as_ref(), now, principal, id, 1, input))
            .transpose()?;
        let service = Service {
            id,
            tenant_id: principal.tenant().clone(),
            spec,
            credential: record.as_ref().map(|r| CredentialSummary {
                auth_type: r.auth_type,
                expires_at: r.expires_at,
            }),
            created_at: now,
            updated_at: now,
            version: 1,
        };
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
    /// `Forbidden` without `external-service:read`; `NotFound` when the caller's
    /// tenant has no service `raw_id`.
    pub async fn get(&self, principal: &Principal, raw_id: &str) -> Result<Service, UseCaseError> {
        principal.require(Permission::Read)?;
        self.find(principal, parse_id(raw_id)?).await
    }

    /// One page of the caller's services, newest first.
    ///
    /// # Errors
    /// `Forbidden` without `external-service:read`; `Validation` for bad
    /// parameters; `InvalidCursor` for a cursor not issued for this listing.
    pub async fn list(
        &self,
        principal: &Principal,
        params: &RawListParams<'_>,
    ) -> Result<Page<Service>, UseCaseError> {
        principal.require(Permission::Read)?;
        let query = ListQuery::parse(params, principal.tenant(), &self.settings.cursor_key)?;
        let mut items = self
            .repository
            .list(principal.tenant(), &query)
            .await
            .map_err(plain_store_error)?;
        let limit = usize::from(query.limit);
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| {
                let position = Cursor {
                    at: last.created_at,
                    id: last.id.as_uuid(),
                };
                query.filter.with_scope(principal.tenant(), |scope| {
                    position.encode(scope, &self.settings.cursor_key)
                })
            })
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Replaces every writable field (PUT): omitted optional fields take their
    /// defaults.
    ///
    /// # Errors
    /// `Forbidden`, `Validation`, `NotFound`, `AlreadyExists` (renamed onto another
    /// service's name), `PreconditionFailed` when `precondition` does not hold.
    pub async fn replace(
        &self,
        principal: &Principal,
        raw_id: &str,
        body: &Map<String, Value>,
        precondition: Option<Precondition>,
    ) -> Result<Service, UseCaseError> {
        principal.require(Permission::Update)?;
        let id = parse_id(raw_id)?;
        self.modify(principal, id, precondition, |current| {
            self.validate_change(body, current)
        })
        .await
    }

    /// Applies a JSON Merge Patch (RFC 7396) to the writable fields (PATCH).
    ///
    /// # Errors
    /// As `replace`; also `Validation` when the patch is not an object or names a
    /// read-only or unknown field.
    pub async fn patch(
        &self,
        principal: &Principal,
        raw_id: &str,
        patch: &Value,
        precondition: Option<Precondition>,
    ) -> Result<Service, UseCaseError> {
        principal.require(Permission::Update)?;
        let id = parse_id(raw_id)?;
        let Value::Object(members) = patch else {
            return Err(FieldErrors::single("body", "a merge patch must be a JSON object").into());
        };
        let field_errors = check_field_names(members);
        if !field_errors.is_empty() {
            return Err(field_errors.into());
        }
        self.modify(principal, id, precondition, |current| {
            let mut merged = current.spec.to_document();
            for (key, value) in members {
                let member = merged.entry(key.clone()).or_insert(Value::Null);
                apply_merge_patch(member, value);
                if member.is_null() {
                    merged.remove(key);
                }
            }
            self.validate_change(&merged, current)
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
        principal: &Principal,
        raw_id: &str,
        precondition: Option<Precondition>,
    ) -> Result<(), UseCaseError> {
        principal.require(Permission::Delete)?;
        let id = parse_id(raw_id)?;
        let expected_version = match precondition {
            None => None,
            Some(precondition) => {
                let current = self.find(principal, id).await?;
                if !precondition.matches(current.version) {
                    return Err(UseCaseError::PreconditionFailed);
                }
                Some(current.version)
            }
        };
        let audit = self.audit(principal, AuditAction::ServiceDelete, Some(id), None);
        self.repository
            .delete(principal.tenant(), id, expected_version, &audit)
            .await
            .map_err(|e| match e {
                RepositoryError::NotFound => UseCaseError::NotFound(id.to_string()),
                RepositoryError::VersionConflict => UseCaseError::PreconditionFailed,
                other => plain_store_error(other),
            })
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
        AuditEvent {
            id: self.ids.new_event_id(),
            occurred_at: self.clock.now(),
            tenant_id: principal.tenant().clone(),
            actor: principal.actor().to_owned(),
            action,
            service_id: service,
            credential_version,
            outcome: AuditOutcome::Success,
            request_id: principal.request_id().map(str::to_owned),
        }
    }

    async fn find(&self, principal: &Principal, id: ServiceId) -> Result<Service, UseCaseError> {
        self.repository
            .find(principal.tenant(), id)
            .await
            .map_err(plain_store_error)?
            .ok_or_else(|| UseCaseError::NotFound(id.to_string()))
    }

    /// Validates the new document of an existing service. A `base_url` the change
    /// leaves as it is stays acceptable even if the URL policy has since been
    /// tightened: only new URLs must follow the current policy.
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
    async fn modify(
        &self,
        principal: &Principal,
        id: ServiceId,
        precondition: Option<Precondition>,
        change: impl Fn(&Service) -> Result<ServiceSpec, UseCaseError>,
    ) -> Result<Service, UseCaseError> {
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let current = self.find(principal, id).await?;
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

fn parse_id(raw_id: &str) -> Result<ServiceId, UseCaseError> {
    ServiceId::parse(raw_id).ok_or_else(|| {
        // Echo what the client sent, bounded, so a huge path does not make a huge body.
        UseCaseError::NotFound(raw_id.chars().take(100).collect())
    })
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
mod tests;
