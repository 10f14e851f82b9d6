//! The shared limiter: one budget per key across every replica, in Redis.

use std::time::Duration;

use async_trait::async_trait;
use exsvc_domain::ports::{RateLimitDecision, RateLimitError, RateLimiter};
use redis::aio::ConnectionManager;
use redis::Script;
use tokio::sync::OnceCell;

/// GCRA in one script, so a check is one atomic round trip (no read-then-write
/// race between replicas). Time comes from Redis, the one clock all replicas
/// share, in microseconds (exact in Lua's doubles). The key holds the
/// theoretical arrival time and expires when the budget is full again.
const GCRA: &str = r"
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000000 + now_parts[2]
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local tolerance = interval * limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((tolerance - (new_tat - now)) / interval), new_tat - now, 0}
";

pub struct RedisLimiter {
    client: redis::Client,
    /// Made on first use and kept (it reconnects by itself): a Redis that is
    /// down at start does not stop the service from starting.
    connection: OnceCell<ConnectionManager>,
    script: Script,
    prefix: String,
    limit: u32,
    /// A minute / limit, rounded up: the sustained rate never exceeds the limit.
    interval_us: u64,
    timeout: Duration,
}

impl RedisLimiter {
    /// `limit` per minute per key, keys under `prefix`. Every check gives up
    /// after `timeout`: a slow Redis never stalls the request path.
    ///
    /// # Errors
    /// When the URL is not a Redis URL. Reachability is tried, not required.
    pub async fn connect(
        url: &str,
        prefix: &str,
        limit: u32,
        timeout: Duration,
    ) -> Result<Self, RateLimitError> {
        let client = redis::Client::open(url).map_err(|e| RateLimitError(e.to_string()))?;
        let limit = limit.max(1);
        let limiter = Self {
            client,
            connection: OnceCell::new(),
            script: Script::new(GCRA),
            prefix: prefix.to_owned(),
            limit,
            interval_us: 60_000_000u64.div_ceil(u64::from(limit)),
            timeout,
        };
        if let Err(error) = limiter.connection().await {
            tracing::warn!(%error, "Redis is not reachable yet; rate-limit checks will retry");
        }
        Ok(limiter)
    }

    async fn connection(&self) -> Result<ConnectionManager, RateLimitError> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(1);
        let connect = ConnectionManager::new_with_config(self.client.clone(), config);
        self.connection
            .get_or_try_init(|| async {
                tokio::time::timeout(self.timeout, connect)
                    .await
                    .map_err(|_| RateLimitError("timed out connecting to Redis".into()))?
                    .map_err(|e| RateLimitError(e.to_string()))
            })
            .await
            .cloned()
    }
}

fn us(value: i64) -> Duration {
    Duration::from_micros(u64::try_from(value).unwrap_or(0))
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(&self, key: &str) -> Result<RateLimitDecision, RateLimitError> {
        let mut connection = self.connection().await?;
        let mut invocation = self.script.key(format!("{}{key}", self.prefix));
        invocation.arg(self.interval_us).arg(self.limit);
        let reply: Vec<i64> =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| RateLimitError("Redis did not answer in time".into()))?
                .map_err(|e| RateLimitError(e.to_string()))?;
        let [allowed, remaining, reset_us, retry_us] = reply[..] else {
            return Err(RateLimitError(
                "unexpected reply from the rate-limit script".into(),
            ));
        };
        Ok(RateLimitDecision {
            allowed: allowed == 1,
            limit: self.limit,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset_after: us(reset_us),
            retry_after: (allowed != 1).then(|| us(retry_us)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs the Redis on 127.0.0.1:6379 that CI starts: fails without it.
    async fn limiter(limit: u32) -> (RedisLimiter, String) {
        let prefix = format!("exsvc-test-{}:", std::process::id());
        let l = RedisLimiter::connect(
            "redis://127.0.0.1:6379",
            &prefix,
            limit,
            Duration::from_millis(500),
        )
        .await
        .expect("Redis on 127.0.0.1:6379 is required for this test");
        let key = format!("{:?}", std::time::Instant::now());
        (l, key)
    }

    #[tokio::test]
    async fn a_burst_up_to_the_limit_then_refusal() {
        let (l, key) = limiter(5).await;
        for expected_remaining in (0..5).rev() {
            let d = l.check(&key).await.unwrap();
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
        }
        let refused = l.check(&key).await.unwrap();
        assert!(!refused.allowed);
        let retry = refused.retry_after.unwrap();
        assert!(
            retry > Duration::from_secs(11) && retry <= Duration::from_secs(12),
            "{retry:?}"
        );
    }

    #[tokio::test]
    async fn the_budget_refills_at_the_rate() {
        // 60 a minute: one token a second, far longer than the burst takes
        // even on a loaded machine, so none comes back during it.
        let (l, key) = limiter(60).await;
        for _ in 0..60 {
            assert!(l.check(&key).await.unwrap().allowed);
        }
        let refused = l.check(&key).await.unwrap();
        assert!(!refused.allowed);
        let retry = refused.retry_after.unwrap();
        assert!(retry <= Duration::from_secs(1), "{retry:?}");
        tokio::time::sleep(retry + Duration::from_millis(20)).await;
        assert!(l.check(&key).await.unwrap().allowed);
        assert!(
            !l.check(&key).await.unwrap().allowed,
            "one token came back, not more"
        );
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_an_error_per_check_not_a_hang() {
        let started = std::time::Instant::now();
        let l = RedisLimiter::connect("redis://127.0.0.1:1", "x:", 5, Duration::from_millis(100))
            .await
            .unwrap();
        assert!(
            l.check("k").await.is_err(),
            "the store-error policy decides, per check"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn limits_that_do_not_divide_a_minute_never_exceed_it() {
        // 7 a minute: one every 8.571… s, rounded up, never down.
        let (l, key) = limiter(7).await;
        for _ in 0..7 {
            assert!(l.check(&key).await.unwrap().allowed);
        }
        let refused = l.check(&key).await.unwrap();
        let retry = refused.retry_after.unwrap();
        // One interval (60 s / 7, rounded up to 8_571_429 µs) less the burst's own duration.
        assert!(
            retry > Duration::from_millis(8_400) && retry <= Duration::from_micros(8_571_429),
            "{retry:?}"
        );
    }
}
