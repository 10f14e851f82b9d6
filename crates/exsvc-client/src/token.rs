//! Where the client's bearer token comes from.
//!
//! The Auth Manager's tokens expire, so a long-running caller needs a token
//! that changes under it: a file that a sidecar rewrites ([`TokenFile`]), or a
//! callback that asks for a new one before the old one runs out
//! ([`RefreshingToken`]). A fixed [`StaticToken`] suits scripts.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::Error;

/// A source of bearer tokens, asked before every request.
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// The token to send now.
    async fn token(&self) -> Result<SecretString, Error>;

    /// The server refused the last token (401). Returns whether asking again
    /// may give a different one, in which case the request is sent once more.
    fn refused(&self) -> bool {
        false
    }
}

/// One token for the client's whole life.
pub struct StaticToken(SecretString);

impl StaticToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(SecretString::from(token.into()))
    }
}

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self) -> Result<SecretString, Error> {
        Ok(self.0.clone())
    }
}

/// What identifies one content of the token file without reading it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

/// A token read from a file, and read anew whenever the file changes (its
/// modification time, length or inode: a rename over it counts), so a sidecar
/// can rotate it under a running client. Surrounding whitespace is trimmed.
pub struct TokenFile {
    path: PathBuf,
    cached: Mutex<Option<(FileStamp, SecretString)>>,
}

impl TokenFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cached: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn stamp(path: &Path) -> std::io::Result<FileStamp> {
        let meta = std::fs::metadata(path)?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        })
    }

    fn unreadable(&self, error: &std::io::Error) -> Error {
        Error::Token(format!("cannot read {}: {error}", self.path.display()))
    }
}

#[async_trait]
impl TokenSource for TokenFile {
    async fn token(&self) -> Result<SecretString, Error> {
        let stamp = Self::stamp(&self.path).map_err(|e| self.unreadable(&e))?;
        if let Ok(cached) = self.cached.lock() {
            if let Some((seen, token)) = cached.as_ref() {
                if *seen == stamp {
                    return Ok(token.clone());
                }
            }
        }
        let text = tokio::fs::read_to_string(&self.path)
            .await
            .map_err(|e| self.unreadable(&e))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(Error::Token(format!("{} is empty", self.path.display())));
        }
        let token = SecretString::from(token.to_owned());
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((stamp, token.clone()));
        }
        Ok(token)
    }

    /// Whether the file changed since the cached token was read: only then
    /// may asking again give another token. Unchanged, the cache is dropped
    /// all the same, so the next call reads the file anew (a rewrite within
    /// one timestamp tick and of the same length has the same stamp).
    fn refused(&self) -> bool {
        let Ok(mut cached) = self.cached.lock() else {
            return false;
        };
        let read_with = cached.take().map(|(stamp, _)| stamp);
        match Self::stamp(&self.path) {
            Ok(now) => read_with != Some(now),
            // Gone or unreadable: no other token to try; the 401 stands.
            Err(_) => false,
        }
    }
}

/// A token and when it stops being valid, as a refresh callback returns it.
pub struct FreshToken {
    pub token: SecretString,
    pub expires_at: DateTime<Utc>,
}

type Refresh =
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<FreshToken, Error>> + Send>> + Send + Sync;

/// A token from a callback (a call to the Auth Manager, say), kept until
/// `margin` before it expires, then asked for again. Concurrent requests
/// share one refresh.
pub struct RefreshingToken {
    refresh: Box<Refresh>,
    margin: Duration,
    current: tokio::sync::Mutex<Option<FreshToken>>,
}

impl RefreshingToken {
    /// Refreshes 30 s before the token's expiry.
    pub fn new<F, Fut>(refresh: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<FreshToken, Error>> + Send + 'static,
    {
        Self {
            refresh: Box::new(move || Box::pin(refresh())),
            margin: Duration::from_secs(30),
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// How long before its expiry a token is replaced. A token whose expiry
    /// less `margin` is out of range (chrono's) is replaced on every call.
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }
}

#[async_trait]
impl TokenSource for RefreshingToken {
    async fn token(&self) -> Result<SecretString, Error> {
        let mut current = self.current.lock().await;
        if let Some(fresh) = current.as_ref() {
            // An expiry or margin out of chrono's range counts as expired.
            let renew_at = chrono::Duration::from_std(self.margin)
                .ok()
                .and_then(|margin| fresh.expires_at.checked_sub_signed(margin));
            if renew_at.is_some_and(|at| at > Utc::now()) {
                return Ok(fresh.token.clone());
            }
        }
        let fresh = (self.refresh)().await?;
        let token = fresh.token.clone();
        *current = Some(fresh);
        Ok(token)
    }

    fn refused(&self) -> bool {
        if let Ok(mut current) = self.current.try_lock() {
            *current = None;
        }
        true
    }
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticToken([REDACTED])")
    }
}

/// The bearer header value of a token; never logged.
pub(crate) fn bearer(token: &SecretString) -> Result<reqwest::header::HeaderValue, Error> {
    let mut value =
        reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| Error::Token("the token holds characters a header cannot carry".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_token_file_is_read_again_when_it_changes() {
        let dir = std::env::temp_dir().join(format!("exsvc-client-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "first\n").unwrap();
        let source = TokenFile::new(&path);
        assert_eq!(source.token().await.unwrap().expose_secret(), "first");

        // A rotation as sidecars do it: write aside, rename over.
        let aside = dir.join("token.new");
        std::fs::write(&aside, "second-token\n").unwrap();
        std::fs::rename(&aside, &path).unwrap();
        assert_eq!(
            source.token().await.unwrap().expose_secret(),
            "second-token"
        );

        // Refused: worth asking again only when the file changed since.
        assert!(!source.refused());
        assert_eq!(
            source.token().await.unwrap().expose_secret(),
            "second-token"
        );
        let aside = dir.join("token.new");
        std::fs::write(&aside, "third\n").unwrap();
        std::fs::rename(&aside, &path).unwrap();
        assert!(source.refused());
        assert_eq!(source.token().await.unwrap().expose_secret(), "third");
        assert!(!source.refused());

        std::fs::write(&path, "  \n").unwrap();
        assert!(matches!(source.token().await, Err(Error::Token(_))));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(source.token().await, Err(Error::Token(_))));
    }

    #[tokio::test]
    async fn a_refreshing_token_is_kept_until_the_margin_and_refreshed_once_for_all() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let source = Arc::new(RefreshingToken::new(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(FreshToken {
                    token: SecretString::from(format!("token-{n}")),
                    // The first lives 10 s: inside the 30 s margin, so
                    // it is replaced at once; the second lives an hour.
                    expires_at: Utc::now()
                        + chrono::Duration::seconds(if n == 0 { 10 } else { 3600 }),
                })
            }
        }));
        assert_eq!(source.token().await.unwrap().expose_secret(), "token-0");
        let together: Vec<_> = (0..8)
            .map(|_| {
                let source = source.clone();
                tokio::spawn(async move { source.token().await.unwrap() })
            })
            .collect();
        for task in together {
            assert_eq!(task.await.unwrap().expose_secret(), "token-1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(source.refused());
        assert_eq!(source.token().await.unwrap().expose_secret(), "token-2");
    }

    #[tokio::test]
    async fn an_expiry_out_of_range_is_refreshed_not_a_panic() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        // The earliest instant there is: less the margin, it overflows.
        let source = RefreshingToken::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                Ok(FreshToken {
                    token: SecretString::from("t".to_owned()),
                    expires_at: DateTime::<Utc>::MIN_UTC,
                })
            }
        });
        source.token().await.unwrap();
        source.token().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        // A margin too long for a chrono duration: every token is too close.
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let source = RefreshingToken::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                Ok(FreshToken {
                    token: SecretString::from("t".to_owned()),
                    expires_at: DateTime::<Utc>::MAX_UTC,
                })
            }
        })
        .with_margin(Duration::MAX);
        source.token().await.unwrap();
        source.token().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
