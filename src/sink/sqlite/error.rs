//! From SQLite's result codes to the crate's error categories.

use rusqlite::ErrorCode;

use crate::error::{Error, Result};

/// The category a SQLite failure belongs to; the driver's error stays the `source`.
pub(super) fn map(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => Error::StorageFull {
            source: Box::new(e),
        },
        Some(ErrorCode::ReadOnly) => Error::ReadOnly {
            source: Box::new(e),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Busy {
            source: Box::new(e),
        },
        Some(ErrorCode::NotADatabase) => Error::NotAStore {
            reason: "the file is not a SQLite database".to_owned(),
        },
        Some(ErrorCode::DatabaseCorrupt) => Error::Corrupt {
            seq: 0,
            reason: format!("the database file is corrupt: {e}"),
        },
        Some(ErrorCode::CannotOpen) => Error::Unavailable {
            source: Box::new(e),
        },
        _ => Error::store("sqlite", e),
    }
}

/// `.sql()?` maps a driver result into the crate's.
pub(super) trait SqlResult<T> {
    fn sql(self) -> Result<T>;
}

impl<T> SqlResult<T> for rusqlite::Result<T> {
    fn sql(self) -> Result<T> {
        self.map_err(map)
    }
}
