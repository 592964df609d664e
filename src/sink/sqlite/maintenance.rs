//! Online backup and retention purge.

use std::path::Path;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{params, Connection, OptionalExtension};

use super::error::SqlResult;
use super::write::{insert_row, read_tip, PurgeGate};
use super::SqliteSink;
use crate::digest::{ChainAlgorithm, ChainKey};
use crate::error::{Error, Result};
use crate::record::TenantId;
use crate::sink::row::{to_i64, Sequencer, Work};
use crate::sink::{PurgePlan, PurgeReport, Retention};

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
}

/// Retention for the SQLite store: a [`PurgePlan`] carried out in one `BEGIN IMMEDIATE`
/// transaction on the write connection, so it serializes with every append to the file (from
/// this process or another).
///
/// The file's delete triggers let a row go only while the write connection's purge gate (a
/// function no other connection has) names its tenant and seq range, which the purge opens
/// and closes inside its transaction.
impl Retention for SqliteSink {
    fn remove_prefix(&self, plan: PurgePlan) -> Result<PurgeReport> {
        let algorithm = self.inner.algorithm;
        let committer = self.inner.writer.committer();
        committer.transaction(|conn| {
            remove_prefix_in(conn, algorithm, committer.key(), committer.gate(), plan)
        })
    }
}

fn remove_prefix_in(
    conn: &Connection,
    algorithm: ChainAlgorithm,
    key: Option<&ChainKey>,
    gate: &PurgeGate,
    plan: PurgePlan,
) -> Result<PurgeReport> {
    let PurgePlan {
        tenant,
        anchor,
        through,
        record,
    } = plan;
    if super::read::anchor(conn, &tenant)? != anchor {
        return Err(Error::Busy {
            source: "the tenant's anchor moved since the purge was planned (another purge ran)"
                .into(),
        });
    }
    if through.seq <= anchor.seq {
        return Err(Error::invalid(
            "through",
            format!("seq {} is not after the anchor {}", through.seq, anchor.seq),
        ));
    }
    let through_sql = to_i64(through.seq)?;
    let hash: Option<Vec<u8>> = conn
        .query_row(
            "SELECT hash FROM audit_records WHERE tenant = ?1 AND seq = ?2",
            params![tenant.as_str(), through_sql],
            |r| r.get(0),
        )
        .optional()
        .sql()?;
    if hash.as_deref() != Some(&through.hash.0[..]) {
        return Err(Error::invalid(
            "through",
            format!(
                "the record at seq {} is missing or has another hash than planned",
                through.seq
            ),
        ));
    }

    // The triggers let exactly these rows go, and the anchor move here, while the gate is
    // open; it closes when this function returns, however it returns.
    let open = gate.open(&tenant, through_sql);
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
        .sql()? as u64;
    // An update, or an insert for a tenant's first purge: never an upsert, whose insert half
    // the no-replace trigger would refuse.
    let moved = conn
        .execute(
            "UPDATE audit_anchors SET seq = ?2, hash = ?3 WHERE tenant = ?1",
            params![tenant.as_str(), through_sql, &through.hash.0[..]],
        )
        .sql()?;
    if moved == 0 {
        conn.execute(
            "INSERT INTO audit_anchors (tenant, seq, hash) VALUES (?1, ?2, ?3)",
            params![tenant.as_str(), through_sql, &through.hash.0[..]],
        )
        .sql()?;
    }
    drop(open);
    if removed != through.seq - anchor.seq {
        return Err(Error::corrupt(
            through.seq,
            format!(
                "{removed} records found after the anchor {} through seq {}, expected {}: \
                 the trail has gaps (verify it before purging)",
                anchor.seq,
                through.seq,
                through.seq - anchor.seq
            ),
        ));
    }
    let work = Work::Prepared(vec![record]);
    let mut sequencer = Sequencer::new(algorithm, key, |t: &TenantId| read_tip(conn, t));
    let mut receipt = None;
    for row in sequencer.rows(&[&work]) {
        let row = row?;
        insert_row(conn, &row)?;
        receipt = Some(row.receipt());
    }
    Ok(PurgeReport {
        tenant,
        removed,
        anchor: through,
        receipt,
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
