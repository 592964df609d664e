//! Signed checkpoints, each against a raw baseline measured in the same run.
//!
//! - `checkpoint/*`: `Checkpoint::sign` and `SignedCheckpoint::verify_signature` against
//!   `ed25519-dalek` signing and strictly verifying the same message bytes directly (what is
//!   left is building the message and the key-id check).
//! - `append/*`: `AuditLog::record_entry` of the core bench's ~300-byte event into a bare
//!   `MemorySink` (the baseline), and into `Checkpointing<MemorySink>` signing every 1 000
//!   records, once into a `CheckpointFile` (a synced line each) and once into a target that
//!   drops them (the signature alone).
//!
//! Run with `cargo bench --bench checkpoint`; figures are in docs/benchmarks.md.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use audit_log::{
    Actor, AuditLog, AuditSink, ChainAlgorithm, Checkpoint, CheckpointFile, CheckpointSigner,
    CheckpointTarget, Checkpointing, Context, Digest, EntityRef, Entry, Event, MemorySink,
    PermissionGroupRef, Scope, SignedCheckpoint, TenantId,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ed25519_dalek::Signer as _;

const SECRET: [u8; 32] = [7; 32];

fn sample_checkpoint() -> Checkpoint {
    Checkpoint {
        tenant: TenantId::new("acme-corporation"),
        seq: 1_234_567,
        hash: Digest([0x5a; 32]),
        chain: ChainAlgorithm::Sha256,
    }
}

fn bench_sign_and_verify(c: &mut Criterion) {
    let signer = CheckpointSigner::from_bytes("audit-2026", &SECRET).unwrap();
    let verifier = signer.verifier();
    let cp = sample_checkpoint();
    let at = chrono::Utc::now();
    let signed = cp.sign(&signer, at);
    let message = signed.signing_message();
    eprintln!("checkpoint: signed message is {} bytes", message.len());
    let raw_key = ed25519_dalek::SigningKey::from_bytes(&SECRET);
    let raw_public = raw_key.verifying_key();
    let raw_signature = raw_key.sign(&message);

    let mut g = c.benchmark_group("checkpoint");
    g.throughput(Throughput::Elements(1));
    g.bench_function("baseline_ed25519_sign", |b| {
        b.iter(|| raw_key.sign(black_box(&message)))
    });
    g.bench_function("sign", |b| {
        b.iter(|| black_box(&cp).sign(black_box(&signer), black_box(at)))
    });
    g.bench_function("baseline_ed25519_verify_strict", |b| {
        b.iter(|| {
            raw_public
                .verify_strict(black_box(&message), black_box(&raw_signature))
                .unwrap()
        })
    });
    g.bench_function("verify_signature", |b| {
        b.iter(|| {
            black_box(&signed)
                .verify_signature(black_box(&verifier))
                .unwrap();
        })
    });
    g.finish();
}

/// A target that keeps nothing: what the wrapper costs without the write.
#[derive(Debug)]
struct Discard;

impl CheckpointTarget for Discard {
    fn append(&self, checkpoint: &SignedCheckpoint) -> audit_log::Result<()> {
        black_box(checkpoint);
        Ok(())
    }
}

/// The core bench's event: a permission grant in an application scope (~300 bytes of JSON).
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

/// Records `iters` events through a log over `sink`; only the records are timed.
fn time_records(sink: impl AuditSink, iters: u64) -> Duration {
    let log = AuditLog::builder(sink).build();
    let actor = Actor::user(1, "root");
    let ctx = Context::new()
        .ip(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)))
        .request_id("req-7f3a9c");
    let start = Instant::now();
    for i in 0..iters {
        let entry = Entry::new(actor.clone(), event(i)).context(ctx.clone());
        black_box(log.record_entry(entry).unwrap());
    }
    start.elapsed()
}

fn bench_append_overhead(c: &mut Criterion) {
    let signer = CheckpointSigner::from_bytes("audit-2026", &SECRET).unwrap();
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(1));
    // Each sample starts from an empty store (and an empty checkpoint file), made outside
    // the timed loop.
    g.bench_function("baseline_memory_sink", |b| {
        b.iter_custom(|iters| time_records(MemorySink::new(), iters))
    });
    g.bench_function("checkpointing_every_1000_to_file", |b| {
        b.iter_custom(|iters| {
            let dir = tempfile::tempdir().unwrap();
            let file = CheckpointFile::open(dir.path().join("checkpoints.jsonl")).unwrap();
            let sink = Checkpointing::new(MemorySink::new(), signer.clone(), file)
                .every_records(1000)
                .every(Duration::MAX);
            time_records(sink, iters)
        })
    });
    g.bench_function("checkpointing_every_1000_discarded", |b| {
        b.iter_custom(|iters| {
            let sink = Checkpointing::new(MemorySink::new(), signer.clone(), Discard)
                .every_records(1000)
                .every(Duration::MAX);
            time_records(sink, iters)
        })
    });
    g.finish();
}

fn config() -> Criterion {
    // Two shared, noisy cores: short runs, few samples; compare ratios within one run.
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = checkpoint;
    config = config();
    targets = bench_sign_and_verify, bench_append_overhead
}
criterion_main!(checkpoint);
