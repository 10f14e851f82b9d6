//! Rate limiting at the edge of authentication (SPEC §5): an authenticated
//! request spends its tenant's budget, one without a valid token its client
//! address's. Routes that take no token (health, metrics, docs) never get here.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use exsvc_domain::ports::{RateLimitDecision, RateLimiter};

use crate::error::ApiError;
use crate::metrics::Metrics;

/// What to do when the limiter's store (Redis) fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStoreError {
    Allow,
    Deny,
}

pub struct RateLimits {
    pub tenants: Arc<dyn RateLimiter>,
    pub clients: Arc<dyn RateLimiter>,
    pub on_store_error: OnStoreError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Tenant,
    Client,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Tenant => "tenant",
            Scope::Client => "client",
        }
    }
}

/// The decision of a request, kept in its extensions so the middleware can put
/// the headers on whatever response follows (errors included).
#[derive(Debug, Clone, Copy)]
pub struct RateLimitState(pub RateLimitDecision);

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl RateLimits {
    /// Spends one request of `key`'s budget. `Ok(None)` when the store failed
    /// and the policy lets the request through (there is then nothing to tell).
    ///
    /// # Errors
    /// 429 when the budget is spent (or the store failed under `Deny`).
    pub async fn spend(
        &self,
        scope: Scope,
        key: &str,
        metrics: &Metrics,
    ) -> Result<Option<RateLimitState>, ApiError> {
        let limiter = match scope {
            Scope::Tenant => &self.tenants,
            Scope::Client => &self.clients,
        };
        match limiter.check(key).await {
            Ok(decision) if decision.allowed => Ok(Some(RateLimitState(decision))),
            Ok(decision) => {
                metrics.rate_limit_refused(scope.as_str());
                let retry =
                    ceil_secs(decision.retry_after.unwrap_or(Duration::from_secs(1))).max(1);
                Err(ApiError::rate_limited(retry).with_rate_limit(&decision))
            }
            Err(error) => {
                metrics.rate_limit_store_error();
                tracing::warn!(%error, scope = scope.as_str(), policy = ?self.on_store_error, "rate limit store failed");
                match self.on_store_error {
                    OnStoreError::Allow => Ok(None),
                    OnStoreError::Deny => {
                        metrics.rate_limit_refused(scope.as_str());
                        Err(ApiError::rate_limited(1))
                    }
                }
            }
        }
    }
}

/// Unix seconds at which a budget is full again: rounded up, never early.
fn reset_at(reset_after: Duration) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    ceil_secs(now + reset_after)
}

/// `X-RateLimit-*` and the IETF httpapi draft's `RateLimit-Policy` / `RateLimit`.
pub fn headers(decision: &RateLimitDecision) -> Vec<(HeaderName, HeaderValue)> {
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

pub fn insert_headers(map: &mut HeaderMap, decision: &RateLimitDecision) {
    for (name, value) in headers(decision) {
        map.insert(name, value);
    }
}
