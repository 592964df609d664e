//! The `audit.*` family: what the audit trail records about itself (purges, exports).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::contents::{Carried, CarriedMut, Carries, DisplayMut};
use super::Mention;
use crate::digest::Digest;

/// `audit.purged`: records up to a point were removed under a retention policy.
///
/// The purge records itself in the trail it shortened, so the gap at the start of the trail
/// is explained and the remaining chain verifies from `anchor_hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditPurged {
    /// The last seq removed; the trail now starts after it.
    pub through_seq: u64,
    /// The hash of the record at `through_seq`: what the first remaining record links to.
    pub anchor_hash: Digest,
    /// How many records were removed.
    pub count: u64,
    /// The time bound the purge was asked for, when it was given as a time.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_micros")]
    pub before: Option<DateTime<Utc>>,
    /// What the removed records said: the [`State`](crate::history::State) folded through
    /// `through_seq`, in its versioned canonical snapshot encoding
    /// ([`State::to_snapshot`](crate::history::State::to_snapshot)), so that
    /// [`History`](crate::history::History) answers every question about a point after the
    /// purge exactly as before it. Hashed and chained with the record; `None` only in a
    /// purge record written without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Value>,
}

/// `audit.exported`: someone exported (part of) the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditExported {
    /// The format: `csv`, `jsonl`, ...
    pub format: String,
    /// The query that selected the records, as recorded in the export's manifest.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub query: Value,
    /// How many records were exported.
    pub count: u64,
    /// The first seq exported, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seq: Option<u64>,
    /// The last seq exported, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
}

/// The trail's own events name no entity and hold no display snapshot.
impl Carries for AuditPurged {
    fn mentions<'a>(&'a self, _: &mut dyn FnMut(Mention<'a>)) {}
    fn displays_mut(&mut self, _: &mut dyn FnMut(DisplayMut<'_>)) {}
    fn carried(&self) -> Carried<'_> {
        Carried::Purge(self)
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        CarriedMut::Purge
    }
}

impl Carries for AuditExported {
    fn mentions<'a>(&'a self, _: &mut dyn FnMut(Mention<'a>)) {}
    fn displays_mut(&mut self, _: &mut dyn FnMut(DisplayMut<'_>)) {}
    fn carried(&self) -> Carried<'_> {
        Carried::Export(self)
    }
    fn carried_mut(&mut self) -> CarriedMut<'_> {
        CarriedMut::Export(self)
    }
}

mod opt_micros {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}
