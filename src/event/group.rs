//! The `group.*` family: user groups created, edited, deleted, and nested in other groups.

use serde::{Deserialize, Serialize};

use super::{Attributes, EntityRef, FieldChange};

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
