//! Verification of a 1M-record SQLite trail: what the checks added against an insider with
//! SQL access (issue #11) cost, against the chain walk alone and a raw read, same run.
//!
//! A custom harness (`harness = false`), not criterion: the store takes minutes to write, and
//! each figure is one pass over it, which a repeated sample would only multiply. Each pass
//! runs twice (the first warms the page cache) and the second is reported.
//!
//! - raw read: streaming every record out of the store, decoded (what any walk pays);
//! - chain only: `verify` on a wrapper that hides the store's second structures (the time
//!   index census and the entity-index scan), which is what `verify` checked before: the
//!   chain, the start and the head;
//! - verify: `verify` as hosts call it: chain, start, head, the count through the time
//!   index, every derived column and every entity-index row against the hashed records;
//! - verify + `quick_check` / `integrity_check`: with the file's own check
//!   ([`StorageCheck`]).
//!
//! `cargo bench --bench verify`; `AUDIT_LOG_VERIFY_BENCH_RECORDS` changes the size (default
//! 1,000,000). Figures in docs/benchmarks.md ("Verification").

use std::time::{Duration, Instant};

use audit_log::chain::{StorageCheck, VerifyOptions};
use audit_log::{
    Actor, AuditLog, AuditStore, AuditStoreExt, ChainAlgorithm, Durability, EntityRef, Entry,
    Event, Head, Query, RecordStream, SqliteOptions, TenantId, UserChange,
};

/// The store with only the reads `verify` needed before the index checks: the provided
/// methods it does not forward answer "no second structure", so `verify` walks the chain.
#[derive(Debug)]
struct ChainOnly<S>(S);

impl<S: AuditStore> AuditStore for ChainOnly<S> {
    fn query<'a>(&'a self, query: &Query) -> audit_log::Result<RecordStream<'a>> {
        self.0.query(query)
    }
    fn head(&self, tenant: &TenantId) -> audit_log::Result<Option<Head>> {
        self.0.head(tenant)
    }
    fn chain_algorithm(&self) -> ChainAlgorithm {
        self.0.chain_algorithm()
    }
    fn tenants(&self) -> audit_log::Result<Vec<TenantId>> {
        self.0.tenants()
    }
    fn anchor(&self, tenant: &TenantId) -> audit_log::Result<Head> {
        self.0.anchor(tenant)
    }
}

/// 1,000 users edited and moved between 100 groups by 5 admins: two entity mentions a
/// record, as in a directory's everyday trail.
fn write(log: &AuditLog, n: u64) {
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n {
        let u = EntityRef::new(i % 1_000, format!("user{}", i % 1_000));
        let g = EntityRef::new(format!("g{}", i % 100), format!("group {}", i % 100));
        let event = match i % 3 {
            0 => Event::user_added_to_group(u, g),
            1 => Event::user_removed_from_group(u, g),
            _ => Event::user_edited(
                u,
                vec![UserChange::full_name(
                    format!("Name {i}"),
                    format!("Name {}", i + 1),
                )],
            ),
        };
        batch.push(Entry::new(
            Actor::user(1 + i % 5, format!("admin{}", i % 5)),
            event,
        ));
        if batch.len() == 10_000 {
            log.record_batch(std::mem::take(&mut batch))
                .expect("append");
        }
    }
    if !batch.is_empty() {
        log.record_batch(batch).expect("append");
    }
}

/// Runs `f` twice and returns the second time (the first fills the page cache).
fn twice(mut f: impl FnMut()) -> Duration {
    f();
    let t = Instant::now();
    f();
    t.elapsed()
}

fn main() {
    let n: u64 = std::env::var("AUDIT_LOG_VERIFY_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "verify".contains(a.as_str())) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteOptions::new()
        .durability(Durability::ProcessCrash)
        .open(dir.path().join("verify.db"))
        .expect("open");
    let log = AuditLog::builder(store.clone()).build();
    let tenant = TenantId::default();
    let t = Instant::now();
    write(&log, n);
    println!("wrote {n} records in {:.1} s", t.elapsed().as_secs_f64());

    let raw = twice(|| {
        let mut count = 0u64;
        for r in store
            .query(&Query::for_tenant(tenant.clone()))
            .expect("query")
        {
            std::hint::black_box(r.expect("record"));
            count += 1;
        }
        assert_eq!(count, n);
    });
    let chain_only_store = ChainOnly(store.clone());
    let chain_only = twice(|| {
        let report = chain_only_store.verify(&tenant).expect("verify");
        assert!(report.is_intact() && !report.index_checked, "{report}");
    });
    let full = twice(|| {
        let report = store.verify(&tenant).expect("verify");
        assert!(report.is_intact() && report.index_checked, "{report}");
        assert_eq!(report.count, n);
    });
    // Two parts of `verify` alone: the count through the time index, and the entity-index
    // scan (kind, id and seq of every mention row, hashed as verify does).
    let census = twice(|| {
        let c = store.census(&tenant, n).expect("census").expect("a census");
        assert_eq!(c.records_through, n);
    });
    let scan = twice(|| {
        let mut rows = 0u64;
        let mut h = 0u64;
        let state = std::hash::RandomState::new();
        let kept = store
            .scan_mentions(&tenant, 1, n, &mut |row| {
                h = h.wrapping_add(std::hash::BuildHasher::hash_one(
                    &state,
                    (row.kind, row.id, row.seq),
                ));
                rows += 1;
            })
            .expect("scan");
        assert!(kept && rows >= n, "{rows}");
        std::hint::black_box(h);
    });
    let with = |check: StorageCheck| {
        twice(|| {
            let options = VerifyOptions::new().storage(check);
            let report = store.verify_with(&tenant, &options).expect("verify");
            assert!(report.is_intact() && report.storage.is_some(), "{report}");
        })
    };
    let quick = with(StorageCheck::Quick);
    let integrity = with(StorageCheck::Full);

    let s = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    let x = |d: Duration, base: Duration| format!("{:.2}x", d.as_secs_f64() / base.as_secs_f64());
    println!("| pass | time | / raw read | / chain only |");
    println!("| --- | --- | --- | --- |");
    println!("| raw read | {} | 1.00x | |", s(raw));
    for (name, d) in [
        ("census alone (count through the time index)", census),
        ("entity-index scan alone", scan),
        ("chain only (verify before the index checks)", chain_only),
        ("verify (chain, count, derived columns, entity index)", full),
        ("verify + quick_check", quick),
        ("verify + integrity_check", integrity),
    ] {
        println!(
            "| {name} | {} | {} | {} |",
            s(d),
            x(d, raw),
            x(d, chain_only)
        );
    }
}
