//! The PostgreSQL store against a real server.
//!
//! The server's URL comes from `AUDIT_LOG_POSTGRES_URL` (`.ci/run` sets it); without it every
//! test here prints that it was not run and passes, so `cargo test` works on a laptop. Each
//! test works in schemas of its own, dropped at the end, so tests run in parallel.
#![cfg(all(feature = "postgres", feature = "conformance"))]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use audit_log::conformance::{self, Harness, Tamper};
use audit_log::{
    chain, Actor, AuditLog, AuditSink, AuditStore, AuditStoreExt, ChainAlgorithm, EntityKey,
    EntityRef, Entry, Error, Event, PostgresOptions, PostgresSink, Preparer, PurgePoint, Query,
    RetentionExt, TenantId,
};

const URL_VAR: &str = "AUDIT_LOG_POSTGRES_URL";
const CHILD_VAR: &str = "AUDIT_LOG_PG_CHILD";

fn url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            // Written to the stderr handle rather than with eprintln!, which the test harness
            // captures: a skipped test must say so in the output.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "postgres test {test} NOT RUN: set {URL_VAR} to a server URL to run it"
            );
            None
        }
    }
}

fn unique_schema(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "audit_test_{tag}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn admin(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).expect("connect as admin")
}

/// Schemas made by a test, dropped when it ends (also when it fails).
struct Schemas {
    url: String,
    names: Mutex<Vec<String>>,
}

impl Schemas {
    fn new(url: &str) -> Self {
        Schemas {
            url: url.to_owned(),
            names: Mutex::new(Vec::new()),
        }
    }

    fn sink(&self, tag: &str) -> PostgresSink {
        self.sink_with(tag, PostgresOptions::new())
    }

    fn sink_with(&self, tag: &str, options: PostgresOptions) -> PostgresSink {
        let name = unique_schema(tag);
        self.names.lock().unwrap().push(name.clone());
        PostgresSink::connect_with(&self.url, options.schema(&name).pool_size(4))
            .expect("connect the sink")
    }
}

impl Drop for Schemas {
    fn drop(&mut self) {
        let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        if let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) {
            for n in names {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{n}\" CASCADE"));
            }
        }
    }
}

struct PgHarness {
    schemas: Schemas,
}

impl Harness for PgHarness {
    type Store = PostgresSink;

    fn fresh(&self) -> PostgresSink {
        self.schemas.sink("conf")
    }

    fn tamper(&self, store: &PostgresSink, tenant: &TenantId, op: Tamper) -> bool {
        let mut c = admin(&self.schemas.url);
        let r = format!("{}.audit_records", store.schema());
        let m = format!("{}.audit_mentions", store.schema());
        // As the table owner could: a record deleted takes its mentions with it.
        c.batch_execute(&format!(
            "ALTER TABLE {r} DISABLE TRIGGER USER; ALTER TABLE {m} DISABLE TRIGGER USER"
        ))
        .unwrap();
        let t = tenant.as_str();
        match op {
            Tamper::Alter { seq } => c.execute(
                &format!("UPDATE {r} SET actor_display = 'mallory' WHERE tenant = $1 AND seq = $2"),
                &[&t, &(seq as i64)],
            ),
            Tamper::Delete { seq } => c.execute(
                &format!(
                    "WITH gone AS (DELETE FROM {r} WHERE tenant = $1 AND seq = $2 \
                     RETURNING tenant, seq) \
                     DELETE FROM {m} x USING gone WHERE x.tenant = gone.tenant AND x.seq = gone.seq"
                ),
                &[&t, &(seq as i64)],
            ),
            Tamper::Swap { a, b } => c.execute(
                &format!(
                    "UPDATE {r} x SET (id, occurred_at, actor_kind, actor_id, actor_display, \
                     event_name, outcome, ip, user_agent, request_id, correlation_id, reason, \
                     schema_version, chain, prev_hash, hash, event_json) = \
                     (SELECT id, occurred_at, actor_kind, actor_id, actor_display, event_name, \
                      outcome, ip, user_agent, request_id, correlation_id, reason, \
                      schema_version, chain, prev_hash, hash, event_json FROM {r} o \
                      WHERE o.tenant = x.tenant AND o.seq = CASE x.seq WHEN $2 THEN $3 ELSE $2 END) \
                     WHERE tenant = $1 AND seq IN ($2, $3)"
                ),
                &[&t, &(a as i64), &(b as i64)],
            ),
            Tamper::Truncate { from } => c.execute(
                &format!(
                    "WITH gone AS (DELETE FROM {r} WHERE tenant = $1 AND seq >= $2 \
                     RETURNING tenant, seq) \
                     DELETE FROM {m} x USING gone WHERE x.tenant = gone.tenant AND x.seq = gone.seq"
                ),
                &[&t, &(from as i64)],
            ),
        }
        .unwrap();
        c.batch_execute(&format!(
            "ALTER TABLE {r} ENABLE TRIGGER USER; ALTER TABLE {m} ENABLE TRIGGER USER"
        ))
        .unwrap();
        true
    }
}

#[test]
fn postgres_sink_passes_the_conformance_suite() {
    let Some(url) = url("conformance") else {
        return;
    };
    conformance::run_all(&PgHarness {
        schemas: Schemas::new(&url),
    });
}

fn log_for(store: PostgresSink) -> AuditLog {
    AuditLog::builder(store).build()
}

fn deleted(i: u64) -> Event {
    Event::user_deleted(EntityRef::new(i, format!("user{i}")))
}

#[test]
fn the_records_table_rejects_update_delete_and_truncate() {
    let Some(url) = url("append_only") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let store = schemas.sink("ro");
    let s = store.schema().to_owned();
    let receipts = store.append(prepare(vec![deleted(1), deleted(2)])).unwrap();
    assert_eq!(receipts.len(), 2);
    let mut c = admin(&url);
    for sql in [
        format!("UPDATE {s}.audit_records SET actor_display = 'x'"),
        format!("DELETE FROM {s}.audit_records WHERE seq = 1"),
        format!("TRUNCATE {s}.audit_records"),
        format!("DELETE FROM {s}.audit_mentions"),
    ] {
        let err = c.batch_execute(&sql).expect_err(&sql);
        let msg = err
            .as_db_error()
            .map(|d| d.message().to_owned())
            .unwrap_or_default();
        assert!(refused_as_append_only(&msg), "{sql}: {err:?}");
    }
    assert_eq!(
        store.head(&TenantId::default()).unwrap().map(|h| h.seq),
        Some(2)
    );
    assert!(store.verify(&TenantId::default()).unwrap().is_intact());
}

fn prepare(events: Vec<Event>) -> Vec<audit_log::PreparedRecord> {
    let log = Preparer::new();
    log.prepare_batch(
        events
            .into_iter()
            .map(|e| Entry::new(Actor::service("test"), e)),
    )
    .unwrap()
}

#[test]
fn a_schema_from_a_newer_version_or_not_ours_is_refused() {
    let Some(url) = url("versions") else { return };
    let schemas = Schemas::new(&url);
    let store = schemas.sink("ver");
    let s = store.schema().to_owned();
    drop(store);
    let mut c = admin(&url);
    c.batch_execute(&format!(
        "UPDATE {s}.audit_meta SET value = '99' WHERE key = 'schema_version'"
    ))
    .unwrap();
    match PostgresSink::connect_with(&url, PostgresOptions::new().schema(&s)) {
        Err(Error::SchemaTooNew {
            found: 99,
            supported: audit_log::postgres::STORE_SCHEMA_VERSION,
        }) => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    c.batch_execute(&format!(
        "UPDATE {s}.audit_meta SET value = 'banana' WHERE key = 'schema_version'"
    ))
    .unwrap();
    assert!(matches!(
        PostgresSink::connect_with(&url, PostgresOptions::new().schema(&s)),
        Err(Error::NotAStore { .. })
    ));
    // A schema whose audit_meta says nothing about us.
    let other = unique_schema("alien");
    schemas.names.lock().unwrap().push(other.clone());
    c.batch_execute(&format!(
        "CREATE SCHEMA {other}; CREATE TABLE {other}.audit_meta (key text PRIMARY KEY, value text NOT NULL); \
         INSERT INTO {other}.audit_meta VALUES ('format', 'something else')"
    ))
    .unwrap();
    assert!(matches!(
        PostgresSink::connect_with(&url, PostgresOptions::new().schema(&other)),
        Err(Error::NotAStore { .. })
    ));
    assert!(matches!(
        PostgresSink::connect("not a url at all"),
        Err(Error::InvalidInput { .. })
    ));
}

#[test]
fn entity_actor_time_and_event_queries_use_an_index() {
    let Some(url) = url("explain") else { return };
    let schemas = Schemas::new(&url);
    let store = schemas.sink("plan");
    let actors = ["root", "bob", "carol", "sync"];
    for chunk in 0..10 {
        let log = Preparer::new();
        let entries = (0..2000u64).map(|i| {
            let n = chunk * 2000 + i;
            Entry::new(
                Actor::user(actors[(n % 4) as usize], actors[(n % 4) as usize]),
                Event::user_added_to_group(EntityRef::id_only(n), EntityRef::id_only(n % 50)),
            )
        });
        store.append(log.prepare_batch(entries).unwrap()).unwrap();
    }
    let mut c = store.raw_client().unwrap();
    c.batch_execute(&format!(
        "ANALYZE {0}.audit_records; ANALYZE {0}.audit_mentions",
        store.schema()
    ))
    .unwrap();
    let t0 = chrono::Utc::now() - chrono::Duration::minutes(1);
    for (what, q) in [
        ("entity", Query::new().entity(EntityKey::user(12_345))),
        ("actor", Query::new().actor("carol").limit(10)),
        (
            "time",
            Query::new()
                .since(t0)
                .until(t0 + chrono::Duration::seconds(1)),
        ),
        ("event", Query::new().event("group.*")),
    ] {
        let plan = store.query_plan(&q).unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("Index"),
            "{what} query uses an index:\n{plan}"
        );
        assert!(
            !plan.contains("Seq Scan"),
            "{what} query scans the table:\n{plan}"
        );
    }
}

/// Index blocks of `index` (in `schema`) that PostgreSQL counted as read, once every
/// backend of a dropped store has flushed its statistics (at exit at the latest).
fn index_blocks_read(c: &mut postgres::Client, schema: &str, index: &str, inserts: i64) -> i64 {
    for _ in 0..200 {
        // Each statement outside a transaction reads fresh statistics.
        let done: i64 = c
            .query_one(
                "SELECT coalesce(sum(n_tup_ins), 0)::bigint FROM pg_stat_user_tables \
                 WHERE schemaname = $1 AND relname = 'audit_mentions'",
                &[&schema],
            )
            .unwrap()
            .get(0);
        if done >= inserts {
            return c
                .query_one(
                    "SELECT (idx_blks_hit + idx_blks_read)::bigint FROM pg_statio_user_indexes \
                     WHERE schemaname = $1 AND indexrelname = $2",
                    &[&schema, &index],
                )
                .unwrap()
                .get(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the store's statistics never reached the server");
}

/// Appends to a new store must not read the trail once per mention. Schema versions 3 and 4
/// checked each mention's record through a foreign key whose check PostgreSQL planned once per
/// connection, while the table was empty; it chose `audit_records_event`, which narrows by
/// tenant only, so every mention read the tenant's whole index and a new store's appends
/// slowed linearly with its size (175 records/s in the durable bench, where version 2 did
/// 840).
#[test]
fn a_new_stores_appends_do_not_read_an_index_range_per_mention() {
    let Some(url) = url("appends_do_not_scan") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let store = schemas.sink("scan");
    let schema = store.schema().to_owned();
    let log = log_for(store);
    const N: u64 = 2_000;
    for i in 0..N {
        // Two mentions each (the user and the group), one event name for the whole trail.
        log.record(
            &Actor::user(1, "root"),
            Event::user_added_to_group(EntityRef::id_only(i), EntityRef::id_only(i % 7)),
        )
        .unwrap();
    }
    drop(log);
    let mut c = admin(&url);
    let blocks = index_blocks_read(&mut c, &schema, "audit_records_event", 2 * N as i64);
    // Inserting an entry reads a block or two per level; a scan of the tenant's entries for
    // each of the 4,000 mentions reads ~10 leaves on average.
    assert!(
        blocks < 4 * N as i64,
        "{N} appends read {blocks} blocks of the event index"
    );
}

/// Verification reads the entity index a window of seqs at a time: every row of a trail many
/// windows long is read once, and a mention row forged at a window's edge is named.
#[test]
fn verify_reads_every_mention_of_a_trail_many_windows_long() {
    let Some(url) = url("mention_windows") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let store = schemas.sink("windows");
    let log = Preparer::new();
    let entries = (0..10_000u64).map(|i| {
        Entry::new(
            Actor::user(1, "root"),
            Event::user_added_to_group(EntityRef::id_only(i), EntityRef::id_only(i % 7)),
        )
    });
    store.append(log.prepare_batch(entries).unwrap()).unwrap();
    let tenant = TenantId::default();
    let v = store.verify(&tenant).unwrap();
    assert!(v.is_intact(), "{v}");
    // A forged mention of record 4097, the first seq of the second window.
    let mut c = admin(&url);
    c.batch_execute(&format!(
        "INSERT INTO {}.audit_mentions (tenant, kind, entity_id, seq) \
         VALUES ('default', 'user', 'mallory', 4097)",
        store.schema()
    ))
    .unwrap();
    let v = store.verify(&tenant).unwrap();
    assert!(!v.is_intact(), "a forged mention passed: {v}");
}

#[test]
fn appends_join_the_hosts_transaction() {
    let Some(url) = url("host_tx") else { return };
    let schemas = Schemas::new(&url);
    let store = schemas.sink("host");
    let s = store.schema().to_owned();
    let alg = store.chain_algorithm();
    store.append(prepare(vec![deleted(1)])).unwrap();
    let mut c = admin(&url);
    c.batch_execute(&format!("CREATE TABLE {s}.users (id bigint PRIMARY KEY)"))
        .unwrap();

    let mut tx = c.transaction().unwrap();
    tx.execute(&format!("INSERT INTO {s}.users VALUES (7)"), &[])
        .unwrap();
    let r = PostgresSink::append_in(&mut tx, &s, alg, prepare(vec![deleted(7)])).unwrap();
    assert_eq!(r[0].seq, 2);
    tx.rollback().unwrap();
    assert_eq!(
        store.head(&TenantId::default()).unwrap().map(|h| h.seq),
        Some(1),
        "rolled back"
    );

    let mut tx = c.transaction().unwrap();
    tx.execute(&format!("INSERT INTO {s}.users VALUES (8)"), &[])
        .unwrap();
    let r = PostgresSink::append_in(&mut tx, &s, alg, prepare(vec![deleted(8)])).unwrap();
    tx.commit().unwrap();
    assert_eq!(r[0].seq, 2, "the rolled-back seq is reused: no gap");
    store.append(prepare(vec![deleted(9)])).unwrap();
    let seqs: Vec<u64> = store
        .query(&Query::new())
        .unwrap()
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    assert!(store.verify(&TenantId::default()).unwrap().is_intact());
    let users: i64 = c
        .query_one(&format!("SELECT count(*) FROM {s}.users"), &[])
        .unwrap()
        .get(0);
    assert_eq!(users, 1);
}

#[test]
fn a_tenant_held_by_an_open_transaction_does_not_block_other_tenants() {
    let Some(url) = url("tenant_locks") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let store = schemas.sink("locks");
    let s = store.schema().to_owned();
    let alg = store.chain_algorithm();
    let mut c = admin(&url);
    let mut tx = c.transaction().unwrap();
    PostgresSink::append_in(&mut tx, &s, alg, prepare(vec![deleted(1)])).unwrap();
    // The default tenant's head row is now locked by `tx`; another tenant must go through.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let log = Preparer::new();
            let p = log
                .prepare(Entry::new(Actor::system(), deleted(2)).tenant("other"))
                .unwrap();
            let r = store.append(vec![p]);
            done.send(r.map(|r| r[0].seq)).unwrap();
        });
        let r = finished
            .recv_timeout(Duration::from_secs(60))
            .expect("another tenant's append finished while the first tenant was locked");
        assert_eq!(r.unwrap(), 1);
        tx.commit().unwrap();
    });
    assert_eq!(
        store.head(&TenantId::default()).unwrap().map(|h| h.seq),
        Some(1)
    );
}

/// The multi-process tests re-run this test binary as a child with a role in `CHILD_VAR`.
#[test]
#[ignore = "entry point of the child processes the multi-process tests spawn"]
fn child_process_entry() {
    let Ok(role) = std::env::var(CHILD_VAR) else {
        return;
    };
    let url = std::env::var(URL_VAR).unwrap();
    let schema = std::env::var("AUDIT_LOG_PG_SCHEMA").unwrap();
    let store =
        PostgresSink::connect_with(&url, PostgresOptions::new().schema(&schema).pool_size(2))
            .unwrap();
    let log = AuditLog::builder(store).build();
    let me = Actor::service(format!("proc-{}", std::process::id()));
    match role.as_str() {
        "append" => {
            for i in 0..60u64 {
                let n = 1 + i % 3;
                let entries = (0..n).map(|k| Entry::new(me.clone(), deleted(i * 10 + k)));
                for r in log.record_batch(entries).unwrap() {
                    println!("ACK {}", r.seq);
                }
            }
        }
        "big-batch" => {
            for i in 0..20u64 {
                println!("ACK {}", log.record(&me, deleted(i)).unwrap().seq);
            }
            let mut prepared = Vec::new();
            for chunk in 0..15u64 {
                let entries =
                    (0..10_000u64).map(|i| Entry::new(me.clone(), deleted(chunk * 10_000 + i)));
                prepared.extend(log.prepare_batch(entries).unwrap());
            }
            println!("BIG");
            let r = log.sink().append(prepared).unwrap();
            println!("ACK {}", r.last().unwrap().seq);
        }
        other => panic!("unknown child role {other}"),
    }
}

fn spawn_child(url: &str, schema: &str, role: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_entry",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(URL_VAR, url)
        .env(CHILD_VAR, role)
        .env("AUDIT_LOG_PG_SCHEMA", schema)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// The seq in an `ACK n` line. libtest may print `test child_process_entry ... ` on the same
/// line before the child's first output, so look for the marker anywhere.
fn acks(line: &str) -> Option<u64> {
    let at = line.rfind("ACK ")?;
    line[at + 4..].trim().parse().ok()
}

#[test]
fn several_processes_appending_to_one_tenant_keep_one_gapless_chain() {
    let Some(url) = url("processes") else { return };
    let schemas = Schemas::new(&url);
    let store = schemas.sink("procs");
    let children: Vec<_> = (0..3)
        .map(|_| spawn_child(&url, store.schema(), "append"))
        .collect();
    let mut acked = Vec::new();
    for mut child in children {
        let out = BufReader::new(child.stdout.take().unwrap());
        acked.extend(out.lines().map_while(Result::ok).filter_map(|l| acks(&l)));
        assert!(child.wait().unwrap().success());
    }
    acked.sort_unstable();
    let n = acked.len() as u64;
    assert_eq!(n, 3 * 120, "every child acknowledged its records");
    assert_eq!(
        acked,
        (1..=n).collect::<Vec<_>>(),
        "acknowledged seqs are 1..=n, once each"
    );
    let report = store.verify(&TenantId::default()).unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.count, n);
}

#[test]
fn a_client_killed_mid_batch_leaves_none_of_the_batch_and_all_that_was_acknowledged() {
    let Some(url) = url("kill") else { return };
    let schemas = Schemas::new(&url);
    let store = schemas.sink("kill");
    let mut expected_head = 0;
    for round in 0..3u64 {
        let mut child = spawn_child(&url, store.schema(), "big-batch");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut last_ack = expected_head;
        let mut line = String::new();
        loop {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                panic!("child ended before its big batch");
            }
            if let Some(seq) = acks(&line) {
                last_ack = seq;
            }
            if line.contains("BIG") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20 + 60 * round));
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        // Whatever the server was doing for the dead client is rolled back.
        let head = (0..100)
            .find_map(|_| {
                let h = store.head(&TenantId::default()).unwrap().map_or(0, |h| h.seq);
                let busy: i64 = admin(&url)
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%audit_records%' AND state = 'active'",
                        &[],
                    )
                    .unwrap()
                    .get(0);
                if busy == 0 { Some(h) } else { std::thread::sleep(Duration::from_millis(100)); None }
            })
            .unwrap();
        assert!(
            head == last_ack || head == last_ack + 150_000,
            "round {round}: head {head} is the last acknowledged seq {last_ack} or the whole batch after it"
        );
        assert_eq!(
            last_ack,
            expected_head + 20,
            "all 20 acknowledged singles are there"
        );
        expected_head = head;
        let report = store.verify(&TenantId::default()).unwrap();
        assert!(report.is_intact(), "{report}");
    }
}

#[test]
fn a_lost_connection_is_a_typed_error_and_the_sink_recovers() {
    let Some(url) = url("reconnect") else { return };
    let schemas = Schemas::new(&url);
    let app = unique_schema("app");
    let tagged = if url.contains('?') {
        format!("{url}&application_name={app}")
    } else {
        format!("{url}?application_name={app}")
    };
    let name = unique_schema("reconn");
    schemas.names.lock().unwrap().push(name.clone());
    let store =
        PostgresSink::connect_with(&tagged, PostgresOptions::new().schema(&name).pool_size(3))
            .unwrap();
    let log = log_for(store);
    let mut acked = Vec::new();
    for round in 0..3 {
        for i in 0..5 {
            acked.push(
                log.record(&Actor::system(), deleted(round * 10 + i))
                    .unwrap()
                    .seq,
            );
        }
        let killed: i64 = admin(&url)
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .unwrap()
            .get(0);
        assert!(killed >= 1, "the sink's connections were terminated");
        // The next calls fail with a typed, transient error or succeed on a new connection.
        let mut ok = false;
        for _ in 0..5 {
            match log.record(&Actor::system(), deleted(999)) {
                Ok(r) => {
                    acked.push(r.seq);
                    ok = true;
                    break;
                }
                Err(e) => assert!(
                    e.is_transient(),
                    "lost connection gives a transient error: {e:?}"
                ),
            }
        }
        assert!(ok, "the sink recovered after round {round}");
    }
    let store = PostgresSink::connect_with(&url, PostgresOptions::new().schema(&name)).unwrap();
    let stored: Vec<u64> = store
        .query(&Query::new())
        .unwrap()
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(stored, acked, "every acknowledged record, no others");
    assert!(store.verify(&TenantId::default()).unwrap().is_intact());
}

/// Restarts the server while appends run: run alone (it takes the server down for everyone),
/// as `.ci/run` does with `--ignored`.
#[test]
#[ignore = "restarts the PostgreSQL server: run alone with --ignored (CI does)"]
fn a_server_restart_loses_nothing_acknowledged() {
    let Some(url) = url("restart") else { return };
    if std::env::var(CHILD_VAR).is_ok() {
        return;
    }
    let schemas = Schemas::new(&url);
    let store = schemas.sink("restart");
    let name = store.schema().to_owned();
    let log = log_for(store);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (acked, errors) = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut acked = Vec::new();
            let mut errors = 0;
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) || acked.len() < 50 {
                i += 1;
                match log.record(&Actor::system(), deleted(i)) {
                    Ok(r) => acked.push(r.seq),
                    Err(e) => {
                        assert!(e.is_transient(), "restart gives a transient error: {e:?}");
                        errors += 1;
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
                if i > 100_000 {
                    break;
                }
            }
            (acked, errors)
        });
        std::thread::sleep(Duration::from_millis(300));
        let version = std::fs::read_dir("/etc/postgresql")
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .unwrap_or_else(|| "15".into());
        let status = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", "restart"])
            .status()
            .expect("pg_ctlcluster runs");
        assert!(status.success());
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap()
    });
    println!(
        "appends during the restart: {} acknowledged, {errors} failed",
        acked.len()
    );
    let store = PostgresSink::connect_with(&url, PostgresOptions::new().schema(&name)).unwrap();
    let stored: Vec<u64> = store
        .query(&Query::new())
        .unwrap()
        .map(|r| r.unwrap().seq)
        .collect();
    // A commit whose answer was lost in the restart is in doubt: the caller got an error, yet
    // the record may be there (the contract says so). Acknowledged ones must all be there.
    let missing: Vec<&u64> = acked.iter().filter(|s| !stored.contains(s)).collect();
    assert!(missing.is_empty(), "acknowledged records lost: {missing:?}");
    assert!(
        stored.len() <= acked.len() + errors,
        "{} stored, {} acknowledged, {errors} in doubt",
        stored.len(),
        acked.len()
    );
    assert_eq!(
        stored,
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "gapless"
    );
    assert!(store.verify(&TenantId::default()).unwrap().is_intact());
}

#[test]
fn the_chain_algorithm_is_fixed_at_creation() {
    let Some(url) = url("algorithm") else { return };
    let schemas = Schemas::new(&url);
    let store = schemas.sink_with(
        "alg",
        PostgresOptions::new().chain_algorithm(ChainAlgorithm::Blake3),
    );
    assert_eq!(store.chain_algorithm(), ChainAlgorithm::Blake3);
    store.append(prepare(vec![deleted(1)])).unwrap();
    let s = store.schema().to_owned();
    drop(store);
    let again = PostgresSink::connect_with(&url, PostgresOptions::new().schema(&s)).unwrap();
    assert_eq!(
        again.chain_algorithm(),
        ChainAlgorithm::Blake3,
        "the stored algorithm wins"
    );
    assert!(chain::verify(&again, &TenantId::default())
        .unwrap()
        .is_intact());
}

#[test]
fn postgres_sink_passes_the_purge_checks() {
    let Some(url) = url("purge_conformance") else {
        return;
    };
    conformance::purge::run_all(&PgHarness {
        schemas: Schemas::new(&url),
    });
}

/// Whether a refusal is the store's: its triggers' message, or PostgreSQL refusing to
/// truncate the records table, which the mentions table references (checked before triggers).
fn refused_as_append_only(msg: &str) -> bool {
    msg.contains("append-only")
        || msg.contains("cannot truncate a table referenced in a foreign key constraint")
}

/// The message of a refused statement, or a panic naming the statement that went through.
fn refusal(result: Result<(), postgres::Error>, sql: &str) -> String {
    let err = result.expect_err(sql);
    err.as_db_error()
        .map(|d| d.message().to_owned())
        .unwrap_or_else(|| format!("{err:?}"))
}

fn meta_version(c: &mut postgres::Client, schema: &str) -> String {
    c.query_one(
        &format!("SELECT value FROM {schema}.audit_meta WHERE key = 'schema_version'"),
        &[],
    )
    .unwrap()
    .get(0)
}

fn record_count(c: &mut postgres::Client, schema: &str) -> i64 {
    c.query_one(&format!("SELECT count(*) FROM {schema}.audit_records"), &[])
        .unwrap()
        .get(0)
}

#[test]
fn after_a_purge_update_delete_and_truncate_are_still_refused() {
    let Some(url) = url("purge_refusals") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let store = schemas.sink("purge_ro");
    let s = store.schema().to_owned();
    let tenant = TenantId::default();
    store
        .append(prepare((1..=10).map(deleted).collect()))
        .unwrap();
    let report = store
        .purge(
            &Preparer::new(),
            &tenant,
            PurgePoint::ThroughSeq(4),
            &Actor::service("retention"),
        )
        .unwrap();
    assert_eq!((report.removed, report.anchor.seq), (4, 4));
    assert_eq!(
        meta_version(&mut admin(&url), &s),
        audit_log::postgres::STORE_SCHEMA_VERSION.to_string()
    );

    // On a connection of the store's own pool (perhaps the one that purged): the gate did
    // not outlive the purge's transaction.
    let mut pooled = store.raw_client().unwrap();
    let gate: Option<String> = pooled
        .query_one("SELECT current_setting('audit_log.purge', true)", &[])
        .unwrap()
        .get(0);
    assert!(
        gate.unwrap_or_default().is_empty(),
        "the purge gate is closed"
    );
    drop(pooled);

    let statements = [
        format!("DELETE FROM {s}.audit_records WHERE seq = 5"),
        format!("DELETE FROM {s}.audit_records"),
        format!("DELETE FROM {s}.audit_mentions"),
        format!("UPDATE {s}.audit_records SET actor_display = 'x'"),
        format!("UPDATE {s}.audit_mentions SET seq = seq + 100"),
        format!("TRUNCATE {s}.audit_records"),
        format!("TRUNCATE {s}.audit_mentions"),
    ];
    let mut c = admin(&url);
    for sql in &statements {
        // Outside a transaction, and inside one.
        let msg = refusal(c.batch_execute(sql), sql);
        assert!(refused_as_append_only(&msg), "{sql}: {msg}");
        let mut tx = c.transaction().unwrap();
        let msg = refusal(tx.batch_execute(sql), sql);
        assert!(
            refused_as_append_only(&msg),
            "{sql} in a transaction: {msg}"
        );
        tx.rollback().unwrap();
    }
    assert_eq!(record_count(&mut c, &s), 7);
    let v = store.verify(&tenant).unwrap();
    assert!(v.is_intact(), "{v}");
    assert_eq!(v.count, 7);
}

#[test]
fn the_purge_gate_opens_only_the_declared_rows_for_one_transaction() {
    let Some(url) = url("purge_gate") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let store = schemas.sink("gate");
    let neighbour = schemas.sink("gate_other");
    let s = store.schema().to_owned();
    let n = neighbour.schema().to_owned();
    // A tenant name with the characters a hand-rolled gate format would trip on.
    let odd = TenantId::new("7:acme\"x'");
    for target in [&store, &neighbour] {
        target
            .append(prepare((1..=5).map(deleted).collect()))
            .unwrap();
        let log = Preparer::new().tenant(odd.clone());
        let batch = (1..=5)
            .map(|i| {
                log.prepare(Entry::new(Actor::service("test"), deleted(i)))
                    .unwrap()
            })
            .collect();
        target.append(batch).unwrap();
    }

    let mut c = admin(&url);
    let declare = |tx: &mut postgres::Transaction<'_>, schema: &str, tenant: &str, through: i64| {
        tx.execute(
            "SELECT set_config('audit_log.purge', json_build_object('schema', $1::text, \
             'tenant', $2::text, 'through', $3::bigint)::text, true)",
            &[&schema, &tenant, &through],
        )
        .unwrap();
    };
    let refused = |tx: &mut postgres::Transaction<'_>, sql: &str| {
        // Each refusal aborts the transaction: try it under a savepoint.
        let mut sp = tx.transaction().unwrap();
        let msg = refusal(sp.batch_execute(sql), sql);
        assert!(refused_as_append_only(&msg), "{sql}: {msg}");
        sp.rollback().unwrap();
    };
    let mut tx = c.transaction().unwrap();
    declare(&mut tx, &s, odd.as_str(), 2);
    // Past the declared seq, another tenant, another schema, an update, a truncate: refused.
    refused(
        &mut tx,
        &format!("DELETE FROM {s}.audit_records WHERE seq = 3"),
    );
    refused(
        &mut tx,
        &format!("DELETE FROM {s}.audit_records WHERE tenant = 'default' AND seq = 1"),
    );
    refused(
        &mut tx,
        &format!("DELETE FROM {n}.audit_records WHERE seq = 1"),
    );
    refused(
        &mut tx,
        &format!("UPDATE {s}.audit_records SET reason = 'x' WHERE seq = 1"),
    );
    refused(&mut tx, &format!("TRUNCATE {s}.audit_records"));
    // A malformed declaration opens nothing.
    {
        let mut sp = tx.transaction().unwrap();
        sp.batch_execute("SELECT set_config('audit_log.purge', '2:default', true)")
            .unwrap();
        assert!(sp
            .batch_execute(&format!("DELETE FROM {s}.audit_records WHERE seq = 1"))
            .is_err());
        sp.rollback().unwrap();
    }
    // The declared rows: let through.
    let deleted_rows = tx
        .execute(
            &format!("DELETE FROM {s}.audit_records WHERE tenant = $1 AND seq <= 2"),
            &[&odd.as_str()],
        )
        .unwrap();
    assert_eq!(deleted_rows, 2);
    tx.rollback().unwrap();
    // The declaration ended with its transaction.
    let msg = refusal(
        c.batch_execute(&format!("DELETE FROM {s}.audit_records WHERE seq = 1")),
        "delete after the transaction",
    );
    assert!(msg.contains("append-only"), "{msg}");
    assert_eq!(record_count(&mut c, &s), 10);
    assert_eq!(record_count(&mut c, &n), 10);

    // And the store's own purge of that tenant leaves the others alone.
    let report = store
        .purge(
            &Preparer::new(),
            &odd,
            PurgePoint::ThroughSeq(3),
            &Actor::service("retention"),
        )
        .unwrap();
    assert_eq!(
        (report.removed, report.receipt.map(|r| r.seq)),
        (3, Some(6))
    );
    assert!(store.verify(&odd).unwrap().is_intact());
    assert_eq!(store.anchor(&TenantId::default()).unwrap().seq, 0);
    assert_eq!(neighbour.anchor(&odd).unwrap().seq, 0);
    assert_eq!(record_count(&mut c, &n), 10);
}

#[test]
fn heads_never_move_back_and_anchors_move_only_through_a_purge() {
    let Some(url) = url("head_guard") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let store = schemas.sink("heads");
    let s = store.schema().to_owned();
    store
        .append(prepare((1..=6).map(deleted).collect()))
        .unwrap();
    let mut c = admin(&url);
    let refused = |c: &mut postgres::Client, sql: &str, why: &str| {
        let msg = refusal(c.batch_execute(sql), sql);
        assert!(msg.contains(why), "{sql}: {msg}");
    };
    let h = format!("{s}.audit_heads");
    // What would hide a removed prefix, or let the next append fork the chain: refused.
    refused(
        &mut c,
        &format!("UPDATE {h} SET anchor_seq = 3"),
        "anchors only move",
    );
    refused(
        &mut c,
        &format!("UPDATE {h} SET seq = 0"),
        "only move forward",
    );
    refused(
        &mut c,
        &format!("UPDATE {h} SET seq = 0, anchor_seq = 0, anchor_hash = hash"),
        "only move forward",
    );
    refused(&mut c, &format!("DELETE FROM {h}"), "never removed");
    refused(&mut c, &format!("TRUNCATE {h}"), "append-only");
    // A purge declaration for another seq, or a move backwards, does not open it either.
    let mut tx = c.transaction().unwrap();
    tx.execute(
        "SELECT set_config('audit_log.purge', json_build_object('schema', $1::text, \
         'tenant', 'default', 'through', 2)::text, true)",
        &[&s],
    )
    .unwrap();
    let msg = refusal(
        tx.batch_execute(&format!("UPDATE {h} SET anchor_seq = 3")),
        "anchor past the declared seq",
    );
    assert!(msg.contains("anchors only move"), "{msg}");
    tx.rollback().unwrap();
    // Appends, a purge and appends after it still move the head and the anchor as they should.
    let report = store
        .purge(
            &Preparer::new(),
            &TenantId::default(),
            PurgePoint::ThroughSeq(2),
            &Actor::service("retention"),
        )
        .unwrap();
    assert_eq!(report.anchor.seq, 2);
    store.append(prepare(vec![deleted(7)])).unwrap();
    let v = store.verify(&TenantId::default()).unwrap();
    assert!(v.is_intact(), "{v}");
    assert_eq!(
        (v.count, store.anchor(&TenantId::default()).unwrap().seq),
        (6, 2)
    );
}

#[test]
fn a_version_1_schema_is_migrated_and_can_then_be_purged() {
    let Some(url) = url("migrate_v1") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let s = unique_schema("v1");
    schemas.names.lock().unwrap().push(s.clone());
    let mut c = admin(&url);
    let alg = PostgresSink::install_schema_version(&mut c, &s, ChainAlgorithm::Sha256, 1).unwrap();
    assert_eq!(meta_version(&mut c, &s), "1");
    // This build appends only into a current schema, and says so.
    let mut tx = c.transaction().unwrap();
    let refused =
        PostgresSink::append_in(&mut tx, &s, alg, prepare((1..=1).map(deleted).collect()));
    assert!(
        matches!(&refused, Err(Error::NotSupported(why)) if why.contains("migrat")),
        "{refused:?}"
    );
    tx.rollback().unwrap();
    // Records as version 1 stored them: made in memory, then written with v1's columns.
    let memory = audit_log::MemorySink::new();
    memory
        .append(prepare((1..=8).map(deleted).collect()))
        .unwrap();
    let mut tx = c.transaction().unwrap();
    for r in memory.records() {
        tx.execute(
            &format!(
                "INSERT INTO {s}.audit_records (tenant, seq, id, occurred_at, actor_kind, actor_id, \
                 actor_display, event_name, outcome, schema_version, chain, prev_hash, hash, \
                 event_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            ),
            &[
                &r.tenant.as_str(),
                &(r.seq as i64),
                &r.id,
                &r.occurred_at,
                &r.actor.kind.as_str(),
                &r.actor.id,
                &r.actor.display,
                &r.event.name(),
                &r.outcome.as_str(),
                &(r.schema_version as i32),
                &r.chain.as_str(),
                &&r.prev_hash.0[..],
                &&r.hash.0[..],
                &r.event.to_json(),
            ],
        )
        .unwrap();
        for m in r.event.mentions() {
            tx.execute(
                &format!(
                    "INSERT INTO {s}.audit_mentions (tenant, kind, entity_id, seq) VALUES ($1, $2, $3, $4)"
                ),
                &[&r.tenant.as_str(), &m.kind.as_str(), &m.id.as_str(), &(r.seq as i64)],
            )
            .unwrap();
        }
    }
    tx.execute(
        &format!(
            "INSERT INTO {s}.audit_heads (tenant, seq, hash, anchor_seq, anchor_hash) \
             VALUES ('default', 8, $1, 0, $2)"
        ),
        &[
            &&memory.records()[7].hash.0[..],
            &&audit_log::Digest::ZERO.0[..],
        ],
    )
    .unwrap();
    tx.commit().unwrap();
    // Version 1 refuses every delete, declared or not.
    let mut tx = c.transaction().unwrap();
    tx.execute(
        "SELECT set_config('audit_log.purge', json_build_object('schema', $1::text, \
         'tenant', 'default', 'through', 8)::text, true)",
        &[&s],
    )
    .unwrap();
    let msg = refusal(
        tx.batch_execute(&format!("DELETE FROM {s}.audit_records")),
        "delete from a version 1 schema",
    );
    assert!(msg.contains("append-only"), "{msg}");
    tx.rollback().unwrap();

    let store = PostgresSink::connect_with(&url, PostgresOptions::new().schema(&s)).unwrap();
    assert_eq!(meta_version(&mut c, &s), "5");
    assert_eq!(audit_log::postgres::STORE_SCHEMA_VERSION, 5);
    // The migrated schema still refuses a mention whose record does not exist.
    let msg = refusal(
        c.batch_execute(&format!(
            "INSERT INTO {s}.audit_mentions (tenant, kind, entity_id, seq) \
             VALUES ('default', 'user', '1', 77)"
        )),
        "an orphan mention",
    );
    assert!(
        msg.contains("a mention is written with its record: tenant default has no seq 77"),
        "{msg}"
    );
    // A whole statement is checked at once: seqs 1 and 99, of which only 1 has its record.
    let msg = refusal(
        c.batch_execute(&format!(
            "INSERT INTO {s}.audit_mentions (tenant, kind, entity_id, seq) \
             VALUES ('default', 'user', 'x', 1), ('default', 'user', 'x', 99)"
        )),
        "a statement with one orphan mention",
    );
    assert!(
        msg.contains("tenant default lacks a seq between 1 and 99"),
        "{msg}"
    );
    let tenant = TenantId::default();
    let report = store
        .purge(
            &Preparer::new(),
            &tenant,
            PurgePoint::ThroughSeq(5),
            &Actor::service("retention"),
        )
        .unwrap();
    assert_eq!((report.removed, report.anchor.seq), (5, 5));
    assert_eq!(report.receipt.map(|r| r.seq), Some(9));
    let v = store.verify(&tenant).unwrap();
    assert!(v.is_intact(), "{v}");
    assert_eq!(v.count, 4);
    // Connecting again finds the current version and changes nothing.
    drop(store);
    let again = PostgresSink::connect_with(&url, PostgresOptions::new().schema(&s)).unwrap();
    assert_eq!(meta_version(&mut c, &s), "5");
    assert_eq!(again.anchor(&tenant).unwrap(), report.anchor);
    assert!(matches!(
        PostgresSink::install_schema_version(&mut c, &s, alg, 6),
        Err(Error::InvalidInput { .. })
    ));
}

/// `url` with its user and password replaced, to connect as another role.
fn url_as(url: &str, role: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let host_and_path = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!("{scheme}://{role}:{password}@{host_and_path}")
}

/// Login roles made by a test, dropped (with their grants) when it ends.
struct Roles {
    url: String,
    names: Vec<String>,
}

impl Roles {
    fn create(&mut self, tag: &str) -> String {
        let name = unique_schema(tag);
        admin(&self.url)
            .batch_execute(&format!("CREATE ROLE {name} LOGIN PASSWORD 'audit'"))
            .unwrap();
        self.names.push(name.clone());
        name
    }
}

impl Drop for Roles {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) {
            for n in &self.names {
                let _ = c.batch_execute(&format!("DROP OWNED BY {n}; DROP ROLE {n}"));
            }
        }
    }
}

#[test]
fn only_a_role_granted_delete_can_purge_and_the_documented_grants_suffice() {
    let Some(url) = url("purge_roles") else {
        return;
    };
    let schemas = Schemas::new(&url);
    let owner_store = schemas.sink("roles");
    let s = owner_store.schema().to_owned();
    owner_store
        .append(prepare((1..=6).map(deleted).collect()))
        .unwrap();
    let mut roles = Roles {
        url: url.clone(),
        names: Vec::new(),
    };
    let app = roles.create("app");
    let retention = roles.create("retention");
    let mut c = admin(&url);
    // The GRANTs of the postgres module docs, and nothing else: connecting to a schema that
    // is already installed asks for no CREATE right.
    c.batch_execute(&format!(
        "REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {app};
         GRANT USAGE ON SCHEMA {s} TO {app};
         GRANT SELECT, INSERT ON {s}.audit_records, {s}.audit_mentions TO {app};
         GRANT SELECT, INSERT, UPDATE ON {s}.audit_heads TO {app};
         GRANT SELECT ON {s}.audit_meta TO {app};
         GRANT USAGE ON SCHEMA {s} TO {retention};
         GRANT SELECT, INSERT, DELETE ON {s}.audit_records, {s}.audit_mentions TO {retention};
         GRANT SELECT, INSERT, UPDATE ON {s}.audit_heads TO {retention};
         GRANT SELECT ON {s}.audit_meta TO {retention};"
    ))
    .unwrap();
    let tenant = TenantId::default();
    let connect = |role: &str| {
        PostgresSink::connect_with(
            &url_as(&url, role, "audit"),
            PostgresOptions::new().schema(&s).pool_size(2),
        )
        .unwrap()
    };

    let as_app = connect(&app);
    as_app.append(prepare(vec![deleted(7)])).unwrap();
    let err = as_app
        .purge(
            &Preparer::new(),
            &tenant,
            PurgePoint::ThroughSeq(3),
            &Actor::service("retention"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Store { .. }), "{err:?}");
    assert_eq!(owner_store.anchor(&tenant).unwrap().seq, 0, "nothing moved");
    assert_eq!(record_count(&mut c, &s), 7, "nothing removed");

    let as_retention = connect(&retention);
    let report = as_retention
        .purge(
            &Preparer::new(),
            &tenant,
            PurgePoint::ThroughSeq(3),
            &Actor::service("retention"),
        )
        .unwrap();
    assert_eq!(
        (report.removed, report.receipt.map(|r| r.seq)),
        (3, Some(8))
    );
    as_app.append(prepare(vec![deleted(9)])).unwrap();
    let v = owner_store.verify(&tenant).unwrap();
    assert!(v.is_intact(), "{v}");
    assert_eq!(v.count, 6);
}

/// An auditor's read-only connect changes nothing: no schema made for a missing trail, no
/// migration of an older one, a newer one refused, and on a current trail queries work while
/// every write is refused, by the sink and by the server itself.
#[test]
fn a_read_only_connect_runs_no_ddl_and_writes_nothing() {
    let Some(url) = url("read_only") else { return };
    let schemas = Schemas::new(&url);
    let mut c = admin(&url);
    let ro = |s: &str| {
        PostgresSink::connect_with(&url, PostgresOptions::new().schema(s).read_only(true))
    };
    let schema_exists = |c: &mut postgres::Client, s: &str| -> bool {
        c.query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&s],
        )
        .unwrap()
        .get(0)
    };

    // Missing: an error naming the schema, and still missing afterwards.
    let missing = unique_schema("ro_missing");
    schemas.names.lock().unwrap().push(missing.clone());
    match ro(&missing) {
        Err(Error::NotAStore { reason }) => assert!(reason.contains(&missing), "{reason}"),
        other => panic!("expected NotAStore, got {other:?}"),
    }
    assert!(!schema_exists(&mut c, &missing));

    // Older: refused, left at its version.
    let old = unique_schema("ro_old");
    schemas.names.lock().unwrap().push(old.clone());
    PostgresSink::install_schema_version(&mut c, &old, ChainAlgorithm::Sha256, 2).unwrap();
    assert!(matches!(ro(&old), Err(Error::NotSupported(_))));
    let version: String = c
        .query_one(
            &format!("SELECT value FROM {old}.audit_meta WHERE key = 'schema_version'"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(version, "2");

    // Current: reads; every write refused.
    let store = schemas.sink("ro_cur");
    let s = store.schema().to_owned();
    let log = AuditLog::builder(store.clone()).build();
    log.record(
        &Actor::user(1, "root"),
        Event::user_deleted(EntityRef::new(7, "bob")),
    )
    .unwrap();
    let reader = ro(&s).unwrap();
    assert_eq!(reader.query(&Query::new()).unwrap().count(), 1);
    assert!(reader.verify(&TenantId::default()).unwrap().is_intact());
    let ro_log = AuditLog::builder(reader.clone()).build();
    assert!(matches!(
        ro_log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(8))),
        Err(Error::ReadOnly { .. })
    ));
    assert!(matches!(
        reader.purge(
            &Preparer::new(),
            &TenantId::default(),
            PurgePoint::ThroughSeq(1),
            &Actor::system()
        ),
        Err(Error::ReadOnly { .. })
    ));
    // The server refuses writes in its sessions too.
    let err = reader
        .raw_client()
        .unwrap()
        .batch_execute(&format!("CREATE TABLE {s}.intruder (a int)"))
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION)
    );
    assert_eq!(store.query(&Query::new()).unwrap().count(), 1);

    // Newer: refused by name.
    c.batch_execute(&format!(
        "UPDATE {s}.audit_meta SET value = '99' WHERE key = 'schema_version'"
    ))
    .unwrap();
    assert!(matches!(ro(&s), Err(Error::SchemaTooNew { found: 99, .. })));
}
