//! `exsvc`: the External Service API. Command line, configuration and wiring.

mod config;
mod devkeys;
mod serve;
mod store;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{layered, ConfigError, Environment, Settings};

/// Exit codes (SPEC §8): 0 success, 2 configuration or usage error, 1 otherwise.
const EXIT_CONFIG: u8 = 2;
const EXIT_FAILURE: u8 = 1;

#[derive(Parser)]
#[command(
    name = "exsvc",
    version,
    about = "exsvc: a multi-tenant registry of external services and their credentials."
)]
struct Cli {
    /// A TOML file of settings (keys like `listen`, `database_url`); EXSVC_*
    /// environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default). Applies pending migrations first.
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Mint an HS256 token with the configured EXSVC_JWT_SECRET (or, in
    /// development, the local secret). A development and test tool: production
    /// tokens come from the Auth Manager.
    Token(token::TokenArgs),
}

fn config_error(error: &ConfigError) -> ExitCode {
    eprintln!("exsvc: configuration error: {error}");
    ExitCode::from(EXIT_CONFIG)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match layered(cli.config.as_deref(), std::env::vars()) {
        Ok(values) => Settings::new(values),
        Err(error) => return config_error(&error),
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => match settings.load() {
            Ok(config) => serve::run(config),
            Err(error) => config_error(&error),
        },
        Command::Migrate => match settings.database() {
            Ok(database) => serve::migrate_only(&database),
            Err(error) => config_error(&error),
        },
        Command::Token(args) => {
            let secret = match (settings.jwt_secret(), settings.environment()) {
                (Err(error), _) | (_, Err(error)) => return config_error(&error),
                (Ok(Some(secret)), _) => secret,
                (Ok(None), Ok(Environment::Production)) => {
                    return config_error(&ConfigError {
                        variable: "EXSVC_JWT_SECRET".into(),
                        reason: "is required to mint tokens when EXSVC_ENV=production".into(),
                    })
                }
                (Ok(None), Ok(Environment::Development)) => {
                    match devkeys::hmac_secret(&settings.data_dir()) {
                        Ok(key) => key.secret,
                        Err(error) => {
                            eprintln!("exsvc: development key: {error}");
                            return ExitCode::from(EXIT_FAILURE);
                        }
                    }
                }
            };
            token::run(&secret, &settings.tenant_claim(), &args)
        }
    }
}
