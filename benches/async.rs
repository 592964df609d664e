//! The async front door and the axum layer against their sync and by-hand baselines, each
//! ratio measured in the same run.
//!
//! - `awaited_appends`: 64 tasks awaiting `AsyncAuditLog::record` (one record per call) vs 16
//!   threads calling `AuditLog::record`, on the same kind of store: a durable SQLite file
//!   (`Durability::PowerLoss`), where group commit decides the throughput. Goal: at least
//!   0.9x the sync throughput.
//! - `request`: one request through `AuditLayer` and the `AsyncScopedLog` extractor vs the
//!   same route without the layer, whose handler builds the context from the headers by hand
//!   and records the same event; the router called in process (`oneshot`), recording into a
//!   `MemorySink`, so the layer's own cost is not hidden behind the network or a disk. Goal:
//!   the layer's overhead below 10%.
//!
//! `awaited_appends` prints the disk's state before and after it (`support/disk.rs`): a
//! durable figure is only comparable with one taken in the same state.
//!
//! Run with `cargo bench --features axum --bench async`; figures in docs/benchmarks.md.

#[path = "support/disk.rs"]
mod disk;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use audit_log::async_log::{AsyncAuditLog, AsyncScopedLog};
use audit_log::axum::AuditLayer;
use audit_log::{Actor, AuditLog, Context, EntityRef, Event, MemorySink, SqliteSink};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request};
use axum::routing::post;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tower::ServiceExt as _;

const RECORDS: u64 = 4_096;

fn event(i: u64) -> Event {
    Event::user_added_to_group(
        EntityRef::new(i % 5_000, format!("user{}", i % 5_000)),
        EntityRef::new(i % 200, format!("group{}", i % 200)),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `RECORDS` durable single-record appends from 16 threads (sync) or 64 tasks (async).
fn awaited_appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("awaited_appends");
    group.sample_size(10);
    group.throughput(Throughput::Elements(RECORDS));
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteSink::open(dir.path().join("bench.db")).unwrap();
    let log = AuditLog::builder(store).build();
    let mut disk = disk::Around::new("awaited_appends", dir.path(), "");
    group.bench_function("sync_16_threads", |b| {
        disk.start();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for t in 0..16 {
                        let log = log.clone();
                        s.spawn(move || {
                            for i in (t..RECORDS).step_by(16) {
                                log.record(&Actor::system(), event(i)).unwrap();
                            }
                        });
                    }
                });
                total += start.elapsed();
            }
            total
        })
    });
    let rt = runtime();
    let alog = AsyncAuditLog::new(log.clone());
    group.bench_function("async_64_tasks", |b| {
        disk.start();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                rt.block_on(async {
                    let tasks: Vec<_> = (0..64)
                        .map(|t| {
                            let log = alog.clone();
                            tokio::spawn(async move {
                                for i in (t..RECORDS).step_by(64) {
                                    log.record(&Actor::system(), event(i)).await.unwrap();
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                });
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
    disk.finish();
}

/// What a handler without the layer does by hand: the context from the headers.
fn context_by_hand(headers: &HeaderMap, peer: SocketAddr) -> Context {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut c = Context::new().ip(peer.ip());
    if let Some(ua) = text("user-agent") {
        c = c.user_agent(ua);
    }
    c.request_id(text("x-request-id").unwrap_or_else(|| uuid::Uuid::now_v7().to_string()))
}

fn request() -> Request<Body> {
    let mut r = Request::post("/users/42/delete")
        .header("user-agent", "bench/1.0")
        .header("x-request-id", "req-bench")
        .header("authorization", "Bearer root")
        .body(Body::empty())
        .unwrap();
    r.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    r
}

fn layer_overhead(c: &mut Criterion) {
    let rt = runtime();
    let log = AsyncAuditLog::new(AuditLog::builder(MemorySink::new()).build());
    let with_layer = Router::new()
        .route(
            "/users/{id}/delete",
            post(|audit: AsyncScopedLog| async move {
                audit
                    .record(Event::user_deleted(EntityRef::new(42, "bob")))
                    .await
                    .map(|_| "ok")
            }),
        )
        .layer(AuditLayer::new(log.clone()).actor(|_| Some(Actor::user(1, "root"))));
    let by_hand = {
        let log = log.clone();
        Router::new().route(
            "/users/{id}/delete",
            post(
                move |ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap| async move {
                    log.scoped(Actor::user(1, "root"))
                        .with_context(context_by_hand(&headers, peer))
                        .record(Event::user_deleted(EntityRef::new(42, "bob")))
                        .await
                        .map(|_| "ok")
                },
            ),
        )
    };
    let mut group = c.benchmark_group("request");
    group.throughput(Throughput::Elements(1));
    group.bench_function("by_hand", |b| {
        b.iter(|| rt.block_on(by_hand.clone().oneshot(request())).unwrap())
    });
    group.bench_function("audit_layer", |b| {
        b.iter(|| rt.block_on(with_layer.clone().oneshot(request())).unwrap())
    });
    group.finish();
}

criterion_group!(benches, awaited_appends, layer_overhead);
criterion_main!(benches);
