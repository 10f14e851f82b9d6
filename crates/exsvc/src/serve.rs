//! `exsvc serve` and `exsvc migrate`: wiring the adapters to the app.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpServer};
use exsvc_app::{build_app, AppState};
use exsvc_auth::HmacVerifier;
use exsvc_domain::pagination::CursorKey;
use exsvc_domain::ports::{SystemClock, UuidV7Generator};
use exsvc_domain::service::UrlPolicy;
use exsvc_domain::usecases::{CatalogSettings, ServiceCatalog};
use exsvc_store_postgres::{run_migrations, PgStore, PoolSettings};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};
use crate::{EXIT_CONFIG, EXIT_FAILURE};

/// Requests in flight get this long to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

fn init_tracing(filter: &str, format: Option<LogFormat>) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("EXSVC_LOG: {e}"))?;
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

pub fn migrate_only(database_url: &str) -> ExitCode {
    let outcome = runtime().map_err(|e| e.to_string()).and_then(|rt| {
        rt.block_on(run_migrations(database_url))
            .map_err(|e| e.to_string())
    });
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

pub fn run(config: Config) -> ExitCode {
    if let Err(error) = init_tracing(&config.log_filter, config.log_format) {
        eprintln!("exsvc: configuration error: {error}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("exsvc: cannot start the runtime: {error}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match rt.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "exsvc stopped");
            eprintln!("exsvc: {error}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let applied = run_migrations(&config.database_url).await?;
    tracing::info!(applied, "database migrations are up to date");

    let store = PgStore::connect(&PoolSettings {
        database_url: config.database_url.clone(),
        max_size: config.pool_size,
        timeout: config.db_timeout,
    })?;
    let catalog = ServiceCatalog::new(
        Arc::new(store),
        Arc::new(SystemClock),
        Arc::new(UuidV7Generator),
        CatalogSettings {
            url_policy: UrlPolicy {
                allow_http: config.allow_http_base_url,
            },
            // Replicas share the secret, so they accept each other's cursors.
            cursor_key: CursorKey::derive(config.jwt_secret.expose_bytes()),
        },
    );
    let state = web::Data::new(AppState {
        catalog,
        verifier: Arc::new(HmacVerifier::new(
            &config.jwt_secret,
            config.claim_rules.clone(),
        )),
        base_path: config.base_path.clone(),
    });

    let server = HttpServer::new(move || build_app(state.clone(), |_| {}))
        .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
        .bind(config.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?
        .run();
    tracing::info!(
        listen = %config.listen,
        swagger_ui = %format!("http://{}{}/swagger-ui/", config.listen, config.base_path),
        "exsvc is serving"
    );
    server.await?;
    tracing::info!("exsvc stopped gracefully");
    Ok(())
}
