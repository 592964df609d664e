//! The `workspace.*` family: workspaces, which hold applications.

use serde::{Deserialize, Serialize};

use super::contents::{display_of, kinds, mention, Carried, CarriedMut, Carries, DisplayMut};
use super::{Attributes, EntityRef, FieldChange, Mention, Role};

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

impl Carries for WorkspaceCreated {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let WorkspaceCreated {
            workspace,
            attributes: _,
        } = self;
        out(mention(
            Role::Target,
            kinds::WORKSPACE,
            workspace,
            "event.workspace",
        ));
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let WorkspaceCreated {
            workspace,
            attributes: _,
        } = self;
        display_of(workspace, f);
    }
    fn carried(&self) -> Carried<'_> {
        let WorkspaceCreated {
            workspace: _,
            attributes,
        } = self;
        Carried::Attributes {
            of_user: false,
            attributes,
        }
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        let WorkspaceCreated {
            workspace: _,
            attributes,
        } = self;
        CarriedMut::Attributes {
            of_user: false,
            attributes,
        }
    }
}

impl Carries for WorkspaceEdited {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let WorkspaceEdited {
            workspace,
            changes: _,
        } = self;
        out(mention(
            Role::Target,
            kinds::WORKSPACE,
            workspace,
            "event.workspace",
        ));
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let WorkspaceEdited {
            workspace,
            changes: _,
        } = self;
        display_of(workspace, f);
    }
    fn carried(&self) -> Carried<'_> {
        let WorkspaceEdited {
            workspace: _,
            changes,
        } = self;
        Carried::Changes(changes)
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        let WorkspaceEdited {
            workspace: _,
            changes,
        } = self;
        CarriedMut::Changes(changes)
    }
}

impl Carries for WorkspaceDeleted {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let WorkspaceDeleted { workspace } = self;
        out(mention(
            Role::Target,
            kinds::WORKSPACE,
            workspace,
            "event.workspace",
        ));
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let WorkspaceDeleted { workspace } = self;
        display_of(workspace, f);
    }
    fn carried(&self) -> Carried<'_> {
        Carried::Nothing
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        CarriedMut::Nothing
    }
}
