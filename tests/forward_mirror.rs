//! The tracing mirror: one event per committed record, target `audit_log`, with tenant,
//! seq, id, event, actor and outcome; nothing for a failed append.
#![cfg(feature = "tracing")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use audit_log::forward::Mirror;
use audit_log::{Actor, AuditLog, EntityRef, Entry, Event, MemorySink, Outcome};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event as TraceEvent, Metadata, Subscriber};

type Seen = Arc<Mutex<Vec<(String, BTreeMap<String, String>)>>>;

/// Keeps every event's target and fields.
struct Capture(Seen);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, e: &TraceEvent<'_>) {
        let mut fields = BTreeMap::new();
        e.record(&mut Fields(&mut fields));
        self.0
            .lock()
            .unwrap()
            .push((e.metadata().target().to_owned(), fields));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn each_committed_record_is_one_tracing_event() {
    let seen: Seen = Arc::default();
    let store = MemorySink::new();
    let log = AuditLog::builder(Mirror::new(store.clone())).build();
    tracing::subscriber::with_default(Capture(seen.clone()), || {
        log.record_batch([
            Entry::new(
                Actor::user(1, "root"),
                Event::user_deleted(EntityRef::new(42, "alice")),
            )
            .tenant("acme"),
            Entry::new(
                Actor::service("sync"),
                Event::group_deleted(EntityRef::new(7, "Ops")),
            )
            .tenant("acme")
            .outcome(Outcome::Denied),
        ])
        .unwrap();
        // Refused before the store: nothing committed, nothing mirrored.
        assert!(log
            .record(
                &Actor::user("", "x"),
                Event::user_deleted(EntityRef::new(1, "y"))
            )
            .is_err());
    });
    let seen = seen.lock().unwrap().clone();
    let records = store.find(&audit_log::Query::for_tenant("acme"));
    assert_eq!(seen.len(), 2, "{seen:?}");
    for ((target, f), r) in seen.iter().zip(&records) {
        assert_eq!(target, "audit_log");
        assert_eq!(f["tenant"], "acme");
        assert_eq!(f["seq"], r.seq.to_string());
        assert_eq!(f["id"], r.id.to_string());
        assert_eq!(f["event"], r.event.name());
        assert_eq!(f["actor"], r.actor.id);
        assert_eq!(f["outcome"], r.outcome.as_str());
    }
}
