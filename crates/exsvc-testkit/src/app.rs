//! The real app on 127.0.0.1:0 over a fresh database, talked to over HTTP.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::web;
use exsvc::compose;
use exsvc::config::{Config, Database, Settings};
use exsvc_app::build_app;
use exsvc_app::ratelimit::{IpNetwork, OnStoreError};
use exsvc_auth::{Algorithm, ClaimRules, HmacSecrets, VerificationKey};
use exsvc_crypto::Keyring;
use exsvc_domain::ports::RateLimiter;
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
    /// `EXSVC_JWT_SECRETS` of the app (none by default; see
    /// `tokens::auth_manager_secrets`).
    pub hmac_secrets: HmacSecrets,
    pub public_keys: Vec<VerificationKey>,
    pub jwks_url: Option<String>,
    pub algorithms: Option<Vec<Algorithm>>,
    /// `EXSVC_JWT_ISSUER`, `EXSVC_JWT_AUDIENCE`: empty, not checked.
    pub issuers: Vec<String>,
    pub audiences: Vec<String>,
    pub leeway_secs: u64,
    /// `EXSVC_JWT_MAX_TTL_SECS`.
    pub max_ttl_secs: u64,
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
    /// `EXSVC_EGRESS_ALLOW_CIDRS`: none by default (public addresses only), so
    /// a test of a local upstream names `127.0.0.0/8`.
    pub egress_allow_cidrs: Vec<ipnet::IpNet>,
    /// The contents of `EXSVC_EGRESS_CA_FILE` (e.g. a test CA's PEM).
    pub egress_ca_pem: Option<Vec<u8>>,
    pub egress_connect_timeout: Duration,
    /// `EXSVC_EGRESS_TIMEOUT_MS`: the wait for an upstream's response headers.
    pub egress_response_timeout: Duration,
    pub egress_retries: u32,
    pub egress_breaker_failures: u32,
    pub egress_breaker_open: Duration,
    pub proxy_max_body_bytes: usize,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            base_path: String::new(),
            allow_http_base_url: false,
            extra_routes: |_| {},
            database_url: None,
            hmac: true,
            hmac_secrets: HmacSecrets::default(),
            public_keys: Vec::new(),
            jwks_url: None,
            algorithms: None,
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway_secs: 60,
            max_ttl_secs: exsvc_auth::DEFAULT_MAX_TTL_SECS,
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
            egress_allow_cidrs: Vec::new(),
            egress_ca_pem: None,
            egress_connect_timeout: Duration::from_millis(3000),
            egress_response_timeout: Duration::from_secs(30),
            egress_retries: 2,
            egress_breaker_failures: 5,
            egress_breaker_open: Duration::from_secs(30),
            proxy_max_body_bytes: 10_485_760,
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
/// On SQLite: the production default.
const SQLITE_STORE_TIMEOUT: Duration = Duration::from_secs(3);

impl TestOptions {
    /// The configuration these options describe: development defaults with
    /// the test's database, keys, limits and switches, as `exsvc serve` would
    /// read them from the environment.
    fn config(&self, backend: &Backend) -> Config {
        let mut config = Settings::new(Default::default())
            .load()
            .expect("default settings");
        config.store.database = match (backend, &self.database_url) {
            // A database URL given by the test is a PostgreSQL one.
            (_, Some(url)) => Database::Postgres(url.clone()),
            (Backend::Postgres(db), None) => Database::Postgres(db.url.clone()),
            (Backend::Sqlite(db), None) => Database::Sqlite(db.path.clone()),
        };
        config.store.pool_size = 8;
        config.store.timeout = match config.store.database {
            Database::Postgres(_) => STORE_TIMEOUT,
            Database::Sqlite(_) => SQLITE_STORE_TIMEOUT,
        };
        config.auth.public_keys = self.public_keys.clone();
        config.auth.jwks_url = self.jwks_url.clone();
        config.auth.algorithms = self.algorithms.clone();
        config.auth.hmac_secrets = self.hmac_secrets.clone();
        config.auth.issuers = self.issuers.clone();
        config.auth.audiences = self.audiences.clone();
        config.auth.claim_rules = ClaimRules {
            leeway_secs: self.leeway_secs,
            max_ttl_secs: self.max_ttl_secs,
            ..ClaimRules::default()
        };
        config.deployment.debug_endpoints = self.debug_endpoints;
        config.credentials.max_versions = self.max_credential_versions;
        config.rate_limit.per_minute = self.rate_limit_per_minute;
        config.rate_limit.unauthenticated_per_minute = self.rate_limit_unauthenticated_per_minute;
        config.rate_limit.redis_url = self.redis_url.clone();
        config.rate_limit.on_store_error = self.rate_limit_on_store_error;
        config.rate_limit.trusted_proxies = self.trusted_proxies.clone();
        config.catalog.allow_http_base_url = self.allow_http_base_url;
        config.http.base_path = self.base_path.clone();
        config.egress = exsvc::config::Egress {
            allow_cidrs: self.egress_allow_cidrs.clone(),
            ca_pem: self.egress_ca_pem.clone(),
            connect_timeout: self.egress_connect_timeout,
            response_timeout: self.egress_response_timeout,
            retries: self.egress_retries,
            breaker_failures: self.egress_breaker_failures,
            breaker_open: self.egress_breaker_open,
            proxy_max_body_bytes: self.proxy_max_body_bytes,
        };
        config
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(TestOptions::default()).await
    }

    pub async fn spawn_with(options: TestOptions) -> Self {
        let backend = Backend::from_env().await;
        let (state, _outcomes) = compose::app_state(
            &options.config(&backend),
            compose::Keys {
                hmac_secret: options.hmac.then(tokens::secret),
                keyring: Keyring::parse(&options.master_keys).expect("test keyring"),
            },
            compose::Substitutes {
                tenant_limiter: if options.rate_limit_off {
                    Some(Arc::new(Unlimited))
                } else if options.failing_rate_limit_store {
                    Some(Arc::new(FailingStore))
                } else {
                    None
                },
                // Tests add JWKS keys and expect them within a second or two.
                jwks_min_refresh: Some(Duration::from_millis(500)),
            },
        )
        .await
        .expect("the application");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = listener.local_addr().expect("local addr").port();
        let extra = options.extra_routes;
        // Served as `exsvc serve` serves, through the connection wrapper.
        let server = exsvc_app::edge::server(
            move || build_app(state.clone(), extra),
            listener,
            &exsvc_app::edge::ServerSettings {
                workers: 2,
                max_connections_per_worker: 25_000,
                shutdown_timeout: Duration::from_secs(1),
                body_timeout: Duration::from_secs(10),
            },
        )
        .expect("listen");
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
