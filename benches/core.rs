//! Core benchmarks, each against a raw baseline measured in the same run.
//!
//! - `record`: `AuditLog::record` of a ~300-byte event into a `MemorySink` (checks,
//!   redaction, UUIDv7, canonical encoding, SHA-256 chain, store) against the least a trail
//!   must do per event: serialize an equivalent plain struct with serde_json, make a UUIDv7,
//!   SHA-256 the JSON, push it to a `Vec`. Goal: at most 1.5x the baseline.
//! - `chain_link`: `ChainAlgorithm::link` over a ~300-byte canonical record body, SHA-256 vs
//!   BLAKE3.
//!
//! Run with `cargo bench --bench core`; figures are in docs/benchmarks.md.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use audit_log::chain::canonical_body;
use audit_log::{
    Actor, AuditLog, ChainAlgorithm, Context, Digest, EntityRef, Entry, Event, MemorySink,
    PermissionGroupRef, Scope,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde::Serialize;
use sha2::Digest as _;

/// The event every benchmark records: a permission grant in an application scope, whose
/// wire JSON is about 300 bytes.
fn event(i: u64) -> Event {
    Event::permission_user_added(
        EntityRef::new(i, "alice.liddell@example.com"),
        PermissionGroupRef::new(
            9,
            "Payroll editors",
            Scope::application(
                EntityRef::new(3, "Payroll"),
                EntityRef::new("ws-finance", "Finance"),
            ),
        ),
    )
}

fn context() -> Context {
    Context::new()
        .ip(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)))
        .request_id("req-7f3a9c")
}

// The baseline's record: the same information as plain structs.
#[derive(Serialize)]
struct PlainRef<'a> {
    id: String,
    display: &'a str,
}

#[derive(Serialize)]
struct PlainScope<'a> {
    kind: &'a str,
    application: PlainRef<'a>,
    workspace: PlainRef<'a>,
}

#[derive(Serialize)]
struct PlainGroup<'a> {
    id: String,
    display: &'a str,
    scope: PlainScope<'a>,
}

#[derive(Serialize)]
struct PlainEvent<'a> {
    event: &'a str,
    user: PlainRef<'a>,
    permission_group: PlainGroup<'a>,
}

#[derive(Serialize)]
struct PlainActor<'a> {
    kind: &'a str,
    id: &'a str,
    display: &'a str,
}

#[derive(Serialize)]
struct PlainContext<'a> {
    ip: IpAddr,
    request_id: &'a str,
}

#[derive(Serialize)]
struct PlainRecord<'a> {
    id: String,
    occurred_at: String,
    tenant: &'a str,
    actor: PlainActor<'a>,
    event: PlainEvent<'a>,
    outcome: &'a str,
    context: PlainContext<'a>,
}

fn plain(i: u64) -> PlainRecord<'static> {
    PlainRecord {
        id: String::new(),
        occurred_at: String::new(),
        tenant: "default",
        actor: PlainActor {
            kind: "user",
            id: "1",
            display: "root",
        },
        event: PlainEvent {
            event: "permission.user_added",
            user: PlainRef {
                id: i.to_string(),
                display: "alice.liddell@example.com",
            },
            permission_group: PlainGroup {
                id: "9".into(),
                display: "Payroll editors",
                scope: PlainScope {
                    kind: "application",
                    application: PlainRef {
                        id: "3".into(),
                        display: "Payroll",
                    },
                    workspace: PlainRef {
                        id: "ws-finance".into(),
                        display: "Finance",
                    },
                },
            },
        },
        outcome: "success",
        context: PlainContext {
            ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)),
            request_id: "req-7f3a9c",
        },
    }
}

struct PlainStored {
    _id: uuid::Uuid,
    _hash: [u8; 32],
    _json: Vec<u8>,
}

fn bench_record(c: &mut Criterion) {
    let event_bytes = serde_json::to_vec(&event(42)).unwrap().len();
    eprintln!("record: event wire JSON is {event_bytes} bytes");
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(1));

    // Each sample starts from an empty store so memory stays bounded; building and dropping
    // it is outside the timed loop.
    g.bench_function("baseline_json_uuid_sha256_push", |b| {
        b.iter_custom(|iters| {
            let mut stored: Vec<PlainStored> = Vec::with_capacity(iters as usize);
            let start = Instant::now();
            for i in 0..iters {
                let id = uuid::Uuid::now_v7();
                let mut r = plain(i);
                r.id = id.hyphenated().to_string();
                r.occurred_at =
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
                let json = serde_json::to_vec(&r).unwrap();
                let hash: [u8; 32] = sha2::Sha256::digest(&json).into();
                stored.push(PlainStored {
                    _id: id,
                    _hash: hash,
                    _json: json,
                });
            }
            let elapsed = start.elapsed();
            black_box(&stored);
            elapsed
        })
    });

    g.bench_function("audit_log_record_memory_sink", |b| {
        b.iter_custom(|iters| {
            let sink = MemorySink::new();
            let log = AuditLog::builder(sink.clone()).build();
            let actor = Actor::user(1, "root");
            let ctx = context();
            let start = Instant::now();
            for i in 0..iters {
                let entry = Entry::new(actor.clone(), event(i)).context(ctx.clone());
                black_box(log.record_entry(entry).unwrap());
            }
            let elapsed = start.elapsed();
            drop(log);
            drop(sink);
            elapsed
        })
    });
    g.finish();
}

fn bench_chain_link(c: &mut Criterion) {
    let sink = MemorySink::new();
    let log = AuditLog::builder(sink.clone()).build();
    log.record_entry(Entry::new(Actor::user(1, "root"), event(42)).context(context()))
        .unwrap();
    let body = canonical_body(&sink.records()[0]);
    eprintln!("chain_link: canonical body is {} bytes", body.len());
    let prev = ChainAlgorithm::Sha256.link(1, &Digest::ZERO, b"previous");

    // The real body of the record above, and its first 300 bytes (a smaller record).
    for (label, bytes) in [("record_body", &body[..]), ("300_bytes", &body[..300])] {
        let mut g = c.benchmark_group(format!("chain_link/{label}"));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        for algorithm in [ChainAlgorithm::Sha256, ChainAlgorithm::Blake3] {
            g.bench_function(algorithm.as_str(), |b| {
                b.iter(|| {
                    black_box(algorithm).link(black_box(2), black_box(&prev), black_box(bytes))
                })
            });
        }
        g.finish();
    }
}

fn config() -> Criterion {
    // Two shared, noisy cores: short runs, few samples; compare ratios within one run.
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = core;
    config = config();
    targets = bench_record, bench_chain_link
}
criterion_main!(core);
