//! Rate limiting: the budgets, where they are counted, and who the client is
//! behind a load balancer.

use exsvc_app::ratelimit::{IpNetwork, OnStoreError};

use super::core::{bounded, list, one_of, settings, url, Settings};
use super::ConfigError;

settings! {
    /// Requests per minute per tenant: a burst of up to this many, refilled at this rate.
    RATE_LIMIT_PER_MINUTE = "100";
    /// Requests per minute per client address without a valid token.
    RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE = "600";
    /// `redis://` or `rediss://`: one budget across replicas; unset: in-process.
    REDIS_URL;
    /// `allow` or `deny` (429) when Redis fails.
    RATE_LIMIT_ON_STORE_ERROR = "allow";
    /// Comma-separated addresses or networks of load balancers.
    TRUSTED_PROXIES;
}

#[derive(Debug)]
pub struct RateLimit {
    pub per_minute: u32,
    pub unauthenticated_per_minute: u32,
    /// Shared rate limiting across replicas; `None`: in-process.
    pub redis_url: Option<String>,
    pub on_store_error: OnStoreError,
    /// Load balancers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNetwork>,
}

pub(super) fn read(settings: &Settings) -> Result<RateLimit, ConfigError> {
    Ok(RateLimit {
        per_minute: settings.read(RATE_LIMIT_PER_MINUTE, bounded(1..=10_000_000, "a number"))?,
        unauthenticated_per_minute: settings.read(
            RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE,
            bounded(1..=10_000_000, "a number"),
        )?,
        redis_url: settings.read(
            REDIS_URL,
            url(&["redis", "rediss"], "must be a redis:// or rediss:// URL"),
        )?,
        on_store_error: settings.read(
            RATE_LIMIT_ON_STORE_ERROR,
            one_of(
                &[("allow", OnStoreError::Allow), ("deny", OnStoreError::Deny)],
                "allow or deny",
            ),
        )?,
        trusted_proxies: settings
            .read(
                TRUSTED_PROXIES,
                list(|entry| {
                    IpNetwork::parse(entry).ok_or_else(|| {
                        format!("'{entry}' is not an address or a network like 10.0.0.0/8")
                    })
                }),
            )?
            .unwrap_or_default(),
    })
}
