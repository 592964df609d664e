//! Forwarding throughput and lag.
//!
//! - `jetstream/*`: 10,000 records (record JSON, ~650 bytes) into a fresh JetStream stream
//!   per iteration: `raw_publish` is a plain async-nats loop publishing the same messages
//!   with the same headers, awaiting acknowledgements per 500 like the forwarder's batches;
//!   `forwarder` is the whole forwarder (store reads, encoding, cursors, status) to the
//!   `JetStream` destination, reading a `MemorySink` with `MemoryCursors`;
//!   `forwarder_sqlite_cursors` the same from a file-backed `SqliteSink` holding the same
//!   records, with durable `SqliteCursors` beside it (each batch's cursor saved with
//!   `synchronous = FULL` before the next batch), as a host that keeps its cursors runs it.
//! - `webhook/*`: the same records to a local HTTP receiver on 127.0.0.1 in batches of 500:
//!   `raw_post` POSTs the same signed bodies with reqwest; `forwarder` runs the forwarder.
//! - `lag`: appends 1,000 records per second for 10 s while forwarding to JetStream, and
//!   prints the delivery latency (append to JetStream acknowledgement) percentiles.
//!
//! The `jetstream` group writes to disk (the stream's file storage, the SQLite cursors): it
//! prints the disk's state before and after it (`support/disk.rs`), probed in the client's
//! temp dir, on this machine the NATS server's disk too.
//!
//! Needs a NATS server at `AUDIT_LOG_NATS_URL` (default `nats://127.0.0.1:4222`).
//! `cargo bench --features nats,webhook --bench forward`; see docs/benchmarks.md.

#[path = "support/disk.rs"]
mod disk;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audit_log::forward::{
    Batch, BoxFuture, Delivery, DeliveryError, Destination, Format, Forwarder, JetStream,
    MemoryCursors, Product, Route, SqliteCursors, Start, Webhook,
};
use audit_log::{
    Actor, AuditLog, AuditStore, EntityRef, Entry, Event, MemorySink, PermissionGroupRef, Query,
    Scope, SealedSink, SqliteSink,
};
use criterion::{criterion_group, Criterion};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::runtime::Runtime;
use tokio::sync::Notify;

const N: usize = 10_000;
const BATCH: usize = 500;

fn url() -> String {
    std::env::var("AUDIT_LOG_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

fn event(i: usize) -> Event {
    let scope = Scope::application(
        EntityRef::new("app-7", "Payroll"),
        EntityRef::new("ws-1", "Finance"),
    );
    Event::permission_user_added(
        EntityRef::new(i as u64, format!("user-{i}")),
        PermissionGroupRef::new("pg-3", "Payroll editors", scope),
    )
}

fn filled(n: usize) -> MemorySink {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        log.record_batch(
            chunk
                .iter()
                .map(|i| Entry::new(Actor::user(1, "root"), event(*i))),
        )
        .unwrap();
    }
    store
}

/// Wraps a destination and wakes the bench when `target` records were delivered.
#[derive(Debug, Clone)]
struct Counting<D> {
    inner: D,
    count: Arc<AtomicUsize>,
    target: usize,
    done: Arc<Notify>,
    latencies: Option<Arc<Mutex<Vec<Duration>>>>,
}

impl<D: Destination> Destination for Counting<D> {
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            self.inner.deliver(batch).await?;
            if let Some(l) = &self.latencies {
                let now = chrono::Utc::now();
                let mut l = l.lock().unwrap();
                for d in &batch.deliveries {
                    l.push((now - d.record.occurred_at).to_std().unwrap_or_default());
                }
            }
            if self.count.fetch_add(batch.len(), Ordering::SeqCst) + batch.len() >= self.target {
                self.done.notify_one();
            }
            Ok(())
        })
    }
}

fn counting<D>(inner: D, target: usize) -> (Counting<D>, Arc<Notify>) {
    let done = Arc::new(Notify::new());
    (
        Counting {
            inner,
            count: Arc::default(),
            target,
            done: done.clone(),
            latencies: None,
        },
        done,
    )
}

async fn fresh_stream(client: &async_nats::Client, tag: &str) -> JetStream {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let js = JetStream::with_client(client.clone(), &format!("benchfwd{tag}{nanos}"));
    let name = format!("BENCH_FWD_{tag}_{nanos}");
    js.ensure_stream(&name, Duration::from_secs(120))
        .await
        .unwrap();
    STREAMS.lock().unwrap().push(name);
    js
}

/// The streams the bench made, deleted after each benchmark.
static STREAMS: Mutex<Vec<String>> = Mutex::new(Vec::new());

async fn delete_streams(client: &async_nats::Client) {
    let ctx = async_nats::jetstream::new(client.clone());
    let all = std::mem::take(&mut *STREAMS.lock().unwrap());
    for n in all {
        let _ = ctx.delete_stream(&n).await;
    }
}

fn jetstream(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let client = rt
        .block_on(async_nats::connect(url()))
        .expect("a NATS server");
    let store = Arc::new(filled(N));
    let records: Vec<_> = store
        .query(&Query::new())
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let payloads: Vec<Vec<u8>> = records
        .iter()
        .map(|r| Format::Record.encode(r, &Product::default()).unwrap())
        .collect();
    let mut disk = disk::Around::new(
        "jetstream",
        &std::env::temp_dir(),
        " (the client's; here also the NATS server's)",
    );
    let mut g = c.benchmark_group("jetstream");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(criterion::Throughput::Elements(N as u64));
    g.bench_function("raw_publish", |b| {
        disk.start();
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let js = fresh_stream(&client, "raw").await;
                    let ctx = async_nats::jetstream::new(client.clone());
                    let t = Instant::now();
                    for (chunk_r, chunk_p) in records.chunks(BATCH).zip(payloads.chunks(BATCH)) {
                        let mut acks = Vec::with_capacity(BATCH);
                        for (r, p) in chunk_r.iter().zip(chunk_p) {
                            let mut h = async_nats::HeaderMap::new();
                            h.insert("Nats-Msg-Id", r.id.to_string().as_str());
                            h.insert("Audit-Log-Tenant", r.tenant.as_str());
                            h.insert("Audit-Log-Seq", r.seq.to_string().as_str());
                            h.insert("Audit-Log-Hash", r.hash.to_hex().as_str());
                            let subject = js.subject(r.tenant.as_str(), r.event.name());
                            acks.push(
                                ctx.publish_with_headers(subject, h, p.clone().into())
                                    .await
                                    .unwrap(),
                            );
                        }
                        for a in acks {
                            a.await.unwrap();
                        }
                    }
                    total += t.elapsed();
                }
                delete_streams(&client).await;
                total
            })
        })
    });
    // The same records in a SQLite file, with the cursors in tables beside them.
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteSink::open(dir.path().join("audit.db")).unwrap();
    sqlite.append_sealed(records.clone()).unwrap();
    let sqlite = Arc::new(sqlite);
    let cursors = Arc::new(SqliteCursors::beside(&sqlite).unwrap());
    let runs = AtomicUsize::new(0);
    g.bench_function("forwarder_sqlite_cursors", |b| {
        disk.start();
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let js = fresh_stream(&client, "sql").await;
                    let (dest, done) = counting(js, N);
                    // A new route name each run: its cursors start at the beginning.
                    let name = format!("bench{}", runs.fetch_add(1, Ordering::SeqCst));
                    let f = Forwarder::with_cursors(sqlite.clone(), cursors.clone()).route(
                        Route::new(name, dest)
                            .start(Start::Beginning)
                            .batch_size(BATCH),
                    );
                    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                    let t = Instant::now();
                    let h = tokio::spawn(f.run(async move {
                        let _ = rx.await;
                    }));
                    done.notified().await;
                    total += t.elapsed();
                    let _ = tx.send(());
                    h.await.unwrap().unwrap();
                }
                delete_streams(&client).await;
                total
            })
        })
    });
    g.bench_function("forwarder", |b| {
        disk.start();
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let js = fresh_stream(&client, "fwd").await;
                    let (dest, done) = counting(js, N);
                    let f = Forwarder::new(store.clone(), MemoryCursors::new()).route(
                        Route::new("bench", dest)
                            .start(Start::Beginning)
                            .batch_size(BATCH),
                    );
                    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                    let t = Instant::now();
                    let h = tokio::spawn(f.run(async move {
                        let _ = rx.await;
                    }));
                    done.notified().await;
                    total += t.elapsed();
                    let _ = tx.send(());
                    h.await.unwrap().unwrap();
                }
                delete_streams(&client).await;
                total
            })
        })
    });
    g.finish();
    disk.finish();
}

/// A local HTTP/1.1 receiver that answers 200 to every POST.
async fn receiver() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/audit", l.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let mut r = BufReader::new(s);
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        r.read_line(&mut line).await.unwrap();
                        if line.trim_end().is_empty() {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).await.unwrap();
                    r.get_mut()
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .await
                        .unwrap();
                }
            });
        }
    });
    url
}

fn webhook(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let url = rt.block_on(receiver());
    let store = Arc::new(filled(N));
    let records: Vec<_> = store
        .query(&Query::new())
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let hook = Webhook::new(url.clone()).secret(b"bench".to_vec());
    let bodies: Vec<Vec<u8>> = records
        .chunks(BATCH)
        .map(|chunk| {
            hook.body(&Batch {
                tenant: chunk[0].tenant.clone(),
                deliveries: chunk
                    .iter()
                    .map(|r| Delivery {
                        record: r.clone(),
                        payload: Format::Record.encode(r, &Product::default()).unwrap(),
                    })
                    .collect(),
            })
        })
        .collect();
    let mut g = c.benchmark_group("webhook");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(criterion::Throughput::Elements(N as u64));
    let client = reqwest::Client::new();
    g.bench_function("raw_post", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    for body in &bodies {
                        let now = chrono::Utc::now().timestamp();
                        let sig = audit_log::forward::signature::sign(b"bench", now, body);
                        let r = client
                            .post(&url)
                            .header("content-type", "application/json")
                            .header(audit_log::forward::signature::SIGNATURE_HEADER, sig)
                            .body(body.clone())
                            .send()
                            .await
                            .unwrap();
                        assert!(r.status().is_success());
                    }
                }
                t.elapsed()
            })
        })
    });
    g.bench_function("forwarder", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (dest, done) = counting(hook.clone(), N);
                    let f = Forwarder::new(store.clone(), MemoryCursors::new()).route(
                        Route::new("bench", dest)
                            .start(Start::Beginning)
                            .batch_size(BATCH),
                    );
                    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                    let t = Instant::now();
                    let h = tokio::spawn(f.run(async move {
                        let _ = rx.await;
                    }));
                    done.notified().await;
                    total += t.elapsed();
                    let _ = tx.send(());
                    h.await.unwrap().unwrap();
                }
                total
            })
        })
    });
    g.finish();
}

/// 1,000 records per second for 10 s, forwarded to JetStream as they come; prints the
/// latency from `occurred_at` (taken when the record is appended) to JetStream's ack.
fn lag() {
    let rt = Runtime::new().unwrap();
    let client = rt
        .block_on(async_nats::connect(url()))
        .expect("a NATS server");
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    let seconds = 10;
    let rate = 1000;
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let max_status_lag = rt.block_on(async {
        let js = fresh_stream(&client, "lag").await;
        let (mut dest, done) = counting(js, seconds * rate);
        dest.latencies = Some(latencies.clone());
        let f = Forwarder::new(Arc::new(store.clone()), MemoryCursors::new()).route(
            Route::new("lag", dest)
                .start(Start::Beginning)
                .batch_size(BATCH),
        );
        let status = f.status();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let h = tokio::spawn(f.run(async move {
            let _ = rx.await;
        }));
        let writer = std::thread::spawn(move || {
            // Appends in 10 ms steps of 10 records: 1,000 per second.
            let start = Instant::now();
            for step in 0..(seconds * 100) {
                let due = start + Duration::from_millis(10 * step as u64);
                if let Some(d) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
                let i = step * 10;
                log.record_batch((i..i + 10).map(|j| Entry::new(Actor::user(1, "root"), event(j))))
                    .unwrap();
            }
        });
        let mut max_status: f64 = 0.0;
        let watch = async {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if let Some(s) = status.get("lag") {
                    max_status = max_status.max(s.lag_seconds);
                }
            }
        };
        tokio::select! {
            _ = done.notified() => {}
            _ = watch => {}
        }
        writer.join().unwrap();
        let _ = tx.send(());
        h.await.unwrap().unwrap();
        delete_streams(&client).await;
        max_status
    });
    let mut l = latencies.lock().unwrap().clone();
    l.sort();
    let pct = |p: f64| l[((l.len() as f64 - 1.0) * p) as usize];
    println!(
        "lag at {rate} records/s for {seconds} s ({} records): p50 {:?} p99 {:?} max {:?}; status lag_seconds max {:.3}",
        l.len(),
        pct(0.5),
        pct(0.99),
        l[l.len() - 1],
        max_status_lag
    );
}

criterion_group!(benches, jetstream, webhook);

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if filter.is_empty()
        || filter
            .iter()
            .any(|f| "lag".contains(f.as_str()) || f == "lag")
    {
        lag();
    }
    if !filter.iter().any(|f| f == "lag") {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
}
