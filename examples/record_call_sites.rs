//! Record at every call site, one line each: one `AuditLog` at start-up, and a `ScopedLog`
//! per request carrying who acts and from where. Refused attempts are recorded too.
//!
//! Run with `cargo run --example record_call_sites`.

use audit_log::{
    Actor, AuditLog, AuditStore, Context, EntityRef, Event, FieldChange, ManualClock, Outcome,
    Query, SqliteSink,
};
use chrono::{TimeZone, Utc};

fn main() -> Result<(), audit_log::Error> {
    let store = SqliteSink::open_in_memory()?;
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap());
    let log = AuditLog::builder(store.clone()).clock(clock).build();

    // In the request handler: who acts, and from where, once.
    let audit = log.scoped(Actor::user(7, "root")).with_context(
        Context::new()
            .request_id("req-42")
            .reason("ticket OPS-1234"),
    );
    let ops = EntityRef::new("g-ops", "Operations");
    audit.record(Event::group_edited(
        ops.clone(),
        vec![FieldChange::new("name", "Ops", "Operations")],
    ))?;
    // A refused attempt is worth recording too: "who tried to delete Operations?"
    audit.record_outcome(Event::group_deleted(ops), Outcome::Denied)?;

    for r in store.query(&Query::new().request_id("req-42"))? {
        let r = r?;
        println!(
            "#{} {} [{}] {}",
            r.seq,
            r.occurred_at.format("%Y-%m-%d %H:%M"),
            r.context.request_id.as_deref().unwrap_or("-"),
            r.summary()
        );
    }
    Ok(())
}
