//! The event vocabulary: what happened, typed, with stable wire names.
//!
//! Every event has a dotted name ([`Event::name`]) that never changes once released; new
//! events may be added (the enum is `#[non_exhaustive]`). On the wire an event is one JSON
//! object whose `event` key holds that name and whose other keys are the variant's fields:
//!
//! ```json
//! {"event": "user.added_to_group", "user": {"id": "42", "display": "alice"},
//!  "group": {"id": "7", "display": "Accounting"}}
//! ```
//!
//! | family | events |
//! | --- | --- |
//! | user | `user.created`, `user.edited`, `user.deleted`, `user.added_to_group`, `user.removed_from_group` |
//! | group | `group.created`, `group.edited`, `group.deleted`, `group.added_to_group`, `group.removed_from_group` |
//! | application | `application.created`, `application.edited`, `application.deleted` |
//! | workspace | `workspace.created`, `workspace.edited`, `workspace.deleted` |
//! | permission | `permission.user_added`, `permission.user_removed`, `permission.group_added`, `permission.group_removed` |
//! | audit | `audit.purged`, `audit.exported` (the trail recording what was done to it) |
//! | custom | the host's own dotted name, wire tag `custom` |
//!
//! A record written by a newer version, whose event this version does not know (or whose
//! fields it does not know), reads back as [`Event::Unknown`] with its name and raw JSON: it
//! still verifies, exports and shows in timelines, and never hides the rest of the trail.
//!
//! ```
//! use audit_log::{Event, EntityRef, UserChange};
//!
//! let alice = EntityRef::new(42, "alice");
//! let e = Event::user_edited(alice, vec![UserChange::password_changed()]);
//! assert_eq!(e.name(), "user.edited");
//! ```
//!
//! A password change has no value to carry, so this does not compile:
//!
//! ```compile_fail
//! use audit_log::UserChange;
//! let change = UserChange::password_changed("hunter2");
//! ```

mod application;
mod audit;
mod contents;
mod custom;
mod describe;
pub(crate) mod encode;
mod entity;
mod field;
mod group;
mod permission;
mod user;
mod workspace;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

pub use contents::Carried;
use contents::Carries;
pub(crate) use contents::{CarriedMut, DisplayMut};

pub use application::{ApplicationCreated, ApplicationDeleted, ApplicationEdited};
pub use audit::{AuditExported, AuditPurged};
pub use custom::{CustomEntity, CustomEvent};
pub use entity::{EntityId, EntityKey, EntityKind, EntityRef, Mention, Role};
pub use field::{user_fields, Attributes, FieldChange, FieldValue, UserChange};
pub use group::{GroupCreated, GroupDeleted, GroupEdited, GroupNesting};
pub use permission::{GroupPermission, PermissionGroupRef, Scope, UserPermission};
pub use user::{UserCreated, UserDeleted, UserEdited, UserMembership};
pub use workspace::{WorkspaceCreated, WorkspaceDeleted, WorkspaceEdited};

/// The wire tag of host-defined events.
pub const CUSTOM_TAG: &str = "custom";

/// Event families reserved for the built-in vocabulary; a custom event may not use them.
pub const RESERVED_FAMILIES: &[&str] = &[
    "user",
    "group",
    "application",
    "workspace",
    "permission",
    "audit",
    "custom",
];

/// An event that this version of the crate does not know, kept whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEvent {
    /// The event's name as written.
    pub name: String,
    /// The event's JSON exactly as stored (including its `event` key).
    pub raw: Value,
}

/// An unknown event names nothing this version can read: queries find it by name only.
impl Carries for UnknownEvent {
    fn mentions<'a>(&'a self, _: &mut dyn FnMut(Mention<'a>)) {}
    fn displays_mut(&mut self, _: &mut dyn FnMut(DisplayMut<'_>)) {}
    fn carried(&self) -> Carried<'_> {
        let UnknownEvent { name: _, raw } = self;
        Carried::Unknown(raw)
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        CarriedMut::Unknown
    }
}

/// What happened: one administrative change.
///
/// See the [module docs](self) for the vocabulary and the wire form.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `user.created`
    UserCreated(UserCreated),
    /// `user.edited`
    UserEdited(UserEdited),
    /// `user.deleted`
    UserDeleted(UserDeleted),
    /// `user.added_to_group`
    UserAddedToGroup(UserMembership),
    /// `user.removed_from_group`
    UserRemovedFromGroup(UserMembership),
    /// `group.created`
    GroupCreated(GroupCreated),
    /// `group.edited`
    GroupEdited(GroupEdited),
    /// `group.deleted`
    GroupDeleted(GroupDeleted),
    /// `group.added_to_group`
    GroupAddedToGroup(GroupNesting),
    /// `group.removed_from_group`
    GroupRemovedFromGroup(GroupNesting),
    /// `application.created`
    ApplicationCreated(ApplicationCreated),
    /// `application.edited`
    ApplicationEdited(ApplicationEdited),
    /// `application.deleted`
    ApplicationDeleted(ApplicationDeleted),
    /// `workspace.created`
    WorkspaceCreated(WorkspaceCreated),
    /// `workspace.edited`
    WorkspaceEdited(WorkspaceEdited),
    /// `workspace.deleted`
    WorkspaceDeleted(WorkspaceDeleted),
    /// `permission.user_added`
    PermissionUserAdded(UserPermission),
    /// `permission.user_removed`
    PermissionUserRemoved(UserPermission),
    /// `permission.group_added`
    PermissionGroupAdded(GroupPermission),
    /// `permission.group_removed`
    PermissionGroupRemoved(GroupPermission),
    /// `audit.purged`
    AuditPurged(AuditPurged),
    /// `audit.exported`
    AuditExported(AuditExported),
    /// A host-defined event (wire tag `custom`; [`Event::name`] is the host's name).
    Custom(CustomEvent),
    /// An event this version does not know, kept with its raw JSON.
    Unknown(UnknownEvent),
}

/// Declares, once, each built-in variant with its payload type and wire name; the name,
/// serialization and parsing below all come from this one table.
macro_rules! vocabulary {
    ($( $variant:ident($ty:ty) = $name:literal ),* $(,)?) => {
        /// Every built-in event name, in catalogue order.
        pub const EVENT_NAMES: &[&str] = &[$($name),*];

        impl Event {
            /// The payload, as what it carries: the one place that lists every variant
            /// for the checks (see `contents`).
            fn contents(&self) -> &dyn Carries {
                match self {
                    $(Event::$variant(e) => e,)*
                    Event::Custom(e) => e,
                    Event::Unknown(e) => e,
                }
            }

            /// [`contents`](Self::contents), to change in place.
            fn contents_mut(&mut self) -> &mut dyn Carries {
                match self {
                    $(Event::$variant(e) => e,)*
                    Event::Custom(e) => e,
                    Event::Unknown(e) => e,
                }
            }

            /// The stable dotted name: `user.created`, ..., the host's name for a custom
            /// event, the stored name for an unknown one.
            pub fn name(&self) -> &str {
                match self {
                    $(Event::$variant(_) => $name,)*
                    Event::Custom(c) => &c.name,
                    Event::Unknown(u) => &u.name,
                }
            }

            /// The event as its wire JSON object.
            pub fn to_value(&self) -> Value {
                let (tag, body) = match self {
                    $(Event::$variant(e) => ($name, serde_json::to_value(e)),)*
                    Event::Custom(e) => (CUSTOM_TAG, serde_json::to_value(e)),
                    Event::Unknown(u) => return u.raw.clone(),
                };
                // Serializing these plain structs into a `Value` cannot fail: they hold no
                // maps with non-string keys and no foreign `Serialize` impls.
                let mut map = match body {
                    Ok(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                map.insert("event".to_owned(), Value::String(tag.to_owned()));
                Value::Object(map)
            }

            /// Writes the wire object through the direct encoder (see `crate::event::encode`).
            pub(crate) fn encode_wire<F: crate::event::encode::Format>(
                &self,
                enc: &mut crate::event::encode::Encoder<'_, F>,
            ) -> Result<(), crate::event::encode::EncodeError> {
                match self {
                    $(Event::$variant(e) => enc.event($name, e),)*
                    Event::Custom(e) => enc.event(CUSTOM_TAG, e),
                    Event::Unknown(u) => u.raw.serialize(enc),
                }
            }

            /// Reads an event from its wire JSON object.
            ///
            /// A known name whose fields do not parse (a newer version added one, say) and
            /// an unknown name both give [`Event::Unknown`] with the raw JSON kept. Only a
            /// value that is not an object with a string `event` key is an error.
            pub fn from_value(raw: Value) -> Result<Event, String> {
                let name = match raw.get("event") {
                    Some(Value::String(s)) => s.clone(),
                    Some(_) => return Err("the `event` key is not a string".to_owned()),
                    None => return Err("no `event` key".to_owned()),
                };
                let mut body = match &raw {
                    Value::Object(m) => m.clone(),
                    _ => return Err("an event must be a JSON object".to_owned()),
                };
                body.remove("event");
                let body = Value::Object(body);
                let parsed = match name.as_str() {
                    $($name => serde_json::from_value::<$ty>(body).map(Event::$variant),)*
                    CUSTOM_TAG => serde_json::from_value::<CustomEvent>(body).map(Event::Custom),
                    _ => return Ok(Event::Unknown(UnknownEvent { name, raw })),
                };
                Ok(parsed.unwrap_or_else(|_| {
                    let name = match raw.get("name") {
                        Some(Value::String(n)) if name == CUSTOM_TAG => n.clone(),
                        _ => name,
                    };
                    Event::Unknown(UnknownEvent { name, raw })
                }))
            }
        }
    };
}

vocabulary! {
    UserCreated(UserCreated) = "user.created",
    UserEdited(UserEdited) = "user.edited",
    UserDeleted(UserDeleted) = "user.deleted",
    UserAddedToGroup(UserMembership) = "user.added_to_group",
    UserRemovedFromGroup(UserMembership) = "user.removed_from_group",
    GroupCreated(GroupCreated) = "group.created",
    GroupEdited(GroupEdited) = "group.edited",
    GroupDeleted(GroupDeleted) = "group.deleted",
    GroupAddedToGroup(GroupNesting) = "group.added_to_group",
    GroupRemovedFromGroup(GroupNesting) = "group.removed_from_group",
    ApplicationCreated(ApplicationCreated) = "application.created",
    ApplicationEdited(ApplicationEdited) = "application.edited",
    ApplicationDeleted(ApplicationDeleted) = "application.deleted",
    WorkspaceCreated(WorkspaceCreated) = "workspace.created",
    WorkspaceEdited(WorkspaceEdited) = "workspace.edited",
    WorkspaceDeleted(WorkspaceDeleted) = "workspace.deleted",
    PermissionUserAdded(UserPermission) = "permission.user_added",
    PermissionUserRemoved(UserPermission) = "permission.user_removed",
    PermissionGroupAdded(GroupPermission) = "permission.group_added",
    PermissionGroupRemoved(GroupPermission) = "permission.group_removed",
    AuditPurged(AuditPurged) = "audit.purged",
    AuditExported(AuditExported) = "audit.exported",
}

impl Event {
    /// `user.created` with no attributes; see [`UserCreated`] for the builder with login
    /// name, full name and e-mail.
    pub fn user_created(user: EntityRef) -> Self {
        Event::UserCreated(UserCreated::new(user))
    }
    /// `user.edited`.
    pub fn user_edited(user: EntityRef, changes: Vec<UserChange>) -> Self {
        Event::UserEdited(UserEdited { user, changes })
    }
    /// `user.deleted`.
    pub fn user_deleted(user: EntityRef) -> Self {
        Event::UserDeleted(UserDeleted { user })
    }
    /// `user.added_to_group`.
    pub fn user_added_to_group(user: EntityRef, group: EntityRef) -> Self {
        Event::UserAddedToGroup(UserMembership { user, group })
    }
    /// `user.removed_from_group`.
    pub fn user_removed_from_group(user: EntityRef, group: EntityRef) -> Self {
        Event::UserRemovedFromGroup(UserMembership { user, group })
    }
    /// `group.created` with no attributes.
    pub fn group_created(group: EntityRef) -> Self {
        Event::GroupCreated(GroupCreated {
            group,
            attributes: Attributes::new(),
        })
    }
    /// `group.edited`.
    pub fn group_edited(group: EntityRef, changes: Vec<FieldChange>) -> Self {
        Event::GroupEdited(GroupEdited { group, changes })
    }
    /// `group.deleted`.
    pub fn group_deleted(group: EntityRef) -> Self {
        Event::GroupDeleted(GroupDeleted { group })
    }
    /// `group.added_to_group`: `group` became a member of `parent`.
    pub fn group_added_to_group(group: EntityRef, parent: EntityRef) -> Self {
        Event::GroupAddedToGroup(GroupNesting { group, parent })
    }
    /// `group.removed_from_group`: `group` stopped being a member of `parent`.
    pub fn group_removed_from_group(group: EntityRef, parent: EntityRef) -> Self {
        Event::GroupRemovedFromGroup(GroupNesting { group, parent })
    }
    /// `application.created` with no attributes.
    pub fn application_created(application: EntityRef, workspace: EntityRef) -> Self {
        Event::ApplicationCreated(ApplicationCreated {
            application,
            workspace,
            attributes: Attributes::new(),
        })
    }
    /// `application.edited`.
    pub fn application_edited(
        application: EntityRef,
        workspace: EntityRef,
        changes: Vec<FieldChange>,
    ) -> Self {
        Event::ApplicationEdited(ApplicationEdited {
            application,
            workspace,
            changes,
        })
    }
    /// `application.deleted`.
    pub fn application_deleted(application: EntityRef, workspace: EntityRef) -> Self {
        Event::ApplicationDeleted(ApplicationDeleted {
            application,
            workspace,
        })
    }
    /// `workspace.created` with no attributes.
    pub fn workspace_created(workspace: EntityRef) -> Self {
        Event::WorkspaceCreated(WorkspaceCreated {
            workspace,
            attributes: Attributes::new(),
        })
    }
    /// `workspace.edited`.
    pub fn workspace_edited(workspace: EntityRef, changes: Vec<FieldChange>) -> Self {
        Event::WorkspaceEdited(WorkspaceEdited { workspace, changes })
    }
    /// `workspace.deleted`.
    pub fn workspace_deleted(workspace: EntityRef) -> Self {
        Event::WorkspaceDeleted(WorkspaceDeleted { workspace })
    }
    /// `permission.user_added`.
    pub fn permission_user_added(user: EntityRef, permission_group: PermissionGroupRef) -> Self {
        Event::PermissionUserAdded(UserPermission {
            user,
            permission_group,
        })
    }
    /// `permission.user_removed`.
    pub fn permission_user_removed(user: EntityRef, permission_group: PermissionGroupRef) -> Self {
        Event::PermissionUserRemoved(UserPermission {
            user,
            permission_group,
        })
    }
    /// `permission.group_added`.
    pub fn permission_group_added(group: EntityRef, permission_group: PermissionGroupRef) -> Self {
        Event::PermissionGroupAdded(GroupPermission {
            group,
            permission_group,
        })
    }
    /// `permission.group_removed`.
    pub fn permission_group_removed(
        group: EntityRef,
        permission_group: PermissionGroupRef,
    ) -> Self {
        Event::PermissionGroupRemoved(GroupPermission {
            group,
            permission_group,
        })
    }
    /// A host-defined event with a payload; see [`CustomEvent`] to name entities.
    pub fn custom(name: impl Into<String>, payload: Value) -> Self {
        Event::Custom(CustomEvent::new(name, payload))
    }

    /// The event as its wire JSON text: compact, object keys sorted, the same text as
    /// `self.to_value().to_string()` (with serde_json's default, sorted maps) but written
    /// straight from the event, without building the [`Value`].
    ///
    /// ```
    /// use audit_log::{Event, EntityRef};
    ///
    /// let e = Event::user_deleted(EntityRef::new(42, "alice"));
    /// assert_eq!(
    ///     e.to_json(),
    ///     r#"{"event":"user.deleted","user":{"display":"alice","id":"42"}}"#
    /// );
    /// assert_eq!(e.to_json(), e.to_value().to_string());
    /// ```
    pub fn to_json(&self) -> String {
        if let Event::Unknown(u) = self {
            return u.raw.to_string();
        }
        let mut out = Vec::with_capacity(384);
        crate::event::encode::write::<crate::event::encode::JsonText>(&mut out, self)
            .ok()
            .and_then(|()| String::from_utf8(out).ok())
            // The direct encoder declines only what no built-in event holds; the `Value`
            // path then gives the same text.
            .unwrap_or_else(|| self.to_value().to_string())
    }

    /// The family: the part of the name before the first dot (`user`, `permission`, ...).
    pub fn family(&self) -> &str {
        let name = self.name();
        name.split_once('.').map_or(name, |(f, _)| f)
    }

    /// Whether this version of the crate knows the event (it is not [`Event::Unknown`]).
    pub fn is_known(&self) -> bool {
        !matches!(self, Event::Unknown(_))
    }

    /// Every entity the event names, with its role: the target first, then related entities,
    /// then the scope of a permission group. Unknown events name none.
    pub fn mentions(&self) -> Vec<Mention<'_>> {
        let mut out = Vec::with_capacity(4);
        self.for_each_mention(|m| out.push(m));
        out
    }

    /// Calls `f` with each of [`mentions`](Self::mentions), in order, without collecting
    /// them: the input checks visit them for every record.
    pub(crate) fn for_each_mention<'a>(&'a self, mut f: impl FnMut(Mention<'a>)) {
        self.contents().mentions(&mut f);
    }

    /// What the event carries besides the entities it names (attributes, changes, a
    /// payload, ...): what the limits, the redaction and the CSV `changes` cell read, and
    /// what a reader shows as the record's detail.
    ///
    /// ```
    /// use audit_log::event::Carried;
    /// use audit_log::{EntityRef, Event, FieldChange};
    ///
    /// let e = Event::group_edited(EntityRef::new(7, "Ops"), vec![FieldChange::new("name", "Ops", "Operations")]);
    /// match e.carried() {
    ///     Carried::Changes(changes) => assert_eq!(changes[0].field, "name"),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn carried(&self) -> Carried<'_> {
        self.contents().carried()
    }

    /// [`carried`](Self::carried), to change in place (cutting, redaction).
    pub(crate) fn carried_mut(&mut self) -> CarriedMut<'_> {
        self.contents_mut().carried_mut()
    }

    /// Calls `f` with every display snapshot the event holds, in mention order.
    pub(crate) fn displays_mut(&mut self, mut f: impl FnMut(DisplayMut<'_>)) {
        self.contents_mut().displays_mut(&mut f);
    }

    /// The entity the event is about, if it names one.
    pub fn target(&self) -> Option<Mention<'_>> {
        self.mentions().into_iter().find(|m| m.role == Role::Target)
    }

    /// The first related entity (the group joined, the permission group, the workspace).
    pub fn related(&self) -> Option<Mention<'_>> {
        self.mentions()
            .into_iter()
            .find(|m| m.role == Role::Related)
    }

    /// Whether the event names `key` in any role.
    pub fn names(&self, key: &EntityKey) -> bool {
        self.mentions().iter().any(|m| m.is(key))
    }

    /// The permission group of a `permission.*` event.
    pub fn permission_group(&self) -> Option<&PermissionGroupRef> {
        match self {
            Event::PermissionUserAdded(e) | Event::PermissionUserRemoved(e) => {
                Some(&e.permission_group)
            }
            Event::PermissionGroupAdded(e) | Event::PermissionGroupRemoved(e) => {
                Some(&e.permission_group)
            }
            _ => None,
        }
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Event::from_value(v).map_err(serde::de::Error::custom)
    }
}

macro_rules! into_event {
    ($($ty:ty => $variant:ident),*) => {$(
        impl From<$ty> for Event {
            fn from(e: $ty) -> Self {
                Event::$variant(e)
            }
        }
    )*};
}
into_event!(
    UserCreated => UserCreated,
    UserEdited => UserEdited,
    UserDeleted => UserDeleted,
    GroupCreated => GroupCreated,
    GroupEdited => GroupEdited,
    GroupDeleted => GroupDeleted,
    ApplicationCreated => ApplicationCreated,
    ApplicationEdited => ApplicationEdited,
    ApplicationDeleted => ApplicationDeleted,
    WorkspaceCreated => WorkspaceCreated,
    WorkspaceEdited => WorkspaceEdited,
    WorkspaceDeleted => WorkspaceDeleted,
    AuditPurged => AuditPurged,
    AuditExported => AuditExported,
    CustomEvent => Custom
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every built-in event, with a display snapshot on every reference it holds.
    fn one_of_each() -> Vec<Event> {
        let mut events = crate::conformance::sample_events();
        events.push(Event::AuditPurged(AuditPurged {
            through_seq: 1,
            anchor_hash: crate::Digest([0; 32]),
            count: 1,
            before: None,
            state: None,
        }));
        events.push(Event::AuditExported(AuditExported {
            format: "csv".into(),
            query: Value::Null,
            count: 0,
            first_seq: None,
            last_seq: None,
        }));
        events.push(Event::from_value(json!({"event": "user.suspended"})).unwrap());
        events
    }

    #[test]
    fn the_samples_hold_every_event_of_the_vocabulary() {
        let names: std::collections::BTreeSet<&str> = one_of_each()
            .iter()
            .filter(|e| !matches!(e, Event::Custom(_) | Event::Unknown(_)))
            .map(|e| {
                EVENT_NAMES
                    .iter()
                    .copied()
                    .find(|n| *n == e.name())
                    .unwrap()
            })
            .collect();
        assert_eq!(names.len(), EVENT_NAMES.len());
    }

    /// The two lists a payload type gives (its mentions and its display snapshots) name the
    /// same references in the same order, so the display-text rule sees every snapshot a
    /// person is shown.
    #[test]
    fn display_snapshots_are_those_of_the_mentions() {
        for mut e in one_of_each() {
            let from_mentions: Vec<String> = e
                .mentions()
                .iter()
                .filter_map(|m| Some(m.display?.to_owned()))
                .collect();
            let mut from_displays = Vec::new();
            e.displays_mut(|d| from_displays.push(d.clone()));
            assert_eq!(from_displays, from_mentions, "{}", e.name());
        }
    }

    #[test]
    fn unknown_names_keep_their_raw_json() {
        let raw = json!({"event": "user.suspended", "user": {"id": "1"}, "until": "2030-01-01"});
        let e = Event::from_value(raw.clone()).unwrap();
        assert_eq!(e.name(), "user.suspended");
        assert!(!e.is_known());
        assert_eq!(e.to_value(), raw);
    }

    #[test]
    fn a_known_name_with_a_field_this_version_lacks_is_kept_raw() {
        let raw = json!({"event": "user.deleted", "user": {"id": "1"}, "soft": true});
        let e = Event::from_value(raw.clone()).unwrap();
        assert_eq!(e.name(), "user.deleted");
        assert!(!e.is_known());
        assert_eq!(e.to_value(), raw);
    }

    #[test]
    fn non_objects_are_errors() {
        assert!(Event::from_value(json!([1, 2])).is_err());
        assert!(Event::from_value(json!({"user": 1})).is_err());
        assert!(Event::from_value(json!({"event": 5})).is_err());
    }

    #[test]
    fn custom_events_are_named_by_the_host() {
        let e = Event::custom("billing.invoice_voided", json!({"invoice": 7}));
        assert_eq!(e.name(), "billing.invoice_voided");
        assert_eq!(e.family(), "billing");
        let v = e.to_value();
        assert_eq!(v["event"], "custom");
        assert_eq!(Event::from_value(v).unwrap(), e);
    }

    #[test]
    fn permission_events_mention_principal_and_scope() {
        let pg = PermissionGroupRef::new(
            9,
            "Payroll editors",
            Scope::application(EntityRef::new(3, "Payroll"), EntityRef::new(1, "Finance")),
        );
        let e = Event::permission_user_added(EntityRef::new(42, "alice"), pg);
        assert!(e.names(&EntityKey::user(42)));
        assert!(e.names(&EntityKey::application(3)));
        assert!(e.names(&EntityKey::workspace(1)));
        assert!(e.names(&EntityKey::permission_group(9)));
        assert!(!e.names(&EntityKey::user(3)));
        assert_eq!(
            e.permission_group().map(|p| p.label()),
            Some("Payroll editors")
        );
    }
}
