use std::time::Duration;

use async_trait::async_trait;

/// The outcome of one request against a budget (docs/api.md §5): a burst of up to
/// `limit` requests, refilled continuously at `limit` per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitDecision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests that may follow at once.
    pub remaining: u32,
    /// Until the budget is full again.
    pub reset_after: Duration,
    /// When refused: until the next request can pass.
    pub retry_after: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
#[error("the rate limit store failed: {0}")]
pub struct RateLimitError(pub String);

/// One budget per key (a tenant, or a client address).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Takes one request from `key`'s budget if there is one.
    ///
    /// # Errors
    /// When the store behind the budget cannot answer (in time).
    async fn check(&self, key: &str) -> Result<RateLimitDecision, RateLimitError>;
}
