//! Online backup and retention purge.

use std::path::Path;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{params, Connection, OptionalExtension};

use super::error::SqlResult;
use super::write::{head_from, insert_prepared, read_tip, Tips};
use super::SqliteSink;
use crate::chain::ChainAlgorithm;
use crate::error::{Error, Result};
use crate::record::{Actor, TenantId};
use crate::sink::purge::{PurgePoint, PurgeRecorder, PurgeReport};

impl SqliteSink {
    /// Copies the whole store to a new file at `dest` with SQLite's online backup API, while
    /// appends go on: the copy is the store as of one instant (one read snapshot), complete
    /// and verifiable on its own.
    ///
    /// The copy is written to a temporary file in `dest`'s directory and appears at `dest`
    /// only once it is complete and on the disk, so a backup that fails (a full disk, a
    /// crash) leaves no partial file at `dest` for anyone to restore from by mistake. (A
    /// crash of the process mid-copy can leave a `.audit-backup-*.partial` file in that
    /// directory; a failure the process sees removes it.)
    ///
    /// Restoring a backup rolls the trail back to that instant; keep
    /// [`Checkpoint`](crate::Checkpoint)s outside the store so that
    /// [`verify_against`](crate::chain::verify_against) catches a restore from an older
    /// backup.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `dest` exists and is not empty (a backup never
    /// overwrites); [`Error::StorageFull`], [`Error::ReadOnly`], [`Error::Io`] and other
    /// failures at the destination.
    pub fn backup_to(&self, dest: impl AsRef<Path>) -> Result<()> {
        let dest = dest.as_ref();
        let exists = || -> Error {
            Error::invalid(
                "dest",
                format!("{} exists and is not empty", dest.display()),
            )
        };
        let replace_empty = match std::fs::metadata(dest) {
            Ok(m) if m.len() > 0 => return Err(exists()),
            Ok(_) => true,
            Err(_) => false,
        };
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let partial = tempfile::Builder::new()
            .prefix(".audit-backup-")
            .suffix(".partial")
            .tempfile_in(dir)?;
        {
            let mut out = Connection::open(partial.path()).sql()?;
            self.with_reader(|conn| {
                let backup = Backup::new(conn, &mut out).sql()?;
                // One step copies every page under one read transaction: a consistent
                // snapshot. In WAL mode that does not block writers, so there is no reason to
                // copy in slices (which restart whenever a writer commits).
                match backup.step(-1).sql()? {
                    StepResult::Done => Ok(()),
                    StepResult::Busy | StepResult::Locked => Err(Error::Busy {
                        source: "the backup could not lock the store".into(),
                    }),
                    _ => Err(Error::store(
                        "sqlite",
                        "backup did not complete in one step",
                    )),
                }
            })?;
            out.close().map_err(|(_, e)| super::error::map(e))?;
        }
        partial.as_file().sync_all()?;
        // An empty file at `dest` (one made for the purpose) is replaced; anything else that
        // appeared there meanwhile is not.
        let persisted = if replace_empty {
            partial.persist(dest).map(drop)
        } else {
            partial.persist_noclobber(dest).map(drop)
        };
        persisted.map_err(|e| match e.error.kind() {
            std::io::ErrorKind::AlreadyExists => exists(),
            _ => Error::Io(e.error),
        })?;
        sync_directory(dir)
    }

    /// Removes a tenant's oldest records under a retention policy, in one transaction that
    /// also moves the tenant's [`anchor`](crate::AuditStore::anchor) to the last removed
    /// record and appends an `audit.purged` record ([`AuditPurged`](crate::event::AuditPurged)) by `actor`. The
    /// remaining trail verifies from the anchor; a [`Checkpoint`](crate::Checkpoint) older
    /// than the purge point still verifies (there is nothing left to compare it with, and
    /// the purge is on record).
    ///
    /// The only way records leave the store: the table's triggers refuse any other delete.
    /// Nothing is removed (and nothing recorded) when the point is at or before the current
    /// anchor. The purge record's time comes from the system clock.
    ///
    /// ```
    /// use audit_log::{Actor, AuditLog, AuditStoreExt, EntityRef, Event, PurgePoint, SqliteSink, TenantId};
    ///
    /// let store = SqliteSink::open_in_memory()?;
    /// let log = AuditLog::builder(store.clone()).build();
    /// for i in 0..10 {
    ///     log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(i)))?;
    /// }
    /// let tenant = TenantId::default();
    /// let report = store.purge(&tenant, PurgePoint::ThroughSeq(6), &Actor::service("retention"))?;
    /// assert_eq!((report.removed, report.anchor.seq), (6, 6));
    /// assert_eq!(report.receipt.map(|r| r.seq), Some(11));
    /// assert!(store.verify(&tenant)?.is_intact());
    /// # Ok::<(), audit_log::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an actor the default [`Limits`](crate::Limits) refuse;
    /// [`Error::Corrupt`] when the record at the purge point cannot be read; store failures.
    /// On error nothing is removed.
    pub fn purge(
        &self,
        tenant: &TenantId,
        point: PurgePoint,
        actor: &Actor,
    ) -> Result<PurgeReport> {
        // Refuse a bad actor before taking the write lock.
        let recorder = PurgeRecorder::new(tenant, actor)?;
        let conn = self.inner.writer.lock();
        conn.execute_batch("BEGIN IMMEDIATE").sql()?;
        let result = purge_in(&conn, self.inner.algorithm, &recorder, tenant, point);
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        match conn.execute_batch(end).sql() {
            Ok(()) => result,
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                Err(result.err().unwrap_or(e))
            }
        }
    }
}

fn purge_in(
    conn: &Connection,
    algorithm: ChainAlgorithm,
    recorder: &PurgeRecorder,
    tenant: &TenantId,
    point: PurgePoint,
) -> Result<PurgeReport> {
    let anchor = super::read::anchor(conn, tenant)?;
    let Some(tip) = read_tip(conn, tenant)? else {
        return Ok(PurgeReport::nothing(tenant, anchor));
    };
    let (through, before) = point.resolve(tip.seq, |t| {
        let first_kept: Option<i64> = conn
            .query_row(
                "SELECT min(seq) FROM audit_records WHERE tenant = ?1 AND occurred_at >= ?2",
                params![tenant.as_str(), t.timestamp_micros()],
                |r| r.get(0),
            )
            .sql()?;
        Ok(first_kept.map(|s| u64::try_from(s).unwrap_or(0)))
    })?;
    if through <= anchor.seq {
        return Ok(PurgeReport::nothing(tenant, anchor));
    }
    let through_sql = i64::try_from(through).map_err(|_| Error::invalid("point", "too large"))?;
    let hash: Vec<u8> = conn
        .query_row(
            "SELECT hash FROM audit_records WHERE tenant = ?1 AND seq = ?2",
            params![tenant.as_str(), through_sql],
            |r| r.get(0),
        )
        .optional()
        .sql()?
        .ok_or_else(|| Error::corrupt(through, "the record at the purge point is missing"))?;
    let new_anchor = head_from(through_sql, &hash)?;

    conn.execute(
        "INSERT INTO audit_purge_gate (tenant, through) VALUES (?1, ?2)",
        params![tenant.as_str(), through_sql],
    )
    .sql()?;
    conn.execute(
        "DELETE FROM audit_mentions WHERE tenant = ?1 AND seq <= ?2",
        params![tenant.as_str(), through_sql],
    )
    .sql()?;
    let removed = conn
        .execute(
            "DELETE FROM audit_records WHERE tenant = ?1 AND seq <= ?2",
            params![tenant.as_str(), through_sql],
        )
        .sql()?;
    conn.execute(
        "INSERT INTO audit_anchors (tenant, seq, hash) VALUES (?1, ?2, ?3) \
         ON CONFLICT (tenant) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        params![tenant.as_str(), through_sql, &new_anchor.hash.0[..]],
    )
    .sql()?;
    conn.execute(
        "DELETE FROM audit_purge_gate WHERE tenant = ?1",
        [tenant.as_str()],
    )
    .sql()?;

    let record = recorder.record(through, new_anchor.hash, removed as u64, before)?;
    let mut receipts = insert_prepared(conn, algorithm, &mut Tips::default(), &[record])?;
    Ok(PurgeReport {
        tenant: tenant.clone(),
        removed: removed as u64,
        anchor: new_anchor,
        receipt: receipts.pop(),
    })
}

/// Makes a new directory entry (a renamed backup) survive a power loss.
fn sync_directory(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
