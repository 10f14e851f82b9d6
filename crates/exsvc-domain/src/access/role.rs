//! Roles (docs/api.md §4.5): a named set of permissions and the selector of the
//! services it grants them on.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::principal::{Permission, TenantId};
use crate::service::{Description, Service, ServiceId, ServiceType};
use crate::validation::FieldErrors;

pub const ROLE_NAME_MAX_CHARS: usize = 64;
pub const SELECTOR_MAX_IDS: usize = 100;
pub const SELECTOR_MAX_TYPES: usize = 20;
pub const SELECTOR_MAX_METADATA_KEYS: usize = 20;
/// A metadata key of a selector; service metadata keys are free-form, but one
/// a selector names is bounded so a role stays small.
pub const SELECTOR_KEY_MAX_CHARS: usize = 128;
pub const SELECTOR_STRING_MAX_CHARS: usize = 1000;
/// The wildcard a role may name instead of listing every grantable permission.
pub const ALL_GRANTABLE: &str = "external-service:*";

/// 1–64 characters of `[a-z0-9._-]`: the role's key in paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleName(String);

impl RoleName {
    /// # Errors
    /// The reason the name breaks the rule.
    pub fn parse(raw: &str) -> Result<Self, String> {
        // A name of dots only would be a dot segment in a path (`/roles/..`).
        let ok = raw.bytes().any(|b| b != b'.')
            && raw.len() <= ROLE_NAME_MAX_CHARS
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "must be 1-{ROLE_NAME_MAX_CHARS} characters of a-z, 0-9, '.', '_' and '-', not only dots"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RoleName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A value a selector compares a service's metadata value with. Only scalars
/// that every store compares the same way: a string, an integer or a boolean
/// (a float or a nested value would compare differently in PostgreSQL's
/// `jsonb` and SQLite's JSON functions; see docs/security.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectorValue {
    String(String),
    Integer(i64),
    Bool(bool),
}

impl SelectorValue {
    /// # Errors
    /// The rule a value breaks.
    pub fn parse_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(s) if s.chars().count() <= SELECTOR_STRING_MAX_CHARS && !s.contains('\0') => {
                Ok(Self::String(s.clone()))
            }
            Value::Bool(b) => Ok(Self::Bool(*b)),
            Value::Number(n) => integer(n).map(Self::Integer).ok_or_else(|| {
                format!("a number must be an integer of at most {SELECTOR_MAX_INTEGER} in magnitude")
            }),
            _ => Err(format!(
                "each value must be a string of at most {SELECTOR_STRING_MAX_CHARS} characters, an integer or a boolean"
            )),
        }
    }

    /// Whether a service's metadata value equals this one. An integer matches
    /// only a number written as an integer (`1`, not `1.0`), as in both stores.
    pub fn matches(&self, value: &Value) -> bool {
        match (self, value) {
            (Self::String(want), Value::String(have)) => want == have,
            (Self::Bool(want), Value::Bool(have)) => want == have,
            (Self::Integer(want), Value::Number(have)) => {
                !have.is_f64() && have.as_i64() == Some(*want)
            }
            _ => false,
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Self::String(s) => Value::String(s.clone()),
            Self::Integer(i) => Value::from(*i),
            Self::Bool(b) => Value::Bool(*b),
        }
    }
}

/// The largest magnitude of a selector's integer: 2^53, the integers that
/// every JSON reader holds exactly (RFC 7493 §2.2). Past it, a number written
/// as a float (`1e17`) could stand for several integers.
pub const SELECTOR_MAX_INTEGER: i64 = 9_007_199_254_740_992;

/// A selector's number as an integer: written as one, or as a float with no
/// fraction (`1.0`), which JSON Schema counts as an integer too; within
/// ±`SELECTOR_MAX_INTEGER`.
fn integer(n: &serde_json::Number) -> Option<i64> {
    let bound = SELECTOR_MAX_INTEGER;
    if let Some(i) = n.as_i64() {
        return (-bound..=bound).contains(&i).then_some(i);
    }
    let f = n
        .as_f64()
        .filter(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0)?;
    // Exact: every integer of that range is an f64.
    #[allow(clippy::cast_possible_truncation)]
    Some(f as i64)
}

/// Which services of the tenant a role applies to. A service matches when it
/// meets every non-empty field; an empty selector matches every service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSelector {
    pub ids: Vec<ServiceId>,
    pub types: Vec<ServiceType>,
    /// Sorted by key, so a role reads back as stored.
    pub metadata: Vec<(String, SelectorValue)>,
}

impl ServiceSelector {
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.types.is_empty() && self.metadata.is_empty()
    }

    /// The one definition of a match; the stores turn it into a query
    /// (the contract suite checks they agree with it).
    pub fn matches(&self, service: &Service) -> bool {
        (self.ids.is_empty() || self.ids.contains(&service.id))
            && (self.types.is_empty() || self.types.contains(&service.spec.service_type))
            && self.metadata.iter().all(|(key, want)| {
                service
                    .spec
                    .metadata
                    .as_map()
                    .get(key)
                    .is_some_and(|have| want.matches(have))
            })
    }

    /// Parses the `services` member of a role document into `errors`
    /// (field names `services.ids`, `services.types`, `services.metadata`).
    fn parse(value: &Value, errors: &mut FieldErrors) -> Option<Self> {
        let Value::Object(members) = value else {
            errors.add("services", "must be an object with ids, types and metadata");
            return None;
        };
        let mut selector = Self::default();
        let mut ok = true;
        for (key, value) in members {
            let field = format!("services.{key}");
            match key.as_str() {
                "ids" => match strings(value, SELECTOR_MAX_IDS, "ids") {
                    Ok(raw) => {
                        for id in raw {
                            match ServiceId::parse(id) {
                                Some(id) if !selector.ids.contains(&id) => selector.ids.push(id),
                                Some(_) => {}
                                None => {
                                    errors.add(&field, "each id must be a service id (a UUID)");
                                    ok = false;
                                }
                            }
                        }
                    }
                    Err(reason) => {
                        errors.add(&field, reason);
                        ok = false;
                    }
                },
                "types" => match strings(value, SELECTOR_MAX_TYPES, "types") {
                    Ok(raw) => {
                        for t in raw {
                            match ServiceType::parse(t) {
                                Ok(t) if !selector.types.contains(&t) => selector.types.push(t),
                                Ok(_) => {}
                                Err(reason) => {
                                    errors.add(&field, format!("each type {reason}"));
                                    ok = false;
                                }
                            }
                        }
                    }
                    Err(reason) => {
                        errors.add(&field, reason);
                        ok = false;
                    }
                },
                "metadata" => {
                    match value {
                        Value::Object(entries) if entries.len() <= SELECTOR_MAX_METADATA_KEYS => {
                            for (key, value) in entries {
                                if key.is_empty()
                                    || key.chars().count() > SELECTOR_KEY_MAX_CHARS
                                    || key.contains('\0')
                                {
                                    errors.add(
                                    &field,
                                    format!("each key must be 1-{SELECTOR_KEY_MAX_CHARS} characters"),
                                );
                                    ok = false;
                                    continue;
                                }
                                match SelectorValue::parse_value(value) {
                                    Ok(v) => selector.metadata.push((key.clone(), v)),
                                    Err(reason) => {
                                        errors.add(&field, reason);
                                        ok = false;
                                    }
                                }
                            }
                        }
                        Value::Object(_) => {
                            errors.add(
                                &field,
                                format!("must have at most {SELECTOR_MAX_METADATA_KEYS} keys"),
                            );
                            ok = false;
                        }
                        _ => {
                            errors.add(&field, "must be an object");
                            ok = false;
                        }
                    }
                }
                _ => {
                    errors.add(&field, "is not a selector field (ids, types, metadata)");
                    ok = false;
                }
            }
        }
        selector.metadata.sort_by(|a, b| a.0.cmp(&b.0));
        ok.then_some(selector)
    }

    pub fn to_json(&self) -> Value {
        let metadata: Map<String, Value> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        serde_json::json!({
            "ids": self.ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "types": self.types.iter().map(|t| t.as_str().to_owned()).collect::<Vec<_>>(),
            "metadata": metadata,
        })
    }

    /// A selector read back from a store (written by `to_json`).
    ///
    /// # Errors
    /// The reason the stored value breaks the rules.
    pub fn from_stored(value: &Value) -> Result<Self, String> {
        let mut errors = FieldErrors::new();
        Self::parse(value, &mut errors).ok_or_else(|| errors.to_string())
    }
}

fn strings<'v>(value: &'v Value, max: usize, what: &str) -> Result<Vec<&'v str>, String> {
    let items = value
        .as_array()
        .ok_or_else(|| "must be an array of strings".to_owned())?;
    if items.len() > max {
        return Err(format!("must have at most {max} {what}"));
    }
    items
        .iter()
        .map(|v| {
            v.as_str()
                .ok_or_else(|| "must be an array of strings".to_owned())
        })
        .collect()
}

/// The permissions of a role, as written (so that `external-service:*` reads
/// back as written) and as they grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePermissions {
    names: Vec<String>,
    granted: BTreeSet<Permission>,
}

impl RolePermissions {
    fn parse(value: &Value) -> Result<Self, String> {
        const RULE: &str =
            "must be a non-empty array of external-service permissions (or external-service:*)";
        let items = value.as_array().filter(|a| !a.is_empty()).ok_or(RULE)?;
        let mut names = Vec::new();
        let mut granted = BTreeSet::new();
        for item in items {
            let name = item.as_str().ok_or(RULE)?;
            if name == ALL_GRANTABLE {
                granted.extend(Permission::GRANTABLE);
            } else {
                match Permission::from_name(name) {
                    Some(Permission::Access) => {
                        return Err(format!(
                            "{} cannot be granted by a role",
                            Permission::Access.as_str()
                        ))
                    }
                    Some(p) => {
                        granted.insert(p);
                    }
                    None => return Err(format!("{name:?} is not a permission of this API")),
                }
            }
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        Ok(Self { names, granted })
    }

    /// Permissions read back from a store.
    ///
    /// # Errors
    /// The reason the stored list breaks the rules.
    pub fn from_stored(value: &Value) -> Result<Self, String> {
        Self::parse(value)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn grants(&self, permission: Permission) -> bool {
        self.granted.contains(&permission)
    }

    pub fn granted(&self) -> impl Iterator<Item = Permission> + '_ {
        self.granted.iter().copied()
    }

    pub fn to_json(&self) -> Value {
        Value::from(self.names.clone())
    }
}

/// What a client writes of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSpec {
    pub description: Description,
    pub permissions: RolePermissions,
    pub services: ServiceSelector,
}

const ROLE_FIELDS: [&str; 4] = ["name", "description", "permissions", "services"];
const ROLE_READ_ONLY: [&str; 3] = ["version", "created_at", "updated_at"];

impl RoleSpec {
    /// A create body (POST): the new role's name and the role, every problem
    /// at once. Unknown and read-only fields are refused.
    ///
    /// # Errors
    /// The field errors.
    pub fn parse_new(document: &Map<String, Value>) -> Result<(RoleName, Self), FieldErrors> {
        match Self::parse(document, true) {
            (Some(name), Ok(spec)) => Ok((name, spec)),
            (_, Err(errors)) => Err(errors),
            (None, Ok(_)) => Err(FieldErrors::single("name", "is required")),
        }
    }

    /// A replacement body (PUT): the path names the role, so `name` is
    /// refused with the read-only fields (a role cannot be renamed).
    ///
    /// # Errors
    /// The field errors.
    pub fn parse_replacement(document: &Map<String, Value>) -> Result<Self, FieldErrors> {
        Self::parse(document, false).1
    }

    fn parse(
        document: &Map<String, Value>,
        named: bool,
    ) -> (Option<RoleName>, Result<Self, FieldErrors>) {
        let mut errors = FieldErrors::new();
        for key in document.keys() {
            if ROLE_READ_ONLY.contains(&key.as_str()) {
                errors.add(key, "is read-only");
            } else if key == "name" && !named {
                errors.add(key, "is the path's: a role cannot be renamed");
            } else if !ROLE_FIELDS.contains(&key.as_str()) {
                errors.add(key, "is not a field of a role");
            }
        }
        let name = match document.get("name") {
            None if named => {
                errors.add("name", "is required");
                None
            }
            Some(v) if named => v
                .as_str()
                .ok_or_else(|| "must be a string".to_owned())
                .and_then(RoleName::parse)
                .map_err(|r| errors.add("name", r))
                .ok(),
            _ => None,
        };
        let description = match document.get("description") {
            None | Some(Value::Null) => Description::parse("").ok(),
            Some(Value::String(d)) => Description::parse(d)
                .map_err(|r| errors.add("description", r))
                .ok(),
            Some(_) => {
                errors.add("description", "must be a string");
                None
            }
        };
        let permissions = match document.get("permissions") {
            None => {
                errors.add("permissions", "is required");
                None
            }
            Some(v) => RolePermissions::parse(v)
                .map_err(|r| errors.add("permissions", r))
                .ok(),
        };
        let services = match document.get("services") {
            None | Some(Value::Null) => Some(ServiceSelector::default()),
            Some(v) => ServiceSelector::parse(v, &mut errors),
        };
        let spec = match (description, permissions, services) {
            (Some(description), Some(permissions), Some(services)) if errors.is_empty() => {
                Ok(Self {
                    description,
                    permissions,
                    services,
                })
            }
            _ => Err(errors),
        };
        (name, spec)
    }
}

/// A stored role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The keyset position of the listing (UUIDv7; not shown).
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub name: RoleName,
    pub spec: RoleSpec,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
