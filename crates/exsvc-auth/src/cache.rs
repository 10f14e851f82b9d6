//! A bounded cache of verified tokens, keyed by the SHA-256 of the token (the
//! token itself is never kept), each entry valid until the token's `exp`.

use quick_cache::sync::Cache;
use sha2::{Digest, Sha256};

use exsvc_domain::ports::VerifiedToken;

/// At most this many verified tokens are kept; the least recently used go first.
const CAPACITY: usize = 10_000;

/// The time window of a cached token.
#[derive(Debug, Clone, Copy)]
pub struct CachedToken {
    pub exp: i64,
    pub nbf: Option<i64>,
}

pub struct TokenCache {
    entries: Cache<[u8; 32], (VerifiedToken, CachedToken)>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl TokenCache {
    pub fn new() -> Self {
        Self {
            entries: Cache::new(CAPACITY),
        }
    }

    /// The verified token, if cached and still inside its `nbf`..`exp` window.
    pub fn get(&self, token: &str, leeway: i64) -> Option<VerifiedToken> {
        let key = key(token);
        let (verified, window) = self.entries.get(&key)?;
        let now = now();
        let open = window
            .nbf
            .is_none_or(|nbf| nbf <= now.saturating_add(leeway));
        if open && now <= window.exp.saturating_add(leeway) {
            Some(verified)
        } else {
            self.entries.remove(&key);
            None
        }
    }

    pub fn insert(&self, token: &str, verified: VerifiedToken, window: CachedToken) {
        self.entries.insert(key(token), (verified, window));
    }

    /// Forgets every entry (the trusted keys changed).
    pub fn clear(&self) {
        self.entries.clear();
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}
