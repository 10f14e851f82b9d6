//! Translation of SQLite and pool errors into the domain's `RepositoryError`.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::PoolError;
use exsvc_domain::ports::RepositoryError;

pub(crate) fn from_diesel(error: DieselError) -> RepositoryError {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            RepositoryError::Duplicate
        }
        DieselError::NotFound => RepositoryError::NotFound,
        // A writer that waited out the busy timeout: the store is overloaded,
        // not broken; the client may retry.
        DieselError::DatabaseError(_, ref info)
            if info.message().contains("database is locked") =>
        {
            tracing::warn!("SQLite busy timeout reached");
            RepositoryError::Unavailable
        }
        other => RepositoryError::Internal(Box::new(other)),
    }
}

pub(crate) fn from_pool(error: PoolError) -> RepositoryError {
    match error {
        PoolError::Timeout(_) | PoolError::Backend(_) | PoolError::Closed => {
            tracing::warn!(error = %error, "SQLite connection unavailable");
            RepositoryError::Unavailable
        }
        other => RepositoryError::Internal(Box::new(other)),
    }
}
