//! The composition root: the one place that turns a `Config` into the running
//! application — the store, the cipher, the use cases, the token verifier, the
//! rate limits and the HTTP adapter's state. `exsvc serve`, `exsvc keys rewrap`
//! and the test kit all build through here, so what is tested is what runs.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use exsvc_app::metrics::Metrics;
use exsvc_app::ratelimit::RateLimits;
use exsvc_app::AppState;
use exsvc_auth::{HmacSecret, JwtVerifier, VerifierSettings};
use exsvc_crypto::{EnvelopeCipher, Keyring};
use exsvc_domain::access::{AccessDirectory, POLL_INTERVAL};
use exsvc_domain::pagination::CursorKey;
use exsvc_domain::ports::{CredentialCipher, RateLimiter};
use exsvc_domain::service::UrlPolicy;
use exsvc_domain::usecases::{CatalogSettings, Outbound, UseCaseSettings, UseCases};
use exsvc_egress::{Egress, EgressSettings, OAuthBroker};
use exsvc_ratelimit::{InProcessLimiter, RedisLimiter};

use crate::config::{rate_limit, Config, Database, RateLimit};
use crate::outcomes::{OutcomeWriter, OutcomeWriterSettings};
use crate::store::{self, Store};

/// A check waits this long for Redis before the store-error policy applies.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// The keys a running application needs and that development mode may have
/// made: the configuration names them, or `serve` took them from the data
/// directory.
pub struct Keys {
    pub hmac_secret: Option<HmacSecret>,
    pub keyring: Keyring,
}

/// What a test may put in place of a configured part; the server uses none.
#[derive(Default)]
pub struct Substitutes {
    /// A tenant budget other than the configured one (a store that always
    /// fails, or none at all).
    pub tenant_limiter: Option<Arc<dyn RateLimiter>>,
    /// How soon an unknown `kid` may refresh the JWKS (default 30 s).
    pub jwks_min_refresh: Option<Duration>,
}

/// Every use case over the store of `database` (a pool of `pool_size`, each
/// operation bounded by `settings.store_timeout`), sealed with `keyring`,
/// sending out through one egress client under `egress` whose metrics go to
/// `registry`. Must run inside a tokio runtime (the outcome writer's task).
///
/// # Errors
/// When the pool or the egress client cannot be built.
pub fn use_cases(
    database: &Database,
    pool_size: usize,
    keyring: Keyring,
    settings: UseCaseSettings,
    egress: EgressSettings,
    registry: &prometheus::Registry,
) -> anyhow::Result<(UseCases, Store, OutcomeWriter)> {
    let store =
        store::open(database, pool_size, settings.store_timeout).map_err(anyhow::Error::msg)?;
    let cipher: Arc<dyn CredentialCipher> = Arc::new(EnvelopeCipher::new(keyring));
    let egress = Arc::new(Egress::new(egress, registry).map_err(|e| anyhow::anyhow!("{e}"))?);
    let (outcomes, _) =
        OutcomeWriter::start(store.ports.audit.clone(), OutcomeWriterSettings::default());
    let outbound = Outbound {
        broker: Arc::new(OAuthBroker::new(egress.clone())),
        upstream: egress,
        outcomes: Arc::new(outcomes.clone()),
    };
    Ok((
        UseCases::new(&store.ports, cipher, outbound, settings),
        store,
        outcomes,
    ))
}

/// The egress client's settings from the configuration.
fn egress_settings(config: &Config) -> EgressSettings {
    EgressSettings {
        allow_http: config.catalog.allow_http_base_url,
        allow_cidrs: config.egress.allow_cidrs.clone(),
        extra_roots_pem: config.egress.ca_pem.clone(),
        connect_timeout: config.egress.connect_timeout,
        response_timeout: config.egress.response_timeout,
        retries: config.egress.retries,
        breaker_failures: config.egress.breaker_failures,
        breaker_open: config.egress.breaker_open,
    }
}

/// The HTTP adapter's state: everything a request may use; and the writer of
/// use outcomes, which a graceful stop closes so that none queued is lost.
///
/// # Errors
/// When the store, the verifier (a bad JWKS URL) or Redis cannot be set up.
pub async fn app_state(
    config: &Config,
    keys: Keys,
    substitutes: Substitutes,
) -> anyhow::Result<(web::Data<AppState>, OutcomeWriter)> {
    let settings = UseCaseSettings {
        catalog: CatalogSettings {
            url_policy: UrlPolicy {
                allow_http: config.catalog.allow_http_base_url,
            },
            cursor_key: cursor_key(
                keys.hmac_secret
                    .as_ref()
                    .or(config.auth.hmac_secrets.first()),
            )?,
        },
        max_credential_versions: config.credentials.max_versions,
        store_timeout: config.store.timeout,
    };
    let registry = prometheus::Registry::new();
    let (use_cases, store, outcomes) = use_cases(
        &config.store.database,
        config.store.pool_size,
        keys.keyring,
        settings,
        egress_settings(config),
        &registry,
    )?;
    poll_access_changes(&use_cases.directory);
    let verifier = JwtVerifier::new(VerifierSettings {
        hmac_secret: keys.hmac_secret,
        hmac_secrets: config.auth.hmac_secrets.clone(),
        public_keys: config.auth.public_keys.clone(),
        jwks_url: config.auth.jwks_url.clone(),
        algorithms: config.auth.algorithms.clone(),
        issuers: config.auth.issuers.clone(),
        audiences: config.auth.audiences.clone(),
        rules: config.auth.claim_rules.clone(),
        jwks_min_refresh: substitutes.jwks_min_refresh,
    })
    .await
    .map_err(anyhow::Error::msg)?;
    Ok((
        web::Data::new(AppState {
            use_cases,
            verifier: Arc::new(verifier),
            base_path: config.http.base_path.clone(),
            metrics: Metrics::new(store.pool_usage, registry)?,
            rate_limits: rate_limits(&config.rate_limit, substitutes.tenant_limiter).await?,
            debug_endpoints: config.deployment.debug_endpoints,
            body_timeout: config.http.body_timeout,
            proxy_max_body_bytes: config.egress.proxy_max_body_bytes,
        }),
        outcomes,
    ))
}

/// Keeps the replica's copy of role bindings in step with the store: every
/// `POLL_INTERVAL` it asks what other replicas changed (docs/operations.md).
/// The task holds the copy weakly, so it ends with the application.
fn poll_access_changes(directory: &Arc<AccessDirectory>) {
    let directory = Arc::downgrade(directory);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            let Some(directory) = directory.upgrade() else {
                break;
            };
            match directory.poll().await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("role binding changes are followed again");
                }
                Ok(()) => {}
                // Once per outage, not twice a second.
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "role binding changes cannot be read; bindings are loaded again per tenant once the store answers");
                }
                Err(_) => {}
            }
        }
    });
}

/// The key that authenticates listing cursors: derived from the HMAC secret
/// (`EXSVC_JWT_SECRET`, else the first `EXSVC_JWT_SECRETS` entry), which
/// replicas share. Without one (only public keys or a JWKS), a random key:
/// cursors then last for the life of the process.
fn cursor_key(secret: Option<&HmacSecret>) -> anyhow::Result<CursorKey> {
    match secret {
        Some(secret) => Ok(CursorKey::derive(secret.expose_bytes())),
        None => {
            let mut random = [0u8; 32];
            getrandom::fill(&mut random)
                .map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
            tracing::info!("no HMAC secret: listing cursors are valid for this process only");
            Ok(CursorKey::derive(&random))
        }
    }
}

/// The budgets: per tenant and per client address; shared through Redis when
/// configured (one limit across replicas), else in this process.
async fn rate_limits(
    config: &RateLimit,
    tenant_substitute: Option<Arc<dyn RateLimiter>>,
) -> anyhow::Result<RateLimits> {
    let limiter = |prefix: &'static str, per_minute: u32| async move {
        Ok::<Arc<dyn RateLimiter>, anyhow::Error>(match &config.redis_url {
            Some(url) => Arc::new(
                RedisLimiter::connect(url, prefix, per_minute, REDIS_TIMEOUT)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}: {e}", rate_limit::REDIS_URL.name()))?,
            ),
            None => Arc::new(InProcessLimiter::per_minute(
                std::num::NonZeroU32::new(per_minute).unwrap_or(std::num::NonZeroU32::MIN),
            )),
        })
    };
    let tenants = match tenant_substitute {
        Some(substitute) => substitute,
        None => limiter("exsvc:ratelimit:tenant:", config.per_minute).await?,
    };
    let clients = limiter("exsvc:ratelimit:client:", config.unauthenticated_per_minute).await?;
    if config.redis_url.is_some() {
        tracing::info!("rate limits are shared through Redis");
    }
    Ok(RateLimits {
        tenants,
        clients,
        on_store_error: config.on_store_error,
        trusted_proxies: config.trusted_proxies.clone(),
    })
}
