//! Retention purge: removing a tenant's oldest records, on record.
//!
//! [`PostgresSink::purge`] does in one transaction what the SQLite store's purge does: it
//! locks the tenant's head row (so appenders of that tenant wait and the chain stays linear),
//! works out the last seq to remove, declares that range in the transaction-local setting
//! the schema's triggers check (see the schema's version 2), deletes the tenant's mentions
//! and records up to it, moves the tenant's anchor there and appends an `audit.purged`
//! record through the same code every append uses. The remaining trail verifies from the
//! anchor.
//!
//! Who else could delete, and what catches it, is in [`PostgresSink::purge`]'s docs.

use postgres::Transaction;

use super::schema::{Tables, PURGE_GATE};
use super::write::append_prepared;
use super::{pg_error, PostgresSink};
use crate::chain::{ChainAlgorithm, Digest};
use crate::error::{Error, Result};
use crate::record::{Actor, Head, TenantId};
use crate::sink::purge::{PurgePoint, PurgeRecorder, PurgeReport};

impl PostgresSink {
    /// Removes a tenant's oldest records under a retention policy, in one transaction that
    /// also moves the tenant's [`anchor`](crate::AuditStore::anchor) to the last removed
    /// record and appends an `audit.purged` record
    /// ([`AuditPurged`](crate::event::AuditPurged)) by `actor`. The remaining trail verifies
    /// from the anchor; a [`Checkpoint`](crate::Checkpoint) older than the purge point still
    /// verifies (there is nothing left to compare it with, and the purge is on record).
    ///
    /// The same semantics as [`SqliteSink::purge`](crate::SqliteSink::purge): only a prefix
    /// is ever removed; nothing is removed (and nothing recorded) when the point is at or
    /// before the current anchor; a point past the newest record is taken as the newest
    /// record. Appends to the tenant wait for the purge, appends to other tenants do not. The
    /// purge record's time comes from the system clock.
    ///
    /// The connected role needs `DELETE` on `audit_records` and `audit_mentions` (see the
    /// [store's docs](super#least-privilege)), and the schema must be at version 2 or later,
    /// which [`connect`](Self::connect) makes it.
    ///
    /// The triggers cannot tell this purge from other SQL that declares the same
    /// transaction-local setting, which any role with `DELETE` rights can do. As in SQLite,
    /// what catches a removal made that way is the hash chain, checkpoints and purge records,
    /// not the triggers: a gap, or a removed prefix with the anchor left in place, is a break
    /// that [`verify`](crate::chain::verify) reports; removed newest records fail
    /// [`verify_against`](crate::chain::verify_against) a [`Checkpoint`](crate::Checkpoint)
    /// kept outside the store; an anchor moved as well (which needs the same declaration: a
    /// trigger keeps anchors still otherwise, and heads from moving back) has no
    /// `audit.purged` record that accounts for it. Give `DELETE` only to the role that runs
    /// retention.
    ///
    /// ```no_run
    /// use audit_log::{Actor, AuditStoreExt, PostgresSink, PurgePoint, TenantId};
    ///
    /// let store = PostgresSink::connect("postgres://retention@db.internal/app")?;
    /// let tenant = TenantId::default();
    /// let cutoff = chrono::Utc::now() - chrono::Duration::days(400);
    /// let report = store.purge(&tenant, PurgePoint::Before(cutoff), &Actor::service("retention"))?;
    /// println!("removed {} records; the trail starts after seq {}", report.removed, report.anchor.seq);
    /// assert!(store.verify(&tenant)?.is_intact());
    /// # Ok::<(), audit_log::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an actor the default [`Limits`](crate::Limits) refuse;
    /// [`Error::Corrupt`] when the record at the purge point is missing or unreadable; a
    /// [`Error::Store`] when the role may not delete; other store failures. On error nothing
    /// is removed.
    pub fn purge(
        &self,
        tenant: &TenantId,
        point: PurgePoint,
        actor: &Actor,
    ) -> Result<PurgeReport> {
        // Refuse a bad actor before locking anything.
        let recorder = PurgeRecorder::new(tenant, actor)?;
        let mut conn = self.client()?;
        let mut tx = conn.transaction().map_err(pg_error)?;
        let report = purge_in(
            &mut tx,
            &self.tables,
            self.algorithm,
            &recorder,
            tenant,
            point,
        )?;
        tx.commit().map_err(pg_error)?;
        Ok(report)
    }
}

/// The purge inside its transaction; on error the caller's transaction rolls back (dropping
/// it does), so nothing is removed.
fn purge_in(
    tx: &mut Transaction<'_>,
    t: &Tables,
    algorithm: ChainAlgorithm,
    recorder: &PurgeRecorder,
    tenant: &TenantId,
    point: PurgePoint,
) -> Result<PurgeReport> {
    let (tip, anchor) = match lock_head(tx, t, tenant)? {
        Some(locked) => locked,
        None => {
            let zero = Head {
                seq: 0,
                hash: Digest::ZERO,
            };
            return Ok(PurgeReport::nothing(tenant, zero));
        }
    };
    let (through, before) = point.resolve(tip, |time| {
        let row = tx
            .query_one(
                &format!(
                    "SELECT min(seq) FROM {} WHERE tenant = $1 AND occurred_at >= $2",
                    t.records
                ),
                &[&tenant.as_str(), &time],
            )
            .map_err(pg_error)?;
        let first_kept: Option<i64> = row.try_get(0).map_err(pg_error)?;
        Ok(first_kept.map(|s| u64::try_from(s).unwrap_or(0)))
    })?;
    if through <= anchor.seq {
        return Ok(PurgeReport::nothing(tenant, anchor));
    }
    let through_sql = i64::try_from(through).map_err(|_| Error::invalid("point", "too large"))?;
    let hash: Vec<u8> = tx
        .query_opt(
            &format!(
                "SELECT hash FROM {} WHERE tenant = $1 AND seq = $2",
                t.records
            ),
            &[&tenant.as_str(), &through_sql],
        )
        .map_err(pg_error)?
        .ok_or_else(|| Error::corrupt(through, "the record at the purge point is missing"))?
        .try_get(0)
        .map_err(pg_error)?;
    let new_anchor = Head {
        seq: through,
        hash: Digest::from_slice(&hash).map_err(|why| Error::corrupt(through, why))?,
    };

    tx.execute(
        "SELECT set_config($1, json_build_object('schema', $2::text, 'tenant', $3::text, \
         'through', $4::bigint)::text, true)",
        &[&PURGE_GATE, &t.name, &tenant.as_str(), &through_sql],
    )
    .map_err(pg_error)?;
    tx.execute(
        &format!("DELETE FROM {} WHERE tenant = $1 AND seq <= $2", t.mentions),
        &[&tenant.as_str(), &through_sql],
    )
    .map_err(pg_error)?;
    let removed = tx
        .execute(
            &format!("DELETE FROM {} WHERE tenant = $1 AND seq <= $2", t.records),
            &[&tenant.as_str(), &through_sql],
        )
        .map_err(pg_error)?;
    // The anchor moves under the same declaration (the head row's trigger checks it)...
    let anchor_hash: &[u8] = &new_anchor.hash.0;
    tx.execute(
        &format!(
            "UPDATE {} SET anchor_seq = $2, anchor_hash = $3 WHERE tenant = $1",
            t.heads
        ),
        &[&tenant.as_str(), &through_sql, &anchor_hash],
    )
    .map_err(pg_error)?;
    // ...which is closed as soon as that is done: nothing else in this transaction deletes.
    tx.execute("SELECT set_config($1, '', true)", &[&PURGE_GATE])
        .map_err(pg_error)?;

    let record = recorder.record(through, new_anchor.hash, removed, before)?;
    let receipt = append_prepared(tx, t, algorithm, &[&[record]])?
        .pop()
        .and_then(|mut batch| batch.pop())
        .ok_or_else(|| Error::store("postgres", "the purge record got no receipt"))?;
    Ok(PurgeReport {
        tenant: tenant.clone(),
        removed,
        anchor: new_anchor,
        receipt: Some(receipt),
    })
}

/// Locks the tenant's head row, the row every appender of the tenant locks, and returns the
/// newest seq and the anchor; `None` when the tenant has never had a record (there is
/// nothing to purge, and no row is made for it).
fn lock_head(
    tx: &mut Transaction<'_>,
    t: &Tables,
    tenant: &TenantId,
) -> Result<Option<(u64, Head)>> {
    let Some(row) = tx
        .query_opt(
            &format!(
                "SELECT seq, anchor_seq, anchor_hash FROM {} WHERE tenant = $1 FOR UPDATE",
                t.heads
            ),
            &[&tenant.as_str()],
        )
        .map_err(pg_error)?
    else {
        return Ok(None);
    };
    let seq: i64 = row.try_get(0).map_err(pg_error)?;
    let anchor_seq: i64 = row.try_get(1).map_err(pg_error)?;
    let anchor_hash: Vec<u8> = row.try_get(2).map_err(pg_error)?;
    let (seq, anchor_seq) = (seq as u64, anchor_seq as u64);
    let anchor = Head {
        seq: anchor_seq,
        hash: Digest::from_slice(&anchor_hash).map_err(|why| Error::corrupt(anchor_seq, why))?,
    };
    Ok(Some((seq, anchor)))
}
