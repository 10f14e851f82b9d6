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

/// The error of a transaction: a driver error (which rolls it back), or a
/// domain outcome decided inside it (which rolls it back too).
#[derive(Debug)]
pub(crate) enum TxError {
    Database(DieselError),
    Repository(RepositoryError),
}

impl From<DieselError> for TxError {
    fn from(error: DieselError) -> Self {
        TxError::Database(error)
    }
}

impl TxError {
    /// A tenant-scoped write matched no row: the row exists (another version) or not.
    pub(crate) fn missing_or_conflict(exists: bool) -> Self {
        TxError::Repository(if exists {
            RepositoryError::VersionConflict
        } else {
            RepositoryError::NotFound
        })
    }

    pub(crate) fn into_repository(self) -> RepositoryError {
        match self {
            TxError::Database(error) => from_diesel(error),
            TxError::Repository(error) => error,
        }
    }
}
