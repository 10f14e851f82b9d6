//! Property tests of the parsers that face the network: whatever a client
//! sends, they answer with a value or an error, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use exsvc_domain::pagination::{
    Cursor, CursorKey, ListQuery, RawListParams, Scoped, ServiceFilter,
};
use exsvc_domain::service::{
    apply_merge_patch, BaseUrl, ServiceDocument, ServicePatch, ServiceSpec, UrlPolicy,
};
use exsvc_domain::usecases::{AuditListRequest, CredentialInput, RawAuditParams};
use exsvc_domain::TenantId;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Arbitrary JSON, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn cursors(text in ".{0,80}", bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let key = CursorKey::derive(b"proptest");
        let tenant = TenantId::parse("acme").unwrap();
        let decode = |text: &str| ServiceFilter::default().with_scope(&tenant, |scope| Cursor::decode(text, scope, &key));
        let _ = decode(&text);
        let encoded = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &bytes);
        prop_assert!(decode(&encoded).is_err(), "a made-up cursor never passes");
    }

    #[test]
    fn listing_parameters(limit in ".{0,12}", q in ".{0,120}", kind in ".{0,60}", status in ".{0,12}", expires in ".{0,40}") {
        let key = CursorKey::derive(b"proptest");
        let raw = RawListParams {
            limit: Some(&limit),
            cursor: None,
            service_type: Some(&kind),
            status: Some(&status),
            q: Some(&q),
            credential_expires_before: Some(&expires),
        };
        let _ = ListQuery::parse(&raw, &TenantId::parse("acme").unwrap(), &key);
    }

    #[test]
    fn base_urls(text in ".{0,300}", allow_http in any::<bool>()) {
        let _ = BaseUrl::parse(&text, allow_http);
    }

    #[test]
    fn service_documents_and_merge_patches(doc in json(), patch in json()) {
        if let Value::Object(map) = &doc {
            let _ = ServiceSpec::from_document(map, UrlPolicy::default());
        }
        let mut target = doc.clone();
        apply_merge_patch(&mut target, &patch);
        // RFC 7396: patching with an object never leaves a non-object.
        if patch.is_object() {
            prop_assert!(target.is_object());
        }
    }

    #[test]
    fn audit_parameters(limit in ".{0,12}", service in ".{0,40}", action in ".{0,30}", actor in ".{0,60}", since in ".{0,40}", until in ".{0,40}") {
        let raw = RawAuditParams {
            limit: Some(&limit),
            cursor: None,
            service_id: Some(&service),
            action: Some(&action),
            actor: Some(&actor),
            since: Some(&since),
            until: Some(&until),
        };
        let _ = AuditListRequest::parse(&raw);
    }

    #[test]
    fn replacement_bodies_and_patches(body in json()) {
        let _ = ServicePatch::parse(body.clone());
        if let Value::Object(map) = body {
            let _ = ServiceDocument::parse(map);
        }
    }

    #[test]
    fn credential_bodies(body in json()) {
        if let Value::Object(map) = &body {
            let _ = CredentialInput::parse(map);
        }
    }
}
