//! The `group.*` family: user groups created, edited, deleted, and nested in other groups.

use serde::{Deserialize, Serialize};

use super::contents::{display_of, kinds, mention, Carried, CarriedMut, Carries, DisplayMut};
use super::{Attributes, EntityRef, FieldChange, Mention, Role};

/// `group.created`: a user group was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupCreated {
    /// The new group.
    pub group: EntityRef,
    /// Its attributes at creation.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

/// `group.edited`: fields of a group changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupEdited {
    /// The group.
    pub group: EntityRef,
    /// What changed.
    pub changes: Vec<FieldChange>,
}

/// `group.deleted`: a group was deleted (its members lose what it gave them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDeleted {
    /// The deleted group.
    pub group: EntityRef,
}

/// `group.added_to_group` / `group.removed_from_group`: a group became (or stopped being) a
/// member of another group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupNesting {
    /// The member group.
    pub group: EntityRef,
    /// The group it was added to or removed from.
    pub parent: EntityRef,
}

impl Carries for GroupCreated {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let GroupCreated {
            group,
            attributes: _,
        } = self;
        out(mention(Role::Target, kinds::GROUP, group, "event.group"));
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let GroupCreated {
            group,
            attributes: _,
        } = self;
        display_of(group, f);
    }
    fn carried(&self) -> Carried<'_> {
        let GroupCreated {
            group: _,
            attributes,
        } = self;
        Carried::Attributes {
            of_user: false,
            attributes,
        }
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        let GroupCreated {
            group: _,
            attributes,
        } = self;
        CarriedMut::Attributes {
            of_user: false,
            attributes,
        }
    }
}

impl Carries for GroupEdited {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let GroupEdited { group, changes: _ } = self;
        out(mention(Role::Target, kinds::GROUP, group, "event.group"));
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let GroupEdited { group, changes: _ } = self;
        display_of(group, f);
    }
    fn carried(&self) -> Carried<'_> {
        let GroupEdited { group: _, changes } = self;
        Carried::Changes(changes)
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        let GroupEdited { group: _, changes } = self;
        CarriedMut::Changes(changes)
    }
}

impl Carries for GroupDeleted {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let GroupDeleted { group } = self;
        out(mention(Role::Target, kinds::GROUP, group, "event.group"));
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let GroupDeleted { group } = self;
        display_of(group, f);
    }
    fn carried(&self) -> Carried<'_> {
        Carried::Nothing
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        CarriedMut::Nothing
    }
}

impl Carries for GroupNesting {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let GroupNesting { group, parent } = self;
        out(mention(Role::Target, kinds::GROUP, group, "event.group"));
        out(mention(Role::Related, kinds::GROUP, parent, "event.parent"));
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let GroupNesting { group, parent } = self;
        display_of(group, f);
        display_of(parent, f);
    }
    fn carried(&self) -> Carried<'_> {
        Carried::Nothing
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        CarriedMut::Nothing
    }
}
