//! The served OpenAPI document and Swagger UI.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use exsvc_testkit::tokens::admin;
use exsvc_testkit::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "OpenAPI 3.1"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let token = admin("acme");
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            operations += 1;
            if operation.get("security").is_some() {
                let responses = operation["responses"].as_object().unwrap();
                assert!(
                    responses.contains_key("401") && responses.contains_key("403"),
                    "{method} {path} does not document 401/403"
                );
            }
            let concrete = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
            let response = app
                .client
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    app.url(&concrete),
                )
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} documented but not served"
            );
            assert_ne!(
                body["error"]["code"], "NOT_FOUND",
                "{method} {path} documented but not routed"
            );
        }
    }
    assert_eq!(operations, 15);
}

#[tokio::test]
async fn swagger_ui_is_served_offline() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/swagger-ui/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger"), "not the Swagger UI page");
    let config = app
        .client
        .get(app.url("/swagger-ui/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(config.status(), StatusCode::OK);
    assert!(config
        .text()
        .await
        .unwrap()
        .contains("/api-docs/openapi.json"));
}
