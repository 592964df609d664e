//! `Query`: which records to read, in which order.
//!
//! Every filter is optional; filters combine with AND, values within one filter (several
//! actors, several event patterns, several request ids) with OR. A query always reads one
//! tenant's trail: the one it names, or `"default"` ([`TenantId::default`]) when it names
//! none — a multi-tenant host sets it on every query ([`Query::for_tenant`]), or builds its
//! queries through [`AuditLog::query`](crate::AuditLog::query), which fills in the log's
//! tenant.
//!
//! ```
//! use audit_log::{EntityKey, Outcome, Query};
//!
//! // The last 50 changes to group 7 or its memberships, newest first.
//! let q = Query::new()
//!     .entity(EntityKey::group(7))
//!     .event("user.*")
//!     .event("group.*")
//!     .outcome(Outcome::Success)
//!     .descending()
//!     .limit(50);
//! # let _ = q;
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use std::net::IpAddr;

use crate::event::EntityKey;
use crate::record::{Outcome, Record, TenantId};

/// Iteration order, by seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Oldest first (seq 1, 2, 3, ...). The default.
    #[default]
    Ascending,
    /// Newest first.
    Descending,
}

impl Order {
    /// Whether this is [`Order::Ascending`].
    pub fn is_ascending(&self) -> bool {
        *self == Order::Ascending
    }
}

/// An event-name filter: an exact name (`user.deleted`), a family (`user.*`), or everything
/// (`*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventPattern {
    /// Exactly this name.
    Exact(String),
    /// Every name in this family (the part before the first dot).
    Family(String),
    /// Every event.
    Any,
}

impl EventPattern {
    /// Parses `name`, `family.*` or `*`.
    pub fn parse(s: &str) -> Self {
        if s == "*" {
            EventPattern::Any
        } else if let Some(f) = s.strip_suffix(".*") {
            EventPattern::Family(f.to_owned())
        } else {
            EventPattern::Exact(s.to_owned())
        }
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            EventPattern::Exact(n) => n == name,
            EventPattern::Family(f) => name
                .strip_prefix(f.as_str())
                .is_some_and(|rest| rest.starts_with('.')),
            EventPattern::Any => true,
        }
    }

    /// The pattern as text, as [`EventPattern::parse`] reads it: `name`, `family.*` or `*`.
    pub fn to_pattern_string(&self) -> String {
        match self {
            EventPattern::Exact(n) => n.clone(),
            EventPattern::Family(f) => format!("{f}.*"),
            EventPattern::Any => "*".to_owned(),
        }
    }
}

/// Serialized as its text form (`user.*`), so a query reads naturally in an export manifest.
impl Serialize for EventPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_pattern_string())
    }
}

impl<'de> Deserialize<'de> for EventPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(EventPattern::parse(&s))
    }
}

/// Which records to read. Build with the methods; read with
/// [`AuditStore::query`](crate::AuditStore::query).
///
/// The fields can be read; a query is made with [`Query::new`] or [`Query::for_tenant`] and
/// the builder methods (the struct is `#[non_exhaustive]`, so a new filter is not a breaking
/// change).
///
/// Serializes to a JSON object holding only the filters that are set (what an export
/// manifest records).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
#[must_use]
pub struct Query {
    /// The tenant; `None` means [`TenantId::default()`] (`"default"`) at the store, or the
    /// log's default tenant through [`AuditLog::query`](crate::AuditLog::query).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    /// Records at or after this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Records strictly before this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// Records by any of these actor ids (empty: any actor).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actors: Vec<String>,
    /// Records whose event matches any of these (empty: any event).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventPattern>,
    /// Records that name this entity as target, related entity or scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<EntityKey>,
    /// Records with this outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Records whose context carries any of these request ids (empty: any).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub request_ids: Vec<String>,
    /// Records whose context carries any of these correlation ids (empty: any).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub correlation_ids: Vec<String>,
    /// Records made from any of these client IP addresses (empty: any).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpAddr>,
    /// Cursor: records after this seq in the query's order (greater when ascending, smaller
    /// when descending).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_seq: Option<u64>,
    /// Records at or before this seq, whatever the order (for "state as of seq N").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through_seq: Option<u64>,
    /// At most this many records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// The order.
    #[serde(skip_serializing_if = "Order::is_ascending")]
    pub order: Order,
}

impl Query {
    /// Everything in the tenant `"default"`, oldest first (a multi-tenant host uses
    /// [`Query::for_tenant`] instead).
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything in `tenant`, oldest first.
    pub fn for_tenant(tenant: impl Into<TenantId>) -> Self {
        Query {
            tenant: Some(tenant.into()),
            ..Self::default()
        }
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<TenantId>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Records at or after `t`.
    pub fn since(mut self, t: DateTime<Utc>) -> Self {
        self.since = Some(t);
        self
    }

    /// Records strictly before `t`.
    pub fn until(mut self, t: DateTime<Utc>) -> Self {
        self.until = Some(t);
        self
    }

    /// Adds an actor id (records by any of the actors added match).
    pub fn actor(mut self, id: impl Into<String>) -> Self {
        self.actors.push(id.into());
        self
    }

    /// Adds an event pattern: `user.deleted`, `user.*` or `*`.
    pub fn event(mut self, pattern: &str) -> Self {
        self.events.push(EventPattern::parse(pattern));
        self
    }

    /// Records naming this entity in any role.
    pub fn entity(mut self, key: EntityKey) -> Self {
        self.entity = Some(key);
        self
    }

    /// Records with this outcome.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = Some(outcome);
        self
    }

    /// Adds a request id (records carrying any of the ids added match): every record of
    /// one request.
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_ids.push(id.into());
        self
    }

    /// Adds a correlation id (records carrying any of the ids added match).
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_ids.push(id.into());
        self
    }

    /// Adds a client IP address (records made from any of the addresses added match).
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ips.push(ip);
        self
    }

    /// Cursor: records after `seq` in the query's order.
    pub fn after_seq(mut self, seq: u64) -> Self {
        self.after_seq = Some(seq);
        self
    }

    /// Records at or before `seq`.
    pub fn through_seq(mut self, seq: u64) -> Self {
        self.through_seq = Some(seq);
        self
    }

    /// At most `n` records.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Oldest first (the default).
    pub fn ascending(mut self) -> Self {
        self.order = Order::Ascending;
        self
    }

    /// Newest first.
    pub fn descending(mut self) -> Self {
        self.order = Order::Descending;
        self
    }

    /// The tenant this query reads.
    pub fn tenant_or_default(&self) -> TenantId {
        self.tenant.clone().unwrap_or_default()
    }

    /// Whether `seq` lies inside the query's seq bounds (cursor and `through_seq`).
    pub fn admits_seq(&self, seq: u64) -> bool {
        let after_ok = match (self.after_seq, self.order) {
            (None, _) => true,
            (Some(c), Order::Ascending) => seq > c,
            (Some(c), Order::Descending) => seq < c,
        };
        after_ok && self.through_seq.is_none_or(|t| seq <= t)
    }

    /// Whether a record passes every filter except the limit. Stores that cannot push a
    /// filter down to an index use this, so all stores agree on what matches.
    pub fn matches(&self, r: &Record) -> bool {
        r.tenant == self.tenant_or_default()
            && self.admits_seq(r.seq)
            && self.since.is_none_or(|t| r.occurred_at >= t)
            && self.until.is_none_or(|t| r.occurred_at < t)
            && (self.actors.is_empty() || self.actors.contains(&r.actor.id))
            && (self.events.is_empty() || self.events.iter().any(|p| p.matches(r.event.name())))
            && self.entity.as_ref().is_none_or(|k| r.event.names(k))
            && self.outcome.is_none_or(|o| o == r.outcome)
            && any_of(&self.request_ids, r.context.request_id.as_ref())
            && any_of(&self.correlation_ids, r.context.correlation_id.as_ref())
            && any_of(&self.ips, r.context.ip.as_ref())
    }
}

/// A filter of several values: empty matches anything, otherwise the record's value must be
/// one of them.
fn any_of<T: PartialEq>(wanted: &[T], value: Option<&T>) -> bool {
    wanted.is_empty() || value.is_some_and(|v| wanted.contains(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_exact_family_and_any() {
        assert!(EventPattern::parse("user.deleted").matches("user.deleted"));
        assert!(!EventPattern::parse("user.deleted").matches("user.created"));
        assert!(EventPattern::parse("user.*").matches("user.created"));
        assert!(!EventPattern::parse("user.*").matches("username.created"));
        assert!(!EventPattern::parse("user.*").matches("group.created"));
        assert!(EventPattern::parse("billing.*").matches("billing.invoice.voided"));
        assert!(EventPattern::parse("*").matches("anything"));
    }

    #[test]
    fn cursor_follows_the_order() {
        let asc = Query::new().after_seq(5);
        assert!(asc.admits_seq(6) && !asc.admits_seq(5));
        let desc = Query::new().descending().after_seq(5);
        assert!(desc.admits_seq(4) && !desc.admits_seq(5) && !desc.admits_seq(6));
        let through = Query::new().through_seq(3);
        assert!(through.admits_seq(3) && !through.admits_seq(4));
    }
}
