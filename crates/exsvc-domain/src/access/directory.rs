//! Each replica's copy of its tenants' role bindings, so that deciding a
//! request costs a hash lookup, not a query. A change made here is forgotten
//! at once; a change made by another replica is learnt from the store's
//! access clock, which the composition root polls (`AccessDirectory::poll`)
//! every `POLL_INTERVAL`. An expiry needs no propagation: it is compared with
//! the clock on every request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::access::{Grant, Grants, Role, RoleBinding, SubjectType};
use crate::ports::{AccessRepository, Clock};
use crate::principal::{CallerIdentity, Principal, TenantId};
use crate::usecases::plain_store_error;
use crate::UseCaseError;

/// How often a replica asks the store what changed: a binding deleted on
/// another replica stops granting here within this plus one query (the
/// contract of docs/api.md §4.5 is 2 s).
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The copy is trusted only this long after the last poll that succeeded:
/// past it (a poll that hangs, a poll task that died), every request loads
/// its tenant's bindings from the store, so the 2 s bound holds whatever
/// happens to the poll.
pub const MAX_STALENESS: Duration = Duration::from_millis(1500);

/// Tenants kept; past it the copy starts again empty (each tenant is loaded
/// again on its next request), which bounds memory without an eviction policy.
const MAX_CACHED_TENANTS: usize = 10_000;

/// One tenant's bindings with their roles, indexed by subject: by the
/// subject's type, then its value, so a request looks its claims up as they
/// are, without building a key.
#[derive(Debug, Default)]
pub struct TenantAccess {
    bindings: Vec<(RoleBinding, Arc<Grant>)>,
    by_subject: HashMap<SubjectType, HashMap<String, Vec<usize>>>,
}

impl TenantAccess {
    pub fn new(rows: Vec<(RoleBinding, Role)>) -> Self {
        let mut access = Self::default();
        for (binding, role) in rows {
            let grant = Arc::new(Grant {
                binding_id: binding.id,
                role: role.name.clone(),
                permissions: role.spec.permissions.clone(),
                selector: role.spec.services.clone(),
            });
            access
                .by_subject
                .entry(binding.subject.kind)
                .or_default()
                .entry(binding.subject.value.clone())
                .or_default()
                .push(access.bindings.len());
            access.bindings.push((binding, grant));
        }
        access
    }

    /// The grants of the bindings that apply to `identity` at `now`.
    pub fn grants_for(
        &self,
        identity: &CallerIdentity,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Grants {
        let subjects = identity
            .sub
            .iter()
            .map(|v| (SubjectType::Sub, v))
            .chain(
                identity
                    .client_id
                    .iter()
                    .map(|v| (SubjectType::ClientId, v)),
            )
            .chain(identity.roles.iter().map(|v| (SubjectType::Role, v)));
        let mut grants: Vec<Arc<Grant>> = Vec::new();
        for (kind, value) in subjects {
            let found = self
                .by_subject
                .get(&kind)
                .and_then(|values| values.get(value.as_str()));
            for &i in found.into_iter().flatten() {
                let (binding, grant) = &self.bindings[i];
                // Each binding has one subject, so it is found once.
                if binding.is_live(now) {
                    grants.push(grant.clone());
                }
            }
        }
        Arc::from(grants)
    }

    /// Every binding with its grant (live or not), for the access review.
    pub fn bindings(&self) -> impl Iterator<Item = (&RoleBinding, &Grant)> {
        self.bindings.iter().map(|(b, g)| (b, g.as_ref()))
    }
}

#[derive(Default)]
struct State {
    tenants: HashMap<TenantId, Arc<TenantAccess>>,
    /// The store's access clock as of the last poll.
    clock: Option<i64>,
    /// Bumped by every forgetting: a load that started before it is not kept.
    epoch: u64,
    /// When a poll last succeeded (the copy is fresh until `MAX_STALENESS`
    /// after it).
    polled_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The replica's copy of role bindings (see the module's comment).
pub struct AccessDirectory {
    repository: Arc<dyn AccessRepository>,
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
}

impl AccessDirectory {
    pub fn new(repository: Arc<dyn AccessRepository>, clock: Arc<dyn Clock>) -> Self {
        Self {
            repository,
            clock,
            state: RwLock::new(State::default()),
        }
    }

    /// The same caller, with the bindings that apply to it now.
    ///
    /// # Errors
    /// `Unavailable` when the tenant's bindings are not cached and the store
    /// does not answer.
    pub async fn resolve(&self, principal: Principal) -> Result<Principal, UseCaseError> {
        let access = self.tenant(principal.tenant()).await?;
        let grants = access.grants_for(principal.identity(), self.clock.now());
        Ok(principal.with_grants(grants))
    }

    /// The tenant's bindings, from the copy or loaded into it.
    ///
    /// # Errors
    /// `Unavailable` / `Internal` when they must be loaded and cannot be.
    pub async fn tenant(&self, tenant: &TenantId) -> Result<Arc<TenantAccess>, UseCaseError> {
        let now = self.clock.now();
        let (epoch, fresh) = {
            let state = self.read();
            let fresh = state.polled_at.is_some_and(|at| {
                now.signed_duration_since(at)
                    .to_std()
                    .map_or(true, |age| age < MAX_STALENESS)
            });
            if fresh {
                if let Some(access) = state.tenants.get(tenant) {
                    return Ok(access.clone());
                }
            }
            (state.epoch, fresh)
        };
        let rows = self
            .repository
            .tenant_bindings(tenant)
            .await
            .map_err(plain_store_error)?;
        let access = Arc::new(TenantAccess::new(rows));
        let mut state = self.write();
        // A copy that is not fresh is not added to: the next poll decides.
        if fresh && state.epoch == epoch {
            if state.tenants.len() >= MAX_CACHED_TENANTS {
                state.tenants.clear();
            }
            state.tenants.insert(tenant.clone(), access.clone());
        }
        Ok(access)
    }

    /// Drops the copy of `tenant`'s bindings (after a change made here).
    pub fn forget(&self, tenant: &TenantId) {
        let mut state = self.write();
        state.epoch += 1;
        state.tenants.remove(tenant);
    }

    /// Learns what other replicas changed since the last poll and drops those
    /// tenants' copies. The first poll reads where the clock stands and drops
    /// the whole copy, which may predate a change it never heard of; so does a
    /// poll that finds the clock behind the last one seen (a store restored
    /// from a backup, a failover that lost commits).
    ///
    /// # Errors
    /// `Unavailable` / `Internal`: the copy is then dropped entirely, since it
    /// may have missed a change (requests load again, or answer 503).
    pub async fn poll(&self) -> Result<(), UseCaseError> {
        let after = self.read().clock;
        let changes = match self
            .repository
            .changes_since(after.unwrap_or(i64::MAX))
            .await
        {
            Ok(changes) => changes,
            Err(e) => {
                let mut state = self.write();
                state.epoch += 1;
                state.tenants.clear();
                state.clock = None;
                return Err(plain_store_error(e));
            }
        };
        let mut state = self.write();
        let start_over = after.is_none_or(|seen| changes.clock < seen);
        if start_over {
            state.tenants.clear();
        }
        if !changes.tenants.is_empty() || start_over {
            state.epoch += 1;
        }
        state.polled_at = Some(self.clock.now());
        for tenant in &changes.tenants {
            state.tenants.remove(tenant);
        }
        state.clock = Some(changes.clock);
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
