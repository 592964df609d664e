//! Prove nobody edited, truncated or rolled back the trail: verify the chain, and keep a
//! checkpoint somewhere the store's operators cannot rewrite. Restoring an older backup of
//! the store is then caught against the checkpoint, which a chain alone cannot show.
//!
//! Run with `cargo run --example verify_checkpoint`.

use audit_log::{
    Actor, AuditLog, AuditStoreExt, Checkpoint, EntityRef, Event, SqliteSink, TenantId,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = SqliteSink::open(dir.path().join("audit.db"))?;
    let log = AuditLog::builder(store.clone()).build();
    let tenant = TenantId::default();
    for i in 1..=3 {
        log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(i)))?;
    }
    // A backup made now, restored later by someone who wants records 4 and 5 gone.
    let backup = dir.path().join("backup.db");
    store.backup_to(&backup)?;
    for i in 4..=5 {
        log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(i)))?;
    }

    println!("{}", store.verify(&tenant)?);
    // E-mail it, put it in a ticket, sign it: anywhere outside the store.
    let saved = store
        .checkpoint(&tenant)?
        .ok_or("an empty trail")?
        .to_json();
    println!("checkpoint: {saved}");

    let checkpoint = Checkpoint::from_json(&saved)?;
    println!("now:      {}", store.verify_against(&checkpoint)?);
    let restored = SqliteSink::open(&backup)?;
    let report = restored.verify_against(&checkpoint)?;
    println!("restored: {report}");
    println!("intact after the restore? {}", report.is_intact());
    Ok(())
}
