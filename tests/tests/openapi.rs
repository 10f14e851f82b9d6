//! The served OpenAPI document and Swagger UI.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use exsvc_testkit::snapshot::assert_snapshot;
use exsvc_testkit::tokens::admin;
use exsvc_testkit::{Reply, TestApp, TestOptions};
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = TestApp::spawn().await;
    let doc = app
        .anonymous()
        .get("/api-docs/openapi.json")
        .await
        .expect_status(200)
        .into_json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "OpenAPI 3.1"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let api = app.api(admin("acme"));
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete", "options"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            operations += 1;
            if operation.get("security").is_some() {
                let responses = operation["responses"].as_object().unwrap();
                // Any valid token may call /debug/auth: it has no 403.
                let needs_permission = path != "/debug/auth";
                assert!(
                    responses.contains_key("401")
                        && responses.contains_key("429")
                        && responses.contains_key("403") == needs_permission,
                    "{method} {path} does not document 401/403/429"
                );
            }
            let concrete = path
                .replace("{id}", &uuid::Uuid::now_v7().to_string())
                .replace("{path}", "some/where");
            let response = api
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    &concrete,
                )
                .body("application/json", "{}")
                .await;
            let body: Value = serde_json::from_str(&response.text).unwrap_or(Value::Null);
            assert_ne!(
                response.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} documented but not served"
            );
            assert_ne!(
                body["error"]["code"], "NOT_FOUND",
                "{method} {path} documented but not routed"
            );
        }
    }
    // 25, the token broker, and the proxy's six methods.
    assert_eq!(operations, 32);
}

#[tokio::test]
async fn swagger_ui_is_served_offline() {
    let app = TestApp::spawn().await;
    let html = app.anonymous().get("/swagger-ui/").await.expect_status(200);
    assert!(html.text.contains("swagger"), "not the Swagger UI page");
    let config = app
        .anonymous()
        .get("/swagger-ui/swagger-initializer.js")
        .await
        .expect_status(200);
    assert!(config.text.contains("/api-docs/openapi.json"));
}

/// The addresses a new user types first lead to the Swagger UI: the root
/// (307: it is the console's once that arrives) and the Swagger UI without its
/// slash (308), under a base path also the base path itself. The query string
/// is left behind, HEAD is answered like GET, no budget is spent, and none of
/// them is an API operation of the document.
#[tokio::test]
async fn the_root_leads_to_the_swagger_ui() {
    let not_following = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for base in ["", "/exsvc"] {
        let app = TestApp::spawn_with(TestOptions {
            base_path: base.into(),
            ..TestOptions::default()
        })
        .await;
        let origin = app.address.strip_suffix(base).unwrap();
        let mut cases = vec![
            (format!("{base}/"), 307),
            (format!("{base}/?tab=x"), 307),
            (format!("{base}/swagger-ui"), 308),
            (
                format!("{base}/swagger-ui?url=https://elsewhere.example/doc.json"),
                308,
            ),
        ];
        if !base.is_empty() {
            cases.push((base.to_owned(), 307));
        }
        for (path, status) in cases {
            for method in [Method::GET, Method::HEAD] {
                let what = format!("{method} {path}");
                let response = not_following
                    .request(method, format!("{origin}{path}"))
                    .send()
                    .await
                    .unwrap();
                let reply = Reply::read(what.clone(), response).await;
                assert_eq!(reply.code(), status, "{what}");
                assert_eq!(
                    reply.must_header("location"),
                    format!("{base}/swagger-ui/"),
                    "{what}"
                );
                assert!(reply.header("x-ratelimit-limit").is_none(), "{what}");
            }
        }
        // Another method is no documentation route: 404 as before.
        app.anonymous()
            .post("/")
            .await
            .expect_error(404, "NOT_FOUND");
        let page = app.anonymous().get("/").await.expect_status(200);
        assert!(page.text.contains("swagger"), "not the Swagger UI page");
        let doc = app
            .anonymous()
            .get("/api-docs/openapi.json")
            .await
            .into_json();
        let paths = doc["paths"].as_object().unwrap();
        for path in ["/", "/swagger-ui", "/swagger-ui/"] {
            assert!(!paths.contains_key(path), "{path} is in the document");
        }
    }
}

/// The document's rules for a service body are the service's: for each sample
/// value, the schema pattern accepts it exactly when the service does.
/// (schemathesis relies on this: a schema-valid body must be accepted, a
/// schema-invalid one refused.)
#[tokio::test]
async fn write_body_patterns_agree_with_the_service() {
    let app = TestApp::spawn().await;
    let doc = app
        .anonymous()
        .get("/api-docs/openapi.json")
        .await
        .expect_status(200)
        .into_json();
    let properties = &doc["components"]["schemas"]["ServiceWrite"]["properties"];
    let pattern = |field: &str| {
        let text = properties[field]["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{field} has no pattern"));
        regex::Regex::new(text).unwrap()
    };
    let api = app.api(admin("acme"));
    let samples: [(&str, Vec<String>); 4] = [
        (
            "name",
            vec![
                "Stripe".into(),
                "  Stripe \t".into(),
                " ".into(),
                "\u{a0}\u{3000}".into(),
                "a\u{1}b".into(),
                "\u{85}x".into(),
                "x\u{9f}".into(),
                "a".repeat(100),
                format!("  {}\n", "b".repeat(100)),
                "c".repeat(101),
                "ü".repeat(100),
                "line\nbreak".into(),
                // Format characters (Cf), in and out of the Basic Multilingual Plane.
                "Stripe\u{200B}".into(),
                "\u{202E}epirtS".into(),
                "a\u{ad}b".into(),
                "tag\u{E0041}".into(),
                "x\u{1D173}y".into(),
            ],
        ),
        (
            "description",
            vec![
                "".into(),
                "two\nlines\tand a tab\r".into(),
                "bell\u{7}".into(),
                "\u{80}".into(),
            ],
        ),
        (
            "api_version",
            vec!["".into(), "v1.2".into(), "v\u{1b}".into()],
        ),
        (
            "base_url",
            vec![
                "https://api.example.com/v1".into(),
                "https://a.b:8443/x/y?z=1".into(),
                "".into(),
                "http://api.example.com".into(),
                "https://user@api.example.com".into(),
                "https://api.example.com/#frag".into(),
                "https:// space.example".into(),
                "0000".into(),
                "https://a*".into(),
                "https://-a-/".into(),
                "https://a/%zz".into(),
                "https://10.0.0.1:65535/x%2F?q=/?".into(),
                "https://0x1/".into(),
                "https://payment_gateway:8443/v1".into(),
                "https://_a.example/".into(),
            ],
        ),
    ];
    let mut n = 0;
    for (field, values) in samples {
        let re = pattern(field);
        for value in values {
            n += 1;
            let mut body = exsvc_testkit::app::service_body(&format!("pattern sample {n}"));
            body[field] = Value::from(value.clone());
            let status = api.create_service(&body).await.status;
            // A name taken by an earlier sample (after trimming) was valid too.
            let accepted = status == StatusCode::CREATED || status == StatusCode::CONFLICT;
            assert!(
                accepted || status == StatusCode::BAD_REQUEST,
                "{field} {value:?}: {status}"
            );
            assert_eq!(
                re.is_match(&value),
                accepted,
                "{field} {value:?}: the document and the service disagree (service: {status})"
            );
        }
    }
}

/// Parameters and bodies the document describes precisely enough to generate
/// from: a non-null `If-Match`, an enumerated audit `action`, the credential
/// body as one variant per `auth_type`, metadata without NUL characters.
#[tokio::test]
async fn document_states_the_input_rules() {
    let app = TestApp::spawn().await;
    let doc = app
        .anonymous()
        .get("/api-docs/openapi.json")
        .await
        .expect_status(200)
        .into_json();
    for method in ["put", "patch", "delete"] {
        let parameters = doc["paths"]["/api/v1/services/{id}"][method]["parameters"]
            .as_array()
            .unwrap();
        let if_match = parameters.iter().find(|p| p["name"] == "If-Match").unwrap();
        assert_eq!(if_match["schema"]["type"], "string", "{method}");
    }
    let audit = doc["paths"]["/api/v1/audit-events"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let action = audit.iter().find(|p| p["name"] == "action").unwrap();
    assert_eq!(action["schema"]["enum"].as_array().unwrap().len(), 12);
    let schemas = &doc["components"]["schemas"];
    let variants = schemas["CredentialWrite"]["oneOf"].as_array().unwrap();
    let auth_types: Vec<&str> = variants
        .iter()
        .map(|v| {
            let name = v["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
            schemas[name]["properties"]["auth_type"]["const"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        auth_types,
        [
            "api_key",
            "basic",
            "bearer",
            "oauth2_client_credentials",
            "custom"
        ]
    );
    // Header parameters are plain strings: a generator never sends `null`.
    let create = &doc["paths"]["/api/v1/services"]["post"]["parameters"];
    let key = create
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .unwrap();
    assert_eq!(key["schema"]["type"], "string");
    // No recursive schema (generators cannot type one), and any-object
    // members say so.
    assert!(schemas.get("MetadataValue").is_none());
    assert_eq!(schemas["Metadata"]["additionalProperties"], true);
    assert_eq!(schemas["CustomCredentials"]["additionalProperties"], true);
    assert_eq!(
        doc["components"]["schemas"]["Metadata"]["propertyNames"]["pattern"],
        "^[^\\x00]*$"
    );
}

/// The served document is kept in `docs/openapi.json`, so that every change to
/// it shows in review as a diff. `UPDATE_SNAPSHOTS=1` rewrites the file.
#[tokio::test]
async fn served_document_matches_the_snapshot() {
    let app = TestApp::spawn().await;
    let doc = app
        .anonymous()
        .get("/api-docs/openapi.json")
        .await
        .expect_status(200)
        .into_json();
    // serde_json's map is ordered by key: the text is stable.
    let served = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    assert_snapshot(
        &path,
        &served,
        "cargo test -p exsvc-e2e --test openapi served_document_matches_the_snapshot",
    );
}
