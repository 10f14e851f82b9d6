//! The command-line client (docs/cli.md): `exsvc services …`, `credentials …`,
//! `audit list`, `run` and `completions`, on the exsvc-client library. Exit
//! codes: 0 success, 1 an error of the API or of the connection (its code and
//! message on standard error), 2 a usage error.

mod audit;
mod credentials;
mod output;
mod run;
mod services;
mod values;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use exsvc_client::{Client, Error as ClientError};

pub use audit::AuditCommand;
pub use credentials::CredentialsCommand;
pub use run::RunArgs;
pub use services::ServicesCommand;

use crate::{EXIT_CONFIG, EXIT_FAILURE};
use output::note;

/// The environment variables of the client, which the server does not read
/// (so `exsvc serve` does not call them misspelt settings).
pub const CLIENT_VARIABLES: [&str; 2] = ["EXSVC_ADDR", "EXSVC_TOKEN"];

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Columns that fit the terminal.
    Table,
    /// The API's JSON, unchanged.
    Json,
}

/// The options every client command takes. No `Debug`: it holds the token
/// (nor do the commands' arguments, which hold `--set` values).
#[derive(Args)]
pub struct ClientArgs {
    /// The exsvc to talk to, with its base path if it has one.
    #[arg(long, env = "EXSVC_ADDR", default_value = exsvc_client::DEFAULT_ADDR, global = true, value_name = "URL")]
    pub addr: String,
    /// The bearer token (`exsvc serve` prints one in development).
    #[arg(long, env = "EXSVC_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// A file holding the token, read anew when it changes; wins over --token.
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The output: `table` or the API's `json`.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table, global = true)]
    pub output: Format,
}

/// What a client command needs: the client and how to print.
pub(crate) struct Context {
    pub client: Client,
    pub out: output::Output,
    has_token: bool,
}

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Exit 1: the API refused, or could not be reached.
    Client(ClientError),
    /// Exit 2: the command line is wrong.
    Usage(String),
    /// Exit 1: anything else (a file that cannot be read …).
    Other(String),
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::InvalidInput(message) => Failure::Usage(message),
            other => Failure::Client(other),
        }
    }
}

pub(crate) type Outcome = Result<(), Failure>;

/// A client command.
pub enum ClientCommand {
    Services(ServicesCommand),
    Credentials(CredentialsCommand),
    Audit(AuditCommand),
    Run(RunArgs),
}

/// Runs a client command to its exit code.
pub fn run(args: &ClientArgs, command: ClientCommand) -> ExitCode {
    let out = output::Output::new(args.output);
    let context = match connect(args, out) {
        Ok(context) => context,
        Err(failure) => return report(&out, false, failure),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return report(&out, false, Failure::Other(error.to_string())),
    };
    let outcome = runtime.block_on(async {
        match command {
            ClientCommand::Services(command) => services::run(&context, command).await,
            ClientCommand::Credentials(command) => credentials::run(&context, command).await,
            ClientCommand::Audit(command) => audit::run(&context, command).await,
            ClientCommand::Run(args) => run::run(&context, args).await,
        }
    });
    let outcome = outcome.and_then(|()| match output::write_failure() {
        Some(reason) => Err(Failure::Other(format!(
            "cannot write standard output: {reason}"
        ))),
        None => Ok(()),
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => report(&out, context.has_token, failure),
    }
}

fn connect(args: &ClientArgs, out: output::Output) -> Result<Context, Failure> {
    let mut builder = Client::builder(args.addr.clone())
        .user_agent(format!("exsvc-cli/{}", env!("CARGO_PKG_VERSION")));
    // An empty EXSVC_TOKEN is no token.
    let token = args
        .token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let has_token = args.token_file.is_some() || token.is_some();
    if let Some(path) = &args.token_file {
        builder = builder.token_file(path.clone());
    } else if let Some(token) = token {
        builder = builder.token(token.to_owned());
    }
    let client = builder.build()?;
    Ok(Context {
        client,
        out,
        has_token,
    })
}

/// Prints why the command failed and returns its exit code.
fn report(out: &output::Output, has_token: bool, failure: Failure) -> ExitCode {
    match failure {
        Failure::Usage(message) => {
            out.error(&message);
            ExitCode::from(EXIT_CONFIG)
        }
        Failure::Other(message) => {
            out.error(&message);
            ExitCode::from(EXIT_FAILURE)
        }
        Failure::Client(ClientError::Api(error)) => {
            out.error(&format!("{}: {}", error.code, error.message));
            if let Some(fields) = error.details.get("fields").and_then(|f| f.as_object()) {
                for (field, reason) in fields {
                    let reason = reason
                        .as_str()
                        .map_or_else(|| reason.to_string(), str::to_owned);
                    note!("  {}: {}", output::visible(field), output::visible(&reason));
                }
            }
            if error.code == exsvc_client::ErrorCode::NotFound {
                note!("  no such route here: --addr is the server's root (with its base path, if any), not …/api/v1");
            }
            if error.status == 401 && !has_token {
                note!("  no token was sent: set EXSVC_TOKEN (`exsvc serve` prints one in development), --token or --token-file");
            }
            ExitCode::from(EXIT_FAILURE)
        }
        Failure::Client(error @ ClientError::Connect { .. }) => {
            out.error(&error.to_string());
            note!("  is exsvc running there? --addr or EXSVC_ADDR says where it is");
            ExitCode::from(EXIT_FAILURE)
        }
        Failure::Client(error) => {
            out.error(&error.to_string());
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// `exsvc completions SHELL`: the completion script of the whole command.
pub fn completions(shell: clap_complete::Shell, command: &mut clap::Command) -> ExitCode {
    // Into memory first: clap_complete panics on a closed pipe.
    let mut script = Vec::new();
    clap_complete::generate(shell, command, "exsvc", &mut script);
    output::raw(&script);
    match output::write_failure() {
        Some(reason) => report(
            &output::Output::new(Format::Table),
            false,
            Failure::Other(format!("cannot write standard output: {reason}")),
        ),
        None => ExitCode::SUCCESS,
    }
}

/// The subcommands of `exsvc services`, `credentials` and `audit` share
/// this: a service reference resolved by the library.
pub(crate) async fn service(
    context: &Context,
    reference: &str,
) -> Result<exsvc_client::types::Service, Failure> {
    Ok(context.client.find_service(reference).await?)
}
