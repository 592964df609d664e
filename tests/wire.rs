//! The wire format, pinned by saved samples.
//!
//! `tests/wire/<event name>.json` holds the pretty-printed wire JSON of one sample of every
//! event (from `audit_log::conformance::sample_events`, plus the `audit.*` events and an event
//! from a "newer version"); `tests/wire/record.json` a whole record envelope with a fixed id,
//! time and chain position; `tests/wire/record-minimal.body.txt` the canonical body of a small
//! record, byte by byte, which `docs/record-format.md` quotes.
//!
//! Each test checks that serializing the sample gives exactly the saved text and that the
//! saved text parses back to the same value, so any change of the wire format (a renamed
//! field, a new default, another key order) fails here.
//!
//! After an intended change of the format, rewrite the files with
//!
//! ```text
//! AUDIT_LOG_BLESS=1 cargo test --test wire
//! ```
//!
//! and review the diff: a released wire name or field must never change.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

use audit_log::chain::{self, canonical_body};
use audit_log::conformance::sample_events;
use audit_log::event::EVENT_NAMES;
use audit_log::{
    Actor, AuditExported, AuditPurged, ChainAlgorithm, Context, Digest, EntityRef, Event, Outcome,
    PermissionGroupRef, Record, Scope, TenantId, RECORD_FORMAT_VERSION,
};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

fn wire_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wire")
}

fn blessing() -> bool {
    std::env::var_os("AUDIT_LOG_BLESS").is_some_and(|v| v == "1")
}

/// Compares `actual` with the saved file, or rewrites the file when blessing.
fn check_saved(file: &str, actual: &str) {
    let path = wire_dir().join(file);
    if blessing() {
        std::fs::create_dir_all(wire_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let saved = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `AUDIT_LOG_BLESS=1 cargo test --test wire` to create it",
            path.display()
        )
    });
    assert_eq!(
        saved,
        actual,
        "the wire form of {file} changed; if intended, rerun with AUDIT_LOG_BLESS=1 and review the diff"
    );
}

fn pretty<T: serde::Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap();
    s.push('\n');
    s
}

/// Every sample pinned: the suite's samples, the `audit.*` events (which the suite cannot
/// record through a log), and an event written by a newer version.
fn pinned_events() -> Vec<Event> {
    let mut events = sample_events();
    events.push(Event::AuditPurged(AuditPurged {
        through_seq: 1200,
        anchor_hash: Digest([0xab; 32]),
        count: 1200,
        before: Some(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()),
        state: None,
    }));
    events.push(Event::AuditExported(AuditExported {
        format: "csv".into(),
        query: json!({"event": ["user.*"], "since": "2026-01-01T00:00:00.000000Z"}),
        count: 31,
        first_seq: Some(4),
        last_seq: Some(96),
    }));
    events.push(
        Event::from_value(json!({
            "event": "user.suspended",
            "user": {"id": "42", "display": "alice"},
            "until": "2030-01-01T00:00:00.000000Z"
        }))
        .unwrap(),
    );
    events
}

fn file_name(e: &Event) -> String {
    format!("{}.json", e.name())
}

#[test]
fn every_event_serializes_to_its_saved_json() {
    for e in pinned_events() {
        check_saved(&file_name(&e), &pretty(&e));
    }
}

#[test]
fn every_saved_event_parses_back_to_the_sample() {
    for e in pinned_events() {
        let path = wire_dir().join(file_name(&e));
        let saved = std::fs::read_to_string(&path).unwrap();
        let back: Event = serde_json::from_str(&saved).unwrap();
        assert_eq!(back, e, "{} parses back", path.display());
        assert_eq!(back.is_known(), e.is_known());
    }
}

#[test]
fn every_built_in_event_has_a_saved_sample() {
    let pinned: Vec<String> = pinned_events()
        .iter()
        .map(|e| e.name().to_owned())
        .collect();
    for name in EVENT_NAMES {
        assert!(
            pinned.iter().any(|p| p == name),
            "{name} has no pinned sample"
        );
    }
    let custom = pinned_events()
        .into_iter()
        .filter(|e| matches!(e, Event::Custom(_)))
        .count();
    assert_eq!(custom, 1, "one custom sample");
    let unknown = pinned_events().iter().filter(|e| !e.is_known()).count();
    assert_eq!(unknown, 1, "one event from a newer version");
}

#[test]
fn no_stale_samples_are_left_in_the_folder() {
    let mut expected: Vec<String> = pinned_events().iter().map(file_name).collect();
    expected.extend(
        ["record.json", "record-minimal.body.txt"]
            .iter()
            .map(|s| s.to_string()),
    );
    for entry in std::fs::read_dir(wire_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            expected.contains(&name),
            "tests/wire/{name} is not pinned by any test"
        );
    }
}

fn at(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap()
}

/// A record with every envelope field set, at a fixed place in a chain.
fn full_record() -> Record {
    let payroll = EntityRef::new(3, "Payroll");
    let finance = EntityRef::new("ws-finance", "Finance");
    let mut r = Record {
        seq: 3,
        id: Uuid::parse_str("0195a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5b").unwrap(),
        // 2026-03-01T09:00:00.123456Z
        occurred_at: at(1_772_355_600_123_456),
        tenant: TenantId::new("acme"),
        actor: Actor::user(1, "root"),
        event: Event::permission_user_added(
            EntityRef::new(42, "alice"),
            PermissionGroupRef::new(9, "Payroll editors", Scope::application(payroll, finance)),
        ),
        outcome: Outcome::Success,
        context: Context::new()
            .ip(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)))
            .user_agent("Mozilla/5.0")
            .request_id("req-7f3a")
            .correlation_id("onboarding-42")
            .reason("ticket OPS-1234"),
        schema_version: RECORD_FORMAT_VERSION,
        chain: ChainAlgorithm::Sha256,
        prev_hash: ChainAlgorithm::Sha256.link(2, &Digest::ZERO, b"the record before"),
        hash: Digest::ZERO,
        seal: None,
    };
    r.hash = chain::compute_hash(&r);
    r
}

#[test]
fn a_record_serializes_to_its_saved_json_and_back() {
    let r = full_record();
    assert_eq!(
        r.occurred_at.to_rfc3339(),
        "2026-03-01T09:00:00.123456+00:00"
    );
    check_saved("record.json", &pretty(&r));
    let saved = std::fs::read_to_string(wire_dir().join("record.json")).unwrap();
    let back: Record = serde_json::from_str(&saved).unwrap();
    assert_eq!(back, r);
    // The saved hash pins the canonical encoding: if it changed, this fails.
    assert_eq!(chain::compute_hash(&back), back.hash);
}

/// Builds a canonical body from the table in `src/chain.rs` (an implementation independent
/// of the crate's), labelling every part for the dump the docs quote.
#[derive(Default)]
struct Annotated {
    bytes: Vec<u8>,
    lines: Vec<(String, Vec<u8>)>,
}

impl Annotated {
    fn part(&mut self, label: impl Into<String>, b: &[u8]) {
        self.bytes.extend_from_slice(b);
        self.lines.push((label.into(), b.to_vec()));
    }
    fn str_bytes(s: &str) -> Vec<u8> {
        let mut b = (s.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(s.as_bytes());
        b
    }
    fn str(&mut self, label: &str, s: &str) {
        self.part(format!("{label} = str {s:?}"), &Self::str_bytes(s));
    }
    fn opt_str(&mut self, label: &str, s: Option<&str>) {
        match s {
            None => self.part(format!("{label} = none"), &[0]),
            Some(s) => {
                let mut b = vec![1];
                b.extend(Self::str_bytes(s));
                self.part(format!("{label} = some str {s:?}"), &b);
            }
        }
    }
    fn json(&mut self, label: &str, v: &Value) {
        match v {
            Value::Null => self.part(format!("{label} = null"), b"n"),
            Value::Bool(b) => self.part(format!("{label} = {b}"), if *b { b"t" } else { b"f" }),
            Value::Number(n) => {
                let mut b = Vec::new();
                if let Some(i) = n.as_i64() {
                    b.push(b'i');
                    b.extend(i.to_be_bytes());
                } else if let Some(u) = n.as_u64() {
                    b.push(b'u');
                    b.extend(u.to_be_bytes());
                } else {
                    b.push(b'd');
                    b.extend(n.as_f64().unwrap().to_bits().to_be_bytes());
                }
                self.part(format!("{label} = {n}"), &b);
            }
            Value::String(s) => {
                let mut b = vec![b's'];
                b.extend(Self::str_bytes(s));
                self.part(format!("{label} = string {s:?}"), &b);
            }
            Value::Array(a) => {
                let mut b = vec![b'a'];
                b.extend((a.len() as u32).to_be_bytes());
                self.part(format!("{label} = array of {}", a.len()), &b);
                for (i, x) in a.iter().enumerate() {
                    self.json(&format!("{label}[{i}]"), x);
                }
            }
            Value::Object(m) => {
                let mut b = vec![b'o'];
                b.extend((m.len() as u32).to_be_bytes());
                self.part(format!("{label} = object of {}", m.len()), &b);
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
                for k in keys {
                    self.part(format!("{label} key {k:?}"), &Self::str_bytes(k));
                    self.json(&format!("{label}.{k}"), &m[k]);
                }
            }
        }
    }

    fn dump(&self) -> String {
        let mut out = String::new();
        for (label, b) in &self.lines {
            let _ = writeln!(out, "{label}");
            for chunk in b.chunks(16) {
                let hex: Vec<String> = chunk.iter().map(|x| format!("{x:02x}")).collect();
                let _ = writeln!(out, "    {}", hex.join(" "));
            }
        }
        out
    }
}

fn minimal_record() -> Record {
    let mut r = Record {
        seq: 1,
        id: Uuid::parse_str("0195a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5b").unwrap(),
        occurred_at: at(1_772_355_600_123_456),
        tenant: TenantId::default(),
        actor: Actor::system(),
        event: Event::user_deleted(EntityRef::new(42, "bob")),
        outcome: Outcome::Success,
        context: Context::new().reason("offboarding"),
        schema_version: RECORD_FORMAT_VERSION,
        chain: ChainAlgorithm::Sha256,
        prev_hash: Digest::ZERO,
        hash: Digest::ZERO,
        seal: None,
    };
    r.hash = chain::compute_hash(&r);
    r
}

/// The canonical body of a small record, field by field: the crate's encoder and an
/// independent one written from the spec agree, and the dump in the docs is this one.
#[test]
fn the_canonical_body_matches_the_spec_and_the_docs() {
    let r = minimal_record();
    let mut a = Annotated::default();
    a.part(
        "domain tag \"audit-log/record/v1\\0\"",
        b"audit-log/record/v1\0",
    );
    a.str("tenant", r.tenant.as_str());
    a.part(format!("id {}", r.id), r.id.as_bytes());
    a.part(
        format!("occurred_at {} = i64 micros", r.occurred_at.to_rfc3339()),
        &r.occurred_at.timestamp_micros().to_be_bytes(),
    );
    a.str("actor.kind", r.actor.kind.as_str());
    a.str("actor.id", &r.actor.id);
    a.opt_str("actor.display", r.actor.display.as_deref());
    a.str("outcome", r.outcome.as_str());
    a.opt_str("context.ip", None);
    a.opt_str("context.user_agent", None);
    a.opt_str("context.request_id", None);
    a.opt_str("context.correlation_id", None);
    a.opt_str("context.reason", r.context.reason.as_deref());
    a.part(
        format!("schema_version {}", r.schema_version),
        &r.schema_version.to_be_bytes(),
    );
    a.json("event", &r.event.to_value());
    assert_eq!(
        a.bytes,
        canonical_body(&r),
        "the crate's encoding differs from the spec"
    );

    // The hash over it, as the module docs define it.
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(b"audit-log/chain/v1\0");
    h.update(1u64.to_be_bytes());
    h.update([0u8; 32]);
    h.update(&a.bytes);
    let hash: [u8; 32] = h.finalize().into();
    assert_eq!(Digest(hash), r.hash);

    let mut dump = a.dump();
    let _ = writeln!(
        dump,
        "\n{} bytes; hash at seq 1 after the zero hash (sha256):\n    {}",
        a.bytes.len(),
        r.hash
    );
    check_saved("record-minimal.body.txt", &dump);

    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/record-format.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    assert!(
        doc.contains(&dump),
        "docs/record-format.md does not quote tests/wire/record-minimal.body.txt verbatim"
    );
}

/// Display text kept with its control characters, and display text cut and marked, are
/// encoded by the same canonical rule as any other string (length-prefixed UTF-8, nothing
/// escaped): the independent encoder above gives the crate's bytes, the hash verifies, and
/// the wire JSON reads back to the same record.
#[test]
fn display_text_as_typed_or_cut_is_encoded_like_any_string() {
    use audit_log::{AuditLog, AuditStoreExt, Entry, MemorySink};
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    let typed = "Ops\u{0}\u{7}\u{1b}[2J\u{1b}]0;x\u{7}\u{7f}\u{85}\u{9b}\u{9d}\u{61c}\u{200e}\u{202e}\u{2067}\u{2028}\r\n\t";
    let long = "é".repeat(400);
    let entry = Entry::new(
        Actor::user(1, typed),
        Event::user_added_to_group(EntityRef::new(42, long.as_str()), EntityRef::new(7, typed)),
    )
    .context(Context::new().reason(typed).user_agent("x".repeat(2000)));
    log.record_entry(entry).unwrap();
    let r = store.records().remove(0);
    assert_eq!(r.actor.display.as_deref(), Some(typed));
    let agent = r.context.user_agent.as_deref().unwrap();
    assert!(agent.ends_with("…[cut from 2000 bytes]"), "{agent}");
    assert_eq!(r.cut_fields().len(), 2, "{:?}", r.cut_fields());

    let mut a = Annotated::default();
    a.part("domain tag", b"audit-log/record/v1\0");
    a.str("tenant", r.tenant.as_str());
    a.part("id", r.id.as_bytes());
    a.part(
        "occurred_at",
        &r.occurred_at.timestamp_micros().to_be_bytes(),
    );
    a.str("actor.kind", r.actor.kind.as_str());
    a.str("actor.id", &r.actor.id);
    a.opt_str("actor.display", r.actor.display.as_deref());
    a.str("outcome", r.outcome.as_str());
    a.opt_str("context.ip", None);
    a.opt_str("context.user_agent", r.context.user_agent.as_deref());
    a.opt_str("context.request_id", None);
    a.opt_str("context.correlation_id", None);
    a.opt_str("context.reason", r.context.reason.as_deref());
    a.part("schema_version", &r.schema_version.to_be_bytes());
    a.json("event", &r.event.to_value());
    assert_eq!(a.bytes, canonical_body(&r));
    assert_eq!(chain::compute_hash(&r), r.hash);
    assert!(store.verify(&TenantId::default()).unwrap().is_intact());

    let back: Record = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(back, r);
    assert_eq!(chain::compute_hash(&back), r.hash);
}
