//! Reading: every `Query` filter as SQL over an index, keyset pages, rows decoded into records.

use postgres::types::ToSql;

use super::{pg_error, PostgresSink};
use crate::chain::{ChainAlgorithm, Digest};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::query::{EventPattern, Order, Query};
use crate::record::{Actor, ActorKind, Context, Outcome, Record, TenantId};
use crate::sink::paged::{Page, PageSource};

/// Rows fetched per round trip: large enough to amortize the round trip, small enough that
/// memory stays flat.
pub(crate) const PAGE: usize = 500;

const SELECT_COLUMNS: &str = "r.seq, r.id, r.occurred_at, r.tenant, r.actor_kind, r.actor_id, \
    r.actor_display, r.event_json, r.outcome, r.ip, r.user_agent, r.request_id, \
    r.correlation_id, r.reason, r.schema_version, r.chain, r.prev_hash, r.hash";

/// Parameters of a statement being built, numbered as they are pushed.
#[derive(Default)]
struct Params {
    values: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Params {
    fn push(&mut self, v: impl ToSql + Sync + Send + 'static) -> String {
        self.values.push(Box::new(v));
        format!("${}", self.values.len())
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|v| v.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// A stored value can hold no NUL byte (PostgreSQL text cannot, and the log refuses control
/// characters), so a filter value with one matches nothing; sending it would be an error.
fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

/// The SQL for one page of `q` after the keyset cursor `after` (in the query's order), or
/// `None` when the query can match nothing.
fn page_sql(
    sink: &PostgresSink,
    q: &Query,
    after: Option<u64>,
    limit: Option<usize>,
    count_only: bool,
) -> Option<(String, Params)> {
    let t = &sink.tables;
    let mut p = Params::default();
    let tenant = q.tenant_or_default();
    if has_nul(tenant.as_str()) {
        return None;
    }
    let mut conds = Vec::new();
    let tenant_param = p.push(tenant.as_str().to_owned());
    let (from, seq_col) = match &q.entity {
        Some(e) => {
            if has_nul(e.kind.as_str()) || has_nul(e.id.as_str()) {
                return None;
            }
            // Drive from the mentions index, in seq order, and join each hit to its record.
            let kind = p.push(e.kind.as_str().to_owned());
            let id = p.push(e.id.as_str().to_owned());
            conds.push(format!("m.tenant = {tenant_param}"));
            conds.push(format!("m.kind = {kind}"));
            conds.push(format!("m.entity_id = {id}"));
            (
                format!(
                    "{} m JOIN {} r ON r.tenant = m.tenant AND r.seq = m.seq",
                    t.mentions, t.records
                ),
                "m.seq",
            )
        }
        None => {
            conds.push(format!("r.tenant = {tenant_param}"));
            (format!("{} r", t.records), "r.seq")
        }
    };
    let cursor = match (q.after_seq, after) {
        (Some(a), Some(b)) => Some(match q.order {
            Order::Ascending => a.max(b),
            Order::Descending => a.min(b),
        }),
        (a, b) => a.or(b),
    };
    if let Some(c) = cursor {
        let op = match q.order {
            Order::Ascending => ">",
            Order::Descending => "<",
        };
        let c = p.push(i64::try_from(c).unwrap_or(i64::MAX));
        conds.push(format!("{seq_col} {op} {c}"));
    }
    if let Some(through) = q.through_seq {
        let v = p.push(i64::try_from(through).unwrap_or(i64::MAX));
        conds.push(format!("{seq_col} <= {v}"));
    }
    if let Some(since) = q.since {
        let v = p.push(since);
        conds.push(format!("r.occurred_at >= {v}"));
    }
    if let Some(until) = q.until {
        let v = p.push(until);
        conds.push(format!("r.occurred_at < {v}"));
    }
    if !q.actors.is_empty() {
        let actors: Vec<String> = q.actors.iter().filter(|a| !has_nul(a)).cloned().collect();
        if actors.is_empty() {
            return None;
        }
        let v = p.push(actors);
        conds.push(format!("r.actor_id = ANY({v})"));
    }
    if !q.events.is_empty() && !q.events.contains(&EventPattern::Any) {
        let mut exact = Vec::new();
        let mut ors = Vec::new();
        for pat in &q.events {
            match pat {
                EventPattern::Exact(n) if !has_nul(n) => exact.push(n.clone()),
                EventPattern::Family(f) if !has_nul(f) => {
                    // `family.` up to `family/` ('/' follows '.') is every name in the
                    // family, as a range the (tenant, event_name, seq) index serves.
                    let lo = p.push(format!("{f}."));
                    let hi = p.push(format!("{f}/"));
                    ors.push(format!("(r.event_name >= {lo} AND r.event_name < {hi})"));
                }
                _ => {}
            }
        }
        if !exact.is_empty() {
            let v = p.push(exact);
            ors.push(format!("r.event_name = ANY({v})"));
        }
        if ors.is_empty() {
            return None;
        }
        conds.push(format!("({})", ors.join(" OR ")));
    }
    if let Some(o) = q.outcome {
        let v = p.push(o.as_str());
        conds.push(format!("r.outcome = {v}"));
    }
    let where_ = conds.join(" AND ");
    if count_only {
        return Some((format!("SELECT count(*) FROM {from} WHERE {where_}"), p));
    }
    let dir = match q.order {
        Order::Ascending => "ASC",
        Order::Descending => "DESC",
    };
    let mut sql =
        format!("SELECT {SELECT_COLUMNS} FROM {from} WHERE {where_} ORDER BY {seq_col} {dir}");
    if let Some(n) = limit {
        let v = p.push(i64::try_from(n).unwrap_or(i64::MAX));
        sql.push_str(&format!(" LIMIT {v}"));
    }
    Some((sql, p))
}

/// Decodes one row. The seq is read first so that any later failure names it.
fn decode(row: &postgres::Row) -> (Option<u64>, Result<Record>) {
    let seq = match row.try_get::<_, i64>(0) {
        Ok(s) => s as u64,
        Err(e) => return (None, Err(Error::corrupt(0, e))),
    };
    let bad = |why: String| Error::corrupt(seq, why);
    let get = |i: usize| -> Result<Option<String>> {
        row.try_get::<_, Option<String>>(i)
            .map_err(|e| bad(format!("column {i}: {e}")))
    };
    let need =
        |i: usize| -> Result<String> { get(i)?.ok_or_else(|| bad(format!("column {i} is null"))) };
    let record = (|| -> Result<Record> {
        let id = row
            .try_get::<_, uuid::Uuid>(1)
            .map_err(|e| bad(e.to_string()))?;
        let occurred_at = row
            .try_get::<_, chrono::DateTime<chrono::Utc>>(2)
            .map_err(|e| bad(e.to_string()))?;
        let tenant = TenantId::new(need(3)?);
        let kind = need(4)?;
        let actor = Actor {
            kind: ActorKind::parse(&kind)
                .ok_or_else(|| bad(format!("unknown actor kind {kind:?}")))?,
            id: need(5)?,
            display: get(6)?,
        };
        let json = need(7)?;
        let value: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| bad(format!("event is not JSON: {e}")))?;
        let event = Event::from_value(value).map_err(bad)?;
        let outcome_s = need(8)?;
        let outcome = Outcome::parse(&outcome_s)
            .ok_or_else(|| bad(format!("unknown outcome {outcome_s:?}")))?;
        let ip = get(9)?
            .map(|s| s.parse().map_err(|_| bad(format!("bad ip {s:?}"))))
            .transpose()?;
        let context = Context {
            ip,
            user_agent: get(10)?,
            request_id: get(11)?,
            correlation_id: get(12)?,
            reason: get(13)?,
        };
        let schema_version = row.try_get::<_, i32>(14).map_err(|e| bad(e.to_string()))?;
        let chain_s = need(15)?;
        let chain = ChainAlgorithm::parse(&chain_s)
            .ok_or_else(|| bad(format!("unknown chain {chain_s:?}")))?;
        let prev: Vec<u8> = row.try_get(16).map_err(|e| bad(e.to_string()))?;
        let hash: Vec<u8> = row.try_get(17).map_err(|e| bad(e.to_string()))?;
        Ok(Record {
            seq,
            id,
            occurred_at,
            tenant,
            actor,
            event,
            outcome,
            context,
            schema_version: u32::try_from(schema_version).map_err(|e| bad(e.to_string()))?,
            chain,
            prev_hash: Digest::from_slice(&prev).map_err(|w| bad(format!("prev_hash: {w}")))?,
            hash: Digest::from_slice(&hash).map_err(|w| bad(format!("hash: {w}")))?,
        })
    })();
    (Some(seq), record)
}

/// Reads a query a page at a time, each page on a pooled connection returned right after.
pub(crate) struct PgPages<'a> {
    sink: &'a PostgresSink,
    query: Query,
    last_seq: Option<u64>,
}

impl<'a> PgPages<'a> {
    pub(crate) fn new(sink: &'a PostgresSink, query: &Query) -> Self {
        PgPages {
            sink,
            query: query.clone(),
            last_seq: None,
        }
    }
}

impl PageSource for PgPages<'_> {
    fn next_page(&mut self, want: usize) -> Page {
        let Some((sql, params)) =
            page_sql(self.sink, &self.query, self.last_seq, Some(want), false)
        else {
            return Page {
                records: Vec::new(),
                last: true,
            };
        };
        let rows = self
            .sink
            .client()
            .and_then(|mut c| c.query(&sql, &params.refs()).map_err(pg_error));
        let rows = match rows {
            Ok(rows) => rows,
            // The connection is gone or the statement failed.
            Err(e) => return Page::failed(e),
        };
        let mut last = rows.len() < want;
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            let (seq, record) = decode(row);
            match seq {
                Some(s) => self.last_seq = Some(s),
                // Without a seq the keyset cannot move past this row: stop after it.
                None => last = true,
            }
            records.push(record);
        }
        Page { records, last }
    }
}

/// How many records match `q`, ignoring its limit.
pub(crate) fn count(sink: &PostgresSink, q: &Query) -> Result<u64> {
    let Some((sql, params)) = page_sql(sink, q, None, None, true) else {
        return Ok(0);
    };
    let row = sink
        .client()?
        .query_one(&sql, &params.refs())
        .map_err(pg_error)?;
    let n: i64 = row.try_get(0).map_err(pg_error)?;
    Ok(n as u64)
}

/// The SQL a query runs (first page), for `EXPLAIN` in tests.
#[doc(hidden)]
pub(crate) fn explain_sql(
    sink: &PostgresSink,
    q: &Query,
) -> Option<(String, Vec<Box<dyn ToSql + Sync + Send>>)> {
    page_sql(sink, q, None, Some(PAGE), false).map(|(s, p)| (s, p.values))
}
