//! `History` against a straightforward reference model: for random event sequences, the
//! access the projection computes at every point equals the model's after the same prefix,
//! every link names the record the model says made it, and blame names exactly the records
//! where the model's access changed.
//!
//! The sequences delete and re-create every kind of entity with reused ids (permission
//! groups, which no event creates or deletes, live and die with their scope), and the model
//! encodes the rule of the `history` module docs in the plainest terms: a deletion drops
//! every edge the entity is an end of, an edge is only added between live ends and only if
//! absent, and nothing else ever removes or revives one.

use std::collections::{BTreeMap, BTreeSet};

use audit_log::history::{AccessFilter, Change, History, PathChange, Point, State};
use audit_log::SealedSink;
use audit_log::{
    Actor, AuditLog, EntityId, EntityKey, EntityRef, Entry, Event, MemorySink, Outcome,
    PermissionGroupRef, Query, Scope,
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
        2 => u.clone().prop_map(Op::UserCreated),
        1 => u.clone().prop_map(Op::UserDeleted),
        3 => (u.clone(), g.clone()).prop_map(|(u, g)| Op::UserJoined(u, g)),
        1 => (u.clone(), g.clone()).prop_map(|(u, g)| Op::UserLeft(u, g)),
        2 => g.clone().prop_map(Op::GroupCreated),
        1 => g.clone().prop_map(Op::GroupDeleted),
        3 => (g.clone(), g.clone()).prop_map(|(a, b)| Op::GroupNested(a, b)),
        1 => (g.clone(), g.clone()).prop_map(|(a, b)| Op::GroupUnnested(a, b)),
        2 => (a.clone(), w.clone()).prop_map(|(a, w)| Op::AppCreated(a, w)),
        1 => (a.clone(), w.clone()).prop_map(|(a, w)| Op::AppMoved(a, w)),
        2 => (a.clone(), w.clone()).prop_map(|(a, w)| Op::AppDeleted(a, w)),
        2 => w.clone().prop_map(Op::WorkspaceCreated),
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

/// An edge of the model and the seq of the record that made it.
type Edges = BTreeMap<(u8, u8), u64>;

/// The reference: flat sets of deleted ids and of edges (each with the record that made it),
/// access by fixed-point reachability.
///
/// The rule, as the model keeps it:
/// - deleting an entity drops every edge it is an end of; deleting a workspace deletes the
///   applications in it;
/// - a permission group is deleted (and its edges dropped) as soon as its scope does not
///   exist (its application or workspace, or its application's workspace, deleted), and
///   stays deleted until a record names it while its scope exists;
/// - an edge is added only when both ends are live and it is absent (so it keeps the seq of
///   the record that made it); a removal drops it;
/// - creating an entity changes no edge: a re-created one has none, as its old ones went with
///   its deletion and none were added while it was deleted.
#[derive(Default, Clone)]
struct Model {
    deleted_users: BTreeSet<u8>,
    deleted_groups: BTreeSet<u8>,
    deleted_apps: BTreeSet<u8>,
    deleted_ws: BTreeSet<u8>,
    deleted_pgs: BTreeSet<u8>,
    app_ws: BTreeMap<u8, u8>,
    pg_scope: BTreeMap<u8, ScopeChoice>,
    user_group: Edges,
    group_group: Edges,
    user_pg: Edges,
    group_pg: Edges,
}

fn add(edges: &mut Edges, edge: (u8, u8), seq: u64, live: bool) {
    if live {
        edges.entry(edge).or_insert(seq);
    }
}

impl Model {
    /// Applies the op of the record at `seq`.
    fn apply(&mut self, op: &Op, seq: u64) {
        match *op {
            Op::UserCreated(u) => {
                self.deleted_users.remove(&u);
            }
            Op::UserDeleted(u) => {
                self.deleted_users.insert(u);
                self.user_group.retain(|e, _| e.0 != u);
                self.user_pg.retain(|e, _| e.0 != u);
            }
            Op::UserJoined(u, g) => {
                let live = self.user_live(u) && self.group_live(g);
                add(&mut self.user_group, (u, g), seq, live);
            }
            Op::UserLeft(u, g) => {
                self.user_group.remove(&(u, g));
            }
            Op::GroupCreated(g) => {
                self.deleted_groups.remove(&g);
            }
            Op::GroupDeleted(g) => {
                self.deleted_groups.insert(g);
                self.user_group.retain(|e, _| e.1 != g);
                self.group_group.retain(|e, _| e.0 != g && e.1 != g);
                self.group_pg.retain(|e, _| e.0 != g);
            }
            Op::GroupNested(a, b) => {
                let live = self.group_live(a) && self.group_live(b);
                add(&mut self.group_group, (a, b), seq, live);
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
                self.name_pg(p, s);
                let live = self.user_live(u) && self.pg_live(p);
                add(&mut self.user_pg, (u, p), seq, live);
            }
            Op::PermUserRemoved(u, p, s) => {
                self.name_pg(p, s);
                self.user_pg.remove(&(u, p));
            }
            Op::PermGroupAdded(g, p, s) => {
                self.name_pg(p, s);
                let live = self.group_live(g) && self.pg_live(p);
                add(&mut self.group_pg, (g, p), seq, live);
            }
            Op::PermGroupRemoved(g, p, s) => {
                self.name_pg(p, s);
                self.group_pg.remove(&(g, p));
            }
            Op::Custom(_) => {}
        }
        // Permission groups whose scope is gone end, whatever took it away.
        let orphans: Vec<u8> = self
            .pg_scope
            .keys()
            .copied()
            .filter(|p| !self.deleted_pgs.contains(p) && !self.scope_exists(*p))
            .collect();
        for p in orphans {
            self.deleted_pgs.insert(p);
            self.user_pg.retain(|e, _| e.1 != p);
            self.group_pg.retain(|e, _| e.1 != p);
        }
    }

    fn user_live(&self, u: u8) -> bool {
        !self.deleted_users.contains(&u)
    }

    fn group_live(&self, g: u8) -> bool {
        !self.deleted_groups.contains(&g)
    }

    fn pg_live(&self, p: u8) -> bool {
        !self.deleted_pgs.contains(&p) && self.scope_exists(p)
    }

    /// A record names permission group `p` with scope `s`: the scope is recorded, and a
    /// deleted permission group whose scope exists starts a new life.
    fn name_pg(&mut self, p: u8, s: ScopeChoice) {
        self.pg_scope.insert(p, s);
        if let ScopeChoice::App(a, Some(w)) = s {
            self.app_ws.entry(a).or_insert(w);
        }
        if self.scope_exists(p) {
            self.deleted_pgs.remove(&p);
        }
    }

    fn scope_exists(&self, p: u8) -> bool {
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

    /// The permission groups `u` holds (within `only_app`), each with the ways in: `direct`,
    /// or the id of a group they reach that holds it.
    fn entries(&self, u: u8, only_app: Option<u8>) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        if !self.user_live(u) {
            return out;
        }
        let mut reach: BTreeSet<u8> = self
            .user_group
            .keys()
            .filter(|e| e.0 == u && self.group_live(e.1))
            .map(|e| e.1)
            .collect();
        loop {
            let more: Vec<u8> = self
                .group_group
                .keys()
                .filter(|e| reach.contains(&e.0) && self.group_live(e.1))
                .map(|e| e.1)
                .filter(|g| !reach.contains(g))
                .collect();
            if more.is_empty() {
                break;
            }
            reach.extend(more);
        }
        let direct = self
            .user_pg
            .keys()
            .filter(|e| e.0 == u)
            .map(|e| (e.1, "direct".to_owned()));
        let via = self
            .group_pg
            .keys()
            .filter(|e| reach.contains(&e.0))
            .map(|e| (e.1, format!("g{}", e.0)));
        for (p, entry) in direct.chain(via) {
            let in_filter = match only_app {
                None => true,
                Some(a) => matches!(self.pg_scope.get(&p), Some(ScopeChoice::App(x, _)) if *x == a),
            };
            if self.pg_live(p) && in_filter {
                out.entry(format!("p{p}")).or_default().insert(entry);
            }
        }
        out
    }

    fn access(&self, u: u8, only_app: Option<u8>) -> BTreeSet<String> {
        self.entries(u, only_app).into_keys().collect()
    }

    /// The links the state must show for `kind` entity `id` as `(relation, other id, seq)`.
    fn links_of(&self, entity: &str) -> BTreeSet<(&'static str, String, u64)> {
        let (kind, n) = entity.split_at(1);
        let Ok(n) = n.parse::<u8>() else {
            return BTreeSet::new();
        };
        let mut out = BTreeSet::new();
        let mut put = |rel: &'static str,
                       edges: &Edges,
                       mine: fn(&(u8, u8)) -> u8,
                       other: fn(&(u8, u8)) -> u8,
                       prefix: &str| {
            for (e, seq) in edges {
                if mine(e) == n {
                    out.insert((rel, format!("{prefix}{}", other(e)), *seq));
                }
            }
        };
        let first = |e: &(u8, u8)| e.0;
        let second = |e: &(u8, u8)| e.1;
        match kind {
            "u" => {
                put("member_of", &self.user_group, first, second, "g");
                put("permission_groups", &self.user_pg, first, second, "p");
            }
            "g" => {
                put("member_of", &self.group_group, first, second, "g");
                put("members", &self.user_group, second, first, "u");
                put("member_groups", &self.group_group, second, first, "g");
                put("permission_groups", &self.group_pg, first, second, "p");
            }
            "p" => {
                put("members", &self.user_pg, second, first, "u");
                put("member_groups", &self.group_pg, second, first, "g");
            }
            _ => {}
        }
        out
    }
}

/// The live links of an entity of the state, as [`Model::links_of`] gives them.
fn state_links(state: &State, key: &EntityKey) -> BTreeSet<(&'static str, String, u64)> {
    let Some(e) = state.entity(key) else {
        return BTreeSet::new();
    };
    let mut out = BTreeSet::new();
    for (rel, map) in [
        ("member_of", &e.links.member_of),
        ("members", &e.links.members),
        ("member_groups", &e.links.member_groups),
        ("permission_groups", &e.links.permission_groups),
    ] {
        for (id, r) in map {
            out.insert((rel, id.as_str().to_owned(), r.seq));
        }
    }
    out
}

/// Every entity key the generated trails can name.
fn keys() -> Vec<(String, EntityKey)> {
    let mut out = Vec::new();
    for u in 0..USERS {
        out.push((format!("u{u}"), EntityKey::user(format!("u{u}"))));
    }
    for g in 0..GROUPS {
        out.push((format!("g{g}"), EntityKey::group(format!("g{g}"))));
    }
    for p in 0..PGS {
        out.push((
            format!("p{p}"),
            EntityKey::permission_group(format!("p{p}")),
        ));
    }
    out
}

/// A change as the model can tell it: its kind, the permission group, and the ways in it
/// names (all of the grant's for access gained or lost, the one path for a path change).
type ChangeSeen = (&'static str, String, BTreeSet<String>);

fn way_in(p: &audit_log::AccessPath) -> String {
    p.via
        .last()
        .map_or_else(|| "direct".to_owned(), |g| g.id.as_str().to_owned())
}

fn seen(c: &Change) -> ChangeSeen {
    let grant = |g: &audit_log::history::Grant| -> (String, BTreeSet<String>) {
        (
            g.permission_group.id.as_str().to_owned(),
            g.paths.iter().map(way_in).collect(),
        )
    };
    let path = |p: &PathChange| -> (String, BTreeSet<String>) {
        (
            p.permission_group.id.as_str().to_owned(),
            [way_in(&p.path)].into(),
        )
    };
    match c {
        Change::AccessGained(g) => ("access_gained", grant(g).0, grant(g).1),
        Change::AccessLost(g) => ("access_lost", grant(g).0, grant(g).1),
        Change::PathGained(p) => ("path_gained", path(p).0, path(p).1),
        Change::PathLost(p) => ("path_lost", path(p).0, path(p).1),
        other => panic!("a change this test does not know: {other:?}"),
    }
}

/// What the model says changed between two of its [`Model::entries`].
fn expected_changes(
    before: &BTreeMap<String, BTreeSet<String>>,
    after: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeSet<ChangeSeen> {
    let mut out = BTreeSet::new();
    for (pg, ways) in before {
        match after.get(pg) {
            None => {
                out.insert(("access_lost", pg.clone(), ways.clone()));
            }
            Some(now) => {
                for w in ways.difference(now) {
                    out.insert(("path_lost", pg.clone(), [w.clone()].into()));
                }
                for w in now.difference(ways) {
                    out.insert(("path_gained", pg.clone(), [w.clone()].into()));
                }
            }
        }
    }
    for (pg, ways) in after {
        if !before.contains_key(pg) {
            out.insert(("access_gained", pg.clone(), ways.clone()));
        }
    }
    out
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
        let mut path_changes: BTreeMap<u8, Vec<(u64, BTreeSet<ChangeSeen>)>> = BTreeMap::new();
        for p in 0..=ops.len() {
            if p > 0 {
                let (op, ok) = &ops[p - 1];
                let before: Vec<_> = (0..USERS).map(|u| (model.access(u, None), model.access(u, Some(0)))).collect();
                let entries_before: Vec<_> = (0..USERS).map(|u| model.entries(u, None)).collect();
                if *ok {
                    model.apply(op, p as u64);
                }
                for u in 0..USERS {
                    let seen = expected_changes(&entries_before[u as usize], &model.entries(u, None));
                    if !seen.is_empty() {
                        path_changes.entry(u).or_default().push((p as u64, seen));
                    }
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
            for (name, key) in keys() {
                prop_assert_eq!(state_links(&state, &key), model.links_of(&name), "links of {} after {} records", name, p);
            }
            for p_id in 0..PGS {
                let key = EntityKey::permission_group(format!("p{p_id}"));
                let named = model.pg_scope.contains_key(&p_id);
                prop_assert_eq!(state.is_live(&key), named && !model.deleted_pgs.contains(&p_id), "p{} live after {} records", p_id, p);
            }
        }
        // Backwards through the warm history's snapshots, too.
        for p in (0..=ops.len()).rev().step_by(5) {
            let mut m = Model::default();
            for (i, (op, ok)) in ops[..p].iter().enumerate() {
                if *ok { m.apply(op, i as u64 + 1); }
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
            let found: Vec<(u64, BTreeSet<ChangeSeen>)> = cold
                .access_changes(id.as_str(), &AccessFilter::Any, Point::Seq(0), Point::Head)
                .unwrap()
                .iter()
                .map(|c| (c.record.seq, c.changes.iter().map(seen).collect()))
                .collect();
            prop_assert_eq!(found, path_changes.get(&u).cloned().unwrap_or_default(), "access changes of user {}", u);
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

proptest! {
    // Each case asks every question at every point after the cut, twice (resumed and whole).
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A snapshot reads back to an equal state with identical bytes, and a history resumed
    /// from it over only the records after it (what a purge leaves) answers every question
    /// about those points as the history of the whole trail does.
    #[test]
    fn a_snapshot_reads_back_and_resumes_to_the_same_answers(ops in ops_with_outcomes(), cut in 0usize..60) {
        let store = MemorySink::new();
        let log = AuditLog::builder(store.clone()).build();
        for (op, ok) in &ops {
            let outcome = if *ok { Outcome::Success } else { Outcome::Denied };
            log.record_entry(Entry::new(Actor::user(1, "root"), event(op)).outcome(outcome)).unwrap();
        }
        let records = store.find(&Query::new());
        if records.is_empty() {
            return Ok(());
        }
        let head = records.len() as u64;
        let cut = (cut as u64).min(head - 1);
        let full = History::new(&store);
        let state = full.state_at(Point::Seq(cut)).unwrap();
        let bytes = state.to_snapshot_bytes();
        let back = State::from_snapshot_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &state);
        prop_assert_eq!(back.to_snapshot_bytes(), bytes);
        prop_assert_eq!(&State::from_snapshot(&state.to_snapshot()).unwrap(), &state);

        let rest = MemorySink::new();
        rest.append_sealed(records[cut as usize..].to_vec()).unwrap();
        let resumed = History::new(&rest).resume(back).unwrap();
        let mut entities: Vec<EntityKey> = keys().into_iter().map(|(_, k)| k).collect();
        entities.extend((0..APPS).map(|a| EntityKey::application(format!("a{a}"))));
        entities.extend((0..WORKSPACES).map(|w| EntityKey::workspace(format!("w{w}"))));
        // Newest first: once the warm head has moved on, earlier points must still fold
        // from the snapshot, not from the start of what the store holds.
        for p in (cut..=head).rev() {
            let at = Point::Seq(p);
            prop_assert_eq!(resumed.state_at(at).unwrap(), full.state_at(at).unwrap(), "state at {}", p);
            for u in 0..USERS {
                let id = format!("u{u}");
                prop_assert_eq!(resumed.access(id.as_str(), at).unwrap(), full.access(id.as_str(), at).unwrap());
                prop_assert_eq!(
                    resumed.blame(id.as_str(), &AccessFilter::Any, at, Point::Head).unwrap(),
                    full.blame(id.as_str(), &AccessFilter::Any, at, Point::Head).unwrap()
                );
                prop_assert_eq!(
                    resumed.access_changes(id.as_str(), &AccessFilter::Any, at, Point::Head).unwrap(),
                    full.access_changes(id.as_str(), &AccessFilter::Any, at, Point::Head).unwrap()
                );
            }
            for key in &entities {
                prop_assert_eq!(resumed.entity_at(key, at).unwrap(), full.entity_at(key, at).unwrap());
                prop_assert_eq!(resumed.diff(key, at, Point::Head).unwrap(), full.diff(key, at, Point::Head).unwrap());
            }
        }
        for key in &entities {
            prop_assert_eq!(
                resumed.timeline(key).unwrap().entries,
                full.timeline_between(key, Point::Seq(cut), Point::Head).unwrap().entries
            );
        }
    }
}

/// Records `events` by root into a fresh store, seqs 1, 2, ...
fn trail(events: Vec<Event>) -> MemorySink {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    for e in events {
        log.record(&Actor::user(1, "root"), e).unwrap();
    }
    store
}

fn path_seqs(access: &audit_log::Access, pg: &str) -> Vec<Vec<u64>> {
    access
        .grant(&pg.into())
        .map(|g| {
            g.paths
                .iter()
                .map(|p| p.links.iter().map(|l| l.seq).collect())
                .collect()
        })
        .unwrap_or_default()
}

fn blame_seqs(history: &History<'_>, user: &str) -> Vec<u64> {
    history
        .blame(user, &AccessFilter::Any, Point::Seq(0), Point::Head)
        .unwrap()
        .iter()
        .map(|b| b.record.seq)
        .collect()
}

/// The record that made a link stays its record until the link ends: recording the same
/// grant, membership or nesting again changes nothing, for each kind of link.
#[test]
fn a_repeated_link_keeps_the_record_that_made_it() {
    let store = trail(vec![
        Event::permission_user_added(user(3), pg(3, ScopeChoice::System)),
        Event::permission_user_added(user(3), pg(3, ScopeChoice::System)),
        Event::user_added_to_group(user(1), group(1)),
        Event::user_added_to_group(user(1), group(1)),
        Event::group_added_to_group(group(1), group(2)),
        Event::group_added_to_group(group(1), group(2)),
        Event::permission_group_added(group(2), pg(4, ScopeChoice::System)),
        Event::permission_group_added(group(2), pg(4, ScopeChoice::System)),
    ]);
    let history = History::new(&store);
    let u3 = history.access("u3", Point::Head).unwrap();
    assert_eq!(
        path_seqs(&u3, "p3"),
        vec![vec![1]],
        "access names #1, as blame does"
    );
    assert_eq!(blame_seqs(&history, "u3"), vec![1]);
    let u1 = history.access("u1", Point::Head).unwrap();
    assert_eq!(path_seqs(&u1, "p4"), vec![vec![3, 5, 7]]);
    assert_eq!(blame_seqs(&history, "u1"), vec![7]);
    // Both ends of every link say so, and the entities' diffs see nothing new.
    let state = history.state_at(Point::Head).unwrap();
    let seq_of = |key: EntityKey, rel: &str, other: &str| {
        state_links(&state, &key)
            .into_iter()
            .find(|(r, o, _)| *r == rel && o == other)
            .map(|(_, _, seq)| seq)
    };
    assert_eq!(
        seq_of(EntityKey::user("u3"), "permission_groups", "p3"),
        Some(1)
    );
    assert_eq!(
        seq_of(EntityKey::permission_group("p3"), "members", "u3"),
        Some(1)
    );
    assert_eq!(seq_of(EntityKey::group("g1"), "members", "u1"), Some(3));
    assert_eq!(
        seq_of(EntityKey::group("g2"), "member_groups", "g1"),
        Some(5)
    );
    assert_eq!(
        seq_of(EntityKey::permission_group("p4"), "member_groups", "g2"),
        Some(7)
    );
    for (key, first) in [
        (EntityKey::user("u3"), 1),
        (EntityKey::user("u1"), 3),
        (EntityKey::group("g1"), 5),
        (EntityKey::group("g2"), 7),
    ] {
        let diff = history.diff(&key, Point::Seq(first), Point::Head).unwrap();
        assert!(
            diff.appeared.is_empty() && diff.went.is_empty(),
            "{key}: {diff:?}"
        );
    }
}

/// The issue's case: an application deleted (its permission groups go with it) and created
/// again with the same id has none of the old grants; the old life stays in the past.
#[test]
fn a_recreated_application_starts_with_no_grants() {
    let editors = || pg(1, ScopeChoice::App(1, Some(1)));
    let store = trail(vec![
        Event::workspace_created(ws(1)),                    // 1
        Event::application_created(app(1), ws(1)),          // 2
        Event::permission_user_added(user(1), editors()),   // 3
        Event::user_added_to_group(user(1), group(1)),      // 4
        Event::permission_group_added(group(1), editors()), // 5
        Event::application_deleted(app(1), ws(1)),          // 6
        Event::application_created(app(1), ws(1)),          // 7
        Event::permission_group_added(group(2), editors()), // 8
    ]);
    let history = History::new(&store);
    let now = history.access("u1", Point::Head).unwrap();
    assert!(now.grants.is_empty(), "nothing re-granted them: {now:?}");
    assert_eq!(blame_seqs(&history, "u1"), vec![3, 6]);
    // Before the deletion, the old life with both paths.
    let before = history.access("u1", Point::Seq(5)).unwrap();
    assert_eq!(path_seqs(&before, "p1"), vec![vec![3], vec![4, 5]]);
    // The permission group ended with its application and keeps who was in it; named
    // again once the application exists, it starts a new life with only the new grant.
    let deleted = history
        .entity_at(&EntityKey::permission_group("p1"), Point::Seq(7))
        .unwrap()
        .unwrap();
    let deletion = deleted
        .deleted
        .as_ref()
        .expect("ended with its application");
    assert_eq!(deletion.by.seq, 6);
    let at_7 = history.state_at(Point::Seq(7)).unwrap();
    assert!(
        at_7.scope_deleted(&"p1".into()).is_none(),
        "a1 exists again"
    );
    assert!(!at_7.grants(&"p1".into()), "but p1 ended with the old a1");
    assert!(history.state_at(Point::Head).unwrap().grants(&"p1".into()));
    assert!(deletion.links.members.contains_key(&"u1".into()));
    assert!(deletion.links.member_groups.contains_key(&"g1".into()));
    let state = history.state_at(Point::Head).unwrap();
    let p1 = state.permission_group(&"p1".into()).unwrap();
    assert!(!p1.is_deleted());
    assert_eq!(
        p1.links
            .member_groups
            .keys()
            .map(|k| k.as_str())
            .collect::<Vec<_>>(),
        vec!["g2"]
    );
    assert!(p1.links.members.is_empty());
    assert!(state
        .group(&"g1".into())
        .unwrap()
        .links
        .permission_groups
        .is_empty());
    // The timeline keeps both lives.
    let timeline: Vec<u64> = history
        .timeline(&EntityKey::application("a1"))
        .unwrap()
        .iter()
        .map(|e| e.record.seq)
        .collect();
    assert_eq!(timeline, vec![2, 3, 5, 6, 7, 8]);
}

/// Deleting a workspace deletes its applications and the permission groups scoped to
/// either; re-creating the workspace brings none of them back.
#[test]
fn a_recreated_workspace_brings_back_neither_its_applications_nor_their_grants() {
    let store = trail(vec![
        Event::workspace_created(ws(1)),           // 1
        Event::application_created(app(1), ws(1)), // 2
        Event::permission_user_added(user(1), pg(1, ScopeChoice::App(1, None))), // 3
        Event::permission_user_added(user(1), pg(2, ScopeChoice::Workspace(1))), // 4
        Event::workspace_deleted(ws(1)),           // 5
        Event::workspace_created(ws(1)),           // 6
    ]);
    let history = History::new(&store);
    assert_eq!(
        ids(&history.access("u1", Point::Seq(4)).unwrap()),
        ["p1", "p2"].map(String::from).into()
    );
    assert!(history.access("u1", Point::Head).unwrap().grants.is_empty());
    let state = history.state_at(Point::Head).unwrap();
    assert!(state.is_live(&EntityKey::workspace("w1")));
    assert!(
        !state.is_live(&EntityKey::application("a1")),
        "the workspace took it"
    );
    for p in ["p1", "p2"] {
        let e = state.permission_group(&p.into()).unwrap();
        assert_eq!(e.deleted.as_ref().map(|d| d.by.seq), Some(5), "{p}");
    }
    assert_eq!(blame_seqs(&history, "u1"), vec![3, 4, 5]);
}

/// A deleted user or group takes part in no link recorded while it is deleted, and comes
/// back (created again) with nothing: not its old links, not those recorded meanwhile.
#[test]
fn a_recreated_user_or_group_starts_with_nothing() {
    let store = trail(vec![
        Event::user_added_to_group(user(1), group(1)), // 1
        Event::user_added_to_group(user(2), group(1)), // 2
        Event::permission_group_added(group(1), pg(1, ScopeChoice::System)), // 3
        Event::user_deleted(user(1)),                  // 4
        Event::user_added_to_group(user(1), group(2)), // 5
        Event::permission_user_added(user(1), pg(2, ScopeChoice::System)), // 6
        Event::user_created(user(1)),                  // 7
        Event::group_deleted(group(1)),                // 8
        Event::permission_group_added(group(1), pg(3, ScopeChoice::System)), // 9
        Event::group_created(group(1)),                // 10
    ]);
    let history = History::new(&store);
    let state = history.state_at(Point::Head).unwrap();
    for key in [EntityKey::user("u1"), EntityKey::group("g1")] {
        let e = state.entity(&key).unwrap();
        assert!(!e.is_deleted() && e.links.is_empty(), "{key}: {e:?}");
    }
    assert!(history.access("u1", Point::Head).unwrap().grants.is_empty());
    assert!(history.access("u2", Point::Head).unwrap().grants.is_empty());
    assert_eq!(blame_seqs(&history, "u2"), vec![3, 8]);
    // The old lives are still there to read.
    let g1 = history
        .entity_at(&EntityKey::group("g1"), Point::Seq(3))
        .unwrap()
        .unwrap();
    assert_eq!(g1.links.members.len(), 2);
    assert_eq!(
        ids(&history.access("u1", Point::Seq(3)).unwrap()),
        ["p1".to_owned()].into()
    );
}

/// A directory of `users` users in 3 of 500 nested groups each, 100 permission groups at
/// the three scopes (each group in one, every tenth user directly in one), then `churn`
/// records that leave its size as it was: a user leaving a group and joining another,
/// e-mail edits. Returns the state at the head.
fn directory(users: u64, churn: u64) -> State {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    let admin = Actor::user(1, "root");
    let mut batch: Vec<Entry> = Vec::new();
    let push = |e: Event, batch: &mut Vec<Entry>| {
        batch.push(Entry::new(admin.clone(), e));
        if batch.len() == 5_000 {
            log.record_batch(std::mem::take(batch)).unwrap();
        }
    };
    let u = |i: u64| EntityRef::new(i, format!("user{i}"));
    let g = |i: u64| EntityRef::new(format!("g{i}"), format!("group {i}"));
    let w = |i: u64| EntityRef::new(format!("w{i}"), format!("workspace {i}"));
    let a = |i: u64| EntityRef::new(format!("a{i}"), format!("app {i}"));
    let p = |i: u64| {
        let scope = match i % 3 {
            0 => Scope::system(),
            1 => Scope::workspace(w(i % 10)),
            _ => Scope::application(a(i % 50), w(i % 50 % 10)),
        };
        PermissionGroupRef::new(format!("p{i}"), format!("role {i}"), scope)
    };
    for i in 0..10 {
        push(Event::workspace_created(w(i)), &mut batch);
    }
    for i in 0..50 {
        push(Event::application_created(a(i), w(i % 10)), &mut batch);
    }
    for i in 0..500 {
        push(Event::group_created(g(i)), &mut batch);
        if i > 0 {
            push(Event::group_added_to_group(g(i), g(i / 5)), &mut batch);
        }
        push(Event::permission_group_added(g(i), p(i % 100)), &mut batch);
    }
    let group_of = |user: u64, k: u64| (user * 7 + k * 131) % 500;
    for i in 0..users {
        push(
            audit_log::UserCreated::new(u(i))
                .login_name(format!("user{i}"))
                .email(format!("user{i}@example.com"))
                .into(),
            &mut batch,
        );
        for k in 0..3 {
            push(
                Event::user_added_to_group(u(i), g(group_of(i, k))),
                &mut batch,
            );
        }
        if i % 10 == 0 {
            push(Event::permission_user_added(u(i), p(i % 100)), &mut batch);
        }
    }
    for n in 0..churn {
        let i = n % users;
        // Out of the first group and back into it: the same directory, newer records.
        push(
            Event::user_removed_from_group(u(i), g(group_of(i, 0))),
            &mut batch,
        );
        push(
            Event::user_added_to_group(u(i), g(group_of(i, 0))),
            &mut batch,
        );
    }
    log.record_batch(batch).unwrap();
    History::new(&store).state_at(Point::Head).unwrap()
}

/// A snapshot's size follows the directory, not the trail: the same 10,000-user directory
/// after 20,000 more records snapshots to within a few percent (the longer seq numbers).
#[test]
fn a_snapshot_is_as_large_as_the_directory_not_the_trail() {
    let fresh = directory(10_000, 0);
    let churned = directory(10_000, 10_000);
    let (small, large) = (
        fresh.to_snapshot_bytes().len(),
        churned.to_snapshot_bytes().len(),
    );
    eprintln!(
        "snapshot of 10,000 users: {small} bytes after {} records, {large} after {}",
        fresh.seq(),
        churned.seq()
    );
    assert_eq!(fresh.users().count(), 10_000);
    assert!(large < small + small / 20, "{large} vs {small}");
    // Measured: 4,358,496 bytes (436 per user, with the groups and grants).
    assert!(small < 10_000 * 500, "{small} bytes for 10,000 users");
    assert_eq!(
        State::from_snapshot_bytes(&churned.to_snapshot_bytes()).unwrap(),
        churned
    );
}

/// With a direct grant and a grant through nested groups, taking the user out of the group
/// changes no access (blame stays empty) but loses a path, which `access_changes` reports,
/// marked so; so does the path coming back, and the access going for good.
#[test]
fn access_changes_tell_a_path_lost_while_access_is_kept() {
    let payroll = || pg(1, ScopeChoice::System);
    let store = trail(vec![
        Event::permission_user_added(user(1), payroll()), // 1
        Event::user_added_to_group(user(1), group(1)),    // 2
        Event::group_added_to_group(group(1), group(2)),  // 3
        Event::permission_group_added(group(2), payroll()), // 4
        Event::user_removed_from_group(user(1), group(1)), // 5
        Event::user_added_to_group(user(1), group(2)),    // 6
        Event::permission_user_removed(user(1), payroll()), // 7
        Event::group_deleted(group(2)),                   // 8
    ]);
    let history = History::new(&store);
    let blame = history
        .blame("u1", &AccessFilter::Any, Point::Seq(1), Point::Head)
        .unwrap();
    assert_eq!(
        blame.iter().map(|b| b.record.seq).collect::<Vec<_>>(),
        vec![8]
    );
    let changes = history
        .access_changes("u1", &AccessFilter::Any, Point::Seq(1), Point::Head)
        .unwrap();
    let said: Vec<(u64, Vec<String>)> = changes
        .iter()
        .map(|c| {
            (
                c.record.seq,
                c.changes.iter().map(ToString::to_string).collect(),
            )
        })
        .collect();
    assert_eq!(
        said,
        vec![
            (
                4,
                vec!["path gained: role 1 (system) via group 1 -> group 2".to_owned()]
            ),
            (
                5,
                vec!["path lost: role 1 (system) via group 1 -> group 2".to_owned()]
            ),
            (
                6,
                vec!["path gained: role 1 (system) via group 2".to_owned()]
            ),
            (7, vec!["path lost: role 1 (system) direct".to_owned()]),
            (8, vec!["lost role 1 (system) via group 2".to_owned()]),
        ]
    );
    let lost = &changes[1];
    assert!(!lost.changes_access());
    let Change::PathLost(p) = &lost.changes[0] else {
        panic!("{lost:?}");
    };
    assert_eq!(
        p.path.links.iter().map(|l| l.seq).collect::<Vec<_>>(),
        vec![2, 3, 4],
        "the records that made the path that went"
    );
    assert!(changes[4].changes_access());
    assert_eq!(
        changes
            .iter()
            .filter(|c| c.changes_access())
            .map(|c| c.record.seq)
            .collect::<Vec<_>>(),
        blame.iter().map(|b| b.record.seq).collect::<Vec<_>>()
    );
    let json = serde_json::to_value(&lost.changes[0]).unwrap();
    assert_eq!(json["change"], "path_lost");
    assert_eq!(json["permission_group"]["id"], "p1");
    assert_eq!(
        serde_json::from_value::<Change>(json).unwrap(),
        lost.changes[0]
    );
    assert!(lost
        .to_string()
        .ends_with(": path lost: role 1 (system) via group 1 -> group 2;"));
}

/// A blame line and a store dump are read by a person in a terminal: a group name holding an
/// escape sequence (it could set the title, hide text or move the cursor) is shown escaped.
#[test]
fn blame_lines_and_dumps_show_hostile_names_escaped() {
    let evil = EntityRef::new("g1", "Acc\u{1b}[8mounting");
    let store = trail(vec![
        Event::permission_group_added(
            evil.clone(),
            PermissionGroupRef::new("p1", "Payroll", Scope::System),
        ),
        Event::user_added_to_group(EntityRef::new("u1", "alice"), evil),
    ]);
    let history = History::new(&store);
    let blame = history
        .blame("u1", &AccessFilter::Any, Point::Seq(0), Point::Head)
        .unwrap();
    let line = blame.iter().next().expect("the grant's record").to_string();
    assert!(!line.contains('\u{1b}'), "{line:?}");
    assert!(line.contains(r"Acc\u001b[8mounting"), "{line:?}");
    let access = history.access("u1", Point::Head).unwrap();
    for grant in &access.grants {
        let g = grant.to_string();
        assert!(!g.contains('\u{1b}') && g.contains(r"\u001b"), "{g:?}");
    }
    assert!(!access.grants.is_empty());
    let dump = store.dump(&audit_log::TenantId::default());
    assert!(
        !dump.contains('\u{1b}') && dump.contains(r"\u001b"),
        "{dump:?}"
    );
}
