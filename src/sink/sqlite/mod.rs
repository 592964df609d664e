//! `SqliteSink`: the embedded store (SQLite, bundled: nothing to install).
//!
//! One file holds the trail. Appends from many threads share commits (group commit); several
//! processes can append to the same file and keep one gapless seq and one valid chain per
//! tenant; triggers in the file make the records append-only for any SQL; a host that keeps
//! its own data in the same file can append inside its own transaction
//! ([`SqliteSink::append_in`]).
//!
//! | file part | what |
//! | --- | --- |
//! | `schema.rs` | the tables, indexes and triggers; schema version and migrations |
//! | `write.rs` | sealing records into rows; group commit |
//! | `read.rs` | queries as SQL over the indexes; streaming by keyset pages |
//! | `maintenance.rs` | online backup; retention purge |

mod error;
mod maintenance;
mod read;
mod schema;
mod write;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use self::error::SqlResult;
use self::read::SqlitePages;
use self::write::SqliteCommitter;
use super::group_commit::{GroupCommit, DEFAULT_MAX_GROUP};
use super::paged::Paged;
use super::row::Work;
use super::{
    AuditSink, AuditStore, Census, MentionRow, PreparedRecord, RecordStream, SealedSink,
    StorageCheck,
};
use crate::digest::{ChainAlgorithm, ChainKey};
use crate::error::{Error, Result};
use crate::query::Query;
use crate::record::{Head, Receipt, Record, TenantId};

/// What a committed record survives. Sets SQLite's `synchronous` (the store always runs in
/// WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Survives a crash of the process, not of the machine: commits are written to the
    /// write-ahead log but not flushed to the disk (`synchronous = NORMAL`). A power loss or
    /// an OS crash may lose the last commits (the file stays consistent). Costs no fsync per
    /// commit: the fastest choice, for hosts whose own data has the same durability.
    ProcessCrash,
    /// Survives a power loss or an OS crash: each commit flushes the write-ahead log to the
    /// disk before `append` returns (`synchronous = FULL`). Costs one fsync per commit
    /// (from well under a millisecond on an SSD with a write cache to ~10 ms on a disk);
    /// group commit shares it among every append waiting at that moment. The default.
    ///
    /// What a shared commit cannot share is the pages each record writes (its row and its
    /// index entries, about three pages at random places per record), so on a disk where the
    /// fsync is cheap the gain from concurrency is smaller than where it is slow: on the
    /// virtual disk of `docs/benchmarks.md`, 16 threads append ~9 k records/s against ~2.4 k/s
    /// for one. For bulk work, one batch per transaction
    /// ([`AuditLog::record_batch`](crate::AuditLog::record_batch)) costs ~25 µs per record.
    #[default]
    PowerLoss,
}

/// How to open a [`SqliteSink`].
///
/// ```
/// use std::time::Duration;
/// use audit_log::{ChainAlgorithm, Durability, SqliteOptions, SqliteSink};
///
/// let dir = tempfile::tempdir()?;
/// let store = SqliteOptions::new()
///     .durability(Durability::ProcessCrash)
///     .busy_timeout(Duration::from_secs(10))
///     .chain_algorithm(ChainAlgorithm::Blake3)
///     .open(dir.path().join("audit.db"))?;
/// # let _ = store;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct SqliteOptions {
    durability: Durability,
    busy_timeout: Duration,
    algorithm: Option<ChainAlgorithm>,
    read_only: bool,
    max_size_bytes: Option<u64>,
    max_group: usize,
    key: Option<ChainKey>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            durability: Durability::default(),
            busy_timeout: Duration::from_secs(5),
            algorithm: None,
            read_only: false,
            max_size_bytes: None,
            max_group: DEFAULT_MAX_GROUP,
            key: None,
        }
    }
}

impl SqliteOptions {
    /// The defaults: [`Durability::PowerLoss`], a 5 s busy timeout, the default chain
    /// algorithm for a new store, read-write, no size limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// What a committed record survives.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// How long an append waits for another process (or connection) holding the write lock
    /// before failing with [`Error::Busy`]. Default 5 s.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// The chain algorithm of a new store. A store keeps the algorithm it was created with;
    /// opening an existing store with another one is an error.
    pub fn chain_algorithm(mut self, algorithm: ChainAlgorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// Opens for reading only, as an auditor's tool does: nothing is created, migrated or
    /// written. The file must already be a store at this build's schema version: a missing
    /// or empty file is [`Error::NotAStore`] naming the path, an older store
    /// [`Error::NotSupported`] (a reader does not migrate), a newer one
    /// [`Error::SchemaTooNew`]. Appends and purges fail with [`Error::ReadOnly`]. The
    /// database file's bytes and modification time stay as they were; as for any reader of a
    /// SQLite database in WAL mode, SQLite keeps its shared index beside the file (`-shm`,
    /// and an empty `-wal`), creating them if they are missing.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Caps the file's size (SQLite's `max_page_count`, for this handle): an append that
    /// would grow the file past it fails with [`Error::StorageFull`] and writes nothing.
    pub fn max_size_bytes(mut self, bytes: u64) -> Self {
        self.max_size_bytes = Some(bytes);
        self
    }

    /// The most records one group commit carries (default 4096); a larger batch still
    /// commits, alone. See [`Durability`] for what group commit shares.
    pub fn max_group(mut self, records: usize) -> Self {
        self.max_group = records.max(1);
        self
    }

    /// A keyed chain: a new store seals every record under `key` (see [`ChainKey`]); an
    /// existing keyed store must be opened with its key to write (a read-only open may go
    /// without). A store made without a key cannot be given one.
    pub fn chain_key(mut self, key: ChainKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Opens (creating if needed) the store at `path`.
    ///
    /// # Errors
    /// As [`SqliteSink::open`].
    pub fn open(&self, path: impl AsRef<Path>) -> Result<SqliteSink> {
        SqliteSink::open_with(path, self)
    }

    /// Opens a new store in memory.
    ///
    /// # Errors
    /// As [`SqliteSink::open_in_memory`].
    pub fn open_in_memory(&self) -> Result<SqliteSink> {
        SqliteSink::open_in_memory_with(self)
    }
}

/// The embedded audit store: one SQLite file (or an in-memory database).
///
/// Cheap to clone (clones share the connections); `Send + Sync`. Implements the whole
/// [`AuditSink`] / [`AuditStore`] contract, plus:
///
/// - **Durable on Ok**, to the [`Durability`] chosen; concurrent appends share commits.
/// - **Several processes** may open the same file: seq and chain stay gapless per tenant
///   (each commit takes SQLite's write lock, then reads each tenant's head).
/// - **Append-only in the file**: triggers reject `UPDATE` and `DELETE` on the records, from
///   any connection; only a retention purge ([`RetentionExt::purge`](crate::RetentionExt::purge))
///   removes records, and it records itself.
/// - **Versioned schema** with forward migrations: a file written by a newer version is
///   [`Error::SchemaTooNew`]; a file that is not an audit store is [`Error::NotAStore`].
/// - [`backup_to`](SqliteSink::backup_to) while writers keep writing;
///   [`append_in`](SqliteSink::append_in) inside a host's own transaction.
///
/// ```
/// use audit_log::{Actor, AuditLog, AuditStore, AuditStoreExt, EntityKey, EntityRef, Event, Query, SqliteSink};
///
/// let dir = tempfile::tempdir()?;
/// let store = SqliteSink::open(dir.path().join("audit.db"))?;
/// let log = AuditLog::builder(store.clone()).build();
/// log.record(&Actor::user(1, "root"), Event::user_deleted(EntityRef::new(42, "bob")))?;
///
/// let mut timeline = store.query(&Query::new().entity(EntityKey::user(42)))?;
/// assert_eq!(timeline.next().transpose()?.map(|r| r.seq), Some(1));
/// assert!(store.verify(log.default_tenant())?.is_intact());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SqliteSink {
    inner: Arc<Inner>,
}

struct Inner {
    writer: GroupCommit<SqliteCommitter>,
    readers: Readers,
    algorithm: ChainAlgorithm,
    /// The chain key's id, in a keyed chain (the key itself only the writer holds).
    key_id: Option<String>,
    path: Option<PathBuf>,
    read_only: bool,
}

/// When the last handle goes, the write-ahead log is folded back into the database file, so
/// the `.db` file alone holds every record (a copy of it is a complete store). SQLite does
/// that when the last connection to a file closes, but only if it is the last: idle readers
/// are closed first, then the writer checkpoints explicitly (which also covers another
/// process still holding the file open, as far as its readers allow).
impl Drop for Inner {
    fn drop(&mut self) {
        if let Readers::File { idle, .. } = &self.readers {
            idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        if !self.read_only && self.path.is_some() {
            let conn = self.writer.committer().lock();
            // Best effort: a reader of another process may hold the WAL; it then stays for
            // that process's last connection to fold back.
            let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
        }
    }
}

/// Where queries get a connection.
enum Readers {
    /// Connections of their own (WAL lets them read while the writer writes), kept for reuse.
    File {
        path: PathBuf,
        busy_timeout: Duration,
        idle: Mutex<Vec<Connection>>,
    },
    /// An in-memory database has one connection: queries share the writer's.
    Memory,
}

/// Idle reader connections kept per store.
const MAX_IDLE_READERS: usize = 4;

impl fmt::Debug for SqliteSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteSink")
            .field("path", &self.inner.path)
            .field("algorithm", &self.inner.algorithm)
            .field("read_only", &self.inner.read_only)
            .finish()
    }
}

impl SqliteSink {
    /// Opens the store at `path` with the default [`SqliteOptions`], creating the file and
    /// the schema if needed and migrating an older schema.
    ///
    /// # Errors
    /// [`Error::NotAStore`] for a file that is not a SQLite database or a database of
    /// another application; [`Error::SchemaTooNew`] for a store written by a newer version;
    /// [`Error::ReadOnly`], [`Error::Busy`] and other store failures.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteSink> {
        Self::open_with(path, &SqliteOptions::default())
    }

    /// Opens the store at `path` with `options`.
    ///
    /// # Errors
    /// As [`SqliteSink::open`]; with [`SqliteOptions::read_only`], an empty or missing file
    /// is [`Error::NotAStore`].
    pub fn open_with(path: impl AsRef<Path>, options: &SqliteOptions) -> Result<SqliteSink> {
        let path = path.as_ref().to_path_buf();
        if options.read_only && !std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
            return Err(Error::NotAStore {
                reason: format!("no store at {} (missing or empty file)", path.display()),
            });
        }
        let conn = open_connection(&path, options.read_only, options.busy_timeout)?;
        let algorithm = if options.read_only {
            let algorithm = schema::algorithm_of(&conn)?;
            check_algorithm(algorithm, options.algorithm)?;
            schema::check_chain_key(&conn, options.key.as_ref(), true)?;
            algorithm
        } else {
            // SQLite quietly opens a file it may not write read-only; a host asking to write
            // should hear it now, not at its first append.
            if conn.is_readonly(rusqlite::MAIN_DB).sql()? {
                return Err(Error::ReadOnly {
                    source: format!(
                        "{} cannot be written by this process (open it with \
                         SqliteOptions::read_only(true) to read it)",
                        path.display()
                    )
                    .into(),
                });
            }
            // Refuses a text file (NOTADB) or another application's database before anything
            // (even the journal mode) is changed in it.
            if schema::inspect(&conn)? == schema::Found::Foreign {
                return Err(schema::foreign());
            }
            conn.pragma_update(None, "journal_mode", "WAL").sql()?;
            let algorithm = schema::install(&conn, options.algorithm, options.key.as_ref(), true)?;
            schema::check_chain_key(&conn, options.key.as_ref(), false)?;
            algorithm
        };
        let key_id = schema::chain_key_of(&conn)?.map(|(id, _)| id);
        configure_writer(&conn, options)?;
        Self::assemble(
            conn,
            (algorithm, options.key.clone(), key_id),
            options.max_group,
            Readers::File {
                path: path.clone(),
                busy_timeout: options.busy_timeout,
                idle: Mutex::new(Vec::new()),
            },
            Some(path),
            options.read_only,
        )
    }

    /// A new, empty store in memory: the file-backed store's behaviour (schema, triggers,
    /// queries) without a file, for tests and tools. Lost when the last clone is dropped.
    ///
    /// # Errors
    /// Store failures.
    pub fn open_in_memory() -> Result<SqliteSink> {
        Self::open_in_memory_with(&SqliteOptions::default())
    }

    /// [`open_in_memory`](Self::open_in_memory) with `options` (durability and read-only do
    /// not apply).
    ///
    /// # Errors
    /// Store failures.
    pub fn open_in_memory_with(options: &SqliteOptions) -> Result<SqliteSink> {
        let conn = Connection::open_in_memory().sql()?;
        let algorithm = schema::install(&conn, options.algorithm, options.key.as_ref(), true)?;
        schema::check_chain_key(&conn, options.key.as_ref(), false)?;
        let key_id = options.key.as_ref().map(|k| k.id().to_owned());
        configure_writer(
            &conn,
            &SqliteOptions {
                read_only: false,
                ..options.clone()
            },
        )?;
        Self::assemble(
            conn,
            (algorithm, options.key.clone(), key_id),
            options.max_group,
            Readers::Memory,
            None,
            false,
        )
    }

    fn assemble(
        conn: Connection,
        (algorithm, key, key_id): (ChainAlgorithm, Option<ChainKey>, Option<String>),
        max_group: usize,
        readers: Readers,
        path: Option<PathBuf>,
        read_only: bool,
    ) -> Result<SqliteSink> {
        Ok(SqliteSink {
            inner: Arc::new(Inner {
                writer: GroupCommit::new(SqliteCommitter::new(conn, algorithm, key)?, max_group),
                readers,
                algorithm,
                key_id,
                path,
                read_only,
            }),
        })
    }

    /// The file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// Creates the audit tables in a host's own database (or migrates them), so the host can
    /// [`append_in`](Self::append_in) its own transactions. Leaves the host's tables and its
    /// `PRAGMA user_version` alone; runs in a savepoint when called inside a transaction.
    ///
    /// `algorithm` is the chain algorithm of a new store; an existing store keeps its own
    /// (passing another is an error).
    ///
    /// # Errors
    /// [`Error::SchemaTooNew`]; [`Error::InvalidInput`] for a mismatched algorithm; store
    /// failures.
    pub fn install_schema(conn: &Connection, algorithm: ChainAlgorithm) -> Result<()> {
        schema::install(conn, Some(algorithm), None, false).map(|_| ())
    }

    /// Appends prepared records inside the host's own transaction on `conn` (pass your
    /// `&rusqlite::Transaction`), so the audit records commit or roll back with the host's
    /// change: a rollback leaves no record, a commit always has them. Seq and chain are
    /// assigned in that transaction, consistently with every other writer of the file.
    ///
    /// Start the transaction with `TransactionBehavior::Immediate` (or write to your own
    /// tables first): then the write lock is held before the tenant's head is read. A
    /// deferred transaction that another writer overtakes fails with [`Error::Busy`] instead
    /// of forking the chain. Make the records with [`AuditLog::prepare`](crate::AuditLog::prepare);
    /// the file needs the schema ([`install_schema`](Self::install_schema) or a
    /// [`SqliteSink::open`] on it once). Make the records with your log's
    /// [`Preparer`](crate::Preparer) ([`AuditLog::preparer`](crate::AuditLog::preparer)), so
    /// they get its clock, tenant, redaction and limits.
    ///
    /// ```
    /// use audit_log::rusqlite::{Connection, TransactionBehavior};
    /// use audit_log::{Actor, ChainAlgorithm, Entry, EntityRef, Event, Preparer, SqliteSink};
    ///
    /// let mut conn = Connection::open_in_memory()?;
    /// conn.execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, login TEXT)")?;
    /// SqliteSink::install_schema(&conn, ChainAlgorithm::default())?;
    /// // The host's preparer (its log's: `log.preparer()`) stamps, checks and encodes.
    /// let preparer = Preparer::new();
    ///
    /// let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    /// tx.execute("INSERT INTO users (id, login) VALUES (42, 'alice')", [])?;
    /// let record = preparer.prepare(Entry::new(Actor::user(1, "root"), Event::user_created(EntityRef::new(42, "alice"))))?;
    /// let receipts = SqliteSink::append_in(&tx, vec![record])?;
    /// tx.commit()?;
    /// assert_eq!(receipts[0].seq, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `conn` is not inside a transaction; [`Error::NotAStore`]
    /// when the schema is missing; store failures. On error none of the batch is written and
    /// the host's transaction is as it was.
    pub fn append_in(conn: &Connection, batch: Vec<PreparedRecord>) -> Result<Vec<Receipt>> {
        write::append_in(conn, None, batch)
    }

    /// [`append_in`](Self::append_in) for a store whose chain is keyed: the records are
    /// sealed under `key`, which must be the store's.
    ///
    /// # Errors
    /// As [`append_in`](Self::append_in); [`Error::InvalidInput`] when `key` is not the
    /// store's.
    pub fn append_in_keyed(
        conn: &Connection,
        key: &ChainKey,
        batch: Vec<PreparedRecord>,
    ) -> Result<Vec<Receipt>> {
        write::append_in(conn, Some(key), batch)
    }

    /// SQLite's query plan for `query`, one line per step of each statement it runs (for
    /// checking that a query uses an index).
    ///
    /// # Errors
    /// Store failures.
    pub fn query_plan(&self, query: &Query) -> Result<Vec<String>> {
        let plan = read::plan(query)?;
        self.with_reader(|conn| read::explain(&plan, conn))
    }

    /// Runs `f` on a connection that reads the committed state of the store.
    fn with_reader<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        match &self.inner.readers {
            Readers::Memory => f(&self.inner.writer.committer().lock()),
            Readers::File {
                path,
                busy_timeout,
                idle,
            } => {
                let pooled = idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let conn = match pooled {
                    Some(c) => c,
                    None => {
                        let c = open_connection(path, true, *busy_timeout)?;
                        c.pragma_update(None, "query_only", true).sql()?;
                        c
                    }
                };
                let result = f(&conn);
                if conn.is_autocommit() {
                    let mut idle = idle.lock().unwrap_or_else(|e| e.into_inner());
                    if idle.len() < MAX_IDLE_READERS {
                        idle.push(conn);
                    }
                }
                result
            }
        }
    }

    /// The write connection, for tests that edit the file behind the store's back.
    #[cfg(test)]
    pub(crate) fn with_writer<R>(&self, f: impl FnOnce(&Connection) -> R) -> R {
        f(&self.inner.writer.committer().lock())
    }
}

fn check_algorithm(found: ChainAlgorithm, wanted: Option<ChainAlgorithm>) -> Result<()> {
    match wanted {
        Some(w) if w != found => Err(Error::invalid(
            "chain_algorithm",
            format!("the store was created with {found}, not {w}"),
        )),
        _ => Ok(()),
    }
}

fn open_connection(path: &Path, read_only: bool, busy_timeout: Duration) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).sql()?;
    conn.busy_timeout(busy_timeout).sql()?;
    Ok(conn)
}

fn configure_writer(conn: &Connection, options: &SqliteOptions) -> Result<()> {
    let sync = match options.durability {
        Durability::ProcessCrash => "NORMAL",
        Durability::PowerLoss => "FULL",
    };
    conn.pragma_update(None, "synchronous", sync).sql()?;
    if let Some(bytes) = options.max_size_bytes {
        let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).sql()?;
        // SQLite counts pages in a signed 64-bit integer.
        let pages = i64::try_from(bytes / u64::try_from(page.max(1)).unwrap_or(1))
            .unwrap_or(i64::MAX)
            .max(1);
        conn.pragma_update(None, "max_page_count", pages).sql()?;
    }
    Ok(())
}

impl AuditSink for SqliteSink {
    fn append(&self, batch: Vec<PreparedRecord>) -> Result<Vec<Receipt>> {
        self.inner.writer.submit(Work::Prepared(batch))
    }
}

impl SealedSink for SqliteSink {
    fn append_sealed(&self, records: Vec<Record>) -> Result<Vec<Receipt>> {
        self.inner.writer.submit(Work::Sealed(records))
    }
}

impl AuditStore for SqliteSink {
    fn query<'a>(&'a self, query: &Query) -> Result<RecordStream<'a>> {
        let pages = SqlitePages::new(self, query)?;
        Ok(Box::new(Paged::new(pages, read::PAGE, query.limit)))
    }

    fn head(&self, tenant: &TenantId) -> Result<Option<Head>> {
        self.with_reader(|conn| read::head(conn, tenant))
    }

    fn chain_algorithm(&self) -> ChainAlgorithm {
        self.inner.algorithm
    }

    fn chain_key_id(&self) -> Option<String> {
        self.inner.key_id.clone()
    }

    fn tenants(&self) -> Result<Vec<TenantId>> {
        self.with_reader(read::tenants)
    }

    fn anchor(&self, tenant: &TenantId) -> Result<Head> {
        self.with_reader(|conn| read::anchor(conn, tenant))
    }

    fn count(&self, query: &Query) -> Result<Option<u64>> {
        let plan = read::plan(query)?;
        self.with_reader(|conn| read::count(plan, conn)).map(Some)
    }

    /// Counted through the time index, a B-tree of its own: a damaged seq index (what a query
    /// and the head walk) cannot hide records from it.
    fn census(&self, tenant: &TenantId, through: u64) -> Result<Option<Census>> {
        self.with_reader(|conn| read::census(conn, tenant, through))
            .map(Some)
    }

    fn scan_mentions(
        &self,
        tenant: &TenantId,
        first: u64,
        last: u64,
        visit: &mut dyn FnMut(MentionRow<'_>),
    ) -> Result<bool> {
        read::scan_mentions(self, tenant, first, last, visit).map(|()| true)
    }

    /// SQLite's `quick_check` or `integrity_check` of the whole file (every tenant, and the
    /// host's own tables when it shares the file).
    fn check_storage(
        &self,
        check: StorageCheck,
    ) -> Result<Option<std::result::Result<(), String>>> {
        let pragma = match check {
            StorageCheck::Quick => "PRAGMA quick_check",
            StorageCheck::Full => "PRAGMA integrity_check",
        };
        let found: Vec<String> = self.with_reader(|conn| {
            conn.prepare(pragma)
                .sql()?
                .query_map([], |r| r.get::<_, String>(0))
                .sql()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .sql()
        })?;
        Ok(Some(if found == ["ok"] {
            Ok(())
        } else {
            Err(found.join("; "))
        }))
    }
}
