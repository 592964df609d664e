#![cfg(all(feature = "sqlx-sqlite", feature = "sqlx-postgres"))]
//! Appends inside the host's own sqlx transaction (issue #14), on SQLite and PostgreSQL:
//!
//! - a commit always has the record, a rollback never (nor a transaction dropped unfinished);
//! - the conformance suite with every append made through a sqlx transaction;
//! - sqlx transactions from tasks, the store's own appends from threads and a second process
//!   appending to one tenant at once: one gapless, valid chain.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use audit_log::conformance::{self, Harness, Tamper};
use audit_log::{
    Actor, AuditLog, AuditSink, AuditStore, AuditStoreExt, EntityRef, Entry, Event, PreparedRecord,
    Preparer, Query, Receipt, Record, RecordStream, SealedSink, SqliteSink, TenantId,
};

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
});

fn tenant() -> TenantId {
    TenantId::default()
}

fn deleted(i: u64) -> Event {
    Event::user_deleted(EntityRef::new(i, format!("user {i}")))
}

/// Where the appends go: a sqlx pool on the store's database.
#[derive(Clone)]
enum Via {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool, String),
}

impl Via {
    /// One sqlx transaction: a write to the host's own table, the audit records, then commit
    /// (or rollback).
    async fn append(
        &self,
        batch: Vec<PreparedRecord>,
        commit: bool,
    ) -> audit_log::Result<Vec<Receipt>> {
        let first = batch
            .first()
            .map(|p| p.id().to_string())
            .unwrap_or_default();
        let receipts = match self {
            Via::Sqlite(pool) => {
                // Immediate: the write lock is held before the head is read.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
                sqlx::query("INSERT INTO host_changes (note) VALUES (?)")
                    .bind(&first)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                let r = audit_log::sqlx::append_in_sqlite(&mut tx, batch).await?;
                if commit {
                    tx.commit().await.unwrap();
                } else {
                    tx.rollback().await.unwrap();
                }
                r
            }
            Via::Postgres(pool, schema) => {
                let mut tx = pool.begin().await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO {schema}_host.changes (note) VALUES ($1)"
                )))
                .bind(&first)
                .execute(&mut *tx)
                .await
                .unwrap();
                let r = audit_log::sqlx::append_in_postgres(&mut tx, schema, batch).await?;
                if commit {
                    tx.commit().await.unwrap();
                } else {
                    tx.rollback().await.unwrap();
                }
                r
            }
        };
        Ok(receipts)
    }
}

/// A store whose appends go through sqlx transactions; everything else is the store's own.
#[derive(Clone)]
struct ViaSqlx<S> {
    store: S,
    via: Via,
}

impl<S: std::fmt::Debug> std::fmt::Debug for ViaSqlx<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ViaSqlx").field(&self.store).finish()
    }
}

impl<S: AuditSink + SealedSink + AuditStore + Clone> AuditSink for ViaSqlx<S> {
    fn append(&self, batch: Vec<PreparedRecord>) -> audit_log::Result<Vec<Receipt>> {
        let via = self.via.clone();
        RUNTIME.block_on(async move { via.append(batch, true).await })
    }
}

impl<S: AuditSink + SealedSink + AuditStore + Clone> SealedSink for ViaSqlx<S> {
    fn append_sealed(&self, records: Vec<Record>) -> audit_log::Result<Vec<Receipt>> {
        self.store.append_sealed(records)
    }
}

impl<S: AuditSink + SealedSink + AuditStore + Clone> AuditStore for ViaSqlx<S> {
    fn query<'a>(&'a self, query: &Query) -> audit_log::Result<RecordStream<'a>> {
        self.store.query(query)
    }
    fn head(&self, tenant: &TenantId) -> audit_log::Result<Option<audit_log::Head>> {
        self.store.head(tenant)
    }
    fn chain_algorithm(&self) -> audit_log::ChainAlgorithm {
        self.store.chain_algorithm()
    }
    fn tenants(&self) -> audit_log::Result<Vec<TenantId>> {
        self.store.tenants()
    }
    fn anchor(&self, tenant: &TenantId) -> audit_log::Result<audit_log::Head> {
        self.store.anchor(tenant)
    }
    fn count(&self, query: &Query) -> audit_log::Result<Option<u64>> {
        self.store.count(query)
    }
    fn census(
        &self,
        tenant: &TenantId,
        through: u64,
    ) -> audit_log::Result<Option<audit_log::Census>> {
        self.store.census(tenant, through)
    }
    fn scan_mentions(
        &self,
        tenant: &TenantId,
        first: u64,
        last: u64,
        visit: &mut dyn FnMut(audit_log::MentionRow<'_>),
    ) -> audit_log::Result<bool> {
        self.store.scan_mentions(tenant, first, last, visit)
    }
}

// ---- SQLite ---------------------------------------------------------------------------------

/// A store file with the host's own table, and a sqlx pool on it.
fn sqlite_pair(dir: &std::path::Path, name: &str) -> (SqliteSink, Via) {
    let path = dir.join(name);
    let store = SqliteSink::open(&path).unwrap();
    let pool = RUNTIME.block_on(async {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE IF NOT EXISTS host_changes (id INTEGER PRIMARY KEY, note TEXT)")
            .execute(&pool)
            .await
            .unwrap();
        pool
    });
    (store, Via::Sqlite(pool))
}

fn host_changes(via: &Via) -> i64 {
    let via = via.clone();
    RUNTIME.block_on(async move {
        match via {
            Via::Sqlite(pool) => sqlx::query_scalar("SELECT count(*) FROM host_changes")
                .fetch_one(&pool)
                .await
                .unwrap(),
            Via::Postgres(pool, schema) => sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM {schema}_host.changes"
            )))
            .fetch_one(&pool)
            .await
            .unwrap(),
        }
    })
}

/// A commit has the record, a rollback has neither the host's change nor the record, and a
/// transaction dropped before its end (a cancelled request) is a rollback.
fn commit_and_rollback(store: &(impl AuditStore + ?Sized), via: &Via) {
    let preparer = Preparer::new();
    let prepare = |i| {
        preparer
            .prepare(Entry::new(Actor::user(1, "root"), deleted(i)))
            .unwrap()
    };
    let t = tenant();
    let r = RUNTIME
        .block_on(via.append(vec![prepare(1)], true))
        .unwrap();
    assert_eq!(r[0].seq, 1);
    assert_eq!(host_changes(via), 1);
    RUNTIME
        .block_on(via.append(vec![prepare(2)], false))
        .unwrap();
    assert_eq!(host_changes(via), 1);
    assert_eq!(
        store.head(&t).unwrap().map(|h| h.seq),
        Some(1),
        "a rollback leaves no record"
    );
    // Dropped unfinished.
    let v = via.clone();
    let p = prepare(3);
    RUNTIME.block_on(async move {
        match v {
            Via::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
                audit_log::sqlx::append_in_sqlite(&mut tx, vec![p])
                    .await
                    .unwrap();
                drop(tx);
            }
            Via::Postgres(pool, schema) => {
                let mut tx = pool.begin().await.unwrap();
                audit_log::sqlx::append_in_postgres(&mut tx, &schema, vec![p])
                    .await
                    .unwrap();
                drop(tx);
            }
        }
    });
    assert_eq!(store.head(&t).unwrap().map(|h| h.seq), Some(1));
    let r = RUNTIME
        .block_on(via.append(vec![prepare(4), prepare(5)], true))
        .unwrap();
    assert_eq!(r.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![2, 3]);
    assert!(store.verify(&t).unwrap().is_intact());
}

#[test]
fn sqlite_commit_has_the_record_and_rollback_has_none() {
    let dir = tempfile::tempdir().unwrap();
    let (store, via) = sqlite_pair(dir.path(), "audit.db");
    commit_and_rollback(&store, &via);
}

struct SqliteSqlxHarness {
    dir: tempfile::TempDir,
    n: AtomicU32,
}

impl Harness for SqliteSqlxHarness {
    type Store = ViaSqlx<SqliteSink>;
    fn fresh(&self) -> Self::Store {
        let name = format!("c{}.db", self.n.fetch_add(1, Ordering::Relaxed));
        let (store, via) = sqlite_pair(self.dir.path(), &name);
        ViaSqlx { store, via }
    }
    fn tamper(&self, _: &Self::Store, _: &TenantId, _: Tamper) -> bool {
        false
    }
}

#[test]
fn conformance_with_every_append_through_a_sqlx_sqlite_transaction() {
    conformance::run_all(&SqliteSqlxHarness {
        dir: tempfile::tempdir().unwrap(),
        n: AtomicU32::new(0),
    });
}

// ---- PostgreSQL -----------------------------------------------------------------------------

static SCHEMAS: AtomicU32 = AtomicU32::new(0);

fn pg_url(test: &str) -> Option<String> {
    let url = std::env::var("AUDIT_LOG_POSTGRES_URL").ok();
    if url.is_none() {
        eprintln!("postgres test {test} NOT RUN: set AUDIT_LOG_POSTGRES_URL to run it");
    }
    url
}

/// A trail schema (installed by connecting a `PostgresSink`) with the host's own table in a
/// schema beside it, and a sqlx pool; both schemas dropped at the end.
struct PgPair {
    store: audit_log::PostgresSink,
    via: Via,
    url: String,
    schema: String,
}

impl PgPair {
    fn new(url: &str) -> Self {
        let schema = format!(
            "audit_sqlx_{}_{}",
            std::process::id(),
            SCHEMAS.fetch_add(1, Ordering::Relaxed)
        );
        let store = audit_log::PostgresSink::connect_with(
            url,
            audit_log::PostgresOptions::new()
                .schema(&schema)
                .pool_size(4),
        )
        .unwrap();
        let pool = RUNTIME.block_on(async {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(6)
                .connect(url)
                .await
                .unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA {schema}_host; CREATE TABLE {schema}_host.changes (id bigserial PRIMARY KEY, note text)"
            )))
            .execute(&pool)
            .await
            .unwrap();
            pool
        });
        PgPair {
            store,
            via: Via::Postgres(pool, schema.clone()),
            url: url.to_owned(),
            schema,
        }
    }
}

impl Drop for PgPair {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let s = &self.schema;
            let _ = c.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {s} CASCADE; DROP SCHEMA IF EXISTS {s}_host CASCADE"
            ));
        }
    }
}

#[test]
fn postgres_commit_has_the_record_and_rollback_has_none() {
    let Some(url) = pg_url("postgres_commit_has_the_record_and_rollback_has_none") else {
        return;
    };
    let pair = PgPair::new(&url);
    commit_and_rollback(&pair.store, &pair.via);
}

struct PgSqlxHarness {
    url: String,
    pairs: Mutex<Vec<PgPair>>,
}

impl Harness for PgSqlxHarness {
    type Store = ViaSqlx<audit_log::PostgresSink>;
    fn fresh(&self) -> Self::Store {
        let pair = PgPair::new(&self.url);
        let store = ViaSqlx {
            store: pair.store.clone(),
            via: pair.via.clone(),
        };
        self.pairs.lock().unwrap().push(pair);
        store
    }
    fn tamper(&self, _: &Self::Store, _: &TenantId, _: Tamper) -> bool {
        false
    }
}

#[test]
fn conformance_with_every_append_through_a_sqlx_postgres_transaction() {
    let Some(url) = pg_url("conformance_with_every_append_through_a_sqlx_postgres_transaction")
    else {
        return;
    };
    conformance::run_all(&PgSqlxHarness {
        url,
        pairs: Mutex::new(Vec::new()),
    });
}

// ---- Everyone at once -----------------------------------------------------------------------

const CHILD: &str = "AUDIT_LOG_TEST_SQLX_CHILD";
const PER_WRITER: u64 = 60;

/// The second process: appends through the store's own sync API, then exits.
#[test]
fn child_appender() {
    let Ok(target) = std::env::var(CHILD) else {
        return;
    };
    let log = match target.split_once('|') {
        Some(("sqlite", path)) => AuditLog::builder(SqliteSink::open(path).unwrap()).build(),
        Some(("postgres", rest)) => {
            let (url, schema) = rest.split_once('|').unwrap();
            let store = audit_log::PostgresSink::connect_with(
                url,
                audit_log::PostgresOptions::new().schema(schema),
            )
            .unwrap();
            AuditLog::builder(store).build()
        }
        _ => panic!("bad child target {target}"),
    };
    for i in 0..PER_WRITER {
        log.record(&Actor::service("child"), deleted(30_000 + i))
            .unwrap();
    }
}

/// Four tasks appending through sqlx transactions, four threads through the store, and a
/// second process through its own store handle, at once: every record once, one chain.
fn everyone_at_once(store: impl AuditSink + AuditStore + Clone, via: Via, child_target: String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_appender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, child_target)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let preparer = Arc::new(Preparer::new());
    let tasks: Vec<_> = (0..4u64)
        .map(|w| {
            let (via, preparer) = (via.clone(), Arc::clone(&preparer));
            RUNTIME.spawn(async move {
                for i in 0..PER_WRITER {
                    let p = preparer
                        .prepare(Entry::new(
                            Actor::service("sqlx"),
                            deleted(10_000 + w * 1000 + i),
                        ))
                        .unwrap();
                    // Every other transaction rolls back: its records must not appear.
                    let commit = i % 2 == 0;
                    via.append(vec![p], commit).await.unwrap();
                }
            })
        })
        .collect();
    let threads: Vec<_> = (0..4u64)
        .map(|w| {
            let log = AuditLog::builder(store.clone()).build();
            std::thread::spawn(move || {
                for i in 0..PER_WRITER {
                    log.record(&Actor::service("thread"), deleted(20_000 + w * 1000 + i))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    RUNTIME.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert!(child.wait().unwrap().success());
    let t = tenant();
    let records: Vec<Record> = store
        .query(&Query::new())
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let want = 4 * PER_WRITER / 2 + 4 * PER_WRITER + PER_WRITER;
    assert_eq!(records.len() as u64, want);
    assert_eq!(
        records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=want).collect::<Vec<_>>(),
        "gapless"
    );
    let ids = |actor: &str| records.iter().filter(|r| r.actor.id == actor).count() as u64;
    assert_eq!(
        (ids("sqlx"), ids("thread"), ids("child")),
        (2 * PER_WRITER, 4 * PER_WRITER, PER_WRITER)
    );
    let report = store.verify(&t).unwrap();
    assert!(report.is_intact(), "{report}");
}

#[test]
fn sqlite_sqlx_transactions_threads_and_a_process_share_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (store, via) = sqlite_pair(dir.path(), "shared.db");
    let target = format!("sqlite|{}", dir.path().join("shared.db").display());
    everyone_at_once(store, via, target);
}

#[test]
fn postgres_sqlx_transactions_threads_and_a_process_share_one_chain() {
    let Some(url) = pg_url("postgres_sqlx_transactions_threads_and_a_process_share_one_chain")
    else {
        return;
    };
    let pair = PgPair::new(&url);
    let target = format!("postgres|{}|{}", pair.url, pair.schema);
    everyone_at_once(pair.store.clone(), pair.via.clone(), target);
}

/// The schema checks: a schema that holds no trail, a keyed trail without its key.
#[test]
fn postgres_refuses_a_missing_schema_and_a_keyed_trail_without_its_key() {
    let Some(url) = pg_url("postgres_refuses_a_missing_schema_and_a_keyed_trail_without_its_key")
    else {
        return;
    };
    let pair = PgPair::new(&url);
    let Via::Postgres(pool, _) = pair.via.clone() else {
        unreachable!()
    };
    let p = Preparer::new()
        .prepare(Entry::new(Actor::system(), deleted(1)))
        .unwrap();
    let err = RUNTIME.block_on(async {
        let mut tx = pool.begin().await.unwrap();
        audit_log::sqlx::append_in_postgres(&mut tx, "no_such_schema_here", vec![p]).await
    });
    assert!(
        matches!(err, Err(audit_log::Error::NotAStore { .. })),
        "{err:?}"
    );

    let keyed_schema = format!("{}_keyed", pair.schema);
    let key = audit_log::ChainKey::new("k1", [7; 32]).unwrap();
    let keyed = audit_log::PostgresSink::connect_with(
        &url,
        audit_log::PostgresOptions::new()
            .schema(&keyed_schema)
            .chain_key(key.clone()),
    )
    .unwrap();
    let prepare = || {
        Preparer::new()
            .prepare(Entry::new(Actor::system(), deleted(2)))
            .unwrap()
    };
    let (without, with) = RUNTIME.block_on(async {
        let mut tx = pool.begin().await.unwrap();
        let without =
            audit_log::sqlx::append_in_postgres(&mut tx, &keyed_schema, vec![prepare()]).await;
        drop(tx);
        let mut tx = pool.begin().await.unwrap();
        let with = audit_log::sqlx::append_in_postgres_keyed(
            &mut tx,
            &keyed_schema,
            &key,
            vec![prepare()],
        )
        .await;
        tx.commit().await.unwrap();
        (without, with)
    });
    assert!(
        matches!(without, Err(audit_log::Error::InvalidInput { .. })),
        "{without:?}"
    );
    assert_eq!(with.unwrap()[0].seq, 1);
    let report = audit_log::chain::verify_with(
        &keyed,
        &tenant(),
        &audit_log::chain::VerifyOptions::new().key(key),
    )
    .unwrap();
    assert!(report.is_intact(), "{report}");
    drop(keyed);
    if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
        let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {keyed_schema} CASCADE"));
    }
}
