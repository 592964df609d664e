//! The one error type of the crate, by category.
//!
//! Every fallible call returns [`Error`]. Variants name what went wrong in terms a host can act
//! on (bad input, a store that is newer than this code, a full disk, a corrupt row); each store
//! keeps its driver's detailed error as the [`source`](std::error::Error::source).

use std::fmt;

/// Shorthand for `Result<T, audit_log::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
///
/// Matching is by category; new categories may be added, so match with a wildcard arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input was rejected before anything was written: the field that was wrong and why.
    ///
    /// `field` is a path into the entry, such as `event.user.display` or `context.reason`.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Path of the offending field.
        field: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A stored record could not be read back: bad JSON, a hash of the wrong length, a
    /// missing column. Reading the records after it stays possible.
    #[error("corrupt record at seq {seq}: {reason}")]
    Corrupt {
        /// The sequence number of the unreadable record (0 when even that is unreadable).
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },

    /// The store was written by a newer version of this crate and cannot be used safely.
    #[error("store schema version {found} is newer than this version of audit-log supports ({supported})")]
    SchemaTooNew {
        /// The version found in the store.
        found: u32,
        /// The newest version this build understands.
        supported: u32,
    },

    /// The location opened is not an audit store (another database, a text file, ...).
    #[error("not an audit store: {reason}")]
    NotAStore {
        /// What was found instead.
        reason: String,
    },

    /// The store is full: the disk, a quota or a configured page limit. Nothing of the
    /// failed call was written; what was stored before is intact.
    #[error("store is full")]
    StorageFull {
        /// The driver's error.
        #[source]
        source: BoxError,
    },

    /// The store is read-only (file permissions, a read-only mount, a replica).
    #[error("store is read-only")]
    ReadOnly {
        /// The driver's error.
        #[source]
        source: BoxError,
    },

    /// The store stayed locked by another writer past the configured busy timeout.
    #[error("store is busy (locked by another writer past the busy timeout)")]
    Busy {
        /// The driver's error.
        #[source]
        source: BoxError,
    },

    /// The store could not be reached (connection lost, server restarting). The call did not
    /// take effect unless a later read shows it did; later calls may succeed.
    #[error("store unavailable")]
    Unavailable {
        /// The driver's error.
        #[source]
        source: BoxError,
    },

    /// The operation is not supported by this store or this build.
    #[error("not supported: {0}")]
    NotSupported(String),

    /// A chain or checkpoint check failed in a way that is not a record-level break, for
    /// example a checkpoint for another tenant or algorithm.
    #[error("verification failed: {0}")]
    Verification(String),

    /// Any other error of a store, with the store's name.
    #[error("{store} error")]
    Store {
        /// The store that failed, such as `"sqlite"`.
        store: &'static str,
        /// The driver's error.
        #[source]
        source: BoxError,
    },

    /// An I/O error outside a store (writing an export, reading a checkpoint file).
    #[error("i/o error")]
    Io(#[from] std::io::Error),

    /// A [`State`](crate::history::State) snapshot could not be read back: a version this
    /// build does not read, or one that does not follow its layout.
    #[error("unreadable state snapshot: {0}")]
    Snapshot(SnapshotError),

    /// A question about a point before the trail's purge point: those records were removed
    /// by a retention purge through `through_seq`, and nothing is known before it (the
    /// state at the purge point is, from the purge's record).
    #[error("the trail was purged through seq {through_seq}: points before it are gone")]
    Purged {
        /// The last seq the purge removed.
        through_seq: u64,
    },

    /// A question about a trail whose records through `through_seq` are gone and nothing
    /// readable says what they held: a purge record without the state it removed (written
    /// before purges kept it), an unreadable purge record, a trail imported from after its
    /// start. Answering from what remains would leave out every link those records made,
    /// a false clean bill of health; [`History::from_what_remains`](crate::History::from_what_remains)
    /// answers anyway and marks each answer incomplete.
    #[error("the trail starts after seq {through_seq} and nothing says what came before ({reason}): answers would leave out what those records did")]
    StartUnknown {
        /// The last seq missing.
        through_seq: u64,
        /// Why the state there is unknown.
        reason: String,
    },
}

/// A boxed error from a driver or the standard library.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl Error {
    /// An [`Error::InvalidInput`] for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl fmt::Display) -> Self {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.to_string(),
        }
    }

    /// An [`Error::Corrupt`] for the record at `seq`.
    pub fn corrupt(seq: u64, reason: impl fmt::Display) -> Self {
        Error::Corrupt {
            seq,
            reason: reason.to_string(),
        }
    }

    /// An [`Error::Store`] wrapping a driver error.
    pub fn store(store: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Store {
            store,
            source: source.into(),
        }
    }

    /// An error of the same category carrying this one's message: for reporting one failure
    /// (a failed group commit) to several callers, since driver errors cannot be cloned.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn duplicate(&self) -> Error {
        let source = || -> BoxError {
            let mut msg = String::new();
            let mut next = std::error::Error::source(self);
            while let Some(e) = next {
                if !msg.is_empty() {
                    msg.push_str(": ");
                }
                msg.push_str(&e.to_string());
                next = e.source();
            }
            msg.into()
        };
        match self {
            Error::InvalidInput { field, reason } => Error::InvalidInput {
                field: field.clone(),
                reason: reason.clone(),
            },
            Error::Corrupt { seq, reason } => Error::Corrupt {
                seq: *seq,
                reason: reason.clone(),
            },
            Error::SchemaTooNew { found, supported } => Error::SchemaTooNew {
                found: *found,
                supported: *supported,
            },
            Error::NotAStore { reason } => Error::NotAStore {
                reason: reason.clone(),
            },
            Error::StorageFull { .. } => Error::StorageFull { source: source() },
            Error::ReadOnly { .. } => Error::ReadOnly { source: source() },
            Error::Busy { .. } => Error::Busy { source: source() },
            Error::Unavailable { .. } => Error::Unavailable { source: source() },
            Error::NotSupported(m) => Error::NotSupported(m.clone()),
            Error::Verification(m) => Error::Verification(m.clone()),
            Error::Store { store, .. } => Error::Store {
                store,
                source: source(),
            },
            Error::Io(e) => Error::Io(std::io::Error::new(e.kind(), e.to_string())),
            Error::Snapshot(e) => Error::Snapshot(e.clone()),
            Error::Purged { through_seq } => Error::Purged {
                through_seq: *through_seq,
            },
            Error::StartUnknown {
                through_seq,
                reason,
            } => Error::StartUnknown {
                through_seq: *through_seq,
                reason: reason.clone(),
            },
        }
    }

    /// Whether retrying the same call later may succeed (busy, unavailable).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Busy { .. } | Error::Unavailable { .. })
    }
}

/// Why a snapshot could not be read back into a [`State`](crate::history::State)
/// ([`Error::Snapshot`](crate::Error::Snapshot)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The snapshot's `version` is not one this build reads (written by a newer version of
    /// the crate, or not a version at all).
    #[error("version {found} is not supported (this build reads version {supported})")]
    UnknownVersion {
        /// The version the snapshot declares.
        found: u64,
        /// The version this build writes and reads.
        supported: u64,
    },
    /// The snapshot does not follow its version's layout: not JSON, a missing or mistyped
    /// field, an entity listed twice, a link naming an entity it does not hold.
    #[error("{reason}")]
    Malformed {
        /// What is wrong, in words.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_without_trailing_punctuation() {
        let errors = [
            Error::invalid("event.user.id", "must not be empty"),
            Error::corrupt(7, "hash has 3 bytes, expected 32"),
            Error::SchemaTooNew {
                found: 9,
                supported: 1,
            },
            Error::NotSupported("purge".into()),
            Error::StartUnknown {
                through_seq: 3,
                reason: "no audit.purged record accounts for it".into(),
            },
        ];
        for e in errors {
            let msg = e.to_string();
            assert!(
                msg.chars().next().is_some_and(|c| c.is_lowercase()),
                "{msg}"
            );
            assert!(!msg.ends_with('.'), "{msg}");
        }
        assert_eq!(
            Error::invalid("event.user.id", "must not be empty").to_string(),
            "invalid event.user.id: must not be empty"
        );
    }

    #[test]
    fn error_is_send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }
}
