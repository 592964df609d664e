//! The fold: [`State`], what the trail says the organisation looked like after a given record.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::event::{
    user_fields, Attributes, EntityId, EntityKey, EntityKind, EntityRef, Event, FieldChange,
    PermissionGroupRef, Scope, UserChange,
};
use crate::record::{Actor, Outcome, Record, TenantId};

/// A pointer to the record that did something: its seq, when, and who.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRef {
    /// The record's seq.
    pub seq: u64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it.
    pub actor: Actor,
}

impl RecordRef {
    /// The pointer to `r`.
    pub fn of(r: &Record) -> Self {
        RecordRef {
            seq: r.seq,
            at: r.occurred_at,
            actor: r.actor.clone(),
        }
    }
}

/// Links of one entity to others, each with the record that made it.
///
/// Which maps an entity uses depends on its kind: users and groups are `member_of` groups and
/// hold `permission_groups`; a group has `members` (users) and `member_groups` (nested
/// groups); a permission group has `members` (users) and `member_groups` (groups).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Links {
    /// Groups this user or group is a member of.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub member_of: BTreeMap<EntityId, RecordRef>,
    /// Users in this group or permission group.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub members: BTreeMap<EntityId, RecordRef>,
    /// Groups nested in this group, or groups in this permission group.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub member_groups: BTreeMap<EntityId, RecordRef>,
    /// Permission groups this user or group is in (directly).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub permission_groups: BTreeMap<EntityId, RecordRef>,
}

impl Links {
    /// Whether there is no link at all.
    pub fn is_empty(&self) -> bool {
        self.member_of.is_empty()
            && self.members.is_empty()
            && self.member_groups.is_empty()
            && self.permission_groups.is_empty()
    }

    /// Every link as `(relation, other entity, record that made it)`, in a fixed order.
    pub fn iter(&self) -> impl Iterator<Item = (Relation, EntityKey, &RecordRef)> {
        let member_of = self
            .member_of
            .iter()
            .map(|(id, l)| (Relation::MemberOf, EntityKey::group(id.clone()), l));
        let members = self
            .members
            .iter()
            .map(|(id, l)| (Relation::Member, EntityKey::user(id.clone()), l));
        let member_groups = self
            .member_groups
            .iter()
            .map(|(id, l)| (Relation::MemberGroup, EntityKey::group(id.clone()), l));
        let pgs = self.permission_groups.iter().map(|(id, l)| {
            (
                Relation::PermissionGroup,
                EntityKey::permission_group(id.clone()),
                l,
            )
        });
        member_of.chain(members).chain(member_groups).chain(pgs)
    }
}

/// The kind of a link, seen from the entity that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// This user or group is a member of the other group.
    MemberOf,
    /// The other user is a member of this group or permission group.
    Member,
    /// The other group is nested in this group, or is in this permission group.
    MemberGroup,
    /// This user or group is in the other permission group.
    PermissionGroup,
}

impl Relation {
    /// A short phrase: `member of`, `member`, `member group`, `permission group`.
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::MemberOf => "member of",
            Relation::Member => "member",
            Relation::MemberGroup => "member group",
            Relation::PermissionGroup => "permission group",
        }
    }
}

/// How an entity was deleted, with the links it had at that moment (what a restore needs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    /// The record that deleted it (for an application deleted with its workspace, the
    /// workspace's deletion).
    pub by: RecordRef,
    /// Its links just before the deletion.
    #[serde(default, skip_serializing_if = "Links::is_empty")]
    pub links: Links,
}

/// What the trail knows of one entity at a point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    /// Kind and id: the identity, which renames do not change.
    pub key: EntityKey,
    /// The newest name the trail knows (display snapshots, and `name` / `login_name` edits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// Attributes from creation and later edits (redacted values stay redacted).
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
    /// For an application: the workspace it lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<EntityRef>,
    /// For a permission group: its scope, as last recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// Live links (see [`Links`] for which apply to which kind).
    #[serde(default, skip_serializing_if = "Links::is_empty")]
    pub links: Links,
    /// The first record naming it. When `created` is `None` this is where the trail first
    /// saw an entity that existed before the trail started (or before the purge point).
    pub first_seen: RecordRef,
    /// The record that created it, if the trail holds one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<RecordRef>,
    /// How it was deleted, if it is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Deletion>,
    /// For a user: the last password change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_changed: Option<RecordRef>,
    /// The seq of the last record that changed it.
    pub last_changed: u64,
}

impl Entity {
    fn new(key: EntityKey, r: &Record) -> Self {
        Entity {
            key,
            display: None,
            attributes: Attributes::new(),
            workspace: None,
            scope: None,
            links: Links::default(),
            first_seen: RecordRef::of(r),
            created: None,
            deleted: None,
            password_changed: None,
            last_changed: r.seq,
        }
    }

    /// The newest name, or the id.
    pub fn label(&self) -> &str {
        self.display.as_deref().unwrap_or(self.key.id.as_str())
    }

    /// A reference to it with its newest name.
    pub fn to_ref(&self) -> EntityRef {
        EntityRef {
            id: self.key.id.clone(),
            display: self.display.clone(),
        }
    }

    /// Whether it existed before the trail started: the trail names it but never created it.
    pub fn predates_trail(&self) -> bool {
        self.created.is_none()
    }

    /// Whether it is deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted.is_some()
    }

    /// The links it had last: the live ones, or for a deleted entity those at its deletion.
    pub fn last_known_links(&self) -> &Links {
        match &self.deleted {
            Some(d) if self.links.is_empty() => &d.links,
            _ => &self.links,
        }
    }
}

/// What the trail says about one tenant after folding its records through [`State::seq`].
///
/// Build it with [`History`](super::History) (which reads the store), or fold records
/// yourself with [`State::apply`]. It is `Clone + Serialize + Deserialize`, so a host can
/// save it and resume folding later from `seq + 1`.
///
/// # How records change it
/// - Only successful records change state; failed and denied attempts appear in timelines.
/// - Entities are keyed by kind and id; a rename changes only the display name.
/// - An entity first named by an edit, a membership or a permission record is taken as one
///   that existed before the trail and is marked so ([`Entity::predates_trail`]).
/// - Deleting a user or a group removes every link it had (memberships, nesting, permission
///   groups); the entity keeps them as its last known state in [`Deletion::links`].
/// - Deleting a workspace deletes its applications. A permission group whose scope (its
///   application or workspace) is deleted grants nothing ([`State::scope_deleted`]).
/// - Custom events, `audit.*` events and events this version does not know pass through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    tenant: TenantId,
    seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<DateTime<Utc>>,
    started_after: u64,
    #[serde(default)]
    users: BTreeMap<EntityId, Entity>,
    #[serde(default)]
    groups: BTreeMap<EntityId, Entity>,
    #[serde(default)]
    applications: BTreeMap<EntityId, Entity>,
    #[serde(default)]
    workspaces: BTreeMap<EntityId, Entity>,
    #[serde(default)]
    permission_groups: BTreeMap<EntityId, Entity>,
    #[serde(default)]
    unknown_events: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unreadable: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    purged_through: Option<u64>,
}

impl State {
    /// An empty state for `tenant`, before its first record.
    pub fn new(tenant: impl Into<TenantId>) -> Self {
        State {
            tenant: tenant.into(),
            seq: 0,
            at: None,
            started_after: 0,
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            applications: BTreeMap::new(),
            workspaces: BTreeMap::new(),
            permission_groups: BTreeMap::new(),
            unknown_events: 0,
            unreadable: Vec::new(),
            purged_through: None,
        }
    }

    /// An empty state for a trail whose records through `anchor` were purged: folding starts
    /// after it, and [`State::started_after`] says so.
    pub fn after_purge(tenant: impl Into<TenantId>, anchor: u64) -> Self {
        let mut s = State::new(tenant);
        s.seq = anchor;
        s.started_after = anchor;
        s
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The seq of the last record folded (0 before any).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// When the last folded record happened.
    pub fn at(&self) -> Option<DateTime<Utc>> {
        self.at
    }

    /// The seq the fold started after: 0 for a whole trail, the purge point for a trail whose
    /// beginning was removed by retention. Entities from before it show as
    /// [predating the trail](Entity::predates_trail).
    pub fn started_after(&self) -> u64 {
        self.started_after
    }

    /// How many folded records held an event this version does not know.
    pub fn unknown_events(&self) -> u64 {
        self.unknown_events
    }

    /// Seqs of records the store could not read (skipped by the fold).
    pub fn unreadable(&self) -> &[u64] {
        &self.unreadable
    }

    /// The last seq an `audit.purged` record in the folded trail says was purged.
    pub fn purged_through(&self) -> Option<u64> {
        self.purged_through
    }

    /// Every entity of a kind, in id order (deleted ones included).
    pub fn entities(&self, kind: &EntityKind) -> impl Iterator<Item = &Entity> {
        self.map(kind).into_iter().flat_map(|m| m.values())
    }

    /// Users, in id order.
    pub fn users(&self) -> impl Iterator<Item = &Entity> {
        self.users.values()
    }
    /// Groups, in id order.
    pub fn groups(&self) -> impl Iterator<Item = &Entity> {
        self.groups.values()
    }
    /// Applications, in id order.
    pub fn applications(&self) -> impl Iterator<Item = &Entity> {
        self.applications.values()
    }
    /// Workspaces, in id order.
    pub fn workspaces(&self) -> impl Iterator<Item = &Entity> {
        self.workspaces.values()
    }
    /// Permission groups, in id order.
    pub fn permission_groups(&self) -> impl Iterator<Item = &Entity> {
        self.permission_groups.values()
    }

    /// One entity, deleted or not.
    pub fn entity(&self, key: &EntityKey) -> Option<&Entity> {
        self.map(&key.kind)?.get(&key.id)
    }

    /// A user by id.
    pub fn user(&self, id: &EntityId) -> Option<&Entity> {
        self.users.get(id)
    }
    /// A group by id.
    pub fn group(&self, id: &EntityId) -> Option<&Entity> {
        self.groups.get(id)
    }
    /// An application by id.
    pub fn application(&self, id: &EntityId) -> Option<&Entity> {
        self.applications.get(id)
    }
    /// A workspace by id.
    pub fn workspace(&self, id: &EntityId) -> Option<&Entity> {
        self.workspaces.get(id)
    }
    /// A permission group by id.
    pub fn permission_group(&self, id: &EntityId) -> Option<&Entity> {
        self.permission_groups.get(id)
    }

    /// How many entities the state holds, deleted ones included: what its memory grows with.
    pub fn len(&self) -> usize {
        self.users.len()
            + self.groups.len()
            + self.applications.len()
            + self.workspaces.len()
            + self.permission_groups.len()
    }

    /// Whether no entity is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether an entity is known and not deleted.
    pub fn is_live(&self, key: &EntityKey) -> bool {
        self.entity(key).is_some_and(|e| !e.is_deleted())
    }

    /// The deletion that left a permission group without a scope: its application's, the
    /// workspace's of that application, or its workspace's. `None` while the scope exists
    /// (a system scope always does).
    pub fn scope_deleted(&self, permission_group: &EntityId) -> Option<&Deletion> {
        let scope = self
            .permission_groups
            .get(permission_group)?
            .scope
            .as_ref()?;
        self.scope_deletion(scope)
    }

    /// The deletion that removed `scope`, if any.
    pub fn scope_deletion(&self, scope: &Scope) -> Option<&Deletion> {
        match scope {
            Scope::Workspace { workspace } => self
                .workspaces
                .get(&workspace.id)
                .and_then(|w| w.deleted.as_ref()),
            Scope::Application {
                application,
                workspace,
            } => {
                let app = self.applications.get(&application.id);
                if let Some(d) = app.and_then(|a| a.deleted.as_ref()) {
                    return Some(d);
                }
                let ws = app
                    .and_then(|a| a.workspace.as_ref())
                    .or(workspace.as_ref())?;
                self.workspaces.get(&ws.id).and_then(|w| w.deleted.as_ref())
            }
            _ => None,
        }
    }

    /// The workspace a scope lives in: the workspace of a workspace scope, or the
    /// application's (as the state knows it, else as the scope recorded it).
    pub fn scope_workspace<'a>(&'a self, scope: &'a Scope) -> Option<&'a EntityId> {
        match scope {
            Scope::Workspace { workspace } => Some(&workspace.id),
            Scope::Application {
                application,
                workspace,
            } => self
                .applications
                .get(&application.id)
                .and_then(|a| a.workspace.as_ref())
                .or(workspace.as_ref())
                .map(|w| &w.id),
            _ => None,
        }
    }

    /// Whether a permission group is known and its scope exists.
    pub fn grants(&self, permission_group: &EntityId) -> bool {
        self.permission_groups.contains_key(permission_group)
            && self.scope_deleted(permission_group).is_none()
    }

    fn map(&self, kind: &EntityKind) -> Option<&BTreeMap<EntityId, Entity>> {
        match kind {
            EntityKind::User => Some(&self.users),
            EntityKind::Group => Some(&self.groups),
            EntityKind::Application => Some(&self.applications),
            EntityKind::Workspace => Some(&self.workspaces),
            EntityKind::PermissionGroup => Some(&self.permission_groups),
            _ => None,
        }
    }

    fn map_mut(&mut self, kind: &EntityKind) -> Option<&mut BTreeMap<EntityId, Entity>> {
        match kind {
            EntityKind::User => Some(&mut self.users),
            EntityKind::Group => Some(&mut self.groups),
            EntityKind::Application => Some(&mut self.applications),
            EntityKind::Workspace => Some(&mut self.workspaces),
            EntityKind::PermissionGroup => Some(&mut self.permission_groups),
            _ => None,
        }
    }

    /// Notes a record the store could not read, so the state says it was skipped.
    pub fn note_unreadable(&mut self, seq: u64) {
        if seq > self.seq {
            self.seq = seq;
        }
        self.unreadable.push(seq);
    }

    /// Folds one record into the state.
    ///
    /// Records must come in seq order, each after [`State::seq`]; a gap before the first
    /// record of an empty state is taken as a purge point ([`State::started_after`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (nothing changed) when the record belongs to another tenant
    /// or is not after [`State::seq`].
    pub fn apply(&mut self, r: &Record) -> Result<()> {
        if r.tenant != self.tenant {
            return Err(Error::invalid(
                "record.tenant",
                format!(
                    "record of tenant {} folded into tenant {}",
                    r.tenant, self.tenant
                ),
            ));
        }
        if r.seq <= self.seq {
            return Err(Error::invalid(
                "record.seq",
                format!("seq {} is not after the state's seq {}", r.seq, self.seq),
            ));
        }
        if self.seq == 0 && r.seq > 1 {
            self.started_after = r.seq - 1;
        }
        self.seq = r.seq;
        self.at = Some(r.occurred_at);
        if r.outcome != Outcome::Success {
            return Ok(());
        }
        match &r.event {
            Event::UserCreated(e) => self.create(EntityKind::User, &e.user, &e.attributes, r),
            Event::UserEdited(e) => {
                let password = e
                    .changes
                    .iter()
                    .any(|c| matches!(c, UserChange::PasswordChanged));
                let fields: Vec<&FieldChange> = e
                    .changes
                    .iter()
                    .filter_map(|c| match c {
                        UserChange::Field(f) => Some(f),
                        _ => None,
                    })
                    .collect();
                let u = self.touch(EntityKind::User, &e.user, r);
                edit(u, fields, user_fields::LOGIN_NAME, r.seq);
                if password {
                    u.password_changed = Some(RecordRef::of(r));
                }
            }
            Event::UserDeleted(e) => self.delete(EntityKind::User, &e.user, r),
            Event::UserAddedToGroup(e) => {
                self.touch(EntityKind::User, &e.user, r);
                self.touch(EntityKind::Group, &e.group, r);
                self.link(Edge::UserGroup, &e.user.id, &e.group.id, r);
            }
            Event::UserRemovedFromGroup(e) => {
                self.touch(EntityKind::User, &e.user, r);
                self.touch(EntityKind::Group, &e.group, r);
                self.unlink(Edge::UserGroup, &e.user.id, &e.group.id, r.seq);
            }
            Event::GroupCreated(e) => self.create(EntityKind::Group, &e.group, &e.attributes, r),
            Event::GroupEdited(e) => {
                let g = self.touch(EntityKind::Group, &e.group, r);
                edit(g, e.changes.iter().collect(), "name", r.seq);
            }
            Event::GroupDeleted(e) => self.delete(EntityKind::Group, &e.group, r),
            Event::GroupAddedToGroup(e) => {
                self.touch(EntityKind::Group, &e.group, r);
                self.touch(EntityKind::Group, &e.parent, r);
                self.link(Edge::GroupGroup, &e.group.id, &e.parent.id, r);
            }
            Event::GroupRemovedFromGroup(e) => {
                self.touch(EntityKind::Group, &e.group, r);
                self.touch(EntityKind::Group, &e.parent, r);
                self.unlink(Edge::GroupGroup, &e.group.id, &e.parent.id, r.seq);
            }
            Event::ApplicationCreated(e) => {
                self.touch(EntityKind::Workspace, &e.workspace, r);
                self.create(EntityKind::Application, &e.application, &e.attributes, r);
                self.set_workspace(&e.application.id, &e.workspace);
            }
            Event::ApplicationEdited(e) => {
                self.touch(EntityKind::Workspace, &e.workspace, r);
                let a = self.touch(EntityKind::Application, &e.application, r);
                edit(a, e.changes.iter().collect(), "name", r.seq);
                self.set_workspace(&e.application.id, &e.workspace);
            }
            Event::ApplicationDeleted(e) => {
                self.touch(EntityKind::Workspace, &e.workspace, r);
                self.touch(EntityKind::Application, &e.application, r);
                self.set_workspace(&e.application.id, &e.workspace);
                self.delete(EntityKind::Application, &e.application, r);
            }
            Event::WorkspaceCreated(e) => {
                self.create(EntityKind::Workspace, &e.workspace, &e.attributes, r)
            }
            Event::WorkspaceEdited(e) => {
                let w = self.touch(EntityKind::Workspace, &e.workspace, r);
                edit(w, e.changes.iter().collect(), "name", r.seq);
            }
            Event::WorkspaceDeleted(e) => {
                self.delete(EntityKind::Workspace, &e.workspace, r);
                // Its applications go with it; the permission groups scoped to them follow
                // through `scope_deletion`.
                for a in self.applications.values_mut() {
                    if a.deleted.is_none()
                        && a.workspace.as_ref().is_some_and(|w| w.id == e.workspace.id)
                    {
                        a.deleted = Some(Deletion {
                            by: RecordRef::of(r),
                            links: Links::default(),
                        });
                        a.last_changed = r.seq;
                    }
                }
            }
            Event::PermissionUserAdded(e) => {
                self.touch(EntityKind::User, &e.user, r);
                self.touch_permission_group(&e.permission_group, r);
                self.link(Edge::UserPermission, &e.user.id, &e.permission_group.id, r);
            }
            Event::PermissionUserRemoved(e) => {
                self.touch(EntityKind::User, &e.user, r);
                self.touch_permission_group(&e.permission_group, r);
                self.unlink(
                    Edge::UserPermission,
                    &e.user.id,
                    &e.permission_group.id,
                    r.seq,
                );
            }
            Event::PermissionGroupAdded(e) => {
                self.touch(EntityKind::Group, &e.group, r);
                self.touch_permission_group(&e.permission_group, r);
                self.link(
                    Edge::GroupPermission,
                    &e.group.id,
                    &e.permission_group.id,
                    r,
                );
            }
            Event::PermissionGroupRemoved(e) => {
                self.touch(EntityKind::Group, &e.group, r);
                self.touch_permission_group(&e.permission_group, r);
                self.unlink(
                    Edge::GroupPermission,
                    &e.group.id,
                    &e.permission_group.id,
                    r.seq,
                );
            }
            Event::AuditPurged(p) => {
                self.purged_through = Some(self.purged_through.unwrap_or(0).max(p.through_seq));
            }
            Event::AuditExported(_) | Event::Custom(_) => {}
            Event::Unknown(_) => self.unknown_events += 1,
        }
        Ok(())
    }

    /// The entity for `reference`, made (as first seen here) if the trail did not name it
    /// before; its display follows the newest snapshot.
    fn touch(&mut self, kind: EntityKind, reference: &EntityRef, r: &Record) -> &mut Entity {
        let map = match kind {
            EntityKind::User => &mut self.users,
            EntityKind::Group => &mut self.groups,
            EntityKind::Application => &mut self.applications,
            EntityKind::Workspace => &mut self.workspaces,
            _ => &mut self.permission_groups,
        };
        let e = map
            .entry(reference.id.clone())
            .or_insert_with(|| Entity::new(EntityKey::new(kind, reference.id.clone()), r));
        if reference.display.is_some() && e.display != reference.display {
            e.display.clone_from(&reference.display);
        }
        e.last_changed = r.seq;
        e
    }

    fn touch_permission_group(&mut self, pg: &PermissionGroupRef, r: &Record) {
        match &pg.scope {
            Scope::Workspace { workspace } => {
                self.touch(EntityKind::Workspace, workspace, r);
            }
            Scope::Application {
                application,
                workspace,
            } => {
                if let Some(ws) = workspace {
                    self.touch(EntityKind::Workspace, ws, r);
                }
                let a = self.touch(EntityKind::Application, application, r);
                if a.workspace.is_none() {
                    a.workspace.clone_from(workspace);
                }
            }
            _ => {}
        }
        let reference = EntityRef {
            id: pg.id.clone(),
            display: pg.display.clone(),
        };
        let e = self.touch(EntityKind::PermissionGroup, &reference, r);
        if e.scope.as_ref() != Some(&pg.scope) {
            e.scope = Some(pg.scope.clone());
        }
    }

    fn set_workspace(&mut self, application: &EntityId, workspace: &EntityRef) {
        if let Some(a) = self.applications.get_mut(application) {
            if a.workspace.as_ref() != Some(workspace) {
                a.workspace = Some(workspace.clone());
            }
        }
    }

    fn create(&mut self, kind: EntityKind, reference: &EntityRef, attrs: &Attributes, r: &Record) {
        let e = self.touch(kind, reference, r);
        e.created = Some(RecordRef::of(r));
        e.deleted = None;
        e.attributes.clone_from(attrs);
    }

    fn delete(&mut self, kind: EntityKind, reference: &EntityRef, r: &Record) {
        let e = self.touch(kind.clone(), reference, r);
        let links = std::mem::take(&mut e.links);
        e.deleted = Some(Deletion {
            by: RecordRef::of(r),
            links: links.clone(),
        });
        let id = &reference.id;
        // The other side of every link goes too, so live links stay symmetric.
        let seq = r.seq;
        match kind {
            EntityKind::User => {
                for g in links.member_of.keys() {
                    self.unlink(Edge::UserGroup, id, g, seq);
                }
                for p in links.permission_groups.keys() {
                    self.unlink(Edge::UserPermission, id, p, seq);
                }
            }
            EntityKind::Group => {
                for g in links.member_of.keys() {
                    self.unlink(Edge::GroupGroup, id, g, seq);
                }
                for u in links.members.keys() {
                    self.unlink(Edge::UserGroup, u, id, seq);
                }
                for c in links.member_groups.keys() {
                    self.unlink(Edge::GroupGroup, c, id, seq);
                }
                for p in links.permission_groups.keys() {
                    self.unlink(Edge::GroupPermission, id, p, seq);
                }
            }
            _ => {}
        }
    }

    fn link(&mut self, edge: Edge, from: &EntityId, to: &EntityId, r: &Record) {
        let (from_kind, to_kind) = edge.kinds();
        let link = RecordRef::of(r);
        if let Some(f) = self.map_mut(&from_kind).and_then(|m| m.get_mut(from)) {
            edge.forward(&mut f.links).insert(to.clone(), link.clone());
        }
        if let Some(t) = self.map_mut(&to_kind).and_then(|m| m.get_mut(to)) {
            edge.backward(&mut t.links).insert(from.clone(), link);
        }
    }

    fn unlink(&mut self, edge: Edge, from: &EntityId, to: &EntityId, seq: u64) {
        let (from_kind, to_kind) = edge.kinds();
        if let Some(f) = self.map_mut(&from_kind).and_then(|m| m.get_mut(from)) {
            if edge.forward(&mut f.links).remove(to).is_some() {
                f.last_changed = seq;
            }
        }
        if let Some(t) = self.map_mut(&to_kind).and_then(|m| m.get_mut(to)) {
            if edge.backward(&mut t.links).remove(from).is_some() {
                t.last_changed = seq;
            }
        }
    }
}

/// Applies field changes; a change of `name_field` also renames the entity.
fn edit(e: &mut Entity, changes: Vec<&FieldChange>, name_field: &str, seq: u64) {
    for c in changes {
        match &c.new {
            Some(v) => {
                if c.field == name_field {
                    if let Some(serde_json::Value::String(s)) = v.as_value() {
                        e.display = Some(s.clone());
                    }
                }
                match e.attributes.get_mut(&c.field) {
                    Some(slot) => slot.clone_from(v),
                    None => {
                        e.attributes.insert(c.field.clone(), v.clone());
                    }
                }
            }
            None => {
                e.attributes.remove(&c.field);
            }
        }
    }
    e.last_changed = seq;
}

/// The four kinds of links, each stored on both of its ends.
#[derive(Clone, Copy)]
enum Edge {
    UserGroup,
    GroupGroup,
    UserPermission,
    GroupPermission,
}

impl Edge {
    fn kinds(self) -> (EntityKind, EntityKind) {
        match self {
            Edge::UserGroup => (EntityKind::User, EntityKind::Group),
            Edge::GroupGroup => (EntityKind::Group, EntityKind::Group),
            Edge::UserPermission => (EntityKind::User, EntityKind::PermissionGroup),
            Edge::GroupPermission => (EntityKind::Group, EntityKind::PermissionGroup),
        }
    }

    fn forward(self, l: &mut Links) -> &mut BTreeMap<EntityId, RecordRef> {
        match self {
            Edge::UserGroup | Edge::GroupGroup => &mut l.member_of,
            Edge::UserPermission | Edge::GroupPermission => &mut l.permission_groups,
        }
    }

    fn backward(self, l: &mut Links) -> &mut BTreeMap<EntityId, RecordRef> {
        match self {
            Edge::UserGroup | Edge::UserPermission => &mut l.members,
            Edge::GroupGroup | Edge::GroupPermission => &mut l.member_groups,
        }
    }
}
