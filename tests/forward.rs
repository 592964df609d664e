//! The forwarder's delivery semantics against scripted destinations (no server needed):
//! order, at-least-once across restarts, start positions, retries with backoff, dead
//! letters and blocking, graceful shutdown, independent routes, lag, file rotation, the
//! SQLite cursor tables and the tracing mirror.
#![cfg(feature = "forward")]

mod forward_support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_log::forward::{
    Backoff, CursorStore, DeliveryError, FileCursors, Format, Forwarder, JsonLinesFile,
    MemoryCursors, OnPurged, OnReject, PurgeGap, Route, RouteState, Start, Tenants,
};
use audit_log::{
    chain, Actor, AuditLog, AuditStore, ManualClock, MemorySink, PurgePoint, Record, RetentionExt,
    TenantId,
};
use chrono::{TimeZone, Utc};
use forward_support::{all, fill, start, wait_for, within, Scripted};

const LIMIT: Duration = Duration::from_secs(30);

fn fast() -> Backoff {
    Backoff::new(Duration::from_millis(5), Duration::from_millis(50))
}

fn route(name: &str, d: &Scripted) -> Route {
    Route::new(name, d.clone())
        .start(Start::Beginning)
        .backoff(fast())
        .poll_interval(Duration::from_millis(5))
}

/// Three tenants, batches of 7: every record arrives once, each tenant's in seq order, no
/// batch larger than asked or mixing tenants, and every record as stored (hash included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_arrives_in_seq_order_per_tenant() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    for (t, n) in [("acme", 40), ("globex", 23), ("initech", 1)] {
        fill(&log, t, n);
    }
    let dest = Scripted::accepting();
    let f = Forwarder::new(Arc::new(store.clone()), MemoryCursors::new())
        .route(route("siem", &dest).batch_size(7));
    let running = start(f);
    wait_for("all 64 records", LIMIT, || dest.accepted().len() >= 64).await;
    let report = within(LIMIT, running.stop()).await;
    for (t, n) in [("acme", 40u64), ("globex", 23), ("initech", 1)] {
        assert_eq!(
            dest.accepted_seqs(t),
            (1..=n).collect::<Vec<_>>(),
            "tenant {t}"
        );
        let stored = all(&store, t);
        let got: Vec<Record> = dest
            .accepted()
            .into_iter()
            .filter(|r| r.tenant.as_str() == t)
            .collect();
        assert_eq!(got, stored, "records arrive exactly as stored");
    }
    for c in dest.calls() {
        assert!(!c.seqs.is_empty() && c.seqs.len() <= 7, "{:?}", c.seqs);
        assert!(
            c.seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "consecutive: {:?}",
            c.seqs
        );
    }
    let s = &report.routes[0];
    assert_eq!(s.delivered, 64);
    assert_eq!(s.lag_records, 0);
    assert_eq!(s.state, RouteState::Stopped);
}

/// `Start::Now` skips what exists at the first start; a tenant created later is forwarded
/// from its beginning; a restart continues from the saved cursors, not from "now".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_now_then_restart_from_the_cursors() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    fill(&log, "acme", 10);
    let dest = Scripted::accepting();
    let make = |d: &Scripted| {
        Forwarder::new(
            Arc::new(store.clone()),
            FileCursors::new(dir.path()).unwrap(),
        )
        .route(route("siem", d).start(Start::Now))
    };
    let running = start(make(&dest));
    wait_for("the route to follow", LIMIT, || {
        dir.path().join("siem.cursors.json").exists()
    })
    .await;
    fill(&log, "acme", 5);
    fill(&log, "newco", 3);
    wait_for("8 new records", LIMIT, || dest.accepted().len() >= 8).await;
    within(LIMIT, running.stop()).await;
    assert_eq!(dest.accepted_seqs("acme"), (11..=15).collect::<Vec<_>>());
    assert_eq!(dest.accepted_seqs("newco"), vec![1, 2, 3]);

    // Appended while the forwarder was down: delivered after the restart, nothing twice.
    fill(&log, "acme", 4);
    let dest2 = Scripted::accepting();
    let running = start(make(&dest2));
    wait_for("4 records after restart", LIMIT, || {
        dest2.accepted().len() >= 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    within(LIMIT, running.stop()).await;
    assert_eq!(dest2.accepted_seqs("acme"), (16..=19).collect::<Vec<_>>());
    assert!(dest2.accepted_seqs("newco").is_empty());
}

/// Backfill from a seq and from a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_from_a_seq_or_a_time() {
    let store = MemorySink::new();
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    let clock = ManualClock::new(t0);
    let log = AuditLog::builder(store.clone())
        .clock(clock.clone())
        .build();
    for _ in 0..10 {
        fill(&log, "acme", 1);
        clock.advance(chrono::Duration::minutes(1));
    }
    let by_seq = Scripted::accepting();
    let by_time = Scripted::accepting();
    let f = Forwarder::new(Arc::new(store.clone()), MemoryCursors::new())
        .route(route("from-seq", &by_seq).start(Start::Seq(4)))
        .route(route("from-time", &by_time).start(Start::Time(t0 + chrono::Duration::minutes(7))));
    let running = start(f);
    wait_for("both backfills", LIMIT, || {
        by_seq.accepted().len() >= 7 && by_time.accepted().len() >= 3
    })
    .await;
    within(LIMIT, running.stop()).await;
    assert_eq!(by_seq.accepted_seqs("acme"), (4..=10).collect::<Vec<_>>());
    assert_eq!(by_time.accepted_seqs("acme"), vec![8, 9, 10]);
}

/// A destination down for its first 6 attempts: the batch is retried with growing,
/// jittered delays, nothing is skipped, and the failures are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_with_backoff() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    fill(&log, "acme", 5);
    let dest = Scripted::new(|_, call| {
        if call < 6 {
            Err(DeliveryError::transient("connection refused"))
        } else {
            Ok(())
        }
    });
    let backoff = Backoff::new(Duration::from_millis(20), Duration::from_secs(1));
    let f = Forwarder::new(Arc::new(store.clone()), MemoryCursors::new())
        .route(route("siem", &dest).backoff(backoff));
    let status = f.status();
    let running = start(f);
    wait_for("delivery after the outage", LIMIT, || {
        dest.accepted().len() >= 5
    })
    .await;
    within(LIMIT, running.stop()).await;
    let calls = dest.calls();
    assert_eq!(calls.len(), 7);
    assert!(
        calls.iter().all(|c| c.seqs == vec![1, 2, 3, 4, 5]),
        "the same batch every time"
    );
    for (i, w) in calls.windows(2).enumerate() {
        let gap = w[1].at - w[0].at;
        let nominal = backoff.nominal(i as u32);
        assert!(
            gap >= nominal / 2,
            "retry {i} came after {gap:?}, nominal {nominal:?}"
        );
    }
    // Exponential: the last wait is far longer than the first.
    assert!(calls[6].at - calls[5].at > (calls[1].at - calls[0].at) * 4);
    let s = status.get("siem").unwrap();
    assert_eq!(s.failed_attempts, 6);
    assert_eq!(s.delivered, 5);
    assert!(s.last_error.unwrap().contains("connection refused"));
}

/// A batch refused for good without saying which record: the forwarder narrows it down one
/// record at a time, dead-letters only the refused one (with the reason), and the records
/// after it still go out, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_record_is_dead_lettered_and_the_rest_go_on() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    fill(&log, "acme", 6);
    let dest = Scripted::new(|b, _| {
        if b.deliveries.iter().any(|d| d.record.seq == 3) {
            Err(DeliveryError::rejected("400 Bad Request: schema violation"))
        } else {
            Ok(())
        }
    });
    let cursors = MemoryCursors::new();
    let f = Forwarder::new(Arc::new(store.clone()), cursors.clone()).route(route("siem", &dest));
    let status = f.status();
    let running = start(f);
    wait_for("5 records and a dead letter", LIMIT, || {
        dest.accepted().len() >= 5 && cursors.dead_letters("siem").unwrap().len() == 1
    })
    .await;
    within(LIMIT, running.stop()).await;
    assert_eq!(dest.accepted_seqs("acme"), vec![1, 2, 4, 5, 6]);
    let letters = cursors.dead_letters("siem").unwrap();
    assert_eq!(letters.len(), 1);
    let l = &letters[0];
    assert_eq!((l.tenant.as_str(), l.seq), ("acme", 3));
    assert!(l.reason.contains("schema violation"), "{}", l.reason);
    let stored = &all(&store, "acme")[2];
    assert_eq!(l.record.as_ref(), Some(stored));
    assert_eq!(l.id, Some(stored.id));
    assert_eq!(
        cursors
            .load("siem")
            .unwrap()
            .unwrap()
            .get(&TenantId::new("acme")),
        Some(6)
    );
    assert_eq!(status.get("siem").unwrap().dead_lettered, 1);
}

/// A retention purge that removes records a route has not delivered yet is never passed
/// over in silence. By default (`OnPurged::Hold`) the route delivers nothing more of that
/// tenant, keeps its cursor before the gap (a restart finds it again), shows the gap in its
/// status, and goes on with the other tenants; with `OnPurged::Skip` it records the purged
/// range as a dead letter, moves the cursor past it atomically, and delivers what remains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_of_undelivered_records_holds_the_tenant_or_is_recorded_when_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    fill(&log, "acme", 20);
    fill(&log, "globex", 5);
    let cursors = || FileCursors::new(dir.path()).unwrap();
    let forwarder = |d: &Scripted, policy: Option<OnPurged>| {
        let r = route("siem", d);
        Forwarder::new(Arc::new(store.clone()), cursors())
            .route(policy.map_or(r.clone(), |p| r.on_purged(p)))
    };
    let dest = Scripted::accepting();
    let running = start(forwarder(&dest, None));
    wait_for("25 records", LIMIT, || dest.accepted().len() >= 25).await;
    within(LIMIT, running.stop()).await;

    // While the forwarder is down, 10 more records, and a purge through 25 of them.
    fill(&log, "acme", 10);
    let acme = TenantId::new("acme");
    let report = store
        .purge(
            log.preparer(),
            &acme,
            PurgePoint::ThroughSeq(25),
            &Actor::service("retention"),
        )
        .unwrap();
    let purge_seq = report.receipt.unwrap().seq;
    assert_eq!((report.anchor.seq, purge_seq), (25, 31));
    fill(&log, "globex", 3);
    let gap = PurgeGap {
        tenant: acme.clone(),
        first: 21,
        last: 25,
        purge_record: Some(31),
        skipped: false,
    };

    // Held (the default): globex goes on, acme waits before the gap, and says why.
    for run in 0..2 {
        let dest = Scripted::accepting();
        let f = forwarder(&dest, None);
        let status = f.status();
        let running = start(f);
        // The first run delivers globex's new records; the second has none left.
        let globex: Vec<u64> = if run == 0 { vec![6, 7, 8] } else { vec![] };
        wait_for("globex's new records and the gap", LIMIT, || {
            dest.accepted_seqs("globex") == globex
                && status
                    .get("siem")
                    .is_some_and(|s| matches!(s.state, RouteState::Held { .. }))
        })
        .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let s = status.get("siem").unwrap();
        within(LIMIT, running.stop()).await;
        assert!(
            dest.accepted_seqs("acme").is_empty(),
            "run {run}: nothing of acme after a gap it was not told to skip"
        );
        assert_eq!(s.gaps, vec![gap.clone()], "run {run}");
        assert_eq!(s.state, RouteState::Held { gap: gap.clone() });
        assert_eq!(
            s.tenants[&acme].cursor, 20,
            "the cursor stays before the gap"
        );
        assert_eq!(s.lag_records, 11, "acme's 11 records behind show as lag");
        assert!(
            s.line().contains("held(acme#21..=25)") && s.line().ends_with(" gaps=1"),
            "{}",
            s.line()
        );
        let why = s.last_error.unwrap();
        assert!(
            why.contains("acme#21..=25 removed by a retention purge (audit.purged #31)"),
            "{why}"
        );
        assert_eq!(
            cursors().load("siem").unwrap().unwrap().get(&acme),
            Some(20)
        );
        assert!(cursors().dead_letters("siem").unwrap().is_empty());
    }

    // Skipped, when the host allows it: recorded with its range, then what remains.
    let dest = Scripted::accepting();
    let f = forwarder(&dest, Some(OnPurged::Skip));
    let status = f.status();
    let running = start(f);
    wait_for("acme's remaining records", LIMIT, || {
        dest.accepted_seqs("acme") == (26..=31).collect::<Vec<_>>()
    })
    .await;
    let s = status.get("siem").unwrap();
    within(LIMIT, running.stop()).await;
    assert_eq!(
        s.gaps,
        vec![PurgeGap {
            skipped: true,
            ..gap.clone()
        }]
    );
    let letters = cursors().dead_letters("siem").unwrap();
    assert_eq!(letters.len(), 1);
    let l = &letters[0];
    assert_eq!(
        (
            l.tenant.clone(),
            l.purged_from,
            l.seq,
            l.hash,
            l.record.is_none()
        ),
        (acme.clone(), Some(21), 25, Some(report.anchor.hash), true)
    );
    assert!(
        l.reason
            .contains("acme#21..=25 removed by a retention purge"),
        "{}",
        l.reason
    );
    assert_eq!(
        cursors().load("siem").unwrap().unwrap().get(&acme),
        Some(31)
    );
    assert_eq!(store.anchor(&acme).unwrap().seq, 25);
}

/// With `OnReject::Block` nothing after a refused record is delivered until the
/// destination takes it; the status says blocked meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_holds_the_route_on_a_refused_record() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    fill(&log, "acme", 4);
    let refusals = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (r2, o2) = (refusals.clone(), open.clone());
    let dest = Scripted::new(move |b, _| {
        if b.deliveries.iter().any(|d| d.record.seq == 2) && !o2.load(Ordering::SeqCst) {
            r2.fetch_add(1, Ordering::SeqCst);
            Err(DeliveryError::rejected_at(
                b.deliveries.iter().position(|d| d.record.seq == 2).unwrap(),
                "413 too large",
            ))
        } else {
            Ok(())
        }
    });
    let cursors = MemoryCursors::new();
    let f = Forwarder::new(Arc::new(store.clone()), cursors.clone())
        .route(route("siem", &dest).on_reject(OnReject::Block));
    let status = f.status();
    let running = start(f);
    wait_for("several refusals", LIMIT, || {
        refusals.load(Ordering::SeqCst) >= 3
    })
    .await;
    assert_eq!(
        dest.accepted_seqs("acme"),
        vec![1],
        "nothing after the refused record"
    );
    assert!(matches!(
        status.get("siem").unwrap().state,
        RouteState::Blocked { seq: 2, .. }
    ));
    open.store(true, Ordering::SeqCst);
    wait_for("the rest", LIMIT, || dest.accepted().len() >= 4).await;
    within(LIMIT, running.stop()).await;
    assert_eq!(dest.accepted_seqs("acme"), vec![1, 2, 3, 4]);
    assert!(cursors.dead_letters("siem").unwrap().is_empty());
}

/// Shutdown while a slow delivery is in flight: the batch finishes and its cursor is
/// saved before `run` returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_batch_in_flight() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    fill(&log, "acme", 3);
    let dest = Scripted::accepting().delay(Duration::from_millis(400));
    let cursors = MemoryCursors::new();
    let f = Forwarder::new(Arc::new(store.clone()), cursors.clone()).route(route("siem", &dest));
    let status = f.status();
    let running = start(f);
    wait_for("the delivery to start", LIMIT, || {
        status.get("siem").unwrap().state == RouteState::CatchingUp
    })
    .await;
    let t = Instant::now();
    within(LIMIT, running.stop()).await;
    assert!(
        t.elapsed() >= Duration::from_millis(100),
        "run waited for the batch"
    );
    assert_eq!(dest.accepted_seqs("acme"), vec![1, 2, 3]);
    assert_eq!(
        cursors
            .load("siem")
            .unwrap()
            .unwrap()
            .get(&TenantId::new("acme")),
        Some(3)
    );
}

/// Shutdown while the destination is down: retries go on for the grace period, then the
/// batch is left for the next run (its cursor does not move) and `run` returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_up_after_the_grace_period() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    fill(&log, "acme", 3);
    let dest = Scripted::new(|_, _| Err(DeliveryError::transient("503")));
    let cursors = MemoryCursors::new();
    let f = Forwarder::new(Arc::new(store.clone()), cursors.clone())
        .route(route("siem", &dest))
        .shutdown_grace(Duration::from_millis(300));
    let running = start(f);
    wait_for("a few attempts", LIMIT, || dest.calls().len() >= 3).await;
    let t = Instant::now();
    within(Duration::from_secs(5), running.stop()).await;
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(
        cursors
            .load("siem")
            .unwrap()
            .unwrap()
            .get(&TenantId::new("acme")),
        Some(0)
    );
}

/// Two routes keep independent cursors: one destination down does not hold the other back;
/// it catches up when it returns. Lag is reported per route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_are_independent_and_report_their_lag() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    fill(&log, "acme", 20);
    let up = Scripted::accepting();
    let down_flag = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let d2 = down_flag.clone();
    let down = Scripted::new(move |_, _| {
        if d2.load(Ordering::SeqCst) {
            Err(DeliveryError::transient("down"))
        } else {
            Ok(())
        }
    });
    let f = Forwarder::new(Arc::new(store.clone()), MemoryCursors::new())
        .route(route("up", &up))
        .route(route("down", &down).batch_size(5));
    let status = f.status();
    let running = start(f);
    wait_for("the healthy route", LIMIT, || up.accepted().len() >= 20).await;
    wait_for("the lag to show", LIMIT, || {
        status
            .get("down")
            .is_some_and(|s| s.lag_records == 20 && s.lag_seconds >= 0.0)
            && status.get("up").is_some_and(|s| s.lag_records == 0)
    })
    .await;
    assert!(down.accepted().is_empty());
    assert!(status.get("down").unwrap().line().contains("lag=20"));
    down_flag.store(false, Ordering::SeqCst);
    wait_for("the catch-up", LIMIT, || down.accepted().len() >= 20).await;
    within(LIMIT, running.stop()).await;
    assert_eq!(down.accepted_seqs("acme"), (1..=20).collect::<Vec<_>>());
}

/// `Tenants::Only` forwards just those tenants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_named_tenants() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    fill(&log, "acme", 3);
    fill(&log, "globex", 3);
    let dest = Scripted::accepting();
    let f = Forwarder::new(Arc::new(store.clone()), MemoryCursors::new())
        .route(route("siem", &dest).tenants(Tenants::Only(vec![TenantId::new("globex")])));
    let running = start(f);
    wait_for("globex", LIMIT, || dest.accepted().len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    within(LIMIT, running.stop()).await;
    assert!(dest.accepted_seqs("acme").is_empty());
    assert_eq!(dest.accepted_seqs("globex"), vec![1, 2, 3]);
}

/// Bad configuration is refused before anything runs.
#[tokio::test]
async fn invalid_routes_are_refused() {
    let store = Arc::new(MemorySink::new());
    let d = Scripted::accepting();
    let dup = Forwarder::new(store.clone(), MemoryCursors::new())
        .route(route("a", &d))
        .route(route("a", &d));
    assert!(matches!(
        dup.run(async {}).await,
        Err(audit_log::Error::InvalidInput { .. })
    ));
    let bad = Forwarder::new(store.clone(), MemoryCursors::new()).route(route("../x", &d));
    assert!(matches!(
        bad.run(async {}).await,
        Err(audit_log::Error::InvalidInput { .. })
    ));
    let none = Forwarder::new(store, MemoryCursors::new());
    assert!(matches!(
        none.run(async {}).await,
        Err(audit_log::Error::InvalidInput { .. })
    ));
}

/// JSON Lines files rotate by size; read back in order, the lines are every record exactly
/// as stored, and the chain verifies from them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_files_rotate_and_hold_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    fill(&log, "acme", 60);
    let file = JsonLinesFile::new(dir.path().join("out")).max_bytes(8 * 1024);
    let f = Forwarder::new(Arc::new(store.clone()), MemoryCursors::new()).route(
        Route::new("lake", file.clone())
            .start(Start::Beginning)
            .batch_size(16)
            .format(Format::Record),
    );
    let status = f.status();
    let running = start(f);
    wait_for("60 records", LIMIT, || {
        status.get("lake").unwrap().delivered >= 60
    })
    .await;
    within(LIMIT, running.stop()).await;
    let mut files: Vec<_> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // Rotated files sort by their UTC time stamp; the live file (`audit.jsonl`) comes last.
    let current = files
        .iter()
        .position(|p| p == &file.current_path())
        .unwrap();
    let live = files.remove(current);
    files.push(live);
    assert!(files.len() >= 3, "rotated: {files:?}");
    let mut records = Vec::new();
    for p in &files {
        let text = std::fs::read_to_string(p).unwrap();
        assert!(
            text.len() as u64 <= 8 * 1024 || text.lines().count() == 1,
            "{p:?} too big"
        );
        records.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Record>(l).unwrap()),
        );
    }
    assert_eq!(records, all(&store, "acme"));
    let mut prev = chain::Digest::ZERO;
    for r in &records {
        assert_eq!(r.prev_hash, prev);
        assert_eq!(chain::compute_hash(r), r.hash);
        prev = r.hash;
    }
}

/// Cursors beside a SQLite trail: own tables in the same file, the store still opens and
/// verifies, and a dead letter moves with its cursor.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cursors_live_beside_the_trail() {
    use audit_log::forward::SqliteCursors;
    use audit_log::{AuditStoreExt, SqliteSink};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let store = SqliteSink::open(&path).unwrap();
    let log = AuditLog::builder(store.clone()).build();
    fill(&log, "acme", 5);
    let dest = Scripted::new(|b, _| {
        if b.deliveries.iter().any(|d| d.record.seq == 5) {
            Err(DeliveryError::rejected("no"))
        } else {
            Ok(())
        }
    });
    let cursors = SqliteCursors::beside(&store).unwrap();
    let f = Forwarder::new(Arc::new(store.clone()), cursors).route(route("siem", &dest));
    let running = start(f);
    wait_for("4 records", LIMIT, || dest.accepted().len() >= 4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    within(LIMIT, running.stop()).await;
    drop(store);
    let reopened = SqliteSink::open(&path).unwrap();
    assert!(reopened.verify(&TenantId::new("acme")).unwrap().is_intact());
    let cursors = SqliteCursors::open(&path).unwrap();
    assert_eq!(
        cursors
            .load("siem")
            .unwrap()
            .unwrap()
            .get(&TenantId::new("acme")),
        Some(5)
    );
    assert_eq!(cursors.dead_letters("siem").unwrap().len(), 1);
    assert!(SqliteCursors::beside(&SqliteSink::open_in_memory().unwrap()).is_err());
}

/// The blocking handle for hosts without a runtime: starts, reports status, stops.
#[test]
fn spawn_runs_on_its_own_thread() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    fill(&log, "acme", 3);
    let dest = Scripted::accepting();
    let running = Forwarder::new(Arc::new(store.clone()), MemoryCursors::new())
        .route(route("siem", &dest))
        .spawn()
        .unwrap();
    let t = Instant::now();
    while dest.accepted().len() < 3 {
        assert!(t.elapsed() < LIMIT);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(running.status().get("siem").unwrap().delivered, 3);
    let report = running.stop().unwrap();
    assert_eq!(report.routes[0].state, RouteState::Stopped);
    let seen: BTreeSet<u64> = dest.accepted_seqs("acme").into_iter().collect();
    assert_eq!(seen.len(), 3);
}

/// A forwarder described as JSON (what a CLI reads) builds and runs: file cursors, a JSON
/// Lines destination, a backfill start; a webhook whose secret variable is missing is
/// refused with the variable named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarder_from_a_config_file() {
    use audit_log::forward::ForwardConfig;

    let dir = tempfile::tempdir().unwrap();
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    fill(&log, "acme", 5);
    let json = serde_json::json!({
        "cursors": {"files": dir.path().join("state")},
        "routes": [{
            "name": "archive",
            "destination": {"kind": "file", "dir": dir.path().join("out"), "max_bytes": 1_000_000},
            "start": {"seq": 2},
            "batch_size": 2,
            "backoff": {"initial": 10, "max": 100, "multiplier": 2.0}
        }],
        "shutdown_grace_ms": 1000
    });
    let config: ForwardConfig = serde_json::from_value(json).unwrap();
    let f = config.build(Arc::new(store.clone())).await.unwrap();
    let status = f.status();
    let running = start(f);
    wait_for("4 records", LIMIT, || {
        status.get("archive").unwrap().delivered >= 4
    })
    .await;
    within(LIMIT, running.stop()).await;
    let text = std::fs::read_to_string(dir.path().join("out/audit.jsonl")).unwrap();
    let seqs: Vec<u64> = text
        .lines()
        .map(|l| serde_json::from_str::<Record>(l).unwrap().seq)
        .collect();
    assert_eq!(seqs, vec![2, 3, 4, 5]);
    assert!(dir.path().join("state/archive.cursors.json").exists());
    // Unknown keys are refused, not ignored.
    let typo = serde_json::json!({"cursors": "memory", "routes": [], "shutdown_grace": 1});
    assert!(serde_json::from_value::<ForwardConfig>(typo).is_err());
    #[cfg(feature = "webhook")]
    {
        let hook = serde_json::json!({"cursors": "memory", "routes": [{"name": "h",
            "destination": {"kind": "webhook", "url": "http://127.0.0.1:1/",
                            "secret_env": "AUDIT_LOG_TEST_SURELY_UNSET"}}]});
        let config: ForwardConfig = serde_json::from_value(hook).unwrap();
        match config.build(Arc::new(MemorySink::new())).await {
            Err(audit_log::Error::InvalidInput { reason, .. }) => {
                assert!(reason.contains("AUDIT_LOG_TEST_SURELY_UNSET"))
            }
            other => panic!("{other:?}"),
        }
    }
}
