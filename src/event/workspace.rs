//! The `workspace.*` family: workspaces, which hold applications.

use serde::{Deserialize, Serialize};

use super::{Attributes, EntityRef, FieldChange};

/// `workspace.created`: a workspace was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceCreated {
    /// The new workspace.
    pub workspace: EntityRef,
    /// Its attributes at creation.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

/// `workspace.edited`: fields of a workspace changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceEdited {
    /// The workspace.
    pub workspace: EntityRef,
    /// What changed.
    pub changes: Vec<FieldChange>,
}

/// `workspace.deleted`: a workspace was deleted (with it go its applications and the
/// permission groups scoped to them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceDeleted {
    /// The deleted workspace.
    pub workspace: EntityRef,
}
