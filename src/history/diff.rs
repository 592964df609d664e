//! The diff of one entity between two points: fields changed, links that appeared or went.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::state::{Entity, RecordRef, Relation};
use super::{History, Point};
use crate::error::Result;
use crate::event::{EntityKey, FieldValue};

/// Whether an entity exists at a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityStatus {
    /// The trail has not named it yet.
    Unknown,
    /// It exists.
    Live,
    /// It was deleted.
    Deleted,
}

impl EntityStatus {
    fn of(e: Option<&Entity>) -> Self {
        match e {
            None => EntityStatus::Unknown,
            Some(e) if e.is_deleted() => EntityStatus::Deleted,
            Some(_) => EntityStatus::Live,
        }
    }
}

/// One field whose value differs between the two points.
///
/// Besides attributes, `display` (the name), `workspace` (an application's) and `scope` (a
/// permission group's) are compared as fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDiff {
    /// The field.
    pub field: String,
    /// Its value at the first point (`None`: unset).
    pub before: Option<FieldValue>,
    /// Its value at the second point (`None`: unset).
    pub after: Option<FieldValue>,
}

/// A link present at one point and not the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkChange {
    /// The kind of link, seen from the entity diffed.
    pub relation: Relation,
    /// The entity at the other end.
    pub other: EntityKey,
    /// The record that made the link.
    pub made_by: RecordRef,
}

/// What changed about one entity between two points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityDiff {
    /// The entity.
    pub key: EntityKey,
    /// The seq of the first point.
    pub from_seq: u64,
    /// The seq of the second point.
    pub to_seq: u64,
    /// Whether it existed at the first point.
    pub status_before: EntityStatus,
    /// Whether it existed at the second point.
    pub status_after: EntityStatus,
    /// Fields that differ, by name.
    pub fields: Vec<FieldDiff>,
    /// Links at the second point that were not there at the first.
    pub appeared: Vec<LinkChange>,
    /// Links at the first point that are gone at the second (deleting an entity removes its
    /// links, so a deletion shows them all here).
    pub went: Vec<LinkChange>,
    /// When the first point was before the trail's purge point: that point (seq). The diff
    /// then starts from the state the purge kept there (`from_seq`).
    pub starts_after_purge: Option<u64>,
    /// Only from a history that answers [from what remains](History::from_what_remains):
    /// the seq through which the records are gone with nothing kept of them, so links they
    /// made are missing from both sides ([`State::unknown_through`](super::State::unknown_through)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_through: Option<u64>,
}

impl EntityDiff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.status_before == self.status_after
            && self.fields.is_empty()
            && self.appeared.is_empty()
            && self.went.is_empty()
    }

    /// Compares the entity as it was (`before`) with as it is (`after`).
    pub fn between(
        key: EntityKey,
        (from_seq, before): (u64, Option<&Entity>),
        (to_seq, after): (u64, Option<&Entity>),
    ) -> Self {
        let fb = before.map(fields).unwrap_or_default();
        let fa = after.map(fields).unwrap_or_default();
        let mut names: Vec<&String> = fb.keys().chain(fa.keys()).collect();
        names.sort();
        names.dedup();
        let field_diffs = names
            .into_iter()
            .filter(|n| fb.get(*n) != fa.get(*n))
            .map(|n| FieldDiff {
                field: n.clone(),
                before: fb.get(n).cloned(),
                after: fa.get(n).cloned(),
            })
            .collect();
        let lb = before.map(links).unwrap_or_default();
        let la = after.map(links).unwrap_or_default();
        let only = |a: &BTreeMap<(Relation, EntityKey), RecordRef>,
                    b: &BTreeMap<(Relation, EntityKey), RecordRef>| {
            a.iter()
                .filter(|(k, _)| !b.contains_key(*k))
                .map(|((relation, other), made_by)| LinkChange {
                    relation: *relation,
                    other: other.clone(),
                    made_by: made_by.clone(),
                })
                .collect()
        };
        EntityDiff {
            key,
            from_seq,
            to_seq,
            status_before: EntityStatus::of(before),
            status_after: EntityStatus::of(after),
            fields: field_diffs,
            appeared: only(&la, &lb),
            went: only(&lb, &la),
            starts_after_purge: None,
            unknown_through: None,
        }
    }
}

fn fields(e: &Entity) -> BTreeMap<String, FieldValue> {
    let mut out: BTreeMap<String, FieldValue> = e
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(d) = &e.display {
        out.insert(
            "display".into(),
            FieldValue::Value(Value::String(d.clone())),
        );
    }
    if let Some(w) = &e.workspace {
        out.insert(
            "workspace".into(),
            FieldValue::Value(Value::String(w.id.as_str().to_owned())),
        );
    }
    if let Some(s) = &e.scope {
        if let Ok(v) = serde_json::to_value(s) {
            out.insert("scope".into(), FieldValue::Value(v));
        }
    }
    out
}

fn links(e: &Entity) -> BTreeMap<(Relation, EntityKey), RecordRef> {
    e.links
        .iter()
        .map(|(rel, other, l)| ((rel, other), l.clone()))
        .collect()
}

impl History<'_> {
    /// What changed about `key` from `from` to `to`: fields, existence, and links.
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) when `to` is before `from`; store
    /// failures.
    pub fn diff(&self, key: &EntityKey, from: Point, to: Point) -> Result<EntityDiff> {
        let (from, starts_after_purge) = self.resolve_start(from)?;
        let to = self.resolve(to)?;
        if to < from {
            return Err(crate::Error::invalid(
                "to",
                format!("seq {to} is before seq {from}"),
            ));
        }
        let mut state = self.state_seq(from)?;
        let before = state.entity(key).cloned();
        let from_seq = state.seq();
        self.advance(&mut state, to, None, |_, _| {})?;
        let mut diff = EntityDiff::between(
            key.clone(),
            (from_seq, before.as_ref()),
            (state.seq(), state.entity(key)),
        );
        diff.starts_after_purge = starts_after_purge;
        diff.unknown_through = state.unknown_through();
        Ok(diff)
    }
}
