use std::sync::Arc;

use serde_json::{Map, Value};

use crate::pagination::{Cursor, ListQuery, Page};
use crate::ports::{Clock, IdGenerator, RepositoryError, ServiceRepository};
use crate::principal::{Permission, Principal};
use crate::service::{
    apply_merge_patch, check_field_names, Service, ServiceId, ServiceSpec, UrlPolicy,
};
use crate::validation::FieldErrors;
use crate::ServiceError;

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

/// The service registry's use cases.
#[derive(Clone)]
pub struct ServiceCatalog {
    repository: Arc<dyn ServiceRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    url_policy: UrlPolicy,
}

impl ServiceCatalog {
    pub fn new(
        repository: Arc<dyn ServiceRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        url_policy: UrlPolicy,
    ) -> Self {
        Self {
            repository,
            clock,
            ids,
            url_policy,
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
    ) -> Result<Service, ServiceError> {
        principal.require(Permission::Create)?;
        let spec = ServiceSpec::from_document(body, self.url_policy)?;
        let now = self.clock.now();
        let service = Service {
            id: self.ids.new_service_id(),
            tenant_id: principal.tenant().clone(),
            spec,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        self.repository
            .insert(&service)
            .await
            .map_err(|e| store_error(e, &service))?;
        Ok(service)
    }

    /// # Errors
    /// `Forbidden` without `external-service:read`; `NotFound` when the caller's
    /// tenant has no service `raw_id`.
    pub async fn get(&self, principal: &Principal, raw_id: &str) -> Result<Service, ServiceError> {
        principal.require(Permission::Read)?;
        self.find(principal, raw_id).await
    }

    /// # Errors
    /// `Forbidden` without `external-service:read`.
    pub async fn list(
        &self,
        principal: &Principal,
        query: &ListQuery,
    ) -> Result<Page<Service>, ServiceError> {
        principal.require(Permission::Read)?;
        let mut items = self
            .repository
            .list(principal.tenant(), query)
            .await
            .map_err(plain_store_error)?;
        let limit = usize::from(query.limit);
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| Cursor {
                created_at: last.created_at,
                id: last.id,
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
    ) -> Result<Service, ServiceError> {
        principal.require(Permission::Update)?;
        let id = parse_id(raw_id)?;
        let spec = ServiceSpec::from_document(body, self.url_policy)?;
        self.modify(principal, id, precondition, |_| Ok(spec.clone()))
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
    ) -> Result<Service, ServiceError> {
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
            let mut doc = Value::Object(current.spec.to_document());
            apply_merge_patch(&mut doc, patch);
            match doc {
                Value::Object(doc) => Ok(ServiceSpec::from_document(&doc, self.url_policy)?),
                _ => Err(FieldErrors::single("body", "a merge patch must be a JSON object").into()),
            }
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
    ) -> Result<(), ServiceError> {
        principal.require(Permission::Delete)?;
        let id = parse_id(raw_id)?;
        let expected_version = match precondition {
            None => None,
            Some(precondition) => {
                let current = self.find(principal, raw_id).await?;
                if !precondition.matches(current.version) {
                    return Err(ServiceError::PreconditionFailed);
                }
                Some(current.version)
            }
        };
        match self
            .repository
            .delete(principal.tenant(), id, expected_version)
            .await
        {
            Ok(()) => Ok(()),
            Err(RepositoryError::NotFound) => Err(ServiceError::NotFound(id.to_string())),
            Err(RepositoryError::VersionConflict) => Err(ServiceError::PreconditionFailed),
            Err(e) => Err(plain_store_error(e)),
        }
    }

    async fn find(&self, principal: &Principal, raw_id: &str) -> Result<Service, ServiceError> {
        let id = parse_id(raw_id)?;
        self.repository
            .find(principal.tenant(), id)
            .await
            .map_err(plain_store_error)?
            .ok_or_else(|| ServiceError::NotFound(id.to_string()))
    }

    /// Read, change, write back under the read version: an optimistic
    /// read-modify-write. With a precondition a lost race is 412 (the client's
    /// version is stale); without one the change is re-applied to the newer
    /// version, so no concurrent update is lost.
    async fn modify(
        &self,
        principal: &Principal,
        id: ServiceId,
        precondition: Option<Precondition>,
        change: impl Fn(&Service) -> Result<ServiceSpec, ServiceError>,
    ) -> Result<Service, ServiceError> {
        let raw_id = id.to_string();
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let current = self.find(principal, &raw_id).await?;
            if let Some(precondition) = &precondition {
                if !precondition.matches(current.version) {
                    return Err(ServiceError::PreconditionFailed);
                }
            }
            let spec = change(&current)?;
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
            match self.repository.update(&updated, current.version).await {
                Ok(()) => return Ok(updated),
                Err(RepositoryError::VersionConflict) if precondition.is_none() => continue,
                Err(e) => return Err(store_error(e, &updated)),
            }
        }
        Err(ServiceError::Unavailable)
    }
}

fn parse_id(raw_id: &str) -> Result<ServiceId, ServiceError> {
    ServiceId::parse(raw_id).ok_or_else(|| {
        // Echo what the client sent, bounded, so a huge path does not make a huge body.
        ServiceError::NotFound(raw_id.chars().take(100).collect())
    })
}

/// Translates a store error of a write of `service`.
fn store_error(error: RepositoryError, service: &Service) -> ServiceError {
    match error {
        RepositoryError::Duplicate => {
            ServiceError::AlreadyExists(service.spec.name.as_str().to_owned())
        }
        RepositoryError::NotFound => ServiceError::NotFound(service.id.to_string()),
        RepositoryError::VersionConflict => ServiceError::PreconditionFailed,
        other => plain_store_error(other),
    }
}

fn plain_store_error(error: RepositoryError) -> ServiceError {
    match error {
        RepositoryError::Unavailable => ServiceError::Unavailable,
        RepositoryError::Internal(source) => ServiceError::Internal(source),
        other => ServiceError::Internal(Box::new(other)),
    }
}

#[cfg(test)]
#[path = "services_tests.rs"]
mod tests;
