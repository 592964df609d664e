//! Appending: per-tenant serialization on a head row, then rows in by COPY or INSERT.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::GenericClient;
use uuid::Uuid;

use super::pg_error;
use super::schema::Tables;
use crate::chain::{ChainAlgorithm, Digest};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::record::{Actor, Context, Head, Outcome, Receipt, Record, TenantId};
use crate::sink::{check_continuation, PreparedRecord};

/// From this many rows on, rows go in with one binary COPY instead of one INSERT each: COPY
/// costs a fixed extra round trip but streams any number of rows.
const COPY_FROM: usize = 16;

/// A tenant's head row, locked for the rest of the transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LockedHead {
    pub(crate) head: Head,
    pub(crate) anchor_seq: u64,
    /// A new anchor hash to store, when an import set the anchor.
    pub(crate) anchor_hash: Option<Digest>,
}

impl LockedHead {
    fn anchor_hash_or_zero(&self) -> Digest {
        self.anchor_hash.unwrap_or(Digest::ZERO)
    }

    /// Whether the tenant has no records and no purge point: an import may start anywhere.
    fn is_empty(&self) -> bool {
        self.head.seq == 0 && self.anchor_seq == 0
    }
}

/// Locks the head rows of `tenants` (creating missing ones), in name order so that two
/// writers locking overlapping sets cannot deadlock. Tenants not in the set are not blocked.
pub(crate) fn lock_heads(
    tx: &mut impl GenericClient,
    t: &Tables,
    tenants: &BTreeSet<&TenantId>,
) -> Result<BTreeMap<TenantId, LockedHead>> {
    let names: Vec<&str> = tenants.iter().map(|t| t.as_str()).collect();
    let zero: &[u8] = &Digest::ZERO.0;
    tx.execute(
        &format!(
            "INSERT INTO {} (tenant, seq, hash, anchor_seq, anchor_hash) \
             SELECT name, 0, $2, 0, $2 FROM unnest($1::text[]) AS name ORDER BY name \
             ON CONFLICT (tenant) DO NOTHING",
            t.heads
        ),
        &[&names, &zero],
    )
    .map_err(pg_error)?;
    let rows = tx
        .query(
            &format!(
                "SELECT tenant, seq, hash, anchor_seq FROM {} WHERE tenant = ANY($1) \
                 ORDER BY tenant FOR UPDATE",
                t.heads
            ),
            &[&names],
        )
        .map_err(pg_error)?;
    let mut out = BTreeMap::new();
    for row in rows {
        let tenant: String = row.try_get(0).map_err(pg_error)?;
        let seq: i64 = row.try_get(1).map_err(pg_error)?;
        let hash: Vec<u8> = row.try_get(2).map_err(pg_error)?;
        let anchor_seq: i64 = row.try_get(3).map_err(pg_error)?;
        let hash = Digest::from_slice(&hash).map_err(|why| Error::corrupt(seq as u64, why))?;
        out.insert(
            TenantId::new(tenant),
            LockedHead {
                head: Head {
                    seq: seq as u64,
                    hash,
                },
                anchor_seq: anchor_seq as u64,
                anchor_hash: None,
            },
        );
    }
    Ok(out)
}

/// One row of `audit_records`, borrowed from a prepared or sealed record.
pub(crate) struct Row<'a> {
    tenant: &'a TenantId,
    seq: u64,
    id: Uuid,
    occurred_at: DateTime<Utc>,
    actor: &'a Actor,
    event: &'a Event,
    event_json: String,
    outcome: Outcome,
    context: &'a Context,
    schema_version: u32,
    chain: ChainAlgorithm,
    prev_hash: Digest,
    hash: Digest,
}

impl<'a> Row<'a> {
    pub(crate) fn prepared(
        p: &'a PreparedRecord,
        chain: ChainAlgorithm,
        seq: u64,
        prev: Digest,
    ) -> Self {
        Row {
            tenant: &p.tenant,
            seq,
            id: p.id,
            occurred_at: p.occurred_at,
            actor: &p.actor,
            event: &p.event,
            event_json: p.event_json(),
            outcome: p.outcome,
            context: &p.context,
            schema_version: p.schema_version,
            chain,
            prev_hash: prev,
            hash: p.hash_at(chain, seq, &prev),
        }
    }

    pub(crate) fn sealed(r: &'a Record) -> Self {
        Row {
            tenant: &r.tenant,
            seq: r.seq,
            id: r.id,
            occurred_at: r.occurred_at,
            actor: &r.actor,
            event: &r.event,
            event_json: r.event.to_value().to_string(),
            outcome: r.outcome,
            context: &r.context,
            schema_version: r.schema_version,
            chain: r.chain,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }

    pub(crate) fn receipt(&self) -> Receipt {
        Receipt {
            seq: self.seq,
            id: self.id,
            hash: self.hash,
        }
    }
}

const RECORD_COLUMNS: &str = "tenant, seq, id, occurred_at, actor_kind, actor_id, \
    actor_display, event_name, outcome, ip, user_agent, request_id, correlation_id, reason, \
    schema_version, chain, prev_hash, hash, event_json";

const RECORD_TYPES: &[Type] = &[
    Type::TEXT,
    Type::INT8,
    Type::UUID,
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT4,
    Type::TEXT,
    Type::BYTEA,
    Type::BYTEA,
    Type::TEXT,
];

/// The SQL parameters of one row, borrowed from it.
struct Params<'r> {
    tenant: &'r str,
    seq: i64,
    id: Uuid,
    occurred_at: DateTime<Utc>,
    actor_kind: &'static str,
    actor_id: &'r str,
    actor_display: Option<&'r str>,
    event_name: &'r str,
    outcome: &'static str,
    ip: Option<String>,
    user_agent: Option<&'r str>,
    request_id: Option<&'r str>,
    correlation_id: Option<&'r str>,
    reason: Option<&'r str>,
    schema_version: i32,
    chain: &'static str,
    prev_hash: &'r [u8],
    hash: &'r [u8],
    event_json: &'r str,
}

impl<'r> Params<'r> {
    fn of(r: &'r Row<'r>) -> Self {
        Params {
            tenant: r.tenant.as_str(),
            seq: r.seq as i64,
            id: r.id,
            occurred_at: r.occurred_at,
            actor_kind: r.actor.kind.as_str(),
            actor_id: &r.actor.id,
            actor_display: r.actor.display.as_deref(),
            event_name: r.event.name(),
            outcome: r.outcome.as_str(),
            ip: r.context.ip.map(|ip| ip.to_string()),
            user_agent: r.context.user_agent.as_deref(),
            request_id: r.context.request_id.as_deref(),
            correlation_id: r.context.correlation_id.as_deref(),
            reason: r.context.reason.as_deref(),
            schema_version: r.schema_version as i32,
            chain: r.chain.as_str(),
            prev_hash: &r.prev_hash.0,
            hash: &r.hash.0,
            event_json: &r.event_json,
        }
    }

    fn sql(&self) -> [&(dyn ToSql + Sync); 19] {
        [
            &self.tenant,
            &self.seq,
            &self.id,
            &self.occurred_at,
            &self.actor_kind,
            &self.actor_id,
            &self.actor_display,
            &self.event_name,
            &self.outcome,
            &self.ip,
            &self.user_agent,
            &self.request_id,
            &self.correlation_id,
            &self.reason,
            &self.schema_version,
            &self.chain,
            &self.prev_hash,
            &self.hash,
            &self.event_json,
        ]
    }
}

/// Writes `count` rows and their entity mentions (each entity once per record, whatever its
/// roles) and returns their receipts.
///
/// The rows come from an iterator so that a large batch is sealed (hashed, its JSON written)
/// while the server already ingests the rows before it: the client's work overlaps the
/// server's instead of preceding it.
pub(crate) fn write_rows<'a>(
    tx: &mut impl GenericClient,
    t: &Tables,
    count: usize,
    rows: impl Iterator<Item = Result<Row<'a>>>,
) -> Result<Vec<Receipt>> {
    let mut receipts = Vec::with_capacity(count);
    let mut mentions: Vec<(&'a str, &'a str, &'a str, i64)> = Vec::with_capacity(count * 2);
    let mut note = |row: &Row<'a>| {
        for m in row.event.mentions() {
            mentions.push((
                row.tenant.as_str(),
                m.kind.as_str(),
                m.id.as_str(),
                row.seq as i64,
            ));
        }
    };
    if count >= COPY_FROM {
        let sink = tx
            .copy_in(&format!(
                "COPY {} ({RECORD_COLUMNS}) FROM STDIN BINARY",
                t.records
            ))
            .map_err(pg_error)?;
        let mut w = BinaryCopyInWriter::new(sink, RECORD_TYPES);
        for row in rows {
            let row = row?;
            w.write(&Params::of(&row).sql()).map_err(pg_error)?;
            note(&row);
            receipts.push(row.receipt());
        }
        w.finish().map_err(pg_error)?;
    } else {
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {} ({RECORD_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
                t.records
            ))
            .map_err(pg_error)?;
        for row in rows {
            let row = row?;
            tx.execute(&insert, &Params::of(&row).sql())
                .map_err(pg_error)?;
            note(&row);
            receipts.push(row.receipt());
        }
    }
    // Sorted, the mentions go into their primary key's B-tree in key order.
    mentions.sort_unstable();
    mentions.dedup();
    if count >= COPY_FROM {
        let sink = tx
            .copy_in(&format!(
                "COPY {} (tenant, kind, entity_id, seq) FROM STDIN BINARY",
                t.mentions
            ))
            .map_err(pg_error)?;
        let mut w =
            BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8]);
        for (tenant, kind, id, seq) in &mentions {
            w.write(&[tenant, kind, id, seq]).map_err(pg_error)?;
        }
        w.finish().map_err(pg_error)?;
    } else if !mentions.is_empty() {
        let (tenants, kinds, ids, seqs): (Vec<&str>, Vec<&str>, Vec<&str>, Vec<i64>) = mentions
            .iter()
            .fold(Default::default(), |mut acc, (t, k, i, s)| {
                acc.0.push(t);
                acc.1.push(k);
                acc.2.push(i);
                acc.3.push(*s);
                acc
            });
        tx.execute(
            &format!(
                "INSERT INTO {} (tenant, kind, entity_id, seq) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])",
                t.mentions
            ),
            &[&tenants, &kinds, &ids, &seqs],
        )
        .map_err(pg_error)?;
    }
    Ok(receipts)
}

/// Moves head rows forward to the last record written per tenant.
fn update_heads(
    tx: &mut impl GenericClient,
    t: &Tables,
    heads: &BTreeMap<TenantId, LockedHead>,
) -> Result<()> {
    let stmt = tx
        .prepare(&format!(
            "UPDATE {} SET seq = $2, hash = $3, anchor_seq = $4, \
             anchor_hash = CASE WHEN $4 > anchor_seq THEN $5 ELSE anchor_hash END \
             WHERE tenant = $1",
            t.heads
        ))
        .map_err(pg_error)?;
    for (tenant, h) in heads {
        let seq = h.head.seq as i64;
        let anchor = h.anchor_seq as i64;
        let hash: &[u8] = &h.head.hash.0;
        let anchor_hash: &[u8] = &h.anchor_hash_or_zero().0;
        tx.execute(
            &stmt,
            &[&tenant.as_str(), &seq, &hash, &anchor, &anchor_hash],
        )
        .map_err(pg_error)?;
    }
    Ok(())
}

/// Appends batches of prepared records in the caller's transaction: locks the heads of
/// their tenants, assigns seqs and hashes, writes rows, moves the heads. Returns the receipts
/// of each batch.
pub(crate) fn append_prepared(
    tx: &mut impl GenericClient,
    t: &Tables,
    algorithm: ChainAlgorithm,
    batches: &[&[PreparedRecord]],
) -> Result<Vec<Vec<Receipt>>> {
    let tenants: BTreeSet<&TenantId> = batches
        .iter()
        .flat_map(|b| b.iter().map(|p| &p.tenant))
        .collect();
    if tenants.is_empty() {
        return Ok(batches.iter().map(|_| Vec::new()).collect());
    }
    let mut heads = lock_heads(tx, t, &tenants)?;
    let sizes: Vec<usize> = batches.iter().map(|b| b.len()).collect();
    let count = sizes.iter().sum();
    let rows = batches.iter().flat_map(|b| b.iter()).map(|p| {
        let h = heads
            .get_mut(&p.tenant)
            .ok_or_else(|| Error::store("postgres", "a locked head row went missing"))?;
        let row = Row::prepared(p, algorithm, h.head.seq + 1, h.head.hash);
        h.head = Head {
            seq: row.seq,
            hash: row.hash,
        };
        Ok(row)
    });
    let receipts = write_rows(tx, t, count, rows)?;
    update_heads(tx, t, &heads)?;
    let mut receipts = receipts.into_iter();
    Ok(sizes
        .into_iter()
        .map(|n| receipts.by_ref().take(n).collect())
        .collect())
}

/// Appends sealed records (an import) in the caller's transaction, checking that each one
/// continues its tenant's trail.
pub(crate) fn append_sealed(
    tx: &mut impl GenericClient,
    t: &Tables,
    algorithm: ChainAlgorithm,
    records: &[Record],
) -> Result<Vec<Receipt>> {
    let tenants: BTreeSet<&TenantId> = records.iter().map(|r| &r.tenant).collect();
    if tenants.is_empty() {
        return Ok(Vec::new());
    }
    let mut heads = lock_heads(tx, t, &tenants)?;
    for (i, r) in records.iter().enumerate() {
        let h = heads
            .get_mut(&r.tenant)
            .ok_or_else(|| Error::store("postgres", "a locked head row went missing"))?;
        let current = (!h.is_empty()).then_some(h.head);
        check_continuation(algorithm, current, r)
            .map_err(|why| Error::invalid(format!("records[{i}]"), why))?;
        if h.is_empty() && r.seq > 1 {
            // The trail starts after a purge point: that point becomes the anchor.
            h.anchor_seq = r.seq - 1;
            h.anchor_hash = Some(r.prev_hash);
        }
        h.head = Head {
            seq: r.seq,
            hash: r.hash,
        };
    }
    let receipts = write_rows(
        tx,
        t,
        records.len(),
        records.iter().map(|r| Ok(Row::sealed(r))),
    )?;
    update_heads(tx, t, &heads)?;
    Ok(receipts)
}
