//! Purge old records under a retention policy: only through one explicit call, which records
//! an `audit.purged` event of its own (stamped by your log's clock); the rest of the trail
//! still verifies from the purge point, and a checkpoint taken before the purge too.
//!
//! Run with `cargo run --example purge_retention`.

use audit_log::{
    Actor, AuditLog, AuditStore, AuditStoreExt, Clock, EntityRef, Event, ManualClock, PurgePoint,
    Query, RetentionExt, SqliteSink, TenantId,
};
use chrono::{Duration, TimeZone, Utc};

fn main() -> Result<(), audit_log::Error> {
    let store = SqliteSink::open_in_memory()?;
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2025, 1, 1, 9, 0, 0).unwrap());
    let log = AuditLog::builder(store.clone())
        .clock(clock.clone())
        .build();
    for i in 1..=6 {
        clock.advance(Duration::days(90));
        log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(i)))?;
    }
    let tenant = TenantId::default();
    let before = store.checkpoint(&tenant)?;

    // The yearly job: keep one year.
    let cutoff = clock.now() - Duration::days(365);
    let report = store.purge(
        log.preparer(),
        &tenant,
        PurgePoint::Before(cutoff),
        &Actor::service("retention"),
    )?;
    println!(
        "removed {} records; the trail now starts after seq {}",
        report.removed, report.anchor.seq
    );
    for r in store.query(&Query::new())? {
        let r = r?;
        println!(
            "#{} {} {}",
            r.seq,
            r.occurred_at.format("%Y-%m-%d"),
            r.summary()
        );
    }
    println!("{}", store.verify(&tenant)?);
    if let Some(cp) = before {
        println!(
            "against the checkpoint from before: {}",
            store.verify_against(&cp)?
        );
    }
    Ok(())
}
