//! The fold: [`State`], what the trail says the organisation looked like after a given record.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::table::{Kind, LinkMap, Slot, SlotDeletion, SlotLinks, Stamp, Tables};

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
    /// workspace's deletion; for a permission group, the deletion that took its scope away).
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
/// - Deleted entities follow the one rule of the [module docs](super#deleted-and-re-created-entities):
///   a deletion ends every link the entity took part in (kept as its last known state in
///   [`Deletion::links`]); deleting an application or a workspace also deletes the permission
///   groups scoped to it, and a workspace its applications; a deleted entity takes part in no
///   new link; creating it again starts a new life with nothing.
/// - A link recorded again while it exists keeps the record that made it.
/// - Custom events, `audit.*` events and events this version does not know pass through.
///
/// # Cost
/// Folding a record costs a few hash look-ups and, for a membership, two small map updates;
/// nothing is copied per record. The [`Entity`] values the accessors return are made on
/// first read and kept until the fold changes that entity again.
#[derive(Clone)]
pub struct State {
    pub(super) tenant: TenantId,
    pub(super) seq: u64,
    pub(super) at: Option<DateTime<Utc>>,
    pub(super) started_after: u64,
    pub(super) tables: Tables,
    pub(super) unknown_events: u64,
    pub(super) unreadable: Vec<u64>,
    pub(super) purged_through: Option<u64>,
}

impl State {
    /// An empty state for `tenant`, before its first record.
    pub fn new(tenant: impl Into<TenantId>) -> Self {
        State {
            tenant: tenant.into(),
            seq: 0,
            at: None,
            started_after: 0,
            tables: Tables::default(),
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

    /// The seq the fold started after with nothing known before it: 0 for a whole trail
    /// (including one resumed from the state a retention purge kept), else the seq through
    /// which records are missing and nothing says what they held. Entities from before it
    /// show as [predating the trail](Entity::predates_trail).
    pub fn started_after(&self) -> u64 {
        self.started_after
    }

    /// When the state does not know what its trail's beginning held, the seq through which
    /// it does not ([`State::started_after`]): links those records made are missing, so
    /// answers from this state are incomplete. `None` for a state folded from the start of
    /// its trail or from the state a purge kept. [`History`](super::History) answers from
    /// such a state only when [asked to](super::History::from_what_remains).
    pub fn unknown_through(&self) -> Option<u64> {
        (self.started_after > 0).then_some(self.started_after)
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
        Kind::of(kind)
            .into_iter()
            .flat_map(move |k| self.of_kind(k))
    }

    fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Entity> {
        self.tables
            .table(kind)
            .ordered()
            .iter()
            .filter_map(move |&i| self.tables.view(kind, i))
    }

    /// Users, in id order.
    pub fn users(&self) -> impl Iterator<Item = &Entity> {
        self.of_kind(Kind::User)
    }
    /// Groups, in id order.
    pub fn groups(&self) -> impl Iterator<Item = &Entity> {
        self.of_kind(Kind::Group)
    }
    /// Applications, in id order.
    pub fn applications(&self) -> impl Iterator<Item = &Entity> {
        self.of_kind(Kind::Application)
    }
    /// Workspaces, in id order.
    pub fn workspaces(&self) -> impl Iterator<Item = &Entity> {
        self.of_kind(Kind::Workspace)
    }
    /// Permission groups, in id order.
    pub fn permission_groups(&self) -> impl Iterator<Item = &Entity> {
        self.of_kind(Kind::PermissionGroup)
    }

    /// The slot tables, for answers that walk links without making public entities.
    pub(super) fn tables(&self) -> &Tables {
        &self.tables
    }

    fn view_of(&self, kind: Kind, id: &EntityId) -> Option<&Entity> {
        let i = self.tables.table(kind).find(id)?;
        self.tables.view(kind, i)
    }

    /// One entity, deleted or not.
    pub fn entity(&self, key: &EntityKey) -> Option<&Entity> {
        self.view_of(Kind::of(&key.kind)?, &key.id)
    }

    /// A user by id.
    pub fn user(&self, id: &EntityId) -> Option<&Entity> {
        self.view_of(Kind::User, id)
    }
    /// A group by id.
    pub fn group(&self, id: &EntityId) -> Option<&Entity> {
        self.view_of(Kind::Group, id)
    }
    /// An application by id.
    pub fn application(&self, id: &EntityId) -> Option<&Entity> {
        self.view_of(Kind::Application, id)
    }
    /// A workspace by id.
    pub fn workspace(&self, id: &EntityId) -> Option<&Entity> {
        self.view_of(Kind::Workspace, id)
    }
    /// A permission group by id.
    pub fn permission_group(&self, id: &EntityId) -> Option<&Entity> {
        self.view_of(Kind::PermissionGroup, id)
    }

    /// How many entities the state holds, deleted ones included: what its memory grows with.
    pub fn len(&self) -> usize {
        Kind::ALL.iter().map(|k| self.tables.table(*k).len()).sum()
    }

    /// Whether no entity is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether an entity is known and not deleted.
    pub fn is_live(&self, key: &EntityKey) -> bool {
        Kind::of(&key.kind)
            .and_then(|k| self.tables.table(k).get(&key.id))
            .is_some_and(|s| s.deleted.is_none())
    }

    /// The deletion that left a permission group without a scope: its application's, the
    /// workspace's of that application, or its workspace's. `None` while the scope exists
    /// (a system scope always does).
    pub fn scope_deleted(&self, permission_group: &EntityId) -> Option<&Deletion> {
        let scope = self
            .tables
            .table(Kind::PermissionGroup)
            .get(permission_group)?
            .scope
            .as_ref()?;
        self.scope_deletion(scope)
    }

    /// The deletion that removed `scope`, if any.
    pub fn scope_deletion(&self, scope: &Scope) -> Option<&Deletion> {
        // Checked on the slots first: this runs for every permission group an access
        // question meets, and only a deleted scope needs its public form made.
        let (kind, i) = self.scope_gone_at(scope)?;
        self.tables.view(kind, i)?.deleted.as_ref()
    }

    /// The deleted entity (table and slot) that takes `scope` away: its workspace, its
    /// application, or the workspace that application lives in (as the state knows it, else
    /// as the scope recorded it). `None` while the scope exists.
    fn scope_gone_at(&self, scope: &Scope) -> Option<(Kind, usize)> {
        let deleted = |kind: Kind, id: &EntityId| {
            let table = self.tables.table(kind);
            let i = table.find(id)?;
            table.slot(i)?.deleted.as_ref()?;
            Some((kind, i))
        };
        match scope {
            Scope::Workspace { workspace } => deleted(Kind::Workspace, &workspace.id),
            Scope::Application {
                application,
                workspace,
            } => {
                if let Some(gone) = deleted(Kind::Application, &application.id) {
                    return Some(gone);
                }
                let ws = self
                    .tables
                    .table(Kind::Application)
                    .get(&application.id)
                    .and_then(|a| a.workspace.as_ref())
                    .or(workspace.as_ref())?;
                deleted(Kind::Workspace, &ws.id)
            }
            _ => None,
        }
    }

    /// The stamp of the deletion that takes `scope` away, if any.
    fn scope_gone(&self, scope: &Scope) -> Option<Stamp> {
        let (kind, i) = self.scope_gone_at(scope)?;
        Some(self.tables.table(kind).slot(i)?.deleted.as_ref()?.by)
    }

    /// [`State::scope_gone`] for a scope whose application or workspace is slot `holder` of
    /// `kind`, and whose recorded workspace (for an application scope) is slot `scope_ws`:
    /// the same answer, without looking up what the caller has just touched.
    fn scope_gone_from(
        &self,
        kind: Kind,
        holder: usize,
        scope: &Scope,
        scope_ws: Option<usize>,
    ) -> Option<Stamp> {
        let by = |kind: Kind, i: usize| Some(self.tables.table(kind).slot(i)?.deleted.as_ref()?.by);
        let Kind::Application = kind else {
            return by(kind, holder);
        };
        let app = self.tables.table(Kind::Application).slot(holder)?;
        if let Some(d) = &app.deleted {
            return Some(d.by);
        }
        let recorded = match scope {
            Scope::Application { workspace, .. } => workspace.as_ref(),
            _ => None,
        };
        match (app.workspace.as_ref(), recorded, scope_ws) {
            // The application lives in the workspace the scope names: the slot is at hand.
            (Some(w), Some(r), Some(i)) if w.id == r.id => by(Kind::Workspace, i),
            (None, Some(_), Some(i)) => by(Kind::Workspace, i),
            _ => self.scope_gone(scope),
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
                .tables
                .table(Kind::Application)
                .get(&application.id)
                .and_then(|a| a.workspace.as_ref())
                .or(workspace.as_ref())
                .map(|w| &w.id),
            _ => None,
        }
    }

    /// Whether a permission group can give access: known, not ended (see the
    /// [module docs](super#deleted-and-re-created-entities)), and its scope exists.
    pub fn grants(&self, permission_group: &EntityId) -> bool {
        self.tables
            .table(Kind::PermissionGroup)
            .get(permission_group)
            .is_some_and(|p| p.deleted.is_none())
            && self.scope_deleted(permission_group).is_none()
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
        let success = r.outcome == Outcome::Success;
        let names_entities = success
            && !matches!(
                r.event,
                Event::AuditPurged(_)
                    | Event::AuditExported(_)
                    | Event::Custom(_)
                    | Event::Unknown(_)
            );
        // The actor is numbered before anything changes, so a refusal leaves the state as
        // it was.
        let actor = if names_entities {
            self.tables.actors.intern(&r.actor).ok_or_else(|| {
                Error::invalid("record.actor", "more than 4294967295 actors in one state")
            })?
        } else {
            0
        };
        if self.seq == 0 && r.seq > 1 {
            self.started_after = r.seq - 1;
        }
        self.seq = r.seq;
        self.at = Some(r.occurred_at);
        if !success {
            return Ok(());
        }
        let stamp = Stamp {
            seq: r.seq,
            at: r.occurred_at,
            actor,
        };
        self.fold_event(&r.event, stamp);
        Ok(())
    }

    fn fold_event(&mut self, event: &Event, stamp: Stamp) {
        use Kind::{Application as A, Group as G, User as U, Workspace as W};
        let seq = stamp.seq;
        match event {
            Event::UserCreated(e) => {
                self.create(U, &e.user, &e.attributes, stamp);
            }
            Event::UserEdited(e) => {
                let password = e
                    .changes
                    .iter()
                    .any(|c| matches!(c, UserChange::PasswordChanged));
                let u = self.touch(U, &e.user, stamp);
                if let Some(s) = self.slot_mut(U, u) {
                    let fields = e.changes.iter().filter_map(|c| match c {
                        UserChange::Field(f) => Some(f),
                        _ => None,
                    });
                    edit(s, fields, user_fields::LOGIN_NAME, seq);
                    if password {
                        s.password_changed = Some(stamp);
                    }
                }
            }
            Event::UserDeleted(e) => {
                let u = self.touch(U, &e.user, stamp);
                self.end(U, u, stamp, seq);
            }
            Event::UserAddedToGroup(e) => {
                let u = self.touch(U, &e.user, stamp);
                let g = self.touch(G, &e.group, stamp);
                self.link(Edge::UserGroup, u, g, stamp);
            }
            Event::UserRemovedFromGroup(e) => {
                let u = self.touch(U, &e.user, stamp);
                let g = self.touch(G, &e.group, stamp);
                self.unlink(Edge::UserGroup, u, g, seq);
            }
            Event::GroupCreated(e) => {
                self.create(G, &e.group, &e.attributes, stamp);
            }
            Event::GroupEdited(e) => {
                let g = self.touch(G, &e.group, stamp);
                if let Some(s) = self.slot_mut(G, g) {
                    edit(s, e.changes.iter(), "name", seq);
                }
            }
            Event::GroupDeleted(e) => {
                let g = self.touch(G, &e.group, stamp);
                self.end(G, g, stamp, seq);
            }
            Event::GroupAddedToGroup(e) => {
                let g = self.touch(G, &e.group, stamp);
                let p = self.touch(G, &e.parent, stamp);
                self.link(Edge::GroupGroup, g, p, stamp);
            }
            Event::GroupRemovedFromGroup(e) => {
                let g = self.touch(G, &e.group, stamp);
                let p = self.touch(G, &e.parent, stamp);
                self.unlink(Edge::GroupGroup, g, p, seq);
            }
            Event::ApplicationCreated(e) => {
                self.touch(W, &e.workspace, stamp);
                let a = self.create(A, &e.application, &e.attributes, stamp);
                self.set_workspace(a, &e.workspace, seq);
            }
            Event::ApplicationEdited(e) => {
                self.touch(W, &e.workspace, stamp);
                let a = self.touch(A, &e.application, stamp);
                if let Some(s) = self.slot_mut(A, a) {
                    edit(s, e.changes.iter(), "name", seq);
                }
                self.set_workspace(a, &e.workspace, seq);
            }
            Event::ApplicationDeleted(e) => {
                self.touch(W, &e.workspace, stamp);
                let a = self.touch(A, &e.application, stamp);
                self.set_workspace(a, &e.workspace, seq);
                self.end(A, a, stamp, seq);
                self.end_unscoped(A, a, seq);
            }
            Event::WorkspaceCreated(e) => {
                self.create(W, &e.workspace, &e.attributes, stamp);
            }
            Event::WorkspaceEdited(e) => {
                let w = self.touch(W, &e.workspace, stamp);
                if let Some(s) = self.slot_mut(W, w) {
                    edit(s, e.changes.iter(), "name", seq);
                }
            }
            Event::WorkspaceDeleted(e) => {
                let w = self.touch(W, &e.workspace, stamp);
                self.end(W, w, stamp, seq);
                // Its applications go with it, and the permission groups scoped to either.
                let apps = self.tables.table(A);
                let contained: Vec<usize> = (0..apps.len())
                    .filter(|&i| {
                        apps.slot(i).is_some_and(|a| {
                            a.deleted.is_none()
                                && a.workspace.as_ref().is_some_and(|w| w.id == e.workspace.id)
                        })
                    })
                    .collect();
                self.end_unscoped(W, w, seq);
                for a in contained {
                    self.end(A, a, stamp, seq);
                    self.end_unscoped(A, a, seq);
                }
            }
            Event::PermissionUserAdded(e) => {
                let u = self.touch(U, &e.user, stamp);
                let p = self.touch_permission_group(&e.permission_group, stamp);
                self.link(Edge::UserPermission, u, p, stamp);
            }
            Event::PermissionUserRemoved(e) => {
                let u = self.touch(U, &e.user, stamp);
                let p = self.touch_permission_group(&e.permission_group, stamp);
                self.unlink(Edge::UserPermission, u, p, seq);
            }
            Event::PermissionGroupAdded(e) => {
                let g = self.touch(G, &e.group, stamp);
                let p = self.touch_permission_group(&e.permission_group, stamp);
                self.link(Edge::GroupPermission, g, p, stamp);
            }
            Event::PermissionGroupRemoved(e) => {
                let g = self.touch(G, &e.group, stamp);
                let p = self.touch_permission_group(&e.permission_group, stamp);
                self.unlink(Edge::GroupPermission, g, p, seq);
            }
            Event::AuditPurged(p) => {
                self.purged_through = Some(self.purged_through.unwrap_or(0).max(p.through_seq));
            }
            Event::AuditExported(_) | Event::Custom(_) => {}
            Event::Unknown(_) => self.unknown_events += 1,
        }
    }

    fn slot_mut(&mut self, kind: Kind, i: usize) -> Option<&mut Slot> {
        self.tables.table_mut(kind).slot_mut(i)
    }

    /// The slot for `reference`, made (as first seen here) if the trail did not name it
    /// before; its display follows the newest snapshot.
    fn touch(&mut self, kind: Kind, reference: &EntityRef, stamp: Stamp) -> usize {
        self.touch_id(kind, &reference.id, reference.display.as_ref(), stamp)
    }

    fn touch_id(
        &mut self,
        kind: Kind,
        id: &EntityId,
        display: Option<&String>,
        stamp: Stamp,
    ) -> usize {
        let table = self.tables.table_mut(kind);
        let i = table.find_or_add(id, stamp);
        if let Some(s) = table.slot_mut(i) {
            if let Some(d) = display {
                if s.display.as_ref() != Some(d) {
                    s.display = Some(d.clone());
                }
            }
            s.last_changed = stamp.seq;
        }
        i
    }

    /// The slot of the permission group `pg` names, with its scope as recorded now. A
    /// permission group lives while its scope does: named with a scope that is gone, it ends
    /// (if it had not); named again, deleted, with a scope that exists, it starts a new life
    /// (there is no event that creates one).
    fn touch_permission_group(&mut self, pg: &PermissionGroupRef, stamp: Stamp) -> usize {
        let seq = stamp.seq;
        // The workspace slot the scope names, kept so the scope check below needs no
        // look-up in the common case (this runs for every permission record).
        let mut scope_ws: Option<usize> = None;
        let holder = match &pg.scope {
            Scope::Workspace { workspace } => Some((
                Kind::Workspace,
                self.touch(Kind::Workspace, workspace, stamp),
            )),
            Scope::Application {
                application,
                workspace,
            } => {
                if let Some(ws) = workspace {
                    scope_ws = Some(self.touch(Kind::Workspace, ws, stamp));
                }
                let a = self.touch(Kind::Application, application, stamp);
                let adopts = workspace.is_some()
                    && self
                        .tables
                        .table(Kind::Application)
                        .slot(a)
                        .is_some_and(|s| s.workspace.is_none());
                if adopts {
                    if let Some(s) = self.slot_mut(Kind::Application, a) {
                        s.workspace.clone_from(workspace);
                    }
                    self.end_unscoped(Kind::Application, a, seq);
                }
                Some((Kind::Application, a))
            }
            _ => None,
        };
        let p = self.touch_id(Kind::PermissionGroup, &pg.id, pg.display.as_ref(), stamp);
        let mut rescoped = false;
        if let Some(s) = self.slot_mut(Kind::PermissionGroup, p) {
            if s.scope.as_ref() != Some(&pg.scope) {
                s.scope = Some(pg.scope.clone());
                rescoped = true;
            }
        }
        if let Some((kind, h)) = holder.filter(|_| rescoped) {
            if let Some(s) = self.slot_mut(kind, h) {
                if !s.scoped.contains(&p) {
                    s.scoped.push(p);
                }
            }
        }
        let deleted = self
            .tables
            .table(Kind::PermissionGroup)
            .slot(p)
            .is_some_and(|s| s.deleted.is_some());
        let gone = match holder {
            Some((kind, h)) => self.scope_gone_from(kind, h, &pg.scope, scope_ws),
            None => None,
        };
        match (deleted, gone) {
            (true, None) => {
                if let Some(s) = self.slot_mut(Kind::PermissionGroup, p) {
                    s.deleted = None;
                }
            }
            (false, Some(by)) => self.end(Kind::PermissionGroup, p, by, seq),
            (true, Some(_)) | (false, None) => {}
        }
        p
    }

    /// Ends the live permission groups scoped to an application or workspace (slot `holder`
    /// of `kind`) whose scope is gone: after it was deleted, or after an application moved
    /// into a deleted workspace.
    fn end_unscoped(&mut self, kind: Kind, holder: usize, seq: u64) {
        let count = self
            .tables
            .table(kind)
            .slot(holder)
            .map_or(0, |s| s.scoped.len());
        for k in 0..count {
            let Some(p) = self
                .tables
                .table(kind)
                .slot(holder)
                .and_then(|s| s.scoped.get(k).copied())
            else {
                continue;
            };
            let Some(pg) = self.tables.table(Kind::PermissionGroup).slot(p) else {
                continue;
            };
            if pg.deleted.is_some() {
                continue;
            }
            if let Some(by) = pg.scope.as_ref().and_then(|sc| self.scope_gone(sc)) {
                self.end(Kind::PermissionGroup, p, by, seq);
            }
        }
    }

    /// Records the workspace of an application; moved into a deleted workspace, its
    /// permission groups end.
    fn set_workspace(&mut self, application: usize, workspace: &EntityRef, seq: u64) {
        let mut moved = false;
        if let Some(a) = self.slot_mut(Kind::Application, application) {
            if a.workspace.as_ref() != Some(workspace) {
                a.workspace = Some(workspace.clone());
                moved = true;
            }
        }
        if moved {
            self.end_unscoped(Kind::Application, application, seq);
        }
    }

    fn create(
        &mut self,
        kind: Kind,
        reference: &EntityRef,
        attrs: &Attributes,
        stamp: Stamp,
    ) -> usize {
        let i = self.touch(kind, reference, stamp);
        if let Some(s) = self.slot_mut(kind, i) {
            if s.deleted.take().is_some() {
                // A new life: of the old one only the identity (and where the trail first
                // saw it) carries over. Its links ended with it.
                s.password_changed = None;
            }
            s.created = Some(stamp);
            s.attributes.clone_from(attrs);
        }
        i
    }

    /// Ends the life of slot `i` of `kind` by the deletion `by`, in the record at `seq`:
    /// every link it has goes, on both ends, and is kept as its last known state. An entity
    /// already deleted keeps the deletion that ended it.
    fn end(&mut self, kind: Kind, i: usize, by: Stamp, seq: u64) {
        let Some(s) = self.slot_mut(kind, i) else {
            return;
        };
        if s.deleted.is_some() {
            return;
        }
        let links = std::mem::take(&mut s.links);
        s.last_changed = seq;
        // The other side of every link goes too, so live links stay symmetric.
        match kind {
            Kind::User => {
                for g in links.member_of.keys() {
                    self.unlink(Edge::UserGroup, i, *g, seq);
                }
                for p in links.permission_groups.keys() {
                    self.unlink(Edge::UserPermission, i, *p, seq);
                }
            }
            Kind::Group => {
                for g in links.member_of.keys() {
                    self.unlink(Edge::GroupGroup, i, *g, seq);
                }
                for u in links.members.keys() {
                    self.unlink(Edge::UserGroup, *u, i, seq);
                }
                for c in links.member_groups.keys() {
                    self.unlink(Edge::GroupGroup, *c, i, seq);
                }
                for p in links.permission_groups.keys() {
                    self.unlink(Edge::GroupPermission, i, *p, seq);
                }
            }
            Kind::PermissionGroup => {
                for u in links.members.keys() {
                    self.unlink(Edge::UserPermission, *u, i, seq);
                }
                for g in links.member_groups.keys() {
                    self.unlink(Edge::GroupPermission, *g, i, seq);
                }
            }
            Kind::Application | Kind::Workspace => {}
        }
        if let Some(s) = self.slot_mut(kind, i) {
            s.deleted = Some(SlotDeletion { by, links });
        }
    }

    /// Links `from` to `to` by the record `stamp`, when both are live and not linked yet: a
    /// deleted entity takes part in nothing, and a link recorded again keeps the record
    /// that made it.
    fn link(&mut self, edge: Edge, from: usize, to: usize, stamp: Stamp) {
        let (from_kind, to_kind) = edge.kinds();
        let live = |t: &Tables, kind: Kind, i: usize| {
            t.table(kind).slot(i).is_some_and(|s| s.deleted.is_none())
        };
        if !live(&self.tables, from_kind, from) || !live(&self.tables, to_kind, to) {
            return;
        }
        let Some(f) = self.slot_mut(from_kind, from) else {
            return;
        };
        match edge.forward(&mut f.links).entry(to) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(stamp);
            }
            std::collections::btree_map::Entry::Occupied(_) => return,
        }
        if let Some(t) = self.slot_mut(to_kind, to) {
            edge.backward(&mut t.links).insert(from, stamp);
        }
    }

    fn unlink(&mut self, edge: Edge, from: usize, to: usize, seq: u64) {
        let (from_kind, to_kind) = edge.kinds();
        if let Some(f) = self.slot_mut(from_kind, from) {
            if edge.forward(&mut f.links).remove(&to).is_some() {
                f.last_changed = seq;
            }
        }
        if let Some(t) = self.slot_mut(to_kind, to) {
            if edge.backward(&mut t.links).remove(&from).is_some() {
                t.last_changed = seq;
            }
        }
    }
}

/// Applies field changes; a change of `name_field` also renames the entity.
fn edit<'a>(
    e: &mut Slot,
    changes: impl Iterator<Item = &'a FieldChange>,
    name_field: &str,
    seq: u64,
) {
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
    fn kinds(self) -> (Kind, Kind) {
        match self {
            Edge::UserGroup => (Kind::User, Kind::Group),
            Edge::GroupGroup => (Kind::Group, Kind::Group),
            Edge::UserPermission => (Kind::User, Kind::PermissionGroup),
            Edge::GroupPermission => (Kind::Group, Kind::PermissionGroup),
        }
    }

    fn forward(self, l: &mut SlotLinks) -> &mut LinkMap {
        match self {
            Edge::UserGroup | Edge::GroupGroup => &mut l.member_of,
            Edge::UserPermission | Edge::GroupPermission => &mut l.permission_groups,
        }
    }

    fn backward(self, l: &mut SlotLinks) -> &mut LinkMap {
        match self {
            Edge::UserGroup | Edge::UserPermission => &mut l.members,
            Edge::GroupGroup | Edge::GroupPermission => &mut l.member_groups,
        }
    }
}

/// Two states are equal when they say the same: same position and the same entities, however
/// each was built (folded, or read back from its saved form).
impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        self.tenant == other.tenant
            && self.seq == other.seq
            && self.at == other.at
            && self.started_after == other.started_after
            && self.unknown_events == other.unknown_events
            && self.unreadable == other.unreadable
            && self.purged_through == other.purged_through
            && Kind::ALL.iter().all(|k| {
                self.tables.table(*k).len() == other.tables.table(*k).len()
                    && self.of_kind(*k).eq(other.of_kind(*k))
            })
    }
}

impl Eq for State {}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("tenant", &self.tenant)
            .field("seq", &self.seq)
            .field("at", &self.at)
            .field("started_after", &self.started_after)
            .field("users", &self.users().collect::<Vec<_>>())
            .field("groups", &self.groups().collect::<Vec<_>>())
            .field("applications", &self.applications().collect::<Vec<_>>())
            .field("workspaces", &self.workspaces().collect::<Vec<_>>())
            .field(
                "permission_groups",
                &self.permission_groups().collect::<Vec<_>>(),
            )
            .field("unknown_events", &self.unknown_events)
            .field("unreadable", &self.unreadable)
            .field("purged_through", &self.purged_through)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditLog, MemorySink, Query};

    /// Records: alice joins Accounting, Accounting gets a permission group, bob (another
    /// actor) renames alice, alice is deleted.
    fn trail() -> Vec<Record> {
        let store = MemorySink::new();
        let log = AuditLog::builder(store.clone()).build();
        let (root, bob) = (Actor::user(1, "root"), Actor::user(2, "bob"));
        let alice = EntityRef::new(42, "alice");
        let acct = EntityRef::new("g1", "Accounting");
        let pg = PermissionGroupRef::new("p1", "Payroll editors", Scope::system());
        log.record(
            &root,
            Event::user_added_to_group(alice.clone(), acct.clone()),
        )
        .unwrap();
        log.record(&root, Event::permission_group_added(acct, pg))
            .unwrap();
        log.record(
            &bob,
            Event::user_edited(
                alice.clone(),
                vec![UserChange::Field(FieldChange::set(
                    user_fields::LOGIN_NAME,
                    "alice2",
                ))],
            ),
        )
        .unwrap();
        log.record(&root, Event::user_deleted(alice)).unwrap();
        store.find(&Query::new())
    }

    #[test]
    fn an_entity_read_between_records_is_made_again_after_it_changes() {
        let records = trail();
        let mut state = State::new("default");
        state.apply(&records[0]).unwrap();
        let alice = EntityId::from(42);
        let before = state.user(&alice).unwrap().clone();
        assert_eq!(before.links.member_of.len(), 1);
        state.apply(&records[1]).unwrap();
        state.apply(&records[2]).unwrap();
        let renamed = state.user(&alice).unwrap();
        assert_eq!(renamed.label(), "alice2");
        assert_eq!(renamed.last_changed, records[2].seq);
        assert_eq!(state.group(&"g1".into()).unwrap().links.members.len(), 1);
        state.apply(&records[3]).unwrap();
        let gone = state.user(&alice).unwrap();
        assert!(gone.links.is_empty());
        let deletion = gone.deleted.as_ref().unwrap();
        assert_eq!(deletion.by.actor, Actor::user(1, "root"));
        assert_eq!(
            deletion.links.member_of.keys().collect::<Vec<_>>(),
            vec![&EntityId::from("g1")]
        );
        // The group's side of the link went with the deletion.
        assert!(state.group(&"g1".into()).unwrap().links.members.is_empty());
    }
}
