//! Write transactions: `BEGIN IMMEDIATE` on the blocking connection.
//!
//! A deferred SQLite transaction that reads and then writes must upgrade its
//! read lock; when another writer got there first SQLite fails at once with
//! SQLITE_BUSY instead of honouring the busy timeout. Taking the write lock at
//! `BEGIN` makes every writer wait its turn instead.

use diesel::result::Error as DieselError;
use diesel::SqliteConnection;
use exsvc_domain::ports::RepositoryError;

use crate::errors::from_diesel;
use crate::SqliteStore;

/// Why a write transaction rolled back: the database failed, or the work found
/// a domain reason to refuse (no such service, stale version).
#[derive(Debug)]
pub(crate) enum TxError {
    Db(DieselError),
    Refused(RepositoryError),
}

impl From<DieselError> for TxError {
    fn from(error: DieselError) -> Self {
        Self::Db(error)
    }
}

impl From<RepositoryError> for TxError {
    fn from(error: RepositoryError) -> Self {
        Self::Refused(error)
    }
}

impl SqliteStore {
    /// Runs `work` in one immediate transaction under the store's timeout: it
    /// commits when `work` returns `Ok` and rolls back otherwise.
    ///
    /// `work` runs on the blocking pool with owned data, so it must not borrow
    /// from the caller.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, RepositoryError>
    where
        F: FnOnce(&mut SqliteConnection) -> Result<T, TxError> + Send + 'static,
        T: Send + 'static,
    {
        self.bounded(async move {
            let mut conn = self.connection().await?;
            // The outer result carries only the blocking task's failure; the
            // transaction's own outcome travels inside it.
            let outcome = conn
                .spawn_blocking(move |c| Ok(c.immediate_transaction(work)))
                .await
                .map_err(from_diesel)?;
            outcome.map_err(|error| match error {
                TxError::Db(e) => from_diesel(e),
                TxError::Refused(e) => e,
            })
        })
        .await
    }
}
