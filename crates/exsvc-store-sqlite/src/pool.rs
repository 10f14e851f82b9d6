//! The connection pool over one SQLite file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, SimpleAsyncConnection};
use exsvc_domain::ports::RepositoryError;

use crate::errors::from_pool;

pub(crate) type Connection = SyncConnectionWrapper<SqliteConnection>;

/// The pragmas every connection runs: a busy timeout first (a writer waits for
/// the lock instead of failing, also while the next pragmas run), WAL (readers
/// never block the writer; the migration already made the file WAL, so this is a
/// no-op check), foreign keys on, and `synchronous = NORMAL`, which in WAL mode
/// survives a crash of the process (a power loss may drop the last transactions).
///
/// The busy timeout is the store's operation timeout: a writer gives up waiting
/// when the request would answer 503 anyway, instead of committing after it.
pub(crate) fn connection_pragmas(timeout: Duration) -> String {
    format!(
        "PRAGMA busy_timeout = {};
PRAGMA journal_mode = WAL;
PRAGMA foreign_keys = ON;
PRAGMA synchronous = NORMAL;",
        timeout.as_millis()
    )
}

/// The file path of a `sqlite://PATH` URL (`sqlite:///abs/path` for an absolute
/// one). In-memory databases are refused: each pooled connection would get its
/// own empty one.
pub fn database_path(url: &str) -> Option<PathBuf> {
    let path = url.strip_prefix("sqlite://")?;
    let in_memory = path.starts_with(':') || path.contains("mode=memory");
    (!path.is_empty() && !in_memory).then(|| PathBuf::from(path))
}

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub path: PathBuf,
    pub max_size: usize,
    /// Longest wait for a connection and for any one operation.
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub max_size: usize,
    pub size: usize,
    pub available: usize,
}

/// The SQLite store: implements the repository ports.
#[derive(Clone)]
pub struct SqliteStore {
    pool: Pool<Connection>,
    timeout: Duration,
}

impl SqliteStore {
    /// Builds the pool over `settings.path`, which `run_migrations` has created.
    ///
    /// # Errors
    /// When the pool cannot be built.
    pub fn open(settings: &PoolSettings) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let pragmas = connection_pragmas(settings.timeout);
        let mut config = ManagerConfig::<Connection>::default();
        config.recycling_method = RecyclingMethod::Fast;
        config.custom_setup = Box::new(move |url| {
            let url = url.to_owned();
            let pragmas = pragmas.clone();
            Box::pin(async move {
                let mut conn = Connection::establish(&url).await?;
                conn.batch_execute(&pragmas)
                    .await
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(conn)
            })
        });
        let url = path_str(&settings.path)?;
        let manager = AsyncDieselConnectionManager::<Connection>::new_with_config(url, config);
        let pool = Pool::builder(manager)
            .max_size(settings.max_size)
            .wait_timeout(Some(settings.timeout))
            .create_timeout(Some(settings.timeout))
            .recycle_timeout(Some(settings.timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()?;
        Ok(Self {
            pool,
            timeout: settings.timeout,
        })
    }

    pub(crate) async fn connection(&self) -> Result<Object<Connection>, RepositoryError> {
        self.pool.get().await.map_err(from_pool)
    }

    /// Runs one repository operation under the store's timeout.
    pub(crate) async fn bounded<T>(
        &self,
        operation: impl std::future::Future<Output = Result<T, RepositoryError>>,
    ) -> Result<T, RepositoryError> {
        tokio::time::timeout(self.timeout, operation)
            .await
            .unwrap_or(Err(RepositoryError::Unavailable))
    }

    pub fn status(&self) -> PoolStatus {
        let status = self.pool.status();
        PoolStatus {
            max_size: status.max_size,
            size: status.size,
            available: status.available,
        }
    }
}

pub(crate) fn path_str(path: &Path) -> Result<&str, Box<dyn std::error::Error + Send + Sync>> {
    path.to_str()
        .ok_or_else(|| "the SQLite path is not valid UTF-8".into())
}
