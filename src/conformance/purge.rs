//! Checks of a store's retention purge, for stores that offer one: the same semantics in
//! every store (what is removed, what is recorded, where the chain then starts, who waits).
//!
//! The checks run on any store with the [`Retention`] capability, through
//! [`RetentionExt::purge`]: `conformance::purge::run_all(&harness)`. Checks that need the
//! store's raw access (the append-only triggers) stay in the store's own tests.

use std::collections::BTreeSet;

use chrono::Duration;

use super::Subject;
use super::{all, append_one, prep, preparer, seqs, t0, Harness};
use crate::chain::{self, Checkpoint};
use crate::error::Result;
use crate::event::{EntityKey, EntityRef, Event};
use crate::prepare::Entry;
use crate::prepare::Preparer;
use crate::purge::RetentionExt;
use crate::query::Query;
use crate::record::{Actor, Outcome, Receipt, Record, TenantId};
use crate::sink::{AuditStore, PurgePlan, PurgePoint, PurgeReport, Retention};
use crate::store_ext::AuditStoreExt;

/// Runs every purge check, each on a fresh store.
pub fn run_all<H>(h: &H)
where
    H: Harness,
    H::Store: Retention,
{
    purge_removes_a_prefix_on_record(&h.fresh());
    purge_keeps_one_chain_with_concurrent_appends(&h.fresh());
    purge_records_with_the_callers_clock(&h.fresh());
    purge_refuses_a_stale_plan(&h.fresh());
    purge_never_removes_the_evidence(h);
    purged_answers_are_the_answers_before(&h.fresh());
    a_purge_that_kept_no_state_is_never_an_empty_state(h);
}

/// A purge checks what it would remove first: a prefix holding an altered record is not
/// purged (that would remove the evidence with it), and nothing changes; a purge that stops
/// before the altered record goes ahead.
pub fn purge_never_removes_the_evidence<H: Harness>(h: &H)
where
    H::Store: Retention,
{
    let store = h.fresh();
    let tenant = TenantId::default();
    fill(&store, &tenant, 10);
    if !h.tamper(&store, &tenant, super::Tamper::Alter { seq: 4 }) {
        return;
    }
    let refused = purge(&store, &tenant, PurgePoint::ThroughSeq(6), &retention());
    assert!(
        matches!(&refused, Err(crate::Error::Verification(why)) if why.contains("seq 4")),
        "a purge over an altered record: {refused:?}"
    );
    assert_eq!(store.anchor(&tenant).expect("anchor").seq, 0);
    assert_eq!(seqs(&store, &Query::for_tenant(tenant.clone())).len(), 10);
    let report = purge(&store, &tenant, PurgePoint::ThroughSeq(3), &retention())
        .expect("a purge that stops before the altered record");
    assert_eq!(report.removed, 3);
    let v = store.verify(&tenant).expect("verify");
    assert_eq!(
        v.first_break.map(|b| b.seq),
        Some(4),
        "the evidence is still there"
    );
}

/// A purge by the suite, stamped on the system clock (after every record the suite made).
fn purge<S: Retention>(
    store: &S,
    tenant: &TenantId,
    point: PurgePoint,
    actor: &Actor,
) -> Result<PurgeReport> {
    store.purge(&Preparer::new(), tenant, point, actor)
}

fn retention() -> Actor {
    Actor::service("retention")
}

/// Records `n` deletions of users 1..=n into `tenant`, a minute apart from `t0 + 1 min`.
fn fill(store: &dyn Subject, tenant: &TenantId, n: u64) -> Vec<Receipt> {
    let (log, clock) = preparer();
    (1..=n)
        .map(|i| {
            clock.advance(Duration::minutes(1));
            append_one(
                store,
                &log,
                Entry::new(
                    Actor::service("app"),
                    Event::user_deleted(EntityRef::id_only(i)),
                )
                .tenant(tenant.clone()),
            )
        })
        .collect()
}

fn record_at(store: &dyn Subject, tenant: &TenantId, seq: u64) -> Record {
    store
        .get(tenant, seq)
        .expect("get")
        .unwrap_or_else(|| panic!("seq {seq} of {tenant} is stored"))
}

/// Purging by time and by seq removes exactly a prefix, moves the anchor, records
/// `audit.purged` by the given actor at the next seq, and leaves a trail that verifies (also
/// against a checkpoint older than the purge); a point at or before the anchor does nothing;
/// a point past the head stops at the head; other tenants are untouched; appends go on after.
pub fn purge_removes_a_prefix_on_record<S: Subject + Retention>(store: &S) {
    let tenant = TenantId::new("acme:eu");
    let other = TenantId::new("acme");
    fill(store, &tenant, 20);
    let others = fill(store, &other, 5);
    let early = record_at(store, &tenant, 5).checkpoint();
    let hash10 = record_at(store, &tenant, 10).hash;

    // Nothing to do: a tenant without records, a point before the first record.
    let empty = purge(
        store,
        &TenantId::new("nobody"),
        PurgePoint::ThroughSeq(5),
        &retention(),
    )
    .expect("purge of an empty tenant");
    assert_eq!(
        (empty.removed, empty.anchor.seq, empty.receipt),
        (0, 0, None)
    );
    let none = purge(store, &tenant, PurgePoint::Before(t0()), &retention())
        .expect("purge before everything");
    assert_eq!((none.removed, none.anchor.seq, none.receipt), (0, 0, None));
    let zero = purge(store, &tenant, PurgePoint::ThroughSeq(0), &retention()).expect("purge 0");
    assert_eq!((zero.removed, zero.receipt), (0, None));
    assert_eq!(store.head(&tenant).expect("head").map(|h| h.seq), Some(20));

    // Record i occurred at t0 + i min: before t0 + 10.5 min are seqs 1..=10.
    let before = t0() + Duration::seconds(630);
    let report = purge(store, &tenant, PurgePoint::Before(before), &retention()).expect("purge");
    assert_eq!(report.tenant, tenant);
    assert_eq!(report.removed, 10);
    assert_eq!((report.anchor.seq, report.anchor.hash), (10, hash10));
    let receipt = report
        .receipt
        .expect("a purge that removed records is on record");
    assert_eq!(receipt.seq, 21, "the purge record follows the old head");
    assert_eq!(store.anchor(&tenant).expect("anchor"), report.anchor);
    assert_eq!(
        seqs(store, &Query::for_tenant(tenant.clone())),
        (11..=21).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(
            store,
            &Query::for_tenant(tenant.clone()).entity(EntityKey::user(3))
        ),
        Vec::<u64>::new(),
        "entity timelines lose the purged records too"
    );
    assert_eq!(
        seqs(
            store,
            &Query::for_tenant(tenant.clone()).entity(EntityKey::user(11))
        ),
        vec![11]
    );
    let purged = record_at(store, &tenant, 21);
    assert_eq!((purged.id, purged.hash), (receipt.id, receipt.hash));
    assert_eq!(purged.actor, retention());
    match &purged.event {
        Event::AuditPurged(p) => {
            assert_eq!((p.through_seq, p.anchor_hash, p.count), (10, hash10, 10));
            assert_eq!(p.before, Some(before));
        }
        other => panic!("expected audit.purged, got {other:?}"),
    }
    assert_eq!(
        all(
            store,
            &Query::for_tenant(tenant.clone()).event("audit.purged")
        )
        .iter()
        .map(|r| r.seq)
        .collect::<Vec<_>>(),
        vec![21],
        "the purge record is found by its event name"
    );
    let v = store.verify(&tenant).expect("verify");
    assert!(v.is_intact(), "{v}");
    assert_eq!(v.count, 11);
    let older = chain::verify_against(store, &early).expect("verify against");
    assert!(
        older.is_intact(),
        "a checkpoint older than the purge point: {older}"
    );
    let current = Checkpoint::current(store, &tenant)
        .expect("checkpoint")
        .expect("a head");
    assert_eq!(current.seq, 21);

    // The same point again (and any point before it) removes and records nothing.
    let again = purge(store, &tenant, PurgePoint::ThroughSeq(10), &retention()).expect("again");
    assert_eq!(
        (again.removed, again.anchor, again.receipt),
        (0, report.anchor, None)
    );
    let again = purge(store, &tenant, PurgePoint::Before(before), &retention()).expect("again");
    assert_eq!((again.removed, again.receipt), (0, None));
    assert_eq!(store.head(&tenant).expect("head").map(|h| h.seq), Some(21));

    // By seq, then past the head: the trail then holds only the last purge record.
    let by_seq = purge(store, &tenant, PurgePoint::ThroughSeq(15), &retention()).expect("seq");
    assert_eq!((by_seq.removed, by_seq.anchor.seq), (5, 15));
    assert_eq!(by_seq.receipt.map(|r| r.seq), Some(22));
    let everything =
        purge(store, &tenant, PurgePoint::ThroughSeq(1_000), &retention()).expect("clamped");
    assert_eq!((everything.removed, everything.anchor.seq), (7, 22));
    assert_eq!(everything.receipt.map(|r| r.seq), Some(23));
    assert_eq!(seqs(store, &Query::for_tenant(tenant.clone())), vec![23]);
    assert!(store.verify(&tenant).expect("verify").is_intact());
    assert!(chain::verify_against(store, &current)
        .expect("verify against")
        .is_intact());
    assert!(
        store.tenants().expect("tenants").contains(&tenant),
        "a tenant holding its purge record is listed"
    );

    // Appends continue the chain from the purge record.
    let (log, _) = preparer();
    let next = append_one(
        store,
        &log,
        Entry::new(
            Actor::service("app"),
            Event::user_deleted(EntityRef::id_only(99)),
        )
        .tenant(tenant.clone()),
    );
    assert_eq!(next.seq, 24);
    let v = store.verify(&tenant).expect("verify");
    assert!(v.is_intact(), "{v}");
    assert_eq!(v.count, 2);

    // The other tenant is untouched.
    assert_eq!(
        seqs(store, &Query::for_tenant(other.clone())),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(store.anchor(&other).expect("anchor").seq, 0);
    assert_eq!(
        store.head(&other).expect("head").map(|h| h.hash),
        others.last().map(|r| r.hash)
    );
    assert!(store.verify(&other).expect("verify").is_intact());
}

/// Purges while 4 threads append to the same tenant: every append and every purge record
/// takes the next seq, nothing is lost or duplicated, and the chain stays intact.
pub fn purge_keeps_one_chain_with_concurrent_appends<S: Subject + Retention>(store: &S) {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 50;
    let tenant = TenantId::default();
    fill(store, &tenant, 20);
    let (appended, reports) = std::thread::scope(|s| {
        let appenders: Vec<_> = (0..THREADS)
            .map(|t| {
                let tenant = &tenant;
                s.spawn(move || {
                    let (log, _) = preparer();
                    (0..PER_THREAD)
                        .map(|i| {
                            let entry = Entry::new(
                                Actor::service(format!("t{t}")),
                                Event::user_deleted(EntityRef::id_only(t * 1000 + i)),
                            )
                            .tenant(tenant.clone());
                            let mut r = store
                                .append(prep(&log, vec![entry]))
                                .expect("append during a purge");
                            r.remove(0).seq
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        // Purge as long as the appenders run, so purges and appends interleave.
        let mut reports = Vec::new();
        while reports.len() < 3 || !appenders.iter().all(|h| h.is_finished()) {
            let head = store.head(&tenant).expect("head").map_or(0, |h| h.seq);
            reports.push(
                purge(
                    store,
                    &tenant,
                    PurgePoint::ThroughSeq(head.saturating_sub(3)),
                    &retention(),
                )
                .expect("purge during appends"),
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let appended: Vec<u64> = appenders
            .into_iter()
            .flat_map(|h| h.join().expect("appender thread"))
            .collect();
        (appended, reports)
    });
    let head = store.head(&tenant).expect("head").expect("a head").seq;
    let purge_seqs: Vec<u64> = reports
        .iter()
        .filter_map(|r| r.receipt.as_ref().map(|r| r.seq))
        .collect();
    let mut taken: BTreeSet<u64> = appended.iter().copied().collect();
    assert_eq!(taken.len(), appended.len(), "no seq handed out twice");
    for s in &purge_seqs {
        assert!(
            taken.insert(*s),
            "purge record at {s} shares a seq with an append"
        );
    }
    assert_eq!(
        taken,
        (21..=head).collect(),
        "appends and purge records share one gapless sequence"
    );
    let anchor = store.anchor(&tenant).expect("anchor");
    let last = reports
        .iter()
        .rev()
        .find(|r| r.removed > 0)
        .expect("a purge removed something");
    assert_eq!(anchor, last.anchor);
    assert_eq!(
        seqs(store, &Query::for_tenant(tenant.clone())),
        (anchor.seq + 1..=head).collect::<Vec<_>>()
    );
    let removed: u64 = reports.iter().map(|r| r.removed).sum();
    assert_eq!(
        removed, anchor.seq,
        "every seq up to the anchor was removed once"
    );
    let v = store.verify(&tenant).expect("verify");
    assert!(v.is_intact(), "{v}");
    assert_eq!(v.count, head - anchor.seq);
}

/// The `audit.purged` record is stamped by the preparer the caller passes: a host's injected
/// clock gives its time, as it does for every record the host makes.
pub fn purge_records_with_the_callers_clock<S: Subject + Retention>(store: &S) {
    let tenant = TenantId::default();
    fill(store, &tenant, 5);
    let at = t0() + Duration::days(400);
    let clock = crate::prepare::ManualClock::new(at);
    let report = store
        .purge(
            &Preparer::new().clock(clock),
            &tenant,
            PurgePoint::ThroughSeq(3),
            &retention(),
        )
        .expect("purge");
    let receipt = report.receipt.expect("on record");
    assert_eq!(record_at(store, &tenant, receipt.seq).occurred_at, at);
}

/// A store refuses a plan made before another purge moved the anchor, and one whose purge
/// point does not hold the hash the planner saw; nothing is removed either way.
pub fn purge_refuses_a_stale_plan<S: Subject + Retention>(store: &S) {
    let tenant = TenantId::default();
    let receipts = fill(store, &tenant, 10);
    let anchor = store.anchor(&tenant).expect("anchor");
    let (log, _) = preparer();
    let plan = |through: u64, hash| PurgePlan {
        tenant: tenant.clone(),
        anchor,
        through: crate::record::Head { seq: through, hash },
        record: log
            .prepare_store_event(
                Entry::new(
                    retention(),
                    Event::AuditPurged(crate::event::AuditPurged {
                        through_seq: through,
                        anchor_hash: hash,
                        count: through,
                        before: None,
                        state: None,
                    }),
                )
                .tenant(tenant.clone()),
            )
            .expect("prepared"),
    };
    let wrong = store.remove_prefix(plan(4, receipts[2].hash));
    assert!(
        matches!(wrong, Err(crate::Error::InvalidInput { .. })),
        "a plan with another hash at its purge point: {wrong:?}"
    );
    assert_eq!(seqs(store, &Query::for_tenant(tenant.clone())).len(), 10);
    store
        .remove_prefix(plan(2, receipts[1].hash))
        .expect("a plan that holds");
    let stale = store.remove_prefix(plan(4, receipts[3].hash));
    assert!(
        matches!(stale, Err(crate::Error::Busy { .. })),
        "a plan made before the anchor moved: {stale:?}"
    );
    assert_eq!(store.anchor(&tenant).expect("anchor").seq, 2);
    assert!(store.verify(&tenant).expect("verify").is_intact());
}

/// A small xorshift generator: the same trail from the same seed, on every store.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// How many users [`generated_organisation`] names (`u0` ..).
pub const GENERATED_USERS: usize = 8;
const GROUPS: usize = 6;
const APPS: usize = 3;
const WORKSPACES: usize = 2;
const PERMISSION_GROUPS: usize = 6;

/// Every entity [`generated_organisation`] can name: users, groups, applications,
/// workspaces and permission groups, by key.
pub fn generated_entities() -> Vec<EntityKey> {
    let mut out = Vec::new();
    out.extend((0..GENERATED_USERS).map(|i| EntityKey::user(format!("u{i}"))));
    out.extend((0..GROUPS).map(|i| EntityKey::group(format!("g{i}"))));
    out.extend((0..APPS).map(|i| EntityKey::application(format!("a{i}"))));
    out.extend((0..WORKSPACES).map(|i| EntityKey::workspace(format!("w{i}"))));
    out.extend((0..PERMISSION_GROUPS).map(|i| EntityKey::permission_group(format!("p{i}"))));
    out
}

/// A generated organisation in the default tenant: workspaces, applications, nested groups
/// (g0 in g1 in g2, g3 in g4), users in groups, permission groups at all three scopes held
/// directly and through nested groups (47 records), then `changes` random changes drawn
/// from `seed` that delete and re-create every kind of entity with the same ids, join and
/// leave, nest and unnest, grant and revoke, move applications and permission groups to
/// other scopes, with some denied attempts and custom events among them.
pub fn generated_organisation(store: &dyn Subject, seed: u64, changes: usize) {
    use crate::event::{PermissionGroupRef, Scope};
    let (log, clock) = preparer();
    let mut rng = Rng(seed | 1);
    let e = |p: &str, i: usize| EntityRef::new(format!("{p}{i}"), format!("{p} {i}"));
    let (u, g, a, w) = (|i| e("u", i), |i| e("g", i), |i| e("a", i), |i| e("w", i));
    // Where each application lives, and each permission group's usual scope.
    let app_ws = [0, 0, 1];
    let scope_of = |choice: usize| match choice {
        0 => Scope::system(),
        1 | 2 => Scope::workspace(w(choice - 1)),
        n => Scope::application(a(n - 3), w(app_ws[n - 3])),
    };
    let home = [0, 1, 3, 5, 2, 4];
    let pg = |p: usize, scope: Scope| {
        PermissionGroupRef::new(format!("p{p}"), format!("role {p}"), scope)
    };
    let mut events: Vec<(Event, Outcome)> = Vec::new();
    let ok = |e: Event| (e, Outcome::Success);
    for i in 0..WORKSPACES {
        events.push(ok(Event::workspace_created(w(i))));
    }
    for (i, ws) in app_ws.iter().enumerate() {
        events.push(ok(Event::application_created(a(i), w(*ws))));
    }
    for i in 0..GROUPS {
        events.push(ok(Event::group_created(g(i))));
    }
    for (child, parent) in [(0, 1), (1, 2), (3, 4)] {
        events.push(ok(Event::group_added_to_group(g(child), g(parent))));
    }
    for i in 0..GENERATED_USERS {
        events.push(ok(Event::user_created(u(i))));
        events.push(ok(Event::user_added_to_group(u(i), g(i % GROUPS))));
    }
    for (group, p) in [(2, 0), (1, 1), (0, 2), (4, 3), (5, 4), (3, 5)] {
        events.push(ok(Event::permission_group_added(
            g(group),
            pg(p, scope_of(home[p])),
        )));
    }
    for (user, p) in [(3, 4), (5, 5), (6, 2), (7, 0)] {
        events.push(ok(Event::permission_user_added(
            u(user),
            pg(p, scope_of(home[p])),
        )));
    }
    for _ in 0..changes {
        let (nu, ng, na, nw, np) = (
            rng.below(GENERATED_USERS),
            rng.below(GROUPS),
            rng.below(APPS),
            rng.below(WORKSPACES),
            rng.below(PERMISSION_GROUPS),
        );
        // Mostly its usual scope; sometimes another, which moves the permission group.
        let scope = if rng.below(5) == 0 {
            scope_of(rng.below(3 + APPS))
        } else {
            scope_of(home[np])
        };
        let event = match rng.below(30) {
            0 | 1 => Event::user_created(u(nu)),
            2 => Event::user_deleted(u(nu)),
            3..=6 => Event::user_added_to_group(u(nu), g(ng)),
            7 | 8 => Event::user_removed_from_group(u(nu), g(ng)),
            9 => Event::group_created(g(ng)),
            10 => Event::group_deleted(g(ng)),
            11..=13 => Event::group_added_to_group(g(ng), g(rng.below(GROUPS))),
            14 => Event::group_removed_from_group(g(ng), g(rng.below(GROUPS))),
            15 => Event::application_created(a(na), w(nw)),
            16 => Event::application_edited(a(na), w(nw), vec![]),
            17 => Event::application_deleted(a(na), w(app_ws[na])),
            18 => Event::workspace_created(w(nw)),
            19 => Event::workspace_deleted(w(nw)),
            20..=22 => Event::permission_user_added(u(nu), pg(np, scope)),
            23 => Event::permission_user_removed(u(nu), pg(np, scope)),
            24..=26 => Event::permission_group_added(g(ng), pg(np, scope)),
            27 => Event::permission_group_removed(g(ng), pg(np, scope)),
            28 => Event::user_edited(u(nu), vec![crate::event::UserChange::password_changed()]),
            _ => crate::event::CustomEvent::new("hr.review", serde_json::json!({"round": 1}))
                .target(crate::event::EntityKind::User, u(nu))
                .into(),
        };
        let outcome = if rng.below(12) == 0 {
            Outcome::Denied
        } else {
            Outcome::Success
        };
        events.push((event, outcome));
    }
    for (event, outcome) in events {
        clock.advance(Duration::minutes(1));
        append_one(
            store,
            &log,
            Entry::new(Actor::user(1, "root"), event).outcome(outcome),
        );
    }
}

/// The seed and size of the trail [`purged_answers_are_the_answers_before`] generates, and
/// how many records its windows span.
const SEED: u64 = 0x005e_ed17;
const CHANGES: usize = 60;
const WINDOW: u64 = 25;

/// Every question about a point after a purge point has the answer it had before the purge.
///
/// The trail is [generated](generated_organisation) (nested groups at all three scopes,
/// deletions and re-creations with reused ids); the unpurged copy is its JSON Lines export
/// imported into a `MemorySink` before any purge. After purges at three points, for every
/// point from the purge point to the old head and every user, a cold history, a warm one
/// and one resumed from a saved state of the purged store give the copy's `access` and
/// `state_at`; the warm one also, at every second point, its `blame` and `access_changes`
/// (over the next 25 records) and, at every fourth, for every entity, `entity_at`, `diff` and
/// `timeline_between`; the cold and resumed ones all of those at every tenth point. A point before a purge point is `Error::Purged`, and a window
/// starting before it says so; the purge record's snapshot is the fold of what was removed
/// (checked against the copy); and the purged trail exported and imported elsewhere answers
/// the same and refuses the points before its purge point too.
pub fn purged_answers_are_the_answers_before<S: Subject + Retention>(store: &S) {
    use crate::history::{AccessFilter, History, Point};
    generated_organisation(store, SEED, CHANGES);
    let tenant = TenantId::default();
    let old_head = store.head(&tenant).expect("head").expect("records").seq;
    // The copy an auditor kept before any purge: an export, imported elsewhere.
    let mut file = Vec::new();
    crate::export::JsonlExport::new()
        .write(store, &Query::new(), &mut file)
        .expect("export");
    let before = crate::MemorySink::with_algorithm(store.chain_algorithm());
    crate::export::Import::new()
        .from_reader(&before, std::io::Cursor::new(file))
        .expect("import");
    assert_eq!(
        before.head(&tenant).expect("head").map(|h| h.seq),
        Some(old_head)
    );
    let users: Vec<String> = (0..GENERATED_USERS).map(|u| format!("u{u}")).collect();
    let keys = generated_entities();
    // A copy of the state at every seq: the reference answers cost a clone each.
    let copy = History::new(&before).snapshot_every(1);
    let any = AccessFilter::Any;

    // Every answer at `p` of `h` against the copy's: access and state; with `windows`, also
    // each user's blame and access changes over the next records (up to WINDOW, a bound that
    // keeps the check linear in the trail); with `entities`, each entity's state, diff and
    // timeline over them.
    let same_at = |h: &History<'_>, p: u64, windows: bool, entities: bool, what: &str| {
        let at = Point::Seq(p);
        let end = Point::Seq(old_head.min(p + WINDOW));
        let got = h.state_at(at).expect("state after the purge");
        let want = copy.state_at(at).expect("state before");
        assert_eq!(
            crate::history::directory(&got),
            crate::history::directory(&want),
            "{what}: state at seq {p}"
        );
        for u in &users {
            let u = u.as_str();
            assert_eq!(
                h.access(u, at).expect("access"),
                copy.access(u, at).expect("access"),
                "{what}: access of {u} at seq {p}"
            );
            if !windows {
                continue;
            }
            assert_eq!(
                h.blame(u, &any, at, end).expect("blame"),
                copy.blame(u, &any, at, end).expect("blame"),
                "{what}: blame of {u} from seq {p}"
            );
            assert_eq!(
                h.access_changes(u, &any, at, end).expect("changes"),
                copy.access_changes(u, &any, at, end).expect("changes"),
                "{what}: access changes of {u} from seq {p}"
            );
        }
        if !entities {
            return;
        }
        for key in &keys {
            assert_eq!(
                h.entity_at(key, at).expect("entity"),
                copy.entity_at(key, at).expect("entity"),
                "{what}: {key} at seq {p}"
            );
            assert_eq!(
                h.diff(key, at, end).expect("diff"),
                copy.diff(key, at, end).expect("diff"),
                "{what}: diff of {key} from seq {p}"
            );
            assert_eq!(
                h.timeline_between(key, at, end).expect("timeline"),
                copy.timeline_between(key, at, end).expect("timeline"),
                "{what}: timeline of {key} from seq {p}"
            );
        }
    };
    // Every point from `from` to the old head, through a cold, a warm and a resumed history
    // of `purged`.
    let same = |purged: &dyn AuditStore, from: u64, what: &str| {
        let cold = History::new(purged);
        let warm = History::new(purged).warm();
        let saved = History::new(purged)
            .state_at(Point::Seq(from))
            .expect("state")
            .to_snapshot_bytes();
        let resumed = History::new(purged)
            .resume(crate::history::State::from_snapshot_bytes(&saved).expect("reads back"))
            .expect("resume");
        // The warm and cold ones from the purge point on, as an investigation goes; the
        // resumed one newest first: once its head has moved on, earlier points must fold
        // from what it was resumed from, not from the start of what the store holds. Every
        // history's access and state at every point; the windows and entities, which cost a
        // fold over the window each, at every second and fourth point through the warm
        // history and every tenth through the others (CI time).
        for p in from..=old_head {
            let n = p - from;
            same_at(
                &warm,
                p,
                n.is_multiple_of(2),
                n.is_multiple_of(4),
                &format!("{what}, warm"),
            );
            same_at(
                &cold,
                p,
                n.is_multiple_of(10),
                n.is_multiple_of(10),
                &format!("{what}, cold"),
            );
        }
        for p in (from..=old_head).rev() {
            let deep = (p - from).is_multiple_of(10);
            same_at(&resumed, p, deep, deep, &format!("{what}, resumed"));
        }
    };
    let mut last = 0;
    for through in [30u64, 60, 85] {
        assert!(through < old_head);
        let report = purge(
            store,
            &tenant,
            PurgePoint::ThroughSeq(through),
            &retention(),
        )
        .expect("purge");
        assert_eq!(report.anchor.seq, through);
        let what = format!("after a purge through {through}");
        same(store, through, &what);
        let history = History::new(store);
        assert!(
            matches!(
                history.access("u1", Point::Seq(through - 1)),
                Err(crate::Error::Purged { through_seq }) if through_seq == through
            ),
            "{what}: a point before the purge point"
        );
        let window = history
            .blame("u3", &any, Point::Seq(1), Point::Head)
            .expect("blame");
        assert_eq!(
            window.starts_after_purge,
            Some(through),
            "{what}: the window says so"
        );
        let record = store
            .get(&tenant, report.receipt.expect("on record").seq)
            .expect("get")
            .expect("the purge record");
        assert!(
            History::new(&before).matches_purge(&record).expect("check"),
            "{what}: the snapshot is the fold of what was removed"
        );
        let v = store.verify(&tenant).expect("verify");
        assert!(v.is_intact(), "{what}: {v}");
        last = through;
    }
    // A snapshot changed after the fact does not match (and the chain says so too).
    let mut forged = all(store, &Query::new().event("audit.purged"))
        .pop()
        .expect("a purge record");
    if let Event::AuditPurged(p) = &mut forged.event {
        if let Some(serde_json::Value::Object(m)) = &mut p.state {
            m.insert("seq".into(), serde_json::json!(1));
        }
    }
    assert!(!History::new(&before)
        .matches_purge(&forged)
        .unwrap_or(false));
    // The purged trail travels: exported and imported elsewhere, it answers the same, and
    // the points before its purge point are gone there too.
    let mut file = Vec::new();
    crate::export::JsonlExport::new()
        .write(store, &Query::new(), &mut file)
        .expect("export");
    let moved = crate::MemorySink::with_algorithm(store.chain_algorithm());
    crate::export::Import::new()
        .from_reader(&moved, std::io::Cursor::new(file))
        .expect("import");
    same(&moved, last, "exported and imported");
    let history = History::new(&moved);
    for u in &users {
        assert!(
            matches!(
                history.access(u.as_str(), Point::Seq(last - 1)),
                Err(crate::Error::Purged { through_seq }) if through_seq == last
            ),
            "imported: a point before the purge point"
        );
    }
    assert!(matches!(
        history.state_at(Point::Seq(1)),
        Err(crate::Error::Purged { through_seq }) if through_seq == last
    ));
    assert_eq!(
        history
            .purged()
            .expect("purged")
            .map(|p| (p.through_seq, p.state_kept)),
        Some((last, true)),
        "the purge travels with its record"
    );
}

/// A store that reads one record as unreadable, as a damaged row would: to see what a
/// history does when the purge record that keeps the state cannot be read.
#[derive(Debug)]
struct Unreadable<S> {
    inner: std::sync::Arc<S>,
    tenant: TenantId,
    seq: u64,
}

impl<S: AuditStore> AuditStore for Unreadable<S> {
    fn query<'a>(&'a self, query: &Query) -> Result<crate::sink::RecordStream<'a>> {
        let inner = self.inner.query(query)?;
        Ok(Box::new(inner.map(move |item| match item {
            Ok(r) if r.seq == self.seq && r.tenant == self.tenant => Err(crate::Error::corrupt(
                r.seq,
                "event json does not parse (damaged row)",
            )),
            other => other,
        })))
    }
    fn head(&self, tenant: &TenantId) -> Result<Option<crate::record::Head>> {
        self.inner.head(tenant)
    }
    fn chain_algorithm(&self) -> crate::chain::ChainAlgorithm {
        self.inner.chain_algorithm()
    }
    fn tenants(&self) -> Result<Vec<TenantId>> {
        self.inner.tenants()
    }
    fn anchor(&self, tenant: &TenantId) -> Result<crate::record::Head> {
        self.inner.anchor(tenant)
    }
}

/// u1 in g1, g1 in the system permission group p1, then 6 password changes of u2: seqs 1..=8.
fn small_organisation(store: &dyn Subject, tenant: &TenantId) {
    use crate::event::{PermissionGroupRef, Scope, UserChange};
    let (log, clock) = preparer();
    let e = |id: &str| EntityRef::new(id, id);
    let mut events = vec![
        Event::user_added_to_group(e("u1"), e("g1")),
        Event::permission_group_added(
            e("g1"),
            PermissionGroupRef::new("p1", "P1", Scope::system()),
        ),
    ];
    for _ in 0..6 {
        events.push(Event::user_edited(
            e("u2"),
            vec![UserChange::password_changed()],
        ));
    }
    for event in events {
        clock.advance(Duration::minutes(1));
        append_one(
            store,
            &log,
            Entry::new(Actor::user(1, "root"), event).tenant(tenant.clone()),
        );
    }
}

/// A trail whose purge record keeps no state (a purge made before purges kept it, written
/// here as such a purge wrote it) or whose purge record cannot be read is never answered as
/// if the removed records held nothing: every question that needs the state is
/// `Error::StartUnknown` naming the purge point and why, `History::purged` says what is known
/// of the purge, and a history asked to answer from what remains does so with every answer
/// marked incomplete; a later purge over such a trail keeps the mark.
pub fn a_purge_that_kept_no_state_is_never_an_empty_state<H: Harness>(h: &H)
where
    H::Store: Retention,
{
    use crate::history::{AccessFilter, History, Point};
    let tenant = TenantId::default();
    let expect_unknown = |r: Result<crate::history::Access>, reason: &str, what: &str| match r {
        Err(crate::Error::StartUnknown {
            through_seq,
            reason: why,
        }) => {
            assert_eq!(through_seq, 3, "{what}");
            assert!(
                why.contains(reason),
                "{what}: {why:?} should say {reason:?}"
            );
        }
        other => panic!("{what}: expected StartUnknown, got {other:?}"),
    };

    // 1. A purge record without the state, as purges wrote them before they kept it.
    let store = h.fresh();
    small_organisation(&store, &tenant);
    let before = History::new(&store)
        .access("u1", Point::Head)
        .expect("access");
    assert!(before.holds(&"p1".into()));
    let anchor = store.anchor(&tenant).expect("anchor");
    let through = record_at(&store, &tenant, 3);
    let (log, _) = preparer();
    store
        .remove_prefix(PurgePlan {
            tenant: tenant.clone(),
            anchor,
            through: crate::record::Head {
                seq: 3,
                hash: through.hash,
            },
            record: log
                .prepare_store_event(
                    Entry::new(
                        retention(),
                        Event::AuditPurged(crate::event::AuditPurged {
                            through_seq: 3,
                            anchor_hash: through.hash,
                            count: 3,
                            before: None,
                            state: None,
                        }),
                    )
                    .tenant(tenant.clone()),
                )
                .expect("prepared"),
        })
        .expect("a purge without the state");
    assert!(store.verify(&tenant).expect("verify").is_intact());
    let strict = History::new(&store);
    expect_unknown(
        strict.access("u1", Point::Head),
        "purge record #9 keeps no state",
        "cold",
    );
    expect_unknown(
        History::new(&store).warm().access("u1", Point::Seq(5)),
        "keeps no state",
        "warm",
    );
    assert!(matches!(
        strict.state_at(Point::Head),
        Err(crate::Error::StartUnknown { through_seq: 3, .. })
    ));
    assert!(matches!(
        strict.blame("u1", &AccessFilter::Any, Point::Seq(0), Point::Head),
        Err(crate::Error::StartUnknown { through_seq: 3, .. })
    ));
    let info = strict.purged().expect("purged").expect("a purge");
    assert_eq!(
        (
            info.through_seq,
            info.removed,
            info.state_kept,
            info.record.as_ref().map(|r| r.seq)
        ),
        (3, Some(3), false, Some(9))
    );
    let line = info.to_string();
    assert!(
        line.starts_with("purged through 3 on ")
            && line.ends_with(" by retention (the state before it was not kept)"),
        "{line}"
    );
    // Asked for, the answer from what remains, marked.
    let partial = History::new(&store).from_what_remains();
    let access = partial.access("u1", Point::Head).expect("access");
    assert!(access.grants.is_empty(), "the grant went with the records");
    assert_eq!(access.unknown_through, Some(3));
    assert_eq!(
        partial
            .state_at(Point::Head)
            .expect("state")
            .unknown_through(),
        Some(3)
    );
    // A later purge is not refused for it, and what it keeps stays marked.
    let report = purge(&store, &tenant, PurgePoint::ThroughSeq(6), &retention())
        .expect("a purge over a trail that kept nothing");
    assert_eq!(report.anchor.seq, 6);
    expect_unknown(
        History::new(&store).access("u1", Point::Head),
        "no state of them was kept",
        "after a later purge",
    );
    let access = History::new(&store)
        .from_what_remains()
        .access("u1", Point::Head)
        .expect("access");
    assert_eq!(access.unknown_through, Some(3));
    assert!(History::new(&store)
        .purged()
        .expect("purged")
        .is_some_and(|p| p.state_kept && p.through_seq == 6));

    // 2. A purge record that kept the state but cannot be read.
    let store = std::sync::Arc::new(h.fresh());
    small_organisation(store.as_ref(), &tenant);
    let report = purge(
        store.as_ref(),
        &tenant,
        PurgePoint::ThroughSeq(3),
        &retention(),
    )
    .expect("purge");
    let seq = report.receipt.expect("on record").seq;
    let readable = History::new(store.as_ref())
        .access("u1", Point::Head)
        .expect("access");
    assert_eq!(
        readable.grants, before.grants,
        "while its record reads, the answer is the one before"
    );
    let damaged = Unreadable {
        inner: store.clone(),
        tenant: tenant.clone(),
        seq,
    };
    expect_unknown(
        History::new(&damaged).access("u1", Point::Head),
        &format!("purge record #{seq} that would keep it is unreadable"),
        "unreadable purge record",
    );
    let info = History::new(&damaged)
        .purged()
        .expect("purged")
        .expect("a purge");
    assert_eq!((info.through_seq, info.record), (3, None));
    let access = History::new(&damaged)
        .from_what_remains()
        .access("u1", Point::Head)
        .expect("access");
    assert_eq!((access.grants.len(), access.unknown_through), (0, Some(3)));
}
