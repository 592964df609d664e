//! Two forwarders for one destination on PostgreSQL: while the first holds the lease the
//! second delivers nothing; when the first is killed (SIGKILL) the second takes over from
//! the saved cursors, and the pair delivers every record, in order, with nothing twice
//! except at most the one batch that was in flight at the kill.
//!
//! The server comes from `AUDIT_LOG_POSTGRES_URL`; without it the test prints NOT RUN.
//! Both forwarders are this test binary run again as child processes.
#![cfg(all(feature = "forward", feature = "postgres"))]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use audit_log::forward::{Forwarder, JsonLinesFile, PgCursors, Route, Start};
use audit_log::{Actor, AuditLog, EntityRef, Entry, Event, PostgresOptions, PostgresSink, Record};

const URL_VAR: &str = "AUDIT_LOG_POSTGRES_URL";
const CHILD_VAR: &str = "AUDIT_LOG_FORWARD_PG_CHILD";
const TENANTS: [&str; 2] = ["acme", "globex"];
const BATCH: usize = 50;
const TEST: &str = "a_standby_takes_over_only_when_the_holder_dies";

fn append(log: &AuditLog, n: usize) {
    let entries: Vec<Entry> = (0..n)
        .map(|i| {
            Entry::new(
                Actor::system(),
                Event::user_deleted(EntityRef::id_only(i as u64)),
            )
            .tenant(TENANTS[i % 2])
        })
        .collect();
    log.record_batch(entries).unwrap();
}

fn delivered(dir: &Path) -> Vec<Record> {
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(d) => d.map(|e| e.unwrap().path()).collect(),
        Err(_) => return Vec::new(),
    };
    files.sort();
    files
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                // A line torn by the kill is not a delivery.
                .filter_map(|l| serde_json::from_str::<Record>(l).ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn by_tenant(records: &[Record]) -> BTreeMap<String, Vec<u64>> {
    let mut m: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in records {
        m.entry(r.tenant.as_str().to_owned())
            .or_default()
            .push(r.seq);
    }
    m
}

#[test]
fn a_standby_takes_over_only_when_the_holder_dies() {
    let Some(url) = std::env::var(URL_VAR).ok().filter(|u| !u.is_empty()) else {
        let _ = writeln!(
            std::io::stderr(),
            "postgres test {TEST} NOT RUN: set {URL_VAR}"
        );
        return;
    };
    if let Ok(out) = std::env::var(CHILD_VAR) {
        let schema = std::env::var("AUDIT_LOG_FORWARD_PG_SCHEMA").unwrap();
        let store =
            PostgresSink::connect_with(&url, PostgresOptions::new().schema(&schema)).unwrap();
        let cursors = PgCursors::connect(&url, &schema).unwrap();
        let running = Forwarder::new(Arc::new(store), cursors)
            .route(
                Route::new("pair", JsonLinesFile::new(out))
                    .start(Start::Beginning)
                    .batch_size(BATCH)
                    .poll_interval(Duration::from_millis(10)),
            )
            .lease_poll(Duration::from_millis(50))
            .spawn()
            .unwrap();
        loop {
            std::thread::sleep(Duration::from_secs(60));
            let _ = running.status();
        }
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("audit_test_fwd_lease_{}_{nanos}", std::process::id());
    let store = PostgresSink::connect_with(&url, PostgresOptions::new().schema(&schema)).unwrap();
    let log = AuditLog::builder(store).build();
    append(&log, 400);
    let dir = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    let spawn = |out: &Path| -> Child {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_VAR, out)
            .env(URL_VAR, &url)
            .env("AUDIT_LOG_FORWARD_PG_SCHEMA", &schema)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let wait = |what: &str, cond: &dyn Fn() -> bool| {
        let t = Instant::now();
        while !cond() {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut a = spawn(&dir_a);
    wait("A to deliver", &|| !delivered(&dir_a).is_empty());
    let mut b = spawn(&dir_b);
    // Both run; records keep coming; only the lease holder delivers.
    for _ in 0..20 {
        append(&log, 20);
        std::thread::sleep(Duration::from_millis(75));
    }
    wait("A to catch up", &|| delivered(&dir_a).len() >= 800);
    assert!(
        delivered(&dir_b).is_empty(),
        "the standby delivered while the lease was held"
    );
    // Kill the holder in the middle of a stream of appends.
    append(&log, 300);
    a.kill().unwrap();
    a.wait().unwrap();
    for _ in 0..10 {
        append(&log, 20);
        std::thread::sleep(Duration::from_millis(30));
    }
    let total = 400 + 20 * 20 + 300 + 10 * 20;
    let covered = || {
        let mut all = delivered(&dir_a);
        all.extend(delivered(&dir_b));
        by_tenant(&all)
            .values()
            .map(|s| s.iter().max().copied().unwrap_or(0))
            .sum::<u64>()
            >= total as u64
    };
    wait("B to take over and finish", &covered);
    b.kill().unwrap();
    b.wait().unwrap();

    let (got_a, got_b) = (by_tenant(&delivered(&dir_a)), by_tenant(&delivered(&dir_b)));
    assert!(!got_b.is_empty(), "the standby took over");
    for t in TENANTS {
        let sa = got_a.get(t).cloned().unwrap_or_default();
        let sb = got_b.get(t).cloned().unwrap_or_default();
        assert!(
            sa.windows(2).all(|w| w[1] == w[0] + 1),
            "{t}: A in order without repeats"
        );
        assert!(
            sb.windows(2).all(|w| w[1] == w[0] + 1),
            "{t}: B in order without repeats"
        );
        let a_last = sa.last().copied().unwrap_or(0);
        let b_first = sb.first().copied().unwrap_or(a_last + 1);
        assert_eq!(
            sa.first().copied().unwrap_or(1),
            1,
            "{t}: from the beginning"
        );
        assert!(
            b_first <= a_last + 1,
            "{t}: no gap between A ({a_last}) and B ({b_first})"
        );
        let overlap = (a_last + 1).saturating_sub(b_first) as usize;
        assert!(
            overlap <= BATCH,
            "{t}: {overlap} records delivered twice, more than the batch in flight"
        );
        assert_eq!(
            sb.last().copied().unwrap_or(a_last),
            (total / 2) as u64,
            "{t}: to the end"
        );
    }
    if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
        let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
    }
}

/// A forwarder keeping its cursors in PostgreSQL stops gracefully: its cursor store's
/// synchronous client is closed when the run ends, on the runtime's thread, which the client
/// must not block (it panicked with "Cannot start a runtime from within a runtime" and the
/// stop reported a panicked thread).
#[test]
fn a_forwarder_with_postgres_cursors_stops_cleanly() {
    let Some(url) = std::env::var(URL_VAR).ok().filter(|u| !u.is_empty()) else {
        let _ = writeln!(
            std::io::stderr(),
            "postgres test a_forwarder_with_postgres_cursors_stops_cleanly NOT RUN: set {URL_VAR}"
        );
        return;
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("audit_test_fwd_stop_{}_{nanos}", std::process::id());
    let store =
        Arc::new(PostgresSink::connect_with(&url, PostgresOptions::new().schema(&schema)).unwrap());
    let log = AuditLog::builder(Arc::clone(&store)).build();
    append(&log, 10);
    let dir = tempfile::tempdir().unwrap();
    let running = Forwarder::new(
        Arc::clone(&store),
        PgCursors::connect(&url, &schema).unwrap(),
    )
    .route(
        Route::new("stop", JsonLinesFile::new(dir.path()))
            .start(Start::Beginning)
            .poll_interval(Duration::from_millis(10)),
    )
    .spawn()
    .unwrap();
    let t = Instant::now();
    while delivered(dir.path()).len() < 10 {
        assert!(t.elapsed() < Duration::from_secs(60), "nothing delivered");
        std::thread::sleep(Duration::from_millis(20));
    }
    let report = running.stop().expect("a clean stop");
    assert_eq!(report.routes[0].delivered, 10);
    drop(log);
    drop(store);
    if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
        let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
    }
}
