//! The `exsvc` binary as an operator runs it: exit codes, one-line configuration
//! errors, migrations, token minting, serving and a graceful SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use exsvc_testkit::tokens::TEST_SECRET;
use exsvc_testkit::TestDatabase;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_exsvc");

/// The binary with a clean `EXSVC_*` environment plus `vars`.
fn exsvc(args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("EXSVC_") {
            command.env_remove(key);
        }
    }
    command.envs(vars.iter().copied());
    command
}

fn run(args: &[&str], vars: &[(&str, &str)]) -> Output {
    exsvc(args, vars)
        .stdin(Stdio::null())
        .output()
        .expect("run exsvc")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_lists_the_commands() {
    let output = run(&["--help"], &[]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for command in ["serve", "migrate", "token"] {
        assert!(text.contains(command), "{command} missing from --help");
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["frobnicate"], &[]).status.code(), Some(2));
    assert_eq!(
        run(&["token"], &[("EXSVC_JWT_SECRET", TEST_SECRET)])
            .status
            .code(),
        Some(2),
        "--tenant is required"
    );
    assert_eq!(
        run(
            &["token", "--tenant", "t", "--ttl", "soon"],
            &[("EXSVC_JWT_SECRET", TEST_SECRET)]
        )
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn bad_configuration_is_exit_2_and_one_line_naming_the_variable() {
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[], "EXSVC_JWT_SECRET"),
        (&[("EXSVC_JWT_SECRET", "too-short")], "EXSVC_JWT_SECRET"),
        (
            &[
                ("EXSVC_JWT_SECRET", TEST_SECRET),
                ("EXSVC_LISTEN", "nowhere"),
            ],
            "EXSVC_LISTEN",
        ),
        (
            &[
                ("EXSVC_JWT_SECRET", TEST_SECRET),
                ("EXSVC_DB_POOL_SIZE", "lots"),
            ],
            "EXSVC_DB_POOL_SIZE",
        ),
        (
            &[
                ("EXSVC_JWT_SECRET", TEST_SECRET),
                ("EXSVC_DATABASE_URL", "mysql://x/y"),
            ],
            "EXSVC_DATABASE_URL",
        ),
    ];
    for (vars, variable) in cases {
        let output = run(&["serve"], vars);
        assert_eq!(output.status.code(), Some(2), "{variable}");
        let text = stderr(&output);
        assert_eq!(text.trim_end().lines().count(), 1, "one line: {text}");
        assert!(text.contains(variable), "{text}");
        assert!(!text.contains("panicked"), "{text}");
        assert!(!text.contains(TEST_SECRET));
    }
}

#[test]
fn token_mints_what_was_asked() {
    let output = run(
        &[
            "token",
            "--tenant",
            "acme",
            "--permission",
            "external-service:read",
            "--permission",
            "external-service:create",
            "--role",
            "viewer",
            "--ttl",
            "2h",
        ],
        &[("EXSVC_JWT_SECRET", TEST_SECRET)],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let token = String::from_utf8(output.stdout).unwrap();
    let payload = token.trim().split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["tenant_id"], "acme");
    assert_eq!(
        claims["permissions"],
        json!(["external-service:read", "external-service:create"])
    );
    assert_eq!(claims["roles"], json!(["viewer"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        7200
    );
}

#[test]
fn token_puts_the_tenant_in_the_configured_claim() {
    let output = run(
        &["token", "--tenant", "acme"],
        &[
            ("EXSVC_JWT_SECRET", TEST_SECRET),
            ("EXSVC_JWT_TENANT_CLAIM", "org_id"),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let token = String::from_utf8(output.stdout).unwrap();
    let payload = token.trim().split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["org_id"], "acme");
    assert!(claims.get("tenant_id").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_applies_once_then_nothing() {
    let db = TestDatabase::empty().await;
    let vars = [("EXSVC_DATABASE_URL", db.url.as_str())];
    let first = run(&["migrate"], &vars);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(String::from_utf8_lossy(&first.stdout).contains("1 migration(s) applied"));
    let second = run(&["migrate"], &vars);
    assert!(String::from_utf8_lossy(&second.stdout).contains("0 migration(s) applied"));

    let unreachable = run(
        &["migrate"],
        &[("EXSVC_DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")],
    );
    assert_eq!(unreachable.status.code(), Some(1));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real binary serves a fresh database (migrating it at start), answers a
/// token it minted, and exits 0 on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_end_to_end_then_sigterm_exits_0() {
    let db = TestDatabase::empty().await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let vars = [
        ("EXSVC_DATABASE_URL", db.url.as_str()),
        ("EXSVC_JWT_SECRET", TEST_SECRET),
        ("EXSVC_LISTEN", listen.as_str()),
        ("EXSVC_LOG_FORMAT", "json"),
    ];
    let mut child = exsvc(&["serve"], &vars)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let client = reqwest::Client::new();
    let base = format!("http://{listen}");
    let started = Instant::now();
    loop {
        if client
            .get(format!("{base}/api-docs/openapi.json"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let token = String::from_utf8(
        run(
            &["token", "--tenant", "acme", "--role", "admin"],
            &[("EXSVC_JWT_SECRET", TEST_SECRET)],
        )
        .stdout,
    )
    .unwrap();
    let created = client
        .post(format!("{base}/api/v1/services"))
        .bearer_auth(token.trim())
        .json(&json!({"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(35);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "did not exit within 30 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(
        logs.contains("\"route\":\"/api/v1/services\""),
        "one line per request: {logs}"
    );
    assert!(!logs.contains(token.trim()), "the token is never logged");
    assert!(!logs.contains(TEST_SECRET), "the secret is never logged");
}
