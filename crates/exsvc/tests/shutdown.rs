//! docs/api.md §9, SIGTERM under load: the real binary stops accepting, finishes what
//! it accepted, exits 0 within 30 s, and every write it acknowledged is stored.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exsvc_testkit::tokens::{admin, TEST_SECRET};
use exsvc_testkit::TestDatabase;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use support::{Scratch, Server};

const CLIENTS: usize = 24;
/// Answers before the signal: the load was real when it came.
const BEFORE_SIGNAL: usize = 300;

#[derive(Debug)]
enum Outcome {
    /// A complete response: its status and, for a 201, the id created.
    Answered {
        status: StatusCode,
        created: Option<String>,
        after_signal: bool,
    },
    /// No response at all (refused, or the connection closed before any byte).
    NoResponse { error: String },
    /// A response that did not arrive whole, or is not the JSON it should be.
    #[allow(dead_code)] // Read through Debug in the failure message.
    Broken { status: StatusCode, error: String },
}

struct Load {
    client: Client,
    base: String,
    token: String,
    seed: String,
    signalled: AtomicBool,
    answered: AtomicUsize,
    outcomes: Mutex<Vec<Outcome>>,
}

impl Load {
    /// One client: alternately reads the seed service and creates a new one,
    /// until the first request that gets no response.
    async fn run(self: Arc<Self>, me: usize) {
        for i in 0.. {
            let after_signal = self.signalled.load(Ordering::SeqCst);
            let name = format!("load-{me}-{i}");
            let request = if i % 2 == 0 {
                self.client
                    .get(format!("{}/api/v1/services/{}", self.base, self.seed))
                    .bearer_auth(&self.token)
            } else {
                self.client
                    .post(format!("{}/api/v1/services", self.base))
                    .bearer_auth(&self.token)
                    .json(
                        &json!({"name": name, "type": "load", "base_url": "https://load.example"}),
                    )
            };
            let outcome = match request.send().await {
                Err(error) => Outcome::NoResponse {
                    error: format!("{error:?}"),
                },
                Ok(response) => {
                    let status = response.status();
                    match response.bytes().await {
                        Err(error) => Outcome::Broken {
                            status,
                            error: format!("body: {error:?}"),
                        },
                        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                            Err(error) => Outcome::Broken {
                                status,
                                error: format!("not JSON ({error}): {bytes:?}"),
                            },
                            Ok(body) if status == StatusCode::CREATED && body["name"] != name => {
                                Outcome::Broken {
                                    status,
                                    error: format!("another service: {body}"),
                                }
                            }
                            Ok(body) => Outcome::Answered {
                                status,
                                created: (status == StatusCode::CREATED)
                                    .then(|| body["id"].as_str().unwrap().to_owned()),
                                after_signal,
                            },
                        },
                    }
                }
            };
            let stop = matches!(outcome, Outcome::NoResponse { .. });
            if matches!(outcome, Outcome::Answered { .. }) {
                self.answered.fetch_add(1, Ordering::SeqCst);
            }
            self.outcomes.lock().unwrap().push(outcome);
            if stop {
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_what_it_accepted_and_loses_no_acknowledged_write() {
    let db = TestDatabase::empty().await;
    let dir = Scratch::new("exsvc-shutdown");
    let vars = [
        ("EXSVC_DATABASE_URL", db.url.as_str()),
        ("EXSVC_JWT_SECRET", TEST_SECRET),
        ("EXSVC_RATE_LIMIT_PER_MINUTE", "10000000"),
        // One log line per request handled: what the server accepted.
        ("EXSVC_LOG", "info"),
    ];
    let mut server = Server::start(&dir.0, &vars).await;
    let client = Client::new();
    let token = admin("acme");
    let seed = client
        .post(server.url("/api/v1/services"))
        .bearer_auth(&token)
        .json(&json!({"name": "Seed", "type": "load", "base_url": "https://load.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(seed.status(), StatusCode::CREATED);
    let seed = seed.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let load = Arc::new(Load {
        client: client.clone(),
        base: server.base.clone(),
        token: token.clone(),
        seed: seed.clone(),
        signalled: AtomicBool::new(false),
        answered: AtomicUsize::new(0),
        outcomes: Mutex::new(Vec::new()),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|me| tokio::spawn(load.clone().run(me)))
        .collect();
    let started = Instant::now();
    while load.answered.load(Ordering::SeqCst) < BEFORE_SIGNAL {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the load did not get going: {:?}",
            load.outcomes.lock().unwrap().last()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    load.signalled.store(true, Ordering::SeqCst);
    let signalled_at = Instant::now();
    server.sigterm();
    let exited = server.wait_exit(Duration::from_secs(35)).await;
    let (status, logs) = (exited.status, exited.output());
    let exited_after = signalled_at.elapsed();
    for client in clients {
        client.await.unwrap();
    }
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(
        exited_after < Duration::from_secs(30),
        "exited {exited_after:?} after SIGTERM"
    );

    let outcomes = std::mem::take(&mut *load.outcomes.lock().unwrap());
    let mut acknowledged = Vec::new();
    let (mut before, mut after, mut refused) = (0, 0, 0);
    for outcome in &outcomes {
        match outcome {
            Outcome::Answered {
                status,
                created,
                after_signal,
            } => {
                assert!(
                    *status == StatusCode::OK || *status == StatusCode::CREATED,
                    "{outcome:?}"
                );
                acknowledged.extend(created.clone());
                if *after_signal {
                    after += 1;
                } else {
                    before += 1;
                }
            }
            Outcome::NoResponse { error, .. } => {
                // Refused, or closed before any byte of a response. Whether a
                // request sent just before the signal was handled shows in the
                // server's log, counted below.
                assert!(
                    error.contains("ConnectionRefused")
                        || error.contains("IncompleteMessage")
                        || error.contains("ConnectionReset"),
                    "{error}"
                );
                refused += 1;
            }
            Outcome::Broken { .. } => panic!("a response did not arrive whole: {outcome:?}"),
        }
    }
    assert!(
        before >= BEFORE_SIGNAL,
        "{before} answered before the signal"
    );
    // Every request the server handled reached its client whole: as many
    // answers as the server logged (the seed's creation included), none a 5xx.
    let handled: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| {
            l["message"] == "request"
                && l["route"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("/api/v1/services"))
        })
        .collect();
    assert_eq!(
        handled.len(),
        before + after + 1,
        "the server handled requests whose answer never arrived"
    );
    assert!(
        handled
            .iter()
            .all(|l| l["status"].as_u64().is_some_and(|s| s < 500)),
        "a 5xx was logged"
    );
    assert_eq!(refused, CLIENTS, "every client ends on a refusal");
    assert!(
        acknowledged.len() >= BEFORE_SIGNAL / 3,
        "{} creations acknowledged",
        acknowledged.len()
    );
    let closed = outcomes
        .iter()
        .filter(
            |o| matches!(o, Outcome::NoResponse { error } if error.contains("IncompleteMessage")),
        )
        .count();
    eprintln!(
        "{before} answered before SIGTERM, {after} after; {} created; {} refused, {closed} closed \
         before any response; exit {exited_after:?} after the signal",
        acknowledged.len(),
        refused - closed
    );

    // Every acknowledged creation is in the database.
    let server = Server::start(&dir.0, &vars).await;
    for id in &acknowledged {
        let got = client
            .get(server.url(&format!("/api/v1/services/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), StatusCode::OK, "acknowledged {id} was lost");
    }
    let exited = server.stop().await;
    let (status, logs) = (exited.status, exited.output());
    assert_eq!(status.code(), Some(0), "{logs}");
}
