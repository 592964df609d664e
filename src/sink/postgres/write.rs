//! Appending: per-tenant serialization on a head row, then rows in by COPY or INSERT.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::GenericClient;
use uuid::Uuid;

use super::pg_error;
use super::schema::Tables;
use crate::digest::{ChainAlgorithm, ChainKey, Digest};
use crate::error::{Error, Result};
use crate::record::{Head, Receipt, TenantId};
use crate::sink::row::{column_list, Row, Sequencer, Work};

/// From this many rows on, rows go in with one binary COPY instead of one INSERT each: COPY
/// costs a fixed extra round trip but streams any number of rows.
const COPY_FROM: usize = 16;

/// A tenant's head row, locked for the rest of the transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LockedHead {
    pub(crate) head: Head,
    pub(crate) anchor: Head,
}

impl LockedHead {
    /// A locked head row as selected by [`lock_heads_sql`]: the tenant, its head (seq, hash)
    /// and its anchor (seq, hash).
    pub(crate) fn of(
        tenant: String,
        head: (i64, Vec<u8>),
        anchor: (i64, Vec<u8>),
    ) -> Result<(TenantId, Self)> {
        let decode = |(seq, hash): (i64, Vec<u8>)| -> Result<Head> {
            let seq =
                u64::try_from(seq).map_err(|_| Error::corrupt(0, "negative seq in a head"))?;
            Ok(Head {
                seq,
                hash: Digest::from_slice(&hash).map_err(|why| Error::corrupt(seq, why))?,
            })
        };
        Ok((
            TenantId::new(tenant),
            LockedHead {
                head: decode(head)?,
                anchor: decode(anchor)?,
            },
        ))
    }

    /// What the tenant's next record links to: its last record, else its anchor; `None` for a
    /// tenant with no trail and no purge point, into which an import may start anywhere.
    pub(crate) fn tip(&self) -> Option<Head> {
        (self.head.seq > 0 || self.anchor.seq > 0).then_some(self.head)
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
    let [create, lock] = lock_heads_sql(t);
    tx.execute(&create, &[&names, &zero]).map_err(pg_error)?;
    let rows = tx.query(&lock, &[&names]).map_err(pg_error)?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (tenant, locked) = LockedHead::of(
            row.try_get(0).map_err(pg_error)?,
            (
                row.try_get(1).map_err(pg_error)?,
                row.try_get(2).map_err(pg_error)?,
            ),
            (
                row.try_get(3).map_err(pg_error)?,
                row.try_get(4).map_err(pg_error)?,
            ),
        )?;
        out.insert(tenant, locked);
    }
    Ok(out)
}

/// The two statements that lock the head rows of a set of tenants (`$1`, a `text[]`):
/// creating the missing ones (`$2`: the zero hash), then locking them all in name order,
/// selecting `tenant, seq, hash, anchor_seq, anchor_hash` ([`LockedHead::of`]).
pub(crate) fn lock_heads_sql(t: &Tables) -> [String; 2] {
    [
        format!(
            "INSERT INTO {} (tenant, seq, hash, anchor_seq, anchor_hash) \
             SELECT name, 0, $2, 0, $2 FROM unnest($1::text[]) AS name ORDER BY name \
             ON CONFLICT (tenant) DO NOTHING",
            t.heads
        ),
        format!(
            "SELECT tenant, seq, hash, anchor_seq, anchor_hash FROM {} WHERE tenant = ANY($1) \
             ORDER BY tenant FOR UPDATE",
            t.heads
        ),
    ]
}

/// Moves a tenant's head (`$1`) to seq `$2`, hash `$3`, anchor `$4`/`$5`.
pub(crate) fn update_head_sql(t: &Tables) -> String {
    format!(
        "UPDATE {} SET seq = $2, hash = $3, anchor_seq = $4, anchor_hash = $5 WHERE tenant = $1",
        t.heads
    )
}

/// Inserts mention rows given as four arrays: tenants, kinds, ids, seqs.
pub(crate) fn insert_mentions_sql(t: &Tables) -> String {
    format!(
        "INSERT INTO {} (tenant, kind, entity_id, seq) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])",
        t.mentions
    )
}

/// The insert of one record (`{records}` to be replaced by the table), `$1`..`$20` in the
/// shared column order ([`Params`]).
pub(crate) fn insert_record_sql(t: &Tables) -> String {
    INSERT_RECORD.replace("{records}", &t.records)
}

static INSERT_RECORD: LazyLock<String> = LazyLock::new(|| {
    let placeholders: Vec<String> = (1..=20).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO {{records}} ({}) VALUES ({})",
        column_list(""),
        placeholders.join(", ")
    )
});

/// The column types of [`RECORD_COLUMNS`](crate::sink::row::RECORD_COLUMNS), in order.
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
    Type::BYTEA,
];

/// The SQL parameters of one row, borrowed from it: the store's one row mapping (bound by the
/// sync client here, and by sqlx in [`crate::sqlx`]).
pub(crate) struct Params<'r> {
    pub(crate) tenant: &'r str,
    pub(crate) seq: i64,
    pub(crate) id: Uuid,
    pub(crate) occurred_at: DateTime<Utc>,
    pub(crate) actor_kind: &'static str,
    pub(crate) actor_id: &'r str,
    pub(crate) actor_display: Option<&'r str>,
    pub(crate) event_name: &'r str,
    pub(crate) outcome: &'static str,
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<&'r str>,
    pub(crate) request_id: Option<&'r str>,
    pub(crate) correlation_id: Option<&'r str>,
    pub(crate) reason: Option<&'r str>,
    pub(crate) schema_version: i32,
    pub(crate) chain: &'static str,
    pub(crate) prev_hash: &'r [u8],
    pub(crate) hash: &'r [u8],
    pub(crate) event_json: String,
    pub(crate) seal: Option<&'r [u8]>,
}

impl<'r> Params<'r> {
    pub(crate) fn of(r: &'r Row<'r>) -> Result<Self> {
        Ok(Params {
            tenant: r.tenant.as_str(),
            seq: r.seq_i64()?,
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
            schema_version: i32::try_from(r.schema_version)
                .map_err(|_| Error::invalid("schema_version", "does not fit PostgreSQL"))?,
            chain: r.chain.as_str(),
            prev_hash: &r.prev_hash.0,
            hash: &r.hash.0,
            event_json: r.event_json(),
            seal: r.seal.as_ref().map(|s| &s.0[..]),
        })
    }

    fn sql(&self) -> [&(dyn ToSql + Sync); 20] {
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
            &self.seal,
        ]
    }
}

/// The receipts of the rows written, and the anchors imports set (tenant, anchor).
type Written = (Vec<Receipt>, Vec<(TenantId, Head)>);

/// Writes `count` rows and their entity mentions, and returns their receipts and the anchors
/// imports set (tenant, anchor).
///
/// The rows come from an iterator so that a large batch is sealed (hashed, its JSON written)
/// while the server already ingests the rows before it: the client's work overlaps the
/// server's instead of preceding it.
fn write_rows<'a>(
    tx: &mut impl GenericClient,
    t: &Tables,
    count: usize,
    rows: impl Iterator<Item = Result<Row<'a>>>,
) -> Result<Written> {
    let mut receipts = Vec::with_capacity(count);
    let mut anchors = Vec::new();
    let mut mentions: Vec<(String, String, String, i64)> = Vec::with_capacity(count * 2);
    let mut note = |row: &Row<'a>| -> Result<()> {
        let seq = row.seq_i64()?;
        for m in row.mentions() {
            mentions.push((
                row.tenant.as_str().to_owned(),
                m.kind.as_str().to_owned(),
                m.id.as_str().to_owned(),
                seq,
            ));
        }
        Ok(())
    };
    let mut take = |row: &Row<'a>| -> Result<()> {
        note(row)?;
        receipts.push(row.receipt());
        if let Some(a) = row.new_anchor {
            anchors.push((row.tenant.clone(), a));
        }
        Ok(())
    };
    if count >= COPY_FROM {
        let sink = tx
            .copy_in(&format!(
                "COPY {} ({}) FROM STDIN BINARY",
                t.records,
                column_list("")
            ))
            .map_err(pg_error)?;
        let mut w = BinaryCopyInWriter::new(sink, RECORD_TYPES);
        for row in rows {
            let row = row?;
            w.write(&Params::of(&row)?.sql()).map_err(pg_error)?;
            take(&row)?;
        }
        w.finish().map_err(pg_error)?;
    } else {
        let insert = tx.prepare(&insert_record_sql(t)).map_err(pg_error)?;
        for row in rows {
            let row = row?;
            tx.execute(&insert, &Params::of(&row)?.sql())
                .map_err(pg_error)?;
            take(&row)?;
        }
    }
    // Sorted, the mentions go into their primary key's B-tree in key order.
    mentions.sort_unstable();
    mentions.dedup();
    if mentions.len() >= COPY_FROM {
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
        let mut cols: (Vec<&str>, Vec<&str>, Vec<&str>, Vec<i64>) = Default::default();
        for (tenant, kind, id, seq) in &mentions {
            cols.0.push(tenant);
            cols.1.push(kind);
            cols.2.push(id);
            cols.3.push(*seq);
        }
        tx.execute(
            &insert_mentions_sql(t),
            &[&cols.0, &cols.1, &cols.2, &cols.3],
        )
        .map_err(pg_error)?;
    }
    Ok((receipts, anchors))
}

/// Where each tenant's head row moves: to the last record written for it, with its anchor
/// (kept, or set by an import into an empty tenant). Parameters of [`update_head_sql`].
pub(crate) fn head_moves(
    heads: &BTreeMap<TenantId, LockedHead>,
    moved: impl Iterator<Item = (TenantId, Head)>,
    anchors: &[(TenantId, Head)],
) -> Result<Vec<HeadMove>> {
    moved
        .map(|(tenant, head)| {
            let anchor = anchors
                .iter()
                .find(|(t, _)| *t == tenant)
                .map(|(_, a)| *a)
                .or_else(|| heads.get(&tenant).map(|h| h.anchor))
                .unwrap_or(Head {
                    seq: 0,
                    hash: Digest::ZERO,
                });
            Ok(HeadMove {
                seq: crate::sink::row::to_i64(head.seq)?,
                hash: head.hash,
                anchor_seq: crate::sink::row::to_i64(anchor.seq)?,
                anchor_hash: anchor.hash,
                tenant,
            })
        })
        .collect()
}

/// One head row's new values.
pub(crate) struct HeadMove {
    pub(crate) tenant: TenantId,
    pub(crate) seq: i64,
    pub(crate) hash: Digest,
    pub(crate) anchor_seq: i64,
    pub(crate) anchor_hash: Digest,
}

/// Moves head rows forward (see [`head_moves`]).
fn update_heads(tx: &mut impl GenericClient, t: &Tables, moves: &[HeadMove]) -> Result<()> {
    let stmt = tx.prepare(&update_head_sql(t)).map_err(pg_error)?;
    for m in moves {
        let (hash, anchor_hash): (&[u8], &[u8]) = (&m.hash.0, &m.anchor_hash.0);
        tx.execute(
            &stmt,
            &[
                &m.tenant.as_str(),
                &m.seq,
                &hash,
                &m.anchor_seq,
                &anchor_hash,
            ],
        )
        .map_err(pg_error)?;
    }
    Ok(())
}

/// The tenants a set of jobs appends to.
pub(crate) fn tenants_of<'w>(jobs: &[&'w Work]) -> BTreeSet<&'w TenantId> {
    jobs.iter()
        .flat_map(|w| -> Box<dyn Iterator<Item = &TenantId>> {
            match w {
                Work::Prepared(b) => Box::new(b.iter().map(|p| p.tenant())),
                Work::Sealed(b) => Box::new(b.iter().map(|r| &r.tenant)),
            }
        })
        .collect()
}

/// Appends jobs in the caller's transaction: locks the heads of their tenants, seals (or, for
/// imports, checks) every record against them, writes the rows, moves the heads. Returns the
/// receipts of each job. The one write path of the store: group commits, a host's own
/// transaction and a purge's record all come through here.
pub(crate) fn append(
    tx: &mut impl GenericClient,
    t: &Tables,
    (algorithm, key): (ChainAlgorithm, Option<&ChainKey>),
    jobs: &[&Work],
) -> Result<Vec<Vec<Receipt>>> {
    let tenants = tenants_of(jobs);
    if tenants.is_empty() {
        return Ok(jobs.iter().map(|_| Vec::new()).collect());
    }
    let heads = lock_heads(tx, t, &tenants)?;
    let mut sequencer = Sequencer::new(algorithm, key, |tenant: &TenantId| {
        heads
            .get(tenant)
            .map(LockedHead::tip)
            .ok_or_else(|| Error::store("postgres", "a locked head row went missing"))
    });
    let sizes: Vec<usize> = jobs.iter().map(|w| w.len()).collect();
    let count = sizes.iter().sum();
    let (receipts, anchors) = write_rows(tx, t, count, sequencer.rows(jobs))?;
    let moved: Vec<(TenantId, Head)> = sequencer
        .tips()
        .map(|(tenant, head)| (tenant.clone(), head))
        .collect();
    update_heads(tx, t, &head_moves(&heads, moved.into_iter(), &anchors)?)?;
    let mut receipts = receipts.into_iter();
    Ok(sizes
        .into_iter()
        .map(|n| receipts.by_ref().take(n).collect())
        .collect())
}
