//! The `permission.*` family: users and groups added to or removed from permission groups
//! (roles) whose scope is the system, a workspace or an application.

use serde::{Deserialize, Serialize};

use super::contents::{display_of, kinds, mention, Carried, CarriedMut, Carries, DisplayMut};
use super::{EntityRef, Mention, Role};

/// Where a permission group applies.
///
/// Wire form: `{"kind": "system"}`, `{"kind": "workspace", "workspace": {...}}`,
/// `{"kind": "application", "application": {...}, "workspace": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Scope {
    /// The whole system.
    System,
    /// One workspace.
    Workspace {
        /// The workspace.
        workspace: EntityRef,
    },
    /// One application.
    Application {
        /// The application.
        application: EntityRef,
        /// The workspace the application lives in, when the host knows it: it lets the
        /// history remove this scope's access when the workspace is deleted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workspace: Option<EntityRef>,
    },
}

impl Scope {
    /// The system scope.
    pub fn system() -> Self {
        Scope::System
    }

    /// A workspace scope.
    pub fn workspace(workspace: EntityRef) -> Self {
        Scope::Workspace { workspace }
    }

    /// An application scope, with the application's workspace.
    pub fn application(application: EntityRef, workspace: EntityRef) -> Self {
        Scope::Application {
            application,
            workspace: Some(workspace),
        }
    }

    /// The scope's wire name: `system`, `workspace` or `application`.
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::System => "system",
            Scope::Workspace { .. } => "workspace",
            Scope::Application { .. } => "application",
        }
    }

    /// A short human rendering, such as `application Payroll`.
    pub fn describe(&self) -> String {
        match self {
            Scope::System => "system".to_owned(),
            Scope::Workspace { workspace } => format!("workspace {}", workspace.label()),
            Scope::Application { application, .. } => {
                format!("application {}", application.label())
            }
        }
    }
}

/// A permission group (a role) and the scope it lives in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionGroupRef {
    /// The permission group's id.
    pub id: super::EntityId,
    /// Its display snapshot (such as `Payroll editors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// Where it applies.
    pub scope: Scope,
}

impl PermissionGroupRef {
    /// A permission group with a display snapshot.
    pub fn new(id: impl Into<super::EntityId>, display: impl Into<String>, scope: Scope) -> Self {
        PermissionGroupRef {
            id: id.into(),
            display: Some(display.into()),
            scope,
        }
    }

    /// The display snapshot, or the id when there is none.
    pub fn label(&self) -> &str {
        self.display.as_deref().unwrap_or(self.id.as_str())
    }
}

/// `permission.user_added` / `permission.user_removed`: a user entered or left a permission
/// group directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPermission {
    /// The user.
    pub user: EntityRef,
    /// The permission group.
    pub permission_group: PermissionGroupRef,
}

/// `permission.group_added` / `permission.group_removed`: a group (and so its members,
/// through nesting too) entered or left a permission group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPermission {
    /// The group.
    pub group: EntityRef,
    /// The permission group.
    pub permission_group: PermissionGroupRef,
}

impl PermissionGroupRef {
    /// The permission group (related) and the entities of its scope, as an event names them.
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let PermissionGroupRef { id, display, scope } = self;
        out(Mention {
            role: Role::Related,
            kind: kinds::PERMISSION_GROUP,
            id,
            display: display.as_deref(),
            path: "event.permission_group",
        });
        match scope {
            Scope::System => {}
            Scope::Workspace { workspace } => out(mention(
                Role::Scope,
                kinds::WORKSPACE,
                workspace,
                "event.permission_group.scope.workspace",
            )),
            Scope::Application {
                application,
                workspace,
            } => {
                out(mention(
                    Role::Scope,
                    kinds::APPLICATION,
                    application,
                    "event.permission_group.scope.application",
                ));
                if let Some(ws) = workspace {
                    out(mention(
                        Role::Scope,
                        kinds::WORKSPACE,
                        ws,
                        "event.permission_group.scope.workspace",
                    ));
                }
            }
        }
    }

    /// The display snapshots of [`mentions`](Self::mentions), in the same order.
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let PermissionGroupRef {
            id: _,
            display,
            scope,
        } = self;
        if let Some(text) = display {
            f(text);
        }
        match scope {
            Scope::System => {}
            Scope::Workspace { workspace } => display_of(workspace, f),
            Scope::Application {
                application,
                workspace,
            } => {
                display_of(application, f);
                if let Some(ws) = workspace {
                    display_of(ws, f);
                }
            }
        }
    }
}

impl Carries for UserPermission {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let UserPermission {
            user,
            permission_group,
        } = self;
        out(mention(Role::Target, kinds::USER, user, "event.user"));
        permission_group.mentions(out);
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let UserPermission {
            user,
            permission_group,
        } = self;
        display_of(user, f);
        permission_group.displays_mut(f);
    }
    fn carried(&self) -> Carried<'_> {
        Carried::Nothing
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        CarriedMut::Nothing
    }
}

impl Carries for GroupPermission {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let GroupPermission {
            group,
            permission_group,
        } = self;
        out(mention(Role::Target, kinds::GROUP, group, "event.group"));
        permission_group.mentions(out);
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let GroupPermission {
            group,
            permission_group,
        } = self;
        display_of(group, f);
        permission_group.displays_mut(f);
    }
    fn carried(&self) -> Carried<'_> {
        Carried::Nothing
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        CarriedMut::Nothing
    }
}
