//! The read path: queries through the shared planner, streamed a page at a time.
//!
//! A stream never holds a statement or a transaction between pages: each page is one short
//! keyset query (`seq > last` ascending, `seq < last` descending) on a pooled connection, so
//! memory stays flat, writers are never blocked by a slow consumer, and nothing borrowed
//! outlives a call to `next`.

use std::net::IpAddr;
use std::sync::LazyLock;

use chrono::DateTime;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::error::SqlResult;
use super::write::head_from;
use super::SqliteSink;
use crate::digest::{ChainAlgorithm, Digest};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::query::Query;
use crate::record::{Actor, ActorKind, Context, Head, Outcome, Record, TenantId};
use crate::sink::paged::{Fetched, PageSource};
use crate::sink::plan::{Dialect, Param, Plan, Tables};
use crate::sink::row::column_list;

/// Rows per page: large enough that the per-query overhead vanishes, small enough that a
/// page is a few hundred kilobytes at most.
pub(super) const PAGE: usize = 256;

/// The columns a page selects, in the shared order [`decode`] reads.
static COLUMNS: LazyLock<String> = LazyLock::new(|| column_list("r."));

/// Plans `query` over this store's tables.
pub(super) fn plan(query: &Query) -> Result<Plan> {
    Plan::new(
        query,
        Dialect::Sqlite,
        Tables {
            records: "audit_records",
            mentions: "audit_mentions",
        },
    )
}

fn bind(params: Vec<Param>) -> Vec<SqlValue> {
    params
        .into_iter()
        .map(|p| match p {
            Param::Text(s) => SqlValue::Text(s),
            Param::Int(i) => SqlValue::Integer(i),
            Param::Time(t) => SqlValue::Integer(t.timestamp_micros()),
            // The SQLite dialect expands lists into one parameter per value.
            Param::TextList(v) => SqlValue::Text(v.join(",")),
        })
        .collect()
}

/// Turns the plan's time filter into seq bounds, from the time index, once.
fn narrow_by_time(plan: &mut Plan, conn: &Connection) -> Result<()> {
    let Some((sql, params)) = plan.time_bounds() else {
        return Ok(());
    };
    let (min, max): (Option<i64>, Option<i64>) = conn
        .prepare_cached(&sql)
        .sql()?
        .query_row(rusqlite::params_from_iter(bind(params)), |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .sql()?;
    plan.narrow_to(min.zip(max));
    Ok(())
}

/// How many records match `plan`, ignoring the limit.
pub(super) fn count(mut plan: Plan, conn: &Connection) -> Result<u64> {
    narrow_by_time(&mut plan, conn)?;
    if plan.is_empty() {
        return Ok(0);
    }
    let n: i64 = conn
        .prepare_cached(&plan.count_sql())
        .sql()?
        .query_row(rusqlite::params_from_iter(bind(plan.params(0))), |r| {
            r.get(0)
        })
        .sql()?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// SQLite's plan for each statement `plan` runs, one line per plan step.
pub(super) fn explain(plan: &Plan, conn: &Connection) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    let mut run = |sql: &str, params: Vec<Param>| -> Result<()> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).sql()?;
        let mut rows = stmt.query(rusqlite::params_from_iter(bind(params))).sql()?;
        while let Some(row) = rows.next().sql()? {
            lines.push(row.get::<_, String>(3).sql()?);
        }
        Ok(())
    };
    if let Some((sql, params)) = plan.time_bounds() {
        run(&sql, params)?;
    }
    run(&plan.page_sql(&COLUMNS), plan.params(PAGE as i64))?;
    Ok(lines)
}

/// Reads one query's records a page at a time, each page on a pooled reader connection.
pub(super) struct SqlitePages<'a> {
    sink: &'a SqliteSink,
    plan: Plan,
    sql: String,
}

impl<'a> SqlitePages<'a> {
    pub(super) fn new(sink: &'a SqliteSink, query: &Query) -> Result<Self> {
        let plan = plan(query)?;
        Ok(SqlitePages {
            sink,
            sql: plan.page_sql(&COLUMNS),
            plan,
        })
    }

    fn read(&mut self, want: usize) -> Result<Vec<Result<Record>>> {
        let Self { sink, plan, sql } = self;
        sink.with_reader(|conn| {
            narrow_by_time(plan, conn)?;
            if plan.is_empty() {
                return Ok(Vec::new());
            }
            let mut stmt = conn.prepare_cached(sql).sql()?;
            let mut rows = stmt
                .query(rusqlite::params_from_iter(bind(plan.params(want as i64))))
                .sql()?;
            let mut page = Vec::with_capacity(want);
            let mut tenant = None;
            while let Some(row) = rows.next().sql()? {
                let seq: i64 = row.get(1).sql()?;
                plan.advance(seq);
                page.push(decode(row, seq, &mut tenant));
            }
            Ok(page)
        })
    }
}

impl PageSource for SqlitePages<'_> {
    fn next_page(&mut self, want: usize) -> Fetched {
        match self.read(want) {
            Ok(records) => Fetched {
                last: records.len() < want,
                records,
            },
            // The read itself failed (the file vanished, a lock).
            Err(e) => Fetched::failed(e),
        }
    }
}

/// A record from its row; anything unreadable is [`Error::Corrupt`] naming the seq.
///
/// `tenant` is the tenant of the row before: the rows of a page are nearly always of one
/// tenant, whose name is then shared rather than allocated again for each.
fn decode(row: &Row<'_>, seq: i64, tenant: &mut Option<TenantId>) -> Result<Record> {
    let seq_u = u64::try_from(seq).map_err(|_| Error::corrupt(0, format!("seq {seq}")))?;
    let bad =
        |what: &str, why: &dyn std::fmt::Display| Error::corrupt(seq_u, format!("{what}: {why}"));
    macro_rules! col {
        ($i:expr, $name:literal, $t:ty) => {
            row.get::<_, $t>($i).map_err(|e| bad($name, &e))?
        };
    }
    let name = row
        .get_ref(0)
        .and_then(|v| v.as_str().map_err(Into::into))
        .map_err(|e| bad("tenant", &e))?;
    let tenant = match tenant {
        Some(t) if t.as_str() == name => t.clone(),
        _ => tenant.insert(TenantId::from(name)).clone(),
    };
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
    let seal = col!(19, "seal", Option<Vec<u8>>)
        .map(|s| Digest::from_slice(&s).map_err(|e| bad("seal", &e)))
        .transpose()?;
    let json = col!(18, "event_json", String);
    let value: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| bad("event_json", &e))?;
    let event = Event::from_value(value).map_err(|e| bad("event_json", &e))?;
    // The column the event filter reads is derived from the hashed event: it must agree.
    let name = col!(7, "event_name", String);
    if name != event.name() {
        return Err(bad(
            "event_name",
            &format!(
                "{name:?} disagrees with the event's own name {:?}",
                event.name()
            ),
        ));
    }
    Ok(Record {
        seq: seq_u,
        id,
        occurred_at,
        tenant,
        actor,
        event,
        outcome,
        context,
        schema_version,
        chain,
        prev_hash,
        hash,
        seal,
    })
}

/// The newest record of a tenant.
pub(super) fn head(conn: &Connection, tenant: &TenantId) -> Result<Option<Head>> {
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

/// A tenant's stored anchor (after a purge, or an import that started after one), if any.
pub(super) fn stored_anchor(conn: &Connection, tenant: &TenantId) -> Result<Option<Head>> {
    conn.prepare_cached("SELECT seq, hash FROM audit_anchors WHERE tenant = ?1")
        .sql()?
        .query_row([tenant.as_str()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .optional()
        .sql()?
        .map(|(seq, hash)| head_from(seq, &hash))
        .transpose()
}

/// Where a tenant's chain starts: its stored anchor, or seq 0 and the zero hash.
pub(super) fn anchor(conn: &Connection, tenant: &TenantId) -> Result<Head> {
    Ok(stored_anchor(conn, tenant)?.unwrap_or(Head {
        seq: 0,
        hash: Digest::ZERO,
    }))
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

/// Visits the tenant's mention rows with a seq in `first..=last`, a page at a time (each page
/// a short read, so a verification never holds a read transaction across the whole index).
pub(super) fn scan_mentions(
    sink: &SqliteSink,
    tenant: &TenantId,
    first: u64,
    last: u64,
    visit: &mut dyn FnMut(crate::sink::MentionRow<'_>),
) -> Result<()> {
    const SQL: &str = "SELECT kind, entity_id, seq FROM audit_mentions \
        WHERE tenant = ?1 AND seq >= ?2 AND seq <= ?3 AND (kind, entity_id, seq) > (?4, ?5, ?6) \
        ORDER BY kind, entity_id, seq LIMIT 4096";
    let first = i64::try_from(first).unwrap_or(i64::MAX);
    let last = i64::try_from(last).unwrap_or(i64::MAX);
    let mut after = (String::new(), String::new(), i64::MIN);
    loop {
        let rows: Vec<(String, String, i64)> = sink.with_reader(|conn| {
            conn.prepare_cached(SQL)
                .sql()?
                .query_map(
                    rusqlite::params![tenant.as_str(), first, last, after.0, after.1, after.2],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .sql()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .sql()
        })?;
        let full = rows.len() == 4096;
        for (kind, id, seq) in &rows {
            visit(crate::sink::MentionRow {
                kind,
                id,
                seq: u64::try_from(*seq).unwrap_or(0),
            });
        }
        match rows.into_iter().last() {
            Some(row) if full => after = row,
            _ => return Ok(()),
        }
    }
}

/// The tenant's records through `through`, and its highest seq, counted through the time
/// index rather than the seq index.
pub(super) fn census(
    conn: &Connection,
    tenant: &TenantId,
    through: u64,
) -> Result<crate::sink::Census> {
    let through = i64::try_from(through).unwrap_or(i64::MAX);
    let (n, max): (i64, Option<i64>) = conn
        .prepare_cached(
            "SELECT count(*) FILTER (WHERE seq <= ?2), max(seq) \
             FROM audit_records INDEXED BY audit_records_time WHERE tenant = ?1",
        )
        .sql()?
        .query_row(rusqlite::params![tenant.as_str(), through], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .sql()?;
    Ok(crate::sink::Census {
        records_through: u64::try_from(n).unwrap_or(0),
        last_seq: max.and_then(|m| u64::try_from(m).ok()),
    })
}
