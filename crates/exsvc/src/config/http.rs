//! The listener and the limits of HTTP serving.

use std::net::SocketAddr;
use std::time::Duration;

use super::core::{bounded, parsed, settings, Settings};
use super::ConfigError;

settings! {
    /// The socket address to serve on.
    LISTEN = "127.0.0.1:8080";
    /// The longest wait, in milliseconds, for a whole request body.
    BODY_TIMEOUT_MS = "10000";
    /// Open client connections served at once (lowered to the file limit at start).
    MAX_CONNECTIONS = "1024";
    /// A path prefix of every route, e.g. `/exsvc`.
    BASE_PATH;
}

#[derive(Debug)]
pub struct Http {
    pub listen: SocketAddr,
    pub body_timeout: Duration,
    pub max_connections: usize,
    /// Empty, or `/segment[/segment…]` without a trailing `/`.
    pub base_path: String,
}

pub(super) fn read(settings: &Settings) -> Result<Http, ConfigError> {
    Ok(Http {
        listen: settings.read(LISTEN, parsed("a socket address such as 127.0.0.1:8080"))?,
        body_timeout: Duration::from_millis(settings.read(
            BODY_TIMEOUT_MS,
            bounded(100..=600_000, "a number of milliseconds"),
        )?),
        max_connections: settings.read(MAX_CONNECTIONS, bounded(1..=1_000_000, "a number"))?,
        base_path: settings.read(BASE_PATH, base_path)?.unwrap_or_default(),
    })
}

/// A trailing `/` is dropped; each segment is URL-safe without escaping.
fn base_path(raw: &str) -> Result<String, String> {
    let base_path = raw.trim_end_matches('/');
    let valid_segment = |seg: &str| {
        !seg.is_empty()
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
    };
    let well_formed = base_path.is_empty()
        || (base_path.starts_with('/') && base_path[1..].split('/').all(valid_segment));
    if !well_formed {
        return Err("must be a path such as /exsvc".to_owned());
    }
    Ok(base_path.to_owned())
}
