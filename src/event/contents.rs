//! What an event carries, answered beside each payload type's definition.
//!
//! The checks that guard secrets and limits (the input [`Limits`](crate::Limits), the
//! [text rule](crate::text), the [`RedactionPolicy`](crate::RedactionPolicy)) and the CSV
//! `changes` cell read an event only through [`Carries`], which [`Event`](super::Event)
//! dispatches in one match generated from the vocabulary table. So:
//!
//! - a new event type cannot be added to the vocabulary until its payload type implements
//!   [`Carries`]: it must say which entities it names, which display snapshots it holds, and
//!   which one kind of [`Carried`] data it has;
//! - each implementation destructures its struct without `..`, so a field added to a payload
//!   type does not compile until someone decides what the field is;
//! - every consumer matches [`Carried`] / [`CarriedMut`] without a wildcard arm, so a new
//!   kind of data does not compile until each check says what it does with it.
//!
//! A new event that carries, say, attributes thus gets the attribute checks and the
//! redaction of attributes without anyone touching those checks.

use serde_json::Value;

use super::{
    Attributes, AuditExported, AuditPurged, EntityKind, EntityRef, FieldChange, Mention, Role,
    UserChange,
};

/// What an event carries besides the entities it names: one of these per event type
/// ([`Event::carried`](super::Event::carried)).
///
/// The crate's own readers (the limits, the redaction, the CSV `changes` cell) match it
/// without a wildcard arm, so a new kind of data cannot be added without each saying what it
/// does with it. Outside the crate it is `#[non_exhaustive]`: a reader that shows events (a
/// command line, a page) keeps an arm for kinds it does not know, and can show those from the
/// event's JSON ([`Event::to_value`](super::Event::to_value)).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Carried<'a> {
    /// Nothing else: deletions, memberships, permission changes.
    Nothing,
    /// Attributes at creation.
    Attributes {
        /// Whether they are a user's: held to the password rule, and whose named fields
        /// (login name, full name, e-mail) are display text.
        of_user: bool,
        /// The attributes, by name.
        attributes: &'a Attributes,
    },
    /// Field changes of a group, an application or a workspace.
    Changes(&'a [FieldChange]),
    /// Changes of a user (at least one; a password change carries no value).
    UserChanges(&'a [UserChange]),
    /// A host-defined event's JSON.
    Custom(&'a Value),
    /// A retention purge, which only a store records.
    Purge(&'a AuditPurged),
    /// An export of the trail.
    Export(&'a AuditExported),
    /// An event this version does not know, as stored.
    Unknown(&'a Value),
}

/// [`Carried`], for the checks that change what is stored (cutting, redaction).
#[derive(Debug)]
pub(crate) enum CarriedMut<'a> {
    /// See [`Carried::Nothing`].
    Nothing,
    /// See [`Carried::Attributes`].
    Attributes {
        of_user: bool,
        attributes: &'a mut Attributes,
    },
    /// See [`Carried::Changes`].
    Changes(&'a mut [FieldChange]),
    /// See [`Carried::UserChanges`].
    UserChanges(&'a mut [UserChange]),
    /// A host-defined event: the host's dotted name (to check) and its JSON.
    Custom {
        name: &'a str,
        payload: &'a mut Value,
    },
    /// See [`Carried::Purge`]: the store's own facts, which no check changes.
    Purge,
    /// See [`Carried::Export`].
    Export(&'a mut AuditExported),
    /// See [`Carried::Unknown`]: kept byte for byte (its hash covers it), so nothing may
    /// change it.
    Unknown,
}

/// One display snapshot an event holds, to be held to the display-text rule.
pub(crate) type DisplayMut<'a> = &'a mut String;

/// Calls `f` with the display snapshot of `entity`, if it has one.
pub(crate) fn display_of(entity: &mut EntityRef, f: &mut dyn FnMut(DisplayMut<'_>)) {
    if let Some(text) = &mut entity.display {
        f(text);
    }
}

/// What one payload type carries. Implemented beside each payload's definition; see the
/// [module docs](self) for why every method is required.
pub(crate) trait Carries {
    /// Every entity it names, in order: the target, related entities, the scope of a
    /// permission group.
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>));

    /// Calls `f` with every display snapshot it holds: the same references as
    /// [`mentions`](Carries::mentions), in the same order, those that have one.
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>));

    /// The data it carries besides the entities.
    fn carried(&self) -> Carried<'_>;

    /// The same, to change in place.
    fn carried_mut(&mut self) -> CarriedMut<'_>;
}

/// The kinds that built-in events name, as `'static` references for [`Mention`]s.
pub(crate) mod kinds {
    use super::EntityKind;

    pub(crate) const USER: &EntityKind = &EntityKind::User;
    pub(crate) const GROUP: &EntityKind = &EntityKind::Group;
    pub(crate) const APPLICATION: &EntityKind = &EntityKind::Application;
    pub(crate) const WORKSPACE: &EntityKind = &EntityKind::Workspace;
    pub(crate) const PERMISSION_GROUP: &EntityKind = &EntityKind::PermissionGroup;
}

/// The mention of `entity` of `kind` at `path` in `role`.
pub(crate) fn mention<'a>(
    role: Role,
    kind: &'a EntityKind,
    entity: &'a EntityRef,
    path: &'static str,
) -> Mention<'a> {
    Mention {
        role,
        kind,
        id: &entity.id,
        display: entity.display.as_deref(),
        path,
    }
}
