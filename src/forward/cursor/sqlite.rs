//! Cursors beside the trail in its SQLite file, in tables of their own, through a
//! connection of their own: the store's tables and triggers are never touched.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use super::{check_destination_name, CursorStore, Cursors, DeadLetter};
use crate::error::{Error, Result};
use crate::record::TenantId;
use crate::sink::sqlite::SqliteSink;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS audit_forward_destinations (
    destination TEXT PRIMARY KEY,
    started_at  INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS audit_forward_cursors (
    destination TEXT    NOT NULL,
    tenant      TEXT    NOT NULL,
    seq         INTEGER NOT NULL CHECK (seq >= 0),
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (destination, tenant)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_forward_dead_letters (
    destination TEXT    NOT NULL,
    tenant      TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    letter      TEXT    NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS audit_forward_dead_letters_by_destination
    ON audit_forward_dead_letters (destination, tenant, seq);
"#;

/// Cursors in the trail's own SQLite file: tables `audit_forward_destinations`,
/// `audit_forward_cursors` and `audit_forward_dead_letters`, written through a connection of
/// their own (WAL, `synchronous = FULL`), so a cursor is as durable as the records and
/// travels with the file in a backup.
///
/// A dead letter and its cursor move in one transaction. Grants every lease: run one
/// forwarder per destination on a file.
#[derive(Debug)]
pub struct SqliteCursors {
    conn: Mutex<Connection>,
}

fn sql(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
            Error::Busy { source: e.into() }
        }
        Some(rusqlite::ErrorCode::DiskFull) => Error::StorageFull { source: e.into() },
        Some(rusqlite::ErrorCode::ReadOnly) => Error::ReadOnly { source: e.into() },
        _ => Error::store("forward-cursors", e),
    }
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn to_i64(seq: u64) -> Result<i64> {
    i64::try_from(seq).map_err(|_| Error::invalid("seq", "does not fit SQLite's INTEGER"))
}

impl SqliteCursors {
    /// Opens (and creates the tables in) the file of a SQLite store.
    ///
    /// # Errors
    /// [`Error::NotSupported`] for an in-memory store; store failures.
    pub fn beside(store: &SqliteSink) -> Result<Self> {
        let path = store.path().ok_or_else(|| {
            Error::NotSupported("cursors beside an in-memory SQLite store".to_owned())
        })?;
        Self::open(path)
    }

    /// Opens (and creates the tables in) the SQLite file at `path`.
    ///
    /// # Errors
    /// Store failures.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let conn = Connection::open(path.as_ref()).map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        Ok(SqliteCursors {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }
}

fn upsert(conn: &Connection, destination: &str, tenant: &TenantId, seq: u64) -> Result<()> {
    let seq = to_i64(seq)?;
    conn.prepare_cached(
        "INSERT INTO audit_forward_cursors (destination, tenant, seq, updated_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (destination, tenant) DO UPDATE
            SET seq = excluded.seq, updated_at = excluded.updated_at
            WHERE excluded.seq > audit_forward_cursors.seq",
    )
    .and_then(|mut st| st.execute(params![destination, tenant.as_str(), seq, now_micros()]))
    .map_err(sql)?;
    Ok(())
}

impl CursorStore for SqliteCursors {
    fn load(&self, destination: &str) -> Result<Option<Cursors>> {
        check_destination_name(destination)?;
        self.with(|conn| {
            let started: Option<i64> = conn
                .query_row(
                    "SELECT started_at FROM audit_forward_destinations WHERE destination = ?1",
                    [destination],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            if started.is_none() {
                return Ok(None);
            }
            let mut st = conn
                .prepare_cached(
                    "SELECT tenant, seq FROM audit_forward_cursors WHERE destination = ?1",
                )
                .map_err(sql)?;
            let rows = st
                .query_map([destination], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })
                .map_err(sql)?;
            let mut c = Cursors::default();
            for row in rows {
                let (t, s) = row.map_err(sql)?;
                let s = u64::try_from(s)
                    .map_err(|_| Error::corrupt(0, format!("negative cursor for tenant {t}")))?;
                c.positions.insert(TenantId::new(t), s);
            }
            Ok(Some(c))
        })
    }

    fn init(&self, destination: &str, cursors: &Cursors) -> Result<()> {
        check_destination_name(destination)?;
        self.with(|conn| {
            let tx = conn.transaction().map_err(sql)?;
            tx.execute(
                "INSERT OR IGNORE INTO audit_forward_destinations (destination, started_at)
                 VALUES (?1, ?2)",
                params![destination, now_micros()],
            )
            .map_err(sql)?;
            for (t, s) in &cursors.positions {
                upsert(&tx, destination, t, *s)?;
            }
            tx.commit().map_err(sql)
        })
    }

    fn save(&self, destination: &str, tenant: &TenantId, seq: u64) -> Result<()> {
        check_destination_name(destination)?;
        self.with(|conn| upsert(conn, destination, tenant, seq))
    }

    fn settle(&self, letter: &DeadLetter) -> Result<()> {
        check_destination_name(&letter.destination)?;
        let seq = to_i64(letter.seq)?;
        let json = serde_json::to_string(letter).map_err(|e| Error::store("forward-cursors", e))?;
        self.with(|conn| {
            let tx = conn.transaction().map_err(sql)?;
            tx.execute(
                "INSERT INTO audit_forward_dead_letters (destination, tenant, seq, letter)
                 VALUES (?1, ?2, ?3, ?4)",
                params![letter.destination, letter.tenant.as_str(), seq, json],
            )
            .map_err(sql)?;
            upsert(&tx, &letter.destination, &letter.tenant, letter.seq)?;
            tx.commit().map_err(sql)
        })
    }

    fn dead_letters(&self, destination: &str) -> Result<Vec<DeadLetter>> {
        check_destination_name(destination)?;
        self.with(|conn| {
            let mut st = conn
                .prepare_cached(
                    "SELECT letter FROM audit_forward_dead_letters WHERE destination = ?1
                     ORDER BY rowid",
                )
                .map_err(sql)?;
            let rows = st
                .query_map([destination], |r| r.get::<_, String>(0))
                .map_err(sql)?;
            let mut out = Vec::new();
            for row in rows {
                let text = row.map_err(sql)?;
                out.push(
                    serde_json::from_str(&text)
                        .map_err(|e| Error::corrupt(0, format!("dead letter: {e}")))?,
                );
            }
            Ok(out)
        })
    }
}
