//! The conformance suite: one set of tests that every store runs.
//!
//! Built for this crate's tests and, with the `conformance` feature, for third-party stores.
//! A store's test module implements [`Harness`] (how to make an empty store, how to tamper
//! with one behind its back) and calls [`run_all`]:
//!
//! ```
//! use audit_log::conformance::{self, Harness, Tamper};
//! use audit_log::{MemorySink, TenantId};
//!
//! struct MemoryHarness;
//!
//! impl Harness for MemoryHarness {
//!     type Store = MemorySink;
//!     fn fresh(&self) -> MemorySink {
//!         MemorySink::new()
//!     }
//!     fn tamper(&self, store: &MemorySink, tenant: &TenantId, op: Tamper) -> bool {
//!         // A SQL store would drop its triggers and run raw SQL here.
//!         store.tamper(tenant, |records| conformance::apply_tamper(records, op));
//!         true
//!     }
//! }
//!
//! conformance::run_all(&MemoryHarness);
//! ```
//!
//! Each check panics with a message naming what broke. The functions are public so a store
//! can also run them one by one.
//!
//! A store with a retention purge also runs `purge::run_all`, passing its purge method.

// A test suite reports failure by panicking with a message, so here that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod history;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

use crate::chain::{self, BreakReason, Checkpoint};
use crate::error::{Error, Result};
use crate::event::*;
use crate::prepare::{Entry, ManualClock, Preparer};
use crate::query::Query;
use crate::record::{Actor, Context, Outcome, Receipt, Record, TenantId};
use crate::sink::{AuditSink, AuditStore, PreparedRecord, SealedSink};
use crate::store_ext::AuditStoreExt;

pub mod export;
pub mod purge;

/// A raw edit made behind a store's back, to prove that verification catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// Change the actor's display snapshot of the record at `seq`, keeping its hash.
    Alter {
        /// The record to alter.
        seq: u64,
    },
    /// Delete the record at `seq`.
    Delete {
        /// The record to delete.
        seq: u64,
    },
    /// Swap everything but the seq between the records at `a` and `b`.
    Swap {
        /// One record.
        a: u64,
        /// The other.
        b: u64,
    },
    /// Delete every record from `from` on.
    Truncate {
        /// The first record deleted.
        from: u64,
    },
}

/// What the suite exercises: a [`Store`](crate::Store) that also imports ([`SealedSink`]).
/// Every type with the three capabilities is one.
pub trait Subject: AuditSink + SealedSink + AuditStore {}

impl<T: AuditSink + SealedSink + AuditStore + ?Sized> Subject for T {}

/// What a store's test module provides to run the suite.
pub trait Harness {
    /// The store under test.
    type Store: Subject;
    /// An empty store.
    fn fresh(&self) -> Self::Store;
    /// Applies `op` to `tenant`'s trail with the store's raw access; returns `false` if the
    /// store cannot be tampered with (then the tamper checks are skipped).
    fn tamper(&self, store: &Self::Store, tenant: &TenantId, op: Tamper) -> bool;
}

/// Applies a [`Tamper`] to records held in a vector (for in-memory stores).
pub fn apply_tamper(records: &mut Vec<Record>, op: Tamper) {
    let pos = |records: &Vec<Record>, seq: u64| records.iter().position(|r| r.seq == seq);
    match op {
        Tamper::Alter { seq } => {
            if let Some(i) = pos(records, seq) {
                records[i].actor.display = Some("mallory".into());
            }
        }
        Tamper::Delete { seq } => {
            if let Some(i) = pos(records, seq) {
                records.remove(i);
            }
        }
        Tamper::Swap { a, b } => {
            if let (Some(i), Some(j)) = (pos(records, a), pos(records, b)) {
                records.swap(i, j);
                records[i].seq = a;
                records[j].seq = b;
            }
        }
        Tamper::Truncate { from } => records.retain(|r| r.seq < from),
    }
}

/// Runs every check, each on a fresh store.
pub fn run_all<H: Harness>(h: &H) {
    every_variant_round_trips(&h.fresh());
    envelope_round_trips(&h.fresh());
    seq_is_gapless_and_batches_are_consecutive(&h.fresh());
    empty_batch_writes_nothing(&h.fresh());
    concurrent_appends_stay_gapless_and_chained(&h.fresh());
    tenants_are_isolated(&h.fresh());
    every_query_filter(&h.fresh());
    context_filters_and_extreme_times(&h.fresh());
    cursor_pagination(&h.fresh());
    unknown_events_pass_through(&h.fresh());
    verify_and_checkpoints(&h.fresh());
    sealed_records_import_exactly(&h.fresh());
    tampering_is_detected(h);
    history::run_all(h);
    export::run_all(h);
}

/// The start of the suite's clock.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A preparer on a clock starting at [`t0`], and its clock.
pub fn preparer() -> (Preparer, ManualClock) {
    let clock = ManualClock::new(t0());
    (Preparer::new().clock(clock.clone()), clock)
}

fn prep(log: &Preparer, entries: Vec<Entry>) -> Vec<PreparedRecord> {
    log.prepare_batch(entries).expect("suite entries are valid")
}

fn append_one(store: &dyn Subject, log: &Preparer, entry: Entry) -> Receipt {
    let mut r = store
        .append(prep(log, vec![entry]))
        .expect("append succeeds");
    assert_eq!(r.len(), 1, "one receipt per record");
    r.remove(0)
}

fn all(store: &dyn Subject, q: &Query) -> Vec<Record> {
    store
        .query(q)
        .expect("query starts")
        .collect::<Result<Vec<_>>>()
        .unwrap_or_else(|e| panic!("records of {q:?} read back: {e:?}"))
}

fn seqs(store: &dyn Subject, q: &Query) -> Vec<u64> {
    all(store, q).iter().map(|r| r.seq).collect()
}

/// One sample of every built-in event (and a custom one), with realistic references. Also
/// what the wire-format tests pin.
pub fn sample_events() -> Vec<Event> {
    let alice = EntityRef::new(42, "alice");
    let ops = EntityRef::new("g-ops", "Operations");
    let admins = EntityRef::new("g-admins", "Administrators");
    let finance = EntityRef::new(
        uuid::Uuid::from_u128(0x0191_f3c2_7a8b_7c3d_9e4f_0123_4567_89ab),
        "Finance",
    );
    let payroll = EntityRef::new(3, "Payroll");
    let pg_app = PermissionGroupRef::new(
        9,
        "Payroll editors",
        Scope::application(payroll.clone(), finance.clone()),
    );
    let pg_ws = PermissionGroupRef::new(10, "Finance viewers", Scope::workspace(finance.clone()));
    let pg_sys = PermissionGroupRef::new("sys-admin", "System administrators", Scope::system());
    let mut app_attrs = Attributes::new();
    app_attrs.insert("template".into(), "payroll-v2".into());
    let mut ws_attrs = Attributes::new();
    ws_attrs.insert("name".into(), "Finance".into());
    let mut group_attrs = Attributes::new();
    group_attrs.insert("description".into(), "On-call engineers".into());
    vec![
        UserCreated::new(alice.clone())
            .login_name("alice")
            .full_name("Alice Liddell")
            .email("alice@example.com")
            .into(),
        Event::user_edited(
            alice.clone(),
            vec![
                UserChange::login_name("alice", "aliddell"),
                UserChange::full_name("Alice Liddell", "Alice P. Liddell"),
                UserChange::email("alice@example.com", "aliddell@example.com"),
                UserChange::password_changed(),
            ],
        ),
        Event::user_deleted(alice.clone()),
        Event::user_added_to_group(alice.clone(), ops.clone()),
        Event::user_removed_from_group(alice.clone(), ops.clone()),
        Event::GroupCreated(GroupCreated {
            group: ops.clone(),
            attributes: group_attrs,
        }),
        Event::group_edited(
            ops.clone(),
            vec![FieldChange::new("name", "Ops", "Operations")],
        ),
        Event::group_deleted(ops.clone()),
        Event::group_added_to_group(ops.clone(), admins.clone()),
        Event::group_removed_from_group(ops.clone(), admins.clone()),
        Event::ApplicationCreated(ApplicationCreated {
            application: payroll.clone(),
            workspace: finance.clone(),
            attributes: app_attrs,
        }),
        Event::application_edited(
            payroll.clone(),
            finance.clone(),
            vec![FieldChange::set("description", "Monthly payroll")],
        ),
        Event::application_deleted(payroll.clone(), finance.clone()),
        Event::WorkspaceCreated(WorkspaceCreated {
            workspace: finance.clone(),
            attributes: ws_attrs,
        }),
        Event::workspace_edited(
            finance.clone(),
            vec![FieldChange::cleared("archived_at", "2026-01-01")],
        ),
        Event::workspace_deleted(finance.clone()),
        Event::permission_user_added(alice.clone(), pg_app.clone()),
        Event::permission_user_removed(alice.clone(), pg_ws.clone()),
        Event::permission_group_added(ops.clone(), pg_sys.clone()),
        Event::permission_group_removed(ops.clone(), pg_app),
        CustomEvent::new(
            "billing.invoice_voided",
            json!({"invoice": "INV-7", "amount": 120.5, "lines": [1, 2]}),
        )
        .target(
            EntityKind::Other("invoice".into()),
            EntityRef::new(7, "INV-7"),
        )
        .related(EntityKind::User, alice)
        .into(),
    ]
}

/// Every sample event is stored and read back equal, in order, with the receipt's seq and
/// hash.
pub fn every_variant_round_trips(store: &dyn Subject) {
    let (log, clock) = preparer();
    let events = sample_events();
    let mut receipts = Vec::new();
    for e in &events {
        clock.advance(Duration::seconds(1));
        receipts.push(append_one(
            store,
            &log,
            Entry::new(Actor::user(1, "root"), e.clone()),
        ));
    }
    let back = all(store, &Query::new());
    assert_eq!(back.len(), events.len(), "every event read back");
    for ((r, e), receipt) in back.iter().zip(&events).zip(&receipts) {
        assert_eq!(&r.event, e, "event {} round-trips", e.name());
        assert_eq!(r.seq, receipt.seq);
        assert_eq!(r.id, receipt.id);
        assert_eq!(r.hash, receipt.hash, "stored hash is the receipt's");
        assert_eq!(
            chain::compute_hash(r),
            r.hash,
            "hash recomputes for {}",
            e.name()
        );
    }
}

/// Every envelope field survives the store: actor, outcome, context, time to the
/// microsecond, tenant, id, schema version, algorithm.
pub fn envelope_round_trips(store: &dyn Subject) {
    let (log, clock) = preparer();
    clock.set(t0() + Duration::microseconds(123_456));
    let ctx = Context::new()
        .ip(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)))
        .user_agent("Mozilla/5.0 (X11; Linux x86_64) \"quoted\"")
        .request_id("req-1")
        .correlation_id("job-9")
        .reason("offboarding ticket OPS-1234,\nsecond line; 'quotes' \u{e9}\u{1F600}");
    let entry = Entry::new(
        Actor::service("sync-bot"),
        Event::user_deleted(EntityRef::new(7, "Zo\u{eb}")),
    )
    .outcome(Outcome::Denied)
    .context(ctx.clone())
    .tenant("acme");
    let receipt = append_one(store, &log, entry);
    let r = store
        .get(&TenantId::new("acme"), receipt.seq)
        .expect("get works")
        .expect("record found");
    assert_eq!(r.actor, Actor::service("sync-bot"));
    assert_eq!(r.outcome, Outcome::Denied);
    assert_eq!(r.context, ctx);
    assert_eq!(r.occurred_at, t0() + Duration::microseconds(123_456));
    assert_eq!(r.tenant, TenantId::new("acme"));
    assert_eq!(r.schema_version, crate::RECORD_FORMAT_VERSION);
    assert_eq!(r.chain, store.chain_algorithm());
    assert_eq!(r.id, receipt.id);
    assert_eq!(
        r.prev_hash,
        crate::Digest::ZERO,
        "first record links to zero"
    );
    assert_eq!(store.get(&TenantId::new("acme"), 2).expect("get"), None);
    assert_eq!(store.get(&TenantId::default(), 1).expect("get"), None);
}

/// Seqs are 1, 2, 3, ...; a batch takes consecutive seqs per tenant in batch order and links
/// each record to the one before.
pub fn seq_is_gapless_and_batches_are_consecutive(store: &dyn Subject) {
    let (log, _) = preparer();
    let a = Actor::system();
    append_one(
        store,
        &log,
        Entry::new(a.clone(), Event::user_deleted(EntityRef::id_only(1))),
    );
    let batch = prep(
        &log,
        vec![
            Entry::new(a.clone(), Event::user_deleted(EntityRef::id_only(2))),
            Entry::new(a.clone(), Event::user_deleted(EntityRef::id_only(3))).tenant("other"),
            Entry::new(a.clone(), Event::user_deleted(EntityRef::id_only(4))),
        ],
    );
    let receipts = store.append(batch).expect("batch appends");
    assert_eq!(
        receipts.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![2, 1, 3],
        "per-tenant seqs in batch order"
    );
    let recs = all(store, &Query::new());
    assert_eq!(
        recs.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    for w in recs.windows(2) {
        assert_eq!(
            w[1].prev_hash, w[0].hash,
            "seq {} links to {}",
            w[1].seq, w[0].seq
        );
    }
    let head = store
        .head(&TenantId::default())
        .expect("head")
        .expect("non-empty");
    assert_eq!((head.seq, head.hash), (3, recs[2].hash));
    assert!(chain::verify(store, &TenantId::default())
        .expect("verify")
        .is_intact());
    assert!(chain::verify(store, &TenantId::new("other"))
        .expect("verify")
        .is_intact());
}

/// An empty batch is Ok and writes nothing.
pub fn empty_batch_writes_nothing(store: &dyn Subject) {
    assert_eq!(store.append(Vec::new()).expect("empty batch is ok"), vec![]);
    assert_eq!(store.head(&TenantId::default()).expect("head"), None);
    assert_eq!(store.tenants().expect("tenants"), Vec::<TenantId>::new());
}

/// 8 threads appending at once (single records and batches, two tenants) leave each tenant
/// with a gapless seq and an intact chain, and every receipt names a stored record.
pub fn concurrent_appends_stay_gapless_and_chained(store: &dyn Subject) {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 40;
    let receipts: Vec<(TenantId, Receipt)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    let (log, _) = preparer();
                    let tenant = TenantId::new(if t % 2 == 0 { "even" } else { "odd" });
                    let mut out = Vec::new();
                    let mut i = 0;
                    while i < PER_THREAD {
                        let n = if i % 10 == 0 { 3 } else { 1 };
                        let entries = (0..n)
                            .map(|k| {
                                Entry::new(
                                    Actor::service(format!("t{t}")),
                                    Event::user_deleted(EntityRef::id_only(t * 1000 + i + k)),
                                )
                                .tenant(tenant.clone())
                            })
                            .collect();
                        for r in store
                            .append(prep(&log, entries))
                            .expect("concurrent append")
                        {
                            out.push((tenant.clone(), r));
                        }
                        i += n;
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("appender thread"))
            .collect()
    });
    for tenant in ["even", "odd"] {
        let tenant = TenantId::new(tenant);
        let mine: BTreeSet<u64> = receipts
            .iter()
            .filter(|(t, _)| *t == tenant)
            .map(|(_, r)| r.seq)
            .collect();
        let n = mine.len() as u64;
        assert_eq!(mine, (1..=n).collect(), "receipts of {tenant} are 1..={n}");
        assert_eq!(
            seqs(store, &Query::for_tenant(tenant.clone())),
            (1..=n).collect::<Vec<_>>()
        );
        let report = chain::verify(store, &tenant).expect("verify");
        assert!(report.is_intact(), "{report}");
        assert_eq!(report.count, n);
    }
}

/// A query for one tenant never yields another's records; heads and tenants are per tenant.
pub fn tenants_are_isolated(store: &dyn Subject) {
    let (log, _) = preparer();
    let a = Actor::system();
    for (tenant, n) in [("acme", 3), ("globex", 2)] {
        for i in 0..n {
            append_one(
                store,
                &log,
                Entry::new(a.clone(), Event::user_deleted(EntityRef::id_only(i))).tenant(tenant),
            );
        }
    }
    let acme = all(store, &Query::for_tenant("acme"));
    assert_eq!(acme.len(), 3);
    assert!(acme.iter().all(|r| r.tenant.as_str() == "acme"));
    let globex = all(
        store,
        &Query::for_tenant("globex").entity(EntityKey::user(0)),
    );
    assert_eq!(globex.len(), 1);
    assert_eq!(globex[0].tenant.as_str(), "globex");
    assert!(
        all(store, &Query::new()).is_empty(),
        "default tenant is empty"
    );
    assert!(all(store, &Query::for_tenant("acme' OR '1'='1")).is_empty());
    assert_eq!(
        store.tenants().expect("tenants"),
        vec![TenantId::new("acme"), TenantId::new("globex")]
    );
    assert_eq!(
        store
            .head(&TenantId::new("globex"))
            .expect("head")
            .map(|h| h.seq),
        Some(2)
    );
    assert_ne!(
        acme[0].hash,
        all(store, &Query::for_tenant("globex"))[0].hash
    );
}

/// Time range, actors, exact and family event names, entity in every role, outcome, cursor in
/// both orders, `through_seq`, limit: each returns exactly what [`Query::matches`] says.
pub fn every_query_filter(store: &dyn Subject) {
    let (log, clock) = preparer();
    let root = Actor::user(1, "root");
    let bot = Actor::service("sync-bot");
    let mut expected_events = Vec::new();
    for (i, e) in sample_events().into_iter().enumerate() {
        clock.advance(Duration::minutes(1));
        let actor = if i % 3 == 0 {
            bot.clone()
        } else {
            root.clone()
        };
        let outcome = if i % 5 == 4 {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        expected_events.push(e.clone());
        append_one(store, &log, Entry::new(actor, e).outcome(outcome));
    }
    let everything = all(store, &Query::new());
    let n = everything.len() as u64;
    let check = |q: Query, what: &str| {
        let want: Vec<u64> = {
            let mut v: Vec<u64> = everything
                .iter()
                .filter(|r| q.matches(r))
                .map(|r| r.seq)
                .collect();
            if q.order == crate::Order::Descending {
                v.reverse();
            }
            v.truncate(q.limit.unwrap_or(usize::MAX));
            v
        };
        let got = seqs(store, &q);
        assert_eq!(got, want, "filter: {what}");
        got
    };
    let t = |mins: i64| t0() + Duration::minutes(mins);
    assert_eq!(
        check(Query::new().since(t(3)).until(t(6)), "time range"),
        vec![3, 4, 5]
    );
    assert_eq!(check(Query::new().actor("sync-bot"), "actor").len(), 7);
    check(Query::new().actor("sync-bot").actor("1"), "two actors");
    assert_eq!(
        check(Query::new().actor("nobody"), "unknown actor"),
        Vec::<u64>::new()
    );
    assert_eq!(
        check(Query::new().event("user.deleted"), "exact event"),
        vec![3]
    );
    assert_eq!(
        check(Query::new().event("user.*"), "family"),
        vec![1, 2, 3, 4, 5]
    );
    check(
        Query::new().event("user.*").event("workspace.*"),
        "two families",
    );
    assert_eq!(
        check(Query::new().event("billing.*"), "custom family"),
        vec![21]
    );
    assert_eq!(check(Query::new().event("*"), "any").len() as u64, n);
    assert_eq!(
        check(Query::new().event("user"), "no partial names"),
        Vec::<u64>::new()
    );
    let ops = check(
        Query::new().entity(EntityKey::group("g-ops")),
        "group as target or related",
    );
    assert!(ops.contains(&4) && ops.contains(&6) && ops.contains(&19));
    assert_eq!(
        check(
            Query::new().entity(EntityKey::new(EntityKind::Other("group".into()), "g-ops")),
            "a built-in kind spelt as a custom one",
        ),
        ops
    );
    let admins = check(
        Query::new().entity(EntityKey::group("g-admins")),
        "parent group",
    );
    assert_eq!(admins, vec![9, 10]);
    let payroll = check(
        Query::new().entity(EntityKey::application(3)),
        "app as target or scope",
    );
    assert!(payroll.contains(&11) && payroll.contains(&17) && payroll.contains(&20));
    check(
        Query::new().entity(EntityKey::permission_group(9)),
        "permission group",
    );
    check(
        Query::new().entity(EntityKey::new(EntityKind::Other("invoice".into()), 7)),
        "custom kind",
    );
    assert_eq!(
        check(
            Query::new().entity(EntityKey::user(3)),
            "same id, other kind"
        ),
        Vec::<u64>::new()
    );
    check(Query::new().outcome(Outcome::Failure), "outcome");
    assert_eq!(
        check(Query::new().after_seq(18), "cursor asc"),
        vec![19, 20, 21]
    );
    assert_eq!(
        check(Query::new().descending().limit(3), "desc limit"),
        vec![21, 20, 19]
    );
    assert_eq!(
        check(Query::new().descending().after_seq(3), "cursor desc"),
        vec![2, 1]
    );
    assert_eq!(check(Query::new().through_seq(2), "through"), vec![1, 2]);
    assert_eq!(
        check(Query::new().descending().through_seq(2), "through desc"),
        vec![2, 1]
    );
    check(
        Query::new()
            .event("permission.*")
            .entity(EntityKey::user(42))
            .actor("1")
            .since(t(2))
            .descending()
            .limit(2),
        "combined",
    );
    assert_eq!(check(Query::new().limit(0), "limit 0"), Vec::<u64>::new());
    for hostile in [
        "'; DROP TABLE records; --",
        "\"",
        "%",
        "_",
        "\\",
        "user.%",
        "a\u{0}b",
    ] {
        check(Query::new().actor(hostile), "hostile actor");
        check(Query::new().event(hostile), "hostile event");
        check(
            Query::new().entity(EntityKey::user(hostile)),
            "hostile entity",
        );
        check(Query::new().tenant(hostile), "hostile tenant");
    }
    check(Query::new().actor("x".repeat(1 << 20)), "1 MB filter");
    assert_eq!(
        all(store, &Query::new()).len() as u64,
        n,
        "nothing was harmed"
    );
    assert_eq!(
        store
            .count(&Query::new().event("user.*"))
            .expect("count")
            .unwrap_or(5),
        5
    );
}

/// The context fields an investigator follows (request id, correlation id, client IP) filter
/// exactly as [`Query::matches`] says, several values each, with other filters and in both
/// orders; and a query bounded by the extreme times chrono represents is answered (every
/// record, or none), never an error, on every store.
pub fn context_filters_and_extreme_times(store: &dyn Subject) {
    let (log, clock) = preparer();
    let v4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));
    let v6: IpAddr = "2001:db8::7".parse().expect("an address");
    for i in 0..24u64 {
        clock.advance(Duration::minutes(1));
        {
            let mut ctx = Context::new();
            if i % 4 != 3 {
                ctx = ctx.request_id(format!("req-{}", i % 3));
            }
            if i % 2 == 0 {
                ctx = ctx.correlation_id(format!("job-{}", i % 4));
            }
            match i % 3 {
                0 => ctx = ctx.ip(v4),
                1 => ctx = ctx.ip(v6),
                _ => {}
            }
            let actor = if i % 5 == 0 {
                Actor::service("sync")
            } else {
                Actor::user(1, "root")
            };
            append_one(
                store,
                &log,
                Entry::new(actor, Event::user_deleted(EntityRef::id_only(i))).context(ctx),
            );
        }
    }
    let everything = all(store, &Query::new());
    let check = |q: Query, what: &str| -> Vec<u64> {
        let mut want: Vec<u64> = everything
            .iter()
            .filter(|r| q.matches(r))
            .map(|r| r.seq)
            .collect();
        if q.order == crate::Order::Descending {
            want.reverse();
        }
        want.truncate(q.limit.unwrap_or(usize::MAX));
        let got = seqs(store, &q);
        assert_eq!(got, want, "filter: {what}");
        if let Some(n) = store.count(&q.clone().limit(usize::MAX)).expect("count") {
            let all_matches = everything.iter().filter(|r| q.matches(r)).count();
            assert_eq!(n as usize, all_matches, "count: {what}");
        }
        got
    };
    assert_eq!(
        check(Query::new().request_id("req-1"), "request id").len(),
        6
    );
    assert_eq!(
        check(
            Query::new().request_id("req-1").request_id("req-2"),
            "two request ids"
        )
        .len(),
        12
    );
    assert_eq!(
        check(Query::new().request_id("req-9"), "unknown request id"),
        Vec::<u64>::new()
    );
    assert_eq!(
        check(Query::new().correlation_id("job-2"), "correlation id").len(),
        6
    );
    assert_eq!(check(Query::new().ip(v4), "IPv4").len(), 8);
    assert_eq!(check(Query::new().ip(v6).ip(v4), "two addresses").len(), 16);
    check(
        Query::new()
            .request_id("req-0")
            .ip(v4)
            .actor("1")
            .descending()
            .limit(2),
        "request id, IP and actor, newest first",
    );
    check(
        Query::new().correlation_id("job-0").request_id("req-0"),
        "correlation and request id",
    );
    for hostile in ["'; DROP TABLE records; --", "%", "a\u{0}b"] {
        check(Query::new().request_id(hostile), "hostile request id");
        check(
            Query::new().correlation_id(hostile),
            "hostile correlation id",
        );
    }

    let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
    let n = everything.len();
    assert_eq!(
        check(Query::new().since(min), "since the first instant").len(),
        n
    );
    assert_eq!(
        check(Query::new().until(max), "until the last instant").len(),
        n
    );
    assert_eq!(
        check(Query::new().since(min).until(max), "the whole of time").len(),
        n
    );
    assert_eq!(
        check(Query::new().since(max), "since the last instant"),
        Vec::<u64>::new()
    );
    assert_eq!(
        check(Query::new().until(min), "until the first instant"),
        Vec::<u64>::new()
    );
    assert_eq!(
        check(
            Query::new().since(min).until(t0() + Duration::minutes(3)),
            "an open start"
        )
        .len(),
        2
    );
}

/// Paging with a cursor visits every record once, in both orders.
pub fn cursor_pagination(store: &dyn Subject) {
    let (log, _) = preparer();
    let entries = (0..25)
        .map(|i| Entry::new(Actor::system(), Event::user_deleted(EntityRef::id_only(i))))
        .collect();
    store.append(prep(&log, entries)).expect("append");
    for desc in [false, true] {
        let mut q = Query::new().limit(10);
        if desc {
            q = q.descending();
        }
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = store.page(&q).expect("page");
            pages += 1;
            seen.extend(page.records.iter().map(|r| r.seq));
            match page.next_cursor {
                Some(c) => q = q.after_seq(c),
                None => break,
            }
        }
        let mut want: Vec<u64> = (1..=25).collect();
        if desc {
            want.reverse();
        }
        assert_eq!(
            seen, want,
            "pages cover the trail once (descending: {desc})"
        );
        assert_eq!(pages, 3);
    }
}

/// A record whose event this version does not know is stored, read back with its raw JSON,
/// matched by name, and verified.
pub fn unknown_events_pass_through(store: &dyn Subject) {
    let (log, _) = preparer();
    let mut p = prep(
        &log,
        vec![Entry::new(
            Actor::system(),
            Event::user_deleted(EntityRef::id_only(1)),
        )],
    );
    let raw = json!({"event": "user.suspended", "user": {"id": "1"}, "until": "2030-01-01"});
    let unknown = Event::from_value(raw.clone()).expect("an object with an event key");
    p[0] = p[0].clone().with_event_for_tests(unknown.clone());
    store.append(p).expect("append");
    append_one(
        store,
        &log,
        Entry::new(Actor::system(), Event::user_deleted(EntityRef::id_only(2))),
    );
    let recs = all(store, &Query::new());
    assert_eq!(
        recs.len(),
        2,
        "the unknown record does not hide the next one"
    );
    assert_eq!(recs[0].event, unknown);
    assert_eq!(recs[0].event.to_value(), raw);
    assert_eq!(seqs(store, &Query::new().event("user.suspended")), vec![1]);
    assert_eq!(seqs(store, &Query::new().event("user.*")), vec![1, 2]);
    assert!(chain::verify(store, &TenantId::default())
        .expect("verify")
        .is_intact());
}

/// A clean trail verifies; a checkpoint taken earlier still verifies after more appends; a
/// checkpoint for another algorithm is refused.
pub fn verify_and_checkpoints(store: &dyn Subject) {
    let tenant = TenantId::default();
    let empty = chain::verify(store, &tenant).expect("verify empty");
    assert!(empty.is_intact());
    assert_eq!((empty.count, empty.head), (0, None));
    let (log, _) = preparer();
    for i in 0..5 {
        append_one(
            store,
            &log,
            Entry::new(Actor::system(), Event::user_deleted(EntityRef::id_only(i))),
        );
    }
    let cp = Checkpoint::current(store, &tenant)
        .expect("checkpoint")
        .expect("non-empty");
    assert_eq!(cp.seq, 5);
    let cp = Checkpoint::from_json(&cp.to_json()).expect("checkpoint json");
    for i in 0..3 {
        append_one(
            store,
            &log,
            Entry::new(Actor::system(), Event::user_deleted(EntityRef::id_only(i))),
        );
    }
    let report = chain::verify_against(store, &cp).expect("verify against");
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.count, 8);
    assert_eq!(report.head.map(|h| h.seq), Some(8));
    let forged = Checkpoint {
        hash: crate::Digest([1; 32]),
        ..cp.clone()
    };
    let report = chain::verify_against(store, &forged).expect("verify against");
    assert_eq!(
        report.first_break.map(|b| (b.seq, b.reason)),
        Some((5, BreakReason::Diverged))
    );
    let other = match cp.chain {
        crate::ChainAlgorithm::Sha256 => crate::ChainAlgorithm::Blake3,
        _ => crate::ChainAlgorithm::Sha256,
    };
    let wrong = Checkpoint { chain: other, ..cp };
    assert!(matches!(
        chain::verify_against(store, &wrong),
        Err(Error::Verification(_))
    ));
}

/// Altering, deleting or swapping records breaks the chain at the first bad seq; truncating
/// the tail is caught by a checkpoint.
pub fn tampering_is_detected<H: Harness>(h: &H) {
    let tenant = TenantId::default();
    let setup = || {
        let store = h.fresh();
        let (log, _) = preparer();
        let entries = (1..=10)
            .map(|i| {
                Entry::new(
                    Actor::user(1, "root"),
                    Event::user_deleted(EntityRef::id_only(i)),
                )
            })
            .collect();
        store.append(prep(&log, entries)).expect("append");
        store
    };
    let cases = [
        (Tamper::Alter { seq: 4 }, 4, BreakReason::Altered),
        (
            Tamper::Delete { seq: 6 },
            6,
            BreakReason::Missing { found: 7 },
        ),
        (Tamper::Swap { a: 3, b: 8 }, 3, BreakReason::Altered),
        (
            Tamper::Delete { seq: 1 },
            1,
            BreakReason::Missing { found: 2 },
        ),
    ];
    for (op, seq, reason) in cases {
        let store = setup();
        if !h.tamper(&store, &tenant, op) {
            return;
        }
        let report = chain::verify(&store, &tenant).expect("verify");
        let b = report
            .first_break
            .unwrap_or_else(|| panic!("{op:?} went unnoticed"));
        assert_eq!((b.seq, b.reason), (seq, reason), "{op:?}");
    }
    let store = setup();
    let cp = Checkpoint::current(&store, &tenant)
        .expect("cp")
        .expect("non-empty");
    assert!(h.tamper(&store, &tenant, Tamper::Truncate { from: 8 }));
    let plain = chain::verify(&store, &tenant).expect("verify");
    assert!(
        plain.is_intact(),
        "a truncated tail is a valid shorter chain"
    );
    let report = chain::verify_against(&store, &cp).expect("verify against");
    assert_eq!(
        report.first_break.map(|b| (b.seq, b.reason)),
        Some((8, BreakReason::Truncated { checkpoint_seq: 10 }))
    );
}

/// Records sealed by another store import byte for byte (same seq, hashes, content) and
/// verify; a record that does not continue the trail is refused with its index and nothing of
/// the batch is written; a trail starting after a purge point imports into an empty tenant and
/// verifies from its anchor.
pub fn sealed_records_import_exactly(store: &dyn Subject) {
    let source = crate::MemorySink::with_algorithm(store.chain_algorithm());
    let (log, clock) = preparer();
    let mut entries = Vec::new();
    for (i, e) in sample_events().into_iter().enumerate() {
        clock.advance(Duration::seconds(1));
        let tenant = if i % 4 == 0 { "t2" } else { "t1" };
        entries.push(Entry::new(Actor::user(1, "root"), e).tenant(tenant));
    }
    source.append(prep(&log, entries)).expect("source append");
    for tenant in ["t1", "t2"] {
        let records = all(&source, &Query::for_tenant(tenant));
        let (first, rest) = records.split_at(3);

        let mut altered = rest.to_vec();
        altered[1].actor.display = Some("mallory".into());
        store
            .append_sealed(first.to_vec())
            .expect("import first part");
        match store.append_sealed(altered) {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "records[1]"),
            other => panic!("an altered record must be refused, got {other:?}"),
        }
        match store.append_sealed(rest[1..].to_vec()) {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "records[0]"),
            other => panic!("a gap must be refused, got {other:?}"),
        }
        assert_eq!(
            store
                .head(&TenantId::new(tenant))
                .expect("head")
                .map(|h| h.seq),
            Some(3),
            "refused batches wrote nothing"
        );
        let receipts = store.append_sealed(rest.to_vec()).expect("import the rest");
        assert_eq!(receipts.len(), rest.len());
        assert_eq!(
            all(store, &Query::for_tenant(tenant)),
            records,
            "identical records"
        );
        assert!(chain::verify(store, &TenantId::new(tenant))
            .expect("verify")
            .is_intact());
    }
    // A trail whose first 5 records were purged: imports into an empty tenant, anchored.
    let tail: Vec<Record> = all(&source, &Query::for_tenant("t1"))
        .into_iter()
        .skip(5)
        .map(|mut r| {
            r.tenant = TenantId::new("t3");
            r
        })
        .collect();
    // Moving records to another tenant changes their content, so re-seal them there; the
    // purge that removed the first 5 is on record in what remains.
    let mut resealed = reseal(tail.clone(), store.chain_algorithm(), 5);
    let purged = purge_record_after(&resealed, "t3", 5, store.chain_algorithm());
    resealed.push(purged);
    store
        .append_sealed(resealed.clone())
        .expect("import after a purge point");
    let anchor = store.anchor(&TenantId::new("t3")).expect("anchor");
    assert_eq!((anchor.seq, anchor.hash), (5, resealed[0].prev_hash));
    let report = chain::verify(store, &TenantId::new("t3")).expect("verify");
    assert!(report.is_intact(), "{report}");

    // The same tail without the purge record: nothing accounts for the missing prefix.
    let unaccounted: Vec<Record> = reseal(tail, store.chain_algorithm(), 5)
        .into_iter()
        .map(|mut r| {
            r.tenant = TenantId::new("t4");
            r
        })
        .collect();
    let unaccounted = reseal(unaccounted, store.chain_algorithm(), 5);
    store
        .append_sealed(unaccounted)
        .expect("an import may start after a purge point");
    let report = chain::verify(store, &TenantId::new("t4")).expect("verify");
    assert!(!report.is_intact());
    assert_eq!(
        report.first_break.map(|b| (b.seq, b.reason)),
        Some((6, BreakReason::UnaccountedStart { anchor_seq: 5 })),
        "a trail starting after seq 5 with no audit.purged record for it"
    );
}

/// The `audit.purged` record of a purge through `through` (whose hash is `records[0]`'s
/// `prev_hash`), sealed after the last of `records` in `tenant`.
fn purge_record_after(
    records: &[Record],
    tenant: &str,
    through: u64,
    algorithm: crate::ChainAlgorithm,
) -> Record {
    let (log, _) = preparer();
    let anchor_hash = records.first().map_or(crate::Digest::ZERO, |r| r.prev_hash);
    let last = records.last().map_or(
        crate::record::Head {
            seq: through,
            hash: anchor_hash,
        },
        |r| crate::record::Head {
            seq: r.seq,
            hash: r.hash,
        },
    );
    log.prepare_store_event(
        Entry::new(
            Actor::service("retention"),
            Event::AuditPurged(AuditPurged {
                through_seq: through,
                anchor_hash,
                count: through,
                before: None,
                state: None,
            }),
        )
        .tenant(tenant),
    )
    .expect("prepared")
    .seal(algorithm, last.seq + 1, last.hash)
}

/// Renumbers records from `after + 1` on and rebuilds their chain from a made-up anchor.
fn reseal(records: Vec<Record>, algorithm: crate::ChainAlgorithm, after: u64) -> Vec<Record> {
    let mut prev = crate::Digest([9; 32]);
    records
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            r.seq = after + 1 + i as u64;
            r.chain = algorithm;
            r.prev_hash = prev;
            r.hash = chain::compute_hash(&r);
            prev = r.hash;
            r
        })
        .collect()
}
