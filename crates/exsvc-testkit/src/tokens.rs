//! Tokens for tests, signed with the test secret the spawned app verifies.

use exsvc_auth::{mint_hs256, mint_hs256_with_kid, HmacSecret, HmacSecrets};
use serde_json::{json, Map, Value};

pub const TEST_SECRET: &str = "exsvc-test-secret-that-is-long-enough-0123";

pub fn secret() -> HmacSecret {
    HmacSecret::new(TEST_SECRET.into()).expect("test secret is long enough")
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Signs arbitrary claims with the test secret.
pub fn sign(claims: Value) -> String {
    let claims: Map<String, Value> = match claims {
        Value::Object(map) => map,
        other => panic!("claims must be an object, got {other}"),
    };
    mint_hs256(&secret(), &claims).expect("signing")
}

/// A token for `tenant` with exactly `permissions`, valid for an hour.
pub fn with_permissions(tenant: &str, permissions: &[&str]) -> String {
    sign(
        json!({"sub": "tester", "tenant_id": tenant, "exp": now() + 3600, "permissions": permissions}),
    )
}

/// A token for `tenant` with the admin role (every permission).
pub fn admin(tenant: &str) -> String {
    sign(json!({"sub": "admin", "tenant_id": tenant, "exp": now() + 3600, "roles": ["admin"]}))
}

/// Signs `claims` with another secret (for tests of refused signatures).
pub fn sign_with(secret: &str, claims: Value) -> String {
    let secret = HmacSecret::new(secret.to_owned().into()).expect("secret of at least 32 bytes");
    let claims = claims
        .as_object()
        .cloned()
        .expect("claims must be an object");
    mint_hs256(&secret, &claims).expect("signing")
}

/// A token of a caller known only by its `client_id`, with no permission of
/// its own: whatever it may do comes from role bindings.
pub fn client(tenant: &str, client_id: &str) -> String {
    sign(json!({"client_id": client_id, "tenant_id": tenant, "exp": now() + 3600}))
}

/// The Auth Manager's secret for kid `default` in tests.
pub const DEFAULT_KID_SECRET: &str = "exsvc-test-auth-manager-default-kid-secret";
/// The Auth Manager's secret for kid `sdk-agent` in tests.
pub const SDK_AGENT_KID_SECRET: &str = "exsvc-test-auth-manager-sdk-agent-kid-secret";

/// `EXSVC_JWT_SECRETS` as the Auth Manager's rotation has it: `default` and
/// `sdk-agent` (for `TestOptions::hmac_secrets`).
pub fn auth_manager_secrets() -> HmacSecrets {
    HmacSecrets::parse(
        &format!("default:{DEFAULT_KID_SECRET},sdk-agent:{SDK_AGENT_KID_SECRET}"),
        ',',
    )
    .expect("test secrets are long enough")
}

/// Signs `claims` with `secret`, naming `kid` in the header when given.
pub fn sign_with_kid(secret: &str, kid: Option<&str>, claims: Value) -> String {
    let secret = HmacSecret::new(secret.to_owned().into()).expect("secret of at least 32 bytes");
    let claims = claims
        .as_object()
        .cloned()
        .expect("claims must be an object");
    mint_hs256_with_kid(&secret, kid, &claims).expect("signing")
}
