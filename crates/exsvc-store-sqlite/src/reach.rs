//! `Reach` as SQL: the one translation of `ServiceSelector::matches` into a
//! condition on `services`, shared by the services listing and the audit
//! listing's subquery, so a listing narrowed to a caller's reach pages by
//! keyset like any other.

use diesel::dsl::sql;
use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::sqlite::Sqlite;
use exsvc_domain::access::{SelectorValue, ServiceSelector};

use crate::schema::services;

pub(crate) type Condition = Box<dyn BoxableExpression<services::table, Sqlite, SqlType = Bool>>;

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
        let ids: Vec<String> = selector.ids.iter().map(ToString::to_string).collect();
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
/// same JSON type (json_each tells `integer` from `real`, so `1.0` is no
/// integer). The key is compared as a value, never spliced into a JSON path,
/// so dots, quotes and brackets in it mean nothing.
fn metadata_equals(key: &str, value: &SelectorValue) -> Condition {
    let entry =
        sql::<Bool>("EXISTS (SELECT 1 FROM json_each(services.metadata) WHERE json_each.key = ")
            .bind::<Text, _>(key.to_owned());
    match value {
        SelectorValue::String(want) => Box::new(
            entry
                .sql(" AND json_each.type = 'text' AND json_each.value = ")
                .bind::<Text, _>(want.clone())
                .sql(")"),
        ),
        SelectorValue::Bool(want) => Box::new(entry.sql(if *want {
            " AND json_each.type = 'true')"
        } else {
            " AND json_each.type = 'false')"
        })),
        SelectorValue::Integer(want) => Box::new(
            entry
                .sql(" AND json_each.type = 'integer' AND json_each.value = ")
                .bind::<BigInt, _>(*want)
                .sql(")"),
        ),
    }
}
