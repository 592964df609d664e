//! `History` against a straightforward reference model: for random event sequences, the
//! access the projection computes at every point equals the model's after the same prefix,
//! and blame names exactly the records where the model's access changed.

use std::collections::{BTreeMap, BTreeSet};

use audit_log::history::{AccessFilter, History, Point, State};
use audit_log::{
    Actor, AuditLog, EntityId, EntityRef, Entry, Event, MemorySink, Outcome, PermissionGroupRef,
    Query, Scope,
};
use proptest::prelude::*;

const USERS: u8 = 4;
const GROUPS: u8 = 5;
const APPS: u8 = 3;
const WORKSPACES: u8 = 2;
const PGS: u8 = 5;

#[derive(Debug, Clone)]
enum Op {
    UserCreated(u8),
    UserDeleted(u8),
    UserJoined(u8, u8),
    UserLeft(u8, u8),
    GroupCreated(u8),
    GroupDeleted(u8),
    GroupNested(u8, u8),
    GroupUnnested(u8, u8),
    AppCreated(u8, u8),
    AppMoved(u8, u8),
    AppDeleted(u8, u8),
    WorkspaceCreated(u8),
    WorkspaceDeleted(u8),
    PermUserAdded(u8, u8, ScopeChoice),
    PermUserRemoved(u8, u8, ScopeChoice),
    PermGroupAdded(u8, u8, ScopeChoice),
    PermGroupRemoved(u8, u8, ScopeChoice),
    Custom(u8),
}

#[derive(Debug, Clone, Copy)]
enum ScopeChoice {
    System,
    Workspace(u8),
    App(u8, Option<u8>),
}

fn scope_choice() -> impl Strategy<Value = ScopeChoice> {
    prop_oneof![
        Just(ScopeChoice::System),
        (0..WORKSPACES).prop_map(ScopeChoice::Workspace),
        (0..APPS, proptest::option::of(0..WORKSPACES)).prop_map(|(a, w)| ScopeChoice::App(a, w)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let u = 0..USERS;
    let g = 0..GROUPS;
    let a = 0..APPS;
    let w = 0..WORKSPACES;
    let p = 0..PGS;
    prop_oneof![
        1 => u.clone().prop_map(Op::UserCreated),
        1 => u.clone().prop_map(Op::UserDeleted),
        3 => (u.clone(), g.clone()).prop_map(|(u, g)| Op::UserJoined(u, g)),
        1 => (u.clone(), g.clone()).prop_map(|(u, g)| Op::UserLeft(u, g)),
        1 => g.clone().prop_map(Op::GroupCreated),
        1 => g.clone().prop_map(Op::GroupDeleted),
        3 => (g.clone(), g.clone()).prop_map(|(a, b)| Op::GroupNested(a, b)),
        1 => (g.clone(), g.clone()).prop_map(|(a, b)| Op::GroupUnnested(a, b)),
        1 => (a.clone(), w.clone()).prop_map(|(a, w)| Op::AppCreated(a, w)),
        1 => (a.clone(), w.clone()).prop_map(|(a, w)| Op::AppMoved(a, w)),
        1 => (a.clone(), w.clone()).prop_map(|(a, w)| Op::AppDeleted(a, w)),
        1 => w.clone().prop_map(Op::WorkspaceCreated),
        1 => w.clone().prop_map(Op::WorkspaceDeleted),
        3 => (u.clone(), p.clone(), scope_choice()).prop_map(|(u, p, s)| Op::PermUserAdded(u, p, s)),
        1 => (u.clone(), p.clone(), scope_choice()).prop_map(|(u, p, s)| Op::PermUserRemoved(u, p, s)),
        3 => (g.clone(), p.clone(), scope_choice()).prop_map(|(g, p, s)| Op::PermGroupAdded(g, p, s)),
        1 => (g, p, scope_choice()).prop_map(|(g, p, s)| Op::PermGroupRemoved(g, p, s)),
        1 => u.prop_map(Op::Custom),
    ]
}

fn user(i: u8) -> EntityRef {
    EntityRef::new(format!("u{i}"), format!("user {i}"))
}
fn group(i: u8) -> EntityRef {
    EntityRef::new(format!("g{i}"), format!("group {i}"))
}
fn app(i: u8) -> EntityRef {
    EntityRef::new(format!("a{i}"), format!("app {i}"))
}
fn ws(i: u8) -> EntityRef {
    EntityRef::new(format!("w{i}"), format!("workspace {i}"))
}
fn scope(s: ScopeChoice) -> Scope {
    match s {
        ScopeChoice::System => Scope::System,
        ScopeChoice::Workspace(w) => Scope::workspace(ws(w)),
        ScopeChoice::App(a, w) => Scope::Application {
            application: app(a),
            workspace: w.map(ws),
        },
    }
}
fn pg(p: u8, s: ScopeChoice) -> PermissionGroupRef {
    PermissionGroupRef::new(format!("p{p}"), format!("role {p}"), scope(s))
}

fn event(op: &Op) -> Event {
    match *op {
        Op::UserCreated(u) => Event::user_created(user(u)),
        Op::UserDeleted(u) => Event::user_deleted(user(u)),
        Op::UserJoined(u, g) => Event::user_added_to_group(user(u), group(g)),
        Op::UserLeft(u, g) => Event::user_removed_from_group(user(u), group(g)),
        Op::GroupCreated(g) => Event::group_created(group(g)),
        Op::GroupDeleted(g) => Event::group_deleted(group(g)),
        Op::GroupNested(a, b) => Event::group_added_to_group(group(a), group(b)),
        Op::GroupUnnested(a, b) => Event::group_removed_from_group(group(a), group(b)),
        Op::AppCreated(a, w) => Event::application_created(app(a), ws(w)),
        Op::AppMoved(a, w) => Event::application_edited(app(a), ws(w), vec![]),
        Op::AppDeleted(a, w) => Event::application_deleted(app(a), ws(w)),
        Op::WorkspaceCreated(w) => Event::workspace_created(ws(w)),
        Op::WorkspaceDeleted(w) => Event::workspace_deleted(ws(w)),
        Op::PermUserAdded(u, p, s) => Event::permission_user_added(user(u), pg(p, s)),
        Op::PermUserRemoved(u, p, s) => Event::permission_user_removed(user(u), pg(p, s)),
        Op::PermGroupAdded(g, p, s) => Event::permission_group_added(group(g), pg(p, s)),
        Op::PermGroupRemoved(g, p, s) => Event::permission_group_removed(group(g), pg(p, s)),
        Op::Custom(u) => audit_log::CustomEvent::new("hr.review", serde_json::json!({}))
            .target(audit_log::EntityKind::User, user(u))
            .into(),
    }
}

/// The reference: flat sets of edges and deleted ids, access by fixed-point reachability.
#[derive(Default)]
struct Model {
    deleted_users: BTreeSet<u8>,
    deleted_groups: BTreeSet<u8>,
    deleted_apps: BTreeSet<u8>,
    deleted_ws: BTreeSet<u8>,
    app_ws: BTreeMap<u8, u8>,
    pg_scope: BTreeMap<u8, ScopeChoice>,
    user_group: BTreeSet<(u8, u8)>,
    group_group: BTreeSet<(u8, u8)>,
    user_pg: BTreeSet<(u8, u8)>,
    group_pg: BTreeSet<(u8, u8)>,
}

impl Model {
    fn apply(&mut self, op: &Op) {
        match *op {
            Op::UserCreated(u) => {
                self.deleted_users.remove(&u);
            }
            Op::UserDeleted(u) => {
                self.deleted_users.insert(u);
                self.user_group.retain(|e| e.0 != u);
                self.user_pg.retain(|e| e.0 != u);
            }
            Op::UserJoined(u, g) => {
                self.user_group.insert((u, g));
            }
            Op::UserLeft(u, g) => {
                self.user_group.remove(&(u, g));
            }
            Op::GroupCreated(g) => {
                self.deleted_groups.remove(&g);
            }
            Op::GroupDeleted(g) => {
                self.deleted_groups.insert(g);
                self.user_group.retain(|e| e.1 != g);
                self.group_group.retain(|e| e.0 != g && e.1 != g);
                self.group_pg.retain(|e| e.0 != g);
            }
            Op::GroupNested(a, b) => {
                self.group_group.insert((a, b));
            }
            Op::GroupUnnested(a, b) => {
                self.group_group.remove(&(a, b));
            }
            Op::AppCreated(a, w) => {
                self.deleted_apps.remove(&a);
                self.app_ws.insert(a, w);
            }
            Op::AppMoved(a, w) => {
                self.app_ws.insert(a, w);
            }
            Op::AppDeleted(a, w) => {
                self.app_ws.insert(a, w);
                self.deleted_apps.insert(a);
            }
            Op::WorkspaceCreated(w) => {
                self.deleted_ws.remove(&w);
            }
            Op::WorkspaceDeleted(w) => {
                self.deleted_ws.insert(w);
                for (a, aw) in &self.app_ws {
                    if *aw == w {
                        self.deleted_apps.insert(*a);
                    }
                }
            }
            Op::PermUserAdded(u, p, s) => {
                self.scope(p, s);
                self.user_pg.insert((u, p));
            }
            Op::PermUserRemoved(u, p, s) => {
                self.scope(p, s);
                self.user_pg.remove(&(u, p));
            }
            Op::PermGroupAdded(g, p, s) => {
                self.scope(p, s);
                self.group_pg.insert((g, p));
            }
            Op::PermGroupRemoved(g, p, s) => {
                self.scope(p, s);
                self.group_pg.remove(&(g, p));
            }
            Op::Custom(_) => {}
        }
    }

    fn scope(&mut self, p: u8, s: ScopeChoice) {
        self.pg_scope.insert(p, s);
        if let ScopeChoice::App(a, Some(w)) = s {
            self.app_ws.entry(a).or_insert(w);
        }
    }

    fn pg_live(&self, p: u8) -> bool {
        match self.pg_scope.get(&p) {
            None => false,
            Some(ScopeChoice::System) => true,
            Some(ScopeChoice::Workspace(w)) => !self.deleted_ws.contains(w),
            Some(ScopeChoice::App(a, w)) => {
                !self.deleted_apps.contains(a)
                    && self
                        .app_ws
                        .get(a)
                        .or(w.as_ref())
                        .is_none_or(|w| !self.deleted_ws.contains(w))
            }
        }
    }

    fn access(&self, u: u8, only_app: Option<u8>) -> BTreeSet<String> {
        if self.deleted_users.contains(&u) {
            return BTreeSet::new();
        }
        let mut reach: BTreeSet<u8> = self
            .user_group
            .iter()
            .filter(|e| e.0 == u && !self.deleted_groups.contains(&e.1))
            .map(|e| e.1)
            .collect();
        loop {
            let more: Vec<u8> = self
                .group_group
                .iter()
                .filter(|e| reach.contains(&e.0) && !self.deleted_groups.contains(&e.1))
                .map(|e| e.1)
                .filter(|g| !reach.contains(g))
                .collect();
            if more.is_empty() {
                break;
            }
            reach.extend(more);
        }
        let direct = self.user_pg.iter().filter(|e| e.0 == u).map(|e| e.1);
        let via = self
            .group_pg
            .iter()
            .filter(|e| reach.contains(&e.0))
            .map(|e| e.1);
        direct
            .chain(via)
            .filter(|p| self.pg_live(*p))
            .filter(|p| match only_app {
                None => true,
                Some(a) => matches!(self.pg_scope.get(p), Some(ScopeChoice::App(x, _)) if *x == a),
            })
            .map(|p| format!("p{p}"))
            .collect()
    }
}

fn ops_with_outcomes() -> impl Strategy<Value = Vec<(Op, bool)>> {
    proptest::collection::vec((op(), proptest::bool::weighted(0.9)), 0..60)
}

fn ids(a: &audit_log::Access) -> BTreeSet<String> {
    a.grants
        .iter()
        .map(|g| g.permission_group.id.as_str().to_owned())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn access_matches_the_reference_model_at_every_point(ops in ops_with_outcomes()) {
        let store = MemorySink::new();
        let log = AuditLog::builder(store.clone()).build();
        let admin = Actor::user(1, "root");
        for (op, ok) in &ops {
            let outcome = if *ok { Outcome::Success } else { Outcome::Denied };
            log.record_entry(Entry::new(admin.clone(), event(op)).outcome(outcome)).unwrap();
        }
        let warm = History::new(&store).snapshot_every(7);
        let cold = History::new(&store);
        let mut model = Model::default();
        let mut state = State::new("default");
        let records = store.find(&Query::new());
        let mut changes: BTreeMap<u8, Vec<u64>> = BTreeMap::new();
        let mut app0_changes: BTreeMap<u8, Vec<u64>> = BTreeMap::new();
        for p in 0..=ops.len() {
            if p > 0 {
                let (op, ok) = &ops[p - 1];
                let before: Vec<_> = (0..USERS).map(|u| (model.access(u, None), model.access(u, Some(0)))).collect();
                if *ok {
                    model.apply(op);
                }
                for u in 0..USERS {
                    if model.access(u, None) != before[u as usize].0 {
                        changes.entry(u).or_default().push(p as u64);
                    }
                    if model.access(u, Some(0)) != before[u as usize].1 {
                        app0_changes.entry(u).or_default().push(p as u64);
                    }
                }
                state.apply(&records[p - 1]).unwrap();
            }
            for u in 0..USERS {
                let id = EntityId::from(format!("u{u}"));
                let expected = model.access(u, None);
                prop_assert_eq!(ids(&state.access(&id, &AccessFilter::Any)), expected.clone(), "user {} after {} records", u, p);
                prop_assert_eq!(ids(&warm.access(id.clone(), Point::Seq(p as u64)).unwrap()), expected, "warm, user {} at {}", u, p);
            }
        }
        // Backwards through the warm history's snapshots, too.
        for p in (0..=ops.len()).rev().step_by(5) {
            let mut m = Model::default();
            for (op, ok) in &ops[..p] {
                if *ok { m.apply(op); }
            }
            prop_assert_eq!(ids(&warm.access("u0", Point::Seq(p as u64)).unwrap()), m.access(0, None));
        }
        for u in 0..USERS {
            let id = format!("u{u}");
            let blame = cold.blame(id.as_str(), &AccessFilter::Any, Point::Seq(0), Point::Head).unwrap();
            let seqs: Vec<u64> = blame.iter().map(|b| b.record.seq).collect();
            prop_assert_eq!(seqs, changes.get(&u).cloned().unwrap_or_default(), "blame of user {}", u);
            let blame = cold.blame(id.as_str(), &AccessFilter::Application("a0".into()), Point::Seq(0), Point::Head).unwrap();
            let seqs: Vec<u64> = blame.iter().map(|b| b.record.seq).collect();
            prop_assert_eq!(seqs, app0_changes.get(&u).cloned().unwrap_or_default(), "app blame of user {}", u);
        }
    }

    #[test]
    fn state_survives_a_save_and_resume(ops in ops_with_outcomes(), cut in 0usize..60) {
        let store = MemorySink::new();
        let log = AuditLog::builder(store.clone()).build();
        for (op, ok) in &ops {
            let outcome = if *ok { Outcome::Success } else { Outcome::Failure };
            log.record_entry(Entry::new(Actor::system(), event(op)).outcome(outcome)).unwrap();
        }
        let history = History::new(&store);
        let cut = cut.min(ops.len()) as u64;
        let saved = serde_json::to_vec(&history.state_at(Point::Seq(cut)).unwrap()).unwrap();
        let back: State = serde_json::from_slice(&saved).unwrap();
        prop_assert_eq!(history.fold_from(back, Point::Head).unwrap(), history.state_at(Point::Head).unwrap());
    }
}
