//! The public types can be shared across threads: hosts build one `AuditLog` at start-up
//! and hand clones to every worker, and stores are used behind `Arc<dyn AuditStore>`.

use std::sync::Arc;

use audit_log::chain::{BreakReason, ChainBreak};
use audit_log::*;

fn send_sync<T: Send + Sync>() {}
fn send_sync_static<T: Send + Sync + 'static>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync_static::<AuditLog>();
    send_sync_static::<AuditLogBuilder>();
    send_sync_static::<ScopedLog>();
    send_sync_static::<Entry>();
    send_sync_static::<MemorySink>();
    send_sync_static::<PreparedRecord>();
    send_sync_static::<Record>();
    send_sync_static::<Receipt>();
    send_sync_static::<Head>();
    send_sync_static::<Event>();
    send_sync_static::<UnknownEvent>();
    send_sync_static::<CustomEvent>();
    send_sync_static::<FieldChange>();
    send_sync_static::<FieldValue>();
    send_sync_static::<UserChange>();
    send_sync_static::<EntityRef>();
    send_sync_static::<EntityKey>();
    send_sync_static::<PermissionGroupRef>();
    send_sync_static::<Actor>();
    send_sync_static::<Context>();
    send_sync_static::<TenantId>();
    send_sync_static::<Query>();
    send_sync_static::<Page>();
    send_sync_static::<Error>();
    send_sync_static::<RedactionPolicy>();
    send_sync_static::<Limits>();
    send_sync_static::<Checkpoint>();
    send_sync_static::<Digest>();
    send_sync_static::<VerifyReport>();
    send_sync_static::<ChainBreak>();
    send_sync_static::<BreakReason>();
    send_sync_static::<ManualClock>();
    send_sync_static::<SystemClock>();
    send_sync::<Mention<'static>>();
    // Stores and clocks are used as trait objects shared between threads.
    send_sync_static::<Arc<dyn AuditSink>>();
    send_sync_static::<Arc<dyn AuditStore>>();
    send_sync_static::<Arc<dyn Clock>>();
}

#[test]
fn record_streams_can_move_to_another_thread() {
    fn send<T: Send>(_: &T) {}
    let store = MemorySink::new();
    let stream: RecordStream<'_> = store.query(&Query::new()).unwrap();
    send(&stream);
    assert_eq!(stream.count(), 0);
}
