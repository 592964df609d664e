//! `History` costs, as ratios against a raw baseline measured in the same run.
//!
//! - `fold_head`: folding the whole trail into the state at its head, against just reading
//!   (and, in stores that decode rows, deserializing) the same records. Goal: at most 1.5x.
//! - `access_warm`: one user's access at the head with a warm history, on a short and a long
//!   trail with the same organisation. Goal: within 2x of each other.
//!
//! The store is made by `store()`: a file-backed `SqliteSink` in a temporary directory (the
//! store the goal is stated on), one line to swap for another store (`MemorySink::new()`).
//! `HISTORY_BENCH_RECORDS` sets the long trail's length (default 1,000,000); the trail is
//! written once per run, in batches of 10,000.

use std::collections::BTreeSet;
use std::hint::black_box;

use audit_log::history::{History, Point};
use audit_log::{
    Actor, AuditLog, AuditStore, CustomEvent, Durability, EntityId, EntityKind, EntityRef, Entry,
    Event, FieldChange, PermissionGroupRef, Query, Scope, SqliteOptions, SqliteSink, UserChange,
    UserCreated,
};
use criterion::{criterion_group, criterion_main, Criterion};

type Store = SqliteSink;

/// The store under test, a file in `dir` (kept for the whole run). Durability is for the
/// writing only, which is not measured.
fn store(dir: &std::path::Path, name: &str) -> Store {
    SqliteOptions::new()
        .durability(Durability::ProcessCrash)
        .open(dir.join(format!("{name}.db")))
        .expect("open store")
}

const USERS: u64 = 1_000;
const GROUPS: u64 = 200;
const WORKSPACES: u64 = 10;
const APPS: u64 = 50;
const PGS: u64 = 150;

/// A small deterministic generator (xorshift), so every run writes the same trail.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
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
    let scope = if i < 10 {
        Scope::system()
    } else if i < 50 {
        Scope::workspace(ws(i % WORKSPACES))
    } else {
        let a = i % APPS;
        Scope::application(app(a), ws(a % WORKSPACES))
    };
    PermissionGroupRef::new(format!("p{i}"), format!("role {i}"), scope)
}

/// An organisation (1,000 users in 2-4 groups each, 200 groups in a hierarchy, 150
/// permission groups at all three scopes), then churn by several admins up to `n` records:
/// memberships, nesting, grants, edits, custom events, users leaving and arriving. Group
/// graphs stay the same size however long the trail.
fn fill(store: &Store, n: usize) {
    let log = AuditLog::builder(store.clone()).build();
    let admins = [
        Actor::user(1, "root"),
        Actor::user(2, "bob"),
        Actor::user(3, "carol"),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut batch: Vec<Entry> = Vec::new();
    let total = std::cell::Cell::new(0usize);
    let push = |batch: &mut Vec<Entry>, rng: &mut Rng, e: Event| {
        total.set(total.get() + 1);
        let a = admins[rng.below(3) as usize].clone();
        batch.push(Entry::new(a, e));
        if batch.len() >= 10_000 {
            log.record_batch(std::mem::take(batch)).expect("record");
        }
    };
    let mut member: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); USERS as usize];
    let mut ids: Vec<u64> = (0..USERS).collect();
    let mut next_id = USERS;
    let mut parent: Vec<u64> = (0..GROUPS).map(|g| g / 4).collect();
    for w in 0..WORKSPACES {
        push(&mut batch, &mut rng, Event::workspace_created(ws(w)));
    }
    for a in 0..APPS {
        push(
            &mut batch,
            &mut rng,
            Event::application_created(app(a), ws(a % WORKSPACES)),
        );
    }
    for g in 0..GROUPS {
        push(&mut batch, &mut rng, Event::group_created(group(g)));
        if g > 0 {
            push(
                &mut batch,
                &mut rng,
                Event::group_added_to_group(group(g), group(parent[g as usize])),
            );
        }
        push(
            &mut batch,
            &mut rng,
            Event::permission_group_added(group(g), pg(g % PGS)),
        );
    }
    for (slot, &u) in ids.iter().enumerate() {
        push(
            &mut batch,
            &mut rng,
            UserCreated::new(user(u))
                .login_name(format!("user{u}"))
                .into(),
        );
        for _ in 0..3 {
            let g = rng.below(GROUPS);
            if member[slot].insert(g) {
                push(
                    &mut batch,
                    &mut rng,
                    Event::user_added_to_group(user(u), group(g)),
                );
            }
        }
    }
    let mut written = 0usize;
    while total.get() < n {
        written += 1;
        let slot = rng.below(USERS) as usize;
        let u = ids[slot];
        match rng.below(100) {
            0..=39 => {
                // Keep each user in 2 to 4 groups.
                let m = &mut member[slot];
                if m.len() >= 4 || (m.len() > 2 && rng.below(2) == 0) {
                    let g = *m
                        .iter()
                        .nth(rng.below(m.len() as u64) as usize)
                        .unwrap_or(&0);
                    m.remove(&g);
                    push(
                        &mut batch,
                        &mut rng,
                        Event::user_removed_from_group(user(u), group(g)),
                    );
                } else {
                    let g = rng.below(GROUPS);
                    if m.insert(g) {
                        push(
                            &mut batch,
                            &mut rng,
                            Event::user_added_to_group(user(u), group(g)),
                        );
                    }
                }
            }
            40..=44 => {
                // Move a group under another one higher up (keeps the hierarchy a tree).
                let g = 1 + rng.below(GROUPS - 1);
                let p = rng.below(g);
                let old = parent[g as usize];
                push(
                    &mut batch,
                    &mut rng,
                    Event::group_removed_from_group(group(g), group(old)),
                );
                push(
                    &mut batch,
                    &mut rng,
                    Event::group_added_to_group(group(g), group(p)),
                );
                parent[g as usize] = p;
            }
            45..=54 => {
                // A user holds at most one permission group directly.
                let p = if rng.below(2) == 0 {
                    u % PGS
                } else {
                    (u + 1) % PGS
                };
                let e = if rng.below(2) == 0 {
                    Event::permission_user_added(user(u), pg(p))
                } else {
                    Event::permission_user_removed(user(u), pg(p))
                };
                push(&mut batch, &mut rng, e);
            }
            55..=62 => {
                // Each group's role moves between two permission groups.
                let g = rng.below(GROUPS);
                let (from, to) = if rng.below(2) == 0 {
                    (g, g + 1)
                } else {
                    (g + 1, g)
                };
                push(
                    &mut batch,
                    &mut rng,
                    Event::permission_group_removed(group(g), pg(from % PGS)),
                );
                push(
                    &mut batch,
                    &mut rng,
                    Event::permission_group_added(group(g), pg(to % PGS)),
                );
            }
            63..=77 => push(
                &mut batch,
                &mut rng,
                Event::user_edited(
                    user(u),
                    vec![UserChange::email(
                        format!("{u}@old.example"),
                        format!("{u}@example.com"),
                    )],
                ),
            ),
            78..=82 => {
                let g = rng.below(GROUPS);
                push(
                    &mut batch,
                    &mut rng,
                    Event::group_edited(
                        group(g),
                        vec![FieldChange::set("description", format!("rev {written}"))],
                    ),
                );
            }
            83..=85 => {
                let a = rng.below(APPS);
                push(
                    &mut batch,
                    &mut rng,
                    Event::application_edited(
                        app(a),
                        ws(a % WORKSPACES),
                        vec![FieldChange::set("version", written as u64)],
                    ),
                );
            }
            86 if slot > 10 => {
                // A user leaves; a new one takes the slot.
                push(&mut batch, &mut rng, Event::user_deleted(user(u)));
                let fresh = next_id;
                next_id += 1;
                ids[slot] = fresh;
                member[slot].clear();
                push(
                    &mut batch,
                    &mut rng,
                    UserCreated::new(user(fresh))
                        .login_name(format!("user{fresh}"))
                        .into(),
                );
            }
            _ => push(
                &mut batch,
                &mut rng,
                CustomEvent::new("app.login", serde_json::json!({"ok": true}))
                    .target(EntityKind::User, user(u))
                    .into(),
            ),
        }
    }
    if !batch.is_empty() {
        log.record_batch(batch).expect("record");
    }
}

fn records_wanted() -> usize {
    std::env::var("HISTORY_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let long = store(dir.path(), "long");
    fill(&long, records_wanted());
    let short = store(dir.path(), "short");
    fill(&short, 10_000);
    let stores: [(&str, &dyn AuditStore); 2] = [("long", &long), ("10k", &short)];
    for (name, s) in stores {
        let head = s
            .head(&Default::default())
            .expect("head")
            .map_or(0, |h| h.seq);
        eprintln!("{name} trail: {head} records");
    }

    let mut g = c.benchmark_group("fold_head");
    g.sample_size(10);
    g.bench_function("read", |b| {
        b.iter(|| {
            let n = long
                .query(&Query::new())
                .expect("query")
                .filter(|r| r.is_ok())
                .count();
            black_box(n)
        })
    });
    g.bench_function("fold", |b| {
        b.iter(|| {
            let s = History::new(&long).state_at(Point::Head).expect("state");
            black_box(s.len())
        })
    });
    g.finish();

    // The user asked about: one in 3 groups of the hierarchy, present in both trails.
    let who = EntityId::from(5u64);
    let mut g = c.benchmark_group("access_warm");
    for (name, s) in stores {
        let history = History::new(s).warm();
        let a = history.access(who.clone(), Point::Head).expect("access");
        eprintln!("{name}: user 5 holds {} permission groups", a.grants.len());
        g.bench_function(name, |b| {
            b.iter(|| black_box(history.access(who.clone(), Point::Head).expect("access")))
        });
    }
    g.finish();
}

criterion_group!(history, benches);
criterion_main!(history);
