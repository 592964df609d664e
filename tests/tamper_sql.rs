#![cfg(feature = "sqlite")]
//! Tampering as an insider would: raw SQL through a connection of one's own (what the
//! `sqlite3` shell or `psql` does), against a store the test built through the library. Each
//! attack is either refused by the store's schema, or performed and then named by `verify`
//! (the seq and the reason). Issue #11 lists the holes; each test here failed before its fix.

use audit_log::chain::{BreakReason, StorageCheck, VerifyOptions};
use audit_log::rusqlite::{params, Connection};
use audit_log::{
    Actor, AuditLog, AuditStore, AuditStoreExt, Checkpoint, EntityKey, EntityRef, Event,
    ManualClock, Preparer, PurgePoint, Query, Record, RetentionExt, SqliteSink, TenantId,
};
use chrono::{Duration, TimeZone, Utc};

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

/// A SQLite store with `n` records (user i added to group i % 3), a minute apart.
fn sqlite_store(dir: &std::path::Path, n: u64) -> (SqliteSink, std::path::PathBuf) {
    let path = dir.join("audit.db");
    let store = SqliteSink::open(&path).unwrap();
    let clock = ManualClock::new(t0());
    let log = AuditLog::builder(store.clone())
        .clock(clock.clone())
        .build();
    for i in 1..=n {
        clock.advance(Duration::minutes(1));
        log.record(
            &Actor::user(1, "root"),
            Event::user_added_to_group(EntityRef::new(i, "u"), EntityRef::new(i % 3, "g")),
        )
        .unwrap();
    }
    (store, path)
}

/// The insider's own connection to the file.
fn insider(path: &std::path::Path) -> Connection {
    Connection::open(path).unwrap()
}

/// What someone who can write the file can always do: remove the append-only triggers.
fn drop_all_triggers(conn: &Connection) {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    for n in names {
        conn.execute_batch(&format!("DROP TRIGGER {n}")).unwrap();
    }
}

fn hash_at(conn: &Connection, seq: i64) -> Vec<u8> {
    conn.query_row(
        "SELECT hash FROM audit_records WHERE tenant = 'default' AND seq = ?1",
        [seq],
        |r| r.get(0),
    )
    .unwrap()
}

fn first_break(store: &SqliteSink) -> Option<(u64, BreakReason)> {
    store
        .verify(&TenantId::default())
        .unwrap()
        .first_break
        .map(|b| (b.seq, b.reason))
}

/// Hole 1 (SQLite): the purge gate could be forged by plain SQL. With the triggers in
/// place, no other connection can open it: deleting the oldest records, with or without a
/// forged anchor, is refused.
#[test]
fn sqlite_a_forged_purge_gate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = sqlite_store(dir.path(), 10);
    let conn = insider(&path);
    let hash5 = hash_at(&conn, 5);
    for sql in [
        "DELETE FROM audit_mentions WHERE tenant = 'default' AND seq <= 5",
        "DELETE FROM audit_records WHERE tenant = 'default' AND seq <= 5",
    ] {
        let err = conn.execute_batch(sql).unwrap_err().to_string();
        assert!(err.contains("audit_log_purge_through"), "{sql}: {err}");
    }
    let anchor = conn.execute(
        "INSERT INTO audit_anchors (tenant, seq, hash) VALUES ('default', 5, ?1)",
        params![hash5],
    );
    assert!(anchor.is_err(), "an anchor for a tenant with records");
    // The old gate table is gone; a table of that name gates nothing.
    conn.execute_batch(
        "CREATE TABLE audit_purge_gate (tenant TEXT, through INTEGER);
         INSERT INTO audit_purge_gate VALUES ('default', 5);",
    )
    .unwrap();
    assert!(conn
        .execute("DELETE FROM audit_records WHERE seq <= 5", [])
        .is_err());
    assert_eq!(store.head(&TenantId::default()).unwrap().unwrap().seq, 10);
    assert_eq!(first_break(&store), None);
}

/// Hole 1 (SQLite), the insider who drops the triggers: the oldest records deleted, an anchor
/// forged where they end. The chain from the anchor on is valid, so only the missing
/// `audit.purged` record tells: verify names the start, and so does verification against a
/// checkpoint taken at the head before the deletion.
#[test]
fn sqlite_a_removed_prefix_with_a_forged_anchor_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = sqlite_store(dir.path(), 10);
    let before = store.checkpoint(&TenantId::default()).unwrap().unwrap();
    let conn = insider(&path);
    let hash5 = hash_at(&conn, 5);
    drop_all_triggers(&conn);
    conn.execute_batch(
        "DELETE FROM audit_mentions WHERE tenant = 'default' AND seq <= 5;
         DELETE FROM audit_records WHERE tenant = 'default' AND seq <= 5;",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO audit_anchors (tenant, seq, hash) VALUES ('default', 5, ?1)",
        params![hash5],
    )
    .unwrap();
    let expected = Some((6, BreakReason::UnaccountedStart { anchor_seq: 5 }));
    assert_eq!(first_break(&store), expected);
    let against = store.verify_against(&before).unwrap();
    assert!(!against.is_intact());
    assert_eq!(against.first_break.map(|b| (b.seq, b.reason)), expected);
    // A real purge of the same prefix, by contrast, is on record and verifies.
    std::fs::create_dir_all(dir.path().join("honest")).unwrap();
    let (honest, _) = sqlite_store(&dir.path().join("honest"), 10);
    honest
        .purge(
            &Preparer::new(),
            &TenantId::default(),
            PurgePoint::ThroughSeq(5),
            &Actor::service("retention"),
        )
        .unwrap();
    assert_eq!(first_break(&honest), None);
}

/// Hole 2: `INSERT OR REPLACE` / `REPLACE INTO` deleted the old row without firing the delete
/// trigger, so records and mentions could be rewritten in place. The schema refuses it.
#[test]
fn sqlite_replace_cannot_rewrite_anything() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = sqlite_store(dir.path(), 5);
    let conn = insider(&path);
    let statements = [
        // A record rewritten with another actor, everything else copied.
        "INSERT OR REPLACE INTO audit_records SELECT tenant, seq, id, occurred_at, actor_kind, \
         'mallory', actor_display, event_name, outcome, ip, user_agent, request_id, \
         correlation_id, reason, schema_version, chain, prev_hash, hash, event_json, seal \
         FROM audit_records WHERE seq = 3",
        "REPLACE INTO audit_records SELECT * FROM audit_records WHERE seq = 3",
        "REPLACE INTO audit_mentions SELECT * FROM audit_mentions WHERE seq = 3",
        "INSERT OR REPLACE INTO audit_meta (key, value) VALUES ('chain', 'blake3')",
        "INSERT OR REPLACE INTO audit_meta (key, value) VALUES ('schema_version', '1')",
    ];
    for sql in statements {
        let err = conn.execute_batch(sql).unwrap_err().to_string();
        assert!(err.contains("audit-log:"), "{sql}: {err}");
    }
    let r3 = store.get(&TenantId::default(), 3).unwrap().unwrap();
    assert_eq!(r3.actor.id, "1");
    assert_eq!(first_break(&store), None);
}

/// Hole 3: the columns and rows that drive queries but are not hashed. A mention row needs
/// no dropped trigger to be inserted for an existing record: it makes an entity's timeline
/// name a record that never named it, and verify names that record. A mention for a record
/// that does not exist is refused outright.
#[test]
fn sqlite_a_forged_mention_is_named_and_an_orphan_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = sqlite_store(dir.path(), 8);
    let conn = insider(&path);
    conn.execute(
        "INSERT INTO audit_mentions (tenant, kind, entity_id, seq) VALUES ('default', 'user', '999', 4)",
        [],
    )
    .unwrap();
    let lie: Vec<u64> = store
        .query(&Query::new().entity(EntityKey::user(999)))
        .unwrap()
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(lie, vec![4], "the forged row does make the timeline lie");
    assert_eq!(first_break(&store), Some((4, BreakReason::IndexMismatch)));
    let orphan = conn.execute(
        "INSERT INTO audit_mentions (tenant, kind, entity_id, seq) VALUES ('default', 'user', '1', 77)",
        [],
    );
    assert!(orphan.unwrap_err().to_string().contains("with its record"));
}

/// A wrapper is the store it wraps: verification through [`Checkpointing`] (the signed
/// checkpoints a host turns on against exactly this insider) checks the mentions, the count
/// and the file as the bare store does. It used to forward only the reads, so the forged
/// mention above passed as intact through it.
#[test]
fn sqlite_a_forged_mention_is_named_through_the_checkpointing_wrapper_too() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = sqlite_store(dir.path(), 8);
    let signer = audit_log::CheckpointSigner::from_bytes("k1", &[7; 32]).unwrap();
    let file = audit_log::CheckpointFile::open(dir.path().join("checkpoints.jsonl")).unwrap();
    let wrapped = audit_log::Checkpointing::new(store.clone(), signer, file);
    insider(&path)
        .execute(
            "INSERT INTO audit_mentions (tenant, kind, entity_id, seq) VALUES ('default', 'user', '999', 4)",
            [],
        )
        .unwrap();
    let report = wrapped.verify(&TenantId::default()).unwrap();
    assert!(!report.is_intact(), "{report:?}");
    let b = report.first_break.unwrap();
    assert_eq!((b.seq, b.reason), (4, BreakReason::IndexMismatch));
    let full = VerifyOptions::default().storage(StorageCheck::Quick);
    let report = wrapped.verify_with(&TenantId::default(), &full).unwrap();
    assert!(
        report.storage.is_some(),
        "the file's own check ran: {report:?}"
    );
}

/// Hole 3, the insider who drops triggers: a removed mention (an entity's timeline loses a
/// record) and a rewritten event name (an event filter lies) are both named.
#[test]
fn sqlite_removed_mentions_and_forged_event_names_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = sqlite_store(dir.path(), 8);
    let conn = insider(&path);
    drop_all_triggers(&conn);
    conn.execute(
        "DELETE FROM audit_mentions WHERE tenant = 'default' AND seq = 6 AND kind = 'group'",
        [],
    )
    .unwrap();
    assert_eq!(first_break(&store), Some((6, BreakReason::IndexMismatch)));

    let dir2 = tempfile::tempdir().unwrap();
    let (store, path) = sqlite_store(dir2.path(), 8);
    let conn = insider(&path);
    drop_all_triggers(&conn);
    conn.execute(
        "UPDATE audit_records SET event_name = 'user.deleted' WHERE seq = 5",
        [],
    )
    .unwrap();
    match first_break(&store) {
        Some((5, BreakReason::Corrupt(why))) => assert!(why.contains("event_name"), "{why}"),
        other => panic!("expected a corrupt record at seq 5, got {other:?}"),
    }
    // The filter itself now lies, which is exactly what verify reports.
    let deleted = store
        .query(&Query::new().event("user.deleted"))
        .unwrap()
        .count();
    assert_eq!(deleted, 1);
}

/// Hole 4: a scan that ends early (a damaged index) must not be "intact" over part of the
/// trail. The seq index is given the B-tree of a 15-entry index (what a damaged index page
/// does to a range scan: the rows past it are unreachable), so the walk and the head both
/// stop at 15 while the table holds 40. verify counts through another structure and names
/// the missing tail; the file's own check reports the damage too.
#[test]
fn sqlite_a_damaged_seq_index_is_not_intact() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = sqlite_store(dir.path(), 40);
    drop(store);
    let conn = insider(&path);
    conn.execute_batch(
        "CREATE UNIQUE INDEX audit_short ON audit_records (tenant, seq) WHERE seq <= 15",
    )
    .unwrap();
    let root = |name: &str| -> i64 {
        conn.query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .unwrap()
    };
    let (full, short) = (root("audit_records_seq"), root("audit_short"));
    let version: i64 = conn
        .query_row("PRAGMA schema_version", [], |r| r.get(0))
        .unwrap();
    conn.execute_batch("PRAGMA writable_schema = ON").unwrap();
    conn.execute(
        "UPDATE sqlite_schema SET rootpage = CASE name WHEN 'audit_records_seq' THEN ?1 ELSE ?2 END \
         WHERE name IN ('audit_records_seq', 'audit_short')",
        params![short, full],
    )
    .unwrap();
    conn.execute_batch(&format!(
        "PRAGMA schema_version = {}; PRAGMA writable_schema = OFF;",
        version + 1
    ))
    .unwrap();
    drop(conn);
    let store = SqliteSink::open(&path).unwrap();
    let tenant = TenantId::default();
    assert_eq!(
        store.head(&tenant).unwrap().map(|h| h.seq),
        Some(15),
        "the damaged index hides the tail from the head too"
    );
    let report = store.verify(&tenant).unwrap();
    assert!(!report.is_intact(), "{report}");
    assert_eq!(report.count, 15);
    assert_eq!(
        report.first_break.map(|b| (b.seq, b.reason)),
        Some((16, BreakReason::MissingTail { head_seq: 40 })),
    );
    let full = store
        .verify_with(&tenant, &VerifyOptions::new().storage(StorageCheck::Full))
        .unwrap();
    assert!(
        matches!(&full.storage, Some(Err(why)) if why.contains("audit_records_seq") || why.contains("index")),
        "integrity_check names the index: {:?}",
        full.storage
    );
    let quick = store
        .verify_with(&tenant, &VerifyOptions::new().storage(StorageCheck::Quick))
        .unwrap();
    assert!(
        quick.storage.is_some(),
        "the quick check ran: {:?}",
        quick.storage
    );
}

/// Hole 6: an unknown top-level key of a record is refused on import, like an unknown key
/// inside `actor` or `context`: one rule for the whole envelope.
#[test]
fn an_unknown_top_level_key_of_a_record_is_refused() {
    let store = audit_log::MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(1)))
        .unwrap();
    let mut json: serde_json::Value = serde_json::to_value(store.records().remove(0)).unwrap();
    assert!(serde_json::from_value::<Record>(json.clone()).is_ok());
    json["approved_by"] = serde_json::json!("mallory");
    let err = serde_json::from_value::<Record>(json)
        .unwrap_err()
        .to_string();
    assert!(err.contains("approved_by"), "{err}");
}

#[cfg(feature = "postgres")]
mod postgres_attacks {
    //! The same attacks through `psql`'s door: an administrator's own connection.

    use super::*;
    use audit_log::{PostgresOptions, PostgresSink};

    fn url(test: &str) -> Option<String> {
        match std::env::var("AUDIT_LOG_POSTGRES_URL") {
            Ok(u) if !u.is_empty() => Some(u),
            _ => {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "postgres test {test} NOT RUN: set AUDIT_LOG_POSTGRES_URL to run it"
                );
                None
            }
        }
    }

    /// A store in a schema of its own, dropped at the end.
    struct Schema {
        url: String,
        name: String,
        store: PostgresSink,
    }

    impl Schema {
        fn new(url: &str, tag: &str, n: u64) -> Self {
            let name = format!(
                "audit_tamper_{tag}_{}_{}",
                std::process::id(),
                Utc::now().timestamp_subsec_nanos()
            );
            let store =
                PostgresSink::connect_with(url, PostgresOptions::new().schema(&name)).unwrap();
            let clock = ManualClock::new(t0());
            let log = AuditLog::builder(store.clone())
                .clock(clock.clone())
                .build();
            for i in 1..=n {
                clock.advance(Duration::minutes(1));
                log.record(
                    &Actor::user(1, "root"),
                    Event::user_added_to_group(EntityRef::new(i, "u"), EntityRef::new(i % 3, "g")),
                )
                .unwrap();
            }
            Schema {
                url: url.to_owned(),
                name,
                store,
            }
        }

        fn psql(&self) -> postgres::Client {
            postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
        }
    }

    impl Drop for Schema {
        fn drop(&mut self) {
            if let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
            }
        }
    }

    fn first_break(store: &PostgresSink) -> Option<(u64, BreakReason)> {
        store
            .verify(&TenantId::default())
            .unwrap()
            .first_break
            .map(|b| (b.seq, b.reason))
    }

    /// Hole 1 (PostgreSQL): the transaction-local purge declaration lets any role with DELETE
    /// remove a prefix and move the anchor. It cannot add the `audit.purged` record that a
    /// real purge writes, so verify names the start, also against an older checkpoint.
    #[test]
    fn postgres_a_removed_prefix_with_a_declared_anchor_is_named() {
        let Some(url) = url("tamper_prefix") else {
            return;
        };
        let s = Schema::new(&url, "prefix", 10);
        let before: Checkpoint = s.store.checkpoint(&TenantId::default()).unwrap().unwrap();
        let mut c = s.psql();
        let n = &s.name;
        let mut tx = c.transaction().unwrap();
        tx.execute(
            "SELECT set_config('audit_log.purge', json_build_object('schema', $1::text, \
             'tenant', 'default', 'through', 5::bigint)::text, true)",
            &[n],
        )
        .unwrap();
        tx.batch_execute(&format!(
            "DELETE FROM {n}.audit_records WHERE tenant = 'default' AND seq <= 5;
             UPDATE {n}.audit_heads SET anchor_seq = 5,
                 anchor_hash = (SELECT prev_hash FROM {n}.audit_records WHERE tenant = 'default' AND seq = 6)
             WHERE tenant = 'default';"
        ))
        .unwrap();
        tx.commit().unwrap();
        let expected = Some((6, BreakReason::UnaccountedStart { anchor_seq: 5 }));
        assert_eq!(first_break(&s.store), expected);
        let against = s.store.verify_against(&before).unwrap();
        assert_eq!(against.first_break.map(|b| (b.seq, b.reason)), expected);
    }

    /// Hole 3 (PostgreSQL): a forged mention row for an existing record (the application role
    /// may insert mentions) is named; one for a record that does not exist is refused.
    #[test]
    fn postgres_a_forged_mention_is_named_and_an_orphan_refused() {
        let Some(url) = url("tamper_mention") else {
            return;
        };
        let s = Schema::new(&url, "mention", 8);
        let mut c = s.psql();
        let n = &s.name;
        c.batch_execute(&format!(
            "INSERT INTO {n}.audit_mentions (tenant, kind, entity_id, seq) VALUES ('default', 'user', '999', 4)"
        ))
        .unwrap();
        assert_eq!(first_break(&s.store), Some((4, BreakReason::IndexMismatch)));
        let orphan = c.batch_execute(&format!(
            "INSERT INTO {n}.audit_mentions (tenant, kind, entity_id, seq) VALUES ('default', 'user', '1', 77)"
        ));
        assert!(
            orphan.is_err(),
            "a mention for a record that does not exist"
        );
    }

    /// Hole 3 (PostgreSQL), the owner who disables the triggers: a rewritten event name is
    /// named as a corrupt record.
    #[test]
    fn postgres_a_forged_event_name_is_named() {
        let Some(url) = url("tamper_event") else {
            return;
        };
        let s = Schema::new(&url, "event", 6);
        let mut c = s.psql();
        let n = &s.name;
        c.batch_execute(&format!(
            "ALTER TABLE {n}.audit_records DISABLE TRIGGER USER;
             UPDATE {n}.audit_records SET event_name = 'user.deleted' WHERE seq = 2;
             ALTER TABLE {n}.audit_records ENABLE TRIGGER USER;"
        ))
        .unwrap();
        match first_break(&s.store) {
            Some((2, BreakReason::Corrupt(why))) => assert!(why.contains("event_name"), "{why}"),
            other => panic!("expected a corrupt record at seq 2, got {other:?}"),
        }
    }
}
