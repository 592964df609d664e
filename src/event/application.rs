//! The `application.*` family: applications, which live in a workspace.

use serde::{Deserialize, Serialize};

use super::{Attributes, EntityRef, FieldChange};

/// `application.created`: an application was created in a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationCreated {
    /// The new application.
    pub application: EntityRef,
    /// The workspace it lives in.
    pub workspace: EntityRef,
    /// Its attributes at creation.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

/// `application.edited`: fields of an application changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationEdited {
    /// The application.
    pub application: EntityRef,
    /// The workspace it lives in (after the edit, if the edit moved it).
    pub workspace: EntityRef,
    /// What changed.
    pub changes: Vec<FieldChange>,
}

/// `application.deleted`: an application was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationDeleted {
    /// The deleted application.
    pub application: EntityRef,
    /// The workspace it lived in.
    pub workspace: EntityRef,
}
