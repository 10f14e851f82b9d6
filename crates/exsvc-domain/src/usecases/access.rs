//! Managing roles and bindings, and the access review (docs/api.md §4.5–4.6).
//! Every use case here needs `external-service:access`, which only a token
//! grants (tenant-wide): a role cannot.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::access::{
    AccessDirectory, BindingFilter, NewRoleBinding, Role, RoleBinding, RoleFilter, RoleName,
    RoleSpec, SubjectType,
};
use crate::audit::{AuditAction, AuditEvent, AuditOutcome};
use crate::pagination::{parse_limit, Cursor, CursorKey, ListRequest, Page, Scoped};
use crate::ports::{
    AccessQuery, AccessRepository, Clock, IdGenerator, RepositoryError, SecretReader,
    ServiceRepository,
};
use crate::principal::{Permission, Permit, Principal, TenantId};
use crate::service::ServiceId;
use crate::usecases::{audit_event, find_reachable, plain_store_error, Precondition};
use crate::validation::FieldErrors;
use crate::UseCaseError;

/// How often a replacement is retried when another writer changed the role
/// first; each round one writer wins.
const MAX_REPLACE_ATTEMPTS: usize = 100;

/// How far back the access review counts reads.
pub const REVIEW_WINDOW_DAYS: i64 = 30;

/// The role a path's `{name}` names. Text that is no role name names no role:
/// 404, as for a name the tenant does not have.
///
/// # Errors
/// `RoleNotFound`, echoing the text (bounded).
pub fn role_name(raw: &str) -> Result<RoleName, UseCaseError> {
    RoleName::parse(raw).map_err(|_| UseCaseError::RoleNotFound(raw.chars().take(100).collect()))
}

/// The binding a path's `{id}` names (a UUID), else 404.
///
/// # Errors
/// `BindingNotFound`, echoing the text (bounded).
pub fn binding_id(raw: &str) -> Result<Uuid, UseCaseError> {
    Uuid::parse_str(raw).map_err(|_| UseCaseError::BindingNotFound(raw.chars().take(100).collect()))
}

/// The query parameters of the bindings listing, as sent.
#[derive(Debug, Clone, Default)]
pub struct RawBindingParams<'a> {
    pub limit: Option<&'a str>,
    pub cursor: Option<&'a str>,
    pub role: Option<&'a str>,
    pub subject_type: Option<&'a str>,
    pub subject_value: Option<&'a str>,
}

/// A request for a page of the tenant's roles.
pub type RoleListRequest = ListRequest<RoleFilter>;
/// A request for a page of the tenant's bindings.
pub type BindingListRequest = ListRequest<BindingFilter>;

impl RoleListRequest {
    /// # Errors
    /// `limit` out of range.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let limit = parse_limit(limit, &mut errors);
        errors.into_result(Self {
            limit,
            cursor: cursor.map(str::to_owned),
            filter: RoleFilter,
        })
    }
}

impl BindingListRequest {
    /// # Errors
    /// The field errors naming each bad parameter.
    pub fn parse(raw: &RawBindingParams<'_>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let limit = parse_limit(raw.limit, &mut errors);
        let role = raw
            .role
            .and_then(|r| RoleName::parse(r).map_err(|e| errors.add("role", e)).ok());
        let subject_type = raw.subject_type.and_then(|t| {
            SubjectType::parse(t).or_else(|| {
                errors.add("subject_type", "must be one of sub, client_id, role");
                None
            })
        });
        errors.into_result(Self {
            limit,
            cursor: raw.cursor.map(str::to_owned),
            filter: BindingFilter {
                role,
                subject_type,
                subject_value: raw.subject_value.map(str::to_owned),
            },
        })
    }
}

/// A binding whose role reaches a reviewed service.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewedBinding {
    pub binding: RoleBinding,
    /// The permissions the role grants, by name.
    pub permissions: Vec<Permission>,
}

/// Who can reach a service's secret, and who did (docs/api.md §4.6).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessReview {
    pub service_id: ServiceId,
    pub bindings: Vec<ReviewedBinding>,
    pub readers: Vec<SecretReader>,
}

/// The use cases of roles, bindings and the access review.
#[derive(Clone)]
pub struct AccessAdmin {
    repository: Arc<dyn AccessRepository>,
    services: Arc<dyn ServiceRepository>,
    directory: Arc<AccessDirectory>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    cursor_key: CursorKey,
}

impl AccessAdmin {
    pub fn new(
        repository: Arc<dyn AccessRepository>,
        services: Arc<dyn ServiceRepository>,
        directory: Arc<AccessDirectory>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        cursor_key: CursorKey,
    ) -> Self {
        Self {
            repository,
            services,
            directory,
            clock,
            ids,
            cursor_key,
        }
    }

    fn event(&self, principal: &Principal, action: AuditAction, details: Value) -> AuditEvent {
        let mut event = audit_event(
            self.ids.as_ref(),
            self.clock.as_ref(),
            principal,
            action,
            None,
            None,
            AuditOutcome::Success,
        );
        event.details = Some(details);
        event
    }

    /// The store's query of a listing of `tenant`, its cursor opened.
    fn open<F: Scoped>(
        &self,
        tenant: &TenantId,
        request: ListRequest<F>,
    ) -> Result<AccessQuery<F>, UseCaseError> {
        Ok(AccessQuery {
            limit: request.limit,
            after: request.open_cursor(tenant, &self.cursor_key)?,
            filter: request.filter,
        })
    }

    /// A page of the rows a store returned for `query`; `position` is a
    /// row's (created_at, id), the listings' order.
    fn page<T, F: Scoped>(
        &self,
        tenant: &TenantId,
        query: &AccessQuery<F>,
        rows: Vec<T>,
        position: impl Fn(&T) -> (DateTime<Utc>, Uuid),
    ) -> Page<T> {
        Page::from_rows(rows, query.limit, |last| {
            let (at, id) = position(last);
            query
                .filter
                .cursor_after(tenant, &self.cursor_key, Cursor { at, id })
        })
    }

    /// A change made here takes effect here at once; other replicas learn of
    /// it from the store (`AccessDirectory::poll`).
    fn changed(&self, principal: &Principal) {
        self.directory.forget(principal.tenant());
    }

    /// # Errors
    /// `Forbidden` without `external-service:access`; `RoleAlreadyExists`.
    pub async fn create_role(
        &self,
        permit: Permit<'_>,
        name: RoleName,
        spec: RoleSpec,
    ) -> Result<Role, UseCaseError> {
        let principal = permit.holder_of(Permission::Access)?;
        let now = self.clock.now();
        let role = Role {
            id: self.ids.new_event_id(),
            tenant_id: principal.tenant().clone(),
            name,
            spec,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let audit = self.event(
            principal,
            AuditAction::RoleCreate,
            json!({"role": role.name.as_str()}),
        );
        self.repository
            .insert_role(&role, &audit)
            .await
            .map_err(|e| match e {
                RepositoryError::Duplicate => {
                    UseCaseError::RoleAlreadyExists(role.name.to_string())
                }
                other => plain_store_error(other),
            })?;
        self.changed(principal);
        Ok(role)
    }

    /// # Errors
    /// `Forbidden`, `RoleNotFound`.
    pub async fn get_role(
        &self,
        permit: Permit<'_>,
        name: &RoleName,
    ) -> Result<Role, UseCaseError> {
        let principal = permit.holder_of(Permission::Access)?;
        self.find_role(principal, name).await
    }

    async fn find_role(
        &self,
        principal: &Principal,
        name: &RoleName,
    ) -> Result<Role, UseCaseError> {
        self.repository
            .find_role(principal.tenant(), name)
            .await
            .map_err(plain_store_error)?
            .ok_or_else(|| UseCaseError::RoleNotFound(name.to_string()))
    }

    /// # Errors
    /// `Forbidden`, `InvalidCursor`.
    pub async fn list_roles(
        &self,
        permit: Permit<'_>,
        request: RoleListRequest,
    ) -> Result<Page<Role>, UseCaseError> {
        let principal = permit.holder_of(Permission::Access)?;
        let tenant = principal.tenant();
        let query = self.open(tenant, request)?;
        let rows = self
            .repository
            .list_roles(tenant, &query)
            .await
            .map_err(plain_store_error)?;
        Ok(self.page(tenant, &query, rows, |r| (r.created_at, r.id)))
    }

    /// Replaces the role's description, permissions and selector (PUT).
    ///
    /// # Errors
    /// `Forbidden`, `RoleNotFound`, `PreconditionFailed`.
    pub async fn replace_role(
        &self,
        permit: Permit<'_>,
        name: &RoleName,
        spec: RoleSpec,
        precondition: Option<Precondition>,
    ) -> Result<Role, UseCaseError> {
        let principal = permit.holder_of(Permission::Access)?;
        for _ in 0..MAX_REPLACE_ATTEMPTS {
            let current = self.find_role(principal, name).await?;
            if let Some(precondition) = &precondition {
                if !precondition.matches(current.version) {
                    return Err(UseCaseError::PreconditionFailed);
                }
            }
            if current.spec == spec {
                return Ok(current);
            }
            let updated = Role {
                spec: spec.clone(),
                version: current.version + 1,
                updated_at: self.clock.now().max(current.updated_at),
                ..current.clone()
            };
            let audit = self.event(
                principal,
                AuditAction::RoleUpdate,
                json!({"role": name.as_str()}),
            );
            match self
                .repository
                .update_role(&updated, current.version, &audit)
                .await
            {
                Ok(()) => {
                    self.changed(principal);
                    return Ok(updated);
                }
                // Another writer won; `If-Match` is checked again on its version.
                Err(RepositoryError::VersionConflict) => continue,
                Err(RepositoryError::NotFound) => {
                    return Err(UseCaseError::RoleNotFound(name.to_string()))
                }
                Err(other) => return Err(plain_store_error(other)),
            }
        }
        Err(UseCaseError::Unavailable)
    }

    /// # Errors
    /// `Forbidden`, `RoleNotFound`, `PreconditionFailed`, `RoleInUse` while a
    /// binding names the role.
    pub async fn delete_role(
        &self,
        permit: Permit<'_>,
        name: &RoleName,
        precondition: Option<Precondition>,
    ) -> Result<(), UseCaseError> {
        let principal = permit.holder_of(Permission::Access)?;
        let expected_version = match &precondition {
            None => None,
            Some(precondition) => {
                let current = self.find_role(principal, name).await?;
                if !precondition.matches(current.version) {
                    return Err(UseCaseError::PreconditionFailed);
                }
                Some(current.version)
            }
        };
        let audit = self.event(
            principal,
            AuditAction::RoleDelete,
            json!({"role": name.as_str()}),
        );
        self.repository
            .delete_role(principal.tenant(), name, expected_version, &audit)
            .await
            .map_err(|e| match e {
                RepositoryError::NotFound => UseCaseError::RoleNotFound(name.to_string()),
                RepositoryError::VersionConflict => UseCaseError::PreconditionFailed,
                RepositoryError::InUse => UseCaseError::RoleInUse(name.to_string()),
                other => plain_store_error(other),
            })?;
        self.changed(principal);
        Ok(())
    }

    /// # Errors
    /// `Forbidden`; `Validation` naming `role` when the tenant has no such
    /// role, or `expires_at` when it is not in the future.
    pub async fn create_binding(
        &self,
        permit: Permit<'_>,
        input: NewRoleBinding,
    ) -> Result<RoleBinding, UseCaseError> {
        let principal = permit.holder_of(Permission::Access)?;
        let now = self.clock.now();
        if input.expires_at.is_some_and(|at| at <= now) {
            return Err(FieldErrors::single("expires_at", "must be in the future").into());
        }
        let binding = RoleBinding {
            id: self.ids.new_event_id(),
            tenant_id: principal.tenant().clone(),
            role: input.role,
            subject: input.subject,
            expires_at: input.expires_at,
            created_at: now,
            created_by: principal.actor().to_owned(),
        };
        let audit = self.event(
            principal,
            AuditAction::RoleBindingCreate,
            binding_details(&binding),
        );
        self.repository
            .insert_binding(&binding, &audit)
            .await
            .map_err(|e| match e {
                RepositoryError::NotFound => UseCaseError::Validation(FieldErrors::single(
                    "role",
                    "names no role of this tenant",
                )),
                other => plain_store_error(other),
            })?;
        self.changed(principal);
        Ok(binding)
    }

    /// # Errors
    /// `Forbidden`, `BindingNotFound`.
    pub async fn get_binding(
        &self,
        permit: Permit<'_>,
        id: Uuid,
    ) -> Result<RoleBinding, UseCaseError> {
        let principal = permit.holder_of(Permission::Access)?;
        self.repository
            .find_binding(principal.tenant(), id)
            .await
            .map_err(plain_store_error)?
            .ok_or_else(|| UseCaseError::BindingNotFound(id.to_string()))
    }

    /// # Errors
    /// `Forbidden`, `InvalidCursor`.
    pub async fn list_bindings(
        &self,
        permit: Permit<'_>,
        request: BindingListRequest,
    ) -> Result<Page<RoleBinding>, UseCaseError> {
        let principal = permit.holder_of(Permission::Access)?;
        let tenant = principal.tenant();
        let query = self.open(tenant, request)?;
        let rows = self
            .repository
            .list_bindings(tenant, &query)
            .await
            .map_err(plain_store_error)?;
        Ok(self.page(tenant, &query, rows, |b| (b.created_at, b.id)))
    }

    /// # Errors
    /// `Forbidden`, `BindingNotFound`.
    pub async fn delete_binding(&self, permit: Permit<'_>, id: Uuid) -> Result<(), UseCaseError> {
        let principal = permit.holder_of(Permission::Access)?;
        let binding = self.get_binding(permit, id).await?;
        let audit = self.event(
            principal,
            AuditAction::RoleBindingDelete,
            binding_details(&binding),
        );
        self.repository
            .delete_binding(principal.tenant(), id, &audit)
            .await
            .map_err(|e| match e {
                RepositoryError::NotFound => UseCaseError::BindingNotFound(id.to_string()),
                other => plain_store_error(other),
            })?;
        self.changed(principal);
        Ok(())
    }

    /// The bindings whose role reaches the service now, and who read or used
    /// its credential in the last 30 days.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`.
    pub async fn review(
        &self,
        permit: Permit<'_>,
        id: ServiceId,
    ) -> Result<AccessReview, UseCaseError> {
        let principal = permit.holder_of(Permission::Access)?;
        let service = find_reachable(self.services.as_ref(), &permit, id).await?;
        let now = self.clock.now();
        let access = self.directory.tenant(principal.tenant()).await?;
        let bindings = access
            .bindings()
            .filter(|(binding, grant)| binding.is_live(now) && grant.selector.matches(&service))
            .map(|(binding, grant)| ReviewedBinding {
                binding: binding.clone(),
                permissions: grant.permissions.granted().collect(),
            })
            .collect();
        let since: DateTime<Utc> = now - Duration::days(REVIEW_WINDOW_DAYS);
        let readers = self
            .repository
            .secret_readers(principal.tenant(), id, since)
            .await
            .map_err(plain_store_error)?;
        Ok(AccessReview {
            service_id: id,
            bindings,
            readers,
        })
    }
}

fn binding_details(binding: &RoleBinding) -> Value {
    json!({
        "binding_id": binding.id.to_string(),
        "role": binding.role.as_str(),
        "subject": {"type": binding.subject.kind.as_str(), "value": binding.subject.value},
    })
}
