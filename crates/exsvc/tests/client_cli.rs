//! The command-line client as a user runs it: the real `exsvc` binary against
//! a real `exsvc serve` (development mode, SQLite in a scratch directory).
//! Tables and `-o json`, REF by id or exact name, secrets from standard input
//! and files, `run`, exit codes 0/1/2, a closed pipe, and a secret that
//! reaches no log.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use exsvc_testkit::net::{TestCa, TokenEndpoint, TokenEndpointConfig};
use serde_json::{json, Value};
use support::{Scratch, Server, BIN};

/// What one run of the client printed, and how it ended.
#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self
    }

    /// Exit 1 (an error of the API or the connection), with `text` in the
    /// error on standard error and nothing on standard output.
    #[track_caller]
    fn fails(self, text: &str) -> Self {
        assert_eq!(self.code, Some(1), "expected exit 1: {self:#?}");
        assert!(self.stderr.starts_with("error: "), "{self:#?}");
        assert!(self.stderr.contains(text), "expected '{text}': {self:#?}");
        assert_eq!(self.stdout, "", "{self:#?}");
        self
    }

    /// Exit 2: a usage error, said on standard error.
    #[track_caller]
    fn usage(self) -> Self {
        assert_eq!(self.code, Some(2), "expected a usage error: {self:#?}");
        assert!(self.stderr.contains("error"), "{self:#?}");
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        assert_eq!(self.stdout, "", "{self:#?}");
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Cells of a table line: columns are two or more spaces apart.
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// The binary with no `EXSVC_*` variable of the test's environment.
fn bare(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("EXSVC_") {
            command.env_remove(key);
        }
    }
    command.current_dir(std::env::temp_dir());
    command
}

fn finish(command: &mut Command, input: Option<&[u8]>) -> Out {
    let mut child = command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run exsvc");
    if let Some(input) = input {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    Out {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// A server of the test's own, and the client pointed at it.
struct Setup {
    scratch: Scratch,
    server: Server,
    token: String,
    /// The client's working directory, TMPDIR and HOME: empty, and kept so.
    home: PathBuf,
    http: reqwest::Client,
}

impl Setup {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    async fn start_with(vars: &[(&str, &str)]) -> Self {
        let scratch = Scratch::new("client-cli");
        let server = Server::start(&scratch.0, vars).await;
        let token = server.dev_token();
        let home = scratch.0.join("client-home");
        std::fs::create_dir_all(&home).unwrap();
        Setup {
            scratch,
            server,
            token,
            home,
            http: reqwest::Client::new(),
        }
    }

    /// The client as a user runs it: EXSVC_ADDR and EXSVC_TOKEN set.
    fn command(&self, args: &[&str]) -> Command {
        self.command_as(&self.token, args)
    }

    fn command_as(&self, token: &str, args: &[&str]) -> Command {
        let mut command = bare(args);
        command
            .env("EXSVC_ADDR", &self.server.base)
            .env("EXSVC_TOKEN", token)
            .env("HOME", &self.home)
            .env("TMPDIR", &self.home)
            .current_dir(&self.home);
        command
    }

    fn run(&self, args: &[&str]) -> Out {
        finish(&mut self.command(args), None)
    }

    fn run_as(&self, token: &str, args: &[&str]) -> Out {
        finish(&mut self.command_as(token, args), None)
    }

    fn run_with_stdin(&self, args: &[&str], input: &str) -> Out {
        finish(&mut self.command(args), Some(input.as_bytes()))
    }

    /// `exsvc token` in the server's directory (its development secret).
    fn mint(&self, args: &[&str]) -> String {
        let mut command = bare(&[&["token", "--tenant", "dev"], args].concat());
        command.current_dir(&self.scratch.0);
        let out = finish(&mut command, None).ok();
        out.stdout.trim().to_owned()
    }

    /// A service made over HTTP, as JSON.
    async fn create(&self, body: Value) -> Value {
        let answer = self
            .http
            .post(self.server.url("/api/v1/services"))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201);
        answer.json().await.unwrap()
    }

    /// The body of an HTTP GET, as text.
    async fn get(&self, path: &str) -> String {
        let answer = self
            .http
            .get(self.server.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "GET {path}");
        answer.text().await.unwrap()
    }
}

/// Every path under `dir`.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut paths = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path.clone());
            }
            paths.insert(path);
        }
    }
    paths
}

fn id(service: &Value) -> String {
    service["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn services_print_tables_and_the_apis_json_unchanged() {
    let setup = Setup::start().await;

    // create: a record in table form, the API's answer with -o json.
    let created = setup
        .run(&[
            "services",
            "create",
            "--name",
            "Stripe",
            "--type",
            "payment",
            "--base-url",
            "https://api.stripe.com",
            "--description",
            "Payments",
            "--metadata",
            "team=billing",
            "--metadata",
            "tier:=2",
        ])
        .ok();
    let record: Vec<Vec<&str>> = created.lines().iter().map(|l| cells(l)).collect();
    assert_eq!(record[0][0], "id", "{}", created.stdout);
    assert!(record.contains(&vec!["name", "Stripe"]), "{record:?}");
    assert!(record.contains(&vec!["type", "payment"]), "{record:?}");
    assert!(record.contains(&vec!["metadata", r#"{"team":"billing","tier":2}"#]));
    let stripe_id = record[0][1].to_owned();
    let second = setup
        .run(&[
            "-o",
            "json",
            "services",
            "create",
            "--name",
            "Twilio",
            "--type",
            "sms",
            "--base-url",
            "https://api.twilio.com",
        ])
        .ok();
    let twilio = second.json();
    assert_eq!(twilio["name"], "Twilio");
    assert_eq!(second.lines().len(), 1, "the API's compact JSON");
    let twilio_id = id(&twilio);

    // list: a header row, then one row per service, newest first.
    let listed = setup.run(&["services", "list"]).ok();
    let rows: Vec<Vec<&str>> = listed.lines().iter().map(|l| cells(l)).collect();
    assert_eq!(
        rows[0],
        ["NAME", "TYPE", "STATUS", "AUTH", "EXPIRES", "ID"],
        "{}",
        listed.stdout
    );
    assert_eq!(
        rows[1..],
        [
            vec!["Twilio", "sms", "active", "-", "-", twilio_id.as_str()],
            vec!["Stripe", "payment", "active", "-", "-", stripe_id.as_str()],
        ]
    );
    // -o json: byte for byte what the API answers to the same GET.
    let listed = setup.run(&["services", "list", "-o", "json"]).ok();
    assert_eq!(
        listed.stdout.trim_end(),
        setup.get("/api/v1/services").await
    );
    let filtered = setup
        .run(&["services", "list", "--type", "sms", "-o", "json"])
        .ok();
    assert_eq!(
        filtered.stdout.trim_end(),
        setup.get("/api/v1/services?type=sms").await
    );

    // get, by name and by id: the same record; -o json is the API's.
    let by_name = setup.run(&["services", "get", "Stripe"]).ok();
    let by_id = setup.run(&["services", "get", &stripe_id]).ok();
    assert_eq!(by_name.stdout, by_id.stdout);
    assert!(by_name.stdout.contains("Payments"));
    let api = setup.get(&format!("/api/v1/services/{stripe_id}")).await;
    for reference in ["Stripe", stripe_id.as_str()] {
        let got = setup
            .run(&["services", "get", reference, "-o", "json"])
            .ok();
        assert_eq!(got.stdout.trim_end(), api);
    }

    // update: only the fields given; metadata entries merged.
    let updated = setup
        .run(&[
            "services",
            "update",
            "Stripe",
            "--status",
            "inactive",
            "--metadata",
            "tier:=null",
            "--metadata",
            "region=eu",
        ])
        .ok();
    let record: Vec<Vec<&str>> = updated.lines().iter().map(|l| cells(l)).collect();
    assert!(record.contains(&vec!["status", "inactive"]), "{record:?}");
    assert!(record.contains(&vec!["version", "2"]), "{record:?}");
    assert!(record.contains(&vec!["description", "Payments"]));
    assert!(record.contains(&vec!["metadata", r#"{"region":"eu","team":"billing"}"#]));
    let updated = setup
        .run(&[
            "services",
            "update",
            &twilio_id,
            "--name",
            "Twilio EU",
            "-o",
            "json",
        ])
        .ok();
    assert_eq!(
        updated.stdout.trim_end(),
        setup.get(&format!("/api/v1/services/{twilio_id}")).await
    );
    assert_eq!(updated.json()["name"], "Twilio EU");
    let inactive = setup
        .run(&["services", "list", "--status", "inactive"])
        .ok();
    assert_eq!(inactive.lines().len(), 2, "{}", inactive.stdout);
    assert!(inactive.lines()[1].starts_with("Stripe"));

    // delete: refused without --yes when nobody can be asked; then done.
    setup.run(&["services", "delete", "Stripe"]).usage();
    setup.run(&["services", "get", "Stripe"]).ok();
    let deleted = setup.run(&["services", "delete", "Stripe", "--yes"]).ok();
    assert!(
        deleted.stdout.contains("deleted service 'Stripe'"),
        "{deleted:?}"
    );
    setup
        .run(&["services", "get", &stripe_id])
        .fails(&stripe_id);
    let quiet = setup
        .run(&["services", "delete", "Twilio EU", "--yes", "-o", "json"])
        .ok();
    assert_eq!(quiet.stdout, "");

    // Nothing left: no rows, and the API's empty page with -o json.
    let empty = setup.run(&["services", "list"]).ok();
    assert_eq!(empty.stdout, "");
    assert!(empty.stderr.contains("no services"));
    let empty = setup.run(&["services", "list", "-o", "json"]).ok();
    assert_eq!(empty.stdout.trim_end(), setup.get("/api/v1/services").await);
}

#[tokio::test]
async fn list_all_follows_every_page() {
    let setup = Setup::start().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let service = setup
            .create(
                json!({"name": format!("svc-{n}"), "type": "t", "base_url": "https://x.example"}),
            )
            .await;
        ids.push(id(&service));
    }
    ids.reverse(); // newest first

    let first = setup.run(&["services", "list", "--limit", "2"]).ok();
    assert_eq!(first.lines().len(), 3, "a header and one page");
    assert!(first.stderr.contains("--all"), "says there is more");
    let first = setup
        .run(&["services", "list", "--limit", "2", "-o", "json"])
        .ok();
    assert_eq!(
        first.stdout.trim_end(),
        setup.get("/api/v1/services?limit=2").await
    );

    let all = setup
        .run(&["services", "list", "--all", "--limit", "2"])
        .ok();
    let listed: Vec<&str> = all.lines()[1..]
        .iter()
        .map(|l| *cells(l).last().unwrap())
        .collect();
    assert_eq!(listed, ids);
    assert!(!all.stderr.contains("--all"));

    // One document of every page, in the API's shape and values.
    let all = setup
        .run(&["services", "list", "--all", "--limit", "2", "-o", "json"])
        .ok()
        .json();
    let api: Value = serde_json::from_str(&setup.get("/api/v1/services").await).unwrap();
    assert_eq!(all, api);
    // Byte for byte: the services as the server wrote them, in its order.
    let all = setup
        .run(&["services", "list", "--all", "--limit", "2", "-o", "json"])
        .ok();
    assert_eq!(
        all.stdout.trim_end(),
        setup.get("/api/v1/services?limit=100").await
    );
}

#[tokio::test]
async fn a_reference_is_an_id_or_an_exact_name() {
    let setup = Setup::start().await;
    let b = setup
        .create(json!({"name": "billing", "type": "t", "base_url": "https://b.example"}))
        .await;
    let b_id = id(&b);
    // Names that a query string could mangle still resolve.
    for name in ["c++", "50% off", "a&b=c", "Zürich", "under_score"] {
        let made = setup
            .create(json!({"name": name, "type": "t", "base_url": "https://x.example"}))
            .await;
        let got = setup.run(&["services", "get", name, "-o", "json"]).ok();
        assert_eq!(got.json()["id"], made["id"], "{name}");
    }
    let got = setup.run(&["services", "get", &b_id, "-o", "json"]).ok();
    assert_eq!(got.json()["name"], "billing");
    let by_name = setup.run(&["credentials", "versions", "billing"]).ok();
    assert!(by_name
        .stderr
        .contains("no credential stored for 'billing'"));

    // Unknown: a name, an id, a part of a name.
    setup
        .run(&["services", "get", "nope"])
        .fails("no service has the id or name 'nope'");
    let unknown = uuid::Uuid::now_v7().to_string();
    setup.run(&["services", "get", &unknown]).fails(&unknown);
    setup
        .run(&["services", "get", "bill"])
        .fails("no service has the id or name 'bill'");
    setup
        .run(&["credentials", "get", "nope"])
        .fails("no service");
    setup
        .run(&["run", "--service", "nope", "--", "true"])
        .fails("no service");
    setup
        .run(&["audit", "list", "--service", "nope"])
        .fails("no service");

    // Ambiguous: service A is named with service B's id.
    let a = setup
        .create(json!({"name": b_id, "type": "t", "base_url": "https://a.example"}))
        .await;
    let a_id = id(&a);
    for args in [
        vec!["services", "get", b_id.as_str()],
        vec!["credentials", "versions", b_id.as_str()],
        vec!["services", "delete", b_id.as_str(), "--yes"],
    ] {
        setup.run(&args).fails("ambiguous");
    }
    // Neither was deleted; each is still reached another way.
    let got = setup
        .run(&["services", "get", "billing", "-o", "json"])
        .ok();
    assert_eq!(got.json()["id"], b["id"]);
    let got = setup.run(&["services", "get", &a_id, "-o", "json"]).ok();
    assert_eq!(got.json()["name"], b_id.as_str());
}

#[tokio::test]
async fn credentials_take_secrets_from_stdin_and_files_and_print_one_field() {
    let setup = Setup::start().await;
    let service = setup
        .create(json!({"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com"}))
        .await;
    let service_id = id(&service);

    // KEY=- from standard input, one trailing newline removed.
    let stored = setup
        .run_with_stdin(
            &[
                "credentials",
                "put",
                "Stripe",
                "--auth-type",
                "api_key",
                "--set",
                "key=-",
                "--set",
                "header_name=X-Api-Key",
            ],
            "sk_test_from_stdin\n",
        )
        .ok();
    assert_eq!(
        stored.stdout,
        "stored version 1 (api_key) of the credential of 'Stripe'\n"
    );
    let field = setup
        .run(&["credentials", "get", "Stripe", "--field", "key"])
        .ok();
    assert_eq!(
        field.stdout, "sk_test_from_stdin\n",
        "the value and a newline"
    );
    assert_eq!(field.stderr, "");

    // KEY=@PATH from a file, one trailing newline removed; KEY:=JSON a value;
    // --expires-at; -o json is the API's answer.
    let file = setup.scratch.0.join("secret.txt");
    std::fs::write(&file, "from-a-file\n\n").unwrap();
    let stored = setup
        .run(&[
            "credentials",
            "put",
            &service_id,
            "--auth-type",
            "custom",
            "--set",
            &format!("key=@{}", file.display()),
            "--set",
            r#"scopes:=["read","write"]"#,
            "--set",
            "plain=a=b",
            "--expires-at",
            "2099-01-01",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(stored["version"], 2);
    assert!(
        stored["expires_at"]
            .as_str()
            .unwrap()
            .starts_with("2099-01-01T00:00:00"),
        "{stored}"
    );
    let credential: Value = serde_json::from_str(
        &setup
            .get(&format!("/api/v1/services/{service_id}/credentials"))
            .await,
    )
    .unwrap();
    assert_eq!(
        credential["credentials"],
        json!({"key": "from-a-file\n", "scopes": ["read", "write"], "plain": "a=b"})
    );
    let field = setup
        .run(&["credentials", "get", "Stripe", "--field", "scopes"])
        .ok();
    assert_eq!(field.stdout, "[\"read\",\"write\"]\n");
    let field = setup
        .run(&[
            "credentials",
            "get",
            "Stripe",
            "--field",
            "key",
            "-o",
            "json",
        ])
        .ok();
    assert_eq!(field.stdout, "from-a-file\n\n");
    setup
        .run(&["credentials", "get", "Stripe", "--field", "nope"])
        .fails("no key 'nope'");
    let earlier = setup
        .run(&[
            "credentials",
            "get",
            "Stripe",
            "--version",
            "1",
            "--field",
            "key",
        ])
        .ok();
    assert_eq!(earlier.stdout, "sk_test_from_stdin\n");

    // --from-file: a JSON object (here from standard input), --set adds to it.
    setup
        .run_with_stdin(
            &[
                "credentials",
                "put",
                "Stripe",
                "--auth-type",
                "basic",
                "--from-file",
                "-",
                "--set",
                "username=ops",
            ],
            r#"{"password": "pw-from-json", "username": "overridden"}"#,
        )
        .ok();
    let field = setup
        .run(&["credentials", "get", "Stripe", "--field", "password"])
        .ok();
    assert_eq!(field.stdout, "pw-from-json\n");

    // get: a record, then a KEY VALUE table; -o json is the API's answer
    // (but for retrieved_at, the time of each read).
    let got = setup.run(&["credentials", "get", "Stripe"]).ok();
    let rows: Vec<Vec<&str>> = got.lines().iter().map(|l| cells(l)).collect();
    assert!(rows.contains(&vec!["auth_type", "basic"]), "{rows:?}");
    assert!(rows.contains(&vec!["version", "3"]), "{rows:?}");
    let header = rows.iter().position(|r| r == &["KEY", "VALUE"]).unwrap();
    assert_eq!(
        rows[header + 1..],
        [vec!["password", "pw-from-json"], vec!["username", "ops"]]
    );
    let mut got = setup
        .run(&["credentials", "get", "Stripe", "-o", "json"])
        .ok()
        .json();
    let mut api: Value = serde_json::from_str(
        &setup
            .get(&format!("/api/v1/services/{service_id}/credentials"))
            .await,
    )
    .unwrap();
    for value in [&mut got, &mut api] {
        assert!(value["retrieved_at"].is_string());
        value.as_object_mut().unwrap().remove("retrieved_at");
    }
    assert_eq!(got, api);

    // versions: a table, newest first; -o json is the API's.
    let versions = setup.run(&["credentials", "versions", "Stripe"]).ok();
    let rows: Vec<Vec<&str>> = versions.lines().iter().map(|l| cells(l)).collect();
    assert_eq!(
        rows[0],
        ["VERSION", "AUTH", "CREATED", "EXPIRES", "CURRENT"]
    );
    assert_eq!(
        rows[1..]
            .iter()
            .map(|r| (r[0], r[1], *r.last().unwrap()))
            .collect::<Vec<_>>(),
        [
            ("3", "basic", "yes"),
            ("2", "custom", "2099-01-01 00:00 UTC"),
            ("1", "api_key", "-")
        ]
    );
    let versions = setup
        .run(&["credentials", "versions", "Stripe", "-o", "json"])
        .ok();
    assert_eq!(
        versions.stdout.trim_end(),
        setup
            .get(&format!(
                "/api/v1/services/{service_id}/credentials/versions"
            ))
            .await
    );

    // The service's row says which kind of credential it has.
    let listed = setup.run(&["services", "list"]).ok();
    assert_eq!(cells(listed.lines()[1])[3], "basic");

    // delete: refused without --yes when nobody can be asked; then a 404.
    setup.run(&["credentials", "delete", "Stripe"]).usage();
    let deleted = setup
        .run(&["credentials", "delete", "Stripe", "--yes"])
        .ok();
    assert_eq!(deleted.stdout, "deleted the credential of 'Stripe'\n");
    setup
        .run(&["credentials", "get", "Stripe"])
        .fails("error: CREDENTIALS_NOT_FOUND: ");
}

#[tokio::test]
async fn a_secret_from_stdin_reaches_no_log() {
    const CANARY: &str = "CANARY-cli-7d1e55-secret";
    let setup = Setup::start_with(&[("EXSVC_LOG", "debug")]).await;
    setup
        .create(json!({"name": "vault", "type": "t", "base_url": "https://v.example"}))
        .await;
    let mut command = setup.command(&[
        "credentials",
        "put",
        "vault",
        "--auth-type",
        "bearer",
        "--set",
        "token=-",
    ]);
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{CANARY}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!printed.contains(CANARY), "{printed}");
    // It was stored, whole.
    let field = setup
        .run(&["credentials", "get", "vault", "--field", "token"])
        .ok();
    assert_eq!(field.stdout, format!("{CANARY}\n"));
    setup.run(&["credentials", "get", "vault"]).ok();
    setup.run(&["audit", "list", "-o", "json"]).ok();

    let exited = setup.server.stop().await;
    let logs = exited.output();
    assert!(
        logs.contains("credentials"),
        "the log has request lines: {logs}"
    );
    assert!(
        !logs.contains(CANARY),
        "the secret reached the server's log"
    );
}

#[tokio::test]
async fn run_passes_the_credential_in_the_environment_and_the_exit_code_back() {
    let setup = Setup::start().await;
    setup
        .create(
            json!({"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com",
            "auth_type": "api_key", "credentials": {"key": "sk_live_run", "header_name": "X-Key"}}),
        )
        .await;
    let second = setup
        .create(
            json!({"name": "billing live-2", "type": "t", "base_url": "https://b.example",
            "auth_type": "basic", "credentials": {"username": "u", "password": "p w=1"}}),
        )
        .await;
    let before = tree(&setup.scratch.0);

    let printed = setup
        .run(&[
            "run",
            "--service",
            "Stripe",
            "--",
            "sh",
            "-c",
            r#"printf %s "$STRIPE_KEY""#,
        ])
        .ok();
    assert_eq!(printed.stdout, "sk_live_run");
    assert_eq!(printed.stderr, "");

    // Every key; the default prefix is the name upper-cased, other
    // characters as `_`; REF=PREFIX names another; REF may be an id.
    let printed = setup
        .run(&[
            "run",
            "--service",
            "Stripe=pay",
            "--service",
            &id(&second),
            "--",
            "sh",
            "-c",
            r#"printf '%s|%s|%s|%s|%s' "$PAY_KEY" "$PAY_HEADER_NAME" "$BILLING_LIVE_2_USERNAME" "$BILLING_LIVE_2_PASSWORD" "${STRIPE_KEY-unset}""#,
        ])
        .ok();
    assert_eq!(printed.stdout, "sk_live_run|X-Key|u|p w=1|unset");

    // The command's exit code, its arguments and streams are its own.
    let out = setup.run(&[
        "run",
        "--service",
        "Stripe",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(out.code, Some(7), "{out:?}");
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("out\n", "err\n")
    );
    let out = setup.run_with_stdin(&["run", "--service", "Stripe", "--", "cat"], "in\n");
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "in\n"));
    // The client's own connection is not handed down to the command.
    let fds = setup
        .run(&[
            "run",
            "--service",
            "Stripe",
            "--",
            "ls",
            "-l",
            "/proc/self/fd",
        ])
        .ok();
    assert!(!fds.stdout.contains("socket:"), "{}", fds.stdout);

    // Nothing was written: no new file in the scratch directory, the
    // client's working directory and TMPDIR still empty.
    assert_eq!(tree(&setup.scratch.0), before);
    assert!(tree(&setup.home).is_empty());

    // A command that cannot start, and a service without a credential.
    setup
        .run(&["run", "--service", "Stripe", "--", "/nonexistent/program"])
        .fails("cannot run /nonexistent/program");
    setup
        .create(json!({"name": "bare", "type": "t", "base_url": "https://x.example"}))
        .await;
    setup
        .run(&["run", "--service", "bare", "--", "true"])
        .fails("error: CREDENTIALS_NOT_FOUND: ");
    // Two services under one prefix would set the same variable.
    setup
        .run(&[
            "run",
            "--service",
            "Stripe",
            "--service",
            "Stripe",
            "--",
            "true",
        ])
        .usage();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_adds_an_access_token_for_oauth2_client_credentials() {
    let scratch_ca = Scratch::new("client-cli-ca");
    let ca = TestCa::new();
    let ca_file = scratch_ca.0.join("egress-ca.pem");
    ca.write_pem(&ca_file);
    let endpoint = TokenEndpoint::start(&ca, TokenEndpointConfig::default()).await;
    let setup = Setup::start_with(&[
        ("EXSVC_EGRESS_ALLOW_CIDRS", "127.0.0.0/8"),
        ("EXSVC_EGRESS_CA_FILE", ca_file.to_str().unwrap()),
    ])
    .await;
    let service = setup
        .create(
            json!({"name": "crm", "type": "crm", "base_url": "https://crm.example",
            "auth_type": "oauth2_client_credentials",
            "credentials": {"client_id": "client-1", "client_secret": "s3cret",
                "token_url": endpoint.url(), "scopes": ["read"]}}),
        )
        .await;
    let before = tree(&setup.scratch.0);

    let printed = setup
        .run(&[
            "run",
            "--service",
            "crm",
            "--",
            "sh",
            "-c",
            r#"printf '%s|%s|%s|%s' "$CRM_ACCESS_TOKEN" "$CRM_CLIENT_ID" "$CRM_CLIENT_SECRET" "$CRM_SCOPES""#,
        ])
        .ok();
    assert_eq!(printed.stdout, "tok-1|client-1|s3cret|[\"read\"]");
    assert_eq!(endpoint.request_count(), 1);
    assert_eq!(tree(&setup.scratch.0), before);
    assert!(tree(&setup.home).is_empty());

    // credentials token: the broker's (cached) token, as a record or the API's JSON.
    let token = setup.run(&["credentials", "token", "crm"]).ok();
    let rows: Vec<Vec<&str>> = token.lines().iter().map(|l| cells(l)).collect();
    assert!(rows.contains(&vec!["access_token", "tok-1"]), "{rows:?}");
    assert!(rows.contains(&vec!["token_type", "Bearer"]), "{rows:?}");
    assert!(rows.contains(&vec!["cached", "true"]), "{rows:?}");
    let token = setup
        .run(&["credentials", "token", &id(&service), "-o", "json"])
        .ok();
    assert_eq!(token.lines().len(), 1);
    let token = token.json();
    assert_eq!(token["access_token"], "tok-1");
    assert_eq!(token["scope"], "read");
    assert_eq!(endpoint.request_count(), 1, "the broker's cache answered");

    // Not an OAuth credential: the API's refusal.
    setup
        .create(
            json!({"name": "plain", "type": "t", "base_url": "https://x.example",
            "auth_type": "bearer", "credentials": {"token": "t"}}),
        )
        .await;
    setup
        .run(&["credentials", "token", "plain"])
        .fails("error: UNSUPPORTED_AUTH_TYPE: ");
}

#[tokio::test]
async fn audit_list_prints_the_trail() {
    let setup = Setup::start().await;
    let service = setup
        .create(
            json!({"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com",
            "auth_type": "bearer", "credentials": {"token": "t"}}),
        )
        .await;
    setup
        .create(
            json!({"name": "other", "type": "t", "base_url": "https://x.example",
            "auth_type": "bearer", "credentials": {"token": "t"}}),
        )
        .await;
    setup.run(&["credentials", "get", "Stripe"]).ok();
    setup.run(&["credentials", "get", "other"]).ok();

    let trail = setup.run(&["audit", "list"]).ok();
    let rows: Vec<Vec<&str>> = trail.lines().iter().map(|l| cells(l)).collect();
    assert_eq!(
        rows[0],
        ["TIME", "ACTOR", "ACTION", "OUTCOME", "SERVICE", "VERSION"]
    );
    assert_eq!(rows[1][1..4], ["dev-admin", "credentials.read", "success"]);
    let trail = setup.run(&["audit", "list", "-o", "json"]).ok();
    assert_eq!(
        trail.stdout.trim_end(),
        setup.get("/api/v1/audit-events").await
    );

    let filtered = setup
        .run(&[
            "audit",
            "list",
            "--service",
            "Stripe",
            "--action",
            "credentials.read",
        ])
        .ok();
    let rows: Vec<Vec<&str>> = filtered.lines().iter().map(|l| cells(l)).collect();
    assert_eq!(rows.len(), 2, "{}", filtered.stdout);
    assert_eq!(rows[1][4], id(&service));
    let filtered = setup
        .run(&[
            "audit",
            "list",
            "--service",
            "Stripe",
            "--action",
            "credentials.read",
            "-o",
            "json",
        ])
        .ok();
    assert_eq!(
        filtered.stdout.trim_end(),
        setup
            .get(&format!(
                "/api/v1/audit-events?service_id={}&action=credentials.read",
                id(&service)
            ))
            .await
    );
    let none = setup.run(&["audit", "list", "--since", "2999-01-01"]).ok();
    assert_eq!(none.stdout, "");
    assert!(none.stderr.contains("no audit events"));
}

#[tokio::test]
async fn api_errors_exit_1_with_their_code_and_message() {
    let setup = Setup::start().await;
    setup
        .create(
            json!({"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com",
            "auth_type": "bearer", "credentials": {"token": "t"}}),
        )
        .await;
    setup
        .create(json!({"name": "bare", "type": "t", "base_url": "https://x.example"}))
        .await;

    // A token that may read services, and nothing more: 403 FORBIDDEN.
    let reader = setup.mint(&["--permission", "external-service:read"]);
    setup.run_as(&reader, &["services", "list"]).ok();
    setup
        .run_as(&reader, &["credentials", "versions", "Stripe"])
        .ok();
    let refused = setup
        .run_as(&reader, &["credentials", "get", "Stripe"])
        .fails("error: FORBIDDEN: ");
    assert!(refused.stderr.contains("external-service:credentials"));
    setup
        .run_as(&reader, &["run", "--service", "Stripe", "--", "true"])
        .fails("error: FORBIDDEN: ");
    setup
        .run_as(
            &reader,
            &[
                "services",
                "create",
                "--name",
                "x",
                "--type",
                "t",
                "--base-url",
                "https://x.example",
            ],
        )
        .fails("error: FORBIDDEN: ");
    setup
        .run_as(&reader, &["services", "delete", "Stripe", "--yes"])
        .fails("external-service:delete");
    setup
        .run_as(&reader, &["audit", "list"])
        .fails("error: FORBIDDEN: ");
    let nothing = setup.mint(&["--permission", "external-service:audit"]);
    setup
        .run_as(&nothing, &["services", "get", "Stripe"])
        .fails("error: FORBIDDEN: ");

    // 404s.
    setup
        .run(&["credentials", "get", "bare"])
        .fails("error: CREDENTIALS_NOT_FOUND: ");
    setup
        .run(&["credentials", "get", "Stripe", "--version", "9"])
        .fails("error: CREDENTIALS_NOT_FOUND: ");

    // 400, 409: the code, the message and the fields.
    let invalid = setup
        .run(&[
            "services",
            "create",
            "--name",
            "y",
            "--type",
            "t",
            "--base-url",
            "http://insecure.example",
        ])
        .fails("error: VALIDATION_ERROR: ");
    assert!(invalid.stderr.contains("base_url"), "{invalid:?}");
    setup
        .run(&["services", "update", "bare", "--name", "Stripe"])
        .fails("error: SERVICE_ALREADY_EXISTS: ");

    // 401: no token, or a bad one; then a token from a file.
    let anonymous = setup
        .run_as("", &["services", "list"])
        .fails("error: UNAUTHORIZED: ");
    assert!(
        anonymous.stderr.contains("EXSVC_TOKEN"),
        "says how to give one"
    );
    setup
        .run_as("not-a-token", &["services", "list"])
        .fails("error: UNAUTHORIZED: ");
    let token_file = setup.scratch.0.join("token");
    std::fs::write(&token_file, format!("{}\n", setup.token)).unwrap();
    setup
        .run_as(
            "not-a-token",
            &[
                "--token-file",
                token_file.to_str().unwrap(),
                "services",
                "get",
                "bare",
            ],
        )
        .ok();
    setup
        .run_as("", &["--token", &reader, "services", "get", "bare"])
        .ok();

    // Nobody at the address.
    let port = support::free_port();
    setup
        .run(&[
            "--addr",
            &format!("http://127.0.0.1:{port}"),
            "services",
            "list",
        ])
        .fails("is exsvc running there?");
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let setup = Setup::start().await;
    setup
        .create(
            json!({"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com",
            "auth_type": "bearer", "credentials": {"token": "t"}}),
        )
        .await;
    let put = ["credentials", "put", "Stripe", "--auth-type", "bearer"];
    let cases: Vec<Vec<&str>> = vec![
        vec!["frobnicate"],
        vec!["services"],
        vec!["services", "frobnicate"],
        vec!["services", "get"],
        vec!["services", "create", "--name", "x", "--type", "t"],
        vec!["services", "list", "--limit", "0"],
        vec!["services", "list", "--status", "paused"],
        vec!["services", "list", "-o", "yaml"],
        vec!["services", "update", "Stripe"],
        vec![
            "services",
            "create",
            "--name",
            "x",
            "--type",
            "t",
            "--base-url",
            "https://x.example",
            "--metadata",
            "novalue",
        ],
        vec!["credentials", "put", "Stripe", "--set", "token=x"],
        vec![
            "credentials",
            "put",
            "Stripe",
            "--auth-type",
            "magic",
            "--set",
            "token=x",
        ],
        [&put[..], &["--set", "sk_live_no_key"]].concat(),
        [&put[..], &["--set", "=x"]].concat(),
        [&put[..], &["--set", "token:=not json"]].concat(),
        [&put[..], &["--set", "token=x", "--expires-at", "soon"]].concat(),
        [&put[..], &["--set", "a=-", "--set", "b=-"]].concat(),
        vec!["audit", "list", "--since", "yesterday"],
        vec!["run", "--service", "Stripe"],
        vec!["run", "--", "true"],
        vec!["run", "--service", "Stripe", "echo", "no-double-dash"],
        vec!["completions", "tcsh"],
        vec!["services", "delete", "Stripe"],
        vec!["credentials", "delete", "Stripe"],
    ];
    for args in cases {
        let out = setup.run_with_stdin(&args, "");
        assert_eq!(out.code, Some(2), "{args:?}: {out:#?}");
        assert!(out.stderr.contains("error"), "{args:?}: {out:#?}");
        assert_eq!(out.stdout, "", "{args:?}");
    }
    // A --set without '=' is not echoed: it may be a pasted secret.
    let out = setup
        .run(&[&put[..], &["--set", "sk_live_no_key"]].concat())
        .usage();
    assert!(!out.stderr.contains("sk_live_no_key"), "{}", out.stderr);
    // Nothing was deleted or stored.
    let field = setup
        .run(&["credentials", "get", "Stripe", "--field", "token"])
        .ok();
    assert_eq!(field.stdout, "t\n");
}

#[test]
fn completions_print_a_script() {
    for (shell, marker) in [
        ("bash", "complete -F _exsvc"),
        ("zsh", "#compdef exsvc"),
        ("fish", "complete -c exsvc"),
    ] {
        let out = finish(&mut bare(&["completions", shell]), None).ok();
        assert!(
            out.stdout.contains(marker),
            "{shell}: {}",
            &out.stdout[..200]
        );
        for command in ["services", "credentials", "audit", "run"] {
            assert!(out.stdout.contains(command), "{shell}: {command}");
        }
        assert_eq!(out.stderr, "");
    }
    // The bash script loads, and completes a subcommand.
    let script = finish(&mut bare(&["completions", "bash"]), None)
        .ok()
        .stdout;
    let completed = finish(
        Command::new("bash").args([
            "-c",
            r#"eval "$(cat)"; COMP_WORDS=(exsvc cred); COMP_CWORD=1; _exsvc exsvc cred exsvc; echo "${COMPREPLY[@]}""#,
        ]),
        Some(script.as_bytes()),
    );
    assert_eq!(completed.stdout.trim(), "credentials", "{completed:?}");
}

/// `exsvc … | head -1`: the reader goes away; the writer neither panics nor
/// complains.
#[tokio::test]
async fn a_closed_pipe_is_no_panic() {
    let setup = Setup::start().await;
    for n in 0..3 {
        setup
            .create(
                json!({"name": format!("svc-{n}"), "type": "t", "base_url": "https://x.example",
                "auth_type": "bearer", "credentials": {"token": "t"}}),
            )
            .await;
    }
    let commands: [&[&str]; 9] = [
        &["services", "list"],
        &["services", "list", "-o", "json"],
        &["services", "list", "--all", "-o", "json"],
        &["services", "get", "svc-1"],
        &["credentials", "get", "svc-1"],
        &["credentials", "get", "svc-1", "--field", "token"],
        &["audit", "list"],
        &["completions", "bash"],
        &["--help"],
    ];
    for args in commands {
        // Like `head -1`: one line read, then the pipe closed.
        let mut child = setup
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty(), "{args:?}");
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");

        // Closed before anything was written: every write fails.
        let mut child = setup
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

/// `exsvc … 2>&1 | head -1`: standard error goes to the closed pipe too.
/// Its notes (`(more services: …)`, an error's details) are not worth a
/// panic either: the command ends with its own exit code.
#[tokio::test]
async fn a_closed_pipe_on_standard_error_is_no_panic() {
    let setup = Setup::start().await;
    for n in 0..3 {
        setup
            .create(
                json!({"name": format!("svc-{n}"), "type": "t", "base_url": "https://x.example",
                "auth_type": "bearer", "credentials": {"token": "t"}}),
            )
            .await;
    }
    let reader = setup.mint(&["--permission", "external-service:read"]);
    let cases: [(&str, &[&str], i32); 8] = [
        (&setup.token, &["services", "list", "--limit", "1"], 0),
        (
            &setup.token,
            &["services", "list", "--q", "nothing-matches"],
            0,
        ),
        (&setup.token, &["audit", "list", "--limit", "1"], 0),
        (&setup.token, &["credentials", "versions", "svc-1"], 0),
        (&setup.token, &["services", "get", "nope"], 1),
        (&reader, &["credentials", "get", "svc-1"], 1),
        ("", &["services", "list"], 1),
        (&setup.token, &["services", "delete", "svc-1"], 2),
    ];
    for (token, args, code) in cases {
        for read_a_line in [false, true] {
            let (mut pipe, writer) = std::io::pipe().unwrap();
            let mut child = setup
                .command_as(token, args)
                .stdin(Stdio::null())
                .stdout(writer.try_clone().unwrap())
                .stderr(writer)
                .spawn()
                .unwrap();
            if read_a_line {
                let mut line = String::new();
                BufReader::new(&mut pipe).read_line(&mut line).unwrap();
            }
            drop(pipe);
            let status = child.wait().unwrap();
            assert_eq!(status.code(), Some(code), "{args:?} (101 is a panic)");
        }
    }
}

/// Text without its ANSI escape sequences (`ESC [ … letter`) and carriage
/// returns (a terminal's line ends are `\r\n`).
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The client on a terminal `columns` wide (0: one that reports no size, as
/// a bare pseudo-terminal does), through util-linux `script`, with `input`
/// typed at it: its exit code, and what the terminal showed (standard output
/// and error together, without escape sequences). `None` when there is no
/// `script` to run.
fn terminal(setup: &Setup, columns: u16, args: &[&str], input: &str) -> Out {
    terminal_shell(
        setup,
        columns,
        &format!("exec {}", shell_words(args)),
        input,
    )
}

/// `exsvc ARGS…` as words of a shell command.
fn shell_words(args: &[&str]) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let words: Vec<String> = std::iter::once(BIN)
        .chain(args.iter().copied())
        .map(quote)
        .collect();
    words.join(" ")
}

/// As [`terminal`], for a shell command (`sh -c`) on the terminal.
fn terminal_shell(setup: &Setup, columns: u16, shell: &str, input: &str) -> Out {
    let available = Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    // A missing tool fails the test: .ci/run installs it (bsdutils).
    assert!(
        available,
        "util-linux `script` (Debian: bsdutils) is needed to run the client on a terminal"
    );
    let shell = format!("stty cols {columns} rows 50 && {shell}");
    // The client's environment, on `script` which passes it on.
    let client = setup.command(&[]);
    let mut script = Command::new("script");
    script
        .args(["-qec", &shell, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .current_dir(&setup.home);
    for (key, value) in client.get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    let out = finish(&mut script, Some(input.as_bytes()));
    Out {
        stdout: plain(&out.stdout),
        ..out
    }
}

/// What a table command shows on a terminal `columns` wide.
fn on_terminal(setup: &Setup, columns: u16, args: &[&str]) -> String {
    terminal(setup, columns, args, "").ok().stdout
}

#[tokio::test]
async fn on_a_terminal_delete_asks_first() {
    let setup = Setup::start().await;
    setup
        .create(
            json!({"name": "doomed", "type": "t", "base_url": "https://x.example",
            "auth_type": "bearer", "credentials": {"token": "t"}}),
        )
        .await;
    let kept = terminal(&setup, 80, &["credentials", "delete", "doomed"], "n\n");
    assert_eq!(kept.code, Some(1), "{kept:?}");
    assert!(kept
        .stdout
        .contains("Destroy every version of the credential of 'doomed'"));
    assert!(
        kept.stdout.contains("not confirmed: nothing was deleted"),
        "{kept:?}"
    );
    setup.run(&["credentials", "get", "doomed"]).ok();

    let gone = terminal(&setup, 80, &["credentials", "delete", "doomed"], "y\n");
    assert_eq!(gone.code, Some(0), "{gone:?}");
    assert!(gone.stdout.contains("deleted the credential of 'doomed'"));
    let gone = terminal(&setup, 80, &["services", "delete", "doomed"], "yes\n");
    assert_eq!(gone.code, Some(0), "{gone:?}");
    assert!(gone.stdout.contains("[y/N]"), "{gone:?}");
    setup
        .run(&["services", "get", "doomed"])
        .fails("no service");
}

/// `KEY=-` with a terminal on standard input says what it waits for, on
/// standard error; even when that is a closed pipe.
#[tokio::test]
async fn a_secret_typed_at_a_terminal_is_read_and_a_closed_stderr_is_no_panic() {
    let setup = Setup::start().await;
    setup
        .create(json!({"name": "typed", "type": "t", "base_url": "https://x.example"}))
        .await;
    let put = [
        "credentials",
        "put",
        "typed",
        "--auth-type",
        "bearer",
        "--set",
        "token=-",
    ];
    // Typed, then Ctrl-D.
    let asked = terminal(&setup, 80, &put, "typed-secret\n\u{4}");
    assert_eq!(asked.code, Some(0), "{asked:?}");
    assert!(asked.stdout.contains("standard input"), "{asked:?}");
    let field = setup
        .run(&["credentials", "get", "typed", "--field", "token"])
        .ok();
    assert_eq!(field.stdout, "typed-secret\n");

    // `exsvc … 2>&1 >/dev/null | true`: the reader is gone at once; the
    // exit code is written to the terminal itself.
    let shell = format!(
        "{{ {} 2>&1 >/dev/null; echo \"exit=$?\" >/dev/tty; }} | true",
        shell_words(&put)
    );
    let closed = terminal_shell(&setup, 80, &shell, "second\n\u{4}");
    assert!(
        closed.stdout.contains("exit=0"),
        "101 is a panic: {closed:?}"
    );
    let field = setup
        .run(&["credentials", "get", "typed", "--field", "token"])
        .ok();
    assert_eq!(field.stdout, "second\n");
}

/// Two services with a credential each, and a read of one in the trail.
async fn two_services(setup: &Setup) -> Vec<String> {
    let mut ids = Vec::new();
    for name in ["stripe-production-eu", "twilio"] {
        let service = setup
            .create(
                json!({"name": name, "type": "payment", "base_url": "https://x.example",
                "auth_type": "bearer", "credentials": {"token": "t"}}),
            )
            .await;
        ids.push(id(&service));
    }
    setup.run(&["credentials", "get", "twilio"]).ok();
    ids
}

#[tokio::test]
async fn a_terminal_that_reports_no_width_gets_tables_unwrapped() {
    let setup = Setup::start().await;
    two_services(&setup).await;
    for args in [
        &["services", "list"][..],
        &["services", "get", "twilio"],
        &["credentials", "get", "twilio"],
        &["audit", "list"],
    ] {
        let shown = on_terminal(&setup, 0, args);
        let unwrapped = setup.run(args).ok().stdout;
        assert_eq!(shown, unwrapped, "{args:?}: as off a terminal");
    }
}

/// The words of `text`, sorted: what wrapping at spaces keeps.
fn words(text: &str) -> Vec<&str> {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    words.sort_unstable();
    words
}

#[tokio::test]
async fn on_a_narrow_terminal_lines_wrap_at_spaces_and_no_word_is_cut() {
    let setup = Setup::start().await;
    two_services(&setup).await;
    let long_url = format!("https://api.example.com/{}", "v".repeat(90));
    let long_key = format!("sk_live_{}", "k".repeat(120));
    setup
        .create(json!({"name": "long", "type": "t", "base_url": long_url,
            "auth_type": "api_key", "credentials": {"key": long_key}}))
        .await;
    let description = "Messages and calls: the SMS gateway of every product, \
        with a description long enough to wrap at eighty columns";
    setup
        .create(
            json!({"name": "described", "type": "t", "base_url": "https://x.example",
            "description": description}),
        )
        .await;
    // Two columns a character: a word's width is not its length.
    setup
        .create(json!({"name": "東京決済ゲートウェイ本番環境", "type": "payment", "base_url": "https://x.example"}))
        .await;

    for args in [
        &["services", "list"][..],
        &["audit", "list"],
        &["services", "get", "long"],
        &["credentials", "get", "long"],
        &["credentials", "versions", "long"],
        &["services", "get", "described"],
    ] {
        let shown = on_terminal(&setup, 80, args);
        let unwrapped = setup.run(args).ok().stdout;
        assert_eq!(
            words(&shown),
            words(&unwrapped),
            "{args:?}: every id, name and secret whole:\n{shown}"
        );
        assert!(shown.starts_with(unwrapped.split_whitespace().next().unwrap()));
    }
    // What can be wrapped still is: the record fits.
    let shown = on_terminal(&setup, 80, &["services", "get", "described"]);
    assert!(
        shown.lines().all(|l| l.chars().count() <= 80),
        "fits 80 columns:\n{shown}"
    );
    let unwrapped = setup.run(&["services", "get", "described"]).ok().stdout;
    assert!(shown.lines().count() > unwrapped.lines().count(), "{shown}");
}

#[tokio::test]
async fn run_sets_no_variable_that_changes_how_the_command_starts_and_hides_the_token() {
    let setup = Setup::start().await;
    // Stored data chooses the names: a service `Ld` with a key `preload`.
    setup
        .create(
            json!({"name": "Ld", "type": "t", "base_url": "https://x.example",
            "auth_type": "custom", "credentials": {"preload": "/tmp/evil.so"}}),
        )
        .await;
    let refused = setup
        .run(&["run", "--service", "Ld", "--", "sh", "-c", "echo ran"])
        .usage();
    assert!(refused.stderr.contains("LD_PRELOAD"), "{refused:?}");
    // With a prefix of the user's choosing it is an ordinary variable.
    let fine = setup
        .run(&[
            "run",
            "--service",
            "Ld=EVIL",
            "--",
            "sh",
            "-c",
            r#"printf %s "$EVIL_PRELOAD""#,
        ])
        .ok();
    assert_eq!(fine.stdout, "/tmp/evil.so");

    // A variable the environment already has is not replaced behind the user's back.
    setup
        .create(
            json!({"name": "Mail", "type": "t", "base_url": "https://m.example",
            "auth_type": "bearer", "credentials": {"token": "mail-token"}}),
        )
        .await;
    let clash = finish(
        setup
            .command(&["run", "--service", "Mail", "--", "true"])
            .env("MAIL_TOKEN", "mine"),
        None,
    )
    .usage();
    assert!(
        clash.stderr.contains("MAIL_TOKEN is already set"),
        "{clash:?}"
    );

    // The command gets its credentials, not the token that read them.
    let child = setup
        .run(&[
            "run",
            "--service",
            "Mail",
            "--",
            "sh",
            "-c",
            r#"printf '%s|%s|%s' "${EXSVC_TOKEN-unset}" "${EXSVC_ADDR-unset}" "$MAIL_TOKEN""#,
        ])
        .ok();
    assert_eq!(child.stdout, "unset|unset|mail-token");
}

#[tokio::test]
async fn audit_list_takes_the_id_of_a_deleted_service() {
    let setup = Setup::start().await;
    let gone = setup
        .create(json!({"name": "gone", "type": "t", "base_url": "https://g.example"}))
        .await;
    setup.run(&["services", "delete", "gone", "--yes"]).ok();
    let trail = setup
        .run(&["audit", "list", "--service", &id(&gone), "-o", "json"])
        .ok()
        .json();
    let actions: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["service.delete", "service.create"]);
}

#[tokio::test]
async fn output_that_cannot_be_written_fails_the_command() {
    let setup = Setup::start().await;
    setup
        .create(
            json!({"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com",
            "auth_type": "api_key", "credentials": {"key": "sk_full"}}),
        )
        .await;
    for args in [
        &["credentials", "get", "Stripe", "--field", "key"][..],
        &["-o", "json", "services", "list", "--all"],
        &["services", "list"],
        &["completions", "bash"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let output = setup
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(full))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write standard output"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("sk_full"), "{stderr}");
    }
}

#[tokio::test]
async fn stored_control_characters_cannot_act_on_the_terminal() {
    let setup = Setup::start().await;
    // Names refuse control characters; metadata and credentials hold any text.
    setup
        .create(
            json!({"name": "evil", "type": "t", "base_url": "https://e.example",
            "metadata": {"note": "a\u{1b}]0;owned\u{7}b\rc"},
            "auth_type": "custom", "credentials": {"token": "x\u{1b}[2Jy"}}),
        )
        .await;
    for args in [
        &["services", "get", "evil"][..],
        &["credentials", "get", "evil"],
    ] {
        let shown = setup.run(args).ok();
        for control in ['\u{1b}', '\u{7}', '\r'] {
            assert!(!shown.stdout.contains(control), "{args:?}: {shown:?}");
        }
    }
    // Metadata is shown as JSON (which escapes); a credential's value as
    // text, its control characters written as escapes.
    let revealed = setup.run(&["credentials", "get", "evil"]).ok();
    assert!(revealed.stdout.contains(r"x\u{1b}[2Jy"), "{revealed:?}");
    // --field is for scripts: the value exactly as stored.
    let field = setup
        .run(&["credentials", "get", "evil", "--field", "token"])
        .ok();
    assert_eq!(field.stdout, "x\u{1b}[2Jy\n");
}

#[tokio::test]
async fn an_answer_that_is_not_json_is_no_success_with_json_output() {
    // Something that is not exsvc, on the address the client is given.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().take(2) {
            let mut stream = stream.unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = "<html>a login page</html>";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    for args in [
        &["-o", "json", "services", "list"][..],
        &["services", "list"],
    ] {
        let out = finish(
            bare(args)
                .env("EXSVC_ADDR", format!("http://{address}"))
                .env("EXSVC_TOKEN", "t"),
            None,
        );
        assert_eq!(out.code, Some(1), "{args:?}: {out:?}");
        assert_eq!(out.stdout, "", "{out:?}");
    }
}
