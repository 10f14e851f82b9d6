//! `exsvc audit list`.

use clap::{Args, Subcommand};
use exsvc_client::request;
use exsvc_client::types::{AuditEventList, AuditQuery};

use super::output::{self, note, time};
use super::{service, values, Context, Outcome};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// The audit trail, newest first.
    List(AuditListArgs),
}

#[derive(Args)]
pub struct AuditListArgs {
    /// Only the events of this service (id or exact name).
    #[arg(long = "service", value_name = "REF")]
    service: Option<String>,
    /// Only this action, e.g. credentials.read.
    #[arg(long, value_name = "A")]
    action: Option<String>,
    /// Only this actor (a token's sub or client_id).
    #[arg(long, value_name = "X")]
    actor: Option<String>,
    /// Only events at or after this time (RFC 3339, or a date).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only events before this time.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Events per page (1–100).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    limit: Option<u32>,
}

pub(super) async fn run(context: &Context, command: AuditCommand) -> Outcome {
    let AuditCommand::List(args) = command;
    // An id is taken as it is: the trail of a deleted service is still there.
    let service_id = match &args.service {
        Some(reference) => match uuid::Uuid::parse_str(reference) {
            Ok(id) => Some(id),
            Err(_) => Some(service(context, reference).await?.id),
        },
        None => None,
    };
    let query = AuditQuery {
        service_id,
        action: args.action,
        actor: args.actor,
        since: args
            .since
            .as_deref()
            .map(|t| values::time(t, "--since"))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|t| values::time(t, "--until"))
            .transpose()?,
        limit: args.limit,
        cursor: None,
    };
    let answer = context
        .client
        .execute(&request::list_audit_events(&query)?)
        .await?;
    context.out.answer(&answer, |page: AuditEventList| {
        if page.events.is_empty() {
            note!("no audit events");
            return;
        }
        output::table(
            &["TIME", "ACTOR", "ACTION", "OUTCOME", "SERVICE", "VERSION"],
            page.events
                .iter()
                .map(|e| {
                    vec![
                        time(&e.occurred_at),
                        e.actor.clone(),
                        e.action.clone(),
                        e.outcome.clone(),
                        e.service_id
                            .map_or_else(|| "-".to_owned(), |id| id.to_string()),
                        e.credential_version
                            .map_or_else(|| "-".to_owned(), |v| v.to_string()),
                    ]
                })
                .collect(),
        );
        if page.next_cursor.is_some() {
            note!("(more events: narrow with --since, --service or --action)");
        }
    })
}
