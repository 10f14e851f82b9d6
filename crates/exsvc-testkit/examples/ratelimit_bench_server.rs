//! Serves the app for `scripts/bench-ratelimit.sh`: one service on a fresh
//! PostgreSQL database, the rate limiter off, in-process or on Redis
//! (`LIMITER=off|memory|redis`). Prints `URL TOKEN` and serves until killed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark's setup may fail loudly.

use exsvc_testkit::app::service_body;
use exsvc_testkit::tokens::admin;
use exsvc_testkit::{TestApp, TestOptions};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mode = std::env::var("LIMITER").unwrap_or_else(|_| "memory".into());
    let options = TestOptions {
        rate_limit_per_minute: 10_000_000,
        rate_limit_off: mode == "off",
        redis_url: (mode == "redis").then(|| "redis://127.0.0.1:6379".to_owned()),
        ..TestOptions::default()
    };
    let app = TestApp::spawn_with(options).await;
    let token = admin("bench");
    let id = app.api(&token).new_service(&service_body("Bench")).await;
    println!("{}/api/v1/services/{id} {token}", app.address);
    tokio::signal::ctrl_c().await.unwrap();
}
