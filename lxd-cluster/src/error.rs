//! Errors of opening and migrating the sqlite databases, and the mapping of sqlite's errors to
//! [`StoreError`]s.

use std::path::PathBuf;

use lxd_core::store::StoreError;

/// Errors of opening a [`crate::SqliteStore`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database directory or file could not be created or opened.
    #[error("cannot open database {path}: {reason}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A schema migration step failed (the database keeps its previous version).
    #[error("cannot update database {path} to schema version {version}: {reason}")]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// The version being applied.
        version: u32,
        /// Why.
        reason: String,
    },
    /// The database was written by a newer version of this program.
    #[error(
        "database {path} has schema version {found}, newer than the {supported} this program \
         supports; upgrade the program"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in its `schema` table.
        found: u32,
        /// The newest version this program knows.
        supported: u32,
    },
    /// A target version asked of [`crate::SqliteStore::create_at_version`] does not exist.
    #[error("database {path}: no schema version {version} (this program knows 0 to {supported})")]
    NoSuchVersion {
        /// The database file.
        path: PathBuf,
        /// The version asked for.
        version: u32,
        /// The newest version this program knows.
        supported: u32,
    },
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// Adds what was being done to a sqlite error, as a [`StoreError::Database`].
pub(crate) trait Context<T> {
    /// Maps the error, naming the action (`"reading instance \"c1\""`).
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Database(format!("{}: {e}", what())))
    }
}
