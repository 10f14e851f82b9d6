//! `exsvc services list|get|create|update|delete`.

use std::io::{BufRead, IsTerminal, Write};

use clap::{Args, Subcommand};
use exsvc_client::request;
use exsvc_client::types::{
    Service, ServiceCreate, ServiceList, ServicePatch, ServiceQuery, ServiceStatus, ServiceWrite,
};
use exsvc_client::WriteOptions;

use super::output::{self, expiry, note, or_dash, say, time};
use super::{service, values, Context, Failure, Outcome};

#[derive(Subcommand)]
pub enum ServicesCommand {
    /// List the services the token may read, newest first.
    List(ListArgs),
    /// Show one service.
    Get {
        /// The service's id or exact name.
        #[arg(value_name = "REF")]
        reference: String,
    },
    /// Register a service.
    Create(CreateArgs),
    /// Change some fields of a service (only if nobody changed it meanwhile).
    Update(UpdateArgs),
    /// Delete a service and destroy its credentials.
    Delete {
        /// The service's id or exact name.
        #[arg(value_name = "REF")]
        reference: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args)]
pub struct ListArgs {
    /// Only services of this type.
    #[arg(long = "type", value_name = "T")]
    service_type: Option<String>,
    /// Only active or only inactive services.
    #[arg(long, value_name = "S")]
    status: Option<ServiceStatus>,
    /// A case-insensitive part of the name.
    #[arg(long, value_name = "TEXT")]
    q: Option<String>,
    /// Every page, not only the first.
    #[arg(long)]
    all: bool,
    /// Services per page (1–100).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    limit: Option<u32>,
}

#[derive(Args)]
pub struct CreateArgs {
    /// 1–100 characters, unique in the tenant ignoring case.
    #[arg(long)]
    name: String,
    /// A category of [a-z0-9._-], e.g. payment.
    #[arg(long = "type", value_name = "T")]
    service_type: String,
    /// The service's https base URL.
    #[arg(long, value_name = "URL")]
    base_url: String,
    /// At most 1000 characters.
    #[arg(long, value_name = "D")]
    description: Option<String>,
    /// The service's API version, e.g. 2024-06-20.
    #[arg(long, value_name = "V")]
    api_version: Option<String>,
    /// A metadata entry, `k=v` (a string) or `k:=JSON`; repeatable.
    #[arg(long, value_name = "k=v")]
    metadata: Vec<String>,
}

#[derive(Args)]
pub struct UpdateArgs {
    /// The service's id or exact name.
    #[arg(value_name = "REF")]
    reference: String,
    /// A new name.
    #[arg(long)]
    name: Option<String>,
    /// A new category.
    #[arg(long = "type", value_name = "T")]
    service_type: Option<String>,
    /// A new https base URL.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// active or inactive.
    #[arg(long, value_name = "S")]
    status: Option<ServiceStatus>,
    /// A new description.
    #[arg(long, value_name = "D")]
    description: Option<String>,
    /// A new API version.
    #[arg(long, value_name = "V")]
    api_version: Option<String>,
    /// Sets a metadata entry, `k=v` or `k:=JSON` (`k:=null` removes it); the
    /// other entries are kept.
    #[arg(long, value_name = "k=v")]
    metadata: Vec<String>,
}

pub(super) async fn run(context: &Context, command: ServicesCommand) -> Outcome {
    let client = &context.client;
    match command {
        ServicesCommand::List(args) => list(context, args).await,
        ServicesCommand::Get { reference } => {
            let found = service(context, &reference).await?;
            if !context.out.json() {
                show(&found);
                return Ok(());
            }
            // The API's own bytes: the service as its GET answers it.
            let answer = client.execute(&request::get_service(found.id)).await?;
            context.out.answer(&answer, |s: Service| show(&s))
        }
        ServicesCommand::Create(args) => {
            let body = ServiceCreate::from(ServiceWrite {
                name: args.name,
                service_type: args.service_type,
                base_url: args.base_url,
                description: args.description,
                status: None,
                api_version: args.api_version,
                metadata: values::metadata(&args.metadata)?,
            });
            let answer = client
                .execute(&request::create_service(&body, &WriteOptions::default())?)
                .await?;
            context.out.answer(&answer, |s: Service| show(&s))
        }
        ServicesCommand::Update(args) => {
            let patch = ServicePatch {
                name: args.name,
                service_type: args.service_type,
                base_url: args.base_url,
                status: args.status,
                description: args.description.map(Some),
                api_version: args.api_version.map(Some),
                metadata: values::metadata(&args.metadata)?,
            };
            if patch == ServicePatch::default() {
                return Err(Failure::Usage(
                    "nothing to change: give at least one of --name, --type, --base-url, --status, --description, --api-version, --metadata".into(),
                ));
            }
            let found = service(context, &args.reference).await?;
            // The version just read: a change made in between is a 412, not
            // silently overwritten.
            let answer = client
                .execute(&request::patch_service(
                    found.id,
                    &patch,
                    &WriteOptions::if_match(found.version),
                )?)
                .await?;
            context.out.answer(&answer, |s: Service| show(&s))
        }
        ServicesCommand::Delete { reference, yes } => {
            let found = service(context, &reference).await?;
            confirm(
                yes,
                &format!(
                    "Delete service '{}' ({}) and destroy its credentials?",
                    found.name, found.id
                ),
            )?;
            client
                .execute(&request::delete_service(
                    found.id,
                    &WriteOptions::if_match(found.version),
                )?)
                .await?;
            if !context.out.json() {
                say!("deleted service '{}' ({})", found.name, found.id);
            }
            Ok(())
        }
    }
}

async fn list(context: &Context, args: ListArgs) -> Outcome {
    let query = ServiceQuery {
        service_type: args.service_type,
        status: args.status,
        q: args.q,
        limit: args.limit,
        ..ServiceQuery::default()
    };
    if args.all {
        if context.out.json() {
            return every_page_as_json(context, query).await;
        }
        let services = context.client.all_services(&query).await?;
        services_table(&services);
        return Ok(());
    }
    let answer = context
        .client
        .execute(&request::list_services(&query)?)
        .await?;
    context.out.answer(&answer, |page: ServiceList| {
        services_table(&page.services);
        if page.next_cursor.is_some() {
            note!("(more services: --all lists every page)");
        }
    })
}

/// `--all -o json`: one document in the API's shape, `{"services": [...],
/// "next_cursor": null}`, each service exactly as the server wrote it.
async fn every_page_as_json(context: &Context, mut query: ServiceQuery) -> Outcome {
    #[derive(serde::Deserialize)]
    struct Page<'a> {
        #[serde(borrow)]
        services: Vec<&'a serde_json::value::RawValue>,
        next_cursor: Option<String>,
    }
    fn page_of(body: &[u8]) -> Result<Page<'_>, Failure> {
        serde_json::from_slice(body)
            .map_err(|e| Failure::Other(format!("cannot read a page of services: {e}")))
    }
    query.limit = query.limit.or(Some(100));
    let mut bodies = Vec::new();
    let mut seen = std::collections::HashSet::new();
    loop {
        let answer = context
            .client
            .execute(&request::list_services(&query)?)
            .await?;
        let next = page_of(&answer.body)?.next_cursor;
        bodies.push(answer.body);
        match next {
            Some(cursor) if seen.insert(cursor.clone()) => query.cursor = Some(cursor),
            Some(_) => return Err(Failure::Other("the server repeated a page cursor".into())),
            None => break,
        }
    }
    let mut services = Vec::new();
    for body in &bodies {
        services.extend(page_of(body)?.services.iter().map(|raw| raw.get()));
    }
    say!(
        r#"{{"services":[{}],"next_cursor":null}}"#,
        services.join(",")
    );
    Ok(())
}

fn services_table(services: &[Service]) {
    if services.is_empty() {
        note!("no services");
        return;
    }
    let now = chrono::Utc::now();
    output::table(
        &["NAME", "TYPE", "STATUS", "AUTH", "EXPIRES", "ID"],
        services
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.service_type.clone(),
                    s.status.as_str().to_owned(),
                    s.auth_type
                        .map_or_else(|| "-".to_owned(), |t| t.to_string()),
                    expiry(s.credential_expires_at.as_ref(), now),
                    s.id.to_string(),
                ]
            })
            .collect(),
    );
}

pub(super) fn show(s: &Service) {
    let metadata = if s.metadata.is_empty() {
        "-".to_owned()
    } else {
        serde_json::to_string(&s.metadata).unwrap_or_default()
    };
    output::record(vec![
        ("id", s.id.to_string()),
        ("name", s.name.clone()),
        ("type", s.service_type.clone()),
        ("status", s.status.as_str().to_owned()),
        ("base_url", s.base_url.clone()),
        ("description", or_dash(Some(&s.description))),
        ("api_version", or_dash(s.api_version.as_deref())),
        ("metadata", metadata),
        (
            "auth_type",
            s.auth_type
                .map_or_else(|| "-".to_owned(), |t| t.to_string()),
        ),
        (
            "credential_expires",
            expiry(s.credential_expires_at.as_ref(), chrono::Utc::now()),
        ),
        ("version", s.version.to_string()),
        ("created_at", time(&s.created_at)),
        ("updated_at", time(&s.updated_at)),
    ]);
}

/// Asks before a destructive step, unless `--yes`. Without a terminal to ask
/// on, it refuses: a script must say `--yes`.
pub(super) fn confirm(yes: bool, question: &str) -> Outcome {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(format!(
            "{question} Pass --yes to confirm (standard input is not a terminal to ask on)"
        )));
    }
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{question} [y/N] ");
    let _ = stderr.flush();
    drop(stderr);
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::Other(e.to_string()))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(Failure::Other("not confirmed: nothing was deleted".into()))
    }
}
