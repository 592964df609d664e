//! Entity references: the id a host uses plus a display snapshot taken at write time.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// The id of an entity as the host knows it.
///
/// Hosts use integers, UUIDs or strings; all are kept as their canonical text (integers in
/// decimal, UUIDs hyphenated lowercase), so `EntityId::from(42)` and `EntityId::from("42")` are
/// the same id, and the id reads the same in SQL, CSV and JSON.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntityId(String);

impl EntityId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! id_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for EntityId {
            fn from(v: $t) -> Self {
                EntityId(v.to_string())
            }
        }
    )*};
}
id_from_int!(i32, i64, u32, u64, usize);

impl From<Uuid> for EntityId {
    fn from(v: Uuid) -> Self {
        EntityId(v.hyphenated().to_string())
    }
}

impl From<&str> for EntityId {
    fn from(v: &str) -> Self {
        EntityId(v.to_owned())
    }
}

impl From<String> for EntityId {
    fn from(v: String) -> Self {
        EntityId(v)
    }
}

impl From<&String> for EntityId {
    fn from(v: &String) -> Self {
        EntityId(v.clone())
    }
}

impl From<&EntityId> for EntityId {
    fn from(v: &EntityId) -> Self {
        v.clone()
    }
}

impl PartialEq<str> for EntityId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for EntityId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// A reference to an entity: its id and the label a person knew it by when the record was
/// written (a user's login, a group's or application's name).
///
/// The snapshot keeps the trail readable after the entity is renamed or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityRef {
    /// The host's id.
    pub id: EntityId,
    /// The display snapshot, if the host gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// By hand, to write the fields in key order, the order of the wire form: the canonical
/// encoder then has nothing to sort in the reference every event carries.
impl Serialize for EntityRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let EntityRef { id, display } = self;
        let mut m = s.serialize_struct("EntityRef", 1 + usize::from(display.is_some()))?;
        match display {
            Some(d) => m.serialize_field("display", d)?,
            None => m.skip_field("display")?,
        }
        m.serialize_field("id", id)?;
        m.end()
    }
}

impl EntityRef {
    /// A reference with an id and a display snapshot.
    pub fn new(id: impl Into<EntityId>, display: impl Into<String>) -> Self {
        EntityRef {
            id: id.into(),
            display: Some(display.into()),
        }
    }

    /// A reference with an id only, for hosts that have no label at hand.
    pub fn id_only(id: impl Into<EntityId>) -> Self {
        EntityRef {
            id: id.into(),
            display: None,
        }
    }

    /// The display snapshot, or the id when there is none: what to show a person.
    pub fn label(&self) -> &str {
        self.display.as_deref().unwrap_or(self.id.as_str())
    }
}

/// The kind of an entity an event names.
///
/// Wire names are stable: `user`, `group`, `application`, `workspace`, `permission_group`;
/// custom events may name kinds of their own, kept as [`EntityKind::Other`].
///
/// Kinds compare, order and hash by wire name, so `EntityKind::Other("user".into())` *is*
/// [`EntityKind::User`]: it reads back from a store as `User`, finds the same records in every
/// store's queries, and keys the same entity in a history.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EntityKind {
    /// A user account.
    User,
    /// A user group.
    Group,
    /// An application (lives in a workspace).
    Application,
    /// A workspace.
    Workspace,
    /// A permission group (a role) in a scope.
    PermissionGroup,
    /// A kind named by a custom event.
    Other(String),
}

impl EntityKind {
    /// The stable wire name.
    pub fn as_str(&self) -> &str {
        match self {
            EntityKind::User => "user",
            EntityKind::Group => "group",
            EntityKind::Application => "application",
            EntityKind::Workspace => "workspace",
            EntityKind::PermissionGroup => "permission_group",
            EntityKind::Other(s) => s,
        }
    }

    /// Parses a wire name; names that are not built in become [`EntityKind::Other`].
    pub fn parse(s: &str) -> Self {
        Self::builtin(s).unwrap_or_else(|| EntityKind::Other(s.to_owned()))
    }

    /// The built-in kind with this wire name, if any.
    fn builtin(name: &str) -> Option<Self> {
        Some(match name {
            "user" => EntityKind::User,
            "group" => EntityKind::Group,
            "application" => EntityKind::Application,
            "workspace" => EntityKind::Workspace,
            "permission_group" => EntityKind::PermissionGroup,
            _ => return None,
        })
    }

    /// The variant's place in the enum: built-in kinds sort in this order, before the others.
    fn rank(&self) -> u8 {
        match self {
            EntityKind::User => 0,
            EntityKind::Group => 1,
            EntityKind::Application => 2,
            EntityKind::Workspace => 3,
            EntityKind::PermissionGroup => 4,
            EntityKind::Other(_) => 5,
        }
    }

    /// What equality, order and hashing look at: the kind a wire name stands for (so a
    /// built-in name spelt as [`EntityKind::Other`] is that built-in kind), then the name of
    /// any other kind.
    fn identity(&self) -> (u8, &str) {
        match self {
            EntityKind::Other(s) => match Self::builtin(s) {
                Some(kind) => (kind.rank(), ""),
                None => (self.rank(), s),
            },
            kind => (kind.rank(), ""),
        }
    }
}

impl PartialEq for EntityKind {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for EntityKind {}

impl PartialOrd for EntityKind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EntityKind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.identity().cmp(&other.identity())
    }
}

impl std::hash::Hash for EntityKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.identity().hash(state);
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EntityKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EntityKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(EntityKind::parse(&s))
    }
}

/// An entity's identity across the trail: its kind and id. What a [`Query`](crate::Query)
/// filters on and what [`History`](crate) keys its state by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntityKey {
    /// The kind.
    pub kind: EntityKind,
    /// The id.
    pub id: EntityId,
}

impl EntityKey {
    /// A key of any kind.
    pub fn new(kind: EntityKind, id: impl Into<EntityId>) -> Self {
        EntityKey {
            kind,
            id: id.into(),
        }
    }
    /// A user's key.
    pub fn user(id: impl Into<EntityId>) -> Self {
        Self::new(EntityKind::User, id)
    }
    /// A group's key.
    pub fn group(id: impl Into<EntityId>) -> Self {
        Self::new(EntityKind::Group, id)
    }
    /// An application's key.
    pub fn application(id: impl Into<EntityId>) -> Self {
        Self::new(EntityKind::Application, id)
    }
    /// A workspace's key.
    pub fn workspace(id: impl Into<EntityId>) -> Self {
        Self::new(EntityKind::Workspace, id)
    }
    /// A permission group's key.
    pub fn permission_group(id: impl Into<EntityId>) -> Self {
        Self::new(EntityKind::PermissionGroup, id)
    }
}

impl fmt::Display for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.id)
    }
}

/// How an event names an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// The entity the event is about (the user created, the member added).
    Target,
    /// The other side of a relation (the group joined, the permission group, an
    /// application's workspace).
    Related,
    /// Where a permission group lives (its workspace or application).
    Scope,
}

/// One entity an event names, with its role and the path of its reference in the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mention<'a> {
    /// How the event names it.
    pub role: Role,
    /// Its kind.
    pub kind: &'a EntityKind,
    /// The id.
    pub id: &'a EntityId,
    /// The display snapshot as recorded.
    pub display: Option<&'a str>,
    /// Where the reference sits in the event, such as `event.group` (used in error messages).
    pub path: &'static str,
}

impl<'a> Mention<'a> {
    /// The entity's key.
    pub fn key(&self) -> EntityKey {
        EntityKey {
            kind: self.kind.clone(),
            id: self.id.clone(),
        }
    }

    /// Whether this mention names `key`.
    pub fn is(&self, key: &EntityKey) -> bool {
        *self.kind == key.kind && *self.id == key.id
    }

    /// The display snapshot, or the id when there is none.
    pub fn label(&self) -> &'a str {
        self.display.unwrap_or(self.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_every_host_type_share_one_text_form() {
        assert_eq!(EntityId::from(42), EntityId::from("42"));
        assert_eq!(EntityId::from(42u64).as_str(), "42");
        let u = Uuid::parse_str("0191F3C2-7A8B-7C3D-9E4F-0123456789AB").unwrap();
        assert_eq!(
            EntityId::from(u).as_str(),
            "0191f3c2-7a8b-7c3d-9e4f-0123456789ab"
        );
    }

    #[test]
    fn kinds_round_trip_through_their_wire_names() {
        for k in [
            EntityKind::User,
            EntityKind::Group,
            EntityKind::Application,
            EntityKind::Workspace,
            EntityKind::PermissionGroup,
            EntityKind::Other("invoice".into()),
        ] {
            assert_eq!(EntityKind::parse(k.as_str()), k);
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(serde_json::from_str::<EntityKind>(&json).unwrap(), k);
        }
    }

    #[test]
    fn a_built_in_kind_spelt_as_a_custom_one_is_that_kind() {
        use std::collections::HashSet;
        let spelt = EntityKind::Other("user".into());
        assert_eq!(spelt, EntityKind::User);
        assert_eq!(spelt.cmp(&EntityKind::User), std::cmp::Ordering::Equal);
        assert!(HashSet::from([EntityKind::User]).contains(&spelt));
        // What is stored reads back equal to what was written.
        let json = serde_json::to_string(&spelt).unwrap();
        assert_eq!(serde_json::from_str::<EntityKind>(&json).unwrap(), spelt);
        // Built-in kinds keep their order and sort before custom ones; custom ones by name.
        let mut kinds = vec![
            EntityKind::Other("b".into()),
            EntityKind::Other("permission_group".into()),
            EntityKind::Other("a".into()),
            EntityKind::User,
            EntityKind::Workspace,
        ];
        kinds.sort();
        assert_eq!(
            kinds,
            vec![
                EntityKind::User,
                EntityKind::Workspace,
                EntityKind::PermissionGroup,
                EntityKind::Other("a".into()),
                EntityKind::Other("b".into()),
            ]
        );
        assert_ne!(EntityKind::Other("users".into()), EntityKind::User);
    }

    #[test]
    fn label_falls_back_to_the_id() {
        assert_eq!(EntityRef::new(1, "alice").label(), "alice");
        assert_eq!(EntityRef::id_only(1).label(), "1");
    }
}
