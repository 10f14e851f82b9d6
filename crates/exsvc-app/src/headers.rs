//! Header names and header rendering shared by the error envelope, the
//! middleware and the rate limiter. A leaf: it uses nothing else of this crate,
//! so none of those three needs another of them for a header.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use exsvc_domain::ports::RateLimitDecision;

/// Every response carries the request's id (docs/api.md §3).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Unix seconds at which a budget is full again: rounded up, never early.
fn reset_at(reset_after: Duration) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    ceil_secs(now + reset_after)
}

/// `X-RateLimit-*` and the IETF httpapi draft's `RateLimit-Policy` / `RateLimit`.
pub(crate) fn rate_limit_headers(decision: &RateLimitDecision) -> Vec<(HeaderName, HeaderValue)> {
    let reset_secs = ceil_secs(decision.reset_after);
    let values = [
        ("x-ratelimit-limit", decision.limit.to_string()),
        ("x-ratelimit-remaining", decision.remaining.to_string()),
        (
            "x-ratelimit-reset",
            reset_at(decision.reset_after).to_string(),
        ),
        (
            "ratelimit-policy",
            format!("\"default\";q={};w=60", decision.limit),
        ),
        (
            "ratelimit",
            format!("\"default\";r={};t={reset_secs}", decision.remaining),
        ),
    ];
    values
        .into_iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_static(name),
                HeaderValue::from_str(&value).ok()?,
            ))
        })
        .collect()
}

pub(crate) fn insert_rate_limit_headers(map: &mut HeaderMap, decision: &RateLimitDecision) {
    for (name, value) in rate_limit_headers(decision) {
        map.insert(name, value);
    }
}
