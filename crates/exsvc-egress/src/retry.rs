//! When to try again, and how long to wait first.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The longest upstream `Retry-After` that is waited out; a longer one ends
/// the retries and its answer is returned.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

const BACKOFF_BASE: Duration = Duration::from_millis(100);

/// The methods that are tried again (with a replayable body).
pub fn is_retryable_method(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET
            | http::Method::HEAD
            | http::Method::OPTIONS
            | http::Method::PUT
            | http::Method::DELETE
    )
}

/// The ceiling of the full-jitter backoff before retry `n` (0 for the first):
/// 100 ms · 2ⁿ, at most [`MAX_RETRY_AFTER`].
pub fn backoff_ceiling(n: u32) -> Duration {
    BACKOFF_BASE
        .checked_mul(1u32.checked_shl(n).unwrap_or(u32::MAX))
        .unwrap_or(MAX_RETRY_AFTER)
        .min(MAX_RETRY_AFTER)
}

/// A wait drawn uniformly from `[0, backoff_ceiling(n)]` (full jitter).
pub fn backoff(n: u32) -> Duration {
    let ceiling = backoff_ceiling(n);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    match getrandom::u64() {
        Ok(random) => Duration::from_nanos(random % nanos.saturating_add(1)),
        Err(_) => ceiling / 2,
    }
}

/// The wait an answer's `Retry-After` asks for (RFC 9110 §10.2.3): delay
/// seconds or an HTTP date (a date in the past is no wait). `None` when
/// absent or unreadable.
pub fn retry_after(headers: &http::HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (date.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_100_ms_up_to_5_s() {
        assert_eq!(backoff_ceiling(0), Duration::from_millis(100));
        assert_eq!(backoff_ceiling(1), Duration::from_millis(200));
        assert_eq!(backoff_ceiling(3), Duration::from_millis(800));
        assert_eq!(backoff_ceiling(10), MAX_RETRY_AFTER);
        assert_eq!(backoff_ceiling(64), MAX_RETRY_AFTER);
        for n in 0..8 {
            assert!(backoff(n) <= backoff_ceiling(n));
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc2822("Sun, 06 Nov 1994 08:49:37 GMT")
            .unwrap()
            .with_timezone(&Utc);
        let mut headers = http::HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(3)));
        headers.insert(
            "retry-after",
            "Sun, 06 Nov 1994 08:49:39 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(2)));
        headers.insert(
            "retry-after",
            "Sun, 06 Nov 1994 08:00:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));
        headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn only_idempotent_methods_are_retried() {
        for method in ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"] {
            assert!(is_retryable_method(&method.parse().unwrap()));
        }
        for method in ["POST", "PATCH", "CONNECT", "TRACE"] {
            assert!(!is_retryable_method(&method.parse().unwrap()));
        }
    }
}
