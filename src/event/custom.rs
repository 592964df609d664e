//! Host-defined events: the host's own dotted name and a JSON payload.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{EntityKind, EntityRef};

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
/// [`RedactionPolicy`](crate::RedactionPolicy): a key it names is redacted wherever it appears.
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
