//! `PostgresSink`: one trail in PostgreSQL, shared by every instance of a host.
//!
//! # How it keeps one chain with many writers
//!
//! Each tenant has a row in `audit_heads` holding its last seq and hash. An append locks the
//! head rows of its tenants (`SELECT ... FOR UPDATE`, in tenant order so writers cannot
//! deadlock), assigns the next seqs, links the hashes, writes the records and moves the heads,
//! all in one transaction. Writers of other tenants are not blocked; writers of the same tenant
//! queue on its row, whichever process or connection they come from. Within one process a
//! writer thread groups what concurrent callers submit into one transaction (group commit),
//! so threads share a commit instead of queueing on the row one commit at a time.
//!
//! # Schema
//!
//! Four tables in a schema of the host's choice (default `audit_log`): `audit_records` (one
//! row per record, every `Query` filter backed by an index), `audit_mentions` (which entities
//! each record names, for entity timelines), `audit_heads` and `audit_meta` (schema version and
//! chain algorithm). Triggers reject `UPDATE`, `DELETE` and `TRUNCATE` on the records and
//! mentions tables; the one `DELETE` they let through is that of a retention purge
//! ([`RetentionExt::purge`](crate::RetentionExt::purge)), for exactly the rows it declared in
//! its own transaction.
//! [`PostgresSink::connect`] creates the schema when it is missing, migrates an older one
//! forward and refuses one written by a newer version.
//! A migration replaces the schema's objects (version 2 replaces the trigger function), which
//! only their owner may do: after an upgrade, connect (or call
//! [`install_schema`](PostgresSink::install_schema)) once as the owner before the application
//! role connects, or the application's connect fails with a store error and changes nothing.
//!
//! # Least privilege
//!
//! Triggers stop stray SQL, but the table owner can drop a trigger. A careful operator creates
//! the schema with an owner role and lets the application connect as another role that can
//! only insert and read:
//!
//! ```sql
//! -- as the owner, once (or let PostgresSink::connect create it as the owner)
//! REVOKE ALL ON ALL TABLES IN SCHEMA audit_log FROM app;
//! GRANT USAGE ON SCHEMA audit_log TO app;
//! GRANT SELECT, INSERT ON audit_log.audit_records, audit_log.audit_mentions TO app;
//! GRANT SELECT, INSERT, UPDATE ON audit_log.audit_heads TO app;
//! GRANT SELECT ON audit_log.audit_meta TO app;
//! ```
//!
//! These rights are all the application role needs: connecting to a schema that is installed
//! and current only reads `audit_meta` (it asks for no `CREATE` right; a test connects with
//! exactly these GRANTs). The application role then cannot update, delete, truncate, alter or
//! drop the trail, nor disable its triggers; `audit_heads` is the only table it updates, and a forged head is
//! caught by [`verify`](crate::chain::verify), which reads the records themselves.
//!
//! A retention purge ([`RetentionExt::purge`](crate::RetentionExt::purge)) needs `DELETE` on the records and mentions
//! tables as well. Run it as a separate role that only the retention job uses, so the
//! application role never holds `DELETE`:
//!
//! ```sql
//! GRANT USAGE ON SCHEMA audit_log TO retention;
//! GRANT SELECT, INSERT, DELETE ON audit_log.audit_records, audit_log.audit_mentions TO retention;
//! GRANT SELECT, INSERT, UPDATE ON audit_log.audit_heads TO retention;
//! GRANT SELECT ON audit_log.audit_meta TO retention;
//! ```
//!
//! The triggers let a `DELETE` through only for rows a transaction declared as purged, and
//! any SQL of a role with `DELETE` rights can make that declaration; see
//! [Retention](#retention) for what catches a removal made that way.
//!
//! # Retention
//!
//! A purge is one transaction that locks the tenant's head row (appends to the tenant wait,
//! appends to other tenants do not), declares the range it removes, deletes it, moves the
//! anchor and appends its `audit.purged` record.
//!
//! ## Who else could delete
//!
//! The connected role needs `DELETE` on `audit_records` and `audit_mentions` (see the
//! [least privilege](#least-privilege)), and the schema must be at version 2 or later,
//! which [`connect`](PostgresSink::connect) makes it.
//!
//! The triggers cannot tell this purge from other SQL that declares the same
//! transaction-local setting, which any role with `DELETE` rights can do. What catches a
//! removal made that way is the hash chain, checkpoints and purge records, not the triggers:
//! a gap, or a removed prefix with the anchor left in place, is a break that
//! [`verify`](crate::chain::verify) reports; removed newest records fail
//! [`verify_against`](crate::chain::verify_against) a [`Checkpoint`](crate::Checkpoint) kept
//! outside the store; an anchor moved as well (which needs the same declaration: a trigger
//! keeps anchors still otherwise, and heads from moving back) has no `audit.purged` record that
//! accounts for it. Give `DELETE` only to the role that runs retention.
//!
//! # In async code
//!
//! The store is built on the sync `postgres` client, which blocks on a tokio runtime of its
//! own. Called from inside a host's runtime (a handler, `#[tokio::main]`), each operation
//! runs on a thread of its own instead, as does closing the pool when the last handle goes,
//! so nothing panics on either runtime flavour; the calling task still waits for the answer.
//! Async hosts use the async front door (feature `tokio`, `audit_log::async_log`), which runs
//! every call on tokio's blocking pool, or append inside their own sqlx transaction (feature
//! `sqlx-postgres`).
//!
//! # Durability
//!
//! An append returns `Ok` after PostgreSQL committed it. With the server's default
//! `synchronous_commit = on` that means flushed to its WAL on disk; with a synchronous
//! standby, replicated as configured.
//!
//! When the connection drops while a commit is under way (a server restart, a network cut),
//! the append returns [`Error::Unavailable`] without knowing whether the server committed:
//! the record may or may not be in the trail. Such a commit is in doubt, as with any database
//! client; a later query (by actor, time or entity) shows which. Records that were
//! acknowledged are never lost, and the chain stays gapless either way.

mod maintenance;
mod read;
pub(crate) mod schema;
pub(crate) mod write;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use postgres::NoTls;
use r2d2_postgres::PostgresConnectionManager;

use super::group_commit::{Committer, GroupCommit, DEFAULT_MAX_GROUP};
use super::paged::Paged;
use super::row::Work;
use super::{AuditSink, AuditStore, Census, MentionRow, PreparedRecord, RecordStream, SealedSink};
use crate::digest::{ChainAlgorithm, ChainKey, Digest};
use crate::error::{Error, Result};
use crate::query::Query;
use crate::record::{Head, Receipt, Record, TenantId};

/// The version of the PostgreSQL schema (its tables, indexes and triggers) this build writes,
/// kept in `audit_meta`; not the record format version ([`RECORD_FORMAT_VERSION`](crate::RECORD_FORMAT_VERSION)).
pub const STORE_SCHEMA_VERSION: u32 = schema::SCHEMA_VERSION;

/// A pool of PostgreSQL connections, as `r2d2` makes them.
pub type PgPool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// Maps a driver error to the crate's categories.
pub(crate) fn pg_error(e: postgres::Error) -> Error {
    use postgres::error::SqlState;
    if let Some(code) = e.as_db_error().map(|db| db.code().clone()) {
        let code = &code;
        let source = Box::new(e);
        return if *code == SqlState::DISK_FULL || *code == SqlState::PROGRAM_LIMIT_EXCEEDED {
            Error::StorageFull { source }
        } else if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
            Error::ReadOnly { source }
        } else if *code == SqlState::LOCK_NOT_AVAILABLE
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::QUERY_CANCELED
        {
            Error::Busy { source }
        } else if *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            || code.code().starts_with("08")
        {
            Error::Unavailable { source }
        } else {
            Error::Store {
                store: "postgres",
                source,
            }
        };
    }
    if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) {
        return Error::Unavailable {
            source: Box::new(e),
        };
    }
    Error::Store {
        store: "postgres",
        source: Box::new(e),
    }
}

fn pool_error(e: r2d2::Error) -> Error {
    Error::Unavailable {
        source: Box::new(e),
    }
}

/// Options for [`PostgresSink::connect_with`].
#[derive(Debug, Clone)]
#[must_use]
pub struct PostgresOptions {
    schema: String,
    pool_size: u32,
    connect_timeout: Duration,
    algorithm: ChainAlgorithm,
    max_group: usize,
    key: Option<ChainKey>,
    read_only: bool,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            schema: "audit_log".to_owned(),
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
            algorithm: ChainAlgorithm::default(),
            max_group: DEFAULT_MAX_GROUP,
            key: None,
            read_only: false,
        }
    }
}

impl PostgresOptions {
    /// The defaults: schema `audit_log`, 8 connections, 10 s connect timeout, SHA-256.
    pub fn new() -> Self {
        Self::default()
    }

    /// The PostgreSQL schema holding the tables (created if missing).
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The most connections the pool opens.
    pub fn pool_size(mut self, n: u32) -> Self {
        self.pool_size = n.max(2);
        self
    }

    /// How long to wait for a connection before an append or query fails with
    /// [`Error::Unavailable`].
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// The chain algorithm of a trail created now; an existing trail keeps its own.
    pub fn chain_algorithm(mut self, a: ChainAlgorithm) -> Self {
        self.algorithm = a;
        self
    }

    /// The most records one group commit carries (default 4096); a larger batch still
    /// commits, alone.
    pub fn max_group(mut self, n: usize) -> Self {
        self.max_group = n.max(1);
        self
    }

    /// A keyed chain: a new trail seals every record under `key` (see [`ChainKey`]). A keyed
    /// trail may be read without its key, but appends need it; a trail made without a key
    /// cannot be given one once it holds records.
    pub fn chain_key(mut self, key: ChainKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Connects for reading only, as an auditor's tool does: the connect runs no DDL and
    /// writes nothing. The schema must already hold a trail at this build's version: a
    /// missing one is [`Error::NotAStore`] naming the schema, an older one
    /// [`Error::NotSupported`] (a reader does not migrate), a newer one
    /// [`Error::SchemaTooNew`]. Appends and purges fail with [`Error::ReadOnly`].
    ///
    /// Through [`connect_with`](PostgresSink::connect_with), every session also starts with
    /// `default_transaction_read_only = on`, so the server itself refuses any write; a pool
    /// the host brings ([`from_pool`](PostgresSink::from_pool)) keeps its own settings.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }
}

/// A PostgreSQL store: the [`AuditSink`] / [`AuditStore`] contract across any number of
/// processes and connections writing one trail. See the [module docs](self).
///
/// ```no_run
/// use audit_log::{Actor, AuditLog, EntityRef, Event, PostgresSink};
///
/// let store = PostgresSink::connect("postgres://app@db.internal/app")?;
/// let log = AuditLog::builder(store).build();
/// log.record(&Actor::user(1, "root"), Event::user_deleted(EntityRef::new(42, "bob")))?;
/// # Ok::<(), audit_log::Error>(())
/// ```
///
/// Cheap to clone: clones share the pool and the group commit.
#[derive(Clone)]
pub struct PostgresSink {
    inner: Arc<GroupCommit<PgStore>>,
}

/// The pool, the tables and the chain algorithm: what the group commit's committer and the
/// readers share.
struct PgStore {
    pool: SafePool,
    tables: schema::Tables,
    algorithm: ChainAlgorithm,
    /// The chain key, when the trail is keyed and the sink was given it.
    key: Option<ChainKey>,
    /// The trail's chain key id, when it is keyed.
    key_id: Option<String>,
    /// Opened with [`PostgresOptions::read_only`]: appends and purges are refused.
    read_only: bool,
}

impl PgStore {
    /// Refuses a write on a store opened read-only.
    fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly {
                source: format!(
                    "the schema {} was opened read-only (PostgresOptions::read_only)",
                    self.tables.name
                )
                .into(),
            });
        }
        Ok(())
    }
}

/// The sink's pool. Every use of a connection, and the pool's own drop (which closes its
/// connections), runs where the sync client may block: see [`crate::runtime`].
struct SafePool(Option<PgPool>);

impl SafePool {
    /// Runs `f` on a pooled connection, returned to the pool before this returns.
    fn with_client<T: Send>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T> + Send,
    ) -> Result<T> {
        crate::runtime::off_async(|| {
            let pool = self
                .0
                .as_ref()
                .ok_or_else(|| Error::store("postgres", "the pool is closed"))?;
            let mut conn = pool.get().map_err(pool_error)?;
            f(&mut conn)
        })
    }
}

impl Drop for SafePool {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            crate::runtime::off_async(move || drop(pool));
        }
    }
}

impl fmt::Debug for PostgresSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSink")
            .field("schema", &self.store().tables.name)
            .field("algorithm", &self.store().algorithm)
            .finish_non_exhaustive()
    }
}

impl PostgresSink {
    /// Connects with the default options (schema `audit_log`).
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the server cannot be reached; [`Error::SchemaTooNew`] for a
    /// trail written by a newer version; [`Error::InvalidInput`] for a malformed URL.
    pub fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, PostgresOptions::default())
    }

    /// Connects with options.
    ///
    /// # Errors
    /// As [`PostgresSink::connect`].
    pub fn connect_with(url: &str, options: PostgresOptions) -> Result<Self> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| Error::invalid("url", e))?;
        if options.read_only {
            // The server refuses writes in these sessions, whatever a bug might try.
            let given = config.get_options().map(str::to_owned);
            config.options(&match given {
                Some(o) if !o.is_empty() => format!("{o} -c default_transaction_read_only=on"),
                _ => "-c default_transaction_read_only=on".to_owned(),
            });
        }
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size)
            // Connections open as they are needed: a host with many stores (or a test suite)
            // does not hold idle connections it never uses.
            .min_idle(Some(0))
            .connection_timeout(options.connect_timeout)
            .build(manager)
            .map_err(pool_error)?;
        Self::from_pool(pool, options)
    }

    /// Uses a pool the host already has. The pool's connections must reach the database
    /// holding (or to hold) the trail; `options.pool_size` and the connect timeout are the
    /// pool's own.
    ///
    /// # Errors
    /// As [`PostgresSink::connect`].
    pub fn from_pool(pool: PgPool, options: PostgresOptions) -> Result<Self> {
        let tables = schema::Tables::new(&options.schema);
        // Owned by the store from here, so that an error below drops it where it may.
        let pool = SafePool(Some(pool));
        let (algorithm, key_id) = pool.with_client(|conn| {
            if options.read_only {
                let algorithm = schema::check_current(conn, &tables)?;
                // Only checks a key given against the trail's (it may be read without one).
                let key_id = match (schema::chain_key(conn, &tables, None)?, &options.key) {
                    (Some(_), Some(k)) => schema::chain_key(conn, &tables, Some(k))?,
                    (None, Some(k)) => {
                        return Err(Error::invalid(
                            "chain_key",
                            format!(
                                "the trail was made without a chain key, not with {}",
                                k.id()
                            ),
                        ))
                    }
                    (found, None) => found,
                };
                Ok((algorithm, key_id))
            } else {
                let algorithm = schema::install(conn, &tables, options.algorithm)?;
                let key_id = schema::chain_key(conn, &tables, options.key.as_ref())?;
                Ok((algorithm, key_id))
            }
        })?;
        Ok(PostgresSink {
            inner: Arc::new(GroupCommit::new(
                PgStore {
                    pool,
                    tables,
                    algorithm,
                    key: options.key,
                    key_id,
                    read_only: options.read_only,
                },
                options.max_group,
            )),
        })
    }

    /// Creates (or migrates) the schema through a host's own client, for hosts that manage
    /// migrations themselves. Returns the trail's chain algorithm.
    ///
    /// # Errors
    /// As [`PostgresSink::connect`].
    pub fn install_schema(
        client: &mut impl postgres::GenericClient,
        schema: &str,
        algorithm: ChainAlgorithm,
    ) -> Result<ChainAlgorithm> {
        schema::install(client, &schema::Tables::new(schema), algorithm)
    }

    /// [`install_schema`](Self::install_schema) stopping at an older schema `version`, as an
    /// older build left it: for tests of the migrations.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a version this build does not know; as
    /// [`PostgresSink::connect`].
    #[cfg(any(test, feature = "conformance"))]
    #[doc(hidden)]
    pub fn install_schema_version(
        client: &mut impl postgres::GenericClient,
        schema: &str,
        algorithm: ChainAlgorithm,
        version: u32,
    ) -> Result<ChainAlgorithm> {
        schema::install_version(client, &schema::Tables::new(schema), algorithm, version)
    }

    /// Appends inside the host's own transaction, so the audit record commits or rolls back
    /// with the change it describes. The schema must exist (see
    /// [`install_schema`](Self::install_schema)); `algorithm` must be the trail's.
    ///
    /// Until the host commits, other appenders to the same tenants wait on this transaction:
    /// keep it short.
    ///
    /// Make the records with your log's [`Preparer`](crate::Preparer)
    /// ([`AuditLog::preparer`](crate::AuditLog::preparer)).
    ///
    /// ```no_run
    /// use audit_log::{Actor, ChainAlgorithm, EntityRef, Entry, Event, Preparer, PostgresSink};
    ///
    /// let preparer = Preparer::new(); // in a host: its log's, `log.preparer()`
    /// let mut client = postgres::Client::connect("postgres://app@db.internal/app", postgres::NoTls)?;
    /// let mut tx = client.transaction()?;
    /// tx.execute("DELETE FROM users WHERE id = $1", &[&42i64])?;
    /// let record = preparer.prepare(Entry::new(Actor::user(1, "root"), Event::user_deleted(EntityRef::new(42, "bob"))))?;
    /// PostgresSink::append_in(&mut tx, "audit_log", ChainAlgorithm::Sha256, vec![record])?;
    /// tx.commit()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Store errors; nothing is appended then, and the host should roll back.
    pub fn append_in(
        tx: &mut postgres::Transaction<'_>,
        schema: &str,
        algorithm: ChainAlgorithm,
        batch: Vec<PreparedRecord>,
    ) -> Result<Vec<Receipt>> {
        let tables = schema::Tables::new(schema);
        if let Some(id) = schema::chain_key(tx, &tables, None)? {
            return Err(Error::invalid(
                "chain_key",
                format!("the trail is keyed (key {id}): use PostgresSink::append_in_keyed"),
            ));
        }
        let mut out = write::append(tx, &tables, (algorithm, None), &[&Work::Prepared(batch)])?;
        Ok(out.pop().unwrap_or_default())
    }

    /// [`append_in`](Self::append_in) for a keyed trail: the records are sealed under
    /// `key`, which must be the trail's.
    ///
    /// # Errors
    /// As [`append_in`](Self::append_in); [`Error::InvalidInput`] when `key` is not the
    /// trail's.
    pub fn append_in_keyed(
        tx: &mut postgres::Transaction<'_>,
        schema: &str,
        algorithm: ChainAlgorithm,
        key: &ChainKey,
        batch: Vec<PreparedRecord>,
    ) -> Result<Vec<Receipt>> {
        let tables = schema::Tables::new(schema);
        schema::chain_key(tx, &tables, Some(key))?;
        let mut out = write::append(
            tx,
            &tables,
            (algorithm, Some(key)),
            &[&Work::Prepared(batch)],
        )?;
        Ok(out.pop().unwrap_or_default())
    }

    /// The PostgreSQL schema holding the trail.
    pub fn schema(&self) -> &str {
        &self.store().tables.name
    }

    fn store(&self) -> &PgStore {
        self.inner.committer()
    }

    /// Runs `f` on a pooled connection (see [`SafePool::with_client`]).
    fn with_client<T: Send>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T> + Send,
    ) -> Result<T> {
        self.store().pool.with_client(f)
    }

    /// PostgreSQL's plan (`EXPLAIN`) for each statement `query` runs, one line per plan
    /// line: for checking that a query uses an index.
    ///
    /// # Errors
    /// Store failures.
    pub fn query_plan(&self, query: &Query) -> Result<Vec<String>> {
        read::explain(self, query)
    }

    /// A connection from the sink's pool, for tests that inspect the tables.
    #[cfg(feature = "conformance")]
    #[doc(hidden)]
    pub fn raw_client(&self) -> Result<impl std::ops::DerefMut<Target = postgres::Client>> {
        let pool = self
            .store()
            .pool
            .0
            .as_ref()
            .ok_or_else(|| Error::store("postgres", "the pool is closed"))?;
        pool.get().map_err(pool_error)
    }
}

/// One transaction per group, on a pooled connection.
impl Committer for PgStore {
    fn commit(&self, jobs: &[&Work]) -> Result<Vec<Vec<Receipt>>> {
        self.check_writable()?;
        if let (Some(id), None) = (&self.key_id, &self.key) {
            return Err(Error::invalid(
                "chain_key",
                format!("the trail is keyed (key {id}): connect with its key to append"),
            ));
        }
        self.pool.with_client(|conn| {
            let mut tx = conn.transaction().map_err(pg_error)?;
            let receipts = write::append(
                &mut tx,
                &self.tables,
                (self.algorithm, self.key.as_ref()),
                jobs,
            )?;
            tx.commit().map_err(pg_error)?;
            Ok(receipts)
        })
    }
}

impl AuditSink for PostgresSink {
    fn append(&self, batch: Vec<PreparedRecord>) -> Result<Vec<Receipt>> {
        self.inner.submit(Work::Prepared(batch))
    }
}

impl SealedSink for PostgresSink {
    fn append_sealed(&self, records: Vec<Record>) -> Result<Vec<Receipt>> {
        self.inner.submit(Work::Sealed(records))
    }
}

impl AuditStore for PostgresSink {
    fn query<'a>(&'a self, query: &Query) -> Result<RecordStream<'a>> {
        let pages = read::PgPages::new(self, query)?;
        Ok(Box::new(Paged::new(pages, read::PAGE, query.limit)))
    }

    fn head(&self, tenant: &TenantId) -> Result<Option<Head>> {
        let sql = format!(
            "SELECT seq, hash FROM {} WHERE tenant = $1 ORDER BY seq DESC LIMIT 1",
            self.store().tables.records
        );
        let row = self.with_client(|c| c.query_opt(&sql, &[&tenant.as_str()]).map_err(pg_error))?;
        row.map(|r| {
            let seq: i64 = r.try_get(0).map_err(pg_error)?;
            let hash: Vec<u8> = r.try_get(1).map_err(pg_error)?;
            Ok(Head {
                seq: seq as u64,
                hash: Digest::from_slice(&hash).map_err(|w| Error::corrupt(seq as u64, w))?,
            })
        })
        .transpose()
    }

    fn chain_algorithm(&self) -> ChainAlgorithm {
        self.store().algorithm
    }

    fn chain_key_id(&self) -> Option<String> {
        self.store().key_id.clone()
    }

    fn tenants(&self) -> Result<Vec<TenantId>> {
        let sql = format!(
            "SELECT tenant FROM {} WHERE seq > anchor_seq ORDER BY tenant",
            self.store().tables.heads
        );
        let rows = self.with_client(|c| c.query(&sql, &[]).map_err(pg_error))?;
        let mut names = BTreeSet::new();
        for r in rows {
            names.insert(TenantId::new(r.try_get::<_, String>(0).map_err(pg_error)?));
        }
        Ok(names.into_iter().collect())
    }

    fn anchor(&self, tenant: &TenantId) -> Result<Head> {
        let sql = format!(
            "SELECT anchor_seq, anchor_hash FROM {} WHERE tenant = $1",
            self.store().tables.heads
        );
        let row = self.with_client(|c| c.query_opt(&sql, &[&tenant.as_str()]).map_err(pg_error))?;
        match row {
            None => Ok(Head {
                seq: 0,
                hash: Digest::ZERO,
            }),
            Some(r) => {
                let seq: i64 = r.try_get(0).map_err(pg_error)?;
                let hash: Vec<u8> = r.try_get(1).map_err(pg_error)?;
                Ok(Head {
                    seq: seq as u64,
                    hash: Digest::from_slice(&hash).map_err(|w| Error::corrupt(seq as u64, w))?,
                })
            }
        }
    }

    fn count(&self, query: &Query) -> Result<Option<u64>> {
        read::count(self, query).map(Some)
    }

    fn census(&self, tenant: &TenantId, through: u64) -> Result<Option<Census>> {
        let through = i64::try_from(through).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT count(*) FILTER (WHERE seq <= $2), max(seq) FROM {} WHERE tenant = $1",
            self.store().tables.records
        );
        let row = self.with_client(|c| {
            c.query_one(&sql, &[&tenant.as_str(), &through])
                .map_err(pg_error)
        })?;
        let n: i64 = row.try_get(0).map_err(pg_error)?;
        let max: Option<i64> = row.try_get(1).map_err(pg_error)?;
        Ok(Some(Census {
            records_through: u64::try_from(n).unwrap_or(0),
            last_seq: max.and_then(|m| u64::try_from(m).ok()),
        }))
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
}
