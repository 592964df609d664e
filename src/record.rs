//! The record envelope: who did what, to what, when, from where, and its place in the chain.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::digest::{ChainAlgorithm, Digest};
use crate::error::{Error, Result};
use crate::event::Event;

/// The version of the record format (the envelope and the canonical encoding) this crate
/// writes, stored with every record as `schema_version`; not a store's schema version.
pub const RECORD_FORMAT_VERSION: u32 = 1;

/// A tenant: one independent trail with its own gapless sequence and its own hash chain.
///
/// Hosts that are not multi-tenant use [`TenantId::default()`] (`"default"`).
///
/// Cheap to clone: every record carries its tenant, and the name is shared, not copied.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// The name used when none is given.
    pub const DEFAULT: &'static str = "default";

    /// A tenant by name. The name is checked (non-empty, no control characters, bounded
    /// length) when a record is prepared, not here.
    pub fn new(name: impl Into<String>) -> Self {
        TenantId(Arc::from(name.into()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TenantId {
    fn default() -> Self {
        TenantId(Arc::from(Self::DEFAULT))
    }
}

impl Serialize for TenantId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(TenantId::from)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TenantId {
    fn from(s: &str) -> Self {
        TenantId(Arc::from(s))
    }
}

impl From<String> for TenantId {
    fn from(s: String) -> Self {
        TenantId(Arc::from(s))
    }
}

impl From<&TenantId> for TenantId {
    fn from(t: &TenantId) -> Self {
        t.clone()
    }
}

/// What kind of party acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActorKind {
    /// A person signed in to the host.
    User,
    /// Another program (an API client, a sync job).
    Service,
    /// The host itself (scheduled clean-up, migrations).
    System,
}

impl ActorKind {
    /// The stable wire name: `user`, `service`, `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Service => "service",
            ActorKind::System => "system",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(ActorKind::User),
            "service" => Some(ActorKind::Service),
            "system" => Some(ActorKind::System),
            _ => None,
        }
    }
}

/// Who acted: kind, id, and a display snapshot taken at write time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// What kind of party.
    pub kind: ActorKind,
    /// The host's id for it.
    pub id: String,
    /// A display snapshot (login, service name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Actor {
    /// A signed-in user.
    pub fn user(id: impl Into<crate::EntityId>, display: impl Into<String>) -> Self {
        Actor {
            kind: ActorKind::User,
            id: id.into().into_string(),
            display: Some(display.into()),
        }
    }

    /// A program acting on its own behalf.
    pub fn service(id: impl Into<String>) -> Self {
        Actor {
            kind: ActorKind::Service,
            id: id.into(),
            display: None,
        }
    }

    /// The host itself; id `system`.
    pub fn system() -> Self {
        Actor {
            kind: ActorKind::System,
            id: "system".to_owned(),
            display: None,
        }
    }

    /// The display snapshot, or the id.
    pub fn label(&self) -> &str {
        self.display.as_deref().unwrap_or(&self.id)
    }
}

/// Whether the action succeeded.
///
/// Hosts record refused and failed attempts too: "who tried to delete Payroll" is as
/// important as who did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// The change was made.
    #[default]
    Success,
    /// The change was attempted and failed.
    Failure,
    /// The change was refused for lack of permission.
    Denied,
}

impl Outcome {
    /// The stable wire name: `success`, `failure`, `denied`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            "denied" => Some(Outcome::Denied),
            _ => None,
        }
    }
}

/// Where the action came from and why.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    /// The client's IP address (typed, so a malformed one cannot be stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// The client's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The host's request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// An id tying several requests or records together (a job, a workflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// A free-text reason the actor gave ("offboarding ticket OPS-1234").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the client IP.
    #[must_use]
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// Sets the user agent.
    #[must_use]
    pub fn user_agent(mut self, v: impl Into<String>) -> Self {
        self.user_agent = Some(v.into());
        self
    }

    /// Sets the request id.
    #[must_use]
    pub fn request_id(mut self, v: impl Into<String>) -> Self {
        self.request_id = Some(v.into());
        self
    }

    /// Sets the correlation id.
    #[must_use]
    pub fn correlation_id(mut self, v: impl Into<String>) -> Self {
        self.correlation_id = Some(v.into());
        self
    }

    /// Sets the reason.
    #[must_use]
    pub fn reason(mut self, v: impl Into<String>) -> Self {
        self.reason = Some(v.into());
        self
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Context::default()
    }
}

/// A stored record: the envelope, the event, and its place in the tenant's hash chain.
///
/// Only a store makes these (sequence and hashes are assigned inside its write); hosts make
/// [`Entry`](crate::Entry) values and read `Record`s back.
///
/// Its JSON form refuses unknown keys, as [`Actor`] and [`Context`] do: an import never drops
/// part of what a record says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Position in the tenant's stream: 1, 2, 3, ... without gaps.
    pub seq: u64,
    /// A UUIDv7, unique across tenants and stores.
    pub id: Uuid,
    /// When it happened (UTC, microsecond precision), from the log's clock.
    #[serde(with = "micros")]
    pub occurred_at: DateTime<Utc>,
    /// The tenant whose trail this is.
    pub tenant: TenantId,
    /// Who acted.
    pub actor: Actor,
    /// What happened.
    pub event: Event,
    /// Whether it succeeded.
    pub outcome: Outcome,
    /// Where from and why.
    #[serde(default, skip_serializing_if = "Context::is_empty")]
    pub context: Context,
    /// The record format version that wrote it.
    pub schema_version: u32,
    /// The algorithm of `prev_hash` and `hash`.
    pub chain: ChainAlgorithm,
    /// The previous record's hash (all zeros for seq 1, or the purge point's hash).
    pub prev_hash: Digest,
    /// This record's hash, over its canonical encoding and `prev_hash`.
    pub hash: Digest,
    /// In a keyed chain, the seal of `hash` under the store's [`ChainKey`](crate::ChainKey):
    /// proof that a holder of the key wrote it. `None` in an unkeyed chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<Digest>,
}

impl Record {
    /// What the record says happened, in one line a person reads: `root added user alice to
    /// group Accounting`, with the outcome when it was not a success.
    pub fn summary(&self) -> String {
        let mut s = format!("{} {}", self.actor.label(), self.event.describe());
        if self.outcome != Outcome::Success {
            s.push_str(&format!(" ({})", self.outcome.as_str()));
        }
        s
    }

    /// Where this record landed: its seq, id and hash.
    pub fn receipt(&self) -> Receipt {
        Receipt {
            seq: self.seq,
            id: self.id,
            hash: self.hash,
        }
    }

    /// The checkpoint of the chain as of this record.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            tenant: self.tenant.clone(),
            seq: self.seq,
            hash: self.hash,
            chain: self.chain,
        }
    }
}

/// A point in a tenant's chain saved outside the store: `seq` and the hash there.
///
/// Keep checkpoints somewhere the store's operators cannot rewrite (another system, a
/// ticket, a signed e-mail). [`verify_against`](crate::chain::verify_against) then detects a truncated tail and a store
/// restored from a backup older than the checkpoint, which a chain alone cannot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The tenant.
    pub tenant: TenantId,
    /// The sequence number.
    pub seq: u64,
    /// The hash of the record at `seq`.
    pub hash: Digest,
    /// The trail's algorithm.
    pub chain: ChainAlgorithm,
}

impl Checkpoint {
    /// The checkpoint as one line of JSON.
    pub fn to_json(&self) -> String {
        // A struct of strings and integers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a checkpoint written by [`Checkpoint::to_json`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the text is not a checkpoint.
    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| Error::invalid("checkpoint", e))
    }
}

/// What [`AuditLog::record`](crate::AuditLog::record) returns: where the record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Receipt {
    /// The record's sequence number in its tenant's stream.
    pub seq: u64,
    /// The record's id.
    pub id: Uuid,
    /// The record's hash: keep it to prove later that this record is in the trail.
    pub hash: Digest,
}

/// The newest record of a tenant's trail: its sequence number and hash. The default (seq 0,
/// the zero hash) is where a trail that was never purged starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Head {
    /// The last sequence number.
    pub seq: u64,
    /// The last record's hash.
    pub hash: Digest,
}

/// Serde for timestamps as RFC 3339 with exactly six fractional digits, so the text form is
/// the same for every record and sorts as it reads.
pub(crate) mod micros {
    use super::*;
    use chrono::SecondsFormat;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// Truncates a time to whole microseconds, the precision the trail keeps.
pub(crate) fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_through_json() {
        let c = Checkpoint {
            tenant: TenantId::new("acme"),
            seq: 9,
            hash: Digest([7; 32]),
            chain: ChainAlgorithm::Blake3,
        };
        assert_eq!(Checkpoint::from_json(&c.to_json()).unwrap(), c);
        assert!(Checkpoint::from_json("{}").is_err());
    }
}
