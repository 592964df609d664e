//! The write path: the store's [`Committer`] for the shared group commit, and rows in.
//!
//! A group is one `BEGIN IMMEDIATE` transaction: SQLite's write lock is taken first, then each
//! tenant's head is read once ([`read_tip`]) and every job's records are sealed against it
//! ([`Sequencer`]) and inserted ([`insert_row`]). Several processes appending to one file keep
//! one gapless seq per tenant because the head is read under the write lock. A host's own
//! transaction ([`append_in`]) runs the very same sealing and insert.

use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use rusqlite::functions::FunctionFlags;
use rusqlite::{params, Connection};

use super::error::{map, SqlResult};
use crate::digest::{ChainAlgorithm, ChainKey, Digest};
use crate::error::{Error, Result};
use crate::record::{Head, Receipt, TenantId};
use crate::sink::group_commit::Committer;
use crate::sink::row::{column_list, Row, Sequencer, Work};
use crate::sink::PreparedRecord;

// An event may name the same entity twice (a custom event whose target is also its related
// entity); the row's mentions are already each entity once.
const INSERT_MENTION: &str =
    "INSERT INTO audit_mentions (tenant, kind, entity_id, seq) VALUES (?1, ?2, ?3, ?4)";

/// The insert of one record, built once from the shared column list.
static INSERT_RECORD: LazyLock<String> = LazyLock::new(|| {
    let placeholders: Vec<String> = (1..=20).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO audit_records ({}) VALUES ({})",
        column_list(""),
        placeholders.join(", ")
    )
});

/// The purge gate: the tenant and last seq a purge on the store's own write connection is
/// removing, answered to the file's delete triggers by the function
/// `audit_log_purge_through(tenant)`, which only that connection has (see the schema's
/// version 2). Open only inside a purge's transaction.
#[derive(Debug, Clone, Default)]
pub(super) struct PurgeGate(Arc<Mutex<Option<(String, i64)>>>);

impl PurgeGate {
    /// Gives `conn` the gate function.
    fn register(&self, conn: &Connection) -> Result<()> {
        let gate = self.clone();
        conn.create_scalar_function(
            "audit_log_purge_through",
            1,
            // Innocuous: it reads only this process's gate, so triggers may call it whatever
            // `trusted_schema` says; not deterministic: the answer changes during a purge.
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_INNOCUOUS,
            move |ctx| {
                let tenant = ctx.get_raw(0).as_str().ok();
                let open = gate.0.lock().unwrap_or_else(|e| e.into_inner());
                Ok(match (&*open, tenant) {
                    (Some((t, through)), Some(asked)) if t == asked => Some(*through),
                    _ => None,
                })
            },
        )
        .sql()
    }

    /// Opens the gate for `tenant` through `through` until the returned guard is dropped.
    pub(super) fn open(&self, tenant: &TenantId, through: i64) -> GateOpen<'_> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((tenant.as_str().to_owned(), through));
        GateOpen(self)
    }
}

/// Closes the purge gate when dropped, however the purge ends.
pub(super) struct GateOpen<'a>(&'a PurgeGate);

impl Drop for GateOpen<'_> {
    fn drop(&mut self) {
        *self.0 .0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The write connection, which commits groups of jobs.
pub(super) struct SqliteCommitter {
    conn: Mutex<Connection>,
    algorithm: ChainAlgorithm,
    key: Option<ChainKey>,
    gate: PurgeGate,
}

impl SqliteCommitter {
    /// The committer over `conn`, which gets the purge gate's function.
    pub(super) fn new(
        conn: Connection,
        algorithm: ChainAlgorithm,
        key: Option<ChainKey>,
    ) -> Result<Self> {
        let gate = PurgeGate::default();
        gate.register(&conn)?;
        Ok(SqliteCommitter {
            conn: Mutex::new(conn),
            algorithm,
            key,
            gate,
        })
    }

    /// The chain key, in a keyed chain.
    pub(super) fn key(&self) -> Option<&ChainKey> {
        self.key.as_ref()
    }

    /// The purge gate of the write connection.
    pub(super) fn gate(&self) -> &PurgeGate {
        &self.gate
    }

    /// The write connection, for work that needs it alone (purge, in-memory reads). A panic
    /// elsewhere cannot leave it mid-transaction for long: every user starts by rolling back
    /// a transaction it did not open.
    pub(super) fn lock(&self) -> MutexGuard<'_, Connection> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        conn
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the write connection, committing when
    /// it returns `Ok` and rolling back otherwise.
    pub(super) fn transaction<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let conn = self.lock();
        conn.execute_batch("BEGIN IMMEDIATE").sql()?;
        let result = f(&conn);
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        match conn.execute_batch(end) {
            Ok(()) => result,
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                Err(result.err().unwrap_or_else(|| map(e)))
            }
        }
    }
}

impl Committer for SqliteCommitter {
    fn commit(&self, jobs: &[&Work]) -> Result<Vec<Vec<Receipt>>> {
        self.transaction(|conn| {
            let mut sequencer =
                Sequencer::new(self.algorithm, self.key(), |t: &TenantId| read_tip(conn, t));
            jobs.iter()
                .map(|work| insert_rows(conn, sequencer.rows(std::slice::from_ref(work))))
                .collect()
        })
    }
}

/// Inserts the rows of one job, returning their receipts.
fn insert_rows<'w>(
    conn: &Connection,
    rows: impl Iterator<Item = Result<Row<'w>>>,
) -> Result<Vec<Receipt>> {
    let mut writer = RowWriter::new(conn)?;
    let mut receipts = Vec::new();
    for row in rows {
        let row = row?;
        writer.insert(&row)?;
        receipts.push(row.receipt());
    }
    Ok(receipts)
}

/// One record and its mention rows (and, for an import that starts after a purge point, the
/// tenant's anchor): the store's one row mapping. See [`RowWriter`].
pub(super) fn insert_row(conn: &Connection, r: &Row<'_>) -> Result<()> {
    RowWriter::new(conn)?.insert(r)
}

/// Writes rows with the record and mention statements taken from the connection's cache
/// once, not once per row: a batch of 100k records looked them up 200k times (1.5% of its
/// time).
pub(super) struct RowWriter<'c> {
    conn: &'c Connection,
    record: rusqlite::CachedStatement<'c>,
    mention: rusqlite::CachedStatement<'c>,
}

impl<'c> RowWriter<'c> {
    pub(super) fn new(conn: &'c Connection) -> Result<Self> {
        Ok(RowWriter {
            conn,
            record: conn.prepare_cached(&INSERT_RECORD).sql()?,
            mention: conn.prepare_cached(INSERT_MENTION).sql()?,
        })
    }

    /// Inserts one row (see [`insert_row`]).
    pub(super) fn insert(&mut self, r: &Row<'_>) -> Result<()> {
        let seq = r.seq_i64()?;
        if let Some(anchor) = r.new_anchor {
            self.conn
                .prepare_cached("INSERT INTO audit_anchors (tenant, seq, hash) VALUES (?1, ?2, ?3)")
                .sql()?
                .execute(params![
                    r.tenant.as_str(),
                    crate::sink::row::to_i64(anchor.seq)?,
                    &anchor.hash.0[..]
                ])
                .sql()?;
        }
        let ip = r.context.ip.map(|ip| ip.to_string());
        self.record
            .execute(params![
                r.tenant.as_str(),
                seq,
                &r.id.as_bytes()[..],
                r.occurred_at.timestamp_micros(),
                r.actor.kind.as_str(),
                r.actor.id,
                r.actor.display,
                r.event.name(),
                r.outcome.as_str(),
                ip,
                r.context.user_agent,
                r.context.request_id,
                r.context.correlation_id,
                r.context.reason,
                r.schema_version,
                r.chain.as_str(),
                &r.prev_hash.0[..],
                &r.hash.0[..],
                r.event_json(),
                r.seal.as_ref().map(|s| &s.0[..]),
            ])
            .sql()?;
        for m in r.mentions() {
            self.mention
                .execute(params![
                    r.tenant.as_str(),
                    m.kind.as_str(),
                    m.id.as_str(),
                    seq
                ])
                .sql()?;
        }
        Ok(())
    }
}

/// The tenant's last record, else its anchor, read inside the caller's transaction; `None`
/// for a tenant with no trail at all.
pub(super) fn read_tip(conn: &Connection, tenant: &TenantId) -> Result<Option<Head>> {
    match super::read::head(conn, tenant)? {
        Some(head) => Ok(Some(head)),
        None => super::read::stored_anchor(conn, tenant),
    }
}

/// A head from its stored columns; a hash of the wrong length is a corrupt record.
pub(super) fn head_from(seq: i64, hash: &[u8]) -> Result<Head> {
    let seq = u64::try_from(seq).map_err(|_| Error::corrupt(0, format!("negative seq {seq}")))?;
    let hash = Digest::from_slice(hash).map_err(|why| Error::corrupt(seq, why))?;
    Ok(Head { seq, hash })
}

/// Appends inside a transaction the caller already holds (the host's), in a savepoint so a
/// failure leaves the host's transaction as it was.
pub(super) fn append_in(
    conn: &Connection,
    key: Option<&ChainKey>,
    batch: Vec<PreparedRecord>,
) -> Result<Vec<Receipt>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    if conn.is_autocommit() {
        return Err(Error::invalid(
            "transaction",
            "append_in needs an open transaction (pass the host's rusqlite::Transaction)",
        ));
    }
    let algorithm = super::schema::algorithm_of(conn)?;
    super::schema::check_chain_key(conn, key, false)?;
    conn.execute_batch("SAVEPOINT audit_append_in").sql()?;
    let work = Work::Prepared(batch);
    let mut sequencer = Sequencer::new(algorithm, key, |t: &TenantId| read_tip(conn, t));
    let result = insert_rows(conn, sequencer.rows(&[&work]));
    let end = if result.is_ok() {
        "RELEASE audit_append_in"
    } else {
        "ROLLBACK TO audit_append_in; RELEASE audit_append_in"
    };
    if !conn.is_autocommit() {
        conn.execute_batch(end).map_err(map)?;
    }
    result
}
