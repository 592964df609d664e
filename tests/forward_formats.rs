//! The forwarding formats: the record JSON is lossless, CloudEvents and OCSF output passes
//! the published JSON Schemas vendored in tests/fixtures/forward (their README says what
//! and from where), and the rules of the specifications a schema cannot express (CloudEvents
//! attribute names, OCSF's type_uid), OCSF picks the classes the issue names, and CEF output
//! parsed back by a strict CEF parser holds exactly the recorded text, whatever it is, with no
//! injected field or line.
#![cfg(feature = "forward")]

use std::net::IpAddr;

use audit_log::conformance::sample_events;
use audit_log::forward::{Format, Product};
use audit_log::{
    chain, Actor, AuditLog, Context, EntityRef, Entry, Event, MemorySink, Outcome, Record,
    UserChange,
};
use proptest::prelude::*;
use serde_json::Value;

fn schema(name: &str) -> jsonschema::Validator {
    let path = format!(
        "{}/tests/fixtures/forward/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn check(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Every sample event, with each outcome and a full context, as stored records.
fn records() -> Vec<Record> {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    let ctx = [
        Context::new(),
        Context::new()
            .ip("203.0.113.9".parse::<IpAddr>().unwrap())
            .user_agent("Mozilla/5.0")
            .request_id("req-1")
            .correlation_id("job-7")
            .reason("ticket OPS-1"),
        Context::new().ip("2001:db8::1".parse::<IpAddr>().unwrap()),
    ];
    let mut entries = Vec::new();
    for (i, e) in sample_events().into_iter().enumerate() {
        let outcome = [Outcome::Success, Outcome::Failure, Outcome::Denied][i % 3];
        entries.push(
            Entry::new(Actor::user(1, "root"), e)
                .outcome(outcome)
                .context(ctx[i % 3].clone())
                .tenant("acme corp/eu"),
        );
    }
    entries.push(
        Entry::new(
            Actor::service("sync-job"),
            Event::user_edited(
                EntityRef::new(42, "alice"),
                vec![
                    UserChange::password_changed(),
                    UserChange::email("a@x", "b@x"),
                ],
            ),
        )
        .tenant("acme corp/eu"),
    );
    entries.push(
        Entry::new(
            Actor::system(),
            Event::user_edited(
                EntityRef::new(42, "alice"),
                vec![UserChange::full_name("A", "B")],
            ),
        )
        .tenant("acme corp/eu"),
    );
    log.record_batch(entries).unwrap();
    store.find(&audit_log::Query::for_tenant("acme corp/eu"))
}

fn encode(f: Format, r: &Record) -> Value {
    serde_json::from_slice(&f.encode(r, &Product::default()).unwrap()).unwrap()
}

/// The record JSON reads back as the record itself, and its hash recomputes.
#[test]
fn record_json_is_lossless() {
    for r in records() {
        let bytes = Format::Record.encode(&r, &Product::default()).unwrap();
        let back: Record = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(chain::compute_hash(&back), r.hash);
    }
}

/// The CloudEvents naming rule for context attributes (specification 1.0, "Attribute
/// Naming Convention"), which its JSON Schema leaves out: lowercase ASCII letters and digits
/// only, at most 20 characters (a SHOULD, kept here as a must).
fn cloudevents_attribute_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 20
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// CloudEvents: valid per the specification's JSON Schema, attribute names as the
/// specification names them, id = record id, the chain fields as extensions, the record as
/// data.
#[test]
fn cloudevents_pass_the_schema_and_carry_the_chain() {
    let v = schema("cloudevents-1.0.spec.json");
    for r in records() {
        let e = encode(Format::CloudEvents, &r);
        assert_eq!(check(&v, &e), Vec::<String>::new(), "{e:#}");
        for name in e.as_object().unwrap().keys() {
            // `data` and `data_base64` are the payload's members, not attributes.
            if name != "data" && name != "data_base64" {
                assert!(cloudevents_attribute_name_ok(name), "attribute {name:?}");
            }
        }
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["id"], r.id.to_string());
        assert_eq!(e["source"], "/audit-log/acme%20corp%2Feu");
        assert_eq!(e["type"], format!("audit-log.{}", r.event.name()));
        assert_eq!(e["auditseq"], r.seq.to_string());
        assert_eq!(e["audithash"], r.hash.to_hex());
        assert_eq!(e["auditprevhash"], r.prev_hash.to_hex());
        let data: Record = serde_json::from_value(e["data"].clone()).unwrap();
        assert_eq!(data, r);
    }
    // The schema is not vacuous: a missing required attribute, or a time that is not
    // RFC 3339, fails it; the naming rule refuses what the schema lets through.
    let r = &records()[0];
    let mut e = encode(Format::CloudEvents, r);
    e.as_object_mut().unwrap().remove("source");
    assert!(!check(&v, &e).is_empty());
    let mut e = encode(Format::CloudEvents, r);
    e["time"] = Value::from("yesterday");
    assert!(!check(&v, &e).is_empty());
    assert!(!cloudevents_attribute_name_ok("Audit_Seq"));
    assert!(!cloudevents_attribute_name_ok("auditpreviousrecordhash"));
}

fn ocsf_schema(class_uid: u64) -> &'static str {
    match class_uid {
        3001 => "ocsf-1.3.0-account_change.schema.json",
        3005 => "ocsf-1.3.0-user_access.schema.json",
        3006 => "ocsf-1.3.0-group_management.schema.json",
        0 => "ocsf-1.3.0-base_event.schema.json",
        other => panic!("unexpected class {other}"),
    }
}

/// OCSF: each event valid for its class's schema, in the class the issue names.
#[test]
fn ocsf_events_pass_their_class_schema() {
    let mut seen = std::collections::BTreeMap::new();
    for r in records() {
        let e = encode(Format::Ocsf, &r);
        let class = e["class_uid"].as_u64().unwrap();
        let v = schema(ocsf_schema(class));
        assert_eq!(
            check(&v, &e),
            Vec::<String>::new(),
            "{}: {e:#}",
            r.event.name()
        );
        assert_eq!(e["metadata"]["uid"], r.id.to_string());
        assert_eq!(e["metadata"]["sequence"], r.seq);
        assert_eq!(e["unmapped"]["audit_log"]["hash"], r.hash.to_hex());
        assert_eq!(e["unmapped"]["audit_log"]["tenant"], r.tenant.as_str());
        let activity = e["activity_id"].as_u64().unwrap();
        // OCSF's rule, which the class schemas list but cannot tie to the activity.
        assert_eq!(e["type_uid"], class * 100 + activity, "{}", r.event.name());
        if class != 0 {
            // `actor` is a Host profile attribute in the IAM classes: the event says so.
            assert_eq!(e["metadata"]["profiles"], serde_json::json!(["host"]));
        }
        seen.insert(r.event.name().to_owned(), (class, activity));
        if class == 0 {
            // Unmapped events carry the raw record, which reads back whole.
            let raw: Record = serde_json::from_str(e["raw_data"].as_str().unwrap()).unwrap();
            assert_eq!(raw, r);
            assert_eq!(e["unmapped"]["audit_log"]["payload"], r.event.to_value());
        }
        if r.outcome != Outcome::Success {
            assert_eq!(e["status_id"], 2);
        }
    }
    let expect = [
        ("user.created", (3001, 1)),
        ("user.deleted", (3001, 6)),
        ("user.added_to_group", (3006, 3)),
        ("user.removed_from_group", (3006, 4)),
        ("permission.user_added", (3005, 1)),
        ("permission.user_removed", (3005, 2)),
        ("permission.group_added", (3006, 1)),
        ("permission.group_removed", (3006, 2)),
        ("application.created", (0, 99)),
    ];
    for (name, want) in expect {
        assert_eq!(seen.get(name), Some(&want), "{name}");
    }
    // A password change is the Account Change activity 3; another edit is "Other".
    let edits: Vec<(u64, u64)> = records()
        .iter()
        .filter(|r| r.event.name() == "user.edited")
        .map(|r| {
            let e = encode(Format::Ocsf, r);
            (
                e["class_uid"].as_u64().unwrap(),
                e["activity_id"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        edits.contains(&(3001, 3)) && edits.contains(&(3001, 99)),
        "{edits:?}"
    );
    // The schemas are not vacuous.
    let r = records()
        .into_iter()
        .find(|r| r.event.name() == "user.created")
        .unwrap();
    let v = schema(ocsf_schema(3001));
    let mut e = encode(Format::Ocsf, &r);
    e.as_object_mut().unwrap().remove("user");
    assert!(!check(&v, &e).is_empty());
    let mut e = encode(Format::Ocsf, &r);
    e["type_uid"] = Value::from(300201); // Authentication's, not Account Change's
    assert!(!check(&v, &e).is_empty());
    let mut e = encode(Format::Ocsf, &r);
    e["user"]["favourite_colour"] = Value::from("blue");
    assert!(
        !check(&v, &e).is_empty(),
        "no attribute the object does not define"
    );
    let mut e = encode(Format::Ocsf, &r);
    e["metadata"].as_object_mut().unwrap().remove("version");
    assert!(!check(&v, &e).is_empty(), "metadata.version is required");
}

/// A strict CEF parser: the seven header fields and the extension pairs, unescaped.
fn parse_cef(line: &str) -> (Vec<String>, Vec<(String, String)>) {
    let rest = line.strip_prefix("CEF:").expect("starts with CEF:");
    let mut header = Vec::new();
    let mut cur = String::new();
    let mut chars = rest.chars();
    while header.len() < 7 {
        match chars.next().expect("seven header fields") {
            '\\' => match chars.next() {
                Some(c @ ('\\' | '|')) => cur.push(c),
                other => panic!("bad header escape {other:?}"),
            },
            '|' => header.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    let ext: Vec<char> = chars.collect();
    // Keys: a run of [A-Za-z0-9_] at the start or after a space, followed by an unescaped '='.
    let mut pairs = Vec::new();
    let mut starts = Vec::new(); // (key start, '=' index)
    let mut i = 0;
    while i < ext.len() {
        if ext[i] == '\\' {
            i += 2;
            continue;
        }
        if ext[i] == '=' {
            let mut k = i;
            while k > 0 && (ext[k - 1].is_ascii_alphanumeric() || ext[k - 1] == '_') {
                k -= 1;
            }
            assert!(
                k == 0 || ext[k - 1] == ' ',
                "unescaped '=' inside a value at {i}"
            );
            assert!(k < i, "empty key at {i}");
            starts.push((k, i));
        }
        i += 1;
    }
    for (n, &(k, eq)) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(ext.len(), |&(next, _)| next - 1);
        let key: String = ext[k..eq].iter().collect();
        let raw: Vec<char> = ext[eq + 1..end].to_vec();
        let mut v = String::new();
        let mut j = 0;
        while j < raw.len() {
            if raw[j] == '\\' {
                j += 1;
                match raw.get(j) {
                    Some('\\') => v.push('\\'),
                    Some('=') => v.push('='),
                    Some('n') => v.push('\n'),
                    Some('r') => v.push('\r'),
                    other => panic!("bad extension escape {other:?}"),
                }
            } else {
                v.push(raw[j]);
            }
            j += 1;
        }
        pairs.push((key, v));
    }
    (header, pairs)
}

/// Control characters CEF cannot escape, as the format replaces them.
fn neutral(s: &str, keep_breaks: bool) -> String {
    s.chars()
        .map(|c| {
            let brk = c == '\n' || c == '\r';
            if (brk && keep_breaks) || !(c.is_control() || c == '\u{2028}' || c == '\u{2029}') {
                c
            } else {
                '\u{FFFD}'
            }
        })
        .collect()
}

const KEYS: &[&str] = &[
    "rt",
    "externalId",
    "act",
    "outcome",
    "suid",
    "suser",
    "reason",
    "msg",
    "duid",
    "duser",
    "cs3Label",
    "cs3",
    "cs1Label",
    "cs1",
    "cn1Label",
    "cn1",
    "cs2Label",
    "cs2",
    "cs5Label",
    "cs5",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Hostile names and reasons (pipes, equals signs, backslashes, line breaks, any
    /// Unicode) come back exactly from a strict parser, add no key and no line.
    #[test]
    fn cef_escaping_keeps_hostile_text_in_its_field(
        name in "(\\PC|[|=\\\\\n\r\t\u{0}\u{1b}\u{85}\u{2028} ]){0,40}",
        reason in "(\\PC|[|=\\\\\n\r ]|act=x|msg=y){0,40}",
        vendor in "(\\PC|[|\\\\\n]){1,12}",
    ) {
        let store = MemorySink::new();
        let log = AuditLog::builder(store.clone()).build();
        let entry = Entry::new(Actor::user("u|1", name.clone()), Event::user_deleted(EntityRef::new("42", name.clone())))
            .context(Context::new().reason(reason.clone()));
        // Text the log itself refuses (limits, control characters it rejects) is not CEF's
        // concern.
        prop_assume!(log.record_entry(entry).is_ok());
        let r = store.records().pop().unwrap();
        let product = Product::new(vendor.clone(), "p", "1");
        let line = String::from_utf8(Format::Cef.encode(&r, &product).unwrap()).unwrap();
        prop_assert!(!line.contains('\n') && !line.contains('\r'), "one line: {line:?}");
        let (header, pairs) = parse_cef(&line);
        prop_assert_eq!(&header[0], "0");
        prop_assert_eq!(&header[1], &neutral(&vendor, false));
        prop_assert_eq!(&header[4], "user.deleted");
        prop_assert_eq!(&header[5], &neutral(&r.event.describe(), false));
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        let expected: Vec<&str> = KEYS.iter().copied().filter(|k| *k != "reason" || r.context.reason.is_some()).collect();
        prop_assert_eq!(keys, expected);
        let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap();
        prop_assert_eq!(get("suser"), neutral(r.actor.label(), true));
        prop_assert_eq!(get("duser"), neutral(&name_or_id(&r), true));
        if let Some(rs) = &r.context.reason {
            prop_assert_eq!(get("reason"), neutral(rs, true));
        }
        prop_assert_eq!(get("msg"), neutral(&r.summary(), true));
        prop_assert_eq!(get("externalId"), r.id.to_string());
        prop_assert_eq!(get("cn1"), r.seq.to_string());
        prop_assert_eq!(get("cs2"), r.hash.to_hex());
    }
}

fn name_or_id(r: &Record) -> String {
    r.event
        .target()
        .map(|t| t.label().to_owned())
        .unwrap_or_default()
}

/// One hostile example, fixed, so the property above is known to see such text: the log
/// accepts it, and CEF keeps it in its fields.
#[test]
fn cef_hostile_example() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    let name = r"evil|CEF:0|x \ y=1";
    let reason = "line one\nact=forged suser=admin\r\\";
    log.record_entry(
        Entry::new(
            Actor::user(7, name),
            Event::user_deleted(EntityRef::new(42, name)),
        )
        .context(Context::new().reason(reason)),
    )
    .unwrap();
    let r = store.records().pop().unwrap();
    let line = String::from_utf8(Format::Cef.encode(&r, &Product::default()).unwrap()).unwrap();
    assert!(line.contains(r"evil|CEF:0|x \\ y\=1"), "{line}");
    assert!(
        line.contains(r"reason=line one\nact\=forged suser\=admin\r\\"),
        "{line}"
    );
    let (_, pairs) = parse_cef(&line);
    assert_eq!(pairs.iter().filter(|(k, _)| k == "act").count(), 1);
    assert_eq!(pairs.iter().filter(|(k, _)| k == "suser").count(), 1);
    assert_eq!(pairs.iter().find(|(k, _)| k == "reason").unwrap().1, reason);
}
