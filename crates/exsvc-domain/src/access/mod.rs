//! Least privilege inside a tenant (docs/api.md §4.5–4.6): roles, their
//! bindings to callers, the one decision every use case asks, and each
//! replica's copy of the bindings.

mod binding;
mod decision;
mod directory;
mod role;

pub use binding::{
    BindingFilter, NewRoleBinding, RoleBinding, RoleFilter, Subject, SubjectType,
    SUBJECT_VALUE_MAX_CHARS,
};
pub use decision::{decide, reach, Decision, Grant, Grants, Reach};
pub use directory::{AccessDirectory, TenantAccess, POLL_INTERVAL};
pub use role::{
    Role, RoleName, RolePermissions, RoleSpec, SelectorValue, ServiceSelector, ALL_GRANTABLE,
    ROLE_NAME_MAX_CHARS, SELECTOR_MAX_IDS, SELECTOR_MAX_INTEGER, SELECTOR_MAX_METADATA_KEYS,
    SELECTOR_MAX_TYPES,
};

#[cfg(test)]
mod tests;
