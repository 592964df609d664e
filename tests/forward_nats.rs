//! Forwarding to a real NATS JetStream server, with the forwarder killed by SIGKILL at
//! random moments over many rounds, each while it is delivering: afterwards the stream
//! holds every record exactly once (JetStream's duplicate window drops redeliveries by
//! `Nats-Msg-Id`), in seq order per tenant, with a chain that verifies from the delivered
//! records alone.
//!
//! Each round appends a batch, starts the forwarder, picks a random point in the work it
//! has to do, and kills it with SIGKILL once its cursors pass that point (plus 0 to 3 ms):
//! the kill lands while it is behind, with a batch in flight, not on an idle forwarder.
//! Most rounds must be seen to land mid-delivery (progress made in the round, not all of
//! it settled).
//!
//! The server comes from `AUDIT_LOG_NATS_URL` (`.ci/run` sets it); without it the test
//! prints NOT RUN and passes. Size: `AUDIT_LOG_FORWARD_KILL_RECORDS` records in all (default
//! 20,000) over `AUDIT_LOG_FORWARD_KILL_ROUNDS` kills (default 8); the full setting
//! is 100000 and 25 (docs/forwarding.md). The child process is this test binary run again
//! (selected by an environment variable).
#![cfg(all(feature = "nats", feature = "sqlite"))]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use audit_log::forward::{CursorStore, Forwarder, JetStream, Route, SqliteCursors, Start};
use audit_log::{chain, Actor, AuditLog, EntityRef, Entry, Event, Record, SqliteSink};

const URL_VAR: &str = "AUDIT_LOG_NATS_URL";
const CHILD_VAR: &str = "AUDIT_LOG_FORWARD_NATS_CHILD";
const TENANTS: [&str; 3] = ["acme", "globex", "initech"];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn append(log: &AuditLog, n: usize) {
    let mut batch = Vec::new();
    for i in 0..n {
        let t = TENANTS[i % TENANTS.len()];
        batch.push(
            Entry::new(
                Actor::user(1, "root"),
                Event::user_deleted(EntityRef::id_only(i as u64)),
            )
            .tenant(t),
        );
        if batch.len() == 1000 {
            log.record_batch(std::mem::take(&mut batch)).unwrap();
        }
    }
    if !batch.is_empty() {
        log.record_batch(batch).unwrap();
    }
}

/// How many records the route has settled, by its cursors (0 before its first start).
fn settled(cursors: &SqliteCursors) -> u64 {
    cursors
        .load("nats")
        .unwrap()
        .map(|c| c.positions.values().sum())
        .unwrap_or(0)
}

/// The child: forwards the store to JetStream until it is killed.
async fn child(db: &str, url: &str, prefix: &str) {
    let store = SqliteSink::open(db).unwrap();
    let cursors = SqliteCursors::beside(&store).unwrap();
    let js = JetStream::connect(url, prefix).await.unwrap();
    let f = Forwarder::new(Arc::new(store), cursors).route(
        Route::new("nats", js)
            .start(Start::Beginning)
            .batch_size(500)
            .poll_interval(Duration::from_millis(20)),
    );
    f.run(std::future::pending()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_forwarder_delivers_every_record_exactly_once_in_order() {
    if let Ok(db) = std::env::var(CHILD_VAR) {
        let url = std::env::var(URL_VAR).unwrap();
        let prefix = std::env::var("AUDIT_LOG_FORWARD_NATS_PREFIX").unwrap();
        child(&db, &url, &prefix).await;
        return;
    }
    let Some(url) = std::env::var(URL_VAR).ok().filter(|u| !u.is_empty()) else {
        let _ = writeln!(
            std::io::stderr(),
            "nats test sigkilled_forwarder_delivers_every_record_exactly_once_in_order NOT RUN: set {URL_VAR}"
        );
        return;
    };
    let total = env_usize("AUDIT_LOG_FORWARD_KILL_RECORDS", 20_000);
    let rounds = env_usize("AUDIT_LOG_FORWARD_KILL_ROUNDS", 8).max(1);
    // A quarter first, the rest spread over the rounds: each round starts behind.
    let initial = total / 4;
    let per_round = (total - initial) / rounds;
    let total = initial + per_round * rounds;
    let started = Instant::now();

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let store = SqliteSink::open(&db).unwrap();
    let log = AuditLog::builder(store.clone()).build();
    append(&log, initial);
    let cursors = SqliteCursors::beside(&store).unwrap();

    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("audittest{}x{nanos}", std::process::id());
    let stream_name = format!("AUDIT_TEST_{}_{nanos}", std::process::id());
    let js = JetStream::connect(&url, &prefix).await.unwrap();
    js.ensure_stream(&stream_name, Duration::from_secs(600))
        .await
        .unwrap();

    let spawn = || {
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sigkilled_forwarder_delivers_every_record_exactly_once_in_order",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_VAR, &db)
            .env(URL_VAR, &url)
            .env("AUDIT_LOG_FORWARD_NATS_PREFIX", &prefix)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut rng = (nanos as u64) | 1;
    let mut killed_midway = 0;
    let mut appended = initial;
    for round in 0..rounds {
        append(&log, per_round);
        appended += per_round;
        let before = settled(&cursors);
        let behind = appended as u64 - before;
        // Somewhere in this round's share of the work, never at its end.
        let share = behind.min(2 * per_round as u64).max(2);
        let target = before + 1 + next_random(&mut rng) % (share - 1);
        let mut c = spawn();
        let t = Instant::now();
        while settled(&cursors) < target {
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "round {round}: no progress to {target}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(next_random(&mut rng) % 4));
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
        let done = settled(&cursors);
        let midway = done > before && done < appended as u64;
        eprintln!(
            "round {round}: killed {:?} after start, {done} of {appended} settled \
             (round began at {before}, target {target}){}",
            t.elapsed(),
            if midway { ", mid-delivery" } else { "" }
        );
        if midway {
            killed_midway += 1;
        }
    }
    // The last run goes to the end.
    let mut c = spawn();
    let t = Instant::now();
    while settled(&cursors) < total as u64 {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "the last run did not finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.kill().unwrap();
    c.wait().unwrap();
    assert!(
        killed_midway * 4 >= rounds * 3,
        "only {killed_midway} of {rounds} kills landed while the forwarder was delivering"
    );

    // Read the whole stream back, in stream order.
    let context = async_nats::jetstream::new(js.client().clone());
    let stream = context.get_stream(&stream_name).await.unwrap();
    let info = stream.get_info().await.unwrap();
    assert_eq!(
        info.state.messages, total as u64,
        "the stream holds each record once (redeliveries were dropped by Nats-Msg-Id)"
    );
    let mut per_tenant: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for seq in info.state.first_sequence..=info.state.last_sequence {
        let m = stream.get_raw_message(seq).await.unwrap();
        let r: Record = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(
            m.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned()),
            Some(r.id.to_string())
        );
        assert!(ids.insert(r.id), "record {} twice", r.id);
        per_tenant
            .entry(r.tenant.as_str().to_owned())
            .or_default()
            .push(r);
    }
    let mut count = 0;
    for (tenant, records) in &per_tenant {
        let mut prev = chain::Digest::ZERO;
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.seq, i as u64 + 1, "{tenant}: seq order");
            assert_eq!(
                r.prev_hash, prev,
                "{tenant}#{}: links to the previous record",
                r.seq
            );
            assert_eq!(
                chain::compute_hash(r),
                r.hash,
                "{tenant}#{}: hash recomputes",
                r.seq
            );
            prev = r.hash;
        }
        count += records.len();
    }
    assert_eq!(count, total);
    let _ = context.delete_stream(&stream_name).await;
    eprintln!(
        "{total} records, {rounds} kills ({killed_midway} mid-delivery), verified in {:?}",
        started.elapsed()
    );
}
