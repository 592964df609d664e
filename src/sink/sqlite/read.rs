//! The read path: queries as SQL over the indexes, streamed a page at a time.
//!
//! A stream never holds a statement or a transaction between pages: each page is one short
//! keyset query (`seq > last` ascending, `seq < last` descending) on a pooled connection, so
//! memory stays flat, writers are never blocked by a slow consumer, and nothing borrowed
//! outlives a call to `next`.

use std::net::IpAddr;

use chrono::DateTime;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row};
use uuid::Uuid;

use super::error::SqlResult;
use super::write::head_from;
use super::SqliteSink;
use crate::chain::{ChainAlgorithm, Digest};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::query::{EventPattern, Order, Query};
use crate::record::{Actor, ActorKind, Context, Outcome, Record, TenantId};
use crate::sink::paged::{Page, PageSource};

/// Rows per page: large enough that the per-query overhead vanishes, small enough that a
/// page is a few hundred kilobytes at most.
pub(super) const PAGE: usize = 256;

/// Most filter values (actors and event patterns) one query may bind; far beyond any real
/// query, and well under SQLite's limit on bound parameters.
const MAX_FILTER_VALUES: usize = 10_000;

const COLUMNS: &str = "r.tenant, r.seq, r.id, r.occurred_at, r.actor_kind, r.actor_id, \
    r.actor_display, r.event_name, r.outcome, r.ip, r.user_agent, r.request_id, \
    r.correlation_id, r.reason, r.schema_version, r.chain, r.prev_hash, r.hash, r.event_json";

/// A query turned into SQL: `?1` tenant, `?2` exclusive lower seq bound, `?3` exclusive upper
/// seq bound, `?4` row limit, then the filter values.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    tenant: String,
    /// `FROM ... WHERE ...` without the seq bounds' values, shared by the page and count SQL.
    from_where: String,
    order: Order,
    filters: Vec<SqlValue>,
    /// The time filter, answered first from the time index as seq bounds.
    time: Option<(Option<i64>, Option<i64>)>,
    lo: i64,
    hi: i64,
}

impl Plan {
    pub(super) fn new(q: &Query) -> Result<Plan> {
        if q.actors.len() + q.events.len() > MAX_FILTER_VALUES {
            return Err(Error::invalid(
                "query",
                format!("more than {MAX_FILTER_VALUES} actors and event patterns"),
            ));
        }
        let mut filters: Vec<SqlValue> = Vec::new();
        let mut bind = |v: SqlValue| {
            filters.push(v);
            format!("?{}", filters.len() + 4)
        };
        let (mut sql, seq_col) = match &q.entity {
            // CROSS JOIN keeps the mention index as the outer loop: an entity's timeline is
            // one range of it, whatever else the query asks.
            Some(k) => (
                format!(
                    "FROM audit_mentions m CROSS JOIN audit_records r \
                     ON r.tenant = m.tenant AND r.seq = m.seq \
                     WHERE m.tenant = ?1 AND m.kind = {} AND m.entity_id = {}",
                    bind(SqlValue::Text(k.kind.as_str().to_owned())),
                    bind(SqlValue::Text(k.id.as_str().to_owned())),
                ),
                "m.seq",
            ),
            None => (
                "FROM audit_records r WHERE r.tenant = ?1".to_owned(),
                "r.seq",
            ),
        };
        sql.push_str(&format!(" AND {seq_col} > ?2 AND {seq_col} < ?3"));
        let micros = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.timestamp_micros());
        let time =
            (q.since.is_some() || q.until.is_some()).then(|| (micros(q.since), micros(q.until)));
        if let Some(since) = micros(q.since) {
            sql.push_str(&format!(
                " AND r.occurred_at >= {}",
                bind(SqlValue::Integer(since))
            ));
        }
        if let Some(until) = micros(q.until) {
            sql.push_str(&format!(
                " AND r.occurred_at < {}",
                bind(SqlValue::Integer(until))
            ));
        }
        if !q.actors.is_empty() {
            let list: Vec<String> = q
                .actors
                .iter()
                .map(|a| bind(SqlValue::Text(a.clone())))
                .collect();
            sql.push_str(&format!(" AND r.actor_id IN ({})", list.join(", ")));
        }
        if !q.events.is_empty() && !q.events.contains(&EventPattern::Any) {
            let mut alternatives = Vec::new();
            for p in &q.events {
                match p {
                    EventPattern::Exact(name) => alternatives.push(format!(
                        "r.event_name = {}",
                        bind(SqlValue::Text(name.clone()))
                    )),
                    // A family is the range of names starting with `family.`: '/' is the
                    // character after '.', so the range ends just past the family. Never
                    // LIKE, whose wildcards a value could carry.
                    EventPattern::Family(f) => alternatives.push(format!(
                        "(r.event_name >= {} AND r.event_name < {})",
                        bind(SqlValue::Text(format!("{f}."))),
                        bind(SqlValue::Text(format!("{f}/")))
                    )),
                    EventPattern::Any => {}
                }
            }
            sql.push_str(&format!(" AND ({})", alternatives.join(" OR ")));
        }
        if let Some(o) = q.outcome {
            sql.push_str(&format!(
                " AND r.outcome = {}",
                bind(SqlValue::Text(o.as_str().to_owned()))
            ));
        }
        let clamp = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
        let mut lo = 0;
        let mut hi = i64::MAX;
        if let Some(t) = q.through_seq {
            hi = clamp(t).saturating_add(1);
        }
        match (q.after_seq, q.order) {
            (Some(c), Order::Ascending) => lo = clamp(c),
            (Some(c), Order::Descending) => hi = hi.min(clamp(c)),
            (None, _) => {}
        }
        Ok(Plan {
            tenant: q.tenant_or_default().as_str().to_owned(),
            from_where: sql,
            order: q.order,
            filters,
            time,
            lo,
            hi,
        })
    }

    fn page_sql(&self) -> String {
        let dir = match self.order {
            Order::Ascending => "ASC",
            Order::Descending => "DESC",
        };
        let seq_col = if self.from_where.starts_with("FROM audit_mentions") {
            "m.seq"
        } else {
            "r.seq"
        };
        format!(
            "SELECT {COLUMNS} {} ORDER BY {seq_col} {dir} LIMIT ?4",
            self.from_where
        )
    }

    fn count_sql(&self) -> String {
        format!("SELECT count(*) {} AND ?4 IS NOT NULL", self.from_where)
    }

    const TIME_SQL: &'static str = "SELECT min(seq), max(seq) FROM audit_records \
        WHERE tenant = ?1 AND occurred_at >= ?2 AND occurred_at < ?3";

    /// Narrows the seq bounds to the records inside the time filter, read from the time
    /// index once: the pages then walk seq order instead of sorting a time range per page.
    /// Returns `false` when nothing is in the range.
    fn narrow_by_time(&mut self, conn: &Connection) -> Result<bool> {
        let Some((since, until)) = self.time.take() else {
            return Ok(true);
        };
        let (min, max): (Option<i64>, Option<i64>) = conn
            .prepare_cached(Self::TIME_SQL)
            .sql()?
            .query_row(
                rusqlite::params![
                    self.tenant,
                    since.unwrap_or(i64::MIN),
                    until.unwrap_or(i64::MAX)
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .sql()?;
        match (min, max) {
            (Some(min), Some(max)) => {
                self.lo = self.lo.max(min - 1);
                self.hi = self.hi.min(max.saturating_add(1));
                Ok(self.lo < self.hi)
            }
            _ => Ok(false),
        }
    }

    fn params(&self, limit: i64) -> Vec<SqlValue> {
        let mut p = Vec::with_capacity(self.filters.len() + 4);
        p.push(SqlValue::Text(self.tenant.clone()));
        p.push(SqlValue::Integer(self.lo));
        p.push(SqlValue::Integer(self.hi));
        p.push(SqlValue::Integer(limit));
        p.extend(self.filters.iter().cloned());
        p
    }

    /// How many records match, ignoring the limit.
    pub(super) fn count(mut self, conn: &Connection) -> Result<u64> {
        if !self.narrow_by_time(conn)? {
            return Ok(0);
        }
        let n: i64 = conn
            .prepare_cached(&self.count_sql())
            .sql()?
            .query_row(rusqlite::params_from_iter(self.params(0)), |r| r.get(0))
            .sql()?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// SQLite's plan for each statement this query runs, one line per plan step.
    pub(super) fn explain(&self, conn: &Connection) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        let mut run = |sql: &str, params: Vec<SqlValue>| -> Result<()> {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).sql()?;
            let mut rows = stmt.query(rusqlite::params_from_iter(params)).sql()?;
            while let Some(row) = rows.next().sql()? {
                lines.push(row.get::<_, String>(3).sql()?);
            }
            Ok(())
        };
        if self.time.is_some() {
            run(
                Self::TIME_SQL,
                vec![
                    SqlValue::Text(self.tenant.clone()),
                    SqlValue::Integer(0),
                    SqlValue::Integer(0),
                ],
            )?;
        }
        run(&self.page_sql(), self.params(PAGE as i64))?;
        Ok(lines)
    }
}

/// Reads one query's records a page at a time, each page on a pooled reader connection.
pub(super) struct SqlitePages<'a> {
    sink: &'a SqliteSink,
    plan: Plan,
    sql: String,
    started: bool,
}

impl<'a> SqlitePages<'a> {
    pub(super) fn new(sink: &'a SqliteSink, query: &Query) -> Result<Self> {
        let plan = Plan::new(query)?;
        Ok(SqlitePages {
            sink,
            sql: plan.page_sql(),
            plan,
            started: false,
        })
    }

    fn read(&mut self, want: usize) -> Result<Vec<Result<Record>>> {
        let Self {
            sink,
            plan,
            sql,
            started,
        } = self;
        sink.with_reader(|conn| {
            if !*started {
                *started = true;
                if !plan.narrow_by_time(conn)? {
                    return Ok(Vec::new());
                }
            }
            let mut stmt = conn.prepare_cached(sql).sql()?;
            let mut rows = stmt
                .query(rusqlite::params_from_iter(plan.params(want as i64)))
                .sql()?;
            let mut page = Vec::with_capacity(want);
            while let Some(row) = rows.next().sql()? {
                let seq: i64 = row.get(1).sql()?;
                match plan.order {
                    Order::Ascending => plan.lo = seq,
                    Order::Descending => plan.hi = seq,
                }
                page.push(decode(row, seq));
            }
            Ok(page)
        })
    }
}

impl PageSource for SqlitePages<'_> {
    fn next_page(&mut self, want: usize) -> Page {
        match self.read(want) {
            Ok(records) => Page {
                last: records.len() < want,
                records,
            },
            // The read itself failed (the file vanished, a lock).
            Err(e) => Page::failed(e),
        }
    }
}

/// A record from its row; anything unreadable is [`Error::Corrupt`] naming the seq.
fn decode(row: &Row<'_>, seq: i64) -> Result<Record> {
    let seq_u = u64::try_from(seq).map_err(|_| Error::corrupt(0, format!("seq {seq}")))?;
    let bad =
        |what: &str, why: &dyn std::fmt::Display| Error::corrupt(seq_u, format!("{what}: {why}"));
    macro_rules! col {
        ($i:expr, $name:literal, $t:ty) => {
            row.get::<_, $t>($i).map_err(|e| bad($name, &e))?
        };
    }
    let tenant = col!(0, "tenant", String);
    let id_bytes = col!(2, "id", Vec<u8>);
    let id = Uuid::from_slice(&id_bytes).map_err(|e| bad("id", &e))?;
    let micros = col!(3, "occurred_at", i64);
    let occurred_at = DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| bad("occurred_at", &"out of range"))?;
    let kind = col!(4, "actor_kind", String);
    let kind = ActorKind::parse(&kind).ok_or_else(|| bad("actor_kind", &kind))?;
    let actor = Actor {
        kind,
        id: col!(5, "actor_id", String),
        display: col!(6, "actor_display", Option<String>),
    };
    let outcome = col!(8, "outcome", String);
    let outcome = Outcome::parse(&outcome).ok_or_else(|| bad("outcome", &outcome))?;
    let ip = col!(9, "ip", Option<String>)
        .map(|s| s.parse::<IpAddr>().map_err(|e| bad("ip", &e)))
        .transpose()?;
    let context = Context {
        ip,
        user_agent: col!(10, "user_agent", Option<String>),
        request_id: col!(11, "request_id", Option<String>),
        correlation_id: col!(12, "correlation_id", Option<String>),
        reason: col!(13, "reason", Option<String>),
    };
    let schema_version =
        u32::try_from(col!(14, "schema_version", i64)).map_err(|e| bad("schema_version", &e))?;
    let chain = col!(15, "chain", String);
    let chain = ChainAlgorithm::parse(&chain).ok_or_else(|| bad("chain", &chain))?;
    let prev_hash =
        Digest::from_slice(&col!(16, "prev_hash", Vec<u8>)).map_err(|e| bad("prev_hash", &e))?;
    let hash = Digest::from_slice(&col!(17, "hash", Vec<u8>)).map_err(|e| bad("hash", &e))?;
    let json = col!(18, "event_json", String);
    let value: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| bad("event_json", &e))?;
    let event = Event::from_value(value).map_err(|e| bad("event_json", &e))?;
    Ok(Record {
        seq: seq_u,
        id,
        occurred_at,
        tenant: TenantId::new(tenant),
        actor,
        event,
        outcome,
        context,
        schema_version,
        chain,
        prev_hash,
        hash,
    })
}

/// The newest record of a tenant.
pub(super) fn head(conn: &Connection, tenant: &TenantId) -> Result<Option<crate::Head>> {
    use rusqlite::OptionalExtension;
    conn.prepare_cached(
        "SELECT seq, hash FROM audit_records WHERE tenant = ?1 ORDER BY seq DESC LIMIT 1",
    )
    .sql()?
    .query_row([tenant.as_str()], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
    })
    .optional()
    .sql()?
    .map(|(seq, hash)| head_from(seq, &hash))
    .transpose()
}

/// Where a tenant's chain starts.
pub(super) fn anchor(conn: &Connection, tenant: &TenantId) -> Result<crate::Head> {
    use rusqlite::OptionalExtension;
    let row = conn
        .prepare_cached("SELECT seq, hash FROM audit_anchors WHERE tenant = ?1")
        .sql()?
        .query_row([tenant.as_str()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .optional()
        .sql()?;
    match row {
        Some((seq, hash)) => head_from(seq, &hash),
        None => Ok(crate::Head {
            seq: 0,
            hash: Digest::ZERO,
        }),
    }
}

/// The tenants with records, in name order: a skip-scan of the seq index (one probe per
/// tenant), not a scan of every record.
pub(super) fn tenants(conn: &Connection) -> Result<Vec<TenantId>> {
    let mut stmt = conn
        .prepare_cached(
            "WITH RECURSIVE t(name) AS ( \
                 SELECT min(tenant) FROM audit_records \
                 UNION ALL \
                 SELECT (SELECT min(tenant) FROM audit_records WHERE tenant > t.name) \
                 FROM t WHERE t.name IS NOT NULL) \
             SELECT name FROM t WHERE name IS NOT NULL",
        )
        .sql()?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .sql()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .sql()?;
    Ok(names.into_iter().map(TenantId::new).collect())
}
