//! SqliteSink's own guarantees beyond the conformance suite (which runs inline): opening,
//! migrations, triggers, tampering by raw SQL, query plans, faults, backup, purge, the
//! host's transaction, corrupt rows, hostile filters.
#![cfg(feature = "sqlite")]

use std::path::Path;
use std::time::Duration;

use audit_log::chain::BreakReason;
use audit_log::rusqlite::{params, Connection, TransactionBehavior};
use audit_log::{
    Actor, AuditLog, AuditStore, AuditStoreExt, ChainAlgorithm, CustomEvent, EntityKey, EntityRef,
    Entry, Error, Event, ManualClock, Preparer, PurgePoint, Query, RetentionExt, SqliteOptions,
    SqliteSink, TenantId,
};
use chrono::{Duration as Dur, TimeZone, Utc};
use proptest::prelude::*;

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

/// A store at `path` with `n` records (one a minute from t0 + 1 min), and its log and clock.
fn filled(path: &Path, n: u64) -> (SqliteSink, AuditLog, ManualClock) {
    let store = SqliteSink::open(path).unwrap();
    let clock = ManualClock::new(t0());
    let log = AuditLog::builder(store.clone())
        .clock(clock.clone())
        .build();
    for i in 1..=n {
        clock.advance(Dur::minutes(1));
        log.record(
            &Actor::user(i % 3, "admin"),
            Event::user_added_to_group(EntityRef::new(i, "u"), EntityRef::new(i % 5, "g")),
        )
        .unwrap();
    }
    (store, log, clock)
}

fn seqs(store: &SqliteSink, q: &Query) -> Vec<u64> {
    store.query(q).unwrap().map(|r| r.unwrap().seq).collect()
}

fn drop_triggers(conn: &Connection) {
    conn.execute_batch(
        "DROP TRIGGER audit_records_no_update; DROP TRIGGER audit_records_no_delete;",
    )
    .unwrap();
}

fn first_break(store: &SqliteSink) -> Option<(u64, BreakReason)> {
    store
        .verify(&TenantId::default())
        .unwrap()
        .first_break
        .map(|b| (b.seq, b.reason))
}

#[test]
fn files_that_are_not_stores_are_refused_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "this is not a database, just some text\n".repeat(100),
    )
    .unwrap();
    assert!(matches!(
        SqliteSink::open(&text),
        Err(Error::NotAStore { .. })
    ));
    assert_eq!(
        std::fs::read_to_string(&text).unwrap(),
        "this is not a database, just some text\n".repeat(100),
        "the text file is untouched"
    );

    let other = dir.path().join("other.db");
    let conn = Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
        .unwrap();
    drop(conn);
    assert!(matches!(
        SqliteSink::open(&other),
        Err(Error::NotAStore { .. })
    ));
    let conn = Connection::open(&other).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        mode, "delete",
        "another application's database is left as it was"
    );

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let ro = SqliteOptions::new().read_only(true);
    assert!(matches!(ro.open(&empty), Err(Error::NotAStore { .. })));
    assert!(matches!(
        ro.open(dir.path().join("missing.db")),
        Err(Error::NotAStore { .. })
    ));
    // Where a store is created, an empty file is simply a new store.
    SqliteSink::open(&empty).unwrap();
}

#[test]
fn a_store_from_a_newer_version_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    filled(&path, 3);
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE audit_meta SET value = '7' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(conn);
    for opts in [SqliteOptions::new(), SqliteOptions::new().read_only(true)] {
        match opts.open(&path) {
            Err(Error::SchemaTooNew { found, supported }) => assert_eq!((found, supported), (7, 2)),
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }
    let conn = Connection::open(&path).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM audit_records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
}

#[test]
fn the_schema_version_and_algorithm_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let opts = SqliteOptions::new().chain_algorithm(ChainAlgorithm::Blake3);
    drop(opts.open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let uv: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(uv, 2);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(conn);
    let again = SqliteSink::open(&path).unwrap();
    assert_eq!(again.chain_algorithm(), ChainAlgorithm::Blake3);
    let sha = SqliteOptions::new().chain_algorithm(ChainAlgorithm::Sha256);
    assert!(matches!(sha.open(&path), Err(Error::InvalidInput { .. })));
}

#[test]
fn triggers_reject_edits_from_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let (store, _, _) = filled(&path, 5);
    let conn = Connection::open(&path).unwrap();
    for sql in [
        "UPDATE audit_records SET actor_display = 'mallory' WHERE seq = 2",
        "DELETE FROM audit_records WHERE seq = 5",
        "DELETE FROM audit_records",
        "UPDATE audit_mentions SET entity_id = 'x'",
        "DELETE FROM audit_mentions",
        "UPDATE audit_meta SET value = 'blake3' WHERE key = 'chain'",
        "INSERT INTO audit_anchors (tenant, seq, hash) VALUES ('default', 3, x'00')",
        "REPLACE INTO audit_meta (key, value) VALUES ('chain', 'blake3')",
    ] {
        let err = conn.execute_batch(sql);
        let msg = err.expect_err(sql).to_string();
        // A delete (or an anchor moved) outside the store's own purge asks for the purge
        // gate's function, which only the store's connections have.
        assert!(
            msg.contains("audit-log:") || msg.contains("no such function: audit_log_purge_through"),
            "{sql}: {msg}"
        );
    }
    assert_eq!(seqs(&store, &Query::new()), vec![1, 2, 3, 4, 5]);
}

#[test]
fn tampering_by_raw_sql_is_named_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, sql: &str| {
        let path = dir.path().join(format!("{name}.db"));
        let (store, _, _) = filled(&path, 10);
        let conn = Connection::open(&path).unwrap();
        drop_triggers(&conn);
        conn.execute_batch(sql).unwrap();
        store
    };
    let s = run(
        "alter",
        "UPDATE audit_records SET reason = 'ok' WHERE seq = 4",
    );
    assert_eq!(first_break(&s), Some((4, BreakReason::Altered)));
    let s = run(
        "json",
        r#"UPDATE audit_records SET event_json = replace(event_json, '"u"', '"v"') WHERE seq = 6"#,
    );
    assert_eq!(first_break(&s), Some((6, BreakReason::Altered)));
    let s = run("delete", "DELETE FROM audit_records WHERE seq = 7");
    assert_eq!(
        first_break(&s),
        Some((7, BreakReason::Missing { found: 8 }))
    );
    let s = run(
        "swap",
        "UPDATE audit_records SET seq = 100 WHERE seq = 3;
         UPDATE audit_records SET seq = 3 WHERE seq = 8;
         UPDATE audit_records SET seq = 8 WHERE seq = 100;",
    );
    assert_eq!(first_break(&s), Some((3, BreakReason::Altered)));
    // Truncation leaves a valid shorter chain: only a checkpoint kept elsewhere catches it.
    let path = dir.path().join("truncate.db");
    let (store, _, _) = filled(&path, 10);
    let cp = store.checkpoint(&TenantId::default()).unwrap().unwrap();
    let conn = Connection::open(&path).unwrap();
    drop_triggers(&conn);
    conn.execute_batch("DELETE FROM audit_records WHERE seq >= 9")
        .unwrap();
    assert_eq!(first_break(&store), None);
    let report = store.verify_against(&cp).unwrap();
    assert_eq!(
        report.first_break.map(|b| (b.seq, b.reason)),
        Some((9, BreakReason::Truncated { checkpoint_seq: 10 }))
    );
}

#[test]
fn corrupt_rows_are_typed_errors_and_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let (store, _, _) = filled(&path, 5);
    let conn = Connection::open(&path).unwrap();
    drop_triggers(&conn);
    conn.execute_batch(
        "UPDATE audit_records SET event_json = '{not json' WHERE seq = 2;
         UPDATE audit_records SET hash = x'0102' WHERE seq = 4;",
    )
    .unwrap();
    for q in [Query::new(), Query::new().descending()] {
        let items: Vec<_> = store.query(&q).unwrap().collect();
        assert_eq!(items.len(), 5);
        for item in items {
            match item {
                Ok(r) => assert!([1, 3, 5].contains(&r.seq)),
                Err(Error::Corrupt { seq, reason }) => {
                    assert!(
                        (seq == 2 && reason.contains("event_json"))
                            || (seq == 4 && reason.contains("hash")),
                        "{seq}: {reason}"
                    );
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
    }
    let report = store.verify(&TenantId::default()).unwrap();
    assert_eq!(report.count, 5);
    assert!(matches!(
        report.first_break.map(|b| (b.seq, b.reason)),
        Some((2, BreakReason::Corrupt(_)))
    ));
}

#[test]
fn entity_actor_and_time_queries_use_an_index() {
    let store = SqliteSink::open_in_memory().unwrap();
    let plan = |q: Query| store.query_plan(&q).unwrap().join(" | ");
    let entity = plan(Query::new().entity(EntityKey::group(7)));
    assert!(
        entity.contains(
            "SEARCH m USING PRIMARY KEY (tenant=? AND kind=? AND entity_id=? AND seq>? AND seq<?)"
        ),
        "{entity}"
    );
    assert!(
        entity.contains("SEARCH r USING INDEX audit_records_seq"),
        "{entity}"
    );
    assert!(!entity.contains("TEMP B-TREE"), "no sort: {entity}");
    let actor = plan(Query::new().actor("42"));
    assert!(
        actor.contains("SEARCH r USING INDEX audit_records_actor (tenant=? AND actor_id=? AND seq>? AND seq<?)"),
        "{actor}"
    );
    assert!(!actor.contains("TEMP B-TREE"), "no sort: {actor}");
    let time = plan(Query::new().since(t0()).until(t0() + Dur::hours(1)));
    assert!(
        time.contains("USING COVERING INDEX audit_records_time (tenant=? AND occurred_at>? AND occurred_at<?)"),
        "{time}"
    );
    assert!(
        time.contains("SEARCH r USING INDEX audit_records_seq (tenant=? AND seq>? AND seq<?)"),
        "{time}"
    );
    let event = plan(Query::new().event("user.deleted").descending());
    assert!(event.contains("audit_records_event"), "{event}");
}

#[test]
fn hostile_filter_values_are_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let (store, _, _) = filled(&path, 5);
    let big = "'".repeat(1 << 20);
    let hostile = [
        "'; DROP TABLE audit_records; --",
        "\" OR 1=1 --",
        "a\0b",
        "%",
        "_",
        "user.%",
        big.as_str(),
    ];
    for h in hostile {
        for q in [
            Query::new().actor(h),
            Query::new().event(h),
            Query::new().event(&format!("{h}.*")),
            Query::new().entity(EntityKey::user(h)),
            Query::new().entity(EntityKey::new(audit_log::EntityKind::Other(h.into()), h)),
            Query::for_tenant(h),
        ] {
            assert_eq!(seqs(&store, &q), Vec::<u64>::new());
            assert_eq!(store.count(&q).unwrap(), Some(0));
        }
    }
    assert_eq!(seqs(&store, &Query::new()).len(), 5);
    assert!(store.verify(&TenantId::default()).unwrap().is_intact());
}

#[test]
fn a_read_only_store_refuses_appends_and_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let (_, writer_log, _) = filled(&path, 3);
    drop(writer_log);
    let ro = SqliteOptions::new().read_only(true).open(&path).unwrap();
    let log = AuditLog::builder(ro.clone()).build();
    let err = log
        .record(&Actor::system(), Event::user_deleted(EntityRef::id_only(1)))
        .unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");
    assert_eq!(seqs(&ro, &Query::new()), vec![1, 2, 3]);
    assert!(ro.verify(&TenantId::default()).unwrap().is_intact());
}

/// Makes `path` unwritable for this process for as long as it lives: permission bits, and
/// when they do not bind (the tests run as root on CI) the immutable attribute.
#[cfg(unix)]
struct Unwritable<'a> {
    path: &'a Path,
    immutable: bool,
}

#[cfg(unix)]
impl<'a> Unwritable<'a> {
    fn new(path: &'a Path) -> Option<Self> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).ok()?;
        let mut guard = Unwritable {
            path,
            immutable: false,
        };
        if std::fs::OpenOptions::new().append(true).open(path).is_ok() {
            guard.immutable = std::process::Command::new("chattr")
                .arg("+i")
                .arg(path)
                .status()
                .is_ok_and(|s| s.success());
            if std::fs::OpenOptions::new().append(true).open(path).is_ok() {
                return None;
            }
        }
        Some(guard)
    }
}

#[cfg(unix)]
impl Drop for Unwritable<'_> {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.immutable {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(self.path)
                .status();
        }
        let _ = std::fs::set_permissions(self.path, std::fs::Permissions::from_mode(0o644));
    }
}

#[cfg(unix)]
#[test]
fn a_store_file_the_process_may_not_write_is_read_only_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let (store, log, _) = filled(&path, 3);
    drop((store, log));
    let Some(guard) = Unwritable::new(&path) else {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "test a_store_file_the_process_may_not_write NOT RUN: cannot make a file unwritable here"
        );
        return;
    };
    // Asked to write, the store says at once that it cannot, instead of at the first append.
    let err = SqliteSink::open(&path).unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");
    assert!(format!("{err:?}").contains("read_only(true)"), "{err:?}");
    // Asked to read, it reads everything and verifies.
    let ro = SqliteOptions::new().read_only(true).open(&path).unwrap();
    let err = AuditLog::builder(ro.clone())
        .build()
        .record(&Actor::system(), Event::user_deleted(EntityRef::id_only(1)))
        .unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");
    assert_eq!(seqs(&ro, &Query::new()), vec![1, 2, 3]);
    assert!(ro.verify(&TenantId::default()).unwrap().is_intact());
    drop(ro);
    // Writable again, nothing was lost and the trail goes on.
    drop(guard);
    let store = SqliteSink::open(&path).unwrap();
    let r = AuditLog::builder(store.clone())
        .build()
        .record(&Actor::system(), Event::user_deleted(EntityRef::id_only(1)))
        .unwrap();
    assert_eq!(r.seq, 4);
    assert!(store.verify(&TenantId::default()).unwrap().is_intact());
}

#[test]
fn a_full_store_fails_typed_and_keeps_what_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    drop(SqliteSink::open(&path).unwrap());
    let store = SqliteOptions::new()
        .max_size_bytes(256 * 1024)
        .open(&path)
        .unwrap();
    let log = AuditLog::builder(store.clone()).build();
    let mut committed = 0u64;
    let err = loop {
        let entries = (0..20).map(|i| {
            Entry::new(
                Actor::system(),
                Event::user_deleted(EntityRef::new(i, "x".repeat(400))),
            )
        });
        match log.record_batch(entries) {
            Ok(r) => committed = r.last().unwrap().seq,
            Err(e) => break e,
        }
        assert!(committed < 100_000, "the size cap never hit");
    };
    assert!(matches!(err, Error::StorageFull { .. }), "{err:?}");
    assert!(committed > 0);
    assert_eq!(
        store.head(&TenantId::default()).unwrap().unwrap().seq,
        committed
    );
    let reopened = SqliteSink::open(&path).unwrap();
    let report = reopened.verify(&TenantId::default()).unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(
        report.count, committed,
        "nothing committed was lost, nothing half-written"
    );
}

#[test]
fn a_store_locked_past_the_busy_timeout_is_busy_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let store = SqliteOptions::new()
        .busy_timeout(Duration::from_millis(100))
        .open(&path)
        .unwrap();
    let log = AuditLog::builder(store.clone()).build();
    log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(1)))
        .unwrap();
    let mut other = Connection::open(&path).unwrap();
    let tx = other
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let err = log
        .record(&Actor::system(), Event::user_deleted(EntityRef::id_only(2)))
        .unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err:?}");
    assert!(err.is_transient());
    tx.rollback().unwrap();
    let r = log
        .record(&Actor::system(), Event::user_deleted(EntityRef::id_only(3)))
        .unwrap();
    assert_eq!(r.seq, 2, "the failed append took no seq");
    assert!(store.verify(&TenantId::default()).unwrap().is_intact());
}

#[test]
fn online_backup_while_writing_and_an_old_backup_is_caught_by_a_later_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let (store, log, _) = filled(&path, 50);
    let backup = dir.path().join("backup.db");
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            for i in 0..200 {
                log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(i)))
                    .unwrap();
            }
        });
        store.backup_to(&backup).unwrap();
        writer.join().unwrap();
    });
    assert!(
        matches!(store.backup_to(&backup), Err(Error::InvalidInput { .. })),
        "never overwrites"
    );
    let restored = SqliteSink::open(&backup).unwrap();
    let report = restored.verify(&TenantId::default()).unwrap();
    assert!(report.is_intact(), "{report}");
    assert!(report.count >= 50);
    assert_eq!(store.head(&TenantId::default()).unwrap().unwrap().seq, 250);

    // A checkpoint taken after the backup catches a restore from it...
    let cp = store.checkpoint(&TenantId::default()).unwrap().unwrap();
    let report = restored.verify_against(&cp).unwrap();
    assert!(
        matches!(
            report.first_break.as_ref().map(|b| &b.reason),
            Some(BreakReason::Truncated {
                checkpoint_seq: 250
            })
        ),
        "{report}"
    );
    // ...also once the restored store has been written past the checkpoint's seq.
    let relog = AuditLog::builder(restored.clone()).build();
    while restored.head(&TenantId::default()).unwrap().unwrap().seq < 260 {
        relog
            .record(&Actor::system(), Event::user_deleted(EntityRef::id_only(0)))
            .unwrap();
    }
    let report = restored.verify_against(&cp).unwrap();
    assert_eq!(
        report.first_break.map(|b| (b.seq, b.reason)),
        Some((250, BreakReason::Diverged))
    );

    // An in-memory store backs up to a file too.
    let mem = SqliteSink::open_in_memory().unwrap();
    AuditLog::builder(mem.clone())
        .build()
        .record(&Actor::system(), Event::user_deleted(EntityRef::id_only(1)))
        .unwrap();
    mem.backup_to(dir.path().join("mem.db")).unwrap();
    let copy = SqliteSink::open(dir.path().join("mem.db")).unwrap();
    assert_eq!(seqs(&copy, &Query::new()), vec![1]);
}

/// Names in `dir` other than `keep`: what a backup left lying around.
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.iter().any(|k| n.starts_with(k)))
        .collect();
    names.sort();
    names
}

#[test]
fn a_backup_appears_only_when_complete_and_never_replaces_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _log, _) = filled(&dir.path().join("audit.db"), 20);
    let out = tempfile::tempdir().unwrap();

    // Complete: the copy is at its name and nothing else was left in the directory.
    store.backup_to(out.path().join("b1.db")).unwrap();
    assert_eq!(leftovers(out.path(), &[]), vec!["b1.db".to_owned()]);
    let copy = SqliteSink::open(out.path().join("b1.db")).unwrap();
    assert_eq!(seqs(&copy, &Query::new()), (1..=20).collect::<Vec<_>>());
    drop(copy);

    // An empty file made for the purpose is replaced by the copy.
    std::fs::write(out.path().join("b2.db"), b"").unwrap();
    store.backup_to(out.path().join("b2.db")).unwrap();
    assert_eq!(
        seqs(
            &SqliteSink::open(out.path().join("b2.db")).unwrap(),
            &Query::new()
        )
        .len(),
        20
    );

    // Anything else is never overwritten, and the refused backup leaves nothing behind.
    std::fs::write(out.path().join("notes.txt"), b"keep me").unwrap();
    let err = store.backup_to(out.path().join("notes.txt")).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert_eq!(
        std::fs::read(out.path().join("notes.txt")).unwrap(),
        b"keep me"
    );

    // A destination that cannot be written is a typed error, with no partial file.
    let err = store
        .backup_to(out.path().join("notes.txt").join("b3.db"))
        .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert_eq!(
        leftovers(out.path(), &["b1.db", "b2.db"]),
        vec!["notes.txt".to_owned()]
    );
}

#[test]
fn purge_removes_a_prefix_records_itself_and_the_rest_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let (store, _, _) = filled(&path, 20);
    let tenant = TenantId::default();
    let early_cp = AuditStoreExt::get(&store, &tenant, 5)
        .unwrap()
        .unwrap()
        .checkpoint();
    let hash10 = AuditStoreExt::get(&store, &tenant, 10)
        .unwrap()
        .unwrap()
        .hash;
    let retention = Actor::service("retention");

    // Records are a minute apart from t0 + 1 min: before t0 + 10.5 min are seqs 1..=10.
    let report = store
        .purge(
            &Preparer::new(),
            &tenant,
            PurgePoint::Before(t0() + Dur::seconds(630)),
            &retention,
        )
        .unwrap();
    assert_eq!(report.removed, 10);
    assert_eq!((report.anchor.seq, report.anchor.hash), (10, hash10));
    let receipt = report.receipt.unwrap();
    assert_eq!(receipt.seq, 21);
    assert_eq!(store.anchor(&tenant).unwrap(), report.anchor);
    assert_eq!(seqs(&store, &Query::new()), (11..=21).collect::<Vec<_>>());
    assert_eq!(
        seqs(&store, &Query::new().entity(EntityKey::user(3))),
        Vec::<u64>::new()
    );
    let purge_record = AuditStoreExt::get(&store, &tenant, 21).unwrap().unwrap();
    match &purge_record.event {
        Event::AuditPurged(p) => {
            assert_eq!((p.through_seq, p.anchor_hash, p.count), (10, hash10, 10));
            assert_eq!(p.before, Some(t0() + Dur::seconds(630)));
        }
        other => panic!("expected audit.purged, got {other:?}"),
    }
    assert_eq!(purge_record.actor, retention);
    let v = store.verify(&tenant).unwrap();
    assert!(v.is_intact(), "{v}");
    assert_eq!(v.count, 11);
    assert!(store.verify_against(&early_cp).unwrap().is_intact());

    // Purging again to the same point removes and records nothing.
    let again = store
        .purge(
            &Preparer::new(),
            &tenant,
            PurgePoint::ThroughSeq(10),
            &retention,
        )
        .unwrap();
    assert_eq!((again.removed, again.receipt), (0, None));
    // A point past the head is clamped to it; the trail then holds only the purge record.
    let all = store
        .purge(
            &Preparer::new(),
            &tenant,
            PurgePoint::ThroughSeq(1_000),
            &retention,
        )
        .unwrap();
    assert_eq!((all.removed, all.anchor.seq), (11, 21));
    assert_eq!(seqs(&store, &Query::new()), vec![22]);
    assert!(store.verify(&tenant).unwrap().is_intact());

    // The triggers still refuse a delete outside a purge, and survive a reopen.
    drop(store);
    let conn = Connection::open(&path).unwrap();
    assert!(conn.execute("DELETE FROM audit_records", []).is_err());
}

#[test]
fn appends_inside_the_hosts_transaction_commit_and_roll_back_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("host.db");
    let mut conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; CREATE TABLE users (id INTEGER PRIMARY KEY, login TEXT)",
    )
    .unwrap();
    SqliteSink::install_schema(&conn, ChainAlgorithm::default()).unwrap();
    let uv: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(uv, 0, "the host's user_version is left alone");
    // The same file is also a store opened the ordinary way (reads, other appends).
    let store = SqliteSink::open(&path).unwrap();
    let log = AuditLog::builder(store.clone()).build();
    let prep = |id: i64| {
        log.prepare(Entry::new(
            Actor::user(1, "root"),
            Event::user_created(EntityRef::new(id, format!("user{id}"))),
        ))
        .unwrap()
    };

    assert!(matches!(
        SqliteSink::append_in(&conn, vec![prep(0)]),
        Err(Error::InvalidInput { .. })
    ));

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    tx.execute("INSERT INTO users VALUES (1, 'a')", []).unwrap();
    let r = SqliteSink::append_in(&tx, vec![prep(1)]).unwrap();
    assert_eq!(r[0].seq, 1);
    tx.commit().unwrap();

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    tx.execute("INSERT INTO users VALUES (2, 'b')", []).unwrap();
    SqliteSink::append_in(&tx, vec![prep(2), prep(3)]).unwrap();
    tx.rollback().unwrap();
    assert_eq!(
        seqs(&store, &Query::new()),
        vec![1],
        "a rollback leaves no record"
    );

    log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(9)))
        .unwrap();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let r = SqliteSink::append_in(&tx, vec![prep(4)]).unwrap();
    assert_eq!(r[0].seq, 3, "seq continues after the store's own append");
    tx.execute("INSERT INTO users VALUES (4, 'd')", []).unwrap();
    tx.commit().unwrap();

    // A failed append inside the host's transaction leaves the host's work in it.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    tx.execute("INSERT INTO users VALUES (5, 'e')", []).unwrap();
    tx.execute_batch("DROP TRIGGER audit_records_no_update")
        .unwrap();
    tx.execute_batch(
        "CREATE TRIGGER boom BEFORE INSERT ON audit_records BEGIN SELECT RAISE(ABORT, 'boom'); END",
    )
    .unwrap();
    assert!(SqliteSink::append_in(&tx, vec![prep(5)]).is_err());
    let users: i64 = tx
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(users, 3);
    tx.rollback().unwrap();

    assert_eq!(seqs(&store, &Query::new()), vec![1, 2, 3]);
    assert!(store.verify(&TenantId::default()).unwrap().is_intact());
    let users: Vec<i64> = conn
        .prepare("SELECT id FROM users ORDER BY id")
        .unwrap()
        .query_map(params![], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(users, vec![1, 4]);
}

#[test]
fn count_and_pagination_agree_with_the_query() {
    let store = SqliteSink::open_in_memory().unwrap();
    let log = AuditLog::builder(store.clone()).build();
    for i in 0..600u64 {
        log.record(
            &Actor::user(i % 2, "x"),
            Event::user_deleted(EntityRef::id_only(i % 10)),
        )
        .unwrap();
    }
    let q = Query::new().actor("1").entity(EntityKey::user(3));
    assert_eq!(store.count(&q).unwrap(), Some(60));
    assert_eq!(seqs(&store, &q).len(), 60);
    assert_eq!(
        seqs(&store, &Query::new().descending()).len(),
        600,
        "pages past 256 rows"
    );
    let mut q = Query::new().limit(250);
    let mut n = 0;
    loop {
        let page = store.page(&q).unwrap();
        n += page.records.len();
        match page.next_cursor {
            Some(c) => q = q.after_seq(c),
            None => break,
        }
    }
    assert_eq!(n, 600);
    assert_eq!(store.tenants().unwrap(), vec![TenantId::default()]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Numbers in a custom payload survive the JSON text column bit for bit, so the record
    /// still verifies.
    #[test]
    fn payload_numbers_round_trip_through_the_json_column(f in proptest::num::f64::NORMAL, i in any::<i64>(), u in any::<u64>()) {
        let store = SqliteSink::open_in_memory().unwrap();
        let log = AuditLog::builder(store.clone()).build();
        let event = CustomEvent::new("billing.adjusted", serde_json::json!({"f": f, "i": i, "u": u}));
        log.record(&Actor::system(), event.clone()).unwrap();
        let back = store.query(&Query::new()).unwrap().next().unwrap().unwrap();
        prop_assert_eq!(back.event, Event::from(event));
        prop_assert!(store.verify(&TenantId::default()).unwrap().is_intact());
    }
}

/// A common backup habit is to copy the `.db` file alone. After the last handle of a store is
/// dropped, that file must hold every record, also when queries ran (and left reader
/// connections open) while the writer closed: nothing may stay behind in the `-wal` file.
#[test]
fn after_the_last_handle_is_dropped_the_db_file_alone_holds_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let (store, _log, _clock) = filled(&path, 13);
    assert_eq!(
        seqs(&store, &Query::new()).len(),
        13,
        "a query opened readers"
    );
    assert!(store.verify(&TenantId::default()).unwrap().is_intact());
    let clone = store.clone();
    drop(store);
    drop(_log);
    drop(clone);
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    let copied = SqliteOptions::new().read_only(true).open(&copy).unwrap();
    assert_eq!(seqs(&copied, &Query::new()).len(), 13, "the .db file alone");
    assert!(copied.verify(&TenantId::default()).unwrap().is_intact());
}

/// A reader opened with `read_only(true)` changes nothing: a missing file is an error naming
/// the path (and is not created), and reading, verifying and checking a store leaves the
/// database file's bytes and modification time as they were, with nothing in a write-ahead
/// log.
#[test]
fn a_read_only_open_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.db");
    match SqliteOptions::new().read_only(true).open(&missing) {
        Err(Error::NotAStore { reason }) => {
            assert!(reason.contains(&missing.display().to_string()), "{reason}")
        }
        other => panic!("expected NotAStore, got {other:?}"),
    }
    assert!(!missing.exists());

    let path = dir.path().join("audit.db");
    drop(filled(&path, 20));
    let wal = dir.path().join("audit.db-wal");
    assert!(
        !wal.exists(),
        "the writer folds its log back when it closes"
    );
    let bytes = std::fs::read(&path).unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    {
        let reader = SqliteOptions::new().read_only(true).open(&path).unwrap();
        assert_eq!(reader.query(&Query::new()).unwrap().count(), 20);
        let report = reader
            .verify_with(
                &TenantId::default(),
                &audit_log::chain::VerifyOptions::new()
                    .storage(audit_log::chain::StorageCheck::Quick),
            )
            .unwrap();
        assert!(report.is_intact(), "{report}");
        let log = AuditLog::builder(reader.clone()).build();
        assert!(matches!(
            log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(1))),
            Err(Error::ReadOnly { .. })
        ));
    }
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    // SQLite's readers of a WAL database keep their shared index beside it (`-shm`, `-wal`)
    // and create them when they are missing; the log holds nothing written.
    assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);
}
