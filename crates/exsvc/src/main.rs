//! `exsvc`: the External Service API. Command line, configuration and wiring.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use exsvc_auth::HmacSecret;

use exsvc::cli::{self, ClientCommand};
use exsvc::config::auth::{JWT_SECRET, JWT_SECRETS};
use exsvc::config::credentials::{MASTER_KEYS, MASTER_KEY_FILE};
use exsvc::config::deployment::{DATA_DIR, ENV};
use exsvc::config::{layered, process_env, unrecognized, Config, ConfigError, Settings};
use exsvc::{devkeys, serve, token, EXIT_CONFIG, EXIT_FAILURE};

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
    #[command(flatten)]
    client: cli::ClientArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Server(ServerCommand),
    /// The registry: list, show, create, change and delete services.
    #[command(subcommand)]
    Services(cli::ServicesCommand),
    /// A service's credential: reveal, store, list versions, delete, get a token.
    #[command(subcommand)]
    Credentials(cli::CredentialsCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(cli::AuditCommand),
    /// Run a command with services' credentials in its environment.
    Run(cli::RunArgs),
    /// Print the shell completion script of exsvc.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The server's commands, which read the server's settings.
#[derive(Subcommand)]
enum ServerCommand {
    /// Serve the HTTP API (the default). Applies pending migrations first.
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Mint an HS256 token with the configured EXSVC_JWT_SECRET, or the
    /// EXSVC_JWT_SECRETS entry of --kid (or, in development, the local secret). A development and test tool only:
    /// production tokens come from the Auth Manager. Works only with an HMAC
    /// secret.
    Token(token::TokenArgs),
    /// Manage the master keyring of credential encryption.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a new keyring entry `id:<base64 of 32 random bytes>`. Put it first in
    /// EXSVC_MASTER_KEYS to encrypt new credentials with it.
    Generate {
        /// The new key's id.
        #[arg(long, default_value_t = default_key_id())]
        id: String,
    },
    /// Re-encrypt every data key under the first master key of the keyring (safe
    /// while the service runs), so older master keys can then be removed.
    Rewrap,
}

/// `k` and today's date: ids that sort by age and say when a key was made.
fn default_key_id() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    format!("k{days}")
}

fn config_error(error: &ConfigError) -> ExitCode {
    eprintln!("exsvc: configuration error: {error}");
    ExitCode::from(EXIT_CONFIG)
}

/// The HMAC secret `exsvc token` signs with: the `EXSVC_JWT_SECRETS` entry of
/// `kid` when one is asked for; else the configured `EXSVC_JWT_SECRET`, else
/// the first `EXSVC_JWT_SECRETS` entry (a token without `kid` is tried with
/// each), or in development (no key source at all) the local one.
fn token_secret(config: &Config, kid: Option<&str>) -> Result<HmacSecret, ExitCode> {
    let needs_secret = |reason: String| config_error(&JWT_SECRET.invalid(reason));

    if let Some(kid) = kid {
        return match config.auth.hmac_secrets.get(kid) {
            Some(secret) => Ok(secret.clone()),
            None => {
                let kids: Vec<&str> = config.auth.hmac_secrets.kids().collect();
                let known = if kids.is_empty() {
                    "none is configured".to_owned()
                } else {
                    format!("kids: {}", kids.join(", "))
                };
                Err(config_error(&JWT_SECRETS.invalid(format!(
                    "has no kid '{kid}' to mint with ({known})"
                ))))
            }
        };
    }
    if let Some(secret) = &config.auth.jwt_secret {
        return Ok(secret.clone());
    }
    if let Some((kid, secret)) = config.auth.hmac_secrets.iter().next() {
        eprintln!(
            "exsvc: signed with the secret of kid '{kid}', no kid in the header (--kid names one)"
        );
        return Ok(secret.clone());
    }
    if config.deployment.production() {
        return Err(needs_secret(format!(
            "is required to mint tokens when {}=production",
            ENV.name()
        )));
    }
    if !config.auth.development_keys() {
        return Err(needs_secret(
            "is required to mint tokens: the server only accepts asymmetric keys".into(),
        ));
    }
    let configured = &config.deployment.data_dir;
    let data_dir = std::path::absolute(configured).unwrap_or(configured.clone());
    match devkeys::existing_hmac_secret(&data_dir) {
        Ok(Some(key)) => {
            // Which secret signed matters: another folder has another one.
            eprintln!(
                "exsvc: signed with the development secret {}",
                key.path.display()
            );
            Ok(key.secret)
        }
        Ok(None) => Err(config_error(&DATA_DIR.invalid(format!(
            "has no development secret ({}): run `exsvc token` where `exsvc serve` runs, \
             point {} at its data directory, or set {}",
            data_dir.display(),
            DATA_DIR.name(),
            JWT_SECRET.name()
        )))),
        Err(error) => {
            eprintln!("exsvc: development key: {error}");
            Err(ExitCode::from(EXIT_FAILURE))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let client = |command| cli::run(&cli.client, command);
    match cli.command {
        None => server(cli.config.as_deref(), ServerCommand::Serve),
        Some(Command::Server(command)) => server(cli.config.as_deref(), command),
        // The client's commands read no server settings.
        Some(Command::Services(command)) => client(ClientCommand::Services(command)),
        Some(Command::Credentials(command)) => client(ClientCommand::Credentials(command)),
        Some(Command::Audit(command)) => client(ClientCommand::Audit(command)),
        Some(Command::Run(args)) => client(ClientCommand::Run(args)),
        Some(Command::Completions { shell }) => cli::completions(shell, &mut Cli::command()),
    }
}

/// The server's commands: `serve` (the default), `migrate`, `token`, `keys`.
fn server(config: Option<&std::path::Path>, command: ServerCommand) -> ExitCode {
    let env = match process_env() {
        Ok(env) => env,
        Err(error) => return config_error(&error),
    };
    let unrecognized = unrecognized(&env);
    let settings = match layered(config, env) {
        Ok(values) => Settings::new(values),
        Err(error) => return config_error(&error),
    };
    match command {
        ServerCommand::Serve => match settings.load() {
            Ok(config) => serve::run(config, &unrecognized),
            Err(error) => config_error(&error),
        },
        ServerCommand::Migrate => match settings.database() {
            Ok(database) => serve::migrate_only(&database),
            Err(error) => config_error(&error),
        },
        ServerCommand::Keys(KeysCommand::Generate { id }) => {
            match exsvc_crypto::Keyring::generate_entry(&id) {
                Ok(entry) => {
                    println!("{}", entry.as_str());
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("exsvc: {error}");
                    ExitCode::from(EXIT_CONFIG)
                }
            }
        }
        ServerCommand::Keys(KeysCommand::Rewrap) => match (settings.database(), settings.keyring())
        {
            (Err(error), _) | (_, Err(error)) => config_error(&error),
            (Ok(_), Ok(None)) => config_error(&MASTER_KEYS.missing(
                &[MASTER_KEY_FILE.name()],
                "is required: the keyring to rewrap under",
            )),
            (Ok(database), Ok(Some(keyring))) => {
                serve::rewrap(serve::RewrapSettings { database, keyring })
            }
        },
        ServerCommand::Token(args) => {
            let config = match settings.load() {
                Ok(config) => config,
                Err(error) => return config_error(&error),
            };
            let secret = match token_secret(&config, args.kid()) {
                Ok(secret) => secret,
                Err(exit) => return exit,
            };
            token::run(&secret, &config, &args)
        }
    }
}
