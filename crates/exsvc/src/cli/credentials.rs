//! `exsvc credentials get|put|versions|delete|token`.

use clap::{Args, Subcommand};
use exsvc_client::request;
use exsvc_client::types::{
    AuthType, Credential, CredentialMeta, CredentialVersions, CredentialWrite, SecretObject,
    ServiceToken,
};
use exsvc_client::WriteOptions;
use secrecy::ExposeSecret;

use super::output::{self, note, optional_time, or_dash, say, time};
use super::services::confirm;
use super::{service, values, Context, Failure, Outcome};

#[derive(Subcommand)]
pub enum CredentialsCommand {
    /// Reveal a service's credential (recorded in the audit trail).
    Get {
        /// The service's id or exact name.
        #[arg(value_name = "REF")]
        reference: String,
        /// A kept earlier version instead of the current one.
        #[arg(long, value_name = "N")]
        version: Option<i64>,
        /// Print only this key's value and a newline (for scripts).
        #[arg(long, value_name = "KEY")]
        field: Option<String>,
    },
    /// Store a new current version of a service's credential.
    Put(PutArgs),
    /// List the kept versions, without their secrets.
    Versions {
        /// The service's id or exact name.
        #[arg(value_name = "REF")]
        reference: String,
    },
    /// Destroy every version of a service's credential.
    Delete {
        /// The service's id or exact name.
        #[arg(value_name = "REF")]
        reference: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Get an OAuth access token for an `oauth2_client_credentials` credential.
    Token {
        /// The service's id or exact name.
        #[arg(value_name = "REF")]
        reference: String,
    },
}

#[derive(Args)]
pub struct PutArgs {
    /// The service's id or exact name.
    #[arg(value_name = "REF")]
    reference: String,
    /// api_key, basic, bearer, oauth2_client_credentials or custom.
    #[arg(long, value_name = "T")]
    auth_type: AuthType,
    /// One key: `KEY=VALUE`, `KEY=-` (read from standard input), `KEY=@PATH`
    /// (read from a file) or `KEY:=JSON`; repeatable. Prefer `-` or `@PATH`
    /// for secrets: they stay out of the shell history and the process list.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// A JSON object of keys (`-`: standard input); --set adds to it.
    #[arg(long, value_name = "FILE")]
    from_file: Option<String>,
    /// When the credential expires (RFC 3339, or a date).
    #[arg(long, value_name = "TIME")]
    expires_at: Option<String>,
}

pub(super) async fn run(context: &Context, command: CredentialsCommand) -> Outcome {
    let client = &context.client;
    match command {
        CredentialsCommand::Get {
            reference,
            version,
            field,
        } => {
            let found = service(context, &reference).await?;
            let answer = client
                .execute(&request::get_credential(found.id, version)?)
                .await?;
            if let Some(key) = field {
                let credential: Credential = answer.json()?;
                return match credential.credentials.field(&key) {
                    Some(value) => {
                        say!("{value}");
                        Ok(())
                    }
                    None => {
                        let keys: Vec<&String> = credential.credentials.expose().keys().collect();
                        Err(Failure::Other(format!(
                            "the credential has no key '{key}' (it has: {})",
                            keys.iter()
                                .map(|k| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )))
                    }
                };
            }
            context.out.answer(&answer, |c: Credential| {
                output::record(vec![
                    ("service", format!("{} ({})", c.service_name, c.service_id)),
                    ("auth_type", c.auth_type.to_string()),
                    ("version", c.version.to_string()),
                    ("created_at", time(&c.created_at)),
                    ("expires_at", optional_time(c.expires_at.as_ref())),
                ]);
                say!("");
                output::table(
                    &["KEY", "VALUE"],
                    c.credentials
                        .expose()
                        .keys()
                        .map(|k| vec![k.clone(), c.credentials.field(k).unwrap_or_default()])
                        .collect(),
                );
            })
        }
        CredentialsCommand::Put(args) => put(context, args).await,
        CredentialsCommand::Versions { reference } => {
            let found = service(context, &reference).await?;
            let answer = client
                .execute(&request::credential_versions(found.id))
                .await?;
            context.out.answer(&answer, |list: CredentialVersions| {
                if list.versions.is_empty() {
                    note!("no credential stored for '{}'", found.name);
                    return;
                }
                output::table(
                    &["VERSION", "AUTH", "CREATED", "EXPIRES", "CURRENT"],
                    list.versions
                        .iter()
                        .map(|v| {
                            vec![
                                v.version.to_string(),
                                v.auth_type.to_string(),
                                time(&v.created_at),
                                optional_time(v.expires_at.as_ref()),
                                if v.current { "yes" } else { "" }.to_owned(),
                            ]
                        })
                        .collect(),
                );
            })
        }
        CredentialsCommand::Delete { reference, yes } => {
            let found = service(context, &reference).await?;
            confirm(
                yes,
                &format!(
                    "Destroy every version of the credential of '{}' ({})?",
                    found.name, found.id
                ),
            )?;
            client
                .execute(&request::delete_credential(found.id))
                .await?;
            if !context.out.json() {
                say!("deleted the credential of '{}'", found.name);
            }
            Ok(())
        }
        CredentialsCommand::Token { reference } => {
            let found = service(context, &reference).await?;
            let answer = client.execute(&request::service_token(found.id)).await?;
            context.out.answer(&answer, |t: ServiceToken| {
                output::record(vec![
                    ("access_token", t.access_token.expose_secret().to_owned()),
                    ("token_type", t.token_type.clone()),
                    ("expires_at", time(&t.expires_at)),
                    ("scope", or_dash(t.scope.as_deref())),
                    ("cached", t.cached.to_string()),
                ]);
            })
        }
    }
}

async fn put(context: &Context, args: PutArgs) -> Outcome {
    let mut sources = values::Sources::new();
    let mut credentials = match &args.from_file {
        Some(path) => sources.object_file(path)?,
        None => serde_json::Map::new(),
    };
    for assignment in &args.set {
        let (key, value) = sources.secret(assignment)?;
        credentials.insert(key, value);
    }
    let expires_at = args
        .expires_at
        .as_deref()
        .map(|t| values::time(t, "--expires-at"))
        .transpose()?;
    let found = service(context, &args.reference).await?;
    let body = CredentialWrite {
        auth_type: args.auth_type,
        credentials: SecretObject::new(credentials),
        expires_at,
    };
    let answer = context
        .client
        .execute(&request::put_credential(
            found.id,
            &body,
            &WriteOptions::default(),
        )?)
        .await?;
    context.out.answer(&answer, |m: CredentialMeta| {
        say!(
            "stored version {} ({}) of the credential of '{}'{}",
            m.version,
            m.auth_type,
            found.name,
            m.expires_at
                .map(|at| format!(", expires {}", time(&at)))
                .unwrap_or_default()
        );
    })
}
