//! `Reach` as SQL: the one translation of `ServiceSelector::matches` into a
//! condition on `services`, shared by the services listing and the audit
//! listing's subquery, so a listing narrowed to a caller's reach pages by
//! keyset like any other.

use diesel::dsl::sql;
use diesel::expression::BoxableExpression;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use exsvc_domain::access::{SelectorValue, ServiceSelector};

use crate::schema::services;

pub(crate) type Condition = Box<dyn BoxableExpression<services::table, Pg, SqlType = Bool>>;

/// The services any of `selectors` matches; none when there is no selector.
pub(crate) fn matching(selectors: &[ServiceSelector]) -> Condition {
    selectors
        .iter()
        .map(selector)
        .reduce(|any, next| Box::new(any.or(next)))
        .unwrap_or_else(|| Box::new(sql::<Bool>("FALSE")))
}

fn selector(selector: &ServiceSelector) -> Condition {
    let mut all: Vec<Condition> = Vec::new();
    if !selector.ids.is_empty() {
        let ids: Vec<uuid::Uuid> = selector.ids.iter().map(|id| id.as_uuid()).collect();
        all.push(Box::new(services::id.eq_any(ids)));
    }
    if !selector.types.is_empty() {
        let types: Vec<String> = selector
            .types
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect();
        all.push(Box::new(services::service_type.eq_any(types)));
    }
    for (key, value) in &selector.metadata {
        all.push(metadata_equals(key, value));
    }
    all.into_iter()
        .reduce(|all, next| Box::new(all.and(next)))
        .unwrap_or_else(|| Box::new(sql::<Bool>("TRUE")))
}

/// `metadata[key]` equals `value` as `SelectorValue::matches` compares: of the
/// same JSON type, and an integer only when written as one. jsonb compares
/// numbers by value (1 = 1.0), so an integer is compared by its text, which
/// jsonb keeps as written (`1.0` stays `1.0`; the domain's canonical form
/// never leaves an integral float that prints without a point).
fn metadata_equals(key: &str, value: &SelectorValue) -> Condition {
    let key = key.to_owned();
    match value {
        SelectorValue::String(want) => Box::new(
            sql::<Bool>("(jsonb_typeof(services.metadata -> ")
                .bind::<Text, _>(key.clone())
                .sql(") = 'string' AND services.metadata ->> ")
                .bind::<Text, _>(key)
                .sql(" = ")
                .bind::<Text, _>(want.clone())
                .sql(")"),
        ),
        SelectorValue::Bool(want) => Box::new(
            sql::<Bool>("(services.metadata -> ")
                .bind::<Text, _>(key)
                .sql(if *want {
                    " = 'true'::jsonb)"
                } else {
                    " = 'false'::jsonb)"
                }),
        ),
        SelectorValue::Integer(want) => Box::new(
            sql::<Bool>("(jsonb_typeof(services.metadata -> ")
                .bind::<Text, _>(key.clone())
                .sql(") = 'number' AND (services.metadata -> ")
                .bind::<Text, _>(key)
                .sql(")::text = ")
                .bind::<Text, _>(want.to_string())
                .sql(")"),
        ),
    }
}
