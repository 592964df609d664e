//! Assert on the trail in your application's tests: give the code under test a log over a
//! `MemorySink` and assert with a `Query`. A failed assertion prints every record of the
//! tenant, so the test's output says what was recorded instead.
//!
//! Run with `cargo run --example assert_in_tests`.

use audit_log::{Actor, AuditLog, EntityKey, EntityRef, Event, MemorySink, Query};

/// The host's own code: deletes a user and records it.
fn delete_user(log: &AuditLog, admin: &Actor, id: u64) -> audit_log::Result<()> {
    // ... the application's own work ...
    log.record(admin, Event::user_deleted(EntityRef::new(id, "bob")))?;
    Ok(())
}

fn main() -> Result<(), audit_log::Error> {
    let sink = MemorySink::new();
    let log = AuditLog::builder(sink.clone()).build();
    delete_user(&log, &Actor::user(7, "root"), 42)?;

    // What a host's test asserts.
    let record = sink.assert_one(
        &Query::new()
            .event("user.deleted")
            .entity(EntityKey::user(42))
            .actor("7"),
    );
    println!("asserted: #{} {}", record.seq, record.summary());

    // And what a failing assertion says (caught here, quietly, only to show its message).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let failed = std::panic::catch_unwind(|| sink.assert_none(&Query::new().event("user.*")));
    std::panic::set_hook(hook);
    let message = failed
        .err()
        .and_then(|p| p.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    println!("a failing assertion says:\n{message}");
    Ok(())
}
