//! The real app on 127.0.0.1:0 over a fresh database, talked to over HTTP.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, HttpServer};
use exsvc_app::metrics::{Metrics, PoolUsage, PoolUsageProbe};
use exsvc_app::ratelimit::{IpNetwork, OnStoreError, RateLimits};
use exsvc_app::{build_app, AppState};
use exsvc_auth::{Algorithm, ClaimRules, JwtVerifier, VerificationKey, VerifierSettings};
use exsvc_crypto::{EnvelopeCipher, Keyring};
use exsvc_domain::pagination::CursorKey;
use exsvc_domain::ports::CredentialCipher;
use exsvc_domain::ports::RateLimiter;
use exsvc_domain::service::UrlPolicy;
use exsvc_domain::usecases::{CatalogSettings, UseCaseSettings, UseCases};
use exsvc_ratelimit::{InProcessLimiter, RedisLimiter};

use crate::contract::Stores;
use exsvc_store_postgres::{PgStore, PoolSettings};
use serde_json::Value;

use crate::db::TestDatabase;
use crate::sqlite::TestSqlite;
use crate::tokens;

#[derive(Clone)]
pub struct TestOptions {
    pub base_path: String,
    pub allow_http_base_url: bool,
    /// Extra routes inside the app's middleware (e.g. one that panics).
    pub extra_routes: fn(&mut web::ServiceConfig),
    /// Serve from this database instead of a fresh one (e.g. one that is down).
    pub database_url: Option<String>,
    /// Verify with the test HMAC secret (on by default).
    pub hmac: bool,
    pub public_keys: Vec<VerificationKey>,
    pub jwks_url: Option<String>,
    pub algorithms: Option<Vec<Algorithm>>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway_secs: u64,
    pub debug_endpoints: bool,
    /// `EXSVC_MASTER_KEYS` of the app.
    pub master_keys: String,
    pub max_credential_versions: usize,
    /// Budgets per minute: high by default so only rate-limit tests meet them.
    pub rate_limit_per_minute: u32,
    pub rate_limit_unauthenticated_per_minute: u32,
    /// Share the budgets through this Redis instead of in-process.
    pub redis_url: Option<String>,
    pub rate_limit_on_store_error: OnStoreError,
    /// A tenant budget whose store always fails (for the store-error policy).
    pub failing_rate_limit_store: bool,
    /// `EXSVC_TRUSTED_PROXIES` of the app.
    pub trusted_proxies: Vec<IpNetwork>,
    /// No budgets at all (benchmarks measure what the limiter costs against this).
    pub rate_limit_off: bool,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            base_path: String::new(),
            allow_http_base_url: false,
            extra_routes: |_| {},
            database_url: None,
            hmac: true,
            public_keys: Vec::new(),
            jwks_url: None,
            algorithms: None,
            issuer: None,
            audience: None,
            leeway_secs: 60,
            debug_endpoints: true,
            master_keys: TEST_MASTER_KEYS.to_owned(),
            max_credential_versions: 10,
            rate_limit_per_minute: 1_000_000,
            rate_limit_unauthenticated_per_minute: 1_000_000,
            redis_url: None,
            rate_limit_on_store_error: OnStoreError::Allow,
            failing_rate_limit_store: false,
            trusted_proxies: Vec::new(),
            rate_limit_off: false,
        }
    }
}

/// Which store a `TestApp` serves from: `EXSVC_TEST_BACKEND=sqlite` runs the
/// end-to-end suite on the embedded store, anything else on PostgreSQL.
pub enum Backend {
    Postgres(TestDatabase),
    Sqlite(TestSqlite),
}

impl Backend {
    async fn from_env() -> Self {
        match std::env::var("EXSVC_TEST_BACKEND").as_deref() {
            Ok("sqlite") => Backend::Sqlite(TestSqlite::new().await),
            _ => Backend::Postgres(TestDatabase::new().await),
        }
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:<port>` plus the base path.
    pub address: String,
    pub client: reqwest::Client,
    /// Keeps the database alive while the app runs.
    pub backend: Backend,
    server: ServerHandle,
}

/// No budget: every request passes (a benchmark's baseline).
struct Unlimited;

#[async_trait::async_trait]
impl RateLimiter for Unlimited {
    async fn check(
        &self,
        _: &str,
    ) -> Result<exsvc_domain::ports::RateLimitDecision, exsvc_domain::ports::RateLimitError> {
        Ok(exsvc_domain::ports::RateLimitDecision {
            allowed: true,
            limit: u32::MAX,
            remaining: u32::MAX,
            reset_after: Duration::ZERO,
            retry_after: None,
        })
    }
}

/// A rate-limit store that is always down.
struct FailingStore;

#[async_trait::async_trait]
impl RateLimiter for FailingStore {
    async fn check(
        &self,
        _: &str,
    ) -> Result<exsvc_domain::ports::RateLimitDecision, exsvc_domain::ports::RateLimitError> {
        Err(exsvc_domain::ports::RateLimitError(
            "the test store is down".into(),
        ))
    }
}

/// The test keyring: one fixed master key (tests that rotate make their own).
pub const TEST_MASTER_KEYS: &str = "test1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The store timeout of a `TestApp` on PostgreSQL.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

fn postgres_store(url: &str) -> (Stores, PoolUsageProbe) {
    let settings = PoolSettings {
        database_url: url.to_owned(),
        max_size: 8,
        timeout: STORE_TIMEOUT,
    };
    let store = PgStore::connect(&settings).expect("pool");
    let probe = store.clone();
    (
        Stores::of(store),
        Arc::new(move || {
            let s = probe.status();
            PoolUsage::from_pool(s.max_size, s.size, s.available)
        }),
    )
}

fn sqlite_store(db: &TestSqlite) -> (Stores, PoolUsageProbe) {
    let store = db.store();
    let probe = store.clone();
    (
        Stores::of(store),
        Arc::new(move || {
            let s = probe.status();
            PoolUsage::from_pool(s.max_size, s.size, s.available)
        }),
    )
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(TestOptions::default()).await
    }

    pub async fn spawn_with(options: TestOptions) -> Self {
        let backend = Backend::from_env().await;
        let (repository, probe) = match (&backend, &options.database_url) {
            (Backend::Sqlite(db), None) => sqlite_store(db),
            (Backend::Postgres(db), None) => postgres_store(&db.url),
            // A database URL given by the test is a PostgreSQL one.
            (_, Some(url)) => postgres_store(url),
        };
        let cipher: Arc<dyn CredentialCipher> = Arc::new(EnvelopeCipher::new(
            Keyring::parse(&options.master_keys).expect("test keyring"),
        ));
        let UseCases {
            catalog,
            vault,
            audit_trail,
            idempotency,
        } = UseCases::new(
            &repository,
            cipher,
            UseCaseSettings {
                catalog: CatalogSettings {
                    url_policy: UrlPolicy {
                        allow_http: options.allow_http_base_url,
                    },
                    cursor_key: CursorKey::derive(tokens::TEST_SECRET.as_bytes()),
                },
                max_credential_versions: options.max_credential_versions,
                store_timeout: STORE_TIMEOUT,
            },
        );
        let verifier = JwtVerifier::new(VerifierSettings {
            hmac_secret: options.hmac.then(tokens::secret),
            public_keys: options.public_keys.clone(),
            jwks_url: options.jwks_url.clone(),
            algorithms: options.algorithms.clone(),
            issuer: options.issuer.clone(),
            audience: options.audience.clone(),
            rules: ClaimRules {
                leeway_secs: options.leeway_secs,
                ..ClaimRules::default()
            },
            // Tests add JWKS keys and expect them within a second or two.
            jwks_min_refresh: Some(Duration::from_millis(500)),
        })
        .await
        .expect("verifier");
        let limiter = |limit: u32, prefix: &'static str| {
            let redis_url = options.redis_url.clone();
            async move {
                let limit = std::num::NonZeroU32::new(limit).expect("a positive limit");
                match redis_url {
                    Some(url) => Arc::new(
                        RedisLimiter::connect(
                            &url,
                            prefix,
                            limit.get(),
                            Duration::from_millis(250),
                        )
                        .await
                        .expect("Redis"),
                    ) as Arc<dyn RateLimiter>,
                    None => Arc::new(InProcessLimiter::per_minute(limit)) as Arc<dyn RateLimiter>,
                }
            }
        };
        let tenants = if options.rate_limit_off {
            Arc::new(Unlimited) as Arc<dyn RateLimiter>
        } else if options.failing_rate_limit_store {
            Arc::new(FailingStore) as Arc<dyn RateLimiter>
        } else {
            limiter(options.rate_limit_per_minute, "exsvc-test:tenant:").await
        };
        let rate_limits = RateLimits {
            tenants,
            clients: limiter(
                options.rate_limit_unauthenticated_per_minute,
                "exsvc-test:client:",
            )
            .await,
            on_store_error: options.rate_limit_on_store_error,
            trusted_proxies: options.trusted_proxies.clone(),
        };
        let state = web::Data::new(AppState {
            catalog,
            vault,
            audit_trail,
            idempotency,
            verifier: Arc::new(verifier),
            base_path: options.base_path.clone(),
            metrics: Metrics::new(probe).expect("metrics"),
            rate_limits,
            debug_endpoints: options.debug_endpoints,
            body_timeout: exsvc_app::body::DEFAULT_BODY_TIMEOUT,
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = listener.local_addr().expect("local addr").port();
        let extra = options.extra_routes;
        let server = HttpServer::new(move || build_app(state.clone(), extra))
            .workers(2)
            .disable_signals()
            .listen(listener)
            .expect("listen")
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            address: format!("http://127.0.0.1:{port}{}", options.base_path),
            client: reqwest::Client::new(),
            backend,
            server: handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// POST /api/v1/services with `body`; returns the response.
    pub async fn create(&self, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/services"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Creates a service and returns its JSON, asserting 201.
    pub async fn create_ok(&self, token: &str, body: &Value) -> Value {
        let response = self.create(token, body).await;
        let status = response.status();
        let json: Value = response.json().await.expect("json body");
        assert_eq!(status, 201, "create failed: {json}");
        json
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the server before its database is dropped.
        drop(self.server.stop(false));
    }
}

/// A minimal valid service body with the given name.
pub fn service_body(name: &str) -> Value {
    serde_json::json!({"name": name, "type": "payment", "base_url": "https://api.example.com/v1"})
}
