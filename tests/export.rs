//! Export and import beyond the per-store conformance checks: property tests over arbitrary
//! text, a cross-check with Python's `csv` module, files with sidecar manifests, progress,
//! and the export recording itself.

use std::io::Cursor;
use std::process::Command;

use audit_log::export::{self, neutralize_formula, verify_export_file, PROGRESS_EVERY};
use audit_log::{
    Actor, AuditLog, AuditStoreExt, Column, Context, CsvExport, CustomEvent, EntityKind, EntityRef,
    Event, FieldChange, Import, JsonlExport, ManualClock, MemorySink, Outcome, Query, TenantId,
    UserChange,
};
use chrono::{FixedOffset, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;

fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap())
}

/// Records one event per input string, putting the string in every free-text field the
/// limits accept it in; entries the limits refuse are skipped. Returns how many were stored.
fn record_all(log: &AuditLog, texts: &[String], floats: &[f64]) -> usize {
    let mut n = 0;
    for (i, t) in texts.iter().enumerate() {
        let f = floats.get(i).copied().unwrap_or(0.5);
        let who = EntityRef::new(i as u64, t.as_str());
        let events = [
            Event::user_edited(
                who.clone(),
                vec![
                    UserChange::other("nickname", t.as_str(), json!({ "v": t })),
                    UserChange::password_changed(),
                ],
            ),
            Event::group_edited(who.clone(), vec![FieldChange::new("name", t.as_str(), f)]),
            CustomEvent::new(
                "billing.note",
                json!({ "text": t, "amount": f, "list": [f, t] }),
            )
            .target(EntityKind::Other("invoice".into()), who.clone())
            .into(),
        ];
        for e in events {
            let entry = audit_log::Entry::new(Actor::user(i as u64, t.as_str()), e)
                .outcome(Outcome::Denied)
                .context(Context::new().reason(t.as_str()).user_agent(t.as_str()));
            let relaxed = audit_log::Entry::new(Actor::user(i as u64, "x"), entry.event.clone())
                .context(Context::new().reason(t.as_str()));
            // Names and user agents refuse control characters: fall back to the fields
            // that accept them, so every input string still reaches the export.
            if log.record_entry(entry).is_ok() || log.record_entry(relaxed).is_ok() {
                n += 1;
            }
        }
    }
    n
}

fn csv_rows(bytes: &[u8]) -> Vec<csv::StringRecord> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The documented rule, written out again here so the test does not trust the exporter's
/// own copy of it.
fn starts_formula(cell: &str) -> bool {
    cell.starts_with([
        '=', '+', '-', '@', '\t', '\r', '\n', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the text, the CSV reads back with one row per record, no cell starts a
    /// formula, and each cell is the raw value with a `'` in front exactly when the raw
    /// value would start a formula.
    #[test]
    fn csv_is_formula_safe_and_keeps_every_record(
        texts in prop::collection::vec(
            prop_oneof![
                any::<String>(),
                "[=+@\\-\t\r\n＝＋－＠\",;' a-z]{0,12}",
            ],
            1..6,
        ),
    ) {
        let store = MemorySink::new();
        let log = AuditLog::builder(store.clone()).clock(clock()).build();
        let n = record_all(&log, &texts, &[]);
        let q = Query::new();
        let mut safe = Vec::new();
        let m = CsvExport::new().columns(Column::ALL.iter().copied()).write(&store, &q, &mut safe).unwrap();
        let mut raw = Vec::new();
        CsvExport::new().columns(Column::ALL.iter().copied()).raw().write(&store, &q, &mut raw).unwrap();
        let safe_rows = csv_rows(&safe);
        let raw_rows = csv_rows(&raw);
        prop_assert_eq!(m.count as usize, n);
        prop_assert_eq!(safe_rows.len(), n + 1);
        prop_assert_eq!(raw_rows.len(), n + 1);
        for (s, r) in safe_rows.iter().zip(&raw_rows) {
            prop_assert_eq!(s.len(), Column::ALL.len());
            for (s, r) in s.iter().zip(r) {
                prop_assert!(!starts_formula(s), "cell {:?} starts a formula", s);
                let expected = neutralize_formula(r);
                prop_assert_eq!(s, expected.as_ref());
            }
        }
        // The raw export still holds the values exactly as recorded.
        let records = store.records();
        let reason = Column::ALL.iter().position(|c| *c == Column::Reason).unwrap();
        for (row, rec) in raw_rows[1..].iter().zip(&records) {
            prop_assert_eq!(&row[reason], rec.context.reason.as_deref().unwrap_or(""));
        }
    }

    /// Whatever the text and numbers, a JSON Lines export imports into a fresh store with
    /// every record identical and the chain intact.
    #[test]
    fn jsonl_round_trips_any_text_and_number(
        texts in prop::collection::vec(any::<String>(), 1..5),
        floats in prop::collection::vec(
            any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()),
            5,
        ),
    ) {
        let source = MemorySink::new();
        let log = AuditLog::builder(source.clone()).clock(clock()).build();
        record_all(&log, &texts, &floats);
        let mut file = Vec::new();
        let m = JsonlExport::new().write(&source, &Query::new(), &mut file).unwrap();
        prop_assert!(export::verify_export(&file[..], &m).unwrap().is_intact());
        let target = MemorySink::new();
        let summary = Import::new().from_reader(&target, Cursor::new(&file)).unwrap();
        prop_assert_eq!(summary.imported, m.count);
        prop_assert_eq!(target.records(), source.records());
        prop_assert!(target.verify(&TenantId::default()).unwrap().is_intact());
    }
}

#[test]
fn files_get_a_manifest_sidecar_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).clock(clock()).build();
    record_all(&log, &["alice".into(), "=bob".into()], &[]);

    let csv_path = dir.path().join("trail.csv");
    let m = CsvExport::new()
        .time_zone(FixedOffset::east_opt(2 * 3600).unwrap())
        .to_file(&store, &Query::new(), &csv_path)
        .unwrap();
    let sidecar = dir.path().join("trail.csv.manifest.json");
    assert_eq!(export::manifest_path(&csv_path), sidecar);
    assert_eq!(audit_log::Manifest::read(&sidecar).unwrap(), m);
    assert!(verify_export_file(&csv_path).unwrap().is_intact());
    let text = std::fs::read_to_string(&csv_path).unwrap();
    assert!(
        text.contains(",2026-03-01T11:00:00.000000+02:00,"),
        "{text}"
    );

    let jsonl_path = dir.path().join("trail.jsonl");
    JsonlExport::new()
        .to_file(&store, &Query::new(), &jsonl_path)
        .unwrap();
    let report = verify_export_file(&jsonl_path).unwrap();
    assert!(report.is_intact() && report.chain_checked, "{report}");

    // Edit one character of the file, as someone "fixing" a name would.
    let edited = std::fs::read_to_string(&jsonl_path)
        .unwrap()
        .replacen("alice", "alicf", 1);
    std::fs::write(&jsonl_path, edited).unwrap();
    let report = verify_export_file(&jsonl_path).unwrap();
    assert!(!report.is_intact());
    assert!(report.to_string().contains("altered"), "{report}");

    let target = MemorySink::new();
    let err = Import::new().from_path(&target, &jsonl_path).unwrap_err();
    assert!(matches!(err, audit_log::Error::InvalidInput { ref field, .. } if field == "line 1"));
    assert!(target.records().is_empty());
}

#[test]
fn an_export_records_itself_and_excludes_its_own_record() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).clock(clock()).build();
    for i in 0..3 {
        log.record(
            &Actor::user(1, "root"),
            Event::user_deleted(EntityRef::new(i, "x")),
        )
        .unwrap();
    }
    let auditor = Actor::user(9, "auditor");
    let q = Query::new().event("user.*");
    let m = CsvExport::new()
        .record_to(&log, auditor.clone())
        .write(&store, &q, std::io::sink())
        .unwrap();
    assert_eq!((m.count, m.recorded_seq), (3, Some(4)));
    let r = store.assert_one(&Query::new().event("audit.exported").actor("9"));
    match &r.event {
        Event::AuditExported(e) => {
            assert_eq!(e.format, "csv");
            assert_eq!(e.count, 3);
            assert_eq!((e.first_seq, e.last_seq), (Some(1), Some(3)));
            assert_eq!(e.query, json!({"tenant": "default", "events": ["user.*"]}));
        }
        other => panic!("expected audit.exported, got {other:?}"),
    }
    // A full export taken now holds the earlier export's record but not its own.
    let m2 = JsonlExport::new()
        .record_to(&log, auditor)
        .write(&store, &Query::new(), std::io::sink())
        .unwrap();
    assert_eq!(
        (m2.count, m2.last_seq, m2.recorded_seq),
        (4, Some(4), Some(5))
    );
}

#[test]
fn progress_counts_up_to_the_total() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).clock(clock()).build();
    let n = 2 * PROGRESS_EVERY + 5;
    let entries = (0..n).map(|i| {
        audit_log::Entry::new(Actor::system(), Event::user_deleted(EntityRef::id_only(i)))
    });
    log.record_batch(entries).unwrap();
    let mut seen = Vec::new();
    CsvExport::new()
        .on_progress(|p| seen.push((p.written, p.total)))
        .write(&store, &Query::new(), std::io::sink())
        .unwrap();
    let expected: Vec<_> = [0, PROGRESS_EVERY, 2 * PROGRESS_EVERY, n]
        .into_iter()
        .map(|w| (w, Some(n)))
        .collect();
    assert_eq!(seen, expected);
    // A limit caps the total.
    let mut last = None;
    CsvExport::new()
        .on_progress(|p| last = Some((p.written, p.total)))
        .write(&store, &Query::new().limit(10), std::io::sink())
        .unwrap();
    assert_eq!(last, Some((10, Some(10))));
}

#[test]
fn bad_options_are_refused() {
    let store = MemorySink::new();
    for (export, field) in [
        (CsvExport::new().delimiter(b'"'), "delimiter"),
        (CsvExport::new().delimiter(0xE9), "delimiter"),
        (CsvExport::new().columns([]), "columns"),
    ] {
        match export.write(&store, &Query::new(), std::io::sink()) {
            Err(audit_log::Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected a refusal of {field}, got {other:?}"),
        }
    }
}

#[test]
fn queries_survive_their_manifest_form() {
    let q = Query::for_tenant("acme")
        .since(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
        .actor("7")
        .event("user.*")
        .event("group.deleted")
        .entity(audit_log::EntityKey::group("g-1"))
        .outcome(Outcome::Denied)
        .descending()
        .limit(5);
    let v = serde_json::to_value(&q).unwrap();
    assert_eq!(v["events"], json!(["user.*", "group.deleted"]));
    assert_eq!(v["order"], "descending");
    assert_eq!(serde_json::from_value::<Query>(v).unwrap(), q);
    assert_eq!(serde_json::to_value(Query::new()).unwrap(), json!({}));
}

/// Reads the CSV with Python's `csv` module: a reader that is not the one that wrote it.
#[test]
fn python_reads_the_csv_the_same_way() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 not found: cross-check skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).clock(clock()).build();
    let tricky = [
        "=cmd|' /C calc'!A0",
        "comma, \"quoted\"\nsecond line\r\nthird",
        "Zoë 中文 😀",
        "-1",
        "＠home",
        "plain",
    ];
    for (i, t) in tricky.iter().enumerate() {
        log.record_entry(
            audit_log::Entry::new(
                Actor::user(i as u64, "admin"),
                Event::user_deleted(EntityRef::new(i as u64, t.replace(['\n', '\r'], " "))),
            )
            .context(Context::new().reason(*t)),
        )
        .unwrap();
    }
    for (name, export) in [
        ("safe.csv", CsvExport::new().bom(true)),
        ("raw.csv", CsvExport::new().bom(true).raw().delimiter(b';')),
    ] {
        let path = dir.path().join(name);
        let delim = if name == "raw.csv" { ";" } else { "," };
        export.to_file(&store, &Query::new(), &path).unwrap();
        let script = r#"
import csv, json, sys
with open(sys.argv[1], newline='', encoding='utf-8-sig') as f:
    rows = list(csv.reader(f, delimiter=sys.argv[2]))
print(json.dumps(rows))
"#;
        let out = Command::new("python3")
            .args(["-c", script])
            .arg(&path)
            .arg(delim)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            rows.len(),
            tricky.len() + 1,
            "{name}: header plus one row each"
        );
        let header: Vec<&str> = Column::DEFAULT.iter().map(|c| c.header()).collect();
        assert_eq!(rows[0], header, "{name}: BOM stripped, header intact");
        let reason = header.iter().position(|h| *h == "reason").unwrap();
        let target = header.iter().position(|h| *h == "target").unwrap();
        for (row, t) in rows[1..].iter().zip(tricky) {
            assert_eq!(row.len(), header.len());
            let expected = if name == "safe.csv" {
                neutralize_formula(t).into_owned()
            } else {
                t.to_owned()
            };
            assert_eq!(row[reason], expected, "{name}: reason");
        }
        if name == "safe.csv" {
            assert_eq!(rows[1][target], "'=cmd|' /C calc'!A0");
            assert_eq!(rows[5][target], "'＠home");
        }
    }
}

#[test]
fn unknown_events_import_and_export_with_their_raw_json() {
    // A record written by a newer version, whose event this one does not know.
    let source = MemorySink::new();
    let log = AuditLog::builder(source.clone()).clock(clock()).build();
    log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(1)))
        .unwrap();
    let mut record = source.records().remove(0);
    let raw = json!({"event": "user.suspended", "user": {"id": "1"}, "until": "2030-01-01"});
    record.event = Event::from_value(raw.clone()).unwrap();
    record.hash = audit_log::chain::compute_hash(&record);
    let line = serde_json::to_string(&record).unwrap() + "\n";

    let store = MemorySink::new();
    Import::new()
        .from_reader(&store, Cursor::new(line.as_bytes()))
        .unwrap();
    assert_eq!(store.records(), vec![record]);
    let mut out = Vec::new();
    CsvExport::new()
        .columns([Column::Event, Column::Changes])
        .write(&store, &Query::new(), &mut out)
        .unwrap();
    let rows = csv_rows(&out);
    assert_eq!(&rows[1][0], "user.suspended");
    let changes: serde_json::Value = serde_json::from_str(&rows[1][1]).unwrap();
    assert_eq!(changes, raw);
    let mut file = Vec::new();
    JsonlExport::new()
        .write(&store, &Query::new(), &mut file)
        .unwrap();
    assert_eq!(file, line.as_bytes(), "exported exactly as imported");
}

/// An export recorded through a host's log takes the host's clock, for its manifest and for
/// its `audit.exported` record, as every record the host makes does (a host test with a
/// `ManualClock` must not get the machine's time).
#[test]
fn an_export_takes_the_recording_logs_clock() {
    use audit_log::{Actor, AuditLog, CsvExport, EntityRef, Event, JsonlExport, ManualClock};
    use chrono::TimeZone;
    let at = chrono::Utc.with_ymd_and_hms(2030, 5, 6, 7, 8, 9).unwrap();
    let store = audit_log::MemorySink::new();
    let log = AuditLog::builder(store.clone())
        .clock(ManualClock::new(at))
        .build();
    log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(1)))
        .unwrap();
    let mut out = Vec::new();
    let csv = CsvExport::new()
        .record_to(&log, Actor::user(1, "auditor"))
        .write(&store, &audit_log::Query::new(), &mut out)
        .unwrap();
    let jsonl = JsonlExport::new()
        .record_to(&log, Actor::user(1, "auditor"))
        .write(&store, &audit_log::Query::new(), &mut Vec::new())
        .unwrap();
    assert_eq!(csv.exported_at, at);
    assert_eq!(jsonl.exported_at, at);
    let recorded = store.find(&audit_log::Query::new().event("audit.exported"));
    assert_eq!(recorded.len(), 2);
    assert!(recorded.iter().all(|r| r.occurred_at == at));
}

/// A filter on the context fields (request id, correlation id, IP) selects part of the
/// trail: the manifest must not claim the export is the whole trail, or the auditor's check
/// reports a complete, honest export as incomplete.
#[test]
fn an_export_filtered_by_context_is_not_a_full_export() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).clock(clock()).build();
    for (i, req) in ["req-1", "req-2", "req-1"].into_iter().enumerate() {
        log.record_entry(
            audit_log::Entry::new(
                Actor::system(),
                Event::user_deleted(EntityRef::id_only(i as u64)),
            )
            .context(
                Context::new()
                    .request_id(req)
                    .correlation_id(format!("job-{i}"))
                    .ip(format!("10.0.0.{i}").parse().unwrap()),
            ),
        )
        .unwrap();
    }
    for q in [
        Query::new().request_id("req-1"),
        Query::new().correlation_id("job-1"),
        Query::new().ip("10.0.0.2".parse().unwrap()),
    ] {
        let mut file = Vec::new();
        let m = JsonlExport::new().write(&store, &q, &mut file).unwrap();
        assert!(!m.full, "{q:?}");
        let report = export::verify_export(&file[..], &m).unwrap();
        assert!(report.is_intact(), "{q:?}: {report}");
    }
}

/// A named zone shows each time with the offset in effect that day (daylight saving), and the
/// manifest names the zone.
#[cfg(feature = "tz")]
#[test]
fn a_named_time_zone_follows_daylight_saving_in_the_csv() {
    let store = MemorySink::new();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap());
    let log = AuditLog::builder(store.clone())
        .clock(clock.clone())
        .build();
    for i in 0..2 {
        log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(i)))
            .unwrap();
        clock.advance(chrono::Duration::days(1));
    }
    let zone: audit_log::Zone = "Europe/Berlin".parse().unwrap();
    let mut out = Vec::new();
    let m = CsvExport::new()
        .columns([Column::Seq, Column::Time])
        .time_zone(zone)
        .write(&store, &Query::new(), &mut out)
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "seq,time\n1,2026-03-28T13:00:00.000000+01:00\n2,2026-03-29T14:00:00.000000+02:00\n"
    );
    assert_eq!(m.csv.unwrap().time_zone, "Europe/Berlin");
}
