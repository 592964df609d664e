//! The `application.*` family: applications, which live in a workspace.

use serde::{Deserialize, Serialize};

use super::contents::{display_of, kinds, mention, Carried, CarriedMut, Carries, DisplayMut};
use super::{Attributes, EntityRef, FieldChange, Mention, Role};

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

/// An application event names the application (target), then its workspace (related).
fn application_mentions<'a>(
    application: &'a EntityRef,
    workspace: &'a EntityRef,
    out: &mut dyn FnMut(Mention<'a>),
) {
    out(mention(
        Role::Target,
        kinds::APPLICATION,
        application,
        "event.application",
    ));
    out(mention(
        Role::Related,
        kinds::WORKSPACE,
        workspace,
        "event.workspace",
    ));
}

fn application_displays(
    application: &mut EntityRef,
    workspace: &mut EntityRef,
    f: &mut dyn FnMut(DisplayMut<'_>),
) {
    display_of(application, f);
    display_of(workspace, f);
}

impl Carries for ApplicationCreated {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let ApplicationCreated {
            application,
            workspace,
            attributes: _,
        } = self;
        application_mentions(application, workspace, out);
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let ApplicationCreated {
            application,
            workspace,
            attributes: _,
        } = self;
        application_displays(application, workspace, f);
    }
    fn carried(&self) -> Carried<'_> {
        let ApplicationCreated {
            application: _,
            workspace: _,
            attributes,
        } = self;
        Carried::Attributes {
            of_user: false,
            attributes,
        }
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        let ApplicationCreated {
            application: _,
            workspace: _,
            attributes,
        } = self;
        CarriedMut::Attributes {
            of_user: false,
            attributes,
        }
    }
}

impl Carries for ApplicationEdited {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let ApplicationEdited {
            application,
            workspace,
            changes: _,
        } = self;
        application_mentions(application, workspace, out);
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let ApplicationEdited {
            application,
            workspace,
            changes: _,
        } = self;
        application_displays(application, workspace, f);
    }
    fn carried(&self) -> Carried<'_> {
        let ApplicationEdited {
            application: _,
            workspace: _,
            changes,
        } = self;
        Carried::Changes(changes)
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        let ApplicationEdited {
            application: _,
            workspace: _,
            changes,
        } = self;
        CarriedMut::Changes(changes)
    }
}

impl Carries for ApplicationDeleted {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let ApplicationDeleted {
            application,
            workspace,
        } = self;
        application_mentions(application, workspace, out);
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let ApplicationDeleted {
            application,
            workspace,
        } = self;
        application_displays(application, workspace, f);
    }
    fn carried(&self) -> Carried<'_> {
        Carried::Nothing
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        CarriedMut::Nothing
    }
}
