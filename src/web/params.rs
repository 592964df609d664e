//! Query parameters, checked before anything is read: the one place the viewer turns URL text
//! into typed filters (for pages and the JSON API alike), and typed filters back into URLs (so
//! the filter state lives in the URL and a link can be shared).
//!
//! Whatever arrives is bounded: the whole query string, each value, every number; a value
//! that does not fit its parameter is a `400` naming the parameter and why.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};

use super::{Tenants, ViewerAccess, WebError};
use crate::event::{EntityKey, EntityKind};
use crate::history::Point;
use crate::query::Query;
use crate::record::{Outcome, TenantId};
use crate::zone::Zone;

/// Records per timeline page by default; `limit` may ask for up to [`MAX_PAGE`].
pub const PAGE_SIZE: usize = 50;
/// The most records one page shows.
pub const MAX_PAGE: usize = 200;
/// The longest query string read at all.
const MAX_QUERY: usize = 16 * 1024;
/// The longest single value.
const MAX_VALUE: usize = 1024;
/// The most values one repeated parameter takes.
const MAX_REPEAT: usize = 32;

/// A query string, split into pairs and held to the size limits.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

fn bad(name: &str, why: impl std::fmt::Display) -> WebError {
    WebError::BadRequest(format!("The parameter {name} {why}."))
}

impl Params {
    /// Splits `raw` (the URL's query, without `?`).
    pub(crate) fn parse(raw: Option<&str>) -> Result<Params, WebError> {
        let raw = raw.unwrap_or("");
        if raw.len() > MAX_QUERY {
            return Err(WebError::BadRequest(format!(
                "The address is too long ({} bytes; at most {MAX_QUERY}).",
                raw.len()
            )));
        }
        let mut pairs = Vec::new();
        for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
            if v.len() > MAX_VALUE {
                return Err(bad(
                    &k,
                    format_args!("is too long ({} bytes; at most {MAX_VALUE})", v.len()),
                ));
            }
            if v.chars()
                .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
            {
                return Err(bad(&k, "holds control characters"));
            }
            pairs.push((k.into_owned(), v.trim().to_owned()));
        }
        Ok(Params { pairs })
    }

    /// The parameter's last non-empty value.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every non-empty value of a repeated parameter (at most [`MAX_REPEAT`]).
    pub(crate) fn all(&self, name: &str) -> Result<Vec<&str>, WebError> {
        let v: Vec<&str> = self
            .pairs
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect();
        if v.len() > MAX_REPEAT {
            return Err(bad(
                name,
                format_args!("is given {} times (at most {MAX_REPEAT})", v.len()),
            ));
        }
        Ok(v)
    }

    /// A seq (or any count): a whole number from 0 to 2^63 - 1.
    pub(crate) fn seq(&self, name: &str) -> Result<Option<u64>, WebError> {
        self.get(name).map(|v| parse_seq(name, v)).transpose()
    }

    /// An identifier (actor id, request id, ...): up to 256 characters, no spaces.
    pub(crate) fn ids(&self, name: &str) -> Result<Vec<String>, WebError> {
        self.all(name)?
            .into_iter()
            .map(|v| {
                if v.len() > 256 || v.chars().any(char::is_whitespace) {
                    Err(bad(
                        name,
                        "is not an identifier (at most 256 characters, no spaces)",
                    ))
                } else {
                    Ok(v.to_owned())
                }
            })
            .collect()
    }

    /// The zone times are shown in (`tz`): UTC by default.
    pub(crate) fn zone(&self) -> Result<Zone, WebError> {
        match self.get("tz") {
            None => Ok(Zone::Utc),
            Some(z) => Zone::parse(z)
                .map_err(|_| bad("tz", format_args!("names no time zone I know ({z:?})"))),
        }
    }

    /// The tenant to read: `tenant`, which the viewer must be allowed to read, or the
    /// viewer's first tenant. A tenant the viewer may not read is "not found".
    pub(crate) fn tenant(&self, access: &ViewerAccess) -> Result<TenantId, WebError> {
        match self.get("tenant") {
            Some(t) => {
                if !crate::text::identifier_ok(t, 256) {
                    return Err(bad("tenant", "is not a tenant name"));
                }
                let t = TenantId::new(t);
                if access.may_read(&t) {
                    Ok(t)
                } else {
                    Err(WebError::NotFound)
                }
            }
            None => match &access.tenants {
                Tenants::Only(list) => list.first().cloned().ok_or(WebError::NotFound),
                Tenants::All => Ok(TenantId::default()),
            },
        }
    }

    /// A point in time: RFC 3339, a date (`2026-03-02`, its start in `zone`), or a
    /// `datetime-local` value (`2026-03-02T09:30`, in `zone`).
    pub(crate) fn time(&self, name: &str, zone: &Zone) -> Result<Option<DateTime<Utc>>, WebError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        parse_time(v, zone).map(Some).ok_or_else(|| {
            bad(
                name,
                format_args!("is not a date or time ({v:?}; write 2026-03-02 or 2026-03-02T09:30)"),
            )
        })
    }
}

impl Params {
    /// A point of the trail: `head`, a seq (`1234`), or a date or time (as [`Params::time`]).
    /// Returns the text as given with the point.
    pub(crate) fn point(
        &self,
        name: &str,
        zone: &Zone,
    ) -> Result<Option<(String, Point)>, WebError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let point = if v.eq_ignore_ascii_case("head") || v.eq_ignore_ascii_case("now") {
            Point::Head
        } else if v.bytes().all(|b| b.is_ascii_digit()) {
            Point::Seq(parse_seq(name, v)?)
        } else {
            Point::Time(parse_time(v, zone).ok_or_else(|| {
                bad(
                    name,
                    format_args!("is neither a seq nor a date or time ({v:?})"),
                )
            })?)
        };
        Ok(Some((v.to_owned(), point)))
    }
}

pub(crate) fn parse_seq(name: &str, v: &str) -> Result<u64, WebError> {
    v.parse::<u64>()
        .ok()
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| {
            bad(
                name,
                format_args!("is not a number from 0 to {} ({v:?})", i64::MAX),
            )
        })
}

fn parse_time(v: &str, zone: &Zone) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, format) {
            return Some(zone.instant_of(t));
        }
    }
    let date = NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?;
    Some(zone.instant_of(date.and_hms_opt(0, 0, 0)?))
}

/// How the timeline's entity field is meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntityFilter {
    /// `kind:id`.
    Key(EntityKey),
    /// A name to look up (`alice`).
    Name(String),
}

impl EntityFilter {
    fn parse(v: &str) -> Result<EntityFilter, WebError> {
        if v.len() > 256 {
            return Err(bad("entity", "is too long (at most 256 characters)"));
        }
        if let Some((kind, id)) = v.split_once(':') {
            let known = [
                "user",
                "group",
                "application",
                "workspace",
                "permission_group",
            ];
            if known.contains(&kind) && !id.is_empty() {
                return key(kind, id).map(EntityFilter::Key);
            }
        }
        Ok(EntityFilter::Name(v.to_owned()))
    }

    /// The text form the entity field shows.
    pub(crate) fn text(&self) -> String {
        match self {
            EntityFilter::Key(k) => format!("{}:{}", k.kind.as_str(), k.id.as_str()),
            EntityFilter::Name(n) => n.clone(),
        }
    }
}

/// An entity key from its kind's wire name and its id, as URLs carry them.
pub(crate) fn key(kind: &str, id: &str) -> Result<EntityKey, WebError> {
    let valid_kind = !kind.is_empty()
        && kind.len() <= 64
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    if !valid_kind {
        return Err(bad(
            "kind",
            format_args!("is not an entity kind ({kind:?})"),
        ));
    }
    if !crate::text::identifier_ok(id, 256) {
        return Err(bad("id", format_args!("is not an entity id ({id:?})")));
    }
    Ok(EntityKey::new(EntityKind::parse(kind), id))
}

/// A time range preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Range {
    Day,
    Week,
    Month,
}

impl Range {
    fn parse(v: &str) -> Result<Option<Range>, WebError> {
        Ok(match v {
            "24h" => Some(Range::Day),
            "7d" => Some(Range::Week),
            "30d" => Some(Range::Month),
            "" | "any" | "custom" => None,
            _ => return Err(bad("range", "is one of 24h, 7d, 30d, custom")),
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
        }
    }

    fn duration(self) -> Duration {
        match self {
            Range::Day => Duration::hours(24),
            Range::Week => Duration::days(7),
            Range::Month => Duration::days(30),
        }
    }
}

/// Which page of the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cursor {
    /// The newest records.
    Newest,
    /// The records just older than this seq.
    Before(u64),
    /// The records just newer than this seq.
    After(u64),
}

/// The timeline's filters, checked.
#[derive(Debug, Clone)]
pub(crate) struct Filters {
    pub(crate) tenant: TenantId,
    pub(crate) entity: Option<EntityFilter>,
    pub(crate) events: Vec<String>,
    pub(crate) actors: Vec<String>,
    pub(crate) range: Option<Range>,
    pub(crate) since: Option<DateTime<Utc>>,
    pub(crate) until: Option<DateTime<Utc>>,
    pub(crate) outcome: Option<Outcome>,
    pub(crate) request_ids: Vec<String>,
    pub(crate) correlation_ids: Vec<String>,
    /// Records at or before this seq (what a download's link pins).
    pub(crate) through: Option<u64>,
    pub(crate) cursor: Cursor,
    pub(crate) limit: usize,
    pub(crate) zone: Zone,
}

impl Filters {
    pub(crate) fn from_params(
        p: &Params,
        access: &ViewerAccess,
        now: DateTime<Utc>,
    ) -> Result<Filters, WebError> {
        let zone = p.zone()?;
        let events = p
            .all("event")?
            .into_iter()
            .map(|e| {
                let ok = e.len() <= 128
                    && e.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'*')
                    });
                if ok {
                    Ok(e.to_owned())
                } else {
                    Err(bad(
                        "event",
                        format_args!("is not an event name or family ({e:?})"),
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let outcome = p
            .get("outcome")
            .filter(|o| *o != "any")
            .map(|o| {
                Outcome::parse(o)
                    .ok_or_else(|| bad("outcome", "is one of success, failure, denied"))
            })
            .transpose()?;
        let range = p.get("range").map(Range::parse).transpose()?.flatten();
        let (mut since, until) = (p.time("since", &zone)?, p.time("until", &zone)?);
        if let Some(r) = range {
            since = Some(now - r.duration());
        }
        let cursor = match (p.seq("before")?, p.seq("after")?) {
            (Some(_), Some(_)) => return Err(bad("before", "and after cannot both be given")),
            (Some(b), None) => Cursor::Before(b),
            (None, Some(a)) => Cursor::After(a),
            (None, None) => Cursor::Newest,
        };
        let limit = match p.seq("limit")? {
            None => PAGE_SIZE,
            Some(n) if (1..=MAX_PAGE as u64).contains(&n) => n as usize,
            Some(_) => return Err(bad("limit", format_args!("is from 1 to {MAX_PAGE}"))),
        };
        Ok(Filters {
            tenant: p.tenant(access)?,
            entity: p.get("entity").map(EntityFilter::parse).transpose()?,
            events,
            actors: p.ids("actor")?,
            range,
            since,
            until,
            outcome,
            request_ids: p.ids("request_id")?,
            correlation_ids: p.ids("correlation_id")?,
            through: p.seq("through")?,
            cursor,
            limit,
            zone,
        })
    }

    /// The store query of these filters (without cursor, order or limit), with `entity` as
    /// the entity resolved from a name.
    pub(crate) fn query(&self, entity: Option<&EntityKey>) -> Query {
        let mut q = Query::for_tenant(self.tenant.clone());
        if let Some(k) = entity {
            q = q.entity(k.clone());
        }
        for e in &self.events {
            q = q.event(e);
        }
        for a in &self.actors {
            q = q.actor(a.as_str());
        }
        if let Some(t) = self.since {
            q = q.since(t);
        }
        if let Some(t) = self.until {
            q = q.until(t);
        }
        if let Some(o) = self.outcome {
            q = q.outcome(o);
        }
        for r in &self.request_ids {
            q = q.request_id(r.as_str());
        }
        for c in &self.correlation_ids {
            q = q.correlation_id(c.as_str());
        }
        if let Some(t) = self.through {
            q = q.through_seq(t);
        }
        q
    }

    /// The filters as a query string (no cursor), for links that keep them: `extra` pairs
    /// are appended.
    pub(crate) fn to_query_string(&self, extra: &[(&str, &str)]) -> String {
        // The tenant always: a viewer's default tenant is not everyone's.
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("tenant", self.tenant.as_str());
        if let Some(e) = &self.entity {
            s.append_pair("entity", &e.text());
        }
        for e in &self.events {
            s.append_pair("event", e);
        }
        for a in &self.actors {
            s.append_pair("actor", a);
        }
        match self.range {
            Some(r) => {
                s.append_pair("range", r.as_str());
            }
            None => {
                if let Some(t) = self.since {
                    s.append_pair("since", &t.to_rfc3339());
                }
            }
        }
        if let Some(t) = self.until {
            s.append_pair("until", &t.to_rfc3339());
        }
        if let Some(o) = self.outcome {
            s.append_pair("outcome", o.as_str());
        }
        for r in &self.request_ids {
            s.append_pair("request_id", r);
        }
        for c in &self.correlation_ids {
            s.append_pair("correlation_id", c);
        }
        if let Some(t) = self.through {
            s.append_pair("through", &t.to_string());
        }
        if self.limit != PAGE_SIZE {
            s.append_pair("limit", &self.limit.to_string());
        }
        if self.zone != Zone::Utc {
            s.append_pair("tz", &self.zone.to_string());
        }
        for (k, v) in extra {
            s.append_pair(k, v);
        }
        s.finish()
    }
}

/// `?` and a query string, or nothing when it is empty.
pub(crate) fn question(q: &str) -> String {
    let mut s = String::new();
    if !q.is_empty() {
        let _ = write!(s, "?{q}");
    }
    s
}

/// A query string of the tenant and zone only (for links to other pages).
pub(crate) fn context_query(tenant: &TenantId, zone: &Zone) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("tenant", tenant.as_str());
    if *zone != Zone::Utc {
        s.append_pair("tz", &zone.to_string());
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Actor;

    fn access() -> ViewerAccess {
        ViewerAccess::tenants(
            Actor::system(),
            [TenantId::new("acme"), TenantId::new("globex")],
        )
    }

    fn filters(q: &str) -> Result<Filters, WebError> {
        Filters::from_params(&Params::parse(Some(q))?, &access(), Utc::now())
    }

    fn rejected(q: &str) -> String {
        match filters(q) {
            Err(WebError::BadRequest(why)) => why,
            other => panic!("{q}: expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn hostile_parameters_are_readable_refusals() {
        assert!(rejected("before=99999999999999999999999").contains("before"));
        assert!(rejected("before=-3").contains("before"));
        assert!(rejected("limit=100000").contains("limit"));
        assert!(rejected("since=yesterday-ish").contains("since"));
        assert!(rejected("outcome=%27%20OR%201%3D1").contains("outcome"));
        assert!(rejected("event=user.created%27%3B%20DROP%20TABLE").contains("event"));
        assert!(rejected(&format!("actor={}", "a".repeat(2000))).contains("too long"));
        assert!(rejected(&format!("x={}", "a".repeat(20_000))).contains("too long"));
        assert!(rejected("tz=Mars/Olympus").contains("tz"));
        assert!(rejected("request_id=a%00b").contains("control"));
        assert!(rejected("before=3&after=4").contains("before"));
    }

    #[test]
    fn a_tenant_the_viewer_may_not_read_is_not_found() {
        assert!(matches!(filters("tenant=initech"), Err(WebError::NotFound)));
        assert_eq!(filters("tenant=globex").unwrap().tenant.as_str(), "globex");
        assert_eq!(filters("").unwrap().tenant.as_str(), "acme");
    }

    #[test]
    fn filters_round_trip_through_the_url() {
        let f = filters(
            "tenant=globex&entity=user:42&event=user.*&event=group.created&actor=7&outcome=denied\
             &request_id=req-1&since=2026-03-02&until=2026-03-04T10:00&tz=%2B02:00&limit=20",
        )
        .unwrap();
        assert_eq!(f.entity, Some(EntityFilter::Key(EntityKey::user(42))));
        assert_eq!(
            f.since.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-03-01T22:00:00+00:00")
        );
        let again = filters(&f.to_query_string(&[])).unwrap();
        assert_eq!(again.query(None), f.query(None));
        assert_eq!((again.limit, again.zone), (20, f.zone));
        // A name, not a key.
        assert_eq!(
            filters("entity=alice").unwrap().entity,
            Some(EntityFilter::Name("alice".into()))
        );
        assert_eq!(
            filters("entity=note:alice").unwrap().entity,
            Some(EntityFilter::Name("note:alice".into()))
        );
    }

    #[test]
    fn presets_count_back_from_now() {
        let now = Utc::now();
        let f = Filters::from_params(&Params::parse(Some("range=7d")).unwrap(), &access(), now)
            .unwrap();
        assert_eq!(f.since, Some(now - Duration::days(7)));
        assert!(f.to_query_string(&[]).contains("range=7d"));
    }
}
