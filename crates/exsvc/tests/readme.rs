//! The README's walk-through, executed as a reader would paste it: every
//! `sh` block marked `<!-- walkthrough -->`, in bash with `set -euo pipefail`,
//! against the real binary in development mode — twice in a row, since a
//! reader tries it again (a second run once met 409s and printed nothing).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

mod support;

use std::path::Path;
use std::process::Command;

use support::{Scratch, Server, BIN};

const MARKER: &str = "<!-- walkthrough -->";

/// The marked blocks of the README, in order.
fn walkthrough() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() != MARKER {
            continue;
        }
        let fence = lines.next().unwrap_or_default();
        assert_eq!(
            fence.trim(),
            "```sh",
            "a walkthrough marker stands right above a sh block"
        );
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        blocks.push(block.join("\n"));
    }
    assert!(
        blocks.len() >= 3,
        "the README marks its walk-through blocks"
    );
    blocks
}

/// The admin token of tenant `dev`, minted as the README's reader could.
fn admin_token(dir: &Path) -> String {
    let output = Command::new(BIN)
        .args([
            "token",
            "--tenant",
            "dev",
            "--sub",
            "readme-admin",
            "--role",
            "admin",
        ])
        .current_dir(dir)
        .env_remove("EXSVC_TOKEN")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn the_walkthrough_of_the_readme_runs_twice_in_a_row() {
    let scratch = Scratch::new("exsvc-readme");
    let server = Server::start(&scratch.0, &[]).await;
    let token = admin_token(&scratch.0);
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The README's address is the default one; the test's server has its own.
    let script = walkthrough()
        .join("\n")
        .replace("http://127.0.0.1:8080", &server.base);

    for run in 1..=2 {
        let mut bash = Command::new("bash");
        bash.args(["-euo", "pipefail", "-c", &script])
            .current_dir(&scratch.0)
            .env("PATH", &path)
            .env("EXSVC_TOKEN", &token)
            .env("EXSVC_ADDR", &server.base);
        for (key, _) in std::env::vars() {
            if key.starts_with("EXSVC_") && key != "EXSVC_TOKEN" && key != "EXSVC_ADDR" {
                bash.env_remove(key);
            }
        }
        let output = bash.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = format!("run {run}:\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
        assert!(output.status.success(), "{said}");

        // The client's part.
        assert!(stdout.contains("NAME    TYPE     STATUS"), "{said}");
        assert!(stdout.lines().any(|l| l == "sk_test_123"), "{said}");
        assert!(
            stdout.contains("the job got a 11-character STRIPE_KEY"),
            "{said}"
        );
        assert!(stdout.contains("deleted service 'Stripe'"), "{said}");
        // The curl part: the service made, its credential read, then deleted.
        assert!(
            stdout.contains(r#""credentials":{"header_name":"X-API-Key","key":"sk_test_123"}"#),
            "{said}"
        );
        // Least privilege: the worker reads its key, not the other service,
        // and loses it with its binding; everything made is removed.
        assert!(stdout.lines().any(|l| l == "sk_live_123"), "{said}");
        assert!(
            stdout.contains(r#""token_grants":"not enumerable""#),
            "{said}"
        );
        assert!(
            stderr.contains("no service has the id or name 'Mailgun'"),
            "{said}"
        );
        assert!(stderr.contains("error: FORBIDDEN"), "{said}");
        assert_eq!(stdout.lines().filter(|l| *l == "204").count(), 3, "{said}");
        for leftover in ["ALREADY_EXISTS", "PRECONDITION_FAILED", "NOT_FOUND\""] {
            assert!(
                !stdout.contains(leftover) && !stderr.contains(leftover),
                "{leftover}: {said}"
            );
        }
    }
    server.stop().await;
}
