//! Least privilege inside a tenant end to end (docs/api.md §4.5–4.6): roles
//! and bindings over real HTTP on a fresh database, and the decision on every
//! route for callers whose reach comes from bindings.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::time::Duration;

use exsvc_testkit::app::service_body;
use exsvc_testkit::tokens::{admin, client, now, sign, with_permissions};
use exsvc_testkit::{ApiClient, TestApp};
use serde_json::{json, Value};

const WORKER: &str = "billing-worker";

fn service(name: &str, kind: &str, metadata: Value) -> Value {
    json!({"name": name, "type": kind, "base_url": "https://api.example.com", "metadata": metadata})
}

/// A service with an `api_key` credential; returns its id.
async fn with_key(api: &ApiClient<'_>, body: Value, key: &str) -> String {
    let mut body = body;
    body["auth_type"] = json!("api_key");
    body["credentials"] = json!({"key": key});
    api.new_service(&body).await
}

async fn role(api: &ApiClient<'_>, name: &str, permissions: Value, services: Value) {
    api.create_role(&json!({"name": name, "permissions": permissions, "services": services}))
        .await
        .expect_status(201);
}

/// The README's worked example: a role `billing-reader` (read and
/// credentials on services of type `payment`) bound to a billing worker's
/// client id. The worker reads Stripe's key, cannot see the mail provider,
/// and loses access when the binding goes.
#[tokio::test]
async fn the_billing_worker_reads_stripe_and_nothing_else() {
    let app = TestApp::spawn().await;
    let admin_api = app.api(admin("acme"));
    let stripe = with_key(
        &admin_api,
        service("Stripe", "payment", json!({})),
        "sk_live_1",
    )
    .await;
    let mail = with_key(&admin_api, service("Mailgun", "mail", json!({})), "mg_1").await;

    let created = admin_api
        .create_role(&json!({
            "name": "billing-reader",
            "description": "Reads payment credentials",
            "permissions": ["external-service:read", "external-service:credentials"],
            "services": {"types": ["payment"]}
        }))
        .await
        .expect_status(201);
    assert_eq!(
        created.must_header("location"),
        "/api/v1/roles/billing-reader"
    );
    assert_eq!(created.etag(), "\"1\"");
    let binding = admin_api.bind("billing-reader", "client_id", WORKER).await;

    let worker = app.api(client("acme", WORKER));
    let listed = worker.list_services("").await.expect_status(200);
    let names: Vec<&str> = listed.json()["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Stripe"]);
    let secret = worker.reveal(&stripe).await.expect_status(200);
    assert_eq!(secret.json()["credentials"]["key"], "sk_live_1");
    worker
        .get_service(&mail)
        .await
        .expect_error(404, "SERVICE_NOT_FOUND");
    worker
        .reveal(&mail)
        .await
        .expect_error(404, "SERVICE_NOT_FOUND");
    // Visible, but not the worker's to change.
    worker
        .delete_credentials(&stripe)
        .await
        .expect_error(403, "FORBIDDEN");

    let debug = worker.debug_auth().await.expect_status(200);
    let bindings = debug.json()["bindings"].as_array().unwrap().clone();
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0]["id"], json!(binding));
    assert_eq!(bindings[0]["role"], "billing-reader");
    assert_eq!(bindings[0]["services"]["types"], json!(["payment"]));
    assert_eq!(
        debug.json()["permissions"],
        json!([]),
        "nothing tenant-wide"
    );

    let review = admin_api.access_review(&stripe).await.expect_status(200);
    let review = review.json();
    assert_eq!(review["token_grants"], "not enumerable");
    assert_eq!(review["bindings"][0]["binding_id"], json!(binding));
    assert_eq!(
        review["bindings"][0]["subject"],
        json!({"type": "client_id", "value": WORKER})
    );
    assert_eq!(
        review["bindings"][0]["permissions"],
        json!(["external-service:read", "external-service:credentials"])
    );
    assert_eq!(review["readers"][0]["actor"], WORKER);
    assert_eq!(review["readers"][0]["reads_30d"], 1);
    let mail_review = admin_api.access_review(&mail).await.expect_status(200);
    assert_eq!(mail_review.json()["bindings"], json!([]));

    admin_api.delete_binding(&binding).await.expect_status(204);
    // Nothing left anywhere: 403 before any lookup.
    worker.reveal(&stripe).await.expect_error(403, "FORBIDDEN");
    worker
        .get_service(&stripe)
        .await
        .expect_error(403, "FORBIDDEN");

    // Every change is in the trail, with its actor and what it was about.
    let trail = admin_api.audit("").await.expect_status(200);
    let access_events: Vec<(String, String, Value)> = trail.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("role"))
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
                e["details"].clone(),
            )
        })
        .collect();
    let subject = json!({"type": "client_id", "value": WORKER});
    assert_eq!(
        access_events,
        [
            (
                "role_binding.delete".to_owned(),
                "admin".to_owned(),
                json!({"binding_id": binding, "role": "billing-reader", "subject": subject})
            ),
            (
                "role_binding.create".to_owned(),
                "admin".to_owned(),
                json!({"binding_id": binding, "role": "billing-reader", "subject": subject})
            ),
            (
                "role.create".to_owned(),
                "admin".to_owned(),
                json!({"role": "billing-reader"})
            ),
        ]
    );
}

/// One row of the decision table: the roles bound to the caller (each its
/// permissions and selector), and the status of each route on each of the
/// three services.
struct Row {
    case: &'static str,
    roles: fn(&Fixture) -> Vec<(Value, Value)>,
    /// Expected statuses for [stripe, adyen, mail], per route of `ROUTES`.
    expect: [[u16; 3]; 7],
}

struct Fixture {
    stripe: String,
    adyen: String,
    mail: String,
}

/// The routes of a service, each with what it needs: read, update, update,
/// credentials, update, read, update.
const ROUTES: [&str; 7] = [
    "GET service",
    "PUT service",
    "PATCH service",
    "GET credentials",
    "PUT credentials",
    "GET versions",
    "DELETE credentials",
];

async fn call(api: &ApiClient<'_>, route: &str, id: &str, current: &Value) -> u16 {
    match route {
        "GET service" => api.get_service(id).await.code(),
        "PUT service" => {
            let mut body = current.clone();
            for read_only in [
                "id",
                "tenant_id",
                "created_at",
                "updated_at",
                "version",
                "auth_type",
                "credential_expires_at",
            ] {
                body.as_object_mut().unwrap().remove(read_only);
            }
            body["description"] = json!("replaced");
            api.replace_service(id, &body).await.code()
        }
        "PATCH service" => api
            .patch_service(id, &json!({"description": "patched"}))
            .await
            .code(),
        "GET credentials" => api.reveal(id).await.code(),
        "PUT credentials" => api
            .put_credentials(
                id,
                &json!({"auth_type": "api_key", "credentials": {"key": "k2"}}),
            )
            .await
            .code(),
        "GET versions" => api.versions(id).await.code(),
        "DELETE credentials" => api.delete_credentials(id).await.code(),
        other => panic!("no route {other}"),
    }
}

/// docs/api.md §4.5: 403 before any lookup for a permission held nowhere
/// (step 0); allowed by a matching grant (steps 1–2); else 403 for a service
/// some grant covers and 404 for one none covers (step 3).
#[tokio::test]
async fn the_decision_table_on_every_route() {
    let app = TestApp::spawn().await;
    let admin_api = app.api(admin("acme"));
    let fixture = Fixture {
        stripe: with_key(
            &admin_api,
            service("Stripe", "payment", json!({"team": "billing", "tier": 1})),
            "s",
        )
        .await,
        adyen: with_key(
            &admin_api,
            service(
                "Adyen",
                "payment",
                json!({"team": "billing", "tier": 1.0, "region": "eu"}),
            ),
            "a",
        )
        .await,
        mail: with_key(
            &admin_api,
            service("Mailgun", "mail", json!({"team": "billing"})),
            "m",
        )
        .await,
    };
    const NOWHERE: [u16; 3] = [403, 403, 403];
    let rows = [
        Row {
            case: "read and credentials on a type",
            roles: |_| {
                vec![(
                    json!(["external-service:read", "external-service:credentials"]),
                    json!({"types": ["payment"]}),
                )]
            },
            expect: [
                [200, 200, 404],
                NOWHERE,
                NOWHERE,
                [200, 200, 404],
                NOWHERE,
                [200, 200, 404],
                NOWHERE,
            ],
        },
        Row {
            case: "read on every service, credentials on one id",
            roles: |f| {
                vec![
                    (json!(["external-service:read"]), json!({})),
                    (
                        json!(["external-service:credentials"]),
                        json!({"ids": [f.adyen]}),
                    ),
                ]
            },
            expect: [
                [200, 200, 200],
                NOWHERE,
                NOWHERE,
                [403, 200, 403],
                NOWHERE,
                [200, 200, 200],
                NOWHERE,
            ],
        },
        Row {
            // An integer selector value matches 1, not 1.0 (docs/api.md §4.5).
            case: "everything on a metadata match",
            roles: |_| {
                vec![(
                    json!(["external-service:*"]),
                    json!({"metadata": {"team": "billing", "tier": 1}}),
                )]
            },
            expect: [
                [200, 404, 404],
                [200, 404, 404],
                [200, 404, 404],
                [200, 404, 404],
                [200, 404, 404],
                [200, 404, 404],
                [204, 404, 404],
            ],
        },
        Row {
            case: "read on a type, update on a type and a metadata value combined",
            roles: |_| {
                vec![
                    (
                        json!(["external-service:read"]),
                        json!({"types": ["payment"]}),
                    ),
                    (
                        json!(["external-service:update"]),
                        json!({"types": ["payment"], "metadata": {"region": "eu"}}),
                    ),
                ]
            },
            expect: [
                [200, 200, 404],
                [403, 200, 404],
                [403, 200, 404],
                NOWHERE,
                [403, 200, 404],
                [200, 200, 404],
                [403, 204, 404],
            ],
        },
        Row {
            case: "update only, by id: invisible elsewhere, and nothing to read",
            roles: |f| {
                vec![(
                    json!(["external-service:update"]),
                    json!({"ids": [f.stripe]}),
                )]
            },
            expect: [
                NOWHERE,
                [200, 404, 404],
                [200, 404, 404],
                NOWHERE,
                [200, 404, 404],
                NOWHERE,
                [204, 404, 404],
            ],
        },
    ];
    let ids = [&fixture.stripe, &fixture.adyen, &fixture.mail];
    for (n, row) in rows.iter().enumerate() {
        let caller = format!("caller-{n}");
        let mut bindings = Vec::new();
        for (r, (permissions, services)) in (row.roles)(&fixture).into_iter().enumerate() {
            let name = format!("row-{n}-{r}");
            role(&admin_api, &name, permissions, services).await;
            bindings.push(admin_api.bind(&name, "client_id", &caller).await);
        }
        let api = app.api(client("acme", &caller));
        for (route, expected) in ROUTES.iter().zip(row.expect) {
            for (id, want) in ids.iter().zip(expected) {
                // Each call starts from a service with a credential.
                let current = admin_api
                    .get_service(id)
                    .await
                    .expect_status(200)
                    .into_json();
                if current["auth_type"].is_null() {
                    admin_api
                        .put_credentials(
                            id,
                            &json!({"auth_type": "api_key", "credentials": {"key": "k"}}),
                        )
                        .await
                        .expect_status(201);
                }
                let got = call(&api, route, id, &current).await;
                assert_eq!(got, want, "{}: {route} on {}", row.case, current["name"]);
            }
        }
        for binding in bindings {
            admin_api.delete_binding(&binding).await.expect_status(204);
        }
    }
}

#[tokio::test]
async fn a_bound_listing_pages_over_visible_services_only() {
    let app = TestApp::spawn().await;
    let admin_api = app.api(admin("acme"));
    let mut visible = Vec::new();
    // Interleaved, so every page boundary falls between visible and invisible rows.
    for i in 0..9 {
        let kind = if i % 3 == 0 { "payment" } else { "mail" };
        let id = admin_api
            .new_service(&service(&format!("svc-{i}"), kind, json!({})))
            .await;
        if kind == "payment" {
            visible.push(id);
        }
    }
    visible.reverse(); // newest first
    role(
        &admin_api,
        "payments",
        json!(["external-service:read"]),
        json!({"types": ["payment"]}),
    )
    .await;
    admin_api.bind("payments", "client_id", WORKER).await;
    let worker = app.api(client("acme", WORKER));
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let query = match &cursor {
            None => "limit=2".to_owned(),
            Some(c) => format!("limit=2&cursor={c}"),
        };
        let page = worker
            .list_services(&query)
            .await
            .expect_status(200)
            .into_json();
        for s in page["services"].as_array().unwrap() {
            seen.push(s["id"].as_str().unwrap().to_owned());
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(
        seen, visible,
        "each visible service once, in order, and no other"
    );
    // The filters narrow further.
    let filtered = worker.list_services("type=mail").await.expect_status(200);
    assert_eq!(filtered.json()["services"], json!([]));
}

#[tokio::test]
async fn create_and_change_stay_inside_the_selector() {
    let app = TestApp::spawn().await;
    let admin_api = app.api(admin("acme"));
    role(
        &admin_api,
        "payments-admin",
        json!([
            "external-service:create",
            "external-service:update",
            "external-service:read"
        ]),
        json!({"types": ["payment"]}),
    )
    .await;
    admin_api.bind("payments-admin", "client_id", WORKER).await;
    let worker = app.api(client("acme", WORKER));
    let inside = worker.new_service(&service_body("Stripe")).await;
    worker
        .create_service(&service("Mailgun", "mail", json!({})))
        .await
        .expect_error(403, "FORBIDDEN");
    // Moving the service out of reach is refused, and nothing changes.
    let before = admin_api
        .get_service(&inside)
        .await
        .expect_status(200)
        .into_json();
    worker
        .patch_service(&inside, &json!({"type": "mail"}))
        .await
        .expect_error(403, "FORBIDDEN");
    let mut replaced = service("Stripe", "mail", json!({}));
    replaced["description"] = json!("moved");
    worker
        .replace_service(&inside, &replaced)
        .await
        .expect_error(403, "FORBIDDEN");
    let after = admin_api
        .get_service(&inside)
        .await
        .expect_status(200)
        .into_json();
    assert_eq!(before, after);
    // Nor can a service be moved into reach.
    let mail = admin_api
        .new_service(&service("Mailgun", "mail", json!({})))
        .await;
    worker
        .patch_service(&mail, &json!({"type": "payment"}))
        .await
        .expect_error(404, "SERVICE_NOT_FOUND");
    // Inside the selector the change applies.
    worker
        .patch_service(&inside, &json!({"description": "cards"}))
        .await
        .expect_status(200);
}

#[tokio::test]
async fn an_expired_binding_stops_granting() {
    let app = TestApp::spawn().await;
    let admin_api = app.api(admin("acme"));
    let stripe = admin_api.new_service(&service_body("Stripe")).await;
    role(
        &admin_api,
        "reader",
        json!(["external-service:read"]),
        json!({}),
    )
    .await;
    let expires = chrono::Utc::now() + chrono::Duration::seconds(2);
    admin_api
        .create_binding(&json!({
            "role": "reader", "subject": {"type": "role", "value": "contractor"},
            "expires_at": expires.to_rfc3339()
        }))
        .await
        .expect_status(201);
    let contractor = app.api(sign(json!({
        "sub": "c1", "tenant_id": "acme", "exp": now() + 3600, "roles": ["contractor"]
    })));
    contractor.get_service(&stripe).await.expect_status(200);
    tokio::time::sleep(Duration::from_millis(2300)).await;
    contractor
        .get_service(&stripe)
        .await
        .expect_error(403, "FORBIDDEN");
    // An expiry in the past is refused.
    admin_api
        .create_binding(&json!({
            "role": "reader", "subject": {"type": "sub", "value": "x"},
            "expires_at": "2020-01-01T00:00:00Z"
        }))
        .await
        .expect_invalid_field("expires_at");
}

#[tokio::test]
async fn a_bound_auditor_sees_the_events_of_its_services_only() {
    let app = TestApp::spawn().await;
    let admin_api = app.api(admin("acme"));
    let stripe = admin_api.new_service(&service_body("Stripe")).await;
    let mail = admin_api
        .new_service(&service("Mailgun", "mail", json!({})))
        .await;
    role(
        &admin_api,
        "payment-auditor",
        json!(["external-service:audit"]),
        json!({"types": ["payment"]}),
    )
    .await;
    admin_api.bind("payment-auditor", "client_id", WORKER).await;
    let auditor = app.api(client("acme", WORKER));
    let events = auditor.audit("").await.expect_status(200).into_json();
    let services: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["service_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        services,
        [stripe.as_str()],
        "only Stripe's create; no role events"
    );
    let filtered = auditor
        .audit(&format!("service_id={mail}"))
        .await
        .expect_status(200);
    assert_eq!(filtered.json()["events"], json!([]));
}

#[tokio::test]
async fn roles_and_bindings_are_validated_and_guarded() {
    let app = TestApp::spawn().await;
    let admin_api = app.api(admin("acme"));
    // Only `external-service:access` manages them; a role cannot grant it.
    let reader = app.api(with_permissions("acme", &["external-service:read"]));
    reader.list_roles("").await.expect_error(403, "FORBIDDEN");
    reader
        .create_role(&json!({"name": "x", "permissions": ["external-service:read"]}))
        .await
        .expect_error(403, "FORBIDDEN");
    admin_api
        .create_role(&json!({"name": "sneaky", "permissions": ["external-service:access"]}))
        .await
        .expect_invalid_field("permissions");
    // Hostile-test finding: a valid name was reported "is required" beside
    // another field's error.
    let other_error = admin_api
        .create_role(&json!({"name": "zz", "permissions": ["bogus"]}))
        .await
        .expect_invalid_field("permissions");
    assert!(
        other_error["error"]["details"]["fields"]
            .get("name")
            .is_none(),
        "{other_error}"
    );
    admin_api
        .create_role(&json!({"name": "..", "permissions": ["external-service:read"]}))
        .await
        .expect_invalid_field("name");
    admin_api
        .create_role(&json!({"name": "Bad Name", "permissions": ["external-service:read"]}))
        .await
        .expect_invalid_field("name");
    admin_api
        .create_role(&json!({"permissions": ["external-service:read"]}))
        .await
        .expect_invalid_field("name");
    let types: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    admin_api
        .create_role(&json!({"name": "r", "permissions": ["external-service:read"], "services": {"types": types}}))
        .await
        .expect_invalid_field("services.types");
    admin_api
        .create_role(&json!({"name": "r", "permissions": ["external-service:read"], "version": 4}))
        .await
        .expect_invalid_field("version");

    role(
        &admin_api,
        "reader",
        json!(["external-service:read"]),
        json!({}),
    )
    .await;
    admin_api
        .create_role(&json!({"name": "reader", "permissions": ["external-service:read"]}))
        .await
        .expect_error(409, "ROLE_ALREADY_EXISTS");
    admin_api
        .get_role("nobody")
        .await
        .expect_error(404, "ROLE_NOT_FOUND");
    admin_api
        .get_role("NOT A NAME")
        .await
        .expect_error(404, "ROLE_NOT_FOUND");

    // Replace honours If-Match; a rename is refused.
    let replacement = json!({"permissions": ["external-service:read", "external-service:audit"]});
    admin_api
        .replace_role("reader", &replacement)
        .if_match("\"7\"")
        .await
        .expect_error(412, "PRECONDITION_FAILED");
    let replaced = admin_api
        .replace_role("reader", &replacement)
        .if_match("\"1\"")
        .await
        .expect_status(200);
    assert_eq!(replaced.etag(), "\"2\"");
    // A version number without its quotes is the same entity tag.
    admin_api
        .replace_role("reader", &replacement)
        .if_match("1")
        .await
        .expect_error(412, "PRECONDITION_FAILED");
    let replaced = admin_api
        .replace_role("reader", &json!({"permissions": ["external-service:read"]}))
        .if_match("2")
        .await
        .expect_status(200);
    assert_eq!(replaced.etag(), "\"3\"");
    admin_api
        .replace_role(
            "reader",
            &json!({"name": "other", "permissions": ["external-service:read"]}),
        )
        .await
        .expect_invalid_field("name");

    // Bindings name an existing role; a role in use cannot go.
    admin_api
        .create_binding(&json!({"role": "ghost", "subject": {"type": "sub", "value": "u"}}))
        .await
        .expect_invalid_field("role");
    let binding = admin_api.bind("reader", "sub", "u1").await;
    admin_api
        .delete_role("reader")
        .await
        .expect_error(409, "ROLE_IN_USE");
    let listed = admin_api
        .list_bindings("role=reader&subject_type=sub&subject_value=u1")
        .await
        .expect_status(200);
    assert_eq!(listed.json()["role_bindings"][0]["id"], json!(binding));
    assert_eq!(listed.json()["role_bindings"][0]["created_by"], "admin");
    let none = admin_api
        .list_bindings("subject_value=u2")
        .await
        .expect_status(200);
    assert_eq!(none.json()["role_bindings"], json!([]));
    admin_api
        .get_binding("not-a-uuid")
        .await
        .expect_error(404, "ROLE_BINDING_NOT_FOUND");
    admin_api.delete_binding(&binding).await.expect_status(204);
    admin_api
        .delete_binding(&binding)
        .await
        .expect_error(404, "ROLE_BINDING_NOT_FOUND");
    admin_api
        .delete_role("reader")
        .if_match("2")
        .await
        .expect_error(412, "PRECONDITION_FAILED");
    admin_api
        .delete_role("reader")
        .if_match("3")
        .await
        .expect_status(204);
    admin_api
        .get_role("reader")
        .await
        .expect_error(404, "ROLE_NOT_FOUND");

    // Another tenant sees none of it.
    role(
        &admin_api,
        "mine",
        json!(["external-service:read"]),
        json!({}),
    )
    .await;
    let other = app.api(admin("globex"));
    other
        .get_role("mine")
        .await
        .expect_error(404, "ROLE_NOT_FOUND");
    assert_eq!(
        other.list_roles("").await.expect_status(200).json()["roles"],
        json!([])
    );
}

#[tokio::test]
async fn roles_page_with_cursors_bound_to_the_listing() {
    let app = TestApp::spawn().await;
    let admin_api = app.api(admin("acme"));
    for i in 0..5 {
        role(
            &admin_api,
            &format!("r{i}"),
            json!(["external-service:read"]),
            json!({}),
        )
        .await;
    }
    let first = admin_api
        .list_roles("limit=3")
        .await
        .expect_status(200)
        .into_json();
    let names: Vec<&str> = first["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["r4", "r3", "r2"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = admin_api
        .list_roles(&format!("limit=3&cursor={cursor}"))
        .await
        .expect_status(200)
        .into_json();
    assert_eq!(second["roles"].as_array().unwrap().len(), 2);
    assert!(second["next_cursor"].is_null());
    // A roles cursor is no bindings cursor.
    admin_api
        .list_bindings(&format!("cursor={cursor}"))
        .await
        .expect_error(400, "INVALID_CURSOR");
}

/// Defect found in review: `Idempotency-Key` was ignored for a caller whose
/// permission comes from a binding (a retried create was 409), and a key
/// shared with a tenant-wide caller must never replay that caller's answer.
#[tokio::test]
async fn a_bound_caller_keeps_its_own_idempotency_keys() {
    let app = TestApp::spawn().await;
    let admin_api = app.api(admin("acme"));
    role(
        &admin_api,
        "creator",
        json!(["external-service:create"]),
        json!({"types": ["payment"]}),
    )
    .await;
    admin_api.bind("creator", "client_id", WORKER).await;
    let worker = app.api(client("acme", WORKER));
    let body = service_body("Stripe");
    let first = worker
        .create_service(&body)
        .idempotency_key("retry-1")
        .await
        .expect_status(201);
    let again = worker
        .create_service(&body)
        .idempotency_key("retry-1")
        .await
        .expect_status(201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.id(), first.id());
    // The admin's keyed create is not the worker's to replay.
    let admins = service_body("Adyen");
    admin_api
        .create_service(&admins)
        .idempotency_key("shared")
        .await
        .expect_status(201);
    worker
        .create_service(&admins)
        .idempotency_key("shared")
        .await
        .expect_error(422, "IDEMPOTENCY_KEY_REUSED");
}
