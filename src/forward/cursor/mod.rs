//! Where a forwarder remembers how far each destination got: the [`CursorStore`] trait and
//! its stores (memory, files, and beside the trail in SQLite or PostgreSQL).

mod file;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::chain::Digest;
use crate::error::{Error, Result};
use crate::record::{Record, TenantId};

pub use file::FileCursors;
#[cfg(feature = "postgres")]
pub use postgres::PgCursors;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteCursors;

/// A destination's positions: for each tenant, the last seq it has settled (delivered or
/// dead-lettered). The next record it gets is the one after.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursors {
    /// Last settled seq per tenant.
    pub positions: BTreeMap<TenantId, u64>,
}

impl Cursors {
    /// The last settled seq of `tenant`, if it has a cursor.
    pub fn get(&self, tenant: &TenantId) -> Option<u64> {
        self.positions.get(tenant).copied()
    }
}

/// A record a destination refused for good (or that could not be read), set aside with the
/// reason so that it does not block the records after it; or, with `purged_from`, the
/// records a retention purge removed before the destination got them
/// ([`OnPurged::Skip`](super::OnPurged)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The route's name.
    pub destination: String,
    /// The record's tenant.
    pub tenant: TenantId,
    /// The record's seq (for a purge gap, the last seq removed: the cursor moves there).
    pub seq: u64,
    /// For a purge gap, the first seq removed before delivery: the letter stands for
    /// `purged_from..=seq`, records that are gone from the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purged_from: Option<u64>,
    /// The record's id, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// The record's hash, when it could be read (for a purge gap, the hash of the last record
    /// removed: the anchor the remaining trail links to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<Digest>,
    /// Why: the destination's answer, or the read error.
    pub reason: String,
    /// When it was set aside.
    #[serde(with = "crate::record::micros")]
    pub at: DateTime<Utc>,
    /// The record itself, when it could be read, so an operator can deliver it by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Record>,
}

/// Durable forwarding state: per destination, the cursor of each tenant, the dead letters,
/// and (where the store can) a lease so that one forwarder at a time delivers for a
/// destination.
///
/// Methods are blocking; the forwarder calls them off its async worker threads.
///
/// # Contract
///
/// - **Durable on Ok.** When [`init`](Self::init), [`save`](Self::save) or
///   [`settle`](Self::settle) returns `Ok`, a later [`load`](Self::load), in this process or
///   after a crash, sees the change.
/// - **Monotonic.** A saved seq never moves a cursor backwards: saving a seq at or below the
///   current one leaves it as it is (a slow, superseded forwarder cannot rewind a
///   destination).
/// - **Started is remembered.** `load` is `Ok(None)` until `init` succeeded once for the
///   destination, `Ok(Some(..))` (possibly with no tenant) ever after: that is how "start
///   from now" is decided once and kept.
/// - **Destinations are independent.** Nothing done for one destination changes another's
///   state.
/// - **Settling is at least durable as a pair.** After `settle` returns `Ok`, both the dead
///   letter and the cursor at its seq are stored; a crash in between may record the letter
///   twice, never advance the cursor without it.
/// - **Leases.** If [`acquire`](Self::acquire) returns `true` to one caller, no other caller
///   (in any process) gets `true` for that destination until the holder
///   [`release`](Self::release)s it or dies; [`holds`](Self::holds) turns `false` as soon as
///   the holder can tell it lost the lease, and then `save` fails rather than write. Stores
///   that cannot coordinate processes (memory, files, SQLite) grant every `acquire` and say
///   so in their docs: run one forwarder per destination there.
pub trait CursorStore: Send + Sync + fmt::Debug + 'static {
    /// The destination's cursors, or `None` if it was never started.
    ///
    /// # Errors
    /// Store failures; unreadable state ([`Error::Corrupt`]).
    fn load(&self, destination: &str) -> Result<Option<Cursors>>;

    /// Marks the destination started with these first positions.
    ///
    /// # Errors
    /// Store failures.
    fn init(&self, destination: &str, cursors: &Cursors) -> Result<()>;

    /// Moves `tenant`'s cursor to `seq` (never backwards).
    ///
    /// # Errors
    /// Store failures; a lost lease.
    fn save(&self, destination: &str, tenant: &TenantId, seq: u64) -> Result<()>;

    /// Stores a dead letter and moves its tenant's cursor to its seq.
    ///
    /// # Errors
    /// Store failures; a lost lease.
    fn settle(&self, letter: &DeadLetter) -> Result<()>;

    /// The destination's dead letters, oldest first.
    ///
    /// # Errors
    /// Store failures.
    fn dead_letters(&self, destination: &str) -> Result<Vec<DeadLetter>>;

    /// Tries to take the destination's lease; `false` means another forwarder holds it.
    /// The default grants it (no coordination).
    ///
    /// # Errors
    /// Store failures.
    fn acquire(&self, destination: &str) -> Result<bool> {
        let _ = destination;
        Ok(true)
    }

    /// Whether this handle still holds the destination's lease. The default is `true`.
    ///
    /// # Errors
    /// Store failures.
    fn holds(&self, destination: &str) -> Result<bool> {
        let _ = destination;
        Ok(true)
    }

    /// Gives the lease up. The default does nothing.
    ///
    /// # Errors
    /// Store failures.
    fn release(&self, destination: &str) -> Result<()> {
        let _ = destination;
        Ok(())
    }
}

impl<T: CursorStore + ?Sized> CursorStore for Arc<T> {
    fn load(&self, destination: &str) -> Result<Option<Cursors>> {
        (**self).load(destination)
    }
    fn init(&self, destination: &str, cursors: &Cursors) -> Result<()> {
        (**self).init(destination, cursors)
    }
    fn save(&self, destination: &str, tenant: &TenantId, seq: u64) -> Result<()> {
        (**self).save(destination, tenant, seq)
    }
    fn settle(&self, letter: &DeadLetter) -> Result<()> {
        (**self).settle(letter)
    }
    fn dead_letters(&self, destination: &str) -> Result<Vec<DeadLetter>> {
        (**self).dead_letters(destination)
    }
    fn acquire(&self, destination: &str) -> Result<bool> {
        (**self).acquire(destination)
    }
    fn holds(&self, destination: &str) -> Result<bool> {
        (**self).holds(destination)
    }
    fn release(&self, destination: &str) -> Result<()> {
        (**self).release(destination)
    }
}

/// Cursors kept in memory: for tests and for forwarders whose destinations de-duplicate
/// everything anyway (a restart starts over). Clones share the state. Grants every lease.
#[derive(Debug, Clone, Default)]
pub struct MemoryCursors {
    inner: Arc<Mutex<HashMap<String, Kept>>>,
}

/// One destination's state in a [`MemoryCursors`].
type Kept = (Cursors, Vec<DeadLetter>);

impl MemoryCursors {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Kept>) -> T) -> T {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

impl CursorStore for MemoryCursors {
    fn load(&self, destination: &str) -> Result<Option<Cursors>> {
        Ok(self.with(|m| m.get(destination).map(|(c, _)| c.clone())))
    }

    fn init(&self, destination: &str, cursors: &Cursors) -> Result<()> {
        self.with(|m| {
            let entry = m.entry(destination.to_owned()).or_default();
            for (t, s) in &cursors.positions {
                advance(&mut entry.0, t, *s);
            }
        });
        Ok(())
    }

    fn save(&self, destination: &str, tenant: &TenantId, seq: u64) -> Result<()> {
        self.with(|m| {
            advance(
                &mut m.entry(destination.to_owned()).or_default().0,
                tenant,
                seq,
            )
        });
        Ok(())
    }

    fn settle(&self, letter: &DeadLetter) -> Result<()> {
        self.with(|m| {
            let entry = m.entry(letter.destination.clone()).or_default();
            entry.1.push(letter.clone());
            advance(&mut entry.0, &letter.tenant, letter.seq);
        });
        Ok(())
    }

    fn dead_letters(&self, destination: &str) -> Result<Vec<DeadLetter>> {
        Ok(self.with(|m| {
            m.get(destination)
                .map(|(_, d)| d.clone())
                .unwrap_or_default()
        }))
    }
}

/// Moves a cursor forward only.
pub(crate) fn advance(c: &mut Cursors, tenant: &TenantId, seq: u64) {
    let e = c.positions.entry(tenant.clone()).or_insert(seq);
    if *e < seq {
        *e = seq;
    }
}

/// Checks a destination name: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with a dot, so
/// it is safe as a file name, a table key and a lock name.
///
/// # Errors
/// [`Error::InvalidInput`] naming what is wrong.
pub fn check_destination_name(name: &str) -> Result<()> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if name.is_empty() || name.len() > 64 || !ok_chars || name.starts_with('.') {
        return Err(Error::invalid(
            "destination",
            format!("{name:?} is not 1 to 64 of A-Z a-z 0-9 . _ - (not starting with a dot)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_names_are_checked() {
        for ok in ["siem", "splunk-prod", "a.b_c-1", "x"] {
            assert!(check_destination_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".hidden",
            "a/b",
            "../x",
            "with space",
            "é",
            &"x".repeat(65),
        ] {
            assert!(check_destination_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn memory_cursors_only_move_forward() {
        let c = MemoryCursors::new();
        let t = TenantId::new("acme");
        assert_eq!(c.load("d").unwrap(), None);
        c.init("d", &Cursors::default()).unwrap();
        assert_eq!(c.load("d").unwrap(), Some(Cursors::default()));
        c.save("d", &t, 5).unwrap();
        c.save("d", &t, 3).unwrap();
        assert_eq!(c.load("d").unwrap().unwrap().get(&t), Some(5));
        assert_eq!(c.load("other").unwrap(), None);
    }
}
