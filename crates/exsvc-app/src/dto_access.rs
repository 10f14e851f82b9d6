//! The HTTP shapes of roles, role bindings and the access review
//! (docs/api.md §4.5–4.6), as the server writes them.

use chrono::{DateTime, Utc};
use exsvc_domain::access::{Role, RoleBinding, ServiceSelector, Subject};
use exsvc_domain::pagination::Page;
use exsvc_domain::ports::SecretReader;
use exsvc_domain::usecases::{AccessReview, ReviewedBinding};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::dto::{optional_rfc3339_micros, rfc3339_micros};

/// The services a role applies to: those meeting every non-empty field.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ServiceSelector)]
pub struct SelectorDto {
    pub ids: Vec<Uuid>,
    #[schema(example = json!(["payment"]))]
    pub types: Vec<String>,
    /// Each key's value must equal the service's (a string, integer or boolean).
    #[schema(schema_with = crate::openapi::any_object)]
    pub metadata: Map<String, Value>,
}

impl From<&ServiceSelector> for SelectorDto {
    fn from(s: &ServiceSelector) -> Self {
        Self {
            ids: s.ids.iter().map(|id| id.as_uuid()).collect(),
            types: s.types.iter().map(|t| t.as_str().to_owned()).collect(),
            metadata: s
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        }
    }
}

/// A named set of permissions on the services its selector matches.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Role)]
pub struct RoleDto {
    #[schema(example = "billing-reader")]
    pub name: String,
    pub description: String,
    /// As written: permissions of this API or `external-service:*`.
    #[schema(example = json!(["external-service:read", "external-service:credentials"]))]
    pub permissions: Vec<String>,
    pub services: SelectorDto,
    /// 1 at creation, +1 on every change; the ETag is `"<version>"`.
    pub version: i64,
    #[serde(serialize_with = "rfc3339_micros")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339_micros")]
    pub updated_at: DateTime<Utc>,
}

impl From<&Role> for RoleDto {
    fn from(role: &Role) -> Self {
        Self {
            name: role.name.to_string(),
            description: role.spec.description.as_str().to_owned(),
            permissions: role.spec.permissions.names().to_vec(),
            services: SelectorDto::from(&role.spec.services),
            version: role.version,
            created_at: role.created_at,
            updated_at: role.updated_at,
        }
    }
}

/// One page of roles, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RoleList)]
pub struct RoleListDto {
    pub roles: Vec<RoleDto>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl From<&Page<Role>> for RoleListDto {
    fn from(page: &Page<Role>) -> Self {
        Self {
            roles: page.items.iter().map(RoleDto::from).collect(),
            next_cursor: page.next_cursor.clone(),
        }
    }
}

/// Who a binding applies to: the caller whose token's `sub`, `client_id`
/// or one of whose `roles` equals `value`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Subject)]
pub struct SubjectDto {
    #[serde(rename = "type")]
    #[schema(example = "client_id")]
    pub kind: String,
    #[schema(example = "billing-worker")]
    pub value: String,
}

impl From<&Subject> for SubjectDto {
    fn from(s: &Subject) -> Self {
        Self {
            kind: s.kind.as_str().to_owned(),
            value: s.value.clone(),
        }
    }
}

/// A role given to a subject, until `expires_at` when set.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RoleBinding)]
pub struct RoleBindingDto {
    pub id: Uuid,
    #[schema(example = "billing-reader")]
    pub role: String,
    pub subject: SubjectDto,
    #[serde(serialize_with = "optional_rfc3339_micros")]
    #[schema(required = true)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339_micros")]
    pub created_at: DateTime<Utc>,
    /// The actor who made it.
    pub created_by: String,
}

impl From<&RoleBinding> for RoleBindingDto {
    fn from(b: &RoleBinding) -> Self {
        Self {
            id: b.id,
            role: b.role.to_string(),
            subject: SubjectDto::from(&b.subject),
            expires_at: b.expires_at,
            created_at: b.created_at,
            created_by: b.created_by.clone(),
        }
    }
}

/// One page of role bindings, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RoleBindingList)]
pub struct RoleBindingListDto {
    pub role_bindings: Vec<RoleBindingDto>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl From<&Page<RoleBinding>> for RoleBindingListDto {
    fn from(page: &Page<RoleBinding>) -> Self {
        Self {
            role_bindings: page.items.iter().map(RoleBindingDto::from).collect(),
            next_cursor: page.next_cursor.clone(),
        }
    }
}

/// A binding whose role reaches the reviewed service.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ReviewedBinding)]
pub struct ReviewedBindingDto {
    pub binding_id: Uuid,
    pub role: String,
    pub subject: SubjectDto,
    /// What the role grants on the service.
    pub permissions: Vec<String>,
    #[serde(serialize_with = "optional_rfc3339_micros")]
    #[schema(required = true)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<&ReviewedBinding> for ReviewedBindingDto {
    fn from(r: &ReviewedBinding) -> Self {
        Self {
            binding_id: r.binding.id,
            role: r.binding.role.to_string(),
            subject: SubjectDto::from(&r.binding.subject),
            permissions: r
                .permissions
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            expires_at: r.binding.expires_at,
        }
    }
}

/// A caller that read or used the service's credential in the last 30 days.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SecretReader)]
pub struct SecretReaderDto {
    pub actor: String,
    #[serde(serialize_with = "rfc3339_micros")]
    pub last_read_at: DateTime<Utc>,
    pub reads_30d: i64,
}

impl From<&SecretReader> for SecretReaderDto {
    fn from(r: &SecretReader) -> Self {
        Self {
            actor: r.actor.clone(),
            last_read_at: r.last_read_at,
            reads_30d: r.reads,
        }
    }
}

/// Who can reach a service's secret, and who did.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AccessReview)]
pub struct AccessReviewDto {
    pub service_id: Uuid,
    pub bindings: Vec<ReviewedBindingDto>,
    pub readers: Vec<SecretReaderDto>,
    /// Grants in tokens are the Auth Manager's: exsvc cannot list them.
    #[schema(example = "not enumerable")]
    pub token_grants: &'static str,
}

impl From<&AccessReview> for AccessReviewDto {
    fn from(r: &AccessReview) -> Self {
        Self {
            service_id: r.service_id.as_uuid(),
            bindings: r.bindings.iter().map(ReviewedBindingDto::from).collect(),
            readers: r.readers.iter().map(SecretReaderDto::from).collect(),
            token_grants: "not enumerable",
        }
    }
}
