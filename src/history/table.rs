//! How a [`State`](super::State) keeps its entities while folding: compact and cheap to
//! change, turned into the public [`Entity`] only when someone asks for one.
//!
//! Folding a long trail is dominated by what each record costs the state. The public types
//! carry whole copies (entity ids as map keys ordered by text, an [`Actor`] in every
//! [`RecordRef`]), which made each membership record cost several allocations and string
//! comparisons. Here, instead:
//! - each kind of entity has a table: a hash index from id to a slot number, and the slots;
//! - a link names the other entity by its slot number and the record by a [`Stamp`] (seq,
//!   time, and the actor as a number in the state's actor table), so it is `Copy`;
//! - a slot keeps its public [`Entity`] once made ([`Slot::view`]) and drops it when the fold
//!   changes the slot, so answers that read the same entities again copy nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};

use super::state::{Deletion, Entity, Links, RecordRef};
use crate::event::{Attributes, EntityId, EntityKey, EntityKind, EntityRef, Scope};
use crate::record::Actor;

/// The kinds of entity a state keeps, as table numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    User = 0,
    Group = 1,
    Application = 2,
    Workspace = 3,
    PermissionGroup = 4,
}

impl Kind {
    pub(super) const ALL: [Kind; 5] = [
        Kind::User,
        Kind::Group,
        Kind::Application,
        Kind::Workspace,
        Kind::PermissionGroup,
    ];

    pub(super) fn of(kind: &EntityKind) -> Option<Kind> {
        match kind {
            EntityKind::User => Some(Kind::User),
            EntityKind::Group => Some(Kind::Group),
            EntityKind::Application => Some(Kind::Application),
            EntityKind::Workspace => Some(Kind::Workspace),
            EntityKind::PermissionGroup => Some(Kind::PermissionGroup),
            _ => None,
        }
    }

    pub(super) fn entity_kind(self) -> EntityKind {
        match self {
            Kind::User => EntityKind::User,
            Kind::Group => EntityKind::Group,
            Kind::Application => EntityKind::Application,
            Kind::Workspace => EntityKind::Workspace,
            Kind::PermissionGroup => EntityKind::PermissionGroup,
        }
    }
}

/// A [`RecordRef`] as the fold keeps it: the actor is a number in [`Actors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    pub(super) seq: u64,
    pub(super) at: DateTime<Utc>,
    pub(super) actor: u32,
}

/// Links to other entities by slot number. Which table the number is in follows from the
/// map: `member_of` and `member_groups` name groups, `members` users, `permission_groups`
/// permission groups (as in [`Links`]).
pub(super) type LinkMap = BTreeMap<usize, Stamp>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct SlotLinks {
    pub(super) member_of: LinkMap,
    pub(super) members: LinkMap,
    pub(super) member_groups: LinkMap,
    pub(super) permission_groups: LinkMap,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SlotDeletion {
    pub(super) by: Stamp,
    pub(super) links: SlotLinks,
}

/// One entity while folding: the fields of [`Entity`], with stamps and slot numbers.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    pub(super) id: EntityId,
    pub(super) display: Option<String>,
    pub(super) attributes: Attributes,
    pub(super) workspace: Option<EntityRef>,
    pub(super) scope: Option<Scope>,
    pub(super) links: SlotLinks,
    pub(super) first_seen: Stamp,
    pub(super) created: Option<Stamp>,
    pub(super) deleted: Option<SlotDeletion>,
    pub(super) password_changed: Option<Stamp>,
    pub(super) last_changed: u64,
    /// For an application or a workspace: the permission groups (slot numbers) the fold has
    /// seen scoped to it, so deleting it finds them without a scan. Some may have moved to
    /// another scope since; their current scope decides.
    pub(super) scoped: Vec<usize>,
    /// The public form, made on first read; emptied whenever the slot changes.
    view: OnceLock<Box<Entity>>,
}

impl Slot {
    pub(super) fn new(id: EntityId, first_seen: Stamp) -> Self {
        Slot {
            id,
            display: None,
            attributes: Attributes::new(),
            workspace: None,
            scope: None,
            links: SlotLinks::default(),
            first_seen,
            created: None,
            deleted: None,
            password_changed: None,
            last_changed: first_seen.seq,
            scoped: Vec::new(),
            view: OnceLock::new(),
        }
    }
}

/// The entities of one kind.
#[derive(Debug, Clone, Default)]
pub(super) struct Table {
    index: HashMap<EntityId, usize>,
    slots: Vec<Slot>,
    /// Slot numbers in id order, made on first read; emptied when an entity is added.
    order: OnceLock<Vec<usize>>,
}

impl Table {
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(super) fn find(&self, id: &EntityId) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub(super) fn get(&self, id: &EntityId) -> Option<&Slot> {
        self.find(id).and_then(|i| self.slots.get(i))
    }

    pub(super) fn slot(&self, i: usize) -> Option<&Slot> {
        self.slots.get(i)
    }

    /// The slot to change; its public form is dropped, as it is about to be stale.
    pub(super) fn slot_mut(&mut self, i: usize) -> Option<&mut Slot> {
        let s = self.slots.get_mut(i)?;
        s.view.take();
        Some(s)
    }

    /// The slot number of `id`, adding a slot first seen at `stamp` if there is none.
    pub(super) fn find_or_add(&mut self, id: &EntityId, stamp: Stamp) -> usize {
        if let Some(i) = self.find(id) {
            return i;
        }
        let i = self.slots.len();
        self.index.insert(id.clone(), i);
        self.slots.push(Slot::new(id.clone(), stamp));
        self.order.take();
        i
    }

    /// Slot numbers in id order.
    pub(super) fn ordered(&self) -> &[usize] {
        self.order.get_or_init(|| {
            let mut order: Vec<usize> = (0..self.slots.len()).collect();
            order.sort_unstable_by(|a, b| self.slots[*a].id.cmp(&self.slots[*b].id));
            order
        })
    }
}

/// The actors named by a state's stamps, each kept once.
#[derive(Debug, Clone, Default)]
pub(super) struct Actors {
    list: Vec<Actor>,
    index: HashMap<Actor, u32>,
    /// The last actor looked up: trails often have runs of records by one actor.
    last: Option<u32>,
}

impl Actors {
    /// The number of `actor`, added if new; `None` past `u32::MAX` actors.
    pub(super) fn intern(&mut self, actor: &Actor) -> Option<u32> {
        if let Some(last) = self.last {
            if self.list.get(last as usize) == Some(actor) {
                return Some(last);
            }
        }
        let n = match self.index.get(actor) {
            Some(&n) => n,
            None => {
                let n = u32::try_from(self.list.len()).ok()?;
                self.list.push(actor.clone());
                self.index.insert(actor.clone(), n);
                n
            }
        };
        self.last = Some(n);
        Some(n)
    }

    pub(super) fn get(&self, n: u32) -> Actor {
        // Stamps only hold numbers `intern` gave out, so the fallback is never taken.
        self.list
            .get(n as usize)
            .cloned()
            .unwrap_or_else(Actor::system)
    }
}

/// The five tables and the actor table: everything the public forms are made from.
#[derive(Debug, Clone, Default)]
pub(super) struct Tables {
    pub(super) kinds: [Table; 5],
    pub(super) actors: Actors,
}

impl Tables {
    pub(super) fn table(&self, kind: Kind) -> &Table {
        &self.kinds[kind as usize]
    }

    pub(super) fn table_mut(&mut self, kind: Kind) -> &mut Table {
        &mut self.kinds[kind as usize]
    }

    /// The public form of slot `i` of `kind`, made once per change of the slot.
    pub(super) fn view(&self, kind: Kind, i: usize) -> Option<&Entity> {
        let slot = self.table(kind).slot(i)?;
        Some(
            slot.view
                .get_or_init(|| Box::new(self.make_entity(kind, slot))),
        )
    }

    fn make_entity(&self, kind: Kind, s: &Slot) -> Entity {
        Entity {
            key: EntityKey::new(kind.entity_kind(), s.id.clone()),
            display: s.display.clone(),
            attributes: s.attributes.clone(),
            workspace: s.workspace.clone(),
            scope: s.scope.clone(),
            links: self.make_links(&s.links),
            first_seen: self.record_ref(s.first_seen),
            created: s.created.map(|c| self.record_ref(c)),
            deleted: s.deleted.as_ref().map(|d| Deletion {
                by: self.record_ref(d.by),
                links: self.make_links(&d.links),
            }),
            password_changed: s.password_changed.map(|p| self.record_ref(p)),
            last_changed: s.last_changed,
        }
    }

    /// A reference to slot `i` of `kind` with its newest name.
    pub(super) fn entity_ref(&self, kind: Kind, i: usize) -> Option<EntityRef> {
        let s = self.table(kind).slot(i)?;
        Some(EntityRef {
            id: s.id.clone(),
            display: s.display.clone(),
        })
    }

    /// The links of `map` (whose other ends are in `kind`'s table) in the other ends' id
    /// order: the order the public [`Links`] maps iterate in, which answers keep.
    pub(super) fn by_id(&self, map: &LinkMap, kind: Kind) -> Vec<(usize, Stamp)> {
        let t = self.table(kind);
        let mut out: Vec<(usize, Stamp)> = map.iter().map(|(i, s)| (*i, *s)).collect();
        out.sort_unstable_by(|a, b| {
            let id = |i: usize| t.slot(i).map(|s| &s.id);
            id(a.0).cmp(&id(b.0))
        });
        out
    }

    pub(super) fn record_ref(&self, s: Stamp) -> RecordRef {
        RecordRef {
            seq: s.seq,
            at: s.at,
            actor: self.actors.get(s.actor),
        }
    }

    fn make_links(&self, l: &SlotLinks) -> Links {
        let map = |m: &LinkMap, kind: Kind| -> BTreeMap<EntityId, RecordRef> {
            let t = self.table(kind);
            m.iter()
                .filter_map(|(i, s)| Some((t.slot(*i)?.id.clone(), self.record_ref(*s))))
                .collect()
        };
        Links {
            member_of: map(&l.member_of, Kind::Group),
            members: map(&l.members, Kind::User),
            member_groups: map(&l.member_groups, Kind::Group),
            permission_groups: map(&l.permission_groups, Kind::PermissionGroup),
        }
    }
}
