//! Translation of driver and pool errors into the domain's `RepositoryError`.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::PoolError;
use exsvc_domain::ports::RepositoryError;

pub(crate) fn from_diesel(error: DieselError) -> RepositoryError {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            RepositoryError::Duplicate
        }
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => RepositoryError::Unavailable,
        DieselError::NotFound => RepositoryError::NotFound,
        other => RepositoryError::Internal(Box::new(other)),
    }
}

pub(crate) fn from_pool(error: PoolError) -> RepositoryError {
    match error {
        // Timeouts and failures to connect both mean the database is not there
        // for us now: the caller should retry later.
        PoolError::Timeout(_) | PoolError::Backend(_) | PoolError::Closed => {
            tracing::warn!(error = %error, "database connection unavailable");
            RepositoryError::Unavailable
        }
        other => RepositoryError::Internal(Box::new(other)),
    }
}
