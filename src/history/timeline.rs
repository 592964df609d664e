//! The timeline of one entity: every record that names it, in order.

use serde::{Deserialize, Serialize};

use super::{History, Point, Window};
use crate::error::{Error, Result};
use crate::event::{EntityKey, Role};
use crate::record::Record;

/// One record of an entity's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The record, with its whole payload (the "detail view").
    pub record: Record,
    /// How the record names the entity: as its target (the user created, the member added),
    /// as the related entity (the group joined, the permission group), or as a scope.
    #[serde(with = "role")]
    pub role: Role,
}

impl History<'_> {
    /// Every record naming `key` (as target, related entity or scope), oldest first: a
    /// group's timeline shows its members and nested groups added and removed, a user's the
    /// groups and permission groups they entered and left. Failed and denied attempts are
    /// included; [`Record::outcome`] tells them apart. After a retention purge, the records
    /// that remain, and [`Window::starts_after_purge`] says where they start.
    ///
    /// # Errors
    /// Store failures and unreadable records.
    pub fn timeline(&self, key: &EntityKey) -> Result<Window<TimelineEntry>> {
        self.timeline_between(key, Point::Seq(0), Point::Head)
    }

    /// The records naming `key` after `from` and up to `to` (the records that took the
    /// entity from its state at `from` to its state at `to`). After a retention purge, a
    /// `from` before the purge point lists what remains, and the window says so
    /// ([`Window::starts_after_purge`]): the records before it are gone, not absent.
    ///
    /// # Errors
    /// Store failures and unreadable records.
    pub fn timeline_between(
        &self,
        key: &EntityKey,
        from: Point,
        to: Point,
    ) -> Result<Window<TimelineEntry>> {
        let (from, starts_after_purge) = self.resolve_start(from)?;
        let to = self.resolve(to)?;
        // A timeline lists records, which are either there or gone: it never needs the
        // state where the trail starts, so it is never incomplete in that sense.
        let mut out = Window {
            entries: Vec::new(),
            starts_after_purge,
            unknown_through: None,
        };
        if to <= from {
            return Ok(out);
        }
        let q = self
            .query()
            .entity(key.clone())
            .after_seq(from)
            .through_seq(to);
        for item in self.store().query(&q)? {
            let record = item?;
            let role = record
                .event
                .mentions()
                .iter()
                .find(|m| m.is(key))
                .map(|m| m.role)
                .ok_or_else(|| Error::Corrupt {
                    seq: record.seq,
                    reason: format!("returned for {key} but does not name it"),
                })?;
            out.entries.push(TimelineEntry { record, role });
        }
        Ok(out)
    }
}

/// Serde for [`Role`] as `target` / `related` / `scope`.
mod role {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::event::Role;

    pub fn serialize<S: Serializer>(r: &Role, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match r {
            Role::Target => "target",
            Role::Related => "related",
            _ => "scope",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
        match String::deserialize(d)?.as_str() {
            "target" => Ok(Role::Target),
            "related" => Ok(Role::Related),
            "scope" => Ok(Role::Scope),
            other => Err(serde::de::Error::custom(format!("unknown role {other}"))),
        }
    }
}
