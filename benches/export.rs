//! Export throughput from the SQLite store against a raw baseline measured in the same run,
//! and the export's peak memory at two trail sizes (issue #5).
//!
//! The store is a file-backed `SqliteSink` (WAL, `Durability::ProcessCrash`) in a temp dir,
//! filled once per run with `AUDIT_BENCH_N` records (default 1 000 000) through
//! `AuditLog::prepare_batch` + `AuditSink::append` in batches of 10 000.
//!
//! - `export_csv/audit_log` vs `export_csv/raw_rusqlite_csv`: `CsvExport` (default columns)
//!   vs the baseline, which runs one `SELECT` over `audit_records` in seq order with rusqlite
//!   and writes the same 23 default columns with the `csv` crate: the plain columns as read
//!   (seq and `occurred_at` formatted, `id` as a hyphenated UUID, `hash` as hex), and
//!   target, related, scope and changes from `event_json` parsed into an `Event` (those
//!   cells exist only in the event). No formula escaping, no SHA-256 of the output, no
//!   progress, no head/anchor reads, no paging. Before timing, the bench checks that both
//!   produce byte-identical CSV for the 100k store. Goal: at least 0.5x its throughput.
//! - `export_jsonl/audit_log` vs `export_jsonl/raw_rusqlite_serde_json`: `JsonlExport` vs
//!   the same kind of scan decoding each row into a `Record` and writing it with
//!   `serde_json::to_writer` (no SHA-256, no head/anchor reads, no paging).
//! - Peak memory, for 100k and 1M records, each export from a freshly opened store: a
//!   counting global allocator records the highest number of bytes live on the Rust heap
//!   during the export beyond what was live before it, and SQLite's own allocator (which
//!   the Rust allocator does not see: page cache, statements) is measured the same way with
//!   `sqlite3_memory_highwater` reset before and `sqlite3_memory_used` read before. Goal: 1M
//!   at most 1.2x 100k.
//!
//! Output goes to `io::sink()`: the figures are CPU and store reads, not disk writes.
//! Run with `cargo bench --bench export`; figures in docs/benchmarks.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use audit_log::rusqlite::{ffi, Connection, OpenFlags};
use audit_log::{
    Actor, ActorKind, AuditLog, AuditSink, ChainAlgorithm, Context, CsvExport, Digest, Durability,
    EntityRef, Entry, Event, FieldChange, FieldValue, JsonlExport, Outcome, PermissionGroupRef,
    Query, Record, Role, Scope, SqliteOptions, SqliteSink, TenantId, UserChange,
};
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn large_n() -> u64 {
    std::env::var("AUDIT_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

/// A SQLite store at `path` holding `n` records of a realistic mix: memberships, edits,
/// permissions, each with ip, user agent, request id and reason.
fn store_with(path: &Path, n: u64) -> SqliteSink {
    let store = SqliteOptions::new()
        .durability(Durability::ProcessCrash)
        .open(path)
        .unwrap();
    let log = AuditLog::builder(store.clone()).build();
    let admin = Actor::user(1, "root");
    let ctx = Context::new()
        .ip("203.0.113.9".parse().unwrap())
        .user_agent("Mozilla/5.0 (X11; Linux x86_64)")
        .request_id("req-0001");
    let mut i = 0;
    while i < n {
        let batch = (i..(i + 10_000).min(n)).map(|k| {
            let user = EntityRef::new(k % 5000, format!("user{}", k % 5000));
            let group = EntityRef::new(k % 50, format!("Group {}", k % 50));
            let event = match k % 4 {
                0 => Event::user_added_to_group(user, group),
                1 => Event::user_edited(
                    user,
                    vec![
                        UserChange::email("a@example.com", "b@example.com"),
                        UserChange::password_changed(),
                    ],
                ),
                2 => Event::permission_user_added(
                    user,
                    PermissionGroupRef::new(
                        9,
                        "Payroll editors",
                        Scope::application(
                            EntityRef::new(3, "Payroll"),
                            EntityRef::new(1, "Finance"),
                        ),
                    ),
                ),
                _ => {
                    Event::group_edited(group, vec![FieldChange::new("name", "Ops", "Operations")])
                }
            };
            Entry::new(admin.clone(), event).context(ctx.clone().reason("ticket OPS-1234"))
        });
        let prepared = log.prepare_batch(batch).unwrap();
        i += prepared.len() as u64;
        store.append(prepared).unwrap();
    }
    store
}

/// The baseline's own read-only connection to the store's file.
fn raw_conn(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

const RAW_CSV_SQL: &str = "SELECT seq, occurred_at, tenant, actor_kind, actor_id, \
    actor_display, event_name, outcome, event_json, reason, ip, user_agent, request_id, \
    correlation_id, id, hash FROM audit_records WHERE tenant = ?1 ORDER BY seq";

/// The CSV baseline: one scan of the table, the same default columns written with the `csv`
/// crate in the most direct way.
fn raw_csv(conn: &Connection, out: impl Write) {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(out);
    w.write_record(audit_log::Column::DEFAULT.iter().map(|c| c.header()))
        .unwrap();
    let mut stmt = conn.prepare_cached(RAW_CSV_SQL).unwrap();
    let mut rows = stmt.query([TenantId::default().as_str()]).unwrap();
    let mut changes = String::new();
    while let Some(row) = rows.next().unwrap() {
        let seq: i64 = row.get(0).unwrap();
        let micros: i64 = row.get(1).unwrap();
        let time = chrono::DateTime::from_timestamp_micros(micros)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let get = |i: usize| {
            row.get_ref(i)
                .unwrap()
                .as_str_or_null()
                .unwrap()
                .unwrap_or("")
        };
        let actor_id = get(4);
        let actor = match get(5) {
            "" => actor_id,
            d => d,
        };
        let event: Event = serde_json::from_str(get(8)).unwrap();
        let m = event.mentions();
        let t = m.iter().find(|m| m.role == Role::Target);
        let rel = m.iter().find(|m| m.role == Role::Related);
        changes.clear();
        match &event {
            Event::UserEdited(e) => {
                for c in &e.changes {
                    match c {
                        UserChange::Field(f) => push_change(&mut changes, f),
                        _ => {
                            let _ = write!(changes, "{}: changed; ", c.field());
                        }
                    }
                }
            }
            Event::GroupEdited(e) => e.changes.iter().for_each(|f| push_change(&mut changes, f)),
            _ => {}
        }
        // The exporter separates changes; it does not terminate them.
        let kept = changes.trim_end_matches("; ").len();
        changes.truncate(kept);
        let scope = event
            .permission_group()
            .map(|p| p.scope.describe())
            .unwrap_or_default();
        let id = uuid::Uuid::from_slice(row.get_ref(14).unwrap().as_blob().unwrap()).unwrap();
        let hash = Digest::from_slice(row.get_ref(15).unwrap().as_blob().unwrap()).unwrap();
        w.write_record([
            seq.to_string().as_str(),
            &time,
            get(2),
            get(3),
            actor_id,
            actor,
            get(6),
            get(7),
            t.map_or("", |m| m.kind.as_str()),
            t.map_or("", |m| m.id.as_str()),
            t.map_or("", |m| m.label()),
            rel.map_or("", |m| m.kind.as_str()),
            rel.map_or("", |m| m.id.as_str()),
            rel.map_or("", |m| m.label()),
            &scope,
            &changes,
            get(9),
            get(10),
            get(11),
            get(12),
            get(13),
            &id.hyphenated().to_string(),
            &hash.to_hex(),
        ])
        .unwrap();
    }
    w.flush().unwrap();
}

fn push_change(s: &mut String, f: &FieldChange) {
    let show = |v: &Option<FieldValue>| v.as_ref().map(|v| v.display()).unwrap_or_default();
    let _ = write!(s, "{}: {} -> {}; ", f.field, show(&f.old), show(&f.new));
}

const RAW_JSONL_SQL: &str = "SELECT seq, id, occurred_at, tenant, actor_kind, actor_id, \
    actor_display, event_json, outcome, ip, user_agent, request_id, correlation_id, reason, \
    schema_version, chain, prev_hash, hash FROM audit_records WHERE tenant = ?1 ORDER BY seq";

/// The JSON Lines baseline: one scan of the table, each row decoded into a `Record` and
/// written with `serde_json::to_writer`.
fn raw_jsonl(conn: &Connection, out: impl Write) {
    let mut out = io::BufWriter::new(out);
    let mut stmt = conn.prepare_cached(RAW_JSONL_SQL).unwrap();
    let mut rows = stmt.query([TenantId::default().as_str()]).unwrap();
    while let Some(row) = rows.next().unwrap() {
        let text = |i: usize| row.get_ref(i).unwrap().as_str_or_null().unwrap();
        let digest =
            |i: usize| Digest::from_slice(row.get_ref(i).unwrap().as_blob().unwrap()).unwrap();
        let r = Record {
            seq: row.get::<_, i64>(0).unwrap() as u64,
            id: uuid::Uuid::from_slice(row.get_ref(1).unwrap().as_blob().unwrap()).unwrap(),
            occurred_at: chrono::DateTime::from_timestamp_micros(row.get(2).unwrap()).unwrap(),
            tenant: TenantId::new(text(3).unwrap()),
            actor: Actor {
                kind: ActorKind::parse(text(4).unwrap()).unwrap(),
                id: text(5).unwrap().to_owned(),
                display: text(6).map(str::to_owned),
            },
            event: serde_json::from_str(text(7).unwrap()).unwrap(),
            outcome: Outcome::parse(text(8).unwrap()).unwrap(),
            context: Context {
                ip: text(9).map(|s| s.parse().unwrap()),
                user_agent: text(10).map(str::to_owned),
                request_id: text(11).map(str::to_owned),
                correlation_id: text(12).map(str::to_owned),
                reason: text(13).map(str::to_owned),
            },
            schema_version: row.get::<_, i64>(14).unwrap() as u32,
            chain: ChainAlgorithm::parse(text(15).unwrap()).unwrap(),
            prev_hash: digest(16),
            hash: digest(17),
            seal: None,
        };
        serde_json::to_writer(&mut out, &r).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
}

/// The SQLite library's own allocations: its high-water mark since the last reset.
fn sqlite_highwater(reset: bool) -> i64 {
    // SAFETY: sqlite3_memory_highwater only reads (and optionally resets) a global counter.
    unsafe { ffi::sqlite3_memory_highwater(i32::from(reset)) }
}

/// Bytes live at the peak of `f` beyond those live before it: (Rust heap, SQLite's
/// allocator).
fn peak_extra(f: impl FnOnce()) -> (usize, i64) {
    let before = LIVE.load(Ordering::SeqCst);
    // SAFETY: reads a global counter.
    let sqlite_before = unsafe { ffi::sqlite3_memory_used() };
    sqlite_highwater(true);
    PEAK.store(before, Ordering::SeqCst);
    f();
    (
        PEAK.load(Ordering::SeqCst) - before,
        sqlite_highwater(false) - sqlite_before,
    )
}

/// Each export's peak from a freshly opened store (no pooled connection, empty page cache),
/// the other store's handles closed: both sizes start from the same state.
fn memory_report(small: &Path, small_n: u64, large: &Path, n: u64) {
    let open = |path: &Path| {
        SqliteOptions::new()
            .durability(Durability::ProcessCrash)
            .open(path)
            .unwrap()
    };
    let measure = |path: &Path| {
        let store = open(path);
        let csv = peak_extra(|| {
            CsvExport::new()
                .write(&store, &Query::new(), io::sink())
                .unwrap();
        });
        drop(store);
        let store = open(path);
        let jsonl = peak_extra(|| {
            JsonlExport::new()
                .write(&store, &Query::new(), io::BufWriter::new(io::sink()))
                .unwrap();
        });
        (csv, jsonl)
    };
    let (s_csv, s_jsonl) = measure(small);
    let (l_csv, l_jsonl) = measure(large);
    println!("\npeak memory of the export (Rust heap beyond what was live; SQLite allocator):");
    for (name, s, l) in [("csv", s_csv, l_csv), ("jsonl", s_jsonl, l_jsonl)] {
        println!(
            "  {name:5}: {small_n} records heap {} B sqlite {} B; {n} records heap {} B sqlite {} B; \
             ratio heap {:.3} heap+sqlite {:.3}",
            s.0,
            s.1,
            l.0,
            l.1,
            l.0 as f64 / s.0 as f64,
            (l.0 as f64 + l.1 as f64) / (s.0 as f64 + s.1 as f64),
        );
    }
    println!();
}

/// One side of a comparison: a named export to time.
type Run<'a> = Box<dyn FnMut() + 'a>;

/// Timed runs of each export, one group per format (criterion's minimum of 10 samples,
/// one export per sample).
fn group(c: &mut Criterion, name: &str, n: u64, runs: [(&str, Run<'_>); 2]) {
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(n));
    for (id, mut f) in runs {
        g.bench_function(BenchmarkId::new(id, n), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    f();
                }
                start.elapsed()
            })
        });
    }
    g.finish();
}

/// Panics, showing the first differing line, unless the baseline wrote what the exporter did.
fn same(format: &str, ours: &[u8], raw: &[u8]) {
    if ours != raw {
        let (o, r) = (String::from_utf8_lossy(ours), String::from_utf8_lossy(raw));
        let (o, r) = o
            .lines()
            .zip(r.lines())
            .find(|(a, b)| a != b)
            .unwrap_or_default();
        panic!(
            "the {format} baseline does not write what the exporter writes ({} vs {} bytes):\n{o}\n{r}",
            ours.len(),
            raw.len()
        );
    }
}

fn bench(c: &mut Criterion) {
    let n = large_n();
    let small_n = n / 10;
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let small = store_with(&dir.path().join("small.db"), small_n);
    let store = store_with(&dir.path().join("large.db"), n);
    println!(
        "\nbuilt the stores ({small_n} + {n} records) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The baseline must write exactly what the exporter writes, or the ratio means nothing.
    let small_conn = raw_conn(&dir.path().join("small.db"));
    let mut ours = Vec::new();
    CsvExport::new()
        .write(&small, &Query::new(), &mut ours)
        .unwrap();
    let mut raw = Vec::new();
    raw_csv(&small_conn, &mut raw);
    same("CSV", &ours, &raw);
    let mut ours = Vec::new();
    JsonlExport::new()
        .write(&small, &Query::new(), &mut ours)
        .unwrap();
    let mut raw = Vec::new();
    raw_jsonl(&small_conn, &mut raw);
    same("JSON Lines", &ours, &raw);
    drop((ours, raw, small_conn));

    drop(small);
    drop(store);
    memory_report(
        &dir.path().join("small.db"),
        small_n,
        &dir.path().join("large.db"),
        n,
    );
    let store = SqliteOptions::new()
        .durability(Durability::ProcessCrash)
        .open(dir.path().join("large.db"))
        .unwrap();

    let conn = raw_conn(&dir.path().join("large.db"));
    group(
        c,
        "export_csv",
        n,
        [
            ("raw_rusqlite_csv", Box::new(|| raw_csv(&conn, io::sink()))),
            (
                "audit_log",
                Box::new(|| {
                    CsvExport::new()
                        .write(&store, &Query::new(), io::sink())
                        .unwrap();
                }),
            ),
        ],
    );
    group(
        c,
        "export_jsonl",
        n,
        [
            (
                "raw_rusqlite_serde_json",
                Box::new(|| raw_jsonl(&conn, io::sink())),
            ),
            (
                "audit_log",
                Box::new(|| {
                    JsonlExport::new()
                        .write(&store, &Query::new(), io::BufWriter::new(io::sink()))
                        .unwrap();
                }),
            ),
        ],
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
