//! Keep secrets out: a password change has no value to record, and the redaction policy
//! replaces secret-looking fields (and the ones you name) before anything is encoded,
//! optionally with a keyed fingerprint so equal values can still be matched.
//!
//! Run with `cargo run --example keep_secrets`.

use audit_log::{
    Actor, AuditLog, EntityRef, Event, FieldChange, MemorySink, RedactionPolicy, UserChange,
};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = MemorySink::new();
    let policy = RedactionPolicy::default()
        .redact("iban")
        .fingerprint_key(b"from-your-vault");
    let log = AuditLog::builder(store.clone())
        .redaction(policy.clone())
        .build();
    let root = Actor::user(1, "root");
    let alice = EntityRef::new(42, "alice");

    // There is no way to pass the password itself.
    log.record(
        &root,
        Event::user_edited(alice, vec![UserChange::password_changed()]),
    )?;
    log.record(
        &root,
        Event::workspace_edited(
            EntityRef::new(1, "Finance"),
            vec![
                FieldChange::new("iban", "DE89 3704 0044", "DE02 1203 0000"),
                FieldChange::new("api_key", "sk-live-old", "sk-live-new"),
            ],
        ),
    )?;

    for r in store.records() {
        println!("#{} {}", r.seq, r.event.to_json());
    }
    let stored = serde_json::to_string(&store.records())?;
    println!(
        "secret values stored: {}",
        ["DE89", "DE02", "sk-live"]
            .iter()
            .any(|s| stored.contains(s))
    );
    // The fingerprint lets an auditor check a candidate value without the store revealing it.
    let candidate = policy
        .fingerprint(&json!("DE02 1203 0000"))
        .unwrap_or_default();
    println!("candidate matches: {}", stored.contains(&candidate));
    Ok(())
}
