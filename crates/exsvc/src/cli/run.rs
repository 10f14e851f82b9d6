//! `exsvc run --service REF[=PREFIX]… -- COMMAND`: a process started with its
//! services' credentials in its environment, and nothing written to disk.

use std::collections::BTreeMap;
use std::process::Command;

use clap::Args;
use exsvc_client::types::AuthType;
use secrecy::ExposeSecret;

use super::{service, Context, Failure, Outcome};

#[derive(Args)]
pub struct RunArgs {
    /// A service whose credential COMMAND gets, as `PREFIX_KEY` variables
    /// (PREFIX defaults to the service's name in upper case); repeatable.
    #[arg(long = "service", value_name = "REF[=PREFIX]", required = true)]
    services: Vec<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// `REF` or `REF=PREFIX`: split at the last `=` when what follows is a
/// prefix (letters, digits, `_`), so a name holding `=` still works.
fn reference_and_prefix(argument: &str) -> (&str, Option<&str>) {
    match argument.rsplit_once('=') {
        Some((reference, prefix))
            if !reference.is_empty()
                && !prefix.is_empty()
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            (reference, Some(prefix))
        }
        _ => (argument, None),
    }
}

/// A variable name part: upper case, every character but A–Z and 0–9 as `_`.
pub(crate) fn variable_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if c.is_ascii_uppercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub(super) async fn run(context: &Context, args: RunArgs) -> Outcome {
    let mut variables: BTreeMap<String, String> = BTreeMap::new();
    let mut add = |name: String, value: String| -> Outcome {
        refuse_dangerous(&name)?;
        if variables.insert(name.clone(), value).is_some() {
            return Err(Failure::Usage(format!(
                "{name} would be set twice: give the services different prefixes (--service REF=PREFIX)"
            )));
        }
        Ok(())
    };
    for argument in &args.services {
        let (reference, prefix) = reference_and_prefix(argument);
        let found = service(context, reference).await?;
        let prefix = variable_part(prefix.unwrap_or(&found.name));
        let credential = context.client.get_credential(found.id, None).await?;
        for key in credential.credentials.expose().keys() {
            let value = credential.credentials.field(key).unwrap_or_default();
            add(format!("{prefix}_{}", variable_part(key)), value)?;
        }
        if credential.auth_type == AuthType::OAuth2ClientCredentials {
            let token = context.client.service_token(found.id).await?;
            add(
                format!("{prefix}_ACCESS_TOKEN"),
                token.access_token.expose_secret().to_owned(),
            )?;
        }
    }
    let (program, arguments) = args
        .command
        .split_first()
        .ok_or_else(|| Failure::Usage("no COMMAND after --".into()))?;
    let mut command = Command::new(program);
    // The child gets its services' credentials, not the token that read them.
    for variable in super::CLIENT_VARIABLES {
        command.env_remove(variable);
    }
    command.args(arguments).envs(&variables);
    exec(command, program)
}

/// Variables that change how a program is loaded or started, or where it
/// connects, rather than being read by it: a name built from stored data (a
/// service called `Ld` with a key `preload`, `Https` with `proxy`) must not
/// set one. A list is never complete; an explicit PREFIX of the user's own
/// keeps every name in the user's namespace.
const LOADER_PREFIXES: [&str; 35] = [
    // Dynamic loaders and the C library.
    "LD_",
    "DYLD_",
    "GLIBC_",
    "MALLOC_",
    "GCONV_",
    "RES_",
    // Interpreters, runtimes and their package managers.
    "PYTHON",
    "PERL",
    "RUBY",
    "NODE_",
    "NPM_",
    "YARN_",
    "JAVA_",
    "JDK_",
    "_JAVA_",
    "CARGO_",
    "RUSTC",
    "RUSTUP_",
    "PIP_",
    "PHP",
    "LUA_",
    "DOTNET_",
    // TLS, proxies and the tools that talk to other hosts for the command.
    "OPENSSL_",
    "SSL_",
    "CURL_",
    "REQUESTS_",
    "GIT_",
    "SSH_",
    "DOCKER_",
    "KUBE",
    "AWS_",
    "GOOGLE_",
    "AZURE_",
    "XDG_",
    "EXSVC_",
];
const LOADER_VARIABLES: [&str; 25] = [
    "BASH_ENV",
    "ENV",
    "CDPATH",
    "PATH",
    "HOME",
    "SHELL",
    "IFS",
    "PS4",
    "PROMPT_COMMAND",
    "TMPDIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "FTP_PROXY",
    "LOCALDOMAIN",
    "HOSTALIASES",
    "LOCPATH",
    "NLSPATH",
    "EDITOR",
    "GOFLAGS",
    "GOPATH",
    "GOROOT",
    "GOPROXY",
    "GOTOOLCHAIN",
];

/// Refuses a variable that would change how COMMAND runs, or one the
/// environment already sets (the user's own would be silently replaced).
fn refuse_dangerous(name: &str) -> Outcome {
    if LOADER_PREFIXES.iter().any(|p| name.starts_with(p)) || LOADER_VARIABLES.contains(&name) {
        return Err(Failure::Usage(format!(
            "{name} would change how the command runs, not what it reads: give the service a PREFIX (--service REF=PREFIX)"
        )));
    }
    if std::env::var_os(name).is_some() {
        return Err(Failure::Usage(format!(
            "{name} is already set in this environment: give the service another PREFIX (--service REF=PREFIX) or unset it"
        )));
    }
    Ok(())
}

/// Replaces this process with COMMAND: its exit code, signals and standard
/// streams are then COMMAND's own, and the credentials live only in its
/// environment.
#[cfg(unix)]
fn exec(mut command: Command, program: &str) -> Outcome {
    use std::os::unix::process::CommandExt;
    let error = command.exec();
    Err(Failure::Other(format!("cannot run {program}: {error}")))
}

#[cfg(not(unix))]
fn exec(mut command: Command, program: &str) -> Outcome {
    let status = command
        .status()
        .map_err(|e| Failure::Other(format!("cannot run {program}: {e}")))?;
    std::process::exit(status.code().unwrap_or(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_follows_the_last_equals_sign_and_names_become_variables() {
        assert_eq!(reference_and_prefix("Stripe"), ("Stripe", None));
        assert_eq!(reference_and_prefix("Stripe=PAY"), ("Stripe", Some("PAY")));
        assert_eq!(reference_and_prefix("a=b=PAY"), ("a=b", Some("PAY")));
        assert_eq!(reference_and_prefix("odd name="), ("odd name=", None));
        assert_eq!(
            reference_and_prefix("x=not a prefix"),
            ("x=not a prefix", None)
        );
        assert_eq!(variable_part("Stripe live-2"), "STRIPE_LIVE_2");
        assert_eq!(variable_part("client_secret"), "CLIENT_SECRET");
        assert_eq!(variable_part("Zürich"), "Z_RICH");
    }

    #[test]
    fn a_name_that_changes_how_a_program_starts_is_refused() {
        for name in [
            "LD_PRELOAD",
            "DYLD_INSERT_LIBRARIES",
            "PYTHONPATH",
            "BASH_ENV",
            "NODE_OPTIONS",
            "PATH",
            "GIT_SSH_COMMAND",
        ] {
            assert!(
                matches!(refuse_dangerous(name), Err(Failure::Usage(_))),
                "{name}"
            );
        }
        assert!(refuse_dangerous("STRIPE_KEY_FOR_A_TEST_THAT_NOBODY_SETS").is_ok());
    }
}
