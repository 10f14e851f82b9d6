//! Who is calling: the tenant, the actor and the effective permissions, as the
//! token verifier understood them (docs/api.md §4.2, §4.3).

use std::collections::BTreeSet;
use std::fmt;

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
}

impl Permission {
    pub const ALL: [Permission; 6] = [
        Permission::Read,
        Permission::Create,
        Permission::Update,
        Permission::Delete,
        Permission::Credentials,
        Permission::Audit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "external-service:read",
            Permission::Create => "external-service:create",
            Permission::Update => "external-service:update",
            Permission::Delete => "external-service:delete",
            Permission::Credentials => "external-service:credentials",
            Permission::Audit => "external-service:audit",
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

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    tenant: TenantId,
    actor: String,
    permissions: BTreeSet<Permission>,
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
            permissions: permissions.into_iter().collect(),
            request_id: None,
        }
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

    /// The effective permissions, sorted.
    pub fn permissions(&self) -> impl Iterator<Item = Permission> + '_ {
        self.permissions.iter().copied()
    }

    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// The first step of every decision (docs/api.md §3): a caller who does not
    /// hold `permission` is refused before anything of the request is read or
    /// looked up, so the refusal says nothing about the input or the service.
    ///
    /// # Errors
    /// `UseCaseError::Forbidden(permission)` when the caller lacks it.
    pub fn permit(&self, permission: Permission) -> Result<Permit<'_>, crate::UseCaseError> {
        if self.has(permission) {
            Ok(Permit {
                principal: self,
                permission,
            })
        } else {
            Err(crate::UseCaseError::Forbidden(permission))
        }
    }
}

/// Proof that a caller holds a permission, obtained before the request's input
/// is parsed. A use case takes a permit and validated input, so "403 before 400"
/// is the order in which an adapter can call it at all, not a convention.
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
