//! Export and import checks, generic over the store: a store's trail exports to CSV and
//! JSON Lines, verifies against its manifest, and re-imports byte for byte into another
//! store of the same kind; broken files are refused with the store unchanged.

use std::io::Cursor;
use std::net::{IpAddr, Ipv6Addr};

use chrono::{DateTime, Duration};

use super::Subject;
use super::{all, prep, preparer, sample_events, Harness};
use crate::chain;
use crate::error::Error;
use crate::event::Event;
use crate::export::{
    verify_export, Column, CsvExport, ExportProblem, Import, JsonlExport, Manifest, Progress,
};
use crate::prepare::Entry;
use crate::query::Query;
use crate::record::{Actor, Context, Outcome, Record, TenantId};

/// Runs every export check, each on fresh stores.
pub fn run_all<H: Harness>(h: &H) {
    jsonl_round_trips_into_another_store(&h.fresh(), &h.fresh());
    csv_columns_match_the_records(&h.fresh());
    manifests_verify_and_catch_changes(&h.fresh());
    import_refuses_broken_files(&h.fresh(), &h.fresh());
    import_resumes_and_skips_what_the_store_holds(&h.fresh(), &h.fresh());
}

/// Text that a spreadsheet or a CSV parser could trip on, for every free-text field.
pub const TRICKY: &[&str] = &[
    "=HYPERLINK(\"http://evil\",\"x\")",
    "+1-555",
    "-2",
    "@SUM(A1)",
    "\tTab",
    "\r\nCR LF",
    "\u{FF1D}1+1",
    "comma, \"quotes\" and\nnew line",
    "Zo\u{eb} \u{4e2d}\u{6587} \u{1F600}",
    "plain",
];

/// Fills `store` with every sample event in tenants `default` and `acme`, with tricky text
/// in names, reasons, user agents and payloads, and every outcome. Returns the records per
/// tenant, oldest first.
pub fn fill(store: &dyn Subject) -> Vec<(TenantId, Vec<Record>)> {
    let (log, clock) = preparer();
    let mut entries = Vec::new();
    for round in 0..2 {
        for (i, e) in sample_events().into_iter().enumerate() {
            clock.advance(Duration::milliseconds(1500));
            let k = (i + round) % TRICKY.len();
            let tricky = TRICKY[k];
            // Names and user agents refuse control characters; reasons keep line breaks.
            let actor = if i % 3 == 0 {
                Actor::service(format!("svc-{}", printable(tricky)))
            } else {
                Actor::user(i as u64, printable(tricky))
            };
            let mut ctx = Context::new()
                .reason(TRICKY[(k + 1) % TRICKY.len()])
                .user_agent(printable(TRICKY[(k + 2) % TRICKY.len()]))
                .request_id(format!("req-{i}"));
            if i % 2 == 0 {
                ctx = ctx.ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
            }
            let outcome = [Outcome::Success, Outcome::Failure, Outcome::Denied][i % 3];
            let event = match e {
                Event::Custom(c) => {
                    let mut c = c;
                    c.payload = serde_json::json!({"note": tricky, "n": -1.25});
                    Event::Custom(c)
                }
                other => other,
            };
            let tenant = if i % 4 == 1 { "acme" } else { "default" };
            entries.push(
                Entry::new(actor, event)
                    .outcome(outcome)
                    .context(ctx)
                    .tenant(tenant),
            );
        }
    }
    store.append(prep(&log, entries)).expect("fill appends");
    ["acme", "default"]
        .into_iter()
        .map(|t| {
            let t = TenantId::new(t);
            let records = all(store, &Query::for_tenant(t.clone()));
            (t, records)
        })
        .collect()
}

fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

fn jsonl(store: &dyn Subject, q: &Query) -> (Vec<u8>, Manifest) {
    let mut out = Vec::new();
    let m = JsonlExport::new()
        .write(store, q, &mut out)
        .expect("jsonl export");
    (out, m)
}

/// A full JSON Lines export of each tenant verifies against its manifest, imports into
/// `target` with every record identical, and the target's chain verifies with the same
/// head; progress ends at the count.
pub fn jsonl_round_trips_into_another_store(source: &dyn Subject, target: &dyn Subject) {
    for (tenant, records) in fill(source) {
        let mut seen: Vec<Progress> = Vec::new();
        let mut file = Vec::new();
        let q = Query::for_tenant(tenant.clone());
        let m = JsonlExport::new()
            .on_progress(|p| seen.push(p))
            .write(source, &q, &mut file)
            .expect("jsonl export");
        assert_eq!(m.count, records.len() as u64);
        assert!(m.full);
        assert_eq!(m.head, source.head(&tenant).expect("head"));
        let last = seen.last().expect("progress reported");
        assert_eq!(last.written, m.count, "progress ends at the count");
        if let Some(total) = last.total {
            assert_eq!(total, m.count, "progress total is the count");
        }
        let report = verify_export(&file[..], &m).expect("verify");
        assert!(report.is_intact() && report.chain_checked, "{report}");

        let summary = Import::new()
            .chunk_size(7)
            .from_reader(target, Cursor::new(&file))
            .expect("import");
        assert_eq!(summary.imported, records.len() as u64);
        assert_eq!(
            all(target, &q),
            records,
            "every record identical after import"
        );
        let v = chain::verify(target, &tenant).expect("verify target");
        assert!(v.is_intact(), "{v}");
        assert_eq!(v.head, m.head, "same head hash in both stores");
    }
}

/// Parsed back with the `csv` reader, every column of a CSV export holds what the record
/// says; with formula escaping on, a cell differs from the raw export only by a leading `'`
/// and only when it starts a formula.
pub fn csv_columns_match_the_records(store: &dyn Subject) {
    for (tenant, records) in fill(store) {
        let q = Query::for_tenant(tenant.clone());
        let mut raw = Vec::new();
        let m = CsvExport::new()
            .columns(Column::ALL.iter().copied())
            .raw()
            .write(store, &q, &mut raw)
            .expect("csv export");
        assert_eq!(m.count, records.len() as u64);
        let rows = read_csv(&raw);
        let header: Vec<&str> = Column::ALL.iter().map(|c| c.header()).collect();
        assert_eq!(rows[0], header, "header row");
        assert_eq!(rows.len() - 1, records.len(), "one row per record");
        for (row, r) in rows[1..].iter().zip(&records) {
            for (cell, col) in row.iter().zip(Column::ALL) {
                check_cell(*col, cell, r);
            }
        }

        let mut safe = Vec::new();
        CsvExport::new()
            .columns(Column::ALL.iter().copied())
            .write(store, &q, &mut safe)
            .expect("csv export");
        let safe_rows = read_csv(&safe);
        assert_eq!(safe_rows.len(), rows.len());
        let mut neutralised = 0;
        for (s_row, r_row) in safe_rows.iter().zip(&rows) {
            for (s, r) in s_row.iter().zip(r_row) {
                assert!(!starts_formula(s), "cell {s:?} starts a formula");
                if starts_formula(r) {
                    assert_eq!(*s, format!("'{r}"));
                    neutralised += 1;
                } else {
                    assert_eq!(s, r);
                }
            }
        }
        assert!(neutralised > 0, "the tricky data has formula-looking cells");
    }
}

fn read_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    ::csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| {
            r.expect("csv parses")
                .iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Whether a spreadsheet would take the cell as a formula (the rule the exporter applies).
pub fn starts_formula(cell: &str) -> bool {
    cell.starts_with([
        '=', '+', '-', '@', '\t', '\r', '\n', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
    ])
}

fn check_cell(col: Column, cell: &str, r: &Record) {
    let target = r.event.target();
    let related = r.event.related();
    let or_empty = |s: Option<&str>| s.unwrap_or("").to_owned();
    let expected: String = match col {
        Column::Seq => r.seq.to_string(),
        Column::Time => {
            let t = DateTime::parse_from_rfc3339(cell).expect("time is RFC 3339");
            assert_eq!(t, r.occurred_at, "time");
            assert!(cell.ends_with('Z'), "UTC by default");
            cell.to_owned()
        }
        Column::Tenant => r.tenant.to_string(),
        Column::ActorType => r.actor.kind.as_str().to_owned(),
        Column::ActorId => r.actor.id.clone(),
        Column::Actor => r.actor.label().to_owned(),
        Column::Event => r.event.name().to_owned(),
        Column::Outcome => r.outcome.as_str().to_owned(),
        Column::TargetType => or_empty(target.map(|m| m.kind.as_str())),
        Column::TargetId => or_empty(target.map(|m| m.id.as_str())),
        Column::Target => or_empty(target.map(|m| m.label())),
        Column::RelatedType => or_empty(related.map(|m| m.kind.as_str())),
        Column::RelatedId => or_empty(related.map(|m| m.id.as_str())),
        Column::Related => or_empty(related.map(|m| m.label())),
        Column::Scope => r
            .event
            .permission_group()
            .map(|p| p.scope.describe())
            .unwrap_or_default(),
        Column::Changes => {
            let has_changes = r.event.name().ends_with(".edited")
                || r.event.name().ends_with(".created")
                || matches!(r.event, Event::Custom(_));
            assert_eq!(
                !cell.is_empty(),
                has_changes,
                "changes of {}",
                r.event.name()
            );
            cell.to_owned()
        }
        Column::Reason => or_empty(r.context.reason.as_deref()),
        Column::Ip => r.context.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        Column::UserAgent => or_empty(r.context.user_agent.as_deref()),
        Column::RequestId => or_empty(r.context.request_id.as_deref()),
        Column::CorrelationId => or_empty(r.context.correlation_id.as_deref()),
        Column::RecordId => r.id.to_string(),
        Column::Hash => r.hash.to_hex(),
        Column::Summary => r.summary(),
        Column::EventJson => {
            let v: serde_json::Value = serde_json::from_str(cell).expect("event_json is JSON");
            assert_eq!(Event::from_value(v).expect("an event"), r.event);
            cell.to_owned()
        }
        Column::SchemaVersion => r.schema_version.to_string(),
        Column::Chain => r.chain.as_str().to_owned(),
        Column::PrevHash => r.prev_hash.to_hex(),
    };
    assert_eq!(cell, expected, "column {} of seq {}", col.header(), r.seq);
}

/// Full and filtered exports verify against their manifests; a changed byte, a dropped
/// line, a reordered file or a manifest claiming another head is reported.
pub fn manifests_verify_and_catch_changes(store: &dyn Subject) {
    let filled = fill(store);
    let (tenant, records) = &filled[1];
    let q = Query::for_tenant(tenant.clone());
    let (file, m) = jsonl(store, &q);

    // A changed byte inside a record: the file hash and the record's hash both say so.
    let mut changed = file.clone();
    let pos = changed
        .windows(4)
        .position(|w| w == b"req-")
        .expect("a request id in the file");
    changed[pos + 4] = b'x';
    let report = verify_export(&changed[..], &m).expect("verify");
    assert!(matches!(
        report.problems[0],
        ExportProblem::FileChanged { .. }
    ));
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, ExportProblem::Chain { .. })),
        "{report}"
    );

    // The last line dropped: count and completeness.
    let text = String::from_utf8(file.clone()).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    let dropped = lines[..lines.len() - 1].join("\n") + "\n";
    let report = verify_export(dropped.as_bytes(), &m).expect("verify");
    assert!(report
        .problems
        .iter()
        .any(|p| matches!(p, ExportProblem::Count { .. })));
    assert!(report
        .problems
        .iter()
        .any(|p| matches!(p, ExportProblem::Incomplete { .. })));

    // A middle line dropped, with a manifest rewritten to match the file: the chain breaks.
    let mut gap_lines = lines.clone();
    gap_lines.remove(2);
    let gap = gap_lines.join("\n") + "\n";
    let mut forged = m.clone();
    forged.sha256 = sha256_hex(gap.as_bytes());
    forged.count -= 1;
    let report = verify_export(gap.as_bytes(), &forged).expect("verify");
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, ExportProblem::Chain { line: 3, .. })),
        "{report}"
    );

    // A manifest claiming another head.
    let mut other_head = m.clone();
    if let Some(h) = other_head.head.as_mut() {
        h.hash = crate::Digest([7; 32]);
    }
    assert!(!verify_export(&file[..], &other_head)
        .expect("verify")
        .is_intact());

    // Newest first, and a filtered export: intact, and only the full one claims completeness.
    let (desc, dm) = jsonl(store, &q.clone().descending());
    let report = verify_export(&desc[..], &dm).expect("verify");
    assert!(report.is_intact(), "{report}");
    let users = q.clone().event("user.*");
    let (f, fm) = jsonl(store, &users);
    assert!(!fm.full);
    assert_eq!(
        fm.count as usize,
        records
            .iter()
            .filter(|r| r.event.family() == "user")
            .count()
    );
    assert!(verify_export(&f[..], &fm).expect("verify").is_intact());

    // CSV: intact, then a row removed.
    let mut csv = Vec::new();
    let cm = CsvExport::new()
        .bom(true)
        .delimiter(b';')
        .write(store, &q, &mut csv)
        .expect("csv export");
    let report = verify_export(&csv[..], &cm).expect("verify");
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.count, records.len() as u64);
    let rows = read_records(&csv, b';');
    let mut w = ::csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(Vec::new());
    for row in rows.iter().take(rows.len() - 1) {
        w.write_record(row).expect("write");
    }
    let shorter = w.into_inner().expect("flush");
    let report = verify_export(&shorter[..], &cm).expect("verify");
    assert!(report
        .problems
        .iter()
        .any(|p| matches!(p, ExportProblem::Count { .. })));

    // The manifest survives its JSON form.
    assert_eq!(Manifest::from_json(&m.to_json()).expect("manifest"), m);
    assert_eq!(Manifest::from_json(&cm.to_json()).expect("manifest"), cm);
}

fn read_records(bytes: &[u8], delimiter: u8) -> Vec<::csv::StringRecord> {
    ::csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .from_reader(bytes)
        .records()
        .map(|r| r.expect("csv parses"))
        .collect()
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(b))
}

/// Expects an import to fail naming `line` and to leave `target`'s trail as it was.
fn refused(target: &dyn Subject, tenant: &TenantId, file: &[u8], line: u64, what: &str) {
    let before = all(target, &Query::for_tenant(tenant.clone()));
    match Import::new()
        .chunk_size(3)
        .from_reader(target, Cursor::new(file))
    {
        Err(Error::InvalidInput { field, .. }) => {
            assert_eq!(field, format!("line {line}"), "{what}: the line is named")
        }
        other => panic!("{what}: expected a refusal naming line {line}, got {other:?}"),
    }
    assert_eq!(
        all(target, &Query::for_tenant(tenant.clone())),
        before,
        "{what}: store unchanged"
    );
}

/// A truncated line, invalid JSON, an altered field, records out of order, an empty line, a
/// file of another format and a file that diverges from the store's trail are each refused
/// with the line named, and the target store is unchanged.
pub fn import_refuses_broken_files(source: &dyn Subject, target: &dyn Subject) {
    let filled = fill(source);
    let (tenant, _) = &filled[1];
    let q = Query::for_tenant(tenant.clone());
    let (file, _) = jsonl(source, &q);
    let text = String::from_utf8(file.clone()).expect("utf-8");
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let join = |ls: &[String]| ls.join("\n") + "\n";

    // The target already holds the first 3 records, so "unchanged" is not just "empty".
    Import::new()
        .from_reader(target, Cursor::new(join(&lines[..3])))
        .expect("prefix imports");

    let n = lines.len();
    let last = &lines[n - 1];
    let truncated = join(&lines[..n - 1]) + &last[..last.len() / 2];
    refused(
        target,
        tenant,
        truncated.as_bytes(),
        n as u64,
        "truncated line",
    );

    let mut bad_json = lines.clone();
    bad_json[4] = "{\"seq\": 5, ".to_owned();
    refused(
        target,
        tenant,
        join(&bad_json).as_bytes(),
        5,
        "invalid json",
    );

    let mut altered = lines.clone();
    let mut r: Record = serde_json::from_str(&altered[5]).expect("record");
    r.context.reason = Some("nothing to see".into());
    altered[5] = serde_json::to_string(&r).expect("json");
    refused(
        target,
        tenant,
        join(&altered).as_bytes(),
        6,
        "altered field",
    );

    let mut swapped = lines.clone();
    swapped.swap(4, 5);
    refused(target, tenant, join(&swapped).as_bytes(), 5, "out of order");

    let mut gap = lines.clone();
    gap.remove(6);
    refused(target, tenant, join(&gap).as_bytes(), 7, "missing record");

    let mut empty = lines.clone();
    empty.insert(6, String::new());
    refused(target, tenant, join(&empty).as_bytes(), 7, "empty line");

    let mut csv = Vec::new();
    CsvExport::new()
        .write(source, &q, &mut csv)
        .expect("csv export");
    refused(target, tenant, &csv, 1, "a csv file");
    refused(target, tenant, b"\x00\x01binary\xff\n", 1, "binary");

    // Another trail for the same tenant: diverges at the store's head (line 3).
    let other = crate::MemorySink::with_algorithm(source.chain_algorithm());
    fill(&other);
    let (other_file, _) = jsonl(&other, &q);
    refused(target, tenant, &other_file, 3, "a diverging trail");
}

/// An import into a store that already holds part of the file skips that part (after
/// matching it) and appends the rest; importing the same file again changes nothing.
pub fn import_resumes_and_skips_what_the_store_holds(source: &dyn Subject, target: &dyn Subject) {
    let filled = fill(source);
    let (tenant, records) = &filled[1];
    let q = Query::for_tenant(tenant.clone());
    let (file, _) = jsonl(source, &q);
    let text = String::from_utf8(file.clone()).expect("utf-8");
    let prefix: String = text.lines().take(5).map(|l| format!("{l}\n")).collect();

    // As if an earlier import stopped after 5 records.
    Import::new()
        .from_reader(target, Cursor::new(prefix.as_bytes()))
        .expect("prefix imports");
    let mut seen = Vec::new();
    let summary = Import::new()
        .chunk_size(4)
        .on_progress(|p| seen.push(p))
        .from_reader(target, Cursor::new(&file))
        .expect("resume");
    assert_eq!(summary.skipped, 5);
    assert_eq!(summary.imported, records.len() as u64 - 5);
    assert_eq!(
        seen.last().map(|p| (p.written, p.total)),
        Some((summary.imported, Some(summary.imported)))
    );
    assert_eq!(&all(target, &q), records);

    let again = Import::new()
        .from_reader(target, Cursor::new(&file))
        .expect("again");
    assert_eq!((again.imported, again.skipped), (0, records.len() as u64));
    // A file that ends inside what the store holds is matched to it, then skipped.
    let again = Import::new()
        .from_reader(target, Cursor::new(prefix.as_bytes()))
        .expect("prefix again");
    assert_eq!((again.imported, again.skipped), (0, 5));
    assert_eq!(&all(target, &q), records);
    assert!(chain::verify(target, tenant).expect("verify").is_intact());
}
