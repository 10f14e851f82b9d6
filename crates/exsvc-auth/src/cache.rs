//! A bounded cache of verified tokens, keyed by the SHA-256 of the token (the
//! token itself is never kept), each entry valid until the token's `exp`.

use std::sync::atomic::{AtomicU64, Ordering};

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

/// Entries remember the key-set generation they were verified under. A change
/// of keys bumps the generation, so an entry verified with a removed or replaced
/// key — even one inserted by a verification that raced the change — is never
/// served.
pub struct TokenCache {
    entries: Cache<[u8; 32], (VerifiedToken, CachedToken, u64)>,
    generation: AtomicU64,
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
            generation: AtomicU64::new(0),
        }
    }

    /// The verified token, if cached under the current keys and still inside its
    /// `nbf`..`exp` window.
    pub fn get(&self, token: &str, leeway: i64) -> Option<VerifiedToken> {
        let key = key(token);
        let (verified, window, generation) = self.entries.get(&key)?;
        let now = now();
        let open = window
            .nbf
            .is_none_or(|nbf| nbf <= now.saturating_add(leeway));
        if generation == self.generation() && open && now <= window.exp.saturating_add(leeway) {
            Some(verified)
        } else {
            self.entries.remove(&key);
            None
        }
    }

    /// The key-set generation: read it before verifying, pass it to `insert`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn insert(
        &self,
        token: &str,
        verified: VerifiedToken,
        window: CachedToken,
        generation: u64,
    ) {
        if generation == self.generation() {
            self.entries
                .insert(key(token), (verified, window, generation));
        }
    }

    /// Forgets every entry (the trusted keys changed).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}
