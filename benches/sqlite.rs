//! SqliteSink against raw rusqlite and against itself, each ratio measured in the same run.
//!
//! - `append_100k`: one batch of 100k records through `SqliteSink::append` (seq, chain,
//!   JSON, mentions) vs raw rusqlite inserting the same rows into the same schema with
//!   prepared statements in one transaction.
//! - `durable_single_appends`: `AuditLog::record` (one record per call, `Durability::PowerLoss`)
//!   from 16 threads sharing commits vs from one thread committing each record.
//! - `durable_commit_by_group_size`: one durable commit of 1, 4 or 16 records, the cost
//!   curve that bounds what group commit can win on the machine's disk;
//!   `raw_durable_commit_by_group_size`: the same for raw rusqlite, with and without the index
//!   entries that land at random places.
//! - `entity_timeline`: one entity's 100 records out of a 1M-record store vs a 10k one.
//!
//! The durable groups print the disk's state before and after them (`support/disk.rs`): a
//! durable figure is only comparable with one taken in the same state.
//!
//! Run with `cargo bench --bench sqlite`; figures in docs/benchmarks.md.

#[path = "support/disk.rs"]
mod disk;

use std::path::Path;
use std::time::{Duration, Instant};

use audit_log::rusqlite::{params, Connection};
use audit_log::{
    Actor, AuditLog, AuditSink, AuditStore, ChainAlgorithm, Digest, Durability, EntityKey,
    EntityRef, Entry, Event, MemorySink, PreparedRecord, Query, SqliteOptions, SqliteSink,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const BATCH: usize = 100_000;
const THREADS: u64 = 16;

fn preparer() -> AuditLog {
    AuditLog::builder(MemorySink::new()).build()
}

/// A realistic record: a user joins a group, with a request context.
fn entry(i: u64, target: Option<&str>) -> Entry {
    let user = match target {
        Some(t) => EntityRef::new(t, "target"),
        None => EntityRef::new(i % 5_000, format!("user{}", i % 5_000)),
    };
    Entry::new(
        Actor::user(i % 50, format!("admin{}", i % 50)),
        Event::user_added_to_group(user, EntityRef::new(i % 200, format!("group{}", i % 200))),
    )
    .context(audit_log::Context::new().request_id(format!("req-{i}")))
}

fn prepare(n: usize) -> Vec<PreparedRecord> {
    let log = preparer();
    (0..n as u64)
        .map(|i| log.prepare(entry(i, None)).unwrap())
        .collect()
}

/// The rows `SqliteSink` would write for `batch`, computed ahead (the baseline's input).
struct RawRow {
    p: PreparedRecord,
    seq: i64,
    prev: Digest,
    hash: Digest,
    json: String,
    mentions: Vec<(String, String)>,
}

/// The rows for `batch`, numbered from `first_seq` (chained from a zero hash: the raw
/// baseline only needs the values, not a valid chain).
fn raw_rows(batch: &[PreparedRecord], first_seq: u64) -> Vec<RawRow> {
    let mut prev = Digest::ZERO;
    batch
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let seq = first_seq + i as u64;
            let hash = p.hash_at(ChainAlgorithm::Sha256, seq, &prev);
            let row = RawRow {
                p: p.clone(),
                seq: seq as i64,
                prev,
                hash,
                json: p.event_json(),
                mentions: p
                    .event()
                    .mentions()
                    .iter()
                    .map(|m| (m.kind.as_str().to_owned(), m.id.as_str().to_owned()))
                    .collect(),
            };
            prev = hash;
            row
        })
        .collect()
}

/// One transaction inserting `rows`, with their mention rows unless `mentions` is false.
fn raw_insert(conn: &mut Connection, rows: &[RawRow], mentions: bool) {
    let tx = conn.transaction().unwrap();
    {
        let mut ins = tx
            .prepare_cached(
                "INSERT INTO audit_records (tenant, seq, id, occurred_at, actor_kind, actor_id, \
                 actor_display, event_name, outcome, ip, user_agent, request_id, correlation_id, \
                 reason, schema_version, chain, prev_hash, hash, event_json) VALUES (?1, ?2, ?3, \
                 ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
            )
            .unwrap();
        let mut men = tx
            .prepare_cached(
                "INSERT INTO audit_mentions (tenant, kind, entity_id, seq) VALUES (?1, ?2, ?3, ?4)",
            )
            .unwrap();
        for r in rows {
            let p = &r.p;
            let c = p.context();
            ins.execute(params![
                p.tenant().as_str(),
                r.seq,
                &p.id().as_bytes()[..],
                p.occurred_at().timestamp_micros(),
                p.actor().kind.as_str(),
                p.actor().id,
                p.actor().display,
                p.event().name(),
                p.outcome().as_str(),
                c.ip.map(|ip| ip.to_string()),
                c.user_agent,
                c.request_id,
                c.correlation_id,
                c.reason,
                p.schema_version(),
                "sha256",
                &r.prev.0[..],
                &r.hash.0[..],
                r.json,
            ])
            .unwrap();
            for (kind, id) in r.mentions.iter().filter(|_| mentions) {
                men.execute(params![p.tenant().as_str(), kind, id, r.seq])
                    .unwrap();
            }
        }
    }
    tx.commit().unwrap();
}

fn fresh_store_file(dir: &Path, n: &mut u32) -> std::path::PathBuf {
    *n += 1;
    let path = dir.join(format!("s{n}.db"));
    drop(SqliteSink::open(&path).unwrap());
    path
}

fn append_100k(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let batch = prepare(BATCH);
    let rows = raw_rows(&batch, 1);
    let mut g = c.benchmark_group("append_100k");
    g.sample_size(10)
        .throughput(Throughput::Elements(BATCH as u64));
    let mut n = 0;
    g.bench_function("raw_rusqlite", |b| {
        b.iter_batched(
            || {
                let path = fresh_store_file(dir.path(), &mut n);
                let conn = Connection::open(path).unwrap();
                conn.pragma_update(None, "synchronous", "FULL").unwrap();
                conn
            },
            |mut conn| raw_insert(&mut conn, &rows, true),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("sqlite_sink", |b| {
        b.iter_batched(
            || {
                let path = fresh_store_file(dir.path(), &mut n);
                (SqliteSink::open(path).unwrap(), batch.clone())
            },
            |(store, batch)| store.append(batch).unwrap(),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn durable_single_appends(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteOptions::new()
        .durability(Durability::PowerLoss)
        .open(dir.path().join("durable.db"))
        .unwrap();
    let log = AuditLog::builder(store).build();
    let mut disk = disk::Around::new("durable_single_appends", dir.path(), "");
    let mut g = c.benchmark_group("durable_single_appends");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(1));
    g.bench_function("one_thread", |b| {
        disk.start();
        let mut i = 0;
        b.iter(|| {
            i += 1;
            log.record_entry(entry(i, None)).unwrap()
        })
    });
    g.bench_function("16_threads", |b| {
        disk.start();
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(THREADS);
            let start = Instant::now();
            std::thread::scope(|s| {
                for t in 0..THREADS {
                    let log = log.clone();
                    s.spawn(move || {
                        for i in 0..per_thread {
                            log.record_entry(entry(t * 1_000_000 + i, None)).unwrap();
                        }
                    });
                }
            });
            // Per record appended (the last thread's share may round iters up).
            start
                .elapsed()
                .mul_f64(iters as f64 / (per_thread * THREADS) as f64)
        })
    });
    g.finish();
    disk.finish();
}

/// What one durable commit costs as its group grows, in a store already holding 20k records
/// (so index pages are spread as in a store in use): the most group commit can win is
/// `size x cost(1) / cost(size)`, whatever the write path does (see docs/benchmarks.md).
fn durable_commit_by_group_size(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteOptions::new()
        .durability(Durability::PowerLoss)
        .open(dir.path().join("groups.db"))
        .unwrap();
    let log = preparer();
    for chunk in 0..20 {
        let batch = (0..1_000)
            .map(|k| log.prepare(entry(chunk * 1_000 + k, None)).unwrap())
            .collect();
        store.append(batch).unwrap();
    }
    let mut disk = disk::Around::new("durable_commit_by_group_size", dir.path(), "");
    let mut g = c.benchmark_group("durable_commit_by_group_size");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let mut i = 1_000_000;
    for size in [1u64, 4, 16] {
        g.throughput(Throughput::Elements(size));
        g.bench_function(format!("{size}_records"), |b| {
            disk.start();
            b.iter_batched(
                || {
                    (0..size)
                        .map(|_| {
                            i += 1;
                            log.prepare(entry(i, None)).unwrap()
                        })
                        .collect::<Vec<_>>()
                },
                |batch| store.append(batch).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
    disk.finish();
}

/// The same curve for raw rusqlite (`synchronous = FULL`), once with the store's full schema
/// and once without the index entries that land at random places (the actor index and the
/// mention rows): shows that the growth of a commit with its records comes from those.
fn raw_durable_commit_by_group_size(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let log = preparer();
    let mut disk = disk::Around::new("raw_durable_commit_by_group_size", dir.path(), "");
    let mut g = c.benchmark_group("raw_durable_commit_by_group_size");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let mut n = 0;
    for (schema, scattered) in [("full_schema", true), ("appended_indexes_only", false)] {
        let mut conn = Connection::open(fresh_store_file(dir.path(), &mut n)).unwrap();
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        if !scattered {
            conn.execute_batch("DROP INDEX audit_records_actor")
                .unwrap();
        }
        let mut next = 1;
        let mut rows = |count: u64| {
            let batch: Vec<_> = (next..next + count)
                .map(|i| log.prepare(entry(i, None)).unwrap())
                .collect();
            let rows = raw_rows(&batch, next);
            next += count;
            rows
        };
        for _ in 0..20 {
            raw_insert(&mut conn, &rows(1_000), scattered);
        }
        for size in [1u64, 16] {
            g.throughput(Throughput::Elements(size));
            g.bench_function(format!("{schema}/{size}_records"), |b| {
                disk.start();
                b.iter_custom(|iters| {
                    let all = rows(iters * size);
                    let start = Instant::now();
                    for commit in all.chunks(size as usize) {
                        raw_insert(&mut conn, commit, scattered);
                    }
                    start.elapsed()
                })
            });
        }
    }
    g.finish();
    disk.finish();
}

/// A store of `n` records in which entity `target` is named by exactly 100 of them.
fn timeline_store(dir: &Path, n: u64) -> SqliteSink {
    let store = SqliteOptions::new()
        .durability(Durability::ProcessCrash)
        .open(dir.join(format!("timeline-{n}.db")))
        .unwrap();
    let log = preparer();
    let every = n / 100;
    let mut i = 0;
    while i < n {
        let chunk: Vec<_> = (i..(i + 10_000).min(n))
            .map(|k| {
                let target = (k % every == every / 2).then_some("target");
                log.prepare(entry(k, target)).unwrap()
            })
            .collect();
        i += chunk.len() as u64;
        store.append(chunk).unwrap();
    }
    store
}

fn entity_timeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let q = Query::new().entity(EntityKey::user("target"));
    let mut g = c.benchmark_group("entity_timeline");
    g.sample_size(20);
    for (name, n) in [("10k", 10_000), ("1M", 1_000_000)] {
        // Built on first use, so a filtered run that skips this benchmark does not build it
        // (criterion calls the closure more than once).
        let mut built: Option<SqliteSink> = None;
        g.bench_function(name, |b| {
            let store = built.get_or_insert_with(|| timeline_store(dir.path(), n));
            b.iter(|| {
                let n = store.query(&q).unwrap().filter(|r| r.is_ok()).count();
                assert_eq!(n, 100);
                n
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    append_100k,
    durable_single_appends,
    durable_commit_by_group_size,
    raw_durable_commit_by_group_size,
    entity_timeline
);
criterion_main!(benches);
