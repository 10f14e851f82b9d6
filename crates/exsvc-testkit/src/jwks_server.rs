//! Local HTTP peers for authentication tests: a JWKS endpoint whose document,
//! availability and hit count the test controls, and a listener that only counts
//! connections (for URLs a token names but the server must never fetch).

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::Value;

#[derive(Default)]
struct Shared {
    document: Mutex<Value>,
    down: AtomicBool,
    hits: AtomicUsize,
}

pub struct JwksServer {
    pub url: String,
    shared: Arc<Shared>,
    server: ServerHandle,
}

impl JwksServer {
    pub async fn start(document: Value) -> Self {
        let shared = Arc::new(Shared {
            document: Mutex::new(document),
            ..Shared::default()
        });
        let state = web::Data::from(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = HttpServer::new(move || {
            App::new().app_data(state.clone()).route(
                "/.well-known/jwks.json",
                web::get().to(|shared: web::Data<Shared>| async move {
                    shared.hits.fetch_add(1, Ordering::SeqCst);
                    if shared.down.load(Ordering::SeqCst) {
                        return HttpResponse::ServiceUnavailable().finish();
                    }
                    let document = shared.document.lock().expect("lock").clone();
                    HttpResponse::Ok().json(document)
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
            shared,
            server: handle,
        }
    }

    pub fn set_document(&self, document: Value) {
        *self.shared.document.lock().expect("lock") = document;
    }

    /// While down, the endpoint answers 503.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

/// Accepts connections and counts them; answers nothing.
pub struct CountingListener {
    pub url: String,
    connections: Arc<AtomicUsize>,
}

impl CountingListener {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}/keys"),
            connections,
        }
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}
