//! PostgreSQL store benchmarks, run when `AUDIT_LOG_POSTGRES_URL` names a server:
//!
//! - `batch_100k`: one `append` of 100 000 prepared records (seq, chain, mentions, COPY)
//!   against a raw binary COPY of the same rows into a table of the same shape.
//! - `durable_singles`: 3 200 single-record appends, each acknowledged only once committed,
//!   from 16 threads (group commit) against one thread committing each record.
//!
//! `durable_singles` prints the disk's state before and after it (`support/disk.rs`), probed
//! in the client's temp dir: on this machine the server's data directory is on that disk too.
//!
//! ```text
//! AUDIT_LOG_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --features postgres --bench postgres
//! ```

use std::time::{Duration, Instant};

#[path = "support/disk.rs"]
mod disk;

use audit_log::{
    Actor, AuditLog, AuditSink, EntityRef, Entry, Event, MemorySink, PostgresOptions, PostgresSink,
    PreparedRecord,
};
use criterion::{criterion_group, Criterion};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;

const BATCH: u64 = 100_000;
const THREADS: u64 = 16;
const PER_THREAD: u64 = 200;

fn url() -> Option<String> {
    std::env::var("AUDIT_LOG_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

fn preparer() -> AuditLog {
    AuditLog::builder(MemorySink::new()).build()
}

fn entry(i: u64) -> Entry {
    Entry::new(
        Actor::user(i % 50, format!("admin{}", i % 50)),
        Event::user_added_to_group(
            EntityRef::new(i, format!("user{i}")),
            EntityRef::new(i % 300, format!("group{}", i % 300)),
        ),
    )
}

fn prepare(log: &AuditLog, n: u64) -> Vec<PreparedRecord> {
    (0..n)
        .step_by(10_000)
        .flat_map(|start| {
            log.prepare_batch((start..(start + 10_000).min(n)).map(entry))
                .expect("valid entries")
        })
        .collect()
}

struct Bench {
    url: String,
    schema: String,
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}

fn batch_100k(c: &mut Criterion, b: &Bench) {
    let store = PostgresSink::connect_with(&b.url, PostgresOptions::new().schema(&b.schema))
        .expect("connect");
    let mut raw = postgres::Client::connect(&b.url, postgres::NoTls).expect("connect");
    raw.batch_execute(&format!(
        "CREATE TABLE {0}.raw_records (LIKE {0}.audit_records INCLUDING ALL)",
        b.schema
    ))
    .expect("baseline table");
    let log = preparer();
    let mut g = c.benchmark_group("postgres/batch_100k");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(criterion::Throughput::Elements(BATCH));
    g.bench_function("audit_log_append", |bench| {
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let batch = prepare(&log, BATCH);
                let t = Instant::now();
                store.append(batch).expect("append");
                total += t.elapsed();
            }
            total
        })
    });
    let mut offset = 0i64;
    g.bench_function("raw_copy", |bench| {
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // The same column values our append writes, made before the clock starts.
                let batch = prepare(&log, BATCH);
                let rows: Vec<_> = batch
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        (
                            offset + i as i64 + 1,
                            p.event_json(),
                            p.hash_at(
                                audit_log::ChainAlgorithm::Sha256,
                                1,
                                &audit_log::Digest::ZERO,
                            ),
                        )
                    })
                    .collect();
                let t = Instant::now();
                let mut tx = raw.transaction().expect("tx");
                let sink = tx
                    .copy_in(&format!(
                        "COPY {}.raw_records (tenant, seq, id, occurred_at, actor_kind, actor_id, \
                         actor_display, event_name, outcome, schema_version, chain, prev_hash, \
                         hash, event_json) FROM STDIN BINARY",
                        b.schema
                    ))
                    .expect("copy");
                let types = [
                    Type::TEXT,
                    Type::INT8,
                    Type::UUID,
                    Type::TIMESTAMPTZ,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::INT4,
                    Type::TEXT,
                    Type::BYTEA,
                    Type::BYTEA,
                    Type::TEXT,
                ];
                let mut w = BinaryCopyInWriter::new(sink, &types);
                for (p, (seq, json, hash)) in batch.iter().zip(&rows) {
                    let prev: &[u8] = &[0u8; 32];
                    let h: &[u8] = &hash.0;
                    w.write(&[
                        &p.tenant().as_str(),
                        seq,
                        &p.id(),
                        &p.occurred_at(),
                        &p.actor().kind.as_str(),
                        &p.actor().id.as_str(),
                        &p.actor().display.as_deref(),
                        &p.event().name(),
                        &p.outcome().as_str(),
                        &(p.schema_version() as i32),
                        &"sha256",
                        &prev,
                        &h,
                        &json.as_str(),
                    ])
                    .expect("row");
                }
                w.finish().expect("finish");
                tx.commit().expect("commit");
                total += t.elapsed();
                offset += BATCH as i64;
            }
            total
        })
    });
    g.finish();
}

fn durable_singles(c: &mut Criterion, b: &Bench) {
    let store = PostgresSink::connect_with(
        &b.url,
        PostgresOptions::new().schema(format!("{}_singles", b.schema)),
    )
    .expect("connect");
    let log = AuditLog::builder(store).build();
    let n = THREADS * PER_THREAD;
    // The client's disk: the probe cannot reach the server's file system, which is the one
    // that syncs the commits; on this machine both are the same disk.
    let mut disk = disk::Around::new(
        "postgres/durable_singles",
        &std::env::temp_dir(),
        " (the client's; here also the server's)",
    );
    let mut g = c.benchmark_group("postgres/durable_singles");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(criterion::Throughput::Elements(n));
    g.bench_function("one_thread", |bench| {
        disk.start();
        bench.iter(|| {
            for i in 0..n {
                log.record_entry(entry(i)).expect("record");
            }
        })
    });
    g.bench_function("16_threads", |bench| {
        disk.start();
        bench.iter(|| {
            std::thread::scope(|s| {
                for t in 0..THREADS {
                    let log = log.clone();
                    s.spawn(move || {
                        for i in 0..PER_THREAD {
                            log.record_entry(entry(t * PER_THREAD + i)).expect("record");
                        }
                    });
                }
            })
        })
    });
    g.finish();
    disk.finish();
}

fn benches(c: &mut Criterion) {
    let Some(url) = url() else {
        println!("postgres benches NOT RUN: set AUDIT_LOG_POSTGRES_URL to a server URL");
        return;
    };
    let schema = format!("audit_bench_{}", std::process::id());
    let b = Bench { url, schema };
    batch_100k(c, &b);
    durable_singles(c, &b);
    if let Ok(mut cl) = postgres::Client::connect(&b.url, postgres::NoTls) {
        let _ = cl.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {}_singles CASCADE",
            b.schema
        ));
    }
}

criterion_group!(group, benches);

fn main() {
    group();
    Criterion::default().configure_from_args().final_summary();
}
