//! SqliteSink under process death and several processes: the test binary re-runs itself as
//! the child process (selected by an environment variable and `--exact`).
#![cfg(feature = "sqlite")]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use audit_log::rusqlite::Connection;
use audit_log::{
    Actor, AuditLog, AuditStore, AuditStoreExt, EntityRef, Entry, Event, Query, SqliteSink,
    TenantId,
};

const CRASH_CHILD: &str = "AUDIT_LOG_TEST_CRASH_CHILD";
const WRITER_CHILD: &str = "AUDIT_LOG_TEST_WRITER_CHILD";

fn child(test: &str, env: &str, path: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(env, path)
        .stderr(Stdio::null());
    cmd
}

/// Every seq of the tenant, in order, and the checks every reopened store must pass.
fn check_store(path: &Path, tenant: &TenantId) -> Vec<u64> {
    let conn = Connection::open(path).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    drop(conn);
    let store = SqliteSink::open(path).unwrap();
    let seqs: Vec<u64> = store
        .query(&Query::for_tenant(tenant.clone()))
        .unwrap()
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "no gap");
    let report = store.verify(tenant).unwrap();
    assert!(report.is_intact(), "{report}");
    seqs
}

/// A small xorshift, seeded from the clock: the kill moment only needs to vary.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The child records from four threads and prints each seq once `record` returned Ok; the
/// parent kills it with SIGKILL at a random moment, reopens the file, and checks that every
/// acknowledged seq is there, without gap, with an intact file and chain.
#[test]
fn acknowledged_records_survive_sigkill() {
    if let Ok(path) = std::env::var(CRASH_CHILD) {
        let store = SqliteSink::open(path).unwrap();
        let log = AuditLog::builder(store).build();
        std::thread::scope(|s| {
            for t in 0..4 {
                let log = log.clone();
                s.spawn(move || {
                    for i in 0.. {
                        let r = log
                            .record(
                                &Actor::service(format!("crash-{t}")),
                                Event::user_deleted(EntityRef::id_only(i)),
                            )
                            .unwrap();
                        println!("ACK {}", r.seq);
                    }
                });
            }
        });
        return;
    }
    let rounds: u32 = std::env::var("AUDIT_LOG_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let tenant = TenantId::default();
    let mut rng = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut acked = BTreeSet::new();
    let mut killed_while_writing = 0;
    for round in 0..rounds {
        let mut proc = child("acknowledged_records_survive_sigkill", CRASH_CHILD, &path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = proc.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut out = BufReader::new(out);
            let mut seqs = Vec::new();
            let mut line = String::new();
            // Only whole lines count: a line cut by the kill was not acknowledged.
            while out.read_line(&mut line).unwrap_or(0) > 0 {
                if let Some(n) = line.strip_suffix('\n').and_then(|l| l.strip_prefix("ACK ")) {
                    seqs.push(n.parse::<u64>().unwrap());
                }
                line.clear();
            }
            seqs
        });
        std::thread::sleep(Duration::from_millis(30 + next_random(&mut rng) % 120));
        proc.kill().unwrap();
        proc.wait().unwrap();
        let seqs = reader.join().unwrap();
        if !seqs.is_empty() {
            killed_while_writing += 1;
        }
        acked.extend(seqs);
        let stored = check_store(&path, &tenant);
        let stored: BTreeSet<u64> = stored.into_iter().collect();
        let lost: Vec<_> = acked.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged but lost: {lost:?}"
        );
    }
    assert!(
        killed_while_writing >= rounds / 2,
        "the child must be writing when killed ({killed_while_writing} of {rounds} rounds)"
    );
}

/// Two processes (and this one) append to one file at once: each tenant keeps one gapless
/// seq and an intact chain, and every record is there.
#[test]
fn several_processes_append_to_one_file() {
    const PER_PROCESS: u64 = 300;
    if let Ok(path) = std::env::var(WRITER_CHILD) {
        let store = SqliteSink::open(path).unwrap();
        let log = AuditLog::builder(store).build();
        let me = std::process::id().to_string();
        let mut i = 0;
        while i < PER_PROCESS {
            let n = if i % 7 == 0 { 3 } else { 1 };
            let entries = (0..n).map(|k| {
                Entry::new(
                    Actor::service(me.clone()),
                    Event::user_deleted(EntityRef::id_only(i + k)),
                )
                .tenant(if (i + k) % 2 == 0 { "a" } else { "b" })
            });
            log.record_batch(entries).unwrap();
            i += n;
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    drop(SqliteSink::open(&path).unwrap());
    let procs: Vec<_> = (0..2)
        .map(|_| {
            child("several_processes_append_to_one_file", WRITER_CHILD, &path)
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let store = SqliteSink::open(&path).unwrap();
    let log = AuditLog::builder(store.clone()).build();
    for i in 0..PER_PROCESS {
        log.record_entry(
            Entry::new(
                Actor::service("parent"),
                Event::user_deleted(EntityRef::id_only(i)),
            )
            .tenant(if i % 2 == 0 { "a" } else { "b" }),
        )
        .unwrap();
    }
    for mut p in procs {
        assert!(p.wait().unwrap().success(), "a writer process failed");
    }
    let mut total = 0;
    for tenant in ["a", "b"] {
        let seqs = check_store(&path, &TenantId::new(tenant));
        total += seqs.len() as u64;
    }
    assert_eq!(
        total,
        3 * PER_PROCESS,
        "every record of every process is there"
    );
    let authors: BTreeSet<String> = store
        .query(&Query::for_tenant("a"))
        .unwrap()
        .map(|r| r.unwrap().actor.id)
        .collect();
    assert_eq!(
        authors.len(),
        3,
        "the three writers interleaved in one trail"
    );
}
