//! Move a trail to another store: export JSON Lines from one store and import them into
//! another. The records keep their seqs and hashes, the chain is checked before anything is
//! written, and running the same import again writes nothing.
//!
//! Run with `cargo run --example move_trail`.

use std::io::Cursor;

use audit_log::{
    Actor, AuditLog, AuditStore, AuditStoreExt, EntityRef, Event, Import, JsonlExport, MemorySink,
    Query, SqliteSink, TenantId,
};

fn main() -> Result<(), audit_log::Error> {
    let old = MemorySink::new();
    let log = AuditLog::builder(old.clone()).build();
    for i in 1..=3 {
        log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(i)))?;
    }

    let mut file = Vec::new();
    let manifest = JsonlExport::new().write(&old, &Query::new(), &mut file)?;
    println!("exported {} records", manifest.count);

    let new = SqliteSink::open_in_memory()?;
    let first = Import::new().from_reader(&new, Cursor::new(file.clone()))?;
    println!("imported {}, skipped {}", first.imported, first.skipped);
    let again = Import::new().from_reader(&new, Cursor::new(file))?;
    println!(
        "again: imported {}, skipped {}",
        again.imported, again.skipped
    );

    let tenant = TenantId::default();
    println!(
        "same head in both stores: {}",
        new.head(&tenant)? == old.head(&tenant)?
    );
    println!("{}", new.verify(&tenant)?);
    Ok(())
}
