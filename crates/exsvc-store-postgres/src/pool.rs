//! The connection pool.

use std::time::Duration;

use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use exsvc_domain::ports::RepositoryError;

use crate::errors::{from_diesel, from_pool};

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub database_url: String,
    pub max_size: usize,
    /// Longest wait for a connection, and for any one query: past it the caller
    /// gets `Unavailable` (503), never a hang.
    pub timeout: Duration,
}

/// Connections in use and idle, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub max_size: usize,
    pub size: usize,
    pub available: usize,
}

/// The PostgreSQL store: implements the repository ports.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool<AsyncPgConnection>,
    timeout: Duration,
}

impl PgStore {
    /// Builds the pool. No connection is opened until the first query.
    ///
    /// # Errors
    /// When the pool cannot be built from the settings.
    pub fn connect(settings: &PoolSettings) -> Result<Self, deadpool::managed::BuildError> {
        let mut config = ManagerConfig::<AsyncPgConnection>::default();
        // `Verified` (the default) runs a query on every checkout, which halves the
        // throughput of a point read here; a broken connection is still caught by
        // the manager's `is_broken` check (closed socket, broken transaction).
        config.recycling_method = RecyclingMethod::Fast;
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
            &settings.database_url,
            config,
        );
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

    pub(crate) async fn connection(&self) -> Result<Object<AsyncPgConnection>, RepositoryError> {
        self.pool.get().await.map_err(from_pool)
    }

    /// Runs one repository operation under the store's timeout, so a database that
    /// stops answering mid-query yields `Unavailable` in bounded time.
    ///
    /// A server that ends our session (a fast shutdown, a restart, an
    /// administrator's `pg_terminate_backend`) answers the query in flight with
    /// an error diesel has no kind for, so it arrives here as `Internal`. When
    /// the database does not answer a ping right after such an error, the error
    /// was the outage's: `Unavailable` (503), not a 500.
    pub(crate) async fn bounded<T>(
        &self,
        operation: impl std::future::Future<Output = Result<T, RepositoryError>>,
    ) -> Result<T, RepositoryError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        match tokio::time::timeout_at(deadline, operation).await {
            Ok(Err(RepositoryError::Internal(source)))
                if is_unexplained_database_error(&*source) =>
            {
                match tokio::time::timeout_at(deadline, self.ping_once()).await {
                    Ok(Ok(())) => Err(RepositoryError::Internal(source)),
                    Ok(Err(_)) | Err(_) => {
                        tracing::warn!(error = %source, "database session ended by the server");
                        Err(RepositoryError::Unavailable)
                    }
                }
            }
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(
                    timeout_ms = self.timeout.as_millis() as u64,
                    "database operation timed out"
                );
                Err(RepositoryError::Unavailable)
            }
        }
    }

    /// One `SELECT 1` on a pooled connection, unbounded: callers bound it.
    pub(crate) async fn ping_once(&self) -> Result<(), RepositoryError> {
        let mut conn = self.connection().await?;
        diesel::sql_query("SELECT 1")
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(())
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

/// A database error of no kind diesel knows (it keeps no SQLSTATE for us): a
/// bug in a query, or the server ending the session.
fn is_unexplained_database_error(source: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    matches!(
        source.downcast_ref::<diesel::result::Error>(),
        Some(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            _
        ))
    )
}
