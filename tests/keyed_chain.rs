#![cfg(feature = "sqlite")]
//! A keyed chain: every record is also sealed under a key the store never keeps, so someone
//! with SQL access but without the key cannot append or rewrite a record that verifies with
//! the key (issue #11, "evidence an insider cannot forge"). The same checks on every store.

use std::io::Cursor;

use audit_log::chain::{self, BreakReason, VerifyOptions};
use audit_log::rusqlite::{params, Connection};
use audit_log::{
    Actor, AuditLog, AuditSink, AuditStore, AuditStoreExt, ChainAlgorithm, ChainKey, EntityRef,
    Error, Event, Import, JsonlExport, MemorySink, Preparer, PurgePoint, Query, Record,
    RetentionExt, SealedSink, SqliteOptions, SqliteSink, TenantId,
};

fn key() -> ChainKey {
    ChainKey::new("k1", [42; 32]).unwrap()
}

fn other_key_same_id() -> ChainKey {
    ChainKey::new("k1", [43; 32]).unwrap()
}

fn fill<S: AuditSink + Clone + 'static>(store: &S, n: u64) {
    let log = AuditLog::builder(store.clone()).build();
    for i in 1..=n {
        log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(i)))
            .unwrap();
    }
}

fn with_key(store: &dyn AuditStore, tenant: &TenantId) -> chain::VerifyReport {
    chain::verify_with(store, tenant, &VerifyOptions::new().key(key())).unwrap()
}

/// What every keyed store must do, given a way to append a forged record behind its back.
fn keyed_store_checks(store: &(impl audit_log::Store + SealedSink + Clone + 'static)) {
    let tenant = TenantId::default();
    fill(store, 5);
    assert_eq!(store.chain_key_id().as_deref(), Some("k1"));
    let records: Vec<Record> = store
        .query(&Query::new())
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(records.iter().all(|r| r.seal == Some(key().seal(&r.hash))));

    let checked = with_key(store, &tenant);
    assert!(checked.is_intact(), "{checked}");
    assert_eq!(checked.sealed, Some(true));
    let unchecked = store.verify(&tenant).unwrap();
    assert!(unchecked.is_intact());
    assert_eq!(
        unchecked.sealed,
        Some(false),
        "verify without the key says so"
    );
    let wrong = chain::verify_with(
        store,
        &tenant,
        &VerifyOptions::new().key(ChainKey::new("k2", [42; 32]).unwrap()),
    );
    assert!(matches!(wrong, Err(Error::Verification(_))), "{wrong:?}");

    // A batch, a purge, then more appends: all sealed, the chain keyed throughout.
    let log = AuditLog::builder(store.clone()).build();
    log.record_batch((0..3).map(|i| {
        audit_log::Entry::new(
            Actor::system(),
            Event::user_deleted(EntityRef::id_only(100 + i)),
        )
    }))
    .unwrap();
    assert!(with_key(store, &tenant).is_intact());

    // Import: records sealed under the key are taken, others refused before anything is
    // written.
    let source = MemorySink::new();
    let other = AuditLog::builder(source.clone()).tenant("copy").build();
    for i in 1..=2 {
        other
            .record(&Actor::system(), Event::user_deleted(EntityRef::id_only(i)))
            .unwrap();
    }
    let refused = store.append_sealed(source.records_of(&TenantId::new("copy")));
    assert!(
        matches!(&refused, Err(Error::InvalidInput { reason, .. }) if reason.contains("not sealed")),
        "{refused:?}"
    );
    let mut file = Vec::new();
    JsonlExport::new()
        .write(store, &Query::new(), &mut file)
        .unwrap();
    let keyed_copy = MemorySink::with_chain_key(ChainAlgorithm::default(), key());
    Import::new()
        .from_reader(&keyed_copy, Cursor::new(file.clone()))
        .unwrap();
    assert!(with_key(&keyed_copy, &tenant).is_intact());
    let unkeyed_copy = MemorySink::new();
    assert!(Import::new()
        .from_reader(&unkeyed_copy, Cursor::new(file))
        .is_err());
}

#[test]
fn memory_store_keyed() {
    let store = MemorySink::with_chain_key(ChainAlgorithm::default(), key());
    keyed_store_checks(&store);
    store
        .purge(
            &Preparer::new(),
            &TenantId::default(),
            PurgePoint::ThroughSeq(2),
            &Actor::service("retention"),
        )
        .unwrap();
    let report = with_key(&store, &TenantId::default());
    assert!(report.is_intact(), "{report}");
}

#[test]
fn sqlite_store_keyed_and_a_forged_tail_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyed.db");
    let store = SqliteOptions::new().chain_key(key()).open(&path).unwrap();
    keyed_store_checks(&store);
    let tenant = TenantId::default();
    store
        .purge(
            &Preparer::new(),
            &tenant,
            PurgePoint::ThroughSeq(2),
            &Actor::service("retention"),
        )
        .unwrap();
    assert!(with_key(&store, &tenant).is_intact());
    drop(store);

    // Opening: without the key for writing, with another key under the same id, or with a key
    // for a store made without one: refused. Reading without it is fine.
    assert!(matches!(
        SqliteSink::open(&path),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        SqliteOptions::new()
            .chain_key(other_key_same_id())
            .open(&path),
        Err(Error::InvalidInput { .. })
    ));
    let reader = SqliteOptions::new().read_only(true).open(&path).unwrap();
    assert_eq!(reader.chain_key_id().as_deref(), Some("k1"));
    let plain = dir.path().join("plain.db");
    drop(SqliteSink::open(&plain).unwrap());
    assert!(matches!(
        SqliteOptions::new().chain_key(key()).open(&plain),
        Err(Error::InvalidInput { .. })
    ));

    // The insider without the key appends a record whose hash chains perfectly: verify
    // without the key cannot tell; with the key it names the record.
    let head = reader.head(&tenant).unwrap().unwrap();
    let conn = Connection::open(&path).unwrap();
    let forged = Preparer::new()
        .prepare(audit_log::Entry::new(
            Actor::user(66, "mallory"),
            Event::user_deleted(EntityRef::new(1, "root")),
        ))
        .unwrap()
        .seal(ChainAlgorithm::default(), head.seq + 1, head.hash);
    let cols = "tenant, seq, id, occurred_at, actor_kind, actor_id, actor_display, event_name, \
        outcome, ip, user_agent, request_id, correlation_id, reason, schema_version, chain, \
        prev_hash, hash, event_json, seal";
    conn.execute(
        &format!(
            "INSERT INTO audit_records ({cols}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, \
             NULL, NULL, NULL, NULL, ?10, ?11, ?12, ?13, ?14, ?15)"
        ),
        params![
            forged.tenant.as_str(),
            forged.seq as i64,
            &forged.id.as_bytes()[..],
            forged.occurred_at.timestamp_micros(),
            forged.actor.kind.as_str(),
            forged.actor.id,
            forged.actor.display,
            forged.event.name(),
            forged.outcome.as_str(),
            forged.schema_version,
            forged.chain.as_str(),
            &forged.prev_hash.0[..],
            &forged.hash.0[..],
            forged.event.to_json(),
            &[7u8; 32][..],
        ],
    )
    .unwrap();
    for m in forged.event.mentions() {
        conn.execute(
            "INSERT INTO audit_mentions (tenant, kind, entity_id, seq) VALUES (?1, ?2, ?3, ?4)",
            params!["default", m.kind.as_str(), m.id.as_str(), forged.seq as i64],
        )
        .unwrap();
    }
    let without = reader.verify(&tenant).unwrap();
    assert!(
        without.is_intact() && without.sealed == Some(false),
        "{without}"
    );
    let report = with_key(&reader, &tenant);
    assert_eq!(
        report.first_break.map(|b| (b.seq, b.reason)),
        Some((forged.seq, BreakReason::BadSeal))
    );
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_store_keyed() {
    let Ok(url) = std::env::var("AUDIT_LOG_POSTGRES_URL") else {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "postgres test postgres_store_keyed NOT RUN: set AUDIT_LOG_POSTGRES_URL"
        );
        return;
    };
    let schema = format!("audit_keyed_{}", std::process::id());
    let options = audit_log::PostgresOptions::new().schema(&schema);
    let store =
        audit_log::PostgresSink::connect_with(&url, options.clone().chain_key(key())).unwrap();
    keyed_store_checks(&store);
    // Without the key the trail reads, but appends are refused; another key is refused.
    let reader = audit_log::PostgresSink::connect_with(&url, options.clone()).unwrap();
    assert_eq!(reader.chain_key_id().as_deref(), Some("k1"));
    let refused = AuditLog::builder(reader.clone())
        .build()
        .record(&Actor::system(), Event::user_deleted(EntityRef::id_only(9)));
    assert!(
        matches!(refused, Err(Error::InvalidInput { .. })),
        "{refused:?}"
    );
    assert!(
        audit_log::PostgresSink::connect_with(&url, options.chain_key(other_key_same_id()))
            .is_err()
    );
    if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
        let _ = c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
    }
}
