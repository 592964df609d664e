//! The snapshot of a [`State`]: its versioned, canonical encoding (see the
//! [module docs](super#snapshots) for the layout), and the way back.
//!
//! This is the one serialized form of a state: `Serialize` and `Deserialize` for [`State`]
//! write and read it too, so `serde_json::to_value(&state)` is `state.to_snapshot()`.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::state::State;
use super::table::{Kind, LinkMap, Slot, SlotDeletion, SlotLinks, Stamp, Tables};
use crate::error::{Error, Result};
use crate::event::{Attributes, EntityId, EntityRef, Scope};
use crate::record::{Actor, TenantId};

pub use crate::error::SnapshotError;

fn malformed(reason: impl std::fmt::Display) -> Error {
    Error::Snapshot(SnapshotError::Malformed {
        reason: reason.to_string(),
    })
}

/// The kinds in the order the snapshot lists them, with their field names.
const KINDS: [(Kind, &str); 5] = [
    (Kind::User, "users"),
    (Kind::Group, "groups"),
    (Kind::Application, "applications"),
    (Kind::Workspace, "workspaces"),
    (Kind::PermissionGroup, "permission_groups"),
];

/// The four kinds of live link, each listed once as `[member, container, record]`: the field
/// name, the member's table, the container's table.
const LINKS: [(&str, Kind, Kind); 4] = [
    ("memberships", Kind::User, Kind::Group),
    ("nestings", Kind::Group, Kind::Group),
    ("user_grants", Kind::User, Kind::PermissionGroup),
    ("group_grants", Kind::Group, Kind::PermissionGroup),
];

/// The links a deleted entity had, by field name and the other end's table.
fn deletion_links(l: &SlotLinks) -> [(&'static str, &LinkMap, Kind); 4] {
    [
        ("member_of", &l.member_of, Kind::Group),
        ("members", &l.members, Kind::User),
        ("member_groups", &l.member_groups, Kind::Group),
        (
            "permission_groups",
            &l.permission_groups,
            Kind::PermissionGroup,
        ),
    ]
}

fn time(t: DateTime<Utc>) -> Value {
    // As records write it: RFC 3339, UTC, exactly six fractional digits.
    Value::String(t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// The JSON of a value whose `Serialize` cannot fail (string keys, no custom errors: ids,
/// actors, attributes, scopes), without the panic `json!` would hide.
fn value(v: &impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn id(id: &EntityId) -> Value {
    Value::String(id.as_str().to_owned())
}

impl State {
    /// The version of the snapshot encoding this build writes, and the only one it reads.
    pub const SNAPSHOT_VERSION: u64 = 1;

    /// The snapshot of this state: a JSON object with `"version": 1`, laid out as the
    /// [module docs](super#snapshots) describe. Equal states give equal values;
    /// [`State::from_snapshot`] reads it back to an equal state.
    pub fn to_snapshot(&self) -> Value {
        let t = &self.tables;
        // The actors stamps name, numbered in sorted order, so the numbering depends only on
        // what the state says (not on the order the fold met them).
        let mut used: Vec<u32> = Vec::new();
        for (kind, _) in KINDS {
            let table = t.table(kind);
            for s in (0..table.len()).filter_map(|i| table.slot(i)) {
                used.extend(slot_stamps(s).map(|stamp| stamp.actor));
            }
        }
        used.sort_unstable();
        used.dedup();
        let mut actors: Vec<(Actor, u32)> =
            used.into_iter().map(|n| (t.actors.get(n), n)).collect();
        actors.sort_by(|a, b| actor_order(&a.0, &b.0));
        let number: BTreeMap<u32, usize> = actors
            .iter()
            .enumerate()
            .map(|(i, (_, n))| (*n, i))
            .collect();
        let r = |s: Stamp| {
            let actor = number.get(&s.actor).copied().unwrap_or_default();
            Value::Array(vec![s.seq.into(), time(s.at), actor.into()])
        };

        let mut out = Map::new();
        out.insert("version".into(), State::SNAPSHOT_VERSION.into());
        out.insert("tenant".into(), value(&self.tenant));
        out.insert("seq".into(), self.seq.into());
        if let Some(at) = self.at {
            out.insert("at".into(), time(at));
        }
        out.insert("started_after".into(), self.started_after.into());
        out.insert("unknown_events".into(), self.unknown_events.into());
        if !self.unreadable.is_empty() {
            out.insert("unreadable".into(), value(&self.unreadable));
        }
        if let Some(p) = self.purged_through {
            out.insert("purged_through".into(), p.into());
        }
        out.insert(
            "actors".into(),
            Value::Array(actors.iter().map(|(a, _)| value(a)).collect()),
        );
        for (kind, name) in KINDS {
            let table = t.table(kind);
            let entities = table
                .ordered()
                .iter()
                .filter_map(|&i| table.slot(i))
                .map(|s| entity(t, s, &r))
                .collect();
            out.insert(name.into(), Value::Array(entities));
        }
        for (name, member, container) in LINKS {
            let table = t.table(member);
            let mut links = Vec::new();
            for s in table.ordered().iter().filter_map(|&i| table.slot(i)) {
                let map = match container {
                    Kind::PermissionGroup => &s.links.permission_groups,
                    _ => &s.links.member_of,
                };
                for (other, stamp) in t.by_id(map, container) {
                    if let Some(o) = t.table(container).slot(other) {
                        links.push(Value::Array(vec![id(&s.id), id(&o.id), r(stamp)]));
                    }
                }
            }
            out.insert(name.into(), Value::Array(links));
        }
        Value::Object(out)
    }

    /// [`State::to_snapshot`] as canonical JSON text: no whitespace, object keys in byte
    /// order, lists in the order the layout gives them. Equal states give identical bytes,
    /// whatever features `serde_json` is built with.
    pub fn to_snapshot_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        write_canonical(&self.to_snapshot(), &mut out);
        out
    }

    /// Reads a snapshot back into the state it was taken of.
    ///
    /// # Errors
    /// [`Error::Snapshot`](crate::Error::Snapshot): [`SnapshotError::UnknownVersion`] for a
    /// version other than [`State::SNAPSHOT_VERSION`], [`SnapshotError::Malformed`] for
    /// anything that does not follow the layout (including a link to an entity the snapshot
    /// does not hold, an entity listed twice, a live link to a deleted entity).
    pub fn from_snapshot(snapshot: &Value) -> Result<State> {
        let version = snapshot
            .get("version")
            .ok_or_else(|| malformed("no version field"))?;
        let found = version
            .as_u64()
            .ok_or_else(|| malformed(format!("version {version} is not a number")))?;
        if found != State::SNAPSHOT_VERSION {
            return Err(Error::Snapshot(SnapshotError::UnknownVersion {
                found,
                supported: State::SNAPSHOT_VERSION,
            }));
        }
        let v1 = V1::deserialize(snapshot).map_err(malformed)?;
        v1.build()
    }

    /// [`State::from_snapshot`] from JSON text, such as [`State::to_snapshot_bytes`] wrote.
    ///
    /// # Errors
    /// As [`State::from_snapshot`]; text that is not JSON is
    /// [`SnapshotError::Malformed`].
    pub fn from_snapshot_bytes(bytes: &[u8]) -> Result<State> {
        let value: Value = serde_json::from_slice(bytes).map_err(malformed)?;
        State::from_snapshot(&value)
    }
}

/// Every stamp a slot holds.
fn slot_stamps(s: &Slot) -> impl Iterator<Item = Stamp> + '_ {
    let links = |l: &'_ SlotLinks| {
        [
            &l.member_of,
            &l.members,
            &l.member_groups,
            &l.permission_groups,
        ]
        .into_iter()
        .flat_map(|m| m.values().copied())
        .collect::<Vec<_>>()
    };
    let mut out = vec![s.first_seen];
    out.extend(s.created);
    out.extend(s.password_changed);
    if let Some(d) = &s.deleted {
        out.push(d.by);
        out.extend(links(&d.links));
    }
    out.extend(links(&s.links));
    out.into_iter()
}

fn actor_order(a: &Actor, b: &Actor) -> std::cmp::Ordering {
    (a.kind.as_str(), &a.id, &a.display).cmp(&(b.kind.as_str(), &b.id, &b.display))
}

/// One entity of the snapshot: its fields, absent ones left out. Live links are listed
/// apart (once each); a deleted entity's links at its deletion go with its deletion.
fn entity(t: &Tables, s: &Slot, r: &impl Fn(Stamp) -> Value) -> Value {
    let mut e = Map::new();
    e.insert("id".into(), id(&s.id));
    if let Some(d) = &s.display {
        e.insert("display".into(), Value::String(d.clone()));
    }
    if !s.attributes.is_empty() {
        e.insert("attributes".into(), value(&s.attributes));
    }
    if let Some(w) = &s.workspace {
        e.insert("workspace".into(), value(w));
    }
    if let Some(sc) = &s.scope {
        e.insert("scope".into(), value(sc));
    }
    e.insert("first_seen".into(), r(s.first_seen));
    if let Some(c) = s.created {
        e.insert("created".into(), r(c));
    }
    if let Some(d) = &s.deleted {
        let mut del = Map::new();
        del.insert("by".into(), r(d.by));
        for (name, map, kind) in deletion_links(&d.links) {
            if map.is_empty() {
                continue;
            }
            let links = t
                .by_id(map, kind)
                .into_iter()
                .filter_map(|(i, stamp)| {
                    Some(Value::Array(vec![id(&t.table(kind).slot(i)?.id), r(stamp)]))
                })
                .collect();
            del.insert(name.into(), Value::Array(links));
        }
        e.insert("deleted".into(), Value::Object(del));
    }
    if let Some(p) = s.password_changed {
        e.insert("password_changed".into(), r(p));
    }
    e.insert("last_changed".into(), s.last_changed.into());
    Value::Object(e)
}

/// Writes `v` as canonical JSON text: compact, object keys sorted by their bytes.
fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(Value::String(k.clone()).to_string().as_bytes());
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

/// A record reference as the snapshot writes it: `[seq, time, actor number]`.
#[derive(Deserialize)]
struct Ref(
    u64,
    #[serde(with = "crate::record::micros")] DateTime<Utc>,
    usize,
);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeletionV1 {
    by: Ref,
    #[serde(default)]
    member_of: Vec<(EntityId, Ref)>,
    #[serde(default)]
    members: Vec<(EntityId, Ref)>,
    #[serde(default)]
    member_groups: Vec<(EntityId, Ref)>,
    #[serde(default)]
    permission_groups: Vec<(EntityId, Ref)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntityV1 {
    id: EntityId,
    #[serde(default)]
    display: Option<String>,
    #[serde(default)]
    attributes: Attributes,
    #[serde(default)]
    workspace: Option<EntityRef>,
    #[serde(default)]
    scope: Option<Scope>,
    first_seen: Ref,
    #[serde(default)]
    created: Option<Ref>,
    #[serde(default)]
    deleted: Option<DeletionV1>,
    #[serde(default)]
    password_changed: Option<Ref>,
    last_changed: u64,
}

type LinkV1 = (EntityId, EntityId, Ref);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct V1 {
    #[allow(dead_code)]
    version: u64,
    tenant: TenantId,
    seq: u64,
    #[serde(default, with = "optional_time")]
    at: Option<DateTime<Utc>>,
    started_after: u64,
    unknown_events: u64,
    #[serde(default)]
    unreadable: Vec<u64>,
    #[serde(default)]
    purged_through: Option<u64>,
    actors: Vec<Actor>,
    users: Vec<EntityV1>,
    groups: Vec<EntityV1>,
    applications: Vec<EntityV1>,
    workspaces: Vec<EntityV1>,
    permission_groups: Vec<EntityV1>,
    memberships: Vec<LinkV1>,
    nestings: Vec<LinkV1>,
    user_grants: Vec<LinkV1>,
    group_grants: Vec<LinkV1>,
}

mod optional_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "crate::record::micros")] DateTime<Utc>);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

impl V1 {
    /// The state the snapshot describes: the entities first, so links can name them.
    fn build(self) -> Result<State> {
        let mut tables = Tables::default();
        for (i, actor) in self.actors.iter().enumerate() {
            let n = tables
                .actors
                .intern(actor)
                .ok_or_else(|| malformed("more than 4294967295 actors"))?;
            if n as usize != i {
                return Err(malformed(format!("actor {i} repeats actor {n}")));
            }
        }
        let actors = self.actors.len();
        let stamp = |r: &Ref| -> Result<Stamp> {
            let actor = u32::try_from(r.2)
                .ok()
                .filter(|_| r.2 < actors)
                .ok_or_else(|| {
                    malformed(format!(
                        "record {} names actor {}, of {actors} listed",
                        r.0, r.2
                    ))
                })?;
            Ok(Stamp {
                seq: r.0,
                at: r.1,
                actor,
            })
        };
        let kinds = [
            (Kind::User, self.users),
            (Kind::Group, self.groups),
            (Kind::Application, self.applications),
            (Kind::Workspace, self.workspaces),
            (Kind::PermissionGroup, self.permission_groups),
        ];
        for (kind, entities) in &kinds {
            for e in entities {
                let table = tables.table_mut(*kind);
                if table.find(&e.id).is_some() {
                    return Err(malformed(format!(
                        "{} {} is listed twice",
                        kind.entity_kind(),
                        e.id
                    )));
                }
                table.find_or_add(&e.id, stamp(&e.first_seen)?);
            }
        }
        let find = |tables: &Tables, kind: Kind, id: &EntityId, what: &str| {
            tables.table(kind).find(id).ok_or_else(|| {
                malformed(format!(
                    "{what} names {} {id}, which the snapshot does not hold",
                    kind.entity_kind()
                ))
            })
        };
        for (kind, entities) in kinds {
            for e in entities {
                let deleted = match &e.deleted {
                    None => None,
                    Some(d) => {
                        let mut links = SlotLinks::default();
                        let lists = [
                            (&d.member_of, &mut links.member_of, Kind::Group),
                            (&d.members, &mut links.members, Kind::User),
                            (&d.member_groups, &mut links.member_groups, Kind::Group),
                            (
                                &d.permission_groups,
                                &mut links.permission_groups,
                                Kind::PermissionGroup,
                            ),
                        ];
                        for (list, map, other) in lists {
                            for (id, r) in list {
                                let what =
                                    format!("the deletion of {} {}", kind.entity_kind(), e.id);
                                let o = find(&tables, other, id, &what)?;
                                if map.insert(o, stamp(r)?).is_some() {
                                    return Err(malformed(format!("{what} lists {id} twice")));
                                }
                            }
                        }
                        Some(SlotDeletion {
                            by: stamp(&d.by)?,
                            links,
                        })
                    }
                };
                let created = e.created.as_ref().map(&stamp).transpose()?;
                let password_changed = e.password_changed.as_ref().map(&stamp).transpose()?;
                let i = find(&tables, kind, &e.id, "the snapshot")?;
                let Some(s) = tables.table_mut(kind).slot_mut(i) else {
                    continue;
                };
                s.display = e.display;
                s.attributes = e.attributes;
                s.workspace = e.workspace;
                s.scope = e.scope;
                s.created = created;
                s.deleted = deleted;
                s.password_changed = password_changed;
                s.last_changed = e.last_changed;
            }
        }
        let lists = [
            self.memberships,
            self.nestings,
            self.user_grants,
            self.group_grants,
        ];
        for ((name, member, container), list) in LINKS.into_iter().zip(lists) {
            for (m, c, r) in list {
                let what = format!("{name} entry [{m}, {c}]");
                let mi = find(&tables, member, &m, &what)?;
                let ci = find(&tables, container, &c, &what)?;
                let live = |kind: Kind, i: usize| {
                    tables
                        .table(kind)
                        .slot(i)
                        .is_some_and(|s| s.deleted.is_none())
                };
                if !live(member, mi) || !live(container, ci) {
                    return Err(malformed(format!("{what} links a deleted entity")));
                }
                let stamp = stamp(&r)?;
                if let Some(s) = tables.table_mut(member).slot_mut(mi) {
                    let forward = match container {
                        Kind::PermissionGroup => &mut s.links.permission_groups,
                        _ => &mut s.links.member_of,
                    };
                    if forward.insert(ci, stamp).is_some() {
                        return Err(malformed(format!("{what} is listed twice")));
                    }
                }
                if let Some(s) = tables.table_mut(container).slot_mut(ci) {
                    let backward = match member {
                        Kind::User => &mut s.links.members,
                        _ => &mut s.links.member_groups,
                    };
                    backward.insert(mi, stamp);
                }
            }
        }
        index_scopes(&mut tables);
        Ok(State {
            tenant: self.tenant,
            seq: self.seq,
            at: self.at,
            started_after: self.started_after,
            tables,
            unknown_events: self.unknown_events,
            unreadable: self.unreadable,
            purged_through: self.purged_through,
        })
    }
}

/// Lists each permission group with the application or workspace of its scope, as the fold
/// does when it first sees the scope.
fn index_scopes(tables: &mut Tables) {
    let pgs = tables.table(Kind::PermissionGroup);
    let mut holders: Vec<(Kind, EntityId, usize)> = Vec::new();
    for p in 0..pgs.len() {
        match pgs.slot(p).and_then(|s| s.scope.as_ref()) {
            Some(Scope::Workspace { workspace }) => {
                holders.push((Kind::Workspace, workspace.id.clone(), p));
            }
            Some(Scope::Application { application, .. }) => {
                holders.push((Kind::Application, application.id.clone(), p));
            }
            _ => {}
        }
    }
    for (kind, id, p) in holders {
        let table = tables.table_mut(kind);
        if let Some(s) = table.find(&id).and_then(|i| table.slot_mut(i)) {
            s.scoped.push(p);
        }
    }
}

/// The snapshot ([`State::to_snapshot`]).
impl Serialize for State {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_snapshot().serialize(s)
    }
}

/// From a snapshot ([`State::from_snapshot`]).
impl<'de> Deserialize<'de> for State {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        State::from_snapshot(&v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, PermissionGroupRef, UserCreated};
    use crate::{AuditLog, MemorySink, Query, Record};

    /// Records by `(actor, event)`, folded into a state.
    fn fold(events: Vec<(Actor, Event)>) -> (State, Vec<Record>) {
        let store = MemorySink::new();
        let log = AuditLog::builder(store.clone()).build();
        for (actor, e) in events {
            log.record(&actor, e).unwrap();
        }
        let records = store.find(&Query::new());
        let mut state = State::new("default");
        for r in &records {
            state.apply(r).unwrap();
        }
        (state, records)
    }

    /// alice joins Accounting, Accounting gets a permission group, carol adds bob to
    /// Accounting and root takes him out again, alice changes her password.
    fn sample() -> (State, Vec<Record>) {
        let root = Actor::user(2, "root");
        let carol = Actor::user(1, "carol");
        let alice = EntityRef::new(42, "alice");
        let bob = EntityRef::new(43, "bob");
        let acct = EntityRef::new("g1", "Accounting");
        let pg = PermissionGroupRef::new(
            "p1",
            "Payroll editors",
            Scope::application(
                EntityRef::new("a1", "Payroll"),
                EntityRef::new("w1", "Finance"),
            ),
        );
        fold(vec![
            (root.clone(), UserCreated::new(alice.clone()).into()),
            (root.clone(), UserCreated::new(bob.clone()).into()),
            (
                root.clone(),
                Event::user_added_to_group(alice.clone(), acct.clone()),
            ),
            (
                root.clone(),
                Event::permission_group_added(acct.clone(), pg),
            ),
            (carol, Event::user_added_to_group(bob.clone(), acct.clone())),
            (root.clone(), Event::user_removed_from_group(bob, acct)),
            (
                root,
                Event::user_edited(alice, vec![crate::UserChange::password_changed()]),
            ),
        ])
    }

    #[test]
    fn the_snapshot_reads_back_to_an_equal_state_and_the_same_bytes() {
        let (state, records) = sample();
        let snap = state.to_snapshot();
        assert_eq!(snap["version"], 1);
        assert_eq!(snap["seq"], 7);
        // Links once each, as [member, container, [seq, time, actor]].
        let at = records[2]
            .occurred_at
            .to_rfc3339_opts(SecondsFormat::Micros, true);
        assert_eq!(
            snap["memberships"],
            serde_json::json!([["42", "g1", [3, at, 0]]])
        );
        assert_eq!(snap["group_grants"][0][1], "p1");
        // carol's only stamp went with the membership root removed: she is not listed.
        assert_eq!(
            snap["actors"],
            serde_json::json!([{"kind": "user", "id": "2", "display": "root"}])
        );
        assert_eq!(snap["users"][0]["password_changed"][0], 7);
        assert_eq!(snap["users"][1].get("password_changed"), None);
        assert_eq!(snap["applications"][0]["workspace"]["id"], "w1");

        let back = State::from_snapshot(&snap).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.to_snapshot_bytes(), state.to_snapshot_bytes());
        assert_eq!(serde_json::to_value(&state).unwrap(), snap);
        let text = state.to_snapshot_bytes();
        assert!(text.starts_with(b"{\"actors\":[{\"display\":\"root\",\"id\":\"2\""));
        assert_eq!(State::from_snapshot_bytes(&text).unwrap(), state);
        assert_eq!(serde_json::from_slice::<State>(&text).unwrap(), state);
    }

    #[test]
    fn states_that_say_the_same_give_identical_bytes_however_they_were_built() {
        // Folded, the state numbered root before carol; read back, by the sorted order.
        // Neither shows in the bytes.
        let (state, records) = sample();
        let mut with_carol = state.clone();
        with_carol.tables.actors.intern(&Actor::user(1, "carol"));
        let back = State::from_snapshot(&state.to_snapshot()).unwrap();
        assert_eq!(back, with_carol);
        assert_eq!(back.to_snapshot_bytes(), with_carol.to_snapshot_bytes());
        // The decoded state folds on exactly like the original.
        let (mut a, mut b) = (State::new("default"), back.clone());
        for r in &records {
            a.apply(r).unwrap();
        }
        assert_eq!(a, b);
        let next = Record {
            seq: 8,
            ..records[6].clone()
        };
        a.apply(&next).unwrap();
        b.apply(&next).unwrap();
        assert_eq!(a, b);
    }

    fn error_of(v: Value) -> SnapshotError {
        match State::from_snapshot(&v) {
            Err(Error::Snapshot(e)) => e,
            other => panic!("expected a snapshot error, got {other:?}"),
        }
    }

    #[test]
    fn an_unknown_version_is_its_own_error() {
        let (state, _) = sample();
        let mut snap = state.to_snapshot();
        snap["version"] = 2.into();
        snap["users"] = "a layout this build does not know".into();
        assert_eq!(
            error_of(snap.clone()),
            SnapshotError::UnknownVersion {
                found: 2,
                supported: 1
            }
        );
        assert_eq!(
            State::from_snapshot(&snap).unwrap_err().to_string(),
            "unreadable state snapshot: version 2 is not supported (this build reads version 1)"
        );
        snap["version"] = "1".into();
        assert!(matches!(error_of(snap), SnapshotError::Malformed { .. }));
        assert!(matches!(
            error_of(serde_json::json!([1, 2])),
            SnapshotError::Malformed { .. }
        ));
    }

    #[test]
    fn a_malformed_snapshot_is_refused_with_what_is_wrong() {
        let (state, _) = sample();
        let good = state.to_snapshot();
        let reason = |edit: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            edit(&mut v);
            match error_of(v) {
                SnapshotError::Malformed { reason } => reason,
                other => panic!("expected malformed, got {other:?}"),
            }
        };
        type Edit<'a> = &'a dyn Fn(&mut Value);
        let cases: [(Edit<'_>, &str); 7] = [
            (&|v| v["groups"] = serde_json::json!([]), "names group g1"),
            (
                &|v| {
                    let again = v["users"][0].clone();
                    v["users"].as_array_mut().unwrap().push(again);
                },
                "user 42 is listed twice",
            ),
            (&|v| v["memberships"][0][2][2] = 5.into(), "names actor 5"),
            (
                &|v| {
                    v.as_object_mut().unwrap().remove("seq");
                },
                "missing field `seq`",
            ),
            (&|v| v["extra"] = 1.into(), "unknown field `extra`"),
            (
                &|v| {
                    v["groups"][0]["deleted"] =
                        serde_json::json!({"by": v["groups"][0]["first_seen"].clone()})
                },
                "links a deleted entity",
            ),
            (
                &|v| v["actors"] = serde_json::json!([v["actors"][0], v["actors"][0]]),
                "actor 1 repeats actor 0",
            ),
        ];
        for (edit, expected) in cases {
            let got = reason(edit);
            assert!(got.contains(expected), "{got:?} should say {expected:?}");
        }
        assert!(matches!(
            State::from_snapshot_bytes(b"{not json"),
            Err(Error::Snapshot(SnapshotError::Malformed { .. }))
        ));
    }

    #[test]
    fn an_empty_state_has_a_snapshot_too() {
        let empty = State::after_purge("acme", 12);
        let snap = empty.to_snapshot();
        assert_eq!(snap["started_after"], 12);
        assert_eq!(snap.get("at"), None);
        assert_eq!(State::from_snapshot(&snap).unwrap(), empty);
    }
}
