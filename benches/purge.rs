//! A retention purge of 1,000,000 records of a 10,000-user directory: how long it takes,
//! and how large the state it keeps is, against reading the same records in the same run.
//!
//! The trail: 10,000 users in 3 of 500 groups each (groups nested in a hierarchy), 20
//! workspaces, 100 applications, 300 permission groups at all three scopes held by groups and
//! by users directly; then edits (field changes, password changes, people joining and leaving
//! groups, grants coming and going) up to 1,000,000 records, and 1,000 more after them. The
//! purge removes the first 1,000,000.
//!
//! A custom harness, not criterion: a purge is destructive (it can run once per trail) and
//! writing the trail takes far longer than the purge, so criterion's repeated samples would
//! mean writing a million records for each of them. The bench prints, for each store:
//!
//! - `raw read`: streaming the 1,000,000 records out of the store (decoded), the baseline: a
//!   purge has to read them at least once;
//! - `fold`: `History::state_at` at the purge point (what the purge keeps), and the size of
//!   its snapshot (`State::to_snapshot_bytes`);
//! - `purge`: `RetentionExt::purge` through seq 1,000,000, whole (checking the prefix it
//!   removes, folding it, writing the purge record with the snapshot, deleting the rows);
//! - the file before and after (SQLite), and the first question after the purge (which
//!   reads the kept state back).
//!
//! SQLite always (a file in a temporary directory); PostgreSQL when `AUDIT_LOG_POSTGRES_URL`
//! is set and the `postgres` feature is on. `AUDIT_LOG_PURGE_BENCH_STORES=postgres` (or `sqlite`) measures
//! one store only. `AUDIT_LOG_PURGE_BENCH_RECORDS` changes the
//! size. `cargo bench --bench purge`; figures in docs/benchmarks.md ("Retention").

use std::time::{Duration, Instant};

use audit_log::history::{History, Point};
use audit_log::{
    Actor, AuditLog, AuditStore, Durability, EntityRef, Entry, Event, FieldChange,
    PermissionGroupRef, PurgePoint, Query, RetentionExt, Scope, SqliteOptions, TenantId,
    UserChange,
};

const USERS: u64 = 10_000;
const GROUPS: u64 = 500;
const WORKSPACES: u64 = 20;
const APPS: u64 = 100;
const PGS: u64 = 300;

/// A small deterministic generator (xorshift): every run writes the same trail.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn user(i: u64) -> EntityRef {
    EntityRef::new(i, format!("user{i}"))
}
fn group(i: u64) -> EntityRef {
    EntityRef::new(format!("g{i}"), format!("group {i}"))
}
fn ws(i: u64) -> EntityRef {
    EntityRef::new(format!("w{i}"), format!("workspace {i}"))
}
fn app(i: u64) -> EntityRef {
    EntityRef::new(format!("a{i}"), format!("app {i}"))
}
fn pg(i: u64) -> PermissionGroupRef {
    let scope = if i < 20 {
        Scope::system()
    } else if i < 100 {
        Scope::workspace(ws(i % WORKSPACES))
    } else {
        let a = i % APPS;
        Scope::application(app(a), ws(a % WORKSPACES))
    };
    PermissionGroupRef::new(format!("p{i}"), format!("role {i}"), scope)
}

/// The directory, then edits up to `n` records, then `after` more; in batches of 10,000.
fn write_trail(log: &AuditLog, n: u64, after: u64) {
    let mut events: Vec<Event> = Vec::new();
    for w in 0..WORKSPACES {
        events.push(Event::workspace_created(ws(w)));
    }
    for a in 0..APPS {
        events.push(Event::application_created(app(a), ws(a % WORKSPACES)));
    }
    for g in 0..GROUPS {
        events.push(Event::group_created(group(g)));
        if g > 0 && g % 5 != 0 {
            // A hierarchy: each group in the one "above" it, every fifth a root.
            events.push(Event::group_added_to_group(group(g), group(g / 5)));
        }
    }
    for p in 0..PGS {
        events.push(Event::permission_group_added(group(p % GROUPS), pg(p)));
        events.push(Event::permission_group_added(
            group((p * 7 + 3) % GROUPS),
            pg(p),
        ));
    }
    for u in 0..USERS {
        events.push(Event::user_created(user(u)));
        for k in 0..3 {
            events.push(Event::user_added_to_group(
                user(u),
                group((u * 3 + k * 167) % GROUPS),
            ));
        }
        if u % 5 == 0 {
            events.push(Event::permission_user_added(user(u), pg(u % PGS)));
        }
    }
    let directory = events.len() as u64;
    let root = Actor::user(1, "root");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut batch = Vec::with_capacity(10_000);
    let flush = |batch: &mut Vec<Entry>| {
        if !batch.is_empty() {
            log.record_batch(std::mem::take(batch)).expect("append");
        }
    };
    for e in events {
        batch.push(Entry::new(root.clone(), e));
        if batch.len() == 10_000 {
            flush(&mut batch);
        }
    }
    for i in directory..n + after {
        let u = rng.below(USERS);
        let e = match rng.below(10) {
            0..=3 => Event::user_edited(
                user(u),
                vec![UserChange::full_name(
                    format!("User {u} v{i}"),
                    format!("User {u} v{}", i + 1),
                )],
            ),
            4 | 5 => Event::user_edited(user(u), vec![UserChange::password_changed()]),
            6 => Event::user_added_to_group(user(u), group(rng.below(GROUPS))),
            7 => Event::user_removed_from_group(user(u), group(rng.below(GROUPS))),
            8 => Event::permission_user_added(user(u), pg(rng.below(PGS))),
            _ => Event::application_edited(
                app(rng.below(APPS)),
                ws(rng.below(WORKSPACES)),
                vec![FieldChange::new(
                    "description",
                    serde_json::json!(format!("v{i}")),
                    serde_json::json!(format!("v{}", i + 1)),
                )],
            ),
        };
        batch.push(Entry::new(
            Actor::user(1 + i % 5, format!("admin{}", i % 5)),
            e,
        ));
        if batch.len() == 10_000 {
            flush(&mut batch);
        }
    }
    flush(&mut batch);
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Writes, reads, folds and purges one store; prints the figures.
fn run<S: AuditStore + RetentionExt>(
    name: &str,
    store: &S,
    log: &AuditLog,
    n: u64,
    size: &dyn Fn() -> Option<u64>,
) {
    let tenant = TenantId::default();
    let after = 1_000;
    let t = Instant::now();
    write_trail(log, n, after);
    let head = store.head(&tenant).expect("head").expect("records").seq;
    assert_eq!(head, n + after);
    println!("{name}: wrote {head} records in {}", secs(t.elapsed()));
    let before_bytes = size();

    // Baseline: read the records the purge removes, decoded.
    let t = Instant::now();
    let mut count = 0u64;
    for r in store
        .query(&Query::for_tenant(tenant.clone()).through_seq(n))
        .expect("query")
    {
        std::hint::black_box(r.expect("record"));
        count += 1;
    }
    let raw = t.elapsed();
    assert_eq!(count, n);

    // The state the purge keeps, and its size.
    let t = Instant::now();
    let state = History::new(store).state_at(Point::Seq(n)).expect("fold");
    let fold = t.elapsed();
    let snapshot = state.to_snapshot_bytes().len();
    let probe = (0..USERS).step_by(997).collect::<Vec<_>>();
    let access_before: Vec<_> = probe
        .iter()
        .map(|u| state.access(&(*u).into(), &Default::default()))
        .collect();
    drop(state);

    let t = Instant::now();
    let report = store
        .purge(
            log.preparer(),
            &tenant,
            PurgePoint::ThroughSeq(n),
            &Actor::service("retention"),
        )
        .expect("purge");
    let purge = t.elapsed();
    assert_eq!(report.removed, n);

    // The first question after it reads the kept state back.
    let t = Instant::now();
    let history = History::new(store);
    let after_state = history.state_at(Point::Seq(n)).expect("state after");
    let first = t.elapsed();
    for (u, before) in probe.iter().zip(&access_before) {
        assert_eq!(
            &after_state.access(&(*u).into(), &Default::default()).grants,
            &before.grants,
            "access of user {u} is what it was"
        );
    }
    println!(
        "{name}: raw read {} | fold {} | purge {} ({:.2}x raw read) | snapshot {:.1} MB ({} bytes, {:.0} per user) | first question after {}",
        secs(raw),
        secs(fold),
        secs(purge),
        purge.as_secs_f64() / raw.as_secs_f64(),
        snapshot as f64 / 1e6,
        snapshot,
        snapshot as f64 / USERS as f64,
        secs(first),
    );
    if let (Some(b), Some(a)) = (before_bytes, size()) {
        println!(
            "{name}: file {:.0} MB before, {:.0} MB after (SQLite keeps the freed pages until VACUUM)",
            b as f64 / 1e6,
            a as f64 / 1e6
        );
    }
}

fn main() {
    let n: u64 = std::env::var("AUDIT_LOG_PURGE_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // `cargo bench` passes --bench; a filter naming another bench skips this one.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "purge".contains(a.as_str())) {
        return;
    }

    // AUDIT_LOG_PURGE_BENCH_STORES=postgres (or sqlite) measures one store only.
    let stores = std::env::var("AUDIT_LOG_PURGE_BENCH_STORES").unwrap_or_default();
    let wanted = |name: &str| stores.is_empty() || stores.split(',').any(|s| s.trim() == name);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("purge.db");
    let store = SqliteOptions::new()
        .durability(Durability::ProcessCrash)
        .open(&path)
        .expect("open");
    let log = AuditLog::builder(store.clone()).build();
    let file_size = || {
        let wal = path.with_extension("db-wal");
        let len = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
        Some(len(&path) + len(&wal))
    };
    if wanted("sqlite") {
        run("sqlite", &store, &log, n, &file_size);
    }
    drop(log);
    drop(store);

    #[cfg(feature = "postgres")]
    if let (Ok(url), true) = (std::env::var("AUDIT_LOG_POSTGRES_URL"), wanted("postgres")) {
        let schema = format!("audit_purge_bench_{}", std::process::id());
        let store = audit_log::PostgresSink::connect_with(
            &url,
            audit_log::PostgresOptions::new().schema(&schema),
        )
        .expect("connect");
        let log = AuditLog::builder(store.clone()).build();
        run("postgres", &store, &log, n, &|| None);
        drop(log);
        drop(store);
        if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}
