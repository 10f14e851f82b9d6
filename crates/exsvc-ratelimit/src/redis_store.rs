//! The shared limiter: one budget per key across every replica, in Redis.

use std::time::Duration;

use async_trait::async_trait;
use exsvc_domain::ports::{RateLimitDecision, RateLimitError, RateLimiter};
use redis::aio::ConnectionManager;
use redis::Script;

/// GCRA in one script, so a check is one atomic round trip (no read-then-write
/// race between replicas). Time comes from Redis, the one clock all replicas
/// share. The key holds the theoretical arrival time (ms) and expires when the
/// budget is full again.
const GCRA: &str = r"
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000 + math.floor(now_parts[2] / 1000)
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
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return {1, math.floor((tolerance - (new_tat - now)) / interval), new_tat - now, 0}
";

pub struct RedisLimiter {
    connection: ConnectionManager,
    script: Script,
    prefix: String,
    limit: u32,
    interval_ms: u64,
    timeout: Duration,
}

impl RedisLimiter {
    /// `limit` per minute per key, keys under `prefix`. Every check gives up
    /// after `timeout`: a slow Redis never stalls the request path.
    ///
    /// # Errors
    /// When Redis cannot be reached at start.
    pub async fn connect(
        url: &str,
        prefix: &str,
        limit: u32,
        timeout: Duration,
    ) -> Result<Self, RateLimitError> {
        let client = redis::Client::open(url).map_err(|e| RateLimitError(e.to_string()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            .set_number_of_retries(1);
        let connection = tokio::time::timeout(
            timeout * 10,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| RateLimitError("timed out connecting to Redis".into()))?
        .map_err(|e| RateLimitError(e.to_string()))?;
        Ok(Self {
            connection,
            script: Script::new(GCRA),
            prefix: prefix.to_owned(),
            limit: limit.max(1),
            interval_ms: (60_000 / u64::from(limit.max(1))).max(1),
            timeout,
        })
    }
}

fn ms(value: i64) -> Duration {
    Duration::from_millis(u64::try_from(value).unwrap_or(0))
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(&self, key: &str) -> Result<RateLimitDecision, RateLimitError> {
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(format!("{}{key}", self.prefix));
        invocation.arg(self.interval_ms).arg(self.limit);
        let reply: Vec<i64> =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| RateLimitError("Redis did not answer in time".into()))?
                .map_err(|e| RateLimitError(e.to_string()))?;
        let [allowed, remaining, reset_ms, retry_ms] = reply[..] else {
            return Err(RateLimitError(
                "unexpected reply from the rate-limit script".into(),
            ));
        };
        Ok(RateLimitDecision {
            allowed: allowed == 1,
            limit: self.limit,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset_after: ms(reset_ms),
            retry_after: (allowed != 1).then(|| ms(retry_ms)),
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
        let (l, key) = limiter(600).await;
        for _ in 0..600 {
            assert!(l.check(&key).await.unwrap().allowed);
        }
        assert!(!l.check(&key).await.unwrap().allowed);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(l.check(&key).await.unwrap().allowed);
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_an_error_not_a_hang() {
        let started = std::time::Instant::now();
        let result =
            RedisLimiter::connect("redis://127.0.0.1:1", "x:", 5, Duration::from_millis(100)).await;
        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
