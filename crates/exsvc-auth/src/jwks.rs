//! The Auth Manager's JWKS: fetched with a timeout, cached, refreshed in the
//! background, and refreshed early — at most once per 30 s — when a token names
//! an unknown `kid`. While the endpoint is down the last good copy keeps serving.
//! The request path never waits for the network.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::keys::{keys_from_jwks, VerificationKey};

/// Fetch timeout of one JWKS request.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Least time between two refreshes asked for by unknown `kid`s.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Routine refresh period, so rotated keys are picked up without a token asking.
const ROUTINE_REFRESH: Duration = Duration::from_secs(300);
/// Until the first successful fetch, retry this often.
const FIRST_FETCH_RETRY: Duration = Duration::from_secs(5);
/// A JWKS larger than this is refused (a key set is a few KiB).
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

pub struct Jwks {
    url: String,
    client: reqwest::Client,
    keys: RwLock<Arc<Vec<VerificationKey>>>,
    last_attempt: Mutex<Option<Instant>>,
    refreshing: AtomicBool,
    loaded: AtomicBool,
    min_refresh: Duration,
    /// Called when the key set changes (the verifier empties its token cache).
    on_change: Box<dyn Fn() + Send + Sync>,
}

impl Jwks {
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(
        url: String,
        min_refresh: Duration,
        on_change: Box<dyn Fn() + Send + Sync>,
    ) -> Result<Arc<Self>, String> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(Self {
            url,
            client,
            keys: RwLock::new(Arc::new(Vec::new())),
            last_attempt: Mutex::new(None),
            refreshing: AtomicBool::new(false),
            loaded: AtomicBool::new(false),
            min_refresh,
            on_change,
        }))
    }

    /// The current keys (a cheap snapshot).
    pub fn keys(&self) -> Arc<Vec<VerificationKey>> {
        self.keys.read().map(|k| k.clone()).unwrap_or_default()
    }

    /// Fetches the document once; on failure the previous keys stay.
    pub async fn refresh(&self) -> Result<usize, String> {
        if let Ok(mut last) = self.last_attempt.lock() {
            *last = Some(Instant::now());
        }
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("JWKS endpoint answered {}", response.status()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err("JWKS document too large".into());
        }
        let keys = keys_from_jwks(&body)?;
        let count = keys.len();
        let changed = {
            let mut current = self
                .keys
                .write()
                .map_err(|_| "JWKS lock poisoned".to_owned())?;
            // Compare the keys themselves: a key replaced under the same kid counts.
            let old: Vec<&str> = current.iter().map(|k| k.fingerprint.as_str()).collect();
            let new: Vec<&str> = keys.iter().map(|k| k.fingerprint.as_str()).collect();
            let changed = old != new;
            *current = Arc::new(keys);
            changed
        };
        self.loaded.store(true, Ordering::Release);
        if changed {
            (self.on_change)();
            tracing::info!(keys = count, "JWKS keys updated");
        }
        Ok(count)
    }

    /// Asks for a refresh because a token named an unknown `kid`: starts one in
    /// the background unless one ran within the minimum interval (30 s). Never
    /// waits.
    pub fn kick(self: &Arc<Self>) {
        let due = self
            .last_attempt
            .lock()
            .map(|last| last.is_none_or(|at| at.elapsed() >= self.min_refresh))
            .unwrap_or(false);
        if !due || self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let jwks = self.clone();
        tokio::spawn(async move {
            if let Err(error) = jwks.refresh().await {
                tracing::warn!(%error, "JWKS refresh for an unknown kid failed; keeping the last good keys");
            }
            jwks.refreshing.store(false, Ordering::Release);
        });
    }

    /// Keeps the keys fresh for the life of the process.
    pub fn spawn_background_refresh(self: &Arc<Self>) {
        let jwks = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(this) = jwks.upgrade() else { return };
                let wait = if this.loaded.load(Ordering::Acquire) {
                    ROUTINE_REFRESH
                } else {
                    FIRST_FETCH_RETRY
                };
                drop(this);
                tokio::time::sleep(wait).await;
                let Some(this) = jwks.upgrade() else { return };
                if let Err(error) = this.refresh().await {
                    tracing::warn!(%error, "JWKS refresh failed; keeping the last good keys");
                }
            }
        });
    }
}
