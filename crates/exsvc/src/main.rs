//! `exsvc`: the External Service API. Command line, configuration and wiring.

mod config;
mod serve;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{ConfigError, Settings};

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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default). Applies pending migrations first.
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Mint an HS256 token with the configured EXSVC_JWT_SECRET. A development and
    /// test tool: production tokens come from the Auth Manager.
    Token(token::TokenArgs),
}

fn config_error(error: &ConfigError) -> ExitCode {
    eprintln!("exsvc: configuration error: {error}");
    ExitCode::from(EXIT_CONFIG)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = Settings::new(|name| std::env::var(name).ok());
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => match settings.load() {
            Ok(config) => serve::run(config),
            Err(error) => config_error(&error),
        },
        Command::Migrate => match settings.database_url() {
            Ok(url) => serve::migrate_only(&url),
            Err(error) => config_error(&error),
        },
        Command::Token(args) => match settings.jwt_secret() {
            Ok(secret) => token::run(&secret, &settings.tenant_claim(), &args),
            Err(error) => config_error(&error),
        },
    }
}
