//! Export throughput against a raw baseline measured in the same run, and the export's
//! peak memory at two trail sizes.
//!
//! - `export_csv/audit_log` vs `export_csv/raw_csv_crate`: the same store scan, the same
//!   default columns; the baseline writes them with the `csv` crate directly (no formula
//!   escaping, no file hash, no progress). Goal: at least 0.5x its throughput.
//! - `export_jsonl/audit_log` vs `export_jsonl/raw_serde_json`: the same for JSON Lines.
//! - Peak memory: a counting global allocator records the highest number of bytes live
//!   during an export beyond what was live before it (the store itself excluded), for
//!   100k and 1M records. Goal: 1M at most 1.2x 100k.
//!
//! `AUDIT_BENCH_N` sets the large size (default 1 000 000). Run with
//! `cargo bench --bench export`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use audit_log::{
    Actor, AuditLog, AuditStore, Context, CsvExport, EntityRef, Entry, Event, FieldChange,
    FieldValue, JsonlExport, MemorySink, PermissionGroupRef, Query, Record, Role, Scope,
    UserChange,
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

/// A store holding `n` records of a realistic mix: memberships, edits, permissions.
fn store_with(n: u64) -> MemorySink {
    let store = MemorySink::new();
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
        log.record_batch(batch).unwrap();
        i = (i + 10_000).min(n);
    }
    store
}

/// The baseline: the same scan and the same default columns, written with the `csv` crate
/// in the most direct way.
fn raw_csv(store: &MemorySink, out: impl Write) {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(audit_log::Column::DEFAULT.iter().map(|c| c.header()))
        .unwrap();
    let mut changes = String::new();
    for r in store.query(&Query::new()).unwrap() {
        let r: Record = r.unwrap();
        let m = r.event.mentions();
        let t = m.iter().find(|m| m.role == Role::Target);
        let rel = m.iter().find(|m| m.role == Role::Related);
        changes.clear();
        match &r.event {
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
        let scope = r
            .event
            .permission_group()
            .map(|p| p.scope.describe())
            .unwrap_or_default();
        w.write_record([
            r.seq.to_string().as_str(),
            &r.occurred_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            r.tenant.as_str(),
            r.actor.kind.as_str(),
            &r.actor.id,
            r.actor.label(),
            r.event.name(),
            r.outcome.as_str(),
            t.map_or("", |m| m.kind.as_str()),
            t.map_or("", |m| m.id.as_str()),
            t.map_or("", |m| m.label()),
            rel.map_or("", |m| m.kind.as_str()),
            rel.map_or("", |m| m.id.as_str()),
            rel.map_or("", |m| m.label()),
            &scope,
            &changes,
            r.context.reason.as_deref().unwrap_or(""),
            &r.context.ip.map(|i| i.to_string()).unwrap_or_default(),
            r.context.user_agent.as_deref().unwrap_or(""),
            r.context.request_id.as_deref().unwrap_or(""),
            r.context.correlation_id.as_deref().unwrap_or(""),
            &r.id.to_string(),
            &r.hash.to_hex(),
        ])
        .unwrap();
    }
    w.flush().unwrap();
}

fn push_change(s: &mut String, f: &FieldChange) {
    let show = |v: &Option<FieldValue>| v.as_ref().map(|v| v.display()).unwrap_or_default();
    let _ = write!(s, "{}: {} -> {}; ", f.field, show(&f.old), show(&f.new));
}

fn raw_jsonl(store: &MemorySink, out: impl Write) {
    let mut out = io::BufWriter::new(out);
    for r in store.query(&Query::new()).unwrap() {
        serde_json::to_writer(&mut out, &r.unwrap()).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
}

/// Bytes live at the peak of `f` beyond those live before it.
fn peak_extra(f: impl FnOnce()) -> usize {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    f();
    PEAK.load(Ordering::SeqCst) - before
}

fn memory_report(large: &MemorySink, n: u64) {
    let small_n = n / 10;
    let small = store_with(small_n);
    let measure = |store: &MemorySink| {
        let csv = peak_extra(|| {
            CsvExport::new()
                .write(store, &Query::new(), io::sink())
                .unwrap();
        });
        let jsonl = peak_extra(|| {
            JsonlExport::new()
                .write(store, &Query::new(), io::BufWriter::new(io::sink()))
                .unwrap();
        });
        (csv, jsonl)
    };
    let (s_csv, s_jsonl) = measure(&small);
    drop(small);
    let (l_csv, l_jsonl) = measure(large);
    println!("\npeak memory of the export itself (bytes live beyond the store):");
    println!(
        "  csv:   {small_n} records {s_csv} B, {n} records {l_csv} B, ratio {:.3}",
        l_csv as f64 / s_csv as f64
    );
    println!(
        "  jsonl: {small_n} records {s_jsonl} B, {n} records {l_jsonl} B, ratio {:.3}\n",
        l_jsonl as f64 / s_jsonl as f64
    );
}

fn bench(c: &mut Criterion) {
    let n = large_n();
    let store = store_with(n);
    memory_report(&store, n);

    let mut g = c.benchmark_group("export_csv");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(n));
    g.bench_function(BenchmarkId::new("raw_csv_crate", n), |b| {
        b.iter(|| raw_csv(&store, io::sink()))
    });
    g.bench_function(BenchmarkId::new("audit_log", n), |b| {
        b.iter(|| {
            CsvExport::new()
                .write(&store, &Query::new(), io::sink())
                .unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("export_jsonl");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(n));
    g.bench_function(BenchmarkId::new("raw_serde_json", n), |b| {
        b.iter(|| raw_jsonl(&store, io::sink()))
    });
    g.bench_function(BenchmarkId::new("audit_log", n), |b| {
        b.iter(|| {
            JsonlExport::new()
                .write(&store, &Query::new(), io::BufWriter::new(io::sink()))
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
