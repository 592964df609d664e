//! A host that keeps its users in the same SQLite file as its audit trail, and writes both
//! in one transaction: a rolled-back change leaves no audit record, a committed one always
//! has it.
//!
//! Run with `cargo run --example sqlite_host_transaction`.

use audit_log::rusqlite::{Connection, TransactionBehavior};
use audit_log::{
    Actor, AuditLog, AuditStore, AuditStoreExt, ChainAlgorithm, EntityRef, Entry, Event, Query,
    SqliteSink,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("app.db");

    // The host's own connection and table; the audit tables go into the same file.
    let mut conn = Connection::open(&path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE users (id INTEGER PRIMARY KEY, login TEXT NOT NULL UNIQUE)",
    )?;
    SqliteSink::install_schema(&conn, ChainAlgorithm::default())?;

    // The store over the same file, for reading (and for appends outside host transactions).
    let store = SqliteSink::open(&path)?;
    let log = AuditLog::builder(store.clone()).build();
    let admin = Actor::user(1, "root");

    // 1. Create alice: her row and her audit record commit together.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute("INSERT INTO users (id, login) VALUES (42, 'alice')", [])?;
    let record = log.prepare(Entry::new(
        admin.clone(),
        Event::user_created(EntityRef::new(42, "alice")),
    ))?;
    let receipts = SqliteSink::append_in(&tx, vec![record])?;
    tx.commit()?;
    println!("committed: user 42 and audit record #{}", receipts[0].seq);

    // 2. Try to create a second "alice": the insert fails, the host rolls back, and the
    //    audit record prepared for it disappears with the transaction.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let record = log.prepare(Entry::new(
        admin.clone(),
        Event::user_created(EntityRef::new(43, "alice")),
    ))?;
    SqliteSink::append_in(&tx, vec![record])?;
    match tx.execute("INSERT INTO users (id, login) VALUES (43, 'alice')", []) {
        Ok(_) => tx.commit()?,
        Err(e) => {
            println!("rolled back: {e}");
            tx.rollback()?;
        }
    }

    let users: i64 = conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
    let trail: Vec<String> = store
        .query(&Query::new())?
        .map(|r| r.map(|r| format!("#{} {}", r.seq, r.summary())))
        .collect::<Result<_, _>>()?;
    println!("users: {users}; audit trail: {trail:?}");
    assert_eq!(users, 1);
    assert_eq!(trail.len(), 1, "the rolled-back change left no record");

    let report = store.verify(log.default_tenant())?;
    println!("{report}");
    assert!(report.is_intact());
    Ok(())
}
