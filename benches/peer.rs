//! The in-memory write path against the nearest Rust peer, `audit-trail` 1.1 (issue #12,
//! goal 1: at most 3x its chained append).
//!
//! The workload of the issue: `user.edited`-like records, 1,000 actors x 1,000 targets,
//! each appended to a SHA-256 chain kept in memory.
//!
//! - `audit_trail_chained_append`: `Chain::append(actor, action, target, outcome)` into its
//!   `MemorySink` with its `Sha256Hasher` (four borrowed strings, ~100 bytes hashed);
//! - `audit_log_record`: `AuditLog::record` of a typed `user.edited` event (a full-name
//!   change) into `MemorySink`: input checks, redaction, a UUIDv7, the canonical encoding,
//!   the SHA-256 link, the store's indexes.
//!
//! Both append to trails of at most 200,000 records (the workload), each started empty.
//!
//! `cargo bench --bench peer`; figures in docs/benchmarks.md ("The nearest peer").

use std::hint::black_box;
use std::time::{Duration, Instant};

use audit_log::{Actor, AuditLog, EntityRef, Event, MemorySink, UserChange};
use criterion::{criterion_group, criterion_main, Criterion};

const PEOPLE: u64 = 1_000;

fn names(prefix: &str) -> Vec<String> {
    (0..PEOPLE).map(|i| format!("{prefix}{i}")).collect()
}

/// Records per trail: the workload. Each trail starts empty and is dropped (outside
/// the timing) after this many records, so memory stays that of a 200k-record trail, as in
/// the workload, instead of growing for as long as criterion runs (millions of records and
/// gigabytes, whose page faults then weigh on whichever side keeps the larger records).
const WORKLOAD: u64 = 200_000;

/// Times `record(i)` for `iters` records over fresh trails of at most [`WORKLOAD`] records;
/// `fresh` makes a trail, `record` appends the `i`th record of the run to it.
fn over_trails<T>(
    iters: u64,
    mut fresh: impl FnMut() -> T,
    mut record: impl FnMut(&mut T, usize),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut i = 0usize;
    while left > 0 {
        let n = left.min(WORKLOAD);
        let mut trail = fresh();
        let start = Instant::now();
        for _ in 0..n {
            i += 1;
            record(&mut trail, i);
        }
        total += start.elapsed();
        drop(trail);
        left -= n;
    }
    total
}

fn peer(c: &mut Criterion) {
    let actors = names("admin-");
    let targets = names("user-");
    let mut g = c.benchmark_group("peer/user_edited_in_memory");
    g.measurement_time(Duration::from_secs(5));

    g.bench_function("audit_trail_chained_append", |b| {
        b.iter_custom(|iters| {
            over_trails(
                iters,
                || {
                    audit_trail::Chain::new(
                        audit_trail::Sha256Hasher::new(),
                        audit_trail::MemorySink::new(),
                        audit_trail::MonotonicClock::new(audit_trail::SystemClock::new()),
                    )
                },
                |chain, i| {
                    let id = chain
                        .append(
                            audit_trail::Actor::new(&actors[i % 1_000]),
                            audit_trail::Action::new("user.edited"),
                            audit_trail::Target::new(&targets[(i * 7) % 1_000]),
                            audit_trail::Outcome::Success,
                        )
                        .expect("append");
                    black_box(id);
                },
            )
        });
    });

    g.bench_function("audit_log_record", |b| {
        let actors: Vec<Actor> = (0..PEOPLE)
            .map(|i| Actor::user(i, actors[i as usize].clone()))
            .collect();
        b.iter_custom(|iters| {
            over_trails(
                iters,
                || AuditLog::builder(MemorySink::new()).build(),
                |log, i| {
                    let t = ((i * 7) % 1_000) as u64;
                    let event = Event::user_edited(
                        EntityRef::new(t, targets[t as usize].as_str()),
                        vec![UserChange::full_name("Alice Liddell", "Alice Hargreaves")],
                    );
                    black_box(log.record(&actors[i % 1_000], event).expect("record"));
                },
            )
        });
    });
    g.finish();
}

criterion_group!(benches, peer);
criterion_main!(benches);
