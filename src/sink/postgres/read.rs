//! Reading: queries through the shared planner, keyset pages, rows decoded into records.

use std::sync::LazyLock;

use postgres::types::ToSql;
use postgres::GenericClient;

use super::{pg_error, PostgresSink};
use crate::digest::{ChainAlgorithm, Digest};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::query::Query;
use crate::record::{Actor, ActorKind, Context, Outcome, Record, TenantId};
use crate::sink::paged::{Fetched, PageSource};
use crate::sink::plan::{Dialect, Param, Plan, Tables};
use crate::sink::row::column_list;

/// Rows fetched per round trip: large enough to amortize the round trip, small enough that
/// memory stays flat.
pub(crate) const PAGE: usize = 500;

/// The columns a page selects, in the shared order [`decode`] reads.
static COLUMNS: LazyLock<String> = LazyLock::new(|| column_list("r."));

/// Plans `query` over the sink's tables.
pub(crate) fn plan(sink: &PostgresSink, query: &Query) -> Result<Plan> {
    let t = &sink.store().tables;
    Plan::new(
        query,
        Dialect::Postgres,
        Tables {
            records: &t.records,
            mentions: &t.mentions,
        },
    )
}

type Bound = Vec<Box<dyn ToSql + Sync + Send>>;

fn bind(params: Vec<Param>) -> Bound {
    params
        .into_iter()
        .map(|p| -> Box<dyn ToSql + Sync + Send> {
            match p {
                Param::Text(s) => Box::new(s),
                Param::Int(i) => Box::new(i),
                Param::Time(t) => Box::new(t),
                Param::TextList(v) => Box::new(v),
            }
        })
        .collect()
}

fn refs(bound: &Bound) -> Vec<&(dyn ToSql + Sync)> {
    bound
        .iter()
        .map(|v| v.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// Turns the plan's time filter into seq bounds, from the time index, once.
fn narrow_by_time(plan: &mut Plan, client: &mut impl GenericClient) -> Result<()> {
    let Some((sql, params)) = plan.time_bounds() else {
        return Ok(());
    };
    let bound = bind(params);
    let row = client.query_one(&sql, &refs(&bound)).map_err(pg_error)?;
    let min: Option<i64> = row.try_get(0).map_err(pg_error)?;
    let max: Option<i64> = row.try_get(1).map_err(pg_error)?;
    plan.narrow_to(min.zip(max));
    Ok(())
}

/// Decodes one row (columns in the shared order). The seq is read first so that any later
/// failure names it.
fn decode(row: &postgres::Row) -> (Option<u64>, Result<Record>) {
    let seq = match row.try_get::<_, i64>(1) {
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
        let tenant = row
            .try_get::<_, &str>(0)
            .map(TenantId::from)
            .map_err(|e| bad(format!("column 0: {e}")))?;
        let id = row
            .try_get::<_, uuid::Uuid>(2)
            .map_err(|e| bad(e.to_string()))?;
        let occurred_at = row
            .try_get::<_, chrono::DateTime<chrono::Utc>>(3)
            .map_err(|e| bad(e.to_string()))?;
        let kind = need(4)?;
        let actor = Actor {
            kind: ActorKind::parse(&kind)
                .ok_or_else(|| bad(format!("unknown actor kind {kind:?}")))?,
            id: need(5)?,
            display: get(6)?,
        };
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
        let seal: Option<Vec<u8>> = row.try_get(19).map_err(|e| bad(e.to_string()))?;
        let json = need(18)?;
        let value: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| bad(format!("event is not JSON: {e}")))?;
        let event = Event::from_value(value).map_err(bad)?;
        // The column the event filter reads is derived from the hashed event: it must agree.
        let name = need(7)?;
        if name != event.name() {
            return Err(bad(format!(
                "event_name: {name:?} disagrees with the event's own name {:?}",
                event.name()
            )));
        }
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
            seal: seal
                .map(|s| Digest::from_slice(&s).map_err(|w| bad(format!("seal: {w}"))))
                .transpose()?,
        })
    })();
    (Some(seq), record)
}

/// Reads a query a page at a time, each page on a pooled connection returned right after.
pub(crate) struct PgPages<'a> {
    sink: &'a PostgresSink,
    plan: Plan,
    sql: String,
}

impl<'a> PgPages<'a> {
    pub(crate) fn new(sink: &'a PostgresSink, query: &Query) -> Result<Self> {
        let plan = plan(sink, query)?;
        Ok(PgPages {
            sink,
            sql: plan.page_sql(&COLUMNS),
            plan,
        })
    }

    fn read(&mut self, want: usize) -> Result<Fetched> {
        let (plan, sql) = (&mut self.plan, &self.sql);
        let rows = self.sink.with_client(|client| {
            narrow_by_time(plan, client)?;
            if plan.is_empty() {
                return Ok(Vec::new());
            }
            let bound = bind(plan.params(want as i64));
            client.query(sql, &refs(&bound)).map_err(pg_error)
        })?;
        if self.plan.is_empty() {
            return Ok(Fetched {
                records: Vec::new(),
                last: true,
            });
        }
        let mut last = rows.len() < want;
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            let (seq, record) = decode(row);
            match seq {
                Some(s) => self.plan.advance(i64::try_from(s).unwrap_or(i64::MAX)),
                // Without a seq the keyset cannot move past this row: stop after it.
                None => last = true,
            }
            records.push(record);
        }
        Ok(Fetched { records, last })
    }
}

impl PageSource for PgPages<'_> {
    fn next_page(&mut self, want: usize) -> Fetched {
        // A failed read (the connection is gone, the statement failed) ends the stream.
        self.read(want).unwrap_or_else(Fetched::failed)
    }
}

/// How many records match `q`, ignoring its limit.
pub(crate) fn count(sink: &PostgresSink, q: &Query) -> Result<u64> {
    let mut plan = plan(sink, q)?;
    sink.with_client(|client| {
        narrow_by_time(&mut plan, client)?;
        if plan.is_empty() {
            return Ok(0);
        }
        let bound = bind(plan.params(0));
        let row = client
            .query_one(&plan.count_sql(), &refs(&bound))
            .map_err(pg_error)?;
        let n: i64 = row.try_get(0).map_err(pg_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    })
}

/// PostgreSQL's plan (`EXPLAIN`) for each statement `q` runs, one line per plan line.
pub(crate) fn explain(sink: &PostgresSink, q: &Query) -> Result<Vec<String>> {
    let plan = plan(sink, q)?;
    sink.with_client(|client| {
        let mut lines = Vec::new();
        let mut run = |sql: &str, params: Vec<Param>| -> Result<()> {
            let bound = bind(params);
            for row in client
                .query(&format!("EXPLAIN {sql}"), &refs(&bound))
                .map_err(pg_error)?
            {
                lines.push(row.try_get::<_, String>(0).map_err(pg_error)?);
            }
            Ok(())
        };
        if let Some((sql, params)) = plan.time_bounds() {
            run(&sql, params)?;
        }
        run(&plan.page_sql(&COLUMNS), plan.params(PAGE as i64))?;
        Ok(lines)
    })
}

/// Visits the tenant's mention rows with a seq in `first..=last`, a window of seqs at a time.
///
/// Each window is a plain range of seqs, read in no particular order (the caller takes any),
/// so that the `(tenant, seq)` index serves it whatever the planner believes about the
/// table. A keyset scan ordered by the primary key, which this replaced, let the planner pick
/// the seq index and sort every remaining row of the range for each page when the table had
/// no statistics yet (a bulk write not yet analyzed): a 1,000,000-record purge spent ~150 s
/// there, 0.6 s per page where the sorted scan takes 15 ms.
pub(crate) fn scan_mentions(
    sink: &PostgresSink,
    tenant: &TenantId,
    first: u64,
    last: u64,
    visit: &mut dyn FnMut(crate::sink::MentionRow<'_>),
) -> Result<()> {
    /// Seqs per window: a few thousand rows at a time (a record names a handful of entities).
    const WINDOW: i64 = 4096;
    let sql = format!(
        "SELECT kind, entity_id, seq FROM {} WHERE tenant = $1 AND seq >= $2 AND seq <= $3",
        sink.store().tables.mentions
    );
    let first = i64::try_from(first).unwrap_or(i64::MAX);
    let last = i64::try_from(last).unwrap_or(i64::MAX);
    // The windows cover only the seqs the tenant's rows span, not all of `first..=last`: a
    // range given as "up to u64::MAX", or one that starts before a purged prefix, must not
    // walk empty windows.
    let span: (Option<i64>, Option<i64>) = sink.with_client(|client| {
        client
            .query_one(
                &format!(
                    "SELECT min(seq), max(seq) FROM {} WHERE tenant = $1",
                    sink.store().tables.mentions
                ),
                &[&tenant.as_str()],
            )
            .and_then(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .map_err(pg_error)
    })?;
    let (Some(low), Some(high)) = span else {
        return Ok(());
    };
    let last = last.min(high);
    let mut start = first.max(low);
    while start <= last {
        let end = start.saturating_add(WINDOW - 1).min(last);
        // Read on the connection's side (see `with_client`), visit here: `visit` need not be
        // `Send`.
        let rows = sink.with_client(|client| {
            let rows = client
                .query(&sql, &[&tenant.as_str(), &start, &end])
                .map_err(pg_error)?;
            rows.iter()
                .map(|row| -> Result<(String, String, i64)> {
                    Ok((
                        row.try_get(0).map_err(pg_error)?,
                        row.try_get(1).map_err(pg_error)?,
                        row.try_get(2).map_err(pg_error)?,
                    ))
                })
                .collect::<Result<Vec<_>>>()
        })?;
        for (kind, id, seq) in rows {
            visit(crate::sink::MentionRow {
                kind: &kind,
                id: &id,
                seq: u64::try_from(seq).unwrap_or(0),
            });
        }
        if end == i64::MAX {
            break;
        }
        start = end + 1;
    }
    Ok(())
}
