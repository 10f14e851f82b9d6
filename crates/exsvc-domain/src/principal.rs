//! Who is calling: the tenant, the actor and the effective permissions, as the
//! token verifier understood them (docs/api.md §4.2, §4.3).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use crate::access::Grant;

/// The longest tenant identifier a token may carry.
pub const TENANT_ID_MAX_CHARS: usize = 128;

/// A tenant identifier: a non-empty string of at most 128 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the tenant must be a non-empty string of at most {TENANT_ID_MAX_CHARS} characters, without control or invisible format characters")]
pub struct InvalidTenant;

impl TenantId {
    /// A tenant named by a token (docs/api.md §4.2): 1–128 characters, not
    /// blank, without control or invisible format characters.
    ///
    /// # Errors
    /// `InvalidTenant` when a rule fails.
    pub fn parse(raw: &str) -> Result<Self, InvalidTenant> {
        if raw.chars().any(crate::validation::is_hidden) {
            return Err(InvalidTenant);
        }
        Self::from_stored(raw)
    }

    /// A tenant read back from a store, under the rules it was written with:
    /// a rule added later (format characters) never makes stored rows unreadable.
    ///
    /// # Errors
    /// `InvalidTenant` for a row no version of the rules accepted.
    pub fn from_stored(raw: &str) -> Result<Self, InvalidTenant> {
        let chars = raw.chars().count();
        if chars == 0
            || chars > TENANT_ID_MAX_CHARS
            || raw.trim().is_empty()
            || raw.chars().any(char::is_control)
        {
            return Err(InvalidTenant);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The permissions the Auth Manager issues for this API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Read,
    Create,
    Update,
    Delete,
    /// Read the plaintext of stored credentials.
    Credentials,
    Audit,
    /// Have exsvc use a credential for the caller without revealing it.
    Use,
    /// Manage roles and bindings and review who can reach a service. Only a
    /// token grants it: a role cannot (docs/api.md §4.5).
    Access,
}

impl Permission {
    pub const ALL: [Permission; 8] = [
        Permission::Read,
        Permission::Create,
        Permission::Update,
        Permission::Delete,
        Permission::Credentials,
        Permission::Audit,
        Permission::Use,
        Permission::Access,
    ];

    /// What a role may grant: every permission but `Access`, so that nobody
    /// holding a binding can widen their own reach.
    pub const GRANTABLE: [Permission; 7] = [
        Permission::Read,
        Permission::Create,
        Permission::Update,
        Permission::Delete,
        Permission::Credentials,
        Permission::Audit,
        Permission::Use,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "external-service:read",
            Permission::Create => "external-service:create",
            Permission::Update => "external-service:update",
            Permission::Delete => "external-service:delete",
            Permission::Credentials => "external-service:credentials",
            Permission::Audit => "external-service:audit",
            Permission::Use => "external-service:use",
            Permission::Access => "external-service:access",
        }
    }

    /// The permission of that exact name; other names (the Auth Manager issues
    /// permissions for other APIs too) are `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a token says the caller is, beyond the tenant: what a role binding's
/// subject is compared with (docs/api.md §4.5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerIdentity {
    pub sub: Option<String>,
    pub client_id: Option<String>,
    /// The token's `roles` (and `role`), as named by the Auth Manager.
    pub roles: Vec<String>,
}

/// An authenticated caller: its tenant, its actor, the permissions its token
/// grants tenant-wide, and the role bindings that apply to it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    tenant: TenantId,
    actor: String,
    identity: CallerIdentity,
    /// Granted by the token, for every service of the tenant.
    permissions: BTreeSet<Permission>,
    /// Granted by bindings, each for the services its role's selector matches.
    grants: Arc<[Arc<Grant>]>,
    /// The request this caller is making, for the audit trail.
    request_id: Option<String>,
}

impl Principal {
    pub fn new(
        tenant: TenantId,
        actor: impl Into<String>,
        permissions: impl IntoIterator<Item = Permission>,
    ) -> Self {
        Self {
            tenant,
            actor: actor.into(),
            identity: CallerIdentity::default(),
            permissions: permissions.into_iter().collect(),
            grants: Arc::from(Vec::new()),
            request_id: None,
        }
    }

    /// The same caller, known by these subjects.
    pub fn with_identity(mut self, identity: CallerIdentity) -> Self {
        self.identity = identity;
        self
    }

    /// The same caller, with the bindings that apply to it now
    /// (`AccessDirectory::resolve`).
    pub fn with_grants(mut self, grants: Arc<[Arc<Grant>]>) -> Self {
        self.grants = grants;
        self
    }

    /// The same caller, making the request `request_id`.
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }

    pub fn identity(&self) -> &CallerIdentity {
        &self.identity
    }

    /// The permissions the token grants tenant-wide, sorted.
    pub fn permissions(&self) -> impl Iterator<Item = Permission> + '_ {
        self.permissions.iter().copied()
    }

    /// The bindings that apply to this caller now.
    pub fn grants(&self) -> &[Arc<Grant>] {
        &self.grants
    }

    /// Whether the token grants `permission` tenant-wide.
    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// The first step of every decision (docs/api.md §4.5, step 0): a caller
    /// who holds `permission` neither tenant-wide nor through any binding is
    /// refused before anything of the request is read or looked up, so the
    /// refusal says nothing about the input or the service.
    ///
    /// # Errors
    /// `UseCaseError::Forbidden(permission)` when the caller lacks it.
    pub fn permit(&self, permission: Permission) -> Result<Permit<'_>, crate::UseCaseError> {
        let somewhere = self.has(permission) || self.grants.iter().any(|g| g.grants(permission));
        if somewhere {
            Ok(Permit {
                principal: self,
                permission,
            })
        } else {
            Err(crate::UseCaseError::Forbidden(permission))
        }
    }
}

/// Proof that a caller holds a permission somewhere, obtained before the
/// request's input is parsed. A use case takes a permit and validated input,
/// so "403 before 400" is the order in which an adapter can call it at all,
/// not a convention. Which services the permit reaches is decided by
/// `access::decide` when the service is known.
#[derive(Debug, Clone, Copy)]
pub struct Permit<'p> {
    principal: &'p Principal,
    permission: Permission,
}

impl<'p> Permit<'p> {
    /// The caller, when this permit is for `needed`. A permit for another
    /// permission proves nothing about `needed`: refused as if absent.
    ///
    /// # Errors
    /// `UseCaseError::Forbidden(needed)`.
    pub fn holder_of(&self, needed: Permission) -> Result<&'p Principal, crate::UseCaseError> {
        if self.permission == needed {
            Ok(self.principal)
        } else {
            Err(crate::UseCaseError::Forbidden(needed))
        }
    }

    pub fn permission(&self) -> Permission {
        self.permission
    }

    pub fn principal(&self) -> &'p Principal {
        self.principal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_rules() {
        assert!(TenantId::parse("acme").is_ok());
        assert!(TenantId::parse("ac\u{202E}me").is_err());
        assert!(TenantId::parse("acme\u{200B}").is_err());
        assert!(
            TenantId::from_stored("acme\u{200B}").is_ok(),
            "stored rows stay readable"
        );
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("   ").is_err());
        assert!(TenantId::parse(&"t".repeat(128)).is_ok());
        assert!(TenantId::parse(&"t".repeat(129)).is_err());
        // Characters, not bytes.
        assert!(TenantId::parse(&"é".repeat(128)).is_ok());
        // PostgreSQL cannot store NUL in text; no tenant needs control characters.
        assert!(TenantId::parse("a\u{0}b").is_err());
        assert!(TenantId::parse("a\nb").is_err());
    }

    #[test]
    fn permission_names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(Permission::from_name(p.as_str()), Some(p));
        }
        assert_eq!(Permission::from_name("external-service:admin"), None);
        assert_eq!(Permission::from_name("EXTERNAL-SERVICE:READ"), None);
    }

    #[test]
    fn a_permit_is_given_only_for_a_held_permission_and_proves_only_it() {
        let tenant = TenantId::parse("t").unwrap();
        let p = Principal::new(tenant, "alice", [Permission::Read]);
        let permit = p.permit(Permission::Read).unwrap();
        assert_eq!(permit.holder_of(Permission::Read).unwrap(), &p);
        assert!(matches!(
            permit.holder_of(Permission::Credentials),
            Err(crate::UseCaseError::Forbidden(Permission::Credentials))
        ));
        assert!(matches!(
            p.permit(Permission::Delete),
            Err(crate::UseCaseError::Forbidden(Permission::Delete))
        ));
    }
}
