//! The record filters `list`, `tail`, `export` and `stats` share: every `Query` filter as a
//! flag.

use std::net::IpAddr;

use audit_log::{EntityId, EntityKey, EntityKind, Outcome, Query, TenantId, Zone};
use chrono::{DateTime, Utc};
use clap::ValueEnum;

use crate::fail::Fail;
use crate::when::parse_time;

/// `--outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutcomeArg {
    Success,
    Failure,
    Denied,
}

impl From<OutcomeArg> for Outcome {
    fn from(o: OutcomeArg) -> Self {
        match o {
            OutcomeArg::Success => Outcome::Success,
            OutcomeArg::Failure => Outcome::Failure,
            OutcomeArg::Denied => Outcome::Denied,
        }
    }
}

/// Which records. Filters combine with AND; a filter given several times matches any of its
/// values.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Filters {
    /// Records at or after this time: RFC 3339, a date (midnight in --tz), a date and time in
    /// --tz, or an age (15m, 36h, 7d, 2w)
    #[arg(long, value_name = "TIME", help_heading = "Filters")]
    pub since: Option<String>,

    /// Records before this time (same forms as --since)
    #[arg(long, value_name = "TIME", help_heading = "Filters")]
    pub until: Option<String>,

    /// Records by this actor id (repeat for several)
    #[arg(long, value_name = "ID", help_heading = "Filters")]
    pub actor: Vec<String>,

    /// Records of this event: a name (user.deleted), a family (user.*) or * (repeat for
    /// several)
    #[arg(long, value_name = "EVENT", help_heading = "Filters")]
    pub event: Vec<String>,

    /// Records naming this entity, as KIND:ID (user:42, group:g-ops, application:app-1,
    /// workspace:ws-1, permission_group:9, or a custom kind)
    #[arg(long, value_name = "KIND:ID", help_heading = "Filters")]
    pub entity: Option<String>,

    /// Records with this outcome
    #[arg(long, value_enum, value_name = "OUTCOME", help_heading = "Filters")]
    pub outcome: Option<OutcomeArg>,

    /// Records of this request id (repeat for several)
    #[arg(long, value_name = "ID", help_heading = "Filters")]
    pub request_id: Vec<String>,

    /// Records of this correlation id (repeat for several)
    #[arg(long, value_name = "ID", help_heading = "Filters")]
    pub correlation_id: Vec<String>,

    /// Records made from this client IP address (repeat for several)
    #[arg(long, value_name = "IP", help_heading = "Filters")]
    pub ip: Vec<IpAddr>,
}

impl Filters {
    /// The query these filters make, for `tenant`; times read in `zone`.
    pub fn query(&self, tenant: TenantId, zone: &Zone, now: DateTime<Utc>) -> Result<Query, Fail> {
        let mut q = Query::for_tenant(tenant);
        if let Some(s) = &self.since {
            q = q.since(parse_time(s, zone, now).map_err(|e| flag("--since", e))?);
        }
        if let Some(s) = &self.until {
            q = q.until(parse_time(s, zone, now).map_err(|e| flag("--until", e))?);
        }
        for a in &self.actor {
            q = q.actor(a.clone());
        }
        for e in &self.event {
            q = q.event(e);
        }
        if let Some(e) = &self.entity {
            q = q.entity(parse_entity(e)?);
        }
        if let Some(o) = self.outcome {
            q = q.outcome(o.into());
        }
        for r in &self.request_id {
            q = q.request_id(r.clone());
        }
        for c in &self.correlation_id {
            q = q.correlation_id(c.clone());
        }
        for ip in &self.ip {
            q = q.ip(*ip);
        }
        Ok(q)
    }
}

fn flag(name: &str, e: Fail) -> Fail {
    Fail::Usage(format!("{name}: {e}"))
}

/// `KIND:ID`.
pub fn parse_entity(s: &str) -> Result<EntityKey, Fail> {
    match s.split_once(':') {
        Some((kind, id)) if !kind.is_empty() && !id.is_empty() => {
            Ok(EntityKey::new(EntityKind::parse(kind), EntityId::from(id)))
        }
        _ => Err(Fail::Usage(format!(
            "{s:?} is not an entity: write KIND:ID (user:42, group:g-ops, \
             application:app-1, workspace:ws-1, permission_group:9)"
        ))),
    }
}

/// A user: `42` or `user:42`.
pub fn parse_user(s: &str) -> Result<EntityId, Fail> {
    match s.split_once(':') {
        Some(("user", id)) if !id.is_empty() => Ok(EntityId::from(id)),
        // `group:7` names another kind; `ldap:jdoe` is an id with a colon in it.
        Some((kind, _)) if !matches!(EntityKind::parse(kind), EntityKind::Other(_)) => {
            Err(Fail::Usage(format!(
                "{s:?} is not a user: give a user's id (42 or user:42)"
            )))
        }
        _ if !s.is_empty() => Ok(EntityId::from(s)),
        _ => Err(Fail::Usage("a user id is needed".to_owned())),
    }
}
