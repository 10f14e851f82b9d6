//! `exsvc serve` and `exsvc migrate`: wiring the adapters to the app.

use std::io::{ErrorKind, IsTerminal};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use exsvc_app::build_app;
use exsvc_auth::{mint_hs256, HmacSecret};
use exsvc_domain::pagination::CursorKey;
use exsvc_domain::service::UrlPolicy;
use exsvc_domain::usecases::{CatalogSettings, IdempotencyGuard, UseCaseSettings};
use tracing_subscriber::EnvFilter;

use crate::config::{http, log, Config, Database, LogFormat, DEFAULT_DATABASE_URL};
use crate::{compose, devkeys, store, EXIT_CONFIG, EXIT_FAILURE};

/// Requests in flight get this long to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How often expired idempotency keys are deleted. Expired keys are already
/// ignored when met; this only bounds the table's size.
const IDEMPOTENCY_PURGE_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// Versions re-encrypted per batch by `exsvc keys rewrap`.
const REWRAP_BATCH: usize = 100;
/// The development admin token's lifetime.
const DEV_TOKEN_TTL_SECS: u64 = 24 * 3600;

fn init_tracing(filter: &str, format: Option<LogFormat>) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("{}: {e}", log::LOG.name()))?;
    let format = format.unwrap_or(if std::io::stdout().is_terminal() {
        LogFormat::Text
    } else {
        LogFormat::Json
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    result.map_err(|e| e.to_string())
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

pub fn migrate_only(database: &Database) -> ExitCode {
    let outcome = runtime()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(store::migrate(database)));
    match outcome {
        Ok(applied) => {
            println!("exsvc: {applied} migration(s) applied");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("exsvc: migration failed: {error}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// What `exsvc keys rewrap` needs: the database and the keyring, nothing else.
pub struct RewrapSettings {
    pub database: Database,
    pub keyring: exsvc_crypto::Keyring,
}

/// `exsvc keys rewrap`: re-encrypts every data key under the keyring's first
/// master key, in batches, safely beside a running service. Exit 1 when a
/// version could not be opened (it is named; the others are still rewrapped).
pub fn rewrap(settings: RewrapSettings) -> ExitCode {
    let primary = settings.keyring.primary_id().to_owned();
    let outcome = runtime().map_err(|e| e.to_string()).and_then(|rt| {
        rt.block_on(async {
            // The schema must be current, as for any start; migrations are
            // idempotent and serialised with a running service's.
            store::migrate(&settings.database).await?;
            let (use_cases, _, _) = compose::use_cases(
                &settings.database,
                4,
                settings.keyring,
                UseCaseSettings {
                    catalog: CatalogSettings {
                        url_policy: UrlPolicy::default(),
                        // Rewrapping pages no listing: any cursor key will do.
                        cursor_key: CursorKey::derive(b"exsvc keys rewrap"),
                    },
                    // Rewrapping keeps every version there is.
                    max_credential_versions: usize::MAX,
                    // A batch job beside a running service: patient.
                    store_timeout: Duration::from_secs(30),
                },
                // Rewrapping sends nothing out; the client is built unused.
                exsvc_egress::EgressSettings::default(),
                &prometheus::Registry::new(),
            )
            .map_err(|e| e.to_string())?;
            let vault = use_cases.vault;
            vault.rewrap_all(REWRAP_BATCH).await.map_err(|e| {
                let cause = std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                format!("{e} {cause}")
            })
        })
    });
    match outcome {
        Ok(report) => {
            println!(
                "exsvc: {} credential version(s) rewrapped under master key '{primary}' ({} already under it)",
                report.rewrapped, report.already_current
            );
            for (service, version) in &report.unreadable {
                eprintln!("exsvc: credential version {version} of service {service} does not open with this keyring");
            }
            if report.unreadable.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILURE)
            }
        }
        Err(error) => {
            eprintln!("exsvc: rewrap failed: {error}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// `unrecognized`: the `EXSVC_*` variables that are no setting, with the
/// setting each most likely means (`config::unrecognized`), warned about once
/// logging is up.
pub fn run(config: Config, unrecognized: &[(String, Option<&'static str>)]) -> ExitCode {
    if let Err(error) = init_tracing(&config.log.filter, config.log.format) {
        eprintln!("exsvc: configuration error: {error}");
        return ExitCode::from(EXIT_CONFIG);
    }
    for (variable, closest) in unrecognized {
        match closest {
            Some(setting) => tracing::warn!(
                variable,
                "{variable} is not a setting and is ignored; did you mean {setting}?"
            ),
            None => tracing::warn!(variable, "{variable} is not a setting and is ignored"),
        }
    }
    let secret = if config.auth.development_keys() {
        match devkeys::hmac_secret(&config.deployment.data_dir) {
            Ok(key) => {
                let verb = if key.created { "created" } else { "reusing" };
                tracing::warn!(
                    key_file = %key.path.display(),
                    "DEVELOPMENT MODE: no token key source is configured; {verb} a local HMAC secret. \
                     Set EXSVC_JWT_SECRET (or EXSVC_JWKS_URL) and EXSVC_ENV=production for real deployments."
                );
                Some(key.secret)
            }
            Err(error) => {
                eprintln!("exsvc: development key: {error}");
                return ExitCode::from(EXIT_FAILURE);
            }
        }
    } else {
        config.auth.jwt_secret.clone()
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("exsvc: cannot start the runtime: {error}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match rt.block_on(serve(config, secret)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "exsvc stopped");
            eprintln!("exsvc: {error}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Where the `exsvc` client looks for the server when `EXSVC_ADDR` is unset.
const CLIENT_DEFAULT_ADDR: &str = exsvc_client::DEFAULT_ADDR;

/// The address a client on this machine reaches the server at: the listen
/// address under the base path, with an unspecified address (`0.0.0.0`, `::`)
/// replaced by the loopback, which a browser or the client can connect to.
fn local_address(listen: SocketAddr, base_path: &str) -> String {
    let mut reach = listen;
    if reach.ip().is_unspecified() {
        reach.set_ip(match reach {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{reach}{base_path}")
}

/// The development banner's text: the admin token (and the address, when the
/// client would not find the server by default) as the `exsvc` client reads
/// them, three commands to try with it, and where to click.
fn dev_banner(data_dir: &Path, address: &str, token: &str) -> String {
    let mut exports = format!("    export EXSVC_TOKEN={token}\n");
    if address != CLIENT_DEFAULT_ADDR {
        exports.push_str(&format!("    export EXSVC_ADDR={address}\n"));
    }
    format!(
        "\n  exsvc is running in DEVELOPMENT MODE (keys in {dir}).\n\n  \
         Paste into your shell (an admin token for tenant 'dev', valid 24 h):\n\n\
         {exports}\n  \
         Then try the client (target/debug/exsvc, or exsvc after `cargo install --path crates/exsvc`):\n\n    \
         exsvc services list\n    \
         exsvc services create --name Stripe --type payment --base-url https://api.stripe.com/v1\n    \
         exsvc credentials put Stripe --auth-type api_key --set key=-\n\n  \
         Swagger UI: {address}/swagger-ui/\n  \
         Console:    {address}/console/ (arrives with the web console)\n",
        dir = data_dir.display(),
    )
}

/// The development banner, on stderr: an admin token for tenant `dev` and
/// what to do with it.
fn print_dev_banner(config: &Config, secret: &HmacSecret) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), "dev-admin".into());
    claims.insert(
        config.auth.claim_rules.primary_tenant_claim().to_owned(),
        "dev".into(),
    );
    claims.insert("roles".into(), serde_json::json!(["admin"]));
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + DEV_TOKEN_TTL_SECS).into());
    let Ok(token) = mint_hs256(secret, &claims) else {
        return;
    };
    let address = local_address(config.http.listen, &config.http.base_path);
    eprintln!(
        "{}",
        dev_banner(&config.deployment.data_dir, &address, &token)
    );
}

/// Why the listen address could not be bound, in words and without the
/// system's error number.
fn bind_failure(error: &std::io::Error) -> String {
    match error.kind() {
        ErrorKind::AddrInUse => "address already in use".to_owned(),
        ErrorKind::AddrNotAvailable => "no network interface here has that address".to_owned(),
        ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => error.to_string(),
    }
}

/// File descriptors kept free of client connections: the database pool, the
/// log, key files, Redis and the listening socket.
const RESERVED_DESCRIPTORS: usize = 64;

/// `EXSVC_MAX_CONNECTIONS`, lowered to what the process's file limit allows, so
/// that many clients, slow or not, make the server wait for a free connection
/// instead of failing to accept (and then to open anything else) with EMFILE.
fn connection_cap(configured: usize, pool_size: usize) -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let Some(limit) = limit.and_then(|l| usize::try_from(l).ok()) else {
        return configured;
    };
    let available = limit
        .saturating_sub(RESERVED_DESCRIPTORS + pool_size)
        .max(1);
    if available < configured {
        tracing::warn!(
            configured,
            serving = available,
            file_limit = limit,
            "EXSVC_MAX_CONNECTIONS is above what the file descriptor limit (ulimit -n) allows: serving fewer"
        );
    }
    configured.min(available)
}

/// Deletes expired idempotency keys now and then, for as long as the process runs.
async fn purge_expired_idempotency_keys(guard: IdempotencyGuard) {
    let mut ticks = tokio::time::interval(IDEMPOTENCY_PURGE_INTERVAL);
    loop {
        ticks.tick().await;
        match guard.purge_expired().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired idempotency keys deleted"),
            Err(error) => {
                tracing::warn!(error = %error, "expired idempotency keys could not be deleted")
            }
        }
    }
}

async fn serve(config: Config, secret: Option<HmacSecret>) -> anyhow::Result<()> {
    if config.deployment.production() && config.store.defaulted {
        // SQLite may be a choice in production, but reaching it by default
        // usually means EXSVC_DATABASE_URL was forgotten.
        tracing::warn!(
            database = %DEFAULT_DATABASE_URL,
            "EXSVC_ENV=production with no EXSVC_DATABASE_URL: serving the embedded SQLite file; \
             set EXSVC_DATABASE_URL (postgres://… or sqlite://PATH) to choose the database"
        );
    }
    let applied = store::migrate(&config.store.database)
        .await
        .map_err(anyhow::Error::msg)?;
    tracing::info!(applied, "database migrations are up to date");
    let keyring = match config.credentials.keyring.clone() {
        Some(keyring) => keyring,
        None => {
            let (keyring, path, created) =
                devkeys::master_keyring(&config.deployment.data_dir).map_err(anyhow::Error::msg)?;
            let verb = if created { "created" } else { "reusing" };
            tracing::warn!(key_file = %path.display(), "DEVELOPMENT MODE: no master keyring is configured; {verb} a local master key");
            keyring
        }
    };
    tracing::info!(
        primary_key = keyring.primary_id(),
        keys = keyring.ids().count(),
        "credential keyring loaded"
    );
    let (state, outcomes) = compose::app_state(
        &config,
        compose::Keys {
            hmac_secret: secret.clone(),
            keyring,
        },
        compose::Substitutes::default(),
    )
    .await?;
    tokio::spawn(purge_expired_idempotency_keys(
        state.use_cases.idempotency.clone(),
    ));

    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let connections = connection_cap(config.http.max_connections, config.store.pool_size);
    // actix-web's HttpServer, with each connection wrapped so that requests its
    // parser refuses get the error envelope too (docs/architecture.md).
    let settings = exsvc_app::edge::ServerSettings {
        workers,
        // actix counts per worker; the sum stays within the cap.
        max_connections_per_worker: (connections / workers).max(1),
        shutdown_timeout: SHUTDOWN_GRACE,
        body_timeout: config.http.body_timeout,
    };
    let listen = config.http.listen;
    // Named with its setting, and exit 1 like any failure that is not the
    // configuration's (the address is well formed; the port is taken).
    let listener = std::net::TcpListener::bind(listen).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {listen} ({}): {}",
            http::LISTEN.name(),
            bind_failure(&e)
        )
    })?;
    let server = exsvc_app::edge::server(
        move || build_app(state.clone(), |_| {}),
        listener,
        &settings,
    )?;
    tracing::info!(
        listen = %listen,
        database = match &config.store.database { Database::Postgres(_) => "postgres", Database::Sqlite(_) => "sqlite" },
        swagger_ui = %format!("http://{listen}{}/swagger-ui/", config.http.base_path),
        "exsvc is serving"
    );
    if let (true, Some(secret)) = (config.auth.development_keys(), &secret) {
        print_dev_banner(&config, secret);
    }
    server.await?;
    // Outcomes of the last requests are still queued: write them before exit.
    outcomes.close().await;
    tracing::info!("exsvc stopped gracefully");
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_banner_names_the_address_only_off_the_clients_default() {
        let text = dev_banner(Path::new("data"), CLIENT_DEFAULT_ADDR, "t0k3n");
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        assert!(lines.contains(&"export EXSVC_TOKEN=t0k3n"), "{text}");
        assert!(!text.contains("EXSVC_ADDR"), "{text}");
        assert!(lines.contains(&"Swagger UI: http://127.0.0.1:8080/swagger-ui/"));
        assert!(lines.contains(
            &"Console:    http://127.0.0.1:8080/console/ (arrives with the web console)"
        ));

        let text = dev_banner(Path::new("data"), "http://127.0.0.1:9000/exsvc", "t0k3n");
        assert!(
            text.lines()
                .any(|l| l.trim() == "export EXSVC_ADDR=http://127.0.0.1:9000/exsvc"),
            "{text}"
        );
    }

    #[test]
    fn the_local_address_reaches_an_unspecified_listen_address_on_the_loopback() {
        let address = |listen: &str, base| local_address(listen.parse().unwrap(), base);
        assert_eq!(address("127.0.0.1:8080", ""), CLIENT_DEFAULT_ADDR);
        assert_eq!(address("0.0.0.0:8080", ""), CLIENT_DEFAULT_ADDR);
        assert_eq!(address("[::]:8080", "/exsvc"), "http://[::1]:8080/exsvc");
        assert_eq!(address("10.1.2.3:80", ""), "http://10.1.2.3:80");
    }

    #[test]
    fn a_taken_port_is_said_in_words() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let error = std::net::TcpListener::bind(taken.local_addr().unwrap()).unwrap_err();
        assert_eq!(bind_failure(&error), "address already in use");
    }
}
