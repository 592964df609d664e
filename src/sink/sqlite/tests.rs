//! The conformance suite over file-backed and in-memory stores, and checks of the internals.

use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::{params, Connection};

use super::*;
use crate::conformance::{self, Tamper};

/// Removes the append-only triggers, as someone with raw access to the file could.
pub(crate) fn drop_triggers(conn: &Connection) {
    conn.execute_batch(
        "DROP TRIGGER audit_records_no_update; DROP TRIGGER audit_records_no_delete;
         DROP TRIGGER audit_mentions_no_update; DROP TRIGGER audit_mentions_no_delete;",
    )
    .unwrap();
}

/// Applies a [`Tamper`] with raw SQL.
pub(crate) fn tamper_sql(conn: &Connection, tenant: &TenantId, op: Tamper) {
    let t = tenant.as_str();
    drop_triggers(conn);
    match op {
        Tamper::Alter { seq } => {
            conn.execute(
                "UPDATE audit_records SET actor_display = 'mallory' WHERE tenant = ?1 AND seq = ?2",
                params![t, seq as i64],
            )
            .unwrap();
        }
        Tamper::Delete { seq } => {
            for table in ["audit_records", "audit_mentions"] {
                conn.execute(
                    &format!("DELETE FROM {table} WHERE tenant = ?1 AND seq = ?2"),
                    params![t, seq as i64],
                )
                .unwrap();
            }
        }
        Tamper::Swap { a, b } => {
            // Moving the seqs moves everything else: the rows trade places.
            for table in ["audit_records", "audit_mentions"] {
                let sql = format!("UPDATE {table} SET seq = ?3 WHERE tenant = ?1 AND seq = ?2");
                let tmp = 1_000_000_000_i64;
                conn.execute(&sql, params![t, a as i64, tmp]).unwrap();
                conn.execute(&sql, params![t, b as i64, a as i64]).unwrap();
                conn.execute(&sql, params![t, tmp, b as i64]).unwrap();
            }
        }
        Tamper::Truncate { from } => {
            for table in ["audit_records", "audit_mentions"] {
                conn.execute(
                    &format!("DELETE FROM {table} WHERE tenant = ?1 AND seq >= ?2"),
                    params![t, from as i64],
                )
                .unwrap();
            }
        }
    }
}

struct FileHarness {
    dir: tempfile::TempDir,
    n: AtomicUsize,
    algorithm: ChainAlgorithm,
}

impl FileHarness {
    fn new(algorithm: ChainAlgorithm) -> Self {
        FileHarness {
            dir: tempfile::tempdir().unwrap(),
            n: AtomicUsize::new(0),
            algorithm,
        }
    }
}

impl conformance::Harness for FileHarness {
    type Store = SqliteSink;
    fn fresh(&self) -> SqliteSink {
        let n = self.n.fetch_add(1, Ordering::Relaxed);
        SqliteOptions::new()
            .chain_algorithm(self.algorithm)
            .durability(Durability::ProcessCrash)
            .open(self.dir.path().join(format!("{n}.db")))
            .unwrap()
    }
    fn tamper(&self, store: &SqliteSink, tenant: &TenantId, op: Tamper) -> bool {
        let conn = Connection::open(store.path().unwrap()).unwrap();
        tamper_sql(&conn, tenant, op);
        true
    }
}

struct MemoryHarness;

impl conformance::Harness for MemoryHarness {
    type Store = SqliteSink;
    fn fresh(&self) -> SqliteSink {
        SqliteSink::open_in_memory().unwrap()
    }
    fn tamper(&self, store: &SqliteSink, tenant: &TenantId, op: Tamper) -> bool {
        store.with_writer(|conn| tamper_sql(conn, tenant, op));
        true
    }
}

#[test]
fn file_store_passes_the_conformance_suite() {
    conformance::run_all(&FileHarness::new(ChainAlgorithm::Sha256));
}

#[test]
fn file_store_with_blake3_passes_the_conformance_suite() {
    conformance::run_all(&FileHarness::new(ChainAlgorithm::Blake3));
}

#[test]
fn in_memory_store_passes_the_conformance_suite() {
    conformance::run_all(&MemoryHarness);
}

#[test]
fn file_and_in_memory_stores_pass_the_purge_checks() {
    conformance::purge::run_all(&FileHarness::new(ChainAlgorithm::Sha256));
    conformance::purge::run_all(&MemoryHarness);
}

#[test]
fn sink_is_send_sync_and_cheap_to_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<SqliteSink>();
}

#[test]
fn a_later_migration_applies_once_in_its_own_transaction() {
    const NEXT: &str =
        "CREATE INDEX audit_records_outcome ON audit_records (tenant, outcome, seq);";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    drop(SqliteSink::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let migrations: Vec<&str> = schema::MIGRATIONS.iter().copied().chain([NEXT]).collect();
    let next = schema::CURRENT + 1;
    let alg = schema::install_with(&conn, None, None, true, &migrations).unwrap();
    assert_eq!(alg, ChainAlgorithm::default());
    let has_index: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'audit_records_outcome')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(has_index);
    let uv: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        uv, next,
        "user_version mirrors the version in a file the store owns"
    );
    // Running again is a no-op (the index would fail to create twice).
    schema::install_with(&conn, None, None, true, &migrations).unwrap();
    // This build now refuses the file.
    drop(conn);
    match SqliteSink::open(&path) {
        Err(Error::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (next, schema::CURRENT))
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn a_failing_migration_leaves_the_old_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    drop(SqliteSink::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let migrations: Vec<&str> = schema::MIGRATIONS
        .iter()
        .copied()
        .chain(["CREATE TABLE x (a); THIS IS NOT SQL;"])
        .collect();
    assert!(schema::install_with(&conn, None, None, true, &migrations).is_err());
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'x')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!exists, "the migration rolled back whole");
    drop(conn);
    SqliteSink::open(&path).expect("still a version 1 store");
}

/// Failing jobs grouped with good ones (a group first runs without savepoints, then again
/// with them when a job fails) fail alone: every good append lands once, gapless.
#[test]
fn failing_jobs_in_a_group_fail_alone() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 30;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteOptions::new()
        .durability(Durability::PowerLoss)
        .open(dir.path().join("g.db"))
        .unwrap();
    let log = crate::AuditLog::builder(store.clone()).build();
    let entry = |i: u64| {
        crate::Entry::new(
            crate::Actor::service("svc"),
            crate::Event::user_deleted(crate::EntityRef::id_only(i)),
        )
    };
    log.record_entry(entry(0)).unwrap();
    let tenant = TenantId::default();
    let first = store
        .query(&crate::Query::for_tenant(tenant.clone()))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (log, store, first) = (log.clone(), store.clone(), first.clone());
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    if t % 2 == 0 {
                        log.record_entry(entry(t * 1000 + i + 1)).unwrap();
                    } else {
                        // Seq 1 again: never a continuation, so this job always fails.
                        let err = store.append_sealed(vec![first.clone()]).unwrap_err();
                        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
                    }
                }
            });
        }
    });
    let n = 1 + THREADS / 2 * PER_THREAD;
    let seqs: Vec<u64> = store
        .query(&crate::Query::for_tenant(tenant.clone()))
        .unwrap()
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
    let report = crate::chain::verify(&store, &tenant).unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.count, n);
}

/// A file written by version 1 of the schema (mentions with a role column, no context
/// indexes) is migrated forward on open: every record and mention is kept, entity, request
/// and IP queries answer from the new indexes, and the chain still verifies.
#[test]
fn a_version_1_file_is_migrated_with_its_mentions() {
    use crate::prepare::{Entry, Preparer};
    use crate::record::Context;
    use crate::{AuditStoreExt, EntityKey, EntityRef, Event, MemorySink, SealedSink};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    // Records as version 1 stored them: made in memory, then written with v1's SQL.
    let memory = MemorySink::new();
    let p = Preparer::new();
    let ip: std::net::IpAddr = "10.0.0.7".parse().unwrap();
    for i in 1..=6u64 {
        let ctx = Context::new().request_id(format!("req-{}", i % 2)).ip(ip);
        let entry = Entry::new(
            crate::Actor::system(),
            Event::user_added_to_group(EntityRef::new(i, "u"), EntityRef::new(7, "g")),
        )
        .context(ctx);
        memory.append(vec![p.prepare(entry).unwrap()]).unwrap();
    }
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        schema::install_with(&conn, None, None, true, &schema::MIGRATIONS[..1]).unwrap();
        for r in memory.records() {
            // Version 1's columns: the shared list before `seal` came.
            let cols = crate::sink::row::RECORD_COLUMNS[..19].join(", ");
            let marks: Vec<String> = (1..=19).map(|i| format!("?{i}")).collect();
            conn.execute(
                &format!(
                    "INSERT INTO audit_records ({cols}) VALUES ({})",
                    marks.join(", ")
                ),
                params![
                    r.tenant.as_str(),
                    r.seq as i64,
                    &r.id.as_bytes()[..],
                    r.occurred_at.timestamp_micros(),
                    r.actor.kind.as_str(),
                    r.actor.id,
                    r.actor.display,
                    r.event.name(),
                    r.outcome.as_str(),
                    r.context.ip.map(|i| i.to_string()),
                    r.context.user_agent,
                    r.context.request_id,
                    r.context.correlation_id,
                    r.context.reason,
                    r.schema_version,
                    r.chain.as_str(),
                    &r.prev_hash.0[..],
                    &r.hash.0[..],
                    r.event.to_json(),
                ],
            )
            .unwrap();
            for (m, role) in r.event.mentions().iter().zip(["target", "related"]) {
                conn.execute(
                    "INSERT INTO audit_mentions (tenant, kind, entity_id, seq, role) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![r.tenant.as_str(), m.kind.as_str(), m.id.as_str(), r.seq as i64, role],
                )
                .unwrap();
            }
        }
        let uv: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(uv, 1);
    }
    let store = SqliteSink::open(&path).unwrap();
    let tenant = TenantId::default();
    assert!(store.verify(&tenant).unwrap().is_intact());
    let seqs =
        |q: &Query| -> Vec<u64> { store.query(q).unwrap().map(|r| r.unwrap().seq).collect() };
    assert_eq!(seqs(&Query::new().entity(EntityKey::group(7))).len(), 6);
    assert_eq!(seqs(&Query::new().entity(EntityKey::user(3))), vec![3]);
    assert_eq!(seqs(&Query::new().request_id("req-1")), vec![1, 3, 5]);
    assert_eq!(seqs(&Query::new().ip(ip)).len(), 6);
    let plan = store
        .query_plan(&Query::new().request_id("req-1"))
        .unwrap()
        .join(" | ");
    assert!(plan.contains("audit_records_request"), "{plan}");
    store.with_writer(|conn| {
        let uv: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(uv, schema::CURRENT);
        let roles: i64 = conn
            .query_row(
                "SELECT count(*) FROM pragma_table_info('audit_mentions') WHERE name = 'role'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(roles, 0, "mentions are laid out as in PostgreSQL");
        let refused = conn.execute("DELETE FROM audit_mentions", []);
        assert!(
            refused.is_err(),
            "the recreated triggers guard the new table"
        );
    });
    // And the migrated store takes new records, imports included.
    let log = crate::AuditLog::builder(store.clone()).build();
    log.record(
        &crate::Actor::system(),
        Event::user_deleted(EntityRef::id_only(1)),
    )
    .unwrap();
    let copy = SqliteSink::open_in_memory().unwrap();
    let all: Vec<_> = store
        .query(&Query::new())
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    copy.append_sealed(all).unwrap();
    assert!(copy.verify(&tenant).unwrap().is_intact());
}

/// The purge gate is open only inside a purge, on the store's own connection: after a purge
/// (also a failed one) the write connection's gate answers nothing and its deletes are
/// refused like anyone's.
#[test]
fn the_purge_gate_is_closed_outside_a_purge() {
    use crate::prepare::Preparer;
    use crate::{AuditLog, EntityRef, Event, PurgePoint, RetentionExt};
    let store = SqliteSink::open_in_memory().unwrap();
    let log = AuditLog::builder(store.clone()).build();
    for i in 0..6 {
        log.record(
            &crate::Actor::system(),
            Event::user_deleted(EntityRef::id_only(i)),
        )
        .unwrap();
    }
    let tenant = TenantId::default();
    let closed = |store: &SqliteSink| {
        store.with_writer(|conn| {
            let gate: Option<i64> = conn
                .query_row("SELECT audit_log_purge_through('default')", [], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(gate, None, "the gate answers nothing");
            let err = conn.execute("DELETE FROM audit_records WHERE seq = 6", []);
            assert!(err.unwrap_err().to_string().contains("append-only"));
        })
    };
    store
        .purge(
            &Preparer::new(),
            &tenant,
            PurgePoint::ThroughSeq(2),
            &crate::Actor::system(),
        )
        .unwrap();
    closed(&store);
    // A purge that fails after opening the gate (the trail has a gap) closes it too.
    store.with_writer(|conn| {
        let saved: Vec<String> = conn
            .prepare("SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name LIKE '%no_delete' OR name LIKE '%no_update'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        drop_triggers(conn);
        conn.execute("DELETE FROM audit_records WHERE seq = 4", []).unwrap();
        for sql in saved.iter().filter(|s| !s.contains("audit_anchors") && !s.contains("audit_meta")) {
            conn.execute_batch(sql).unwrap();
        }
    });
    // The orchestrator refuses to purge over the gap; the store itself, handed a plan over it
    // directly, fails after opening the gate (it finds fewer rows than the plan said).
    let refused = store.purge(
        &Preparer::new(),
        &tenant,
        PurgePoint::ThroughSeq(5),
        &crate::Actor::system(),
    );
    assert!(
        matches!(refused, Err(Error::Verification(_))),
        "{refused:?}"
    );
    let at5 = crate::AuditStoreExt::get(&store, &tenant, 5)
        .unwrap()
        .unwrap();
    let plan = crate::PurgePlan {
        tenant: tenant.clone(),
        anchor: AuditStore::anchor(&store, &tenant).unwrap(),
        through: crate::Head {
            seq: 5,
            hash: at5.hash,
        },
        record: Preparer::new()
            .prepare(crate::prepare::Entry::new(
                crate::Actor::system(),
                Event::user_deleted(EntityRef::id_only(99)),
            ))
            .unwrap(),
    };
    let err = crate::Retention::remove_prefix(&store, plan);
    assert!(matches!(err, Err(Error::Corrupt { .. })), "{err:?}");
    closed(&store);
}
