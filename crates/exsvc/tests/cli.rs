//! The `exsvc` binary as an operator runs it: exit codes, one-line configuration
//! errors, migrations, token minting, serving and a graceful SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use exsvc_testkit::tokens::TEST_SECRET;
use exsvc_testkit::TestDatabase;
use serde_json::{json, Value};

mod support;

use support::{free_port, Exited, Server, BIN};

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
    // Development mode writes data/ under the working directory: keep it out of the tree.
    command.current_dir(std::env::temp_dir());
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
        (&[("EXSVC_ENV", "production")], "EXSVC_JWT_SECRET"),
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

/// Production without keys names every missing setting at once, in one line
/// and without a colon between a setting and "(or …)"; bad values of several
/// concerns, and of one concern, are reported together too.
#[test]
fn every_configuration_problem_is_reported_at_once() {
    let output = run(&["serve"], &[("EXSVC_ENV", "production")]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert_eq!(text.trim_end().lines().count(), 1, "one line: {text}");
    assert!(text.starts_with("exsvc: configuration error: "), "{text}");
    for missing in [
        "EXSVC_JWT_SECRET (or EXSVC_JWT_SECRETS, EXSVC_JWT_SECRETS_FILE, EXSVC_JWT_PUBLIC_KEY_FILES or EXSVC_JWKS_URL) is required when EXSVC_ENV=production",
        "EXSVC_MASTER_KEYS (or EXSVC_MASTER_KEY_FILE) is required when EXSVC_ENV=production",
    ] {
        assert!(text.contains(missing), "{missing} not in: {text}");
    }
    assert!(!text.contains(": ("), "a stray colon: {text}");

    let output = run(
        &["serve"],
        &[
            ("EXSVC_DB_POOL_SIZE", "lots"),
            ("EXSVC_LOG_FORMAT", "xml"),
            ("EXSVC_JWT_LEEWAY_SECS", "soon"),
            ("EXSVC_JWT_ISSUER", ","),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert_eq!(text.trim_end().lines().count(), 1, "one line: {text}");
    for variable in [
        "EXSVC_DB_POOL_SIZE: 'lots' is not a number",
        "EXSVC_LOG_FORMAT: 'xml' is not json or text",
        "EXSVC_JWT_LEEWAY_SECS: 'soon' is not a number of seconds",
        "EXSVC_JWT_ISSUER: names no issuer",
    ] {
        assert!(text.contains(variable), "{variable} not in: {text}");
    }
}

/// A port already taken stops the start with one line naming the address and
/// the setting, and exit 1: the setting is well formed (that would be 2), the
/// failure is the machine's, as with an unreachable database.
#[test]
fn a_port_in_use_names_the_setting() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let dir = scratch_dir();
    let output = exsvc(
        &["serve"],
        &[
            ("EXSVC_LISTEN", address.as_str()),
            ("EXSVC_LOG_FORMAT", "json"),
        ],
    )
    .current_dir(&dir)
    .stdin(Stdio::null())
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        stderr(&output).trim_end(),
        format!("exsvc: cannot listen on {address} (EXSVC_LISTEN): address already in use")
    );
    drop(taken);
    std::fs::remove_dir_all(dir).unwrap();
}

/// `make run`, the quick start's first command, shows cargo's progress: a
/// first build takes minutes, and a silent one looks hung.
#[test]
fn make_run_shows_the_build_progress() {
    let makefile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Makefile")).unwrap();
    let recipe: Vec<&str> = makefile
        .lines()
        .skip_while(|line| !line.starts_with("run:"))
        .skip(1)
        .take_while(|line| line.starts_with('\t'))
        .collect();
    assert!(
        recipe.iter().any(|line| line.contains("cargo run")),
        "no `cargo run` in the run target: {recipe:?}"
    );
    for line in recipe {
        assert!(
            !line
                .split_whitespace()
                .any(|word| word == "--quiet" || word == "-q"),
            "the run target hides the build: {line}"
        );
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
fn token_takes_issuer_audience_and_any_claim() {
    let output = run(
        &[
            "token",
            "--tenant",
            "acme",
            "--issuer",
            "https://auth.example",
            "--audience",
            "exsvc",
            "--claim",
            "client_id=svc-7",
            "--claim",
            "scopes=[\"external-service:read\"]",
            "--claim",
            "tier=3",
        ],
        &[("EXSVC_JWT_SECRET", TEST_SECRET)],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let token = String::from_utf8(output.stdout).unwrap();
    use base64::Engine;
    let payload = token.trim().split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], "https://auth.example");
    assert_eq!(claims["aud"], "exsvc");
    assert_eq!(claims["client_id"], "svc-7");
    assert_eq!(claims["scopes"], json!(["external-service:read"]));
    assert_eq!(claims["tier"], 3);
    assert_eq!(
        run(
            &["token", "--tenant", "acme", "--claim", "oops"],
            &[("EXSVC_JWT_SECRET", TEST_SECRET)]
        )
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn token_refuses_a_permission_it_does_not_know() {
    let output = run(
        &[
            "token",
            "--tenant",
            "acme",
            "--permission",
            "external-service:raed",
        ],
        &[("EXSVC_JWT_SECRET", TEST_SECRET)],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("external-service:raed"),
        "{}",
        stderr(&output)
    );
    assert!(output.stdout.is_empty(), "no token minted");
}

#[test]
fn token_needs_an_hmac_secret() {
    // Only asymmetric keys configured: nothing to sign with.
    let pem = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../exsvc-testkit/fixtures/rsa-public.pem"
    );
    let output = run(
        &["token", "--tenant", "acme"],
        &[("EXSVC_JWT_PUBLIC_KEY_FILES", pem)],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("EXSVC_JWT_SECRET"));
    let output = run(
        &["token", "--tenant", "acme"],
        &[("EXSVC_ENV", "production")],
    );
    assert_eq!(output.status.code(), Some(2));
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
    let applied = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(
        applied.contains("exsvc: ") && !applied.contains(" 0 migration(s)"),
        "{applied}"
    );
    let second = run(&["migrate"], &vars);
    assert!(String::from_utf8_lossy(&second.stdout).contains("0 migration(s) applied"));

    let unreachable = run(
        &["migrate"],
        &[("EXSVC_DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")],
    );
    assert_eq!(unreachable.status.code(), Some(1));
}

/// A scratch working directory: development mode writes `data/` under it.
fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("exsvc-cli-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The real binary serves a fresh PostgreSQL database (migrating it at start),
/// answers a token it minted, logs one line per request and exits 0 on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_end_to_end_then_sigterm_exits_0() {
    let db = TestDatabase::empty().await;
    let dir = scratch_dir();
    let server = Server::start(
        &dir,
        &[
            ("EXSVC_DATABASE_URL", db.url.as_str()),
            ("EXSVC_JWT_SECRET", TEST_SECRET),
        ],
    )
    .await;
    let token = String::from_utf8(
        run(
            &["token", "--tenant", "acme", "--role", "admin"],
            &[("EXSVC_JWT_SECRET", TEST_SECRET)],
        )
        .stdout,
    )
    .unwrap();
    let created = reqwest::Client::new()
        .post(format!("{}/api/v1/services", server.base))
        .bearer_auth(token.trim())
        .json(&json!({"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let Exited {
        status,
        stdout: logs,
        stderr,
    } = server.stop().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    let line = logs
        .lines()
        .find(|l| l.contains("\"route\":\"/api/v1/services\""))
        .expect("a request log line");
    let line: Value = serde_json::from_str(line).unwrap();
    assert_eq!(line["tenant"], "acme");
    assert_eq!(line["status"], 201);
    assert_eq!(line["method"], "POST");
    assert!(line["request_id"].is_string() && line["latency_ms"].is_number());
    assert!(
        !stderr.contains("DEVELOPMENT MODE"),
        "a configured secret is not development mode"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A misspelt variable would leave its setting at the default without a word:
/// the server names it and the setting it likely means.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_variable_is_named_at_start() {
    let dir = scratch_dir();
    let server = Server::start(&dir, &[("EXSVC_DB_POOL_SIZ", "4")]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = server.logs();
    assert!(
        logs.contains(
            "EXSVC_DB_POOL_SIZ is not a setting and is ignored; did you mean EXSVC_DB_POOL_SIZE?"
        ),
        "{logs}"
    );
    drop(server);
    std::fs::remove_dir_all(dir).unwrap();
}

/// SIGTERM while a request is in flight: the request still completes, then the
/// process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_request_in_flight_finish() {
    let dir = scratch_dir();
    let mut server = Server::start(&dir, &[("EXSVC_JWT_SECRET", TEST_SECRET)]).await;
    let token = String::from_utf8(
        run(
            &["token", "--tenant", "acme", "--role", "admin"],
            &[("EXSVC_JWT_SECRET", TEST_SECRET)],
        )
        .stdout,
    )
    .unwrap();
    // A body that arrives slowly: the request is accepted and in flight when the signal comes.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(receiver));
    let request = reqwest::Client::new()
        .post(format!("{}/api/v1/services", server.base))
        .bearer_auth(token.trim())
        .header("content-type", "application/json")
        .body(body)
        .send();
    let in_flight = tokio::spawn(request);
    sender
        .send(Ok(br#"{"name": "Slow", "type": "payment","#.to_vec()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.sigterm();
    tokio::time::sleep(Duration::from_millis(700)).await;
    sender
        .send(Ok(br#" "base_url": "https://slow.example"}"#.to_vec()))
        .await
        .unwrap();
    drop(sender);
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request was answered");
    assert_eq!(response.status(), 201, "the in-flight request completed");
    let Exited { status, stderr, .. } = server.wait_exit(Duration::from_secs(35)).await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}

fn tokio_stream_from(
    mut receiver: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

/// Key rotation with the real binary: write under k1, restart with k2,k1 and
/// read, rewrap, restart with k2 alone and read every version. The secret
/// appears in no log line on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_across_restarts() {
    let dir = scratch_dir();
    let k1 = String::from_utf8(run(&["keys", "generate", "--id", "k1"], &[]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let k2 = String::from_utf8(run(&["keys", "generate", "--id", "k2"], &[]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    assert!(k1.starts_with("k1:") && k2.starts_with("k2:"), "{k1} {k2}");
    let both = format!("{k2},{k1}");
    let canary = "CANARY-rotation-3c9e";
    let client = reqwest::Client::new();
    let token = String::from_utf8(
        run(
            &["token", "--tenant", "acme", "--role", "admin"],
            &[("EXSVC_JWT_SECRET", TEST_SECRET)],
        )
        .stdout,
    )
    .unwrap();
    let token = token.trim().to_owned();
    let mut logs = String::new();

    let server = Server::start(
        &dir,
        &[
            ("EXSVC_JWT_SECRET", TEST_SECRET),
            ("EXSVC_MASTER_KEYS", k1.as_str()),
        ],
    )
    .await;
    let mut body =
        json!({"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com"});
    body["auth_type"] = json!("bearer");
    body["credentials"] = json!({"token": format!("{canary}-v1")});
    let created = client
        .post(format!("{}/api/v1/services", server.base))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let Exited {
        stdout: out,
        stderr: err,
        ..
    } = server.stop().await;
    logs.push_str(&out);
    logs.push_str(&err);

    let read = |base: String, version: i64| {
        let client = client.clone();
        let token = token.clone();
        let id = id.clone();
        async move {
            let response = client
                .get(format!(
                    "{base}/api/v1/services/{id}/credentials?version={version}"
                ))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "version {version}");
            response.json::<Value>().await.unwrap()["credentials"]["token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };

    let server = Server::start(
        &dir,
        &[
            ("EXSVC_JWT_SECRET", TEST_SECRET),
            ("EXSVC_MASTER_KEYS", both.as_str()),
        ],
    )
    .await;
    assert_eq!(read(server.base.clone(), 1).await, format!("{canary}-v1"));
    let put = client
        .put(format!("{}/api/v1/services/{id}/credentials", server.base))
        .bearer_auth(&token)
        .json(&json!({"auth_type": "bearer", "credentials": {"token": format!("{canary}-v2")}}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let Exited {
        stdout: out,
        stderr: err,
        ..
    } = server.stop().await;
    logs.push_str(&out);
    logs.push_str(&err);

    let rewrap = exsvc(
        &["keys", "rewrap"],
        &[
            ("EXSVC_JWT_SECRET", TEST_SECRET),
            ("EXSVC_MASTER_KEYS", both.as_str()),
        ],
    )
    .current_dir(&dir)
    .output()
    .unwrap();
    assert_eq!(rewrap.status.code(), Some(0), "{}", stderr(&rewrap));
    let report = String::from_utf8_lossy(&rewrap.stdout).into_owned();
    assert!(
        report.contains("1 credential version(s) rewrapped under master key 'k2'"),
        "{report}"
    );

    let server = Server::start(
        &dir,
        &[
            ("EXSVC_JWT_SECRET", TEST_SECRET),
            ("EXSVC_MASTER_KEYS", k2.as_str()),
        ],
    )
    .await;
    assert_eq!(read(server.base.clone(), 1).await, format!("{canary}-v1"));
    assert_eq!(read(server.base.clone(), 2).await, format!("{canary}-v2"));
    let Exited {
        status,
        stdout: out,
        stderr: err,
    } = server.stop().await;
    assert_eq!(status.code(), Some(0));
    logs.push_str(&out);
    logs.push_str(&err);
    assert!(!logs.contains(canary), "the secret reached the logs");
    assert!(
        !logs.contains(k1.split(':').nth(1).unwrap())
            && !logs.contains(k2.split(':').nth(1).unwrap()),
        "a master key reached the logs"
    );
    // Without the keyring that sealed them, nothing opens: a 500, not a plaintext.
    let k3 = String::from_utf8(run(&["keys", "generate", "--id", "k3"], &[]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let server = Server::start(
        &dir,
        &[
            ("EXSVC_JWT_SECRET", TEST_SECRET),
            ("EXSVC_MASTER_KEYS", k3.as_str()),
        ],
    )
    .await;
    let response = client
        .get(format!("{}/api/v1/services/{id}/credentials", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert!(!response.text().await.unwrap().contains(canary));
    let out = server.stop().await.stdout;
    assert!(
        out.contains(&id),
        "the log names the service whose credential does not open"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// `keys rewrap` needs the database and the keyring, nothing else: no token
/// key source, also in production.
#[test]
fn rewrap_needs_only_the_database_and_the_keyring() {
    let dir = scratch_dir();
    let keys = String::from_utf8(run(&["keys", "generate", "--id", "r1"], &[]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let url = format!("sqlite://{}", dir.join("exsvc.db").display());
    let output = run(
        &["keys", "rewrap"],
        &[
            ("EXSVC_ENV", "production"),
            ("EXSVC_DATABASE_URL", url.as_str()),
            ("EXSVC_MASTER_KEYS", keys.as_str()),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Bad keyrings stop the start with one line and exit 2.
#[test]
fn bad_keyrings_are_configuration_errors() {
    for (keys, needle) in [("k1:c2hvcnQ=", "exactly 32"), ("k1", "EXSVC_MASTER_KEYS"), ("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "k1")] {
        let output = run(&["serve"], &[("EXSVC_JWT_SECRET", TEST_SECRET), ("EXSVC_MASTER_KEYS", keys)]);
        assert_eq!(output.status.code(), Some(2), "{keys}");
        let text = stderr(&output);
        assert_eq!(text.trim_end().lines().count(), 1, "{text}");
        assert!(text.contains(needle) && text.contains("EXSVC_MASTER_KEYS"), "{text}");
        assert!(!text.contains("AAECAwQF"), "key material in an error: {text}");
    }
    let output = run(
        &["serve"],
        &[
            ("EXSVC_ENV", "production"),
            ("EXSVC_JWT_SECRET", TEST_SECRET),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("EXSVC_MASTER_KEYS"));
}

/// Two replicas of the real binary on one PostgreSQL database and one Redis:
/// the rate limit is one limit, and a service made through one replica is read,
/// changed and deleted through the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_limit_and_one_database() {
    let db = TestDatabase::empty().await;
    let (dir_a, dir_b) = (scratch_dir(), scratch_dir());
    let keys = String::from_utf8(run(&["keys", "generate", "--id", "k1"], &[]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let vars = [
        ("EXSVC_DATABASE_URL", db.url.as_str()),
        ("EXSVC_JWT_SECRET", TEST_SECRET),
        ("EXSVC_MASTER_KEYS", keys.as_str()),
        ("EXSVC_REDIS_URL", "redis://127.0.0.1:6379"),
        ("EXSVC_RATE_LIMIT_PER_MINUTE", "100"),
    ];
    let (a, b) = tokio::join!(Server::start(&dir_a, &vars), Server::start(&dir_b, &vars));
    let client = reqwest::Client::new();
    // A tenant of its own, so earlier runs' budgets in Redis do not count.
    let tenant = format!("replicas-{}", uuid::Uuid::now_v7().simple());
    let token = String::from_utf8(
        run(
            &["token", "--tenant", &tenant, "--role", "admin"],
            &[("EXSVC_JWT_SECRET", TEST_SECRET)],
        )
        .stdout,
    )
    .unwrap();
    let token = token.trim().to_owned();

    let started = Instant::now();
    let mut passed = 0u64;
    for i in 0..150 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let response = client
            .get(format!("{base}/api/v1/services"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => passed += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    let elapsed = started.elapsed();
    // 100 at once, plus what the elapsed time refilled (100 a minute).
    let refill = (elapsed.as_secs_f64() * 100.0 / 60.0).ceil() as u64;
    assert!(
        passed >= 100 && passed <= 100 + refill,
        "{passed} passed in {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "the 150 requests took {elapsed:?}"
    );

    // One database: made on A, read, changed and deleted on B.
    let crud_token = String::from_utf8(
        run(
            &[
                "token",
                "--tenant",
                &format!("{tenant}-crud"),
                "--role",
                "admin",
            ],
            &[("EXSVC_JWT_SECRET", TEST_SECRET)],
        )
        .stdout,
    )
    .unwrap();
    let crud_token = crud_token.trim();
    let created = client
        .post(format!("{}/api/v1/services", a.base))
        .bearer_auth(crud_token)
        .json(&json!({"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{}/api/v1/services/{id}", b.base);
    assert_eq!(
        client
            .get(&url)
            .bearer_auth(crud_token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let patched = client
        .patch(&url)
        .bearer_auth(crud_token)
        .json(&json!({"description": "via B"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let on_a = client
        .get(format!("{}/api/v1/services/{id}", a.base))
        .bearer_auth(crud_token)
        .send()
        .await
        .unwrap();
    assert_eq!(on_a.json::<Value>().await.unwrap()["description"], "via B");
    assert_eq!(
        client
            .delete(&url)
            .bearer_auth(crud_token)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        client
            .get(format!("{}/api/v1/services/{id}", a.base))
            .bearer_auth(crud_token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let (exit_a, exit_b) = tokio::join!(a.stop(), b.stop());
    let (status_a, status_b) = (exit_a.status, exit_b.status);
    assert_eq!((status_a.code(), status_b.code()), (Some(0), Some(0)));
    std::fs::remove_dir_all(dir_a).unwrap();
    std::fs::remove_dir_all(dir_b).unwrap();
}

/// A new user's first five minutes: no variables at all. The service starts on
/// SQLite, prints a working admin token, and after a restart both the data and
/// the token are still good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_mode_with_no_configuration_survives_a_restart() {
    let dir = scratch_dir();
    let client = reqwest::Client::new();

    let first = Server::start(&dir, &[]).await;
    let token = first.dev_token();
    let banner = first.stderr.lock().unwrap().clone();
    assert!(banner.contains("/swagger-ui/"), "{banner}");
    let secret_file = dir.join("data/dev-jwt-secret");
    let mode = std::fs::metadata(&secret_file)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        dir.join("data/exsvc.db").is_file(),
        "SQLite is the default store"
    );
    let created = client
        .post(format!("{}/api/v1/services", first.base))
        .bearer_auth(&token)
        .json(&json!({"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let Exited {
        status,
        stdout: logs,
        ..
    } = first.stop().await;
    assert_eq!(status.code(), Some(0));
    assert!(
        logs.contains("DEVELOPMENT MODE"),
        "a warning is logged: {logs}"
    );
    let secret = std::fs::read_to_string(&secret_file).unwrap();

    let second = Server::start(&dir, &[]).await;
    let got = client
        .get(format!("{}/api/v1/services/{id}", second.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200, "data and keys survive a restart");
    assert_eq!(
        std::fs::read_to_string(&secret_file).unwrap(),
        secret,
        "the key is reused"
    );
    // `exsvc token` where the server runs signs with the server's secret and
    // says which; the token it mints is accepted.
    let minted = exsvc(&["token", "--tenant", "dev", "--role", "admin"], &[])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(minted.status.code(), Some(0), "{}", stderr(&minted));
    assert!(
        stderr(&minted).contains(&secret_file.display().to_string()),
        "names the secret it used: {}",
        stderr(&minted)
    );
    let minted_token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
    let listed = client
        .get(format!("{}/api/v1/services", second.base))
        .bearer_auth(&minted_token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let status = second.stop().await.status;
    assert_eq!(status.code(), Some(0));
    // From another folder it used to make a secret of its own, silently, and
    // mint a token the server refuses: now it refuses, and writes nothing.
    let elsewhere = scratch_dir();
    let refused = exsvc(&["token", "--tenant", "dev"], &[])
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("EXSVC_DATA_DIR"),
        "{}",
        stderr(&refused)
    );
    assert!(!elsewhere.join("data").exists(), "no secret was created");
    std::fs::remove_dir_all(elsewhere).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// The development banner says what to do next: the admin token and, away
/// from the client's default address, that address, as the `exsvc` client
/// reads them (EXSVC_TOKEN, EXSVC_ADDR); three client commands; the Swagger
/// UI; and where the console will be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_development_banner_says_what_to_run_next() {
    let dir = scratch_dir();
    let server = Server::start(&dir, &[("EXSVC_BASE_PATH", "/exsvc")]).await;
    // The banner follows the bind: give its last line a moment to arrive.
    let started = Instant::now();
    while !server.stderr.lock().unwrap().contains("Console:")
        && started.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let banner = server.stderr.lock().unwrap().clone();
    let lines: Vec<&str> = banner.lines().map(str::trim).collect();
    let address = format!("{}/exsvc", server.base);
    let token = lines
        .iter()
        .find_map(|line| line.strip_prefix("export EXSVC_TOKEN="))
        .unwrap_or_else(|| panic!("no export EXSVC_TOKEN= line: {banner}"));
    let listed = reqwest::Client::new()
        .get(format!("{address}/api/v1/services"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200, "the printed token is an admin's");
    for line in [
        format!("export EXSVC_ADDR={address}"),
        "exsvc services list".to_owned(),
        "exsvc services create --name Stripe --type payment --base-url https://api.stripe.com/v1"
            .to_owned(),
        "exsvc credentials put Stripe --auth-type api_key --set key=-".to_owned(),
    ] {
        assert!(lines.contains(&line.as_str()), "no line {line:?}: {banner}");
    }
    let labelled = |label: &str| {
        lines
            .iter()
            .find_map(|line| line.strip_prefix(label))
            .map(str::trim_start)
            .unwrap_or_else(|| panic!("no {label} line: {banner}"))
    };
    assert_eq!(labelled("Swagger UI:"), format!("{address}/swagger-ui/"));
    assert_eq!(
        labelled("Console:"),
        format!("{address}/console/ (arrives with the web console)")
    );
    assert!(
        banner.contains("target/debug/exsvc")
            && banner.contains("cargo install --path crates/exsvc"),
        "where the client is: {banner}"
    );
    assert!(!banner.contains("export TOKEN="), "{banner}");
    assert_eq!(server.stop().await.status.code(), Some(0));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Moving from development to production without carrying the keys: the start
/// warns of the defaulted database, and a credential that no longer opens is a
/// 500 whose log line names the missing master key and where it lived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_data_read_in_production_is_explained_in_the_log() {
    let dir = scratch_dir();
    let client = reqwest::Client::new();
    let development = Server::start(&dir, &[]).await;
    let token = development.dev_token();
    let created = client
        .post(format!("{}/api/v1/services", development.base))
        .bearer_auth(&token)
        .json(
            &json!({"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com",
                      "auth_type": "bearer", "credentials": {"token": "t"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    development.stop().await;
    let secret = std::fs::read_to_string(dir.join("data/dev-jwt-secret")).unwrap();
    let other_keys = String::from_utf8(run(&["keys", "generate", "--id", "prod1"], &[]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let production = Server::start(
        &dir,
        &[
            ("EXSVC_ENV", "production"),
            ("EXSVC_JWT_SECRET", secret.trim()),
            ("EXSVC_MASTER_KEYS", other_keys.as_str()),
        ],
    )
    .await;
    let response = client
        .get(format!(
            "{}/api/v1/services/{id}/credentials",
            production.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let body = response.text().await.unwrap();
    assert!(!body.contains("dev1"), "the answer stays generic: {body}");
    let logs = production.stop().await.stdout;
    assert!(
        logs.contains("EXSVC_ENV=production with no EXSVC_DATABASE_URL"),
        "{logs}"
    );
    assert!(
        logs.contains("master key 'dev1' is not in the keyring") && logs.contains("dev-master-key"),
        "{logs}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Health, readiness and Prometheus metrics of the real binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints() {
    let dir = scratch_dir();
    let server = Server::start(&dir, &[("EXSVC_JWT_SECRET", TEST_SECRET)]).await;
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let token = String::from_utf8(
        run(
            &["token", "--tenant", "acme", "--role", "admin"],
            &[("EXSVC_JWT_SECRET", TEST_SECRET)],
        )
        .stdout,
    )
    .unwrap();
    for _ in 0..3 {
        let listed = client
            .get(format!("{}/api/v1/services", server.base))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap();
        assert_eq!(listed.status(), 200);
    }
    let missing = client
        .get(format!(
            "{}/api/v1/services/{}",
            server.base,
            uuid::Uuid::now_v7()
        ))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let metrics = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(
            r#"exsvc_http_requests_total{method="GET",route="/api/v1/services",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/v1/services/{id}",status="404""#),
        "by route template, never the raw path: {text}"
    );
    assert!(
        text.contains("exsvc_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"exsvc_db_pool_connections{state="idle"}"#)
            && text.contains(r#"exsvc_db_pool_connections{state="in_use"}"#),
        "{text}"
    );
    let status = server.stop().await.status;
    assert_eq!(status.code(), Some(0));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Neither the HMAC secret nor any token reaches the logs, even at debug level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_never_carry_a_secret_or_a_token() {
    let dir = scratch_dir();
    let canary_secret = "CANARY-SECRET-7f3a9c1e-do-not-log-0123456789";
    let server = Server::start(
        &dir,
        &[("EXSVC_JWT_SECRET", canary_secret), ("EXSVC_LOG", "debug")],
    )
    .await;
    let client = reqwest::Client::new();
    let valid = String::from_utf8(
        run(
            &["token", "--tenant", "acme", "--role", "admin"],
            &[("EXSVC_JWT_SECRET", canary_secret)],
        )
        .stdout,
    )
    .unwrap();
    let valid = valid.trim();
    let bogus = "CANARY.TOKEN.abcdef0123456789";
    for token in [valid, bogus] {
        client
            .get(format!("{}/api/v1/services", server.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        client
            .post(format!("{}/api/v1/services", server.base))
            .bearer_auth(token)
            .json(&json!({"name": "Stripe", "type": "payment", "base_url": "https://user:CANARY@api.stripe.com"}))
            .send()
            .await
            .unwrap();
    }
    let Exited { stdout, stderr, .. } = server.stop().await;
    let everything = format!("{stdout}{stderr}");
    assert!(everything.contains("\"route\""), "requests were logged");
    let signature = valid.rsplit('.').next().unwrap();
    for canary in [canary_secret, valid, signature, bogus, "CANARY"] {
        assert!(
            !everything.contains(canary),
            "{canary} leaked into the logs"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A TOML file under the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_is_layered_under_the_environment() {
    let dir = scratch_dir();
    let file = dir.join("exsvc.toml");
    std::fs::write(
        &file,
        format!("jwt_secret = \"{TEST_SECRET}\"\nbase_path = \"/exsvc\"\ndb_pool_size = 4\n"),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut child = exsvc(
        &["--config", file.to_str().unwrap(), "serve"],
        &[
            ("EXSVC_LISTEN", listen.as_str()),
            ("EXSVC_BASE_PATH", "/override"),
        ],
    )
    .current_dir(&dir)
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let status = loop {
        if let Ok(response) = client
            .get(format!("http://{listen}/override/healthz"))
            .send()
            .await
        {
            break response.status();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        status, 200,
        "the environment's base path wins over the file's"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    std::fs::write(&file, "colour = \"red\"\n").unwrap();
    let output = exsvc(&["--config", file.to_str().unwrap(), "serve"], &[])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("colour"));
    let output = exsvc(&["--config", "/nonexistent.toml", "serve"], &[])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    std::fs::remove_dir_all(dir).unwrap();
}
