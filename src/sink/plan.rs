//! The one query planner of the SQL stores: a [`Query`] becomes SQL over the indexes both
//! schemas share, in a small [`Dialect`] (how parameters are written, a list as `IN (..)` or
//! `= ANY(..)`, a join that keeps the mentions index outside, the range of storable times).
//!
//! Every page is one keyset query: `?1` the tenant, `?2` and `?3` the exclusive seq bounds
//! (moved past each page), `?4` the row limit, then the filter values. A time filter is
//! first answered from the time index as seq bounds, so pages walk seq order instead of
//! sorting a time range per page.

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::query::{EventPattern, Order, Query};

/// Most filter values (actors and event patterns) one query may bind; far beyond any real
/// query, and well under each database's limit on bound parameters.
const MAX_FILTER_VALUES: usize = 10_000;

/// Where the SQL of the two stores differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `?n` parameters, `IN (?a, ?b)` lists, `CROSS JOIN` to fix the join order, times as
    /// microseconds.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite,
    /// `$n` parameters, `= ANY($n)` arrays, times as `timestamptz`.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

impl Dialect {
    fn param(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    fn join(self) -> &'static str {
        match self {
            // CROSS JOIN keeps the mention index as the outer loop: an entity's timeline is
            // one range of it, whatever else the query asks.
            Dialect::Sqlite => "CROSS JOIN",
            Dialect::Postgres => "JOIN",
        }
    }

    /// The times a record in this store can have: PostgreSQL's `timestamptz` starts in 4713
    /// BC (chrono reaches further back); SQLite keeps any chrono time as microseconds.
    fn storable(self) -> (DateTime<Utc>, DateTime<Utc>) {
        match self {
            Dialect::Sqlite => (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC),
            // 4714-11-24 BC (proleptic Gregorian) 00:00 UTC, the start of Julian day 0.
            Dialect::Postgres => (
                DateTime::from_timestamp(-210_866_803_200, 0).unwrap_or(DateTime::<Utc>::MIN_UTC),
                DateTime::<Utc>::MAX_UTC,
            ),
        }
    }
}

/// A bound value, bound by each store in its driver's types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
    /// A list, only in [`Dialect::Postgres`] (`= ANY($n)`).
    TextList(Vec<String>),
}

/// Table names as the store's SQL spells them.
#[derive(Debug, Clone)]
pub(crate) struct Tables<'a> {
    pub(crate) records: &'a str,
    pub(crate) mentions: &'a str,
}

/// A time filter: at or after, strictly before (either may be open).
type TimeRange = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A query as SQL; see the [module docs](self).
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    dialect: Dialect,
    records: String,
    tenant: String,
    /// `FROM ... WHERE ...` with the fixed parameters and the filters' placeholders.
    from_where: String,
    seq_col: &'static str,
    order: Order,
    filters: Vec<Param>,
    /// The time filter not yet turned into seq bounds.
    time: Option<TimeRange>,
    /// Exclusive seq bounds: the query's, then moved past each page read.
    pub(crate) lo: i64,
    pub(crate) hi: i64,
    /// The query can match nothing (a filter value no stored record can hold).
    empty: bool,
}

/// No stored identifier, tenant or event name holds a NUL (the limits refuse control
/// characters in them, and PostgreSQL text cannot hold one), so a filter value with one
/// matches nothing; some drivers would refuse to send it.
fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

impl Plan {
    /// Plans `q` for a store speaking `dialect`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a query with more than 10 000 filter values.
    pub(crate) fn new(q: &Query, dialect: Dialect, tables: Tables<'_>) -> Result<Plan> {
        let values = q.actors.len()
            + q.events.len()
            + q.request_ids.len()
            + q.correlation_ids.len()
            + q.ips.len();
        if values > MAX_FILTER_VALUES {
            return Err(Error::invalid(
                "query",
                format!("more than {MAX_FILTER_VALUES} filter values"),
            ));
        }
        let tenant = q.tenant_or_default().as_str().to_owned();
        let mut empty = has_nul(&tenant);
        let mut filters: Vec<Param> = Vec::new();
        let mut bind = |v: Param| {
            filters.push(v);
            dialect.param(filters.len() + 4)
        };
        let p = |n| dialect.param(n);
        let (mut sql, seq_col) = match &q.entity {
            Some(k) => {
                empty |= has_nul(k.kind.as_str()) || has_nul(k.id.as_str());
                (
                    format!(
                        "FROM {} m {} {} r ON r.tenant = m.tenant AND r.seq = m.seq \
                         WHERE m.tenant = {} AND m.kind = {} AND m.entity_id = {}",
                        tables.mentions,
                        dialect.join(),
                        tables.records,
                        p(1),
                        bind(Param::Text(k.kind.as_str().to_owned())),
                        bind(Param::Text(k.id.as_str().to_owned())),
                    ),
                    "m.seq",
                )
            }
            None => {
                // Which index drives the scan, said outright to SQLite: without statistics its
                // planner (3.50 on) prefers the (tenant, seq) index, which spares it a sort but
                // reads the tenant's whole range to find one actor's records. PostgreSQL plans
                // from its own statistics.
                let driving = if !q.actors.is_empty() {
                    Some("audit_records_actor")
                } else if !q.events.is_empty() && !q.events.contains(&EventPattern::Any) {
                    Some("audit_records_event")
                } else {
                    None
                };
                let hint = match (dialect, driving) {
                    (Dialect::Sqlite, Some(index)) => format!(" INDEXED BY {index}"),
                    _ => String::new(),
                };
                (
                    format!("FROM {} r{hint} WHERE r.tenant = {}", tables.records, p(1)),
                    "r.seq",
                )
            }
        };
        sql.push_str(&format!(
            " AND {seq_col} > {} AND {seq_col} < {}",
            p(2),
            p(3)
        ));

        // Times outside what the store can hold: a bound below every storable time bounds
        // nothing, an empty range matches nothing; so every store answers the extreme times
        // chrono represents, and none sends one its database would refuse.
        let (min, max) = dialect.storable();
        let since = q.since.filter(|t| *t > min);
        // Stored times have whole microseconds, so none reaches chrono's last instant.
        let until = q.until.filter(|t| *t < max);
        empty |= q.since.is_some_and(|t| t > max)
            || q.until.is_some_and(|t| t <= min)
            || matches!((q.since, q.until), (Some(a), Some(b)) if a >= b);
        let time = (since.is_some() || until.is_some()).then_some((since, until));
        if let Some(t) = since {
            sql.push_str(&format!(" AND r.occurred_at >= {}", bind(Param::Time(t))));
        }
        if let Some(t) = until {
            sql.push_str(&format!(" AND r.occurred_at < {}", bind(Param::Time(t))));
        }

        let mut any_of = |column: &str, values: &[String], empty: &mut bool| {
            if values.is_empty() {
                return;
            }
            let kept: Vec<String> = values.iter().filter(|v| !has_nul(v)).cloned().collect();
            if kept.is_empty() {
                *empty = true;
                return;
            }
            let cond = match dialect {
                Dialect::Postgres => format!("{column} = ANY({})", bind(Param::TextList(kept))),
                Dialect::Sqlite => {
                    let list: Vec<String> =
                        kept.into_iter().map(|v| bind(Param::Text(v))).collect();
                    format!("{column} IN ({})", list.join(", "))
                }
            };
            sql.push_str(&format!(" AND {cond}"));
        };
        any_of("r.actor_id", &q.actors, &mut empty);
        any_of("r.request_id", &q.request_ids, &mut empty);
        any_of("r.correlation_id", &q.correlation_ids, &mut empty);
        let ips: Vec<String> = q.ips.iter().map(|ip| ip.to_string()).collect();
        any_of("r.ip", &ips, &mut empty);

        if !q.events.is_empty() && !q.events.contains(&EventPattern::Any) {
            let mut alternatives = Vec::new();
            for pattern in &q.events {
                match pattern {
                    EventPattern::Exact(name) if !has_nul(name) => alternatives.push(format!(
                        "r.event_name = {}",
                        bind(Param::Text(name.clone()))
                    )),
                    // A family is the range of names starting with `family.`: '/' is the
                    // character after '.', so the range ends just past the family, as a range
                    // the (tenant, event_name, seq) index serves. Never LIKE, whose wildcards a
                    // value could carry.
                    EventPattern::Family(f) if !has_nul(f) => alternatives.push(format!(
                        "(r.event_name >= {} AND r.event_name < {})",
                        bind(Param::Text(format!("{f}."))),
                        bind(Param::Text(format!("{f}/")))
                    )),
                    _ => {}
                }
            }
            if alternatives.is_empty() {
                empty = true;
            } else {
                sql.push_str(&format!(" AND ({})", alternatives.join(" OR ")));
            }
        }
        if let Some(o) = q.outcome {
            sql.push_str(&format!(
                " AND r.outcome = {}",
                bind(Param::Text(o.as_str().to_owned()))
            ));
        }

        let clamp = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
        let mut lo = 0;
        let mut hi = i64::MAX;
        if let Some(t) = q.through_seq {
            hi = clamp(t).saturating_add(1);
        }
        match (q.after_seq, q.order) {
            (Some(c), Order::Ascending) => lo = lo.max(clamp(c)),
            (Some(c), Order::Descending) => hi = hi.min(clamp(c)),
            (None, _) => {}
        }
        Ok(Plan {
            dialect,
            records: tables.records.to_owned(),
            tenant,
            from_where: sql,
            seq_col,
            order: q.order,
            filters,
            time,
            lo,
            hi,
            empty: empty || lo >= hi,
        })
    }

    /// Whether the query can match nothing, known without reading.
    pub(crate) fn is_empty(&self) -> bool {
        self.empty || self.lo >= self.hi
    }

    /// The SQL of one page (`?4` rows from the current bounds, in the query's order),
    /// selecting `columns`.
    pub(crate) fn page_sql(&self, columns: &str) -> String {
        let dir = match self.order {
            Order::Ascending => "ASC",
            Order::Descending => "DESC",
        };
        format!(
            "SELECT {columns} {} ORDER BY {} {dir} LIMIT {}",
            self.from_where,
            self.seq_col,
            self.dialect.param(4)
        )
    }

    /// The SQL counting every match (the limit parameter is bound but unused).
    pub(crate) fn count_sql(&self) -> String {
        format!(
            "SELECT count(*) {} AND {} IS NOT NULL",
            self.from_where,
            match self.dialect {
                Dialect::Sqlite => "?4".to_owned(),
                Dialect::Postgres => "$4::bigint".to_owned(),
            }
        )
    }

    /// The time filter still to be turned into seq bounds, with the SQL that does it (`?1`
    /// tenant, then the bounds present): the lowest and highest seq inside the range.
    pub(crate) fn time_bounds(&self) -> Option<(String, Vec<Param>)> {
        if self.is_empty() {
            return None;
        }
        let (since, until) = self.time?;
        let mut params = vec![Param::Text(self.tenant.clone())];
        let mut sql = format!(
            "SELECT min(seq), max(seq) FROM {} WHERE tenant = {}",
            self.records,
            self.dialect.param(1)
        );
        for (op, t) in [(">=", since), ("<", until)] {
            if let Some(t) = t {
                params.push(Param::Time(t));
                sql.push_str(&format!(
                    " AND occurred_at {op} {}",
                    self.dialect.param(params.len())
                ));
            }
        }
        Some((sql, params))
    }

    /// Narrows the seq bounds to the time range's `min`/`max` seq (as [`time_bounds`] read
    /// them); `None` means no record is in the range.
    ///
    /// [`time_bounds`]: Self::time_bounds
    pub(crate) fn narrow_to(&mut self, min_max: Option<(i64, i64)>) {
        self.time = None;
        match min_max {
            Some((min, max)) => {
                self.lo = self.lo.max(min - 1);
                self.hi = self.hi.min(max.saturating_add(1));
            }
            None => self.empty = true,
        }
    }

    /// Moves the bounds past a row just read.
    pub(crate) fn advance(&mut self, seq: i64) {
        match self.order {
            Order::Ascending => self.lo = seq,
            Order::Descending => self.hi = seq,
        }
    }

    /// Every parameter of a page or count statement, in order: tenant, bounds, `limit`, the
    /// filters.
    pub(crate) fn params(&self, limit: i64) -> Vec<Param> {
        let mut p = Vec::with_capacity(self.filters.len() + 4);
        p.push(Param::Text(self.tenant.clone()));
        p.push(Param::Int(self.lo));
        p.push(Param::Int(self.hi));
        p.push(Param::Int(limit));
        p.extend(self.filters.iter().cloned());
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EntityKey;

    fn plan(q: &Query, d: Dialect) -> Plan {
        Plan::new(
            q,
            d,
            Tables {
                records: "audit_records",
                mentions: "audit_mentions",
            },
        )
        .unwrap()
    }

    #[test]
    fn both_dialects_plan_the_same_conditions() {
        let q = Query::new()
            .entity(EntityKey::group(7))
            .actor("1")
            .actor("2")
            .event("user.*")
            .request_id("req-1");
        let s = plan(&q, Dialect::Sqlite).page_sql("*");
        let p = plan(&q, Dialect::Postgres).page_sql("*");
        for (sql, want) in [
            (&s, "FROM audit_mentions m CROSS JOIN audit_records r"),
            (
                &s,
                "m.tenant = ?1 AND m.kind = ?5 AND m.entity_id = ?6 AND m.seq > ?2 AND m.seq < ?3",
            ),
            (&s, "r.actor_id IN (?7, ?8) AND r.request_id IN (?9)"),
            (
                &s,
                "((r.event_name >= ?10 AND r.event_name < ?11)) ORDER BY m.seq ASC LIMIT ?4",
            ),
            (&p, "FROM audit_mentions m JOIN audit_records r"),
            (
                &p,
                "m.tenant = $1 AND m.kind = $5 AND m.entity_id = $6 AND m.seq > $2 AND m.seq < $3",
            ),
            (&p, "r.actor_id = ANY($7) AND r.request_id = ANY($8)"),
            (
                &p,
                "((r.event_name >= $9 AND r.event_name < $10)) ORDER BY m.seq ASC LIMIT $4",
            ),
        ] {
            assert!(sql.contains(want), "{sql}\nlacks {want}");
        }
    }

    #[test]
    fn nul_bytes_and_impossible_times_match_nothing_up_front() {
        let t = |s| DateTime::from_timestamp(s, 0).unwrap();
        for q in [
            Query::new().actor("a\0b"),
            Query::new().event("a\0b"),
            Query::for_tenant("t\0"),
            Query::new().since(t(100)).until(t(100)),
        ] {
            assert!(plan(&q, Dialect::Sqlite).is_empty(), "{q:?}");
            assert!(plan(&q, Dialect::Postgres).is_empty(), "{q:?}");
        }
        let q = Query::new().until(DateTime::<Utc>::MIN_UTC + chrono::Duration::days(1));
        assert!(plan(&q, Dialect::Postgres).is_empty());
        assert!(!plan(&q, Dialect::Sqlite).is_empty());
        let all = Query::new()
            .since(DateTime::<Utc>::MIN_UTC)
            .until(DateTime::<Utc>::MAX_UTC);
        assert!(plan(&all, Dialect::Postgres).time_bounds().is_none());
    }
}
