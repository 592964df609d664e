//! Host-defined events: the host's own dotted name and a JSON payload.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::contents::{display_of, mention, Carried, CarriedMut, Carries, DisplayMut};
use super::{EntityKind, EntityRef, Mention, Role};

/// An entity a custom event names, with its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomEntity {
    /// The kind: a built-in one or the host's own (`invoice`).
    pub kind: EntityKind,
    /// The reference.
    pub entity: EntityRef,
}

/// A host-defined event.
///
/// `name` is dotted lowercase (`billing.invoice_voided`); the built-in families (`user`,
/// `group`, `application`, `workspace`, `permission`, `audit`) are reserved. Queries filter on
/// the custom name like any other event name. The payload passes through the
/// [`RedactionPolicy`](crate::RedactionPolicy): a key it names is redacted wherever it
/// appears, and so is a field change written as `{"field": <name it names>, "old": ..,
/// "new": ..}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomEvent {
    /// The host's dotted name.
    pub name: String,
    /// The entity the event is about, if any (makes it show in that entity's timeline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<CustomEntity>,
    /// Another entity it relates to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related: Option<CustomEntity>,
    /// The host's data.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub payload: Value,
}

impl CustomEvent {
    /// A custom event with a payload and no entities.
    pub fn new(name: impl Into<String>, payload: Value) -> Self {
        CustomEvent {
            name: name.into(),
            target: None,
            related: None,
            payload,
        }
    }

    /// Names the entity the event is about.
    #[must_use]
    pub fn target(mut self, kind: EntityKind, entity: EntityRef) -> Self {
        self.target = Some(CustomEntity { kind, entity });
        self
    }

    /// Names an entity the event relates to.
    #[must_use]
    pub fn related(mut self, kind: EntityKind, entity: EntityRef) -> Self {
        self.related = Some(CustomEntity { kind, entity });
        self
    }
}

impl Carries for CustomEvent {
    fn mentions<'a>(&'a self, out: &mut dyn FnMut(Mention<'a>)) {
        let CustomEvent {
            name: _,
            target,
            related,
            payload: _,
        } = self;
        if let Some(CustomEntity { kind, entity }) = target {
            out(mention(Role::Target, kind, entity, "event.target"));
        }
        if let Some(CustomEntity { kind, entity }) = related {
            out(mention(Role::Related, kind, entity, "event.related"));
        }
    }
    fn displays_mut(&mut self, f: &mut dyn FnMut(DisplayMut<'_>)) {
        let CustomEvent {
            name: _,
            target,
            related,
            payload: _,
        } = self;
        if let Some(CustomEntity { kind: _, entity }) = target {
            display_of(entity, f);
        }
        if let Some(CustomEntity { kind: _, entity }) = related {
            display_of(entity, f);
        }
    }
    fn carried(&self) -> Carried<'_> {
        let CustomEvent {
            name: _,
            target: _,
            related: _,
            payload,
        } = self;
        Carried::Custom(payload)
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        let CustomEvent {
            name,
            target: _,
            related: _,
            payload,
        } = self;
        CarriedMut::Custom { name, payload }
    }
}
