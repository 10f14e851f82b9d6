//! The JSON document form of a Service's writable fields: validation of a request
//! body into a `ServiceSpec`, the reverse, and RFC 7396 merge patches over it.

use serde_json::{Map, Value};

use super::values::{
    ApiVersion, BaseUrl, Description, Metadata, ServiceName, ServiceStatus, ServiceType,
};
use super::ServiceSpec;
use crate::validation::FieldErrors;

/// Which URL schemes a deployment accepts for `base_url`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    pub allow_http: bool,
}

const WRITABLE_FIELDS: [&str; 7] = [
    "name",
    "description",
    "type",
    "status",
    "base_url",
    "api_version",
    "metadata",
];

const READ_ONLY_FIELDS: [&str; 7] = [
    "id",
    "tenant_id",
    "created_at",
    "updated_at",
    "version",
    "auth_type",
    "credential_expires_at",
];

/// Names every key of a request body that a client may not send: read-only
/// fields and fields the resource does not have.
pub fn check_field_names(doc: &Map<String, Value>) -> FieldErrors {
    let mut errors = FieldErrors::new();
    for key in doc.keys() {
        if READ_ONLY_FIELDS.contains(&key.as_str()) {
            errors.add(key.clone(), "is read-only");
        } else if !WRITABLE_FIELDS.contains(&key.as_str()) {
            errors.add(key.clone(), "is not a field of a service");
        }
    }
    errors
}

/// A field's value: absent and `null` are the same (the default applies).
fn present<'a>(doc: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    doc.get(field).filter(|v| !v.is_null())
}

fn string_field<T>(
    doc: &Map<String, Value>,
    field: &str,
    errors: &mut FieldErrors,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Option<T> {
    match present(doc, field)? {
        Value::String(s) => parse(s).map_err(|reason| errors.add(field, reason)).ok(),
        _ => {
            errors.add(field, "must be a string");
            None
        }
    }
}

impl ServiceSpec {
    /// Validates a complete document of writable fields (the body of a create or a
    /// replace, or the result of a merge patch). Every problem is reported.
    ///
    /// # Errors
    /// The field errors, when any field is unknown, read-only, missing or invalid.
    pub fn from_document(doc: &Map<String, Value>, policy: UrlPolicy) -> Result<Self, FieldErrors> {
        let mut errors = check_field_names(doc);

        let name = string_field(doc, "name", &mut errors, ServiceName::parse);
        let service_type = string_field(doc, "type", &mut errors, ServiceType::parse);
        let base_url = string_field(doc, "base_url", &mut errors, |s| {
            BaseUrl::parse(s, policy.allow_http)
        });
        for (field, value) in [("name", name.is_some()), ("type", service_type.is_some())] {
            if !value && present(doc, field).is_none() {
                errors.add(field, "is required");
            }
        }
        if base_url.is_none() && present(doc, "base_url").is_none() {
            errors.add("base_url", "is required");
        }
        let description =
            string_field(doc, "description", &mut errors, Description::parse).unwrap_or_default();
        let status =
            string_field(doc, "status", &mut errors, ServiceStatus::parse).unwrap_or_default();
        let api_version = string_field(doc, "api_version", &mut errors, ApiVersion::parse);
        let metadata = match present(doc, "metadata") {
            None => Metadata::default(),
            Some(Value::Object(map)) => Metadata::parse(map.clone())
                .map_err(|reason| errors.add("metadata", reason))
                .unwrap_or_default(),
            Some(_) => {
                errors.add("metadata", "must be a JSON object");
                Metadata::default()
            }
        };

        match (name, service_type, base_url) {
            (Some(name), Some(service_type), Some(base_url)) if errors.is_empty() => Ok(Self {
                name,
                description,
                service_type,
                status,
                base_url,
                api_version,
                metadata,
            }),
            _ => Err(errors),
        }
    }

    /// The writable fields as a JSON object (the inverse of `from_document`).
    pub fn to_document(&self) -> Map<String, Value> {
        let mut doc = Map::new();
        doc.insert("name".into(), self.name.as_str().into());
        doc.insert("description".into(), self.description.as_str().into());
        doc.insert("type".into(), self.service_type.as_str().into());
        doc.insert("status".into(), self.status.as_str().into());
        doc.insert("base_url".into(), self.base_url.as_str().into());
        doc.insert(
            "api_version".into(),
            self.api_version
                .as_ref()
                .map_or(Value::Null, |v| v.as_str().into()),
        );
        doc.insert(
            "metadata".into(),
            Value::Object(self.metadata.as_map().clone()),
        );
        doc
    }
}

/// A replacement body (PUT) that names only writable fields. Its values are
/// judged once the service is read (`ServiceSpec::from_document`), because the
/// URL policy applies only to a `base_url` the change gives a new value.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceDocument(Map<String, Value>);

impl ServiceDocument {
    /// # Errors
    /// Each read-only or unknown field.
    pub fn parse(body: Map<String, Value>) -> Result<Self, FieldErrors> {
        check_field_names(&body).into_result(Self(body))
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// A validated JSON Merge Patch (RFC 7396) of a service: an object that names
/// only writable fields. Whether its result is a valid service is known only
/// once it is applied to the service as stored (`apply_to`, then
/// `ServiceSpec::from_document`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServicePatch(Map<String, Value>);

impl ServicePatch {
    /// # Errors
    /// `body` when the patch is not an object; each read-only or unknown field.
    pub fn parse(patch: Value) -> Result<Self, FieldErrors> {
        let Value::Object(members) = patch else {
            return Err(FieldErrors::single(
                "body",
                "a merge patch must be a JSON object",
            ));
        };
        check_field_names(&members).into_result(Self(members))
    }

    /// The document `spec` becomes under this patch.
    pub fn apply_to(&self, spec: &ServiceSpec) -> Map<String, Value> {
        let mut merged = spec.to_document();
        for (key, value) in &self.0 {
            let member = merged.entry(key.clone()).or_insert(Value::Null);
            apply_merge_patch(member, value);
            if member.is_null() {
                merged.remove(key);
            }
        }
        merged
    }
}

/// RFC 7396 JSON Merge Patch: objects merge recursively, `null` removes a member,
/// anything else replaces the target.
pub fn apply_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target_members) = target {
        for (key, value) in patch_members {
            if value.is_null() {
                target_members.remove(key);
            } else {
                apply_merge_patch(
                    target_members.entry(key.clone()).or_insert(Value::Null),
                    value,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn minimal() -> Value {
        json!({"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com"})
    }

    #[test]
    fn minimal_document_takes_defaults() {
        let spec = ServiceSpec::from_document(&doc(minimal()), UrlPolicy::default()).unwrap();
        assert_eq!(spec.description.as_str(), "");
        assert_eq!(spec.status, ServiceStatus::Active);
        assert_eq!(spec.api_version, None);
        assert!(spec.metadata.as_map().is_empty());
    }

    #[test]
    fn document_round_trips() {
        let full = json!({
            "name": "Mail", "description": "d", "type": "mail", "status": "inactive",
            "base_url": "https://m.example.com", "api_version": "v3", "metadata": {"a": [1, 2]}
        });
        let spec = ServiceSpec::from_document(&doc(full.clone()), UrlPolicy::default()).unwrap();
        assert_eq!(Value::Object(spec.to_document()), full);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let bad = json!({
            "name": 5, "type": "Bad Type", "base_url": "http://x.com", "status": "on",
            "description": "d".repeat(1001), "api_version": "v".repeat(33), "metadata": [],
            "id": "x", "version": 3, "colour": "red"
        });
        let errors = ServiceSpec::from_document(&doc(bad), UrlPolicy::default()).unwrap_err();
        for field in [
            "name",
            "type",
            "base_url",
            "status",
            "description",
            "api_version",
            "metadata",
            "id",
            "version",
            "colour",
        ] {
            assert!(errors.get(field).is_some(), "{field} not reported");
        }
        assert_eq!(errors.get("id"), Some("is read-only"));
        assert_eq!(errors.get("colour"), Some("is not a field of a service"));
        assert_eq!(errors.get("name"), Some("must be a string"));
    }

    #[test]
    fn required_fields() {
        let errors = ServiceSpec::from_document(&Map::new(), UrlPolicy::default()).unwrap_err();
        for field in ["name", "type", "base_url"] {
            assert_eq!(errors.get(field), Some("is required"), "{field}");
        }
        let errors = ServiceSpec::from_document(
            &doc(json!({"name": null, "type": "t", "base_url": "https://a.b"})),
            UrlPolicy::default(),
        )
        .unwrap_err();
        assert_eq!(errors.get("name"), Some("is required"));
    }

    #[test]
    fn http_allowed_only_by_policy() {
        let d = doc(json!({"name": "n", "type": "t", "base_url": "http://a.b"}));
        assert!(ServiceSpec::from_document(&d, UrlPolicy { allow_http: false }).is_err());
        assert!(ServiceSpec::from_document(&d, UrlPolicy { allow_http: true }).is_ok());
    }

    #[test]
    fn merge_patch_rfc7396_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (mut target, patch, expected) in cases {
            apply_merge_patch(&mut target, &patch);
            assert_eq!(target, expected, "patch {patch}");
        }
    }
}
