//! Role bindings (docs/api.md §4.5): a role given to the callers a subject
//! names, until an optional expiry.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::access::RoleName;
use crate::pagination::{parse_timestamp, CursorScope, Scoped};
use crate::principal::TenantId;
use crate::validation::{is_hidden, FieldErrors};

pub const SUBJECT_VALUE_MAX_CHARS: usize = 256;

/// Which of a token's claims a binding's subject is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubjectType {
    Sub,
    ClientId,
    Role,
}

impl SubjectType {
    pub const ALL: [SubjectType; 3] = [SubjectType::Sub, SubjectType::ClientId, SubjectType::Role];

    pub fn as_str(self) -> &'static str {
        match self {
            SubjectType::Sub => "sub",
            SubjectType::ClientId => "client_id",
            SubjectType::Role => "role",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

/// Who a binding applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject {
    pub kind: SubjectType,
    pub value: String,
}

impl Subject {
    /// # Errors
    /// Why the value is not a subject: empty, longer than 256 characters, or
    /// holding control or invisible format characters.
    pub fn new(kind: SubjectType, value: &str) -> Result<Self, String> {
        let chars = value.chars().count();
        if chars == 0 || chars > SUBJECT_VALUE_MAX_CHARS || value.chars().any(is_hidden) {
            return Err(format!(
                "must be 1-{SUBJECT_VALUE_MAX_CHARS} characters without control or invisible format characters"
            ));
        }
        Ok(Self {
            kind,
            value: value.to_owned(),
        })
    }
}

/// A stored binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleBinding {
    /// UUIDv7.
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub role: RoleName,
    pub subject: Subject,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The actor who made it.
    pub created_by: String,
}

impl RoleBinding {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// A validated create body of a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRoleBinding {
    pub role: RoleName,
    pub subject: Subject,
    pub expires_at: Option<DateTime<Utc>>,
}

const BINDING_FIELDS: [&str; 3] = ["role", "subject", "expires_at"];
const BINDING_READ_ONLY: [&str; 3] = ["id", "created_at", "created_by"];

impl NewRoleBinding {
    /// Every problem of the body at once. Whether the role exists is the use
    /// case's question (also 400, naming `role`).
    ///
    /// # Errors
    /// The field errors.
    pub fn parse(document: &Map<String, Value>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        for key in document.keys() {
            if BINDING_READ_ONLY.contains(&key.as_str()) {
                errors.add(key, "is read-only");
            } else if !BINDING_FIELDS.contains(&key.as_str()) {
                errors.add(key, "is not a field of a role binding");
            }
        }
        let role = match document.get("role") {
            None => {
                errors.add("role", "is required");
                None
            }
            Some(v) => v
                .as_str()
                .ok_or_else(|| "must be a string".to_owned())
                .and_then(RoleName::parse)
                .map_err(|r| errors.add("role", r))
                .ok(),
        };
        let subject = match document.get("subject") {
            Some(Value::Object(s)) => Self::subject(s, &mut errors),
            None => {
                errors.add("subject", "is required");
                None
            }
            Some(_) => {
                errors.add("subject", "must be an object with type and value");
                None
            }
        };
        let expires_at = match document.get("expires_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(raw)) => parse_timestamp("expires_at", Some(raw), &mut errors),
            Some(_) => {
                errors.add("expires_at", "must be an RFC 3339 timestamp or null");
                None
            }
        };
        match (role, subject) {
            (Some(role), Some(subject)) if errors.is_empty() => Ok(Self {
                role,
                subject,
                expires_at,
            }),
            _ => Err(errors),
        }
    }

    fn subject(fields: &Map<String, Value>, errors: &mut FieldErrors) -> Option<Subject> {
        if let Some(key) = fields
            .keys()
            .find(|k| !["type", "value"].contains(&k.as_str()))
        {
            errors.add(format!("subject.{key}"), "is not a field of a subject");
        }
        let kind = fields
            .get("type")
            .and_then(Value::as_str)
            .and_then(SubjectType::parse);
        let Some(kind) = kind else {
            errors.add("subject.type", "must be one of sub, client_id, role");
            return None;
        };
        let Some(value) = fields.get("value").and_then(Value::as_str) else {
            errors.add("subject.value", "must be a string");
            return None;
        };
        Subject::new(kind, value)
            .map_err(|r| errors.add("subject.value", r))
            .ok()
    }
}

/// The filters of the bindings listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindingFilter {
    pub role: Option<RoleName>,
    pub subject_type: Option<SubjectType>,
    pub subject_value: Option<String>,
}

impl Scoped for BindingFilter {
    fn with_scope<T>(&self, tenant: &TenantId, f: impl FnOnce(&CursorScope<'_>) -> T) -> T {
        f(&CursorScope {
            listing: "role-bindings",
            tenant,
            filter: &[
                self.role.as_ref().map(RoleName::as_str),
                self.subject_type.map(SubjectType::as_str),
                self.subject_value.as_deref(),
            ],
        })
    }
}

/// No filter: the roles listing has none, but its cursors are bound to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleFilter;

impl Scoped for RoleFilter {
    fn with_scope<T>(&self, tenant: &TenantId, f: impl FnOnce(&CursorScope<'_>) -> T) -> T {
        f(&CursorScope {
            listing: "roles",
            tenant,
            filter: &[],
        })
    }
}
