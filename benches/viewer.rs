//! The viewer's server time on a large store (issue #15), each figure against the first
//! page measured in the same run:
//!
//! - `viewer/first_page`: the timeline's newest 50 records;
//! - `viewer/deep_page`: the 50 records before seq 500 000 (keyset: no offset to skip). Goal:
//!   within 2x the first page;
//! - `viewer/record`: one record's detail, 500 000 deep;
//! - `viewer/access`: a user's access, from the warm history (the first request folds the
//!   trail; later ones fold only what was appended since);
//! - `viewer/entity_name`: the timeline filtered by an entity's name (looked up in the warm
//!   history's state).
//!
//! Each request goes through the whole router (authorization, parameters, the chain status,
//! the query, the template) in process, without a network in the way; `wrk` against
//! `examples/viewer.rs` measures the same over HTTP (docs/benchmarks.md, "## Viewer").
//!
//! The store (`AUDIT_BENCH_N` records, default 1 000 000: 10 000 users in 500 groups, grants
//! at three scopes, then edits and memberships churning) is built once per run in a temp dir.
//! Run with `cargo bench --features web --bench viewer`.

use std::net::SocketAddr;
use std::time::Duration;

use audit_log::web::Viewer;
use audit_log::{
    Actor, AuditLog, Context, EntityRef, Entry, Event, FieldChange, PermissionGroupRef, Scope,
    SqliteOptions, SqliteSink,
};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use tower::ServiceExt as _;

fn n() -> u64 {
    std::env::var("AUDIT_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

/// A directory of 10 000 users, then churn until `n` records.
pub fn big_trail(store: &SqliteSink, n: u64) {
    let log = AuditLog::builder(store.clone()).build();
    let admin = Actor::user(1, "root");
    let ws = EntityRef::new("ws-1", "Finance");
    let app = EntityRef::new("app-1", "Payroll");
    let pgs = [
        PermissionGroupRef::new("pg-sys", "Administrators", Scope::System),
        PermissionGroupRef::new("pg-ws", "Finance readers", Scope::workspace(ws.clone())),
        PermissionGroupRef::new(
            "pg-app",
            "Payroll editors",
            Scope::application(app.clone(), ws.clone()),
        ),
    ];
    let mut batch = Vec::with_capacity(10_000);
    let mut written = 0u64;
    let push = |e: Event, batch: &mut Vec<Entry>, written: &mut u64| {
        let i = *written;
        batch.push(
            Entry::new(admin.clone(), e).context(
                Context::new()
                    .ip(format!("10.0.{}.{}", (i / 250) % 250, i % 250)
                        .parse()
                        .unwrap())
                    .request_id(format!("req-{}", i / 3)),
            ),
        );
        *written += 1;
        if batch.len() == 10_000 {
            log.record_batch(std::mem::take(batch)).unwrap();
        }
    };
    push(
        Event::workspace_created(ws.clone()),
        &mut batch,
        &mut written,
    );
    push(
        Event::application_created(app, ws),
        &mut batch,
        &mut written,
    );
    for g in 0..500u64 {
        push(
            Event::group_created(EntityRef::new(format!("g{g}"), format!("group {g}"))),
            &mut batch,
            &mut written,
        );
        let pg = pgs[(g % 3) as usize].clone();
        push(
            Event::permission_group_added(
                EntityRef::new(format!("g{g}"), format!("group {g}")),
                pg,
            ),
            &mut batch,
            &mut written,
        );
    }
    for u in 0..10_000u64 {
        push(
            Event::user_created(EntityRef::new(u, format!("user{u}"))),
            &mut batch,
            &mut written,
        );
        push(
            Event::user_added_to_group(
                EntityRef::new(u, format!("user{u}")),
                EntityRef::new(format!("g{}", u % 500), format!("group {}", u % 500)),
            ),
            &mut batch,
            &mut written,
        );
    }
    let mut i = 0u64;
    while written < n {
        let u = (i * 7919) % 10_000;
        let g = (i * 104_729) % 500;
        let user = EntityRef::new(u, format!("user{u}"));
        let group = EntityRef::new(format!("g{g}"), format!("group {g}"));
        let e = match i % 4 {
            0 => Event::user_added_to_group(user, group),
            1 => Event::user_removed_from_group(user, group),
            2 => Event::group_edited(
                group,
                vec![FieldChange::new(
                    "description",
                    format!("v{i}"),
                    format!("v{}", i + 1),
                )],
            ),
            _ => Event::user_edited(
                user,
                vec![audit_log::UserChange::full_name(
                    format!("User {u}"),
                    format!("User {u} ({i})"),
                )],
            ),
        };
        push(e, &mut batch, &mut written);
        i += 1;
    }
    if !batch.is_empty() {
        log.record_batch(batch).unwrap();
    }
}

fn request(path: &str) -> Request<Body> {
    let mut r = Request::get(path).body(Body::empty()).unwrap();
    r.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    r
}

fn benches(c: &mut Criterion) {
    let n = n();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.db");
    let started = std::time::Instant::now();
    {
        let store = SqliteOptions::new()
            .durability(audit_log::Durability::ProcessCrash)
            .open(&path)
            .unwrap();
        big_trail(&store, n);
    }
    eprintln!("store of {n} records built in {:?}", started.elapsed());
    let store = SqliteSink::open(&path).unwrap();
    let router: Router = Viewer::new(store).local_only().into_router();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let get = |path: &str| {
        let response = rt.block_on(router.clone().oneshot(request(path))).unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        rt.block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .unwrap()
    };
    // Warm: the chain status (a full verification) and the history (a fold) once.
    let warmed = std::time::Instant::now();
    get("/");
    get("/access?user=42");
    eprintln!("first verification and fold in {:?}", warmed.elapsed());
    let deep = format!("/?before={}", n / 2);
    let record = format!("/records/{}", n / 2);
    let mut g = c.benchmark_group("viewer");
    g.sample_size(30).measurement_time(Duration::from_secs(10));
    g.bench_function("first_page", |b| b.iter(|| get("/")));
    g.bench_function("deep_page", |b| b.iter(|| get(&deep)));
    g.bench_function("record", |b| b.iter(|| get(&record)));
    g.bench_function("access", |b| b.iter(|| get("/access?user=42")));
    g.bench_function("entity_name", |b| b.iter(|| get("/?entity=user4242")));
    g.finish();
}

criterion_group!(viewer, benches);
criterion_main!(viewer);
