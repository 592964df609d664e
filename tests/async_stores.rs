#![cfg(all(feature = "tokio", feature = "sqlite"))]
//! Every store from async code (issue #14):
//!
//! - every sync store operation called from inside `#[tokio::test]`, on a current-thread and
//!   on a multi-thread runtime, on every store (the sync PostgreSQL client used to panic there
//!   with "Cannot start a runtime from within a runtime", and again when dropped);
//! - the same through the async front door (`AsyncAuditLog`, `AsyncStore`, `AsyncHistory`);
//! - the conformance suite through the async front door, on every store;
//! - cancellation: a record future dropped at any point after its first poll is appended
//!   exactly once, one never polled is not appended.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::Poll;
use std::time::Duration;

use audit_log::async_log::{AsyncAuditLog, AsyncStore};
use audit_log::chain::{self, StorageCheck, VerifyOptions};
use audit_log::conformance::{self, Harness, Tamper};
use audit_log::{
    Actor, AuditLog, AuditSink, AuditStore, AuditStoreExt, EntityKey, EntityRef, Entry, Event,
    MemorySink, Point, PreparedRecord, PurgePoint, Query, Receipt, Record, RecordStream, Retention,
    RetentionExt, SealedSink, SqliteSink, TenantId, UserChange,
};
use futures_util::StreamExt as _;

fn tenant() -> TenantId {
    TenantId::default()
}

fn sqlite_store() -> (SqliteSink, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteSink::open(dir.path().join("audit.db")).unwrap();
    (store, dir)
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use audit_log::{PostgresOptions, PostgresSink};

    static SCHEMAS: AtomicU32 = AtomicU32::new(0);

    pub fn url(test: &str) -> Option<String> {
        let url = std::env::var("AUDIT_LOG_POSTGRES_URL").ok();
        if url.is_none() {
            eprintln!("postgres test {test} NOT RUN: set AUDIT_LOG_POSTGRES_URL to run it");
        }
        url
    }

    /// A schema of its own, dropped when the guard goes (from a thread of its own: the
    /// guard may be dropped inside a runtime).
    pub struct Schema {
        pub url: String,
        pub name: String,
    }

    impl Schema {
        pub fn new(url: &str) -> Self {
            let name = format!(
                "audit_async_{}_{}",
                std::process::id(),
                SCHEMAS.fetch_add(1, Ordering::Relaxed)
            );
            Schema {
                url: url.to_owned(),
                name,
            }
        }

        pub fn connect(&self) -> PostgresSink {
            PostgresSink::connect_with(
                &self.url,
                PostgresOptions::new().schema(&self.name).pool_size(4),
            )
            .unwrap()
        }
    }

    impl Drop for Schema {
        fn drop(&mut self) {
            let (url, name) = (self.url.clone(), self.name.clone());
            let _ = std::thread::spawn(move || {
                if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
                    let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
                }
            })
            .join();
        }
    }
}

/// Every operation of the sync API, on `store` (fresh), from wherever the caller runs.
fn every_sync_operation<S>(store: S, fresh: impl Fn() -> S)
where
    S: AuditSink + SealedSink + AuditStore + Retention + Clone,
{
    let log = AuditLog::builder(store.clone()).build();
    let admin = Actor::user(1, "root");
    for i in 0..10 {
        log.record(
            &admin,
            Event::user_added_to_group(EntityRef::new(i, "u"), EntityRef::new(7, "g")),
        )
        .unwrap();
    }
    log.record_batch([
        Entry::new(admin.clone(), Event::user_deleted(EntityRef::new(1, "u"))),
        Entry::new(
            admin.clone(),
            Event::user_edited(EntityRef::new(2, "u"), vec![UserChange::password_changed()]),
        ),
    ])
    .unwrap();
    let t = tenant();
    let all: Vec<Record> = store
        .query(&Query::new())
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(all.len(), 12);
    assert_eq!(store.head(&t).unwrap().map(|h| h.seq), Some(12));
    assert_eq!(store.tenants().unwrap(), vec![t.clone()]);
    assert_eq!(store.anchor(&t).unwrap().seq, 0);
    let by_entity = Query::new().entity(EntityKey::group(7));
    assert!(matches!(store.count(&by_entity).unwrap(), Some(10) | None));
    let _ = store.census(&t, 12).unwrap();
    let mut mentions = 0;
    let _ = store
        .scan_mentions(&t, 1, 12, &mut |_| mentions += 1)
        .unwrap();
    let _ = store.check_storage(StorageCheck::Quick).unwrap();
    assert!(store.verify(&t).unwrap().is_intact());
    let report = chain::verify_with(
        &store,
        &t,
        &VerifyOptions::new().storage(StorageCheck::Quick),
    )
    .unwrap();
    assert!(report.is_intact(), "{report}");
    // Imports: the trail into another store of the same kind.
    let copy = fresh();
    copy.append_sealed(all).unwrap();
    assert!(copy.verify(&t).unwrap().is_intact());
    drop(copy);
    // Retention.
    let purged = store
        .purge(
            log.preparer(),
            &t,
            PurgePoint::ThroughSeq(4),
            &Actor::service("retention"),
        )
        .unwrap();
    assert_eq!(purged.removed, 4);
    assert!(store.verify(&t).unwrap().is_intact());
    let history = audit_log::History::new(&store);
    assert!(history.access("3", Point::Head).is_ok());
    // The last handles are dropped here, where the caller runs.
    drop(log);
    drop(store);
}

macro_rules! in_both_runtimes {
    ($current:ident, $multi:ident, $body:expr) => {
        #[tokio::test(flavor = "current_thread")]
        async fn $current() {
            $body
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $multi() {
            $body
        }
    };
}

in_both_runtimes!(
    memory_sync_calls_in_a_current_thread_runtime,
    memory_sync_calls_in_a_multi_thread_runtime,
    every_sync_operation(MemorySink::new(), MemorySink::new)
);

in_both_runtimes!(
    sqlite_sync_calls_in_a_current_thread_runtime,
    sqlite_sync_calls_in_a_multi_thread_runtime,
    {
        let dir = tempfile::tempdir().unwrap();
        let n = AtomicU32::new(0);
        let fresh = || {
            SqliteSink::open(
                dir.path()
                    .join(format!("s{}.db", n.fetch_add(1, Ordering::Relaxed))),
            )
            .unwrap()
        };
        every_sync_operation(fresh(), fresh)
    }
);

#[cfg(feature = "postgres")]
in_both_runtimes!(
    postgres_sync_calls_in_a_current_thread_runtime,
    postgres_sync_calls_in_a_multi_thread_runtime,
    {
        let Some(url) = pg::url("postgres_sync_calls_in_a_runtime") else {
            return;
        };
        let schemas = std::sync::Mutex::new(Vec::new());
        let fresh = || {
            let s = pg::Schema::new(&url);
            let sink = s.connect();
            schemas.lock().unwrap().push(s);
            sink
        };
        every_sync_operation(fresh(), fresh);
    }
);

/// Every operation of the async front door on `store`.
async fn every_async_operation<S: AuditSink + AuditStore + Clone>(store: S) {
    let log = AsyncAuditLog::new(AuditLog::builder(store.clone()).build());
    let reader = AsyncStore::new(store.clone());
    let admin = Actor::user(1, "root");
    let alice = EntityRef::new(42, "alice");
    log.record(
        &admin,
        Event::user_added_to_group(alice.clone(), EntityRef::new(7, "Ops")),
    )
    .await
    .unwrap();
    let batch = log
        .record_batch((0..5).map(|i| {
            Entry::new(
                admin.clone(),
                Event::user_deleted(EntityRef::new(100 + i, "x")),
            )
        }))
        .await
        .unwrap();
    assert_eq!(
        batch.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![2, 3, 4, 5, 6]
    );
    let scoped = log.scoped(admin.clone());
    let receipt = scoped
        .record(Event::user_removed_from_group(
            alice,
            EntityRef::new(7, "Ops"),
        ))
        .await
        .unwrap();
    assert_eq!(receipt.seq, 7);
    let prepared: Vec<PreparedRecord> = vec![log
        .sync()
        .prepare(Entry::new(
            admin.clone(),
            Event::user_deleted(EntityRef::new(9, "z")),
        ))
        .unwrap()];
    assert_eq!(log.append(prepared).await.unwrap()[0].seq, 8);

    // Reads: the stream in both orders, with limits and a page boundary crossed.
    let all: Vec<Record> = reader
        .query(Query::new())
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(
        all.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    let newest: Vec<u64> = reader
        .query(Query::new().descending().limit(3))
        .map(|r| r.unwrap().seq)
        .collect()
        .await;
    assert_eq!(newest, vec![8, 7, 6]);
    let t = tenant();
    assert_eq!(
        reader.head(t.clone()).await.unwrap().map(|h| h.seq),
        Some(8)
    );
    assert_eq!(reader.anchor(t.clone()).await.unwrap().seq, 0);
    assert_eq!(reader.tenants().await.unwrap(), vec![t.clone()]);
    let _ = reader.count(Query::new()).await.unwrap();
    assert!(reader.verify(t.clone()).await.unwrap().is_intact());
    assert!(reader
        .verify_with(t.clone(), VerifyOptions::new())
        .await
        .unwrap()
        .is_intact());
    let history = reader.warm_history(t.clone());
    let access = history.access("42", Point::Head).await.unwrap();
    assert!(access.grants.is_empty());
    let timeline = history.timeline(EntityKey::user(42)).await.unwrap();
    assert_eq!(timeline.len(), 2);
    let state = history.state_at(Point::Seq(1)).await.unwrap();
    assert_eq!(state.seq(), 1);
    let n = reader
        .run(|s| Ok(s.query(&Query::new())?.count()))
        .await
        .unwrap();
    assert_eq!(n, 8);
    drop((log, reader, history, store));
}

in_both_runtimes!(
    memory_async_front_door_current_thread,
    memory_async_front_door_multi_thread,
    every_async_operation(MemorySink::new()).await
);

in_both_runtimes!(
    sqlite_async_front_door_current_thread,
    sqlite_async_front_door_multi_thread,
    {
        let (store, _dir) = sqlite_store();
        every_async_operation(store).await
    }
);

#[cfg(feature = "postgres")]
in_both_runtimes!(
    postgres_async_front_door_current_thread,
    postgres_async_front_door_multi_thread,
    {
        let Some(url) = pg::url("postgres_async_front_door") else {
            return;
        };
        let schema = pg::Schema::new(&url);
        every_async_operation(schema.connect()).await
    }
);

/// A store that cannot read one record (as a store whose row is damaged answers).
#[derive(Debug, Clone)]
struct OneBadRow(MemorySink, u64);

impl AuditStore for OneBadRow {
    fn query<'a>(&'a self, query: &Query) -> audit_log::Result<RecordStream<'a>> {
        let bad = self.1;
        Ok(Box::new(self.0.query(query)?.map(move |r| match r {
            Ok(r) if r.seq == bad => Err(audit_log::Error::corrupt(bad, "damaged row")),
            other => other,
        })))
    }
    fn head(&self, tenant: &TenantId) -> audit_log::Result<Option<audit_log::Head>> {
        self.0.head(tenant)
    }
    fn chain_algorithm(&self) -> audit_log::ChainAlgorithm {
        self.0.chain_algorithm()
    }
    fn tenants(&self) -> audit_log::Result<Vec<TenantId>> {
        self.0.tenants()
    }
}

/// A stream over more than one page, with an unreadable record on a page boundary, reads
/// every record once and goes on after the bad one.
#[tokio::test]
async fn a_stream_crosses_pages_and_goes_on_after_a_corrupt_record() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    log.record_batch(
        (0..1203).map(|i| Entry::new(Actor::system(), Event::user_deleted(EntityRef::id_only(i)))),
    )
    .unwrap();
    let reader = AsyncStore::new(store.clone());
    let asc: Vec<u64> = reader
        .query(Query::new())
        .map(|r| r.unwrap().seq)
        .collect()
        .await;
    assert_eq!(asc, (1..=1203).collect::<Vec<_>>());
    let desc: Vec<u64> = reader
        .query(Query::new().descending().limit(777))
        .map(|r| r.unwrap().seq)
        .collect()
        .await;
    assert_eq!(desc, (427..=1203).rev().collect::<Vec<_>>());
    let after: Vec<u64> = reader
        .query(Query::new().after_seq(1000).limit(501))
        .map(|r| r.unwrap().seq)
        .collect()
        .await;
    assert_eq!(after, (1001..=1203).collect::<Vec<_>>());
    // Seq 500 ends the first page: the next page must start after it.
    let damaged = AsyncStore::new(OneBadRow(store, 500));
    let items: Vec<Result<u64, u64>> = damaged
        .query(Query::new())
        .map(|r| match r {
            Ok(r) => Ok(r.seq),
            Err(audit_log::Error::Corrupt { seq, .. }) => Err(seq),
            Err(e) => panic!("{e}"),
        })
        .collect()
        .await;
    assert_eq!(items.len(), 1203);
    assert_eq!(items[499], Err(500));
    assert!(items
        .iter()
        .enumerate()
        .all(|(i, r)| i == 499 || *r == Ok(i as u64 + 1)));
}

// ---- Cancellation -------------------------------------------------------------------------

/// A small deterministic generator (no dependency for one test).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Polls `fut` once and drops it.
async fn poll_once_then_drop<F: Future>(fut: F) {
    let mut fut = pin!(fut);
    std::future::poll_fn(|cx| {
        let _ = fut.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await;
}

async fn cancellation_round(store: impl AuditSink + AuditStore + Clone, seed: u64) {
    let log = AsyncAuditLog::new(AuditLog::builder(store.clone()).build());
    let mut rng = XorShift(seed);
    let mut expected = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..300u64 {
        let fut = log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(i)));
        match rng.next() % 5 {
            // Never polled: must not be recorded.
            0 => drop(fut),
            // Polled once, then dropped at once.
            1 => {
                expected.push(i);
                poll_once_then_drop(fut).await;
            }
            // Dropped by a timeout at a random moment (a timeout polls its future first).
            2 => {
                expected.push(i);
                let wait = Duration::from_micros(rng.next() % 3000);
                tasks.push(tokio::spawn(async move {
                    let _ = tokio::time::timeout(wait, fut).await;
                }));
            }
            // Dropped by a select! that took another branch after a few yields.
            3 => {
                expected.push(i);
                let yields = rng.next() % 4;
                tasks.push(tokio::spawn(async move {
                    // Biased, with the record first: it is polled before the other
                    // branch can end the select.
                    tokio::select! {
                        biased;
                        _ = fut => {}
                        _ = async { for _ in 0..yields { tokio::task::yield_now().await } } => {}
                    }
                }));
            }
            // Awaited to the end.
            _ => {
                expected.push(i);
                tasks.push(tokio::spawn(async move {
                    fut.await.unwrap();
                }));
            }
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Appends handed to the blocking pool finish on their own: wait for the trail to settle.
    let t = tenant();
    let want = expected.len() as u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let head = store.head(&t).unwrap().map_or(0, |h| h.seq);
        if head >= want || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut got: Vec<u64> = store
        .query(&Query::new())
        .unwrap()
        .map(|r| match r.unwrap().event {
            Event::UserDeleted(d) => d.user.id.as_str().parse::<u64>().unwrap(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    got.sort_unstable();
    assert_eq!(
        got, expected,
        "seed {seed}: each polled record exactly once, none other"
    );
    assert!(store.verify(&t).unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_record_is_neither_lost_nor_duplicated_memory() {
    for seed in 1..=5 {
        cancellation_round(MemorySink::new(), seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_record_is_neither_lost_nor_duplicated_sqlite() {
    for seed in 1..=3 {
        let (store, _dir) = sqlite_store();
        cancellation_round(store, seed).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_cancelled_record_is_neither_lost_nor_duplicated_on_a_current_thread_runtime() {
    let (store, _dir) = sqlite_store();
    cancellation_round(store, 11).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_record_is_neither_lost_nor_duplicated_postgres() {
    let Some(url) = pg::url("a_cancelled_record_is_neither_lost_nor_duplicated_postgres") else {
        return;
    };
    let schema = pg::Schema::new(&url);
    cancellation_round(schema.connect(), 7).await;
}

// ---- The conformance suite through the async front door -----------------------------------

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
});

/// A store whose every append and read goes through the async front door (appends through
/// `AsyncAuditLog::append`, reads through `AsyncStore`), driven from the suite's threads.
#[derive(Debug, Clone)]
struct ViaAsync<S> {
    inner: S,
    log: AsyncAuditLog,
    reader: AsyncStore,
}

impl<S: AuditSink + SealedSink + AuditStore + Clone> ViaAsync<S> {
    fn new(inner: S) -> Self {
        ViaAsync {
            log: AsyncAuditLog::new(AuditLog::builder(inner.clone()).build()),
            reader: AsyncStore::new(inner.clone()),
            inner,
        }
    }
}

impl<S: AuditSink + SealedSink + AuditStore + Clone> AuditSink for ViaAsync<S> {
    fn append(&self, batch: Vec<PreparedRecord>) -> audit_log::Result<Vec<Receipt>> {
        RUNTIME.block_on(self.log.append(batch))
    }
}

impl<S: AuditSink + SealedSink + AuditStore + Clone> SealedSink for ViaAsync<S> {
    fn append_sealed(&self, records: Vec<Record>) -> audit_log::Result<Vec<Receipt>> {
        let inner = self.inner.clone();
        RUNTIME
            .block_on(async move {
                tokio::task::spawn_blocking(move || inner.append_sealed(records)).await
            })
            .unwrap()
    }
}

impl<S: AuditSink + SealedSink + AuditStore + Clone> AuditStore for ViaAsync<S> {
    fn query<'a>(&'a self, query: &Query) -> audit_log::Result<RecordStream<'a>> {
        let items: Vec<_> = RUNTIME.block_on(self.reader.query(query.clone()).collect());
        Ok(Box::new(items.into_iter()))
    }
    fn head(&self, tenant: &TenantId) -> audit_log::Result<Option<audit_log::Head>> {
        RUNTIME.block_on(self.reader.head(tenant.clone()))
    }
    fn chain_algorithm(&self) -> audit_log::ChainAlgorithm {
        self.inner.chain_algorithm()
    }
    fn tenants(&self) -> audit_log::Result<Vec<TenantId>> {
        RUNTIME.block_on(self.reader.tenants())
    }
    fn anchor(&self, tenant: &TenantId) -> audit_log::Result<audit_log::Head> {
        RUNTIME.block_on(self.reader.anchor(tenant.clone()))
    }
    fn count(&self, query: &Query) -> audit_log::Result<Option<u64>> {
        RUNTIME.block_on(self.reader.count(query.clone()))
    }
    fn census(
        &self,
        tenant: &TenantId,
        through: u64,
    ) -> audit_log::Result<Option<audit_log::Census>> {
        let tenant = tenant.clone();
        RUNTIME.block_on(self.reader.run(move |s| s.census(&tenant, through)))
    }
    fn scan_mentions(
        &self,
        tenant: &TenantId,
        first: u64,
        last: u64,
        visit: &mut dyn FnMut(audit_log::MentionRow<'_>),
    ) -> audit_log::Result<bool> {
        self.inner.scan_mentions(tenant, first, last, visit)
    }
}

struct AsyncHarness<F>(F);

impl<S, F> Harness for AsyncHarness<F>
where
    S: AuditSink + SealedSink + AuditStore + Clone,
    F: Fn() -> S,
{
    type Store = ViaAsync<S>;
    fn fresh(&self) -> ViaAsync<S> {
        ViaAsync::new((self.0)())
    }
    /// Tampering is the stores' own business, proved by their own suites; here only what
    /// goes through the front door is checked.
    fn tamper(&self, _store: &ViaAsync<S>, _tenant: &TenantId, _op: Tamper) -> bool {
        false
    }
}

#[test]
fn conformance_through_the_async_front_door_memory() {
    conformance::run_all(&AsyncHarness(MemorySink::new));
}

#[test]
fn conformance_through_the_async_front_door_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicU32::new(0);
    conformance::run_all(&AsyncHarness(|| {
        SqliteSink::open(
            dir.path()
                .join(format!("c{}.db", n.fetch_add(1, Ordering::Relaxed))),
        )
        .unwrap()
    }));
}

#[cfg(feature = "postgres")]
#[test]
fn conformance_through_the_async_front_door_postgres() {
    let Some(url) = pg::url("conformance_through_the_async_front_door_postgres") else {
        return;
    };
    let schemas = std::sync::Mutex::new(Vec::new());
    conformance::run_all(&AsyncHarness(|| {
        let s = pg::Schema::new(&url);
        let sink = s.connect();
        schemas.lock().unwrap().push(s);
        sink
    }));
}

/// An `Arc<dyn Store>` picked at run time works through the front door too.
#[tokio::test]
async fn a_shared_dyn_store_through_the_front_door() {
    let (sqlite, _dir) = sqlite_store();
    let store: Arc<dyn audit_log::Store> = Arc::new(sqlite);
    let log = AsyncAuditLog::new(AuditLog::builder(Arc::clone(&store)).build());
    let reader = AsyncStore::from_arc(store.clone());
    log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(1)))
        .await
        .unwrap();
    assert_eq!(reader.head(tenant()).await.unwrap().map(|h| h.seq), Some(1));
}
