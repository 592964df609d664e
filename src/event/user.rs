//! The `user.*` family: accounts created, edited, deleted, and their group memberships.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::contents::{display_of, kinds, mention, Carried, CarriedMut, Carries, DisplayMut};
use super::{user_fields, Attributes, EntityRef, FieldValue, Mention, Role, UserChange};

/// `user.created`: a user account was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserCreated {
    /// The new user.
    pub user: EntityRef,
    /// Its attributes at creation (login name, full name, e-mail, host fields). Never a
    /// password: a `password` attribute is refused when recorded.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

impl UserCreated {
    /// A creation with no attributes yet.
    pub fn new(user: EntityRef) -> Self {
        UserCreated {
            user,
            attributes: Attributes::new(),
        }
    }

    /// Sets the login name.
    #[must_use]
    pub fn login_name(self, v: impl Into<String>) -> Self {
        self.attribute(user_fields::LOGIN_NAME, v.into())
    }

    /// Sets the full name.
    #[must_use]
    pub fn full_name(self, v: impl Into<String>) -> Self {
        self.attribute(user_fields::FULL_NAME, v.into())
    }

    /// Sets the e-mail address.
    #[must_use]
    pub fn email(self, v: impl Into<String>) -> Self {
        self.attribute(user_fields::EMAIL, v.into())
    }

    /// Sets an attribute of the host's own.
    #[must_use]
    pub fn attribute(mut self, name: impl Into<String>, v: impl Into<Value>) -> Self {
        self.attributes
            .insert(name.into(), FieldValue::Value(v.into()));
        self
    }
}

/// `user.edited`: fields of a user changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEdited {
    /// The user (display snapshot as of before the edit).
    pub user: EntityRef,
    /// What changed.
    pub changes: Vec<UserChange>,
}

/// `user.deleted`: a user account was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDeleted {
    /// The deleted user.
    pub user: EntityRef,
}

/// `user.added_to_group` / `user.removed_from_group`: a user joined or left a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserMembership {
    /// The member.
    pub user: EntityRef,
    /// The group.
    pub group: EntityRef,
}

impl Carries for UserCreated {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let UserCreated {
            user,
            attributes: _,
        } = self;
        out(mention(Role::Target, kinds::USER, user, "event.user"));
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let UserCreated {
            user,
            attributes: _,
        } = self;
        display_of(user, f);
    }
    fn carried(&self) -> Carried<'_> {
        let UserCreated {
            user: _,
            attributes,
        } = self;
        Carried::Attributes {
            of_user: true,
            attributes,
        }
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        let UserCreated {
            user: _,
            attributes,
        } = self;
        CarriedMut::Attributes {
            of_user: true,
            attributes,
        }
    }
}

impl Carries for UserEdited {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let UserEdited { user, changes: _ } = self;
        out(mention(Role::Target, kinds::USER, user, "event.user"));
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let UserEdited { user, changes: _ } = self;
        display_of(user, f);
    }
    fn carried(&self) -> Carried<'_> {
        let UserEdited { user: _, changes } = self;
        Carried::UserChanges(changes)
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        let UserEdited { user: _, changes } = self;
        CarriedMut::UserChanges(changes)
    }
}

impl Carries for UserDeleted {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let UserDeleted { user } = self;
        out(mention(Role::Target, kinds::USER, user, "event.user"));
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let UserDeleted { user } = self;
        display_of(user, f);
    }
    fn carried(&self) -> Carried<'_> {
        Carried::Nothing
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        CarriedMut::Nothing
    }
}

impl Carries for UserMembership {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let UserMembership { user, group } = self;
        out(mention(Role::Target, kinds::USER, user, "event.user"));
        out(mention(Role::Related, kinds::GROUP, group, "event.group"));
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let UserMembership { user, group } = self;
        display_of(user, f);
        display_of(group, f);
    }
    fn carried(&self) -> Carried<'_> {
        Carried::Nothing
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        CarriedMut::Nothing
    }
}
