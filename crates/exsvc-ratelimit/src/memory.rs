//! The in-process limiter, on governor.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use exsvc_domain::ports::{RateLimitDecision, RateLimitError, RateLimiter};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::Quota;

type Keyed = governor::RateLimiter<
    String,
    DefaultKeyedStateStore<String>,
    DefaultClock,
    StateInformationMiddleware,
>;

pub struct InProcessLimiter {
    limiter: Arc<Keyed>,
    clock: DefaultClock,
    limit: u32,
    /// Time for one request to be refilled (a minute / limit).
    interval: Duration,
}

impl InProcessLimiter {
    /// `limit` requests per minute per key, in a burst of up to `limit`. Needs a
    /// tokio runtime: idle keys are forgotten in the background.
    pub fn per_minute(limit: NonZeroU32) -> Self {
        let quota = Quota::per_minute(limit).allow_burst(limit);
        let limiter = Arc::new(
            governor::RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
        );
        let janitor = Arc::downgrade(&limiter);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                let Some(limiter) = janitor.upgrade() else {
                    return;
                };
                // Keys whose budget is full again hold no information.
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        });
        Self {
            limiter,
            clock: DefaultClock::default(),
            limit: limit.get(),
            interval: quota.replenish_interval(),
        }
    }
}

#[async_trait]
impl RateLimiter for InProcessLimiter {
    async fn check(&self, key: &str) -> Result<RateLimitDecision, RateLimitError> {
        let decision = match self.limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                RateLimitDecision {
                    allowed: true,
                    limit: self.limit,
                    remaining,
                    reset_after: self.interval * (self.limit - remaining),
                    retry_after: None,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                RateLimitDecision {
                    allowed: false,
                    limit: self.limit,
                    remaining: 0,
                    reset_after: self.interval * self.limit,
                    retry_after: Some(wait),
                }
            }
        };
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(limit: u32) -> InProcessLimiter {
        InProcessLimiter::per_minute(NonZeroU32::new(limit).unwrap())
    }

    #[tokio::test]
    async fn a_burst_up_to_the_limit_then_refusal() {
        let l = limiter(5);
        for expected_remaining in (0..5).rev() {
            let d = l.check("t1").await.unwrap();
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
            assert_eq!(d.limit, 5);
        }
        let refused = l.check("t1").await.unwrap();
        assert!(!refused.allowed);
        let retry = refused.retry_after.unwrap();
        assert!(
            retry > Duration::from_secs(11) && retry <= Duration::from_secs(12),
            "{retry:?}"
        );
        assert_eq!(refused.reset_after, Duration::from_secs(60));
    }

    #[tokio::test]
    async fn keys_are_isolated() {
        let l = limiter(2);
        l.check("a").await.unwrap();
        l.check("a").await.unwrap();
        assert!(!l.check("a").await.unwrap().allowed);
        assert!(l.check("b").await.unwrap().allowed);
    }

    #[tokio::test]
    async fn the_budget_refills_at_the_rate() {
        // 600 per minute: one every 100 ms.
        let l = limiter(600);
        for _ in 0..600 {
            assert!(l.check("t").await.unwrap().allowed);
        }
        assert!(!l.check("t").await.unwrap().allowed);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(
            l.check("t").await.unwrap().allowed,
            "refilled after its interval"
        );
    }

    #[tokio::test]
    async fn headers_agree_with_each_other() {
        let l = limiter(10);
        let d = l.check("t").await.unwrap();
        // Reset is when the budget is full: (limit - remaining) intervals away.
        assert_eq!(d.remaining, 9);
        assert_eq!(d.reset_after, Duration::from_secs(6));
    }
}
