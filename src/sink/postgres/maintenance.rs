//! Retention purge: removing a tenant's oldest records, on record.
//!
//! The store's [`Retention`]: a [`PurgePlan`] carried out in one transaction that locks the
//! tenant's head row (so appenders of that tenant wait and the chain stays linear), checks the
//! plan still holds, declares the range in the transaction-local setting the schema's
//! triggers check (see the schema's version 2), deletes the tenant's mentions and records up
//! to it, moves the tenant's anchor there and appends the plan's `audit.purged` record
//! through the same code every append uses. The remaining trail verifies from the anchor.
//!
//! Who else could delete, and what catches it: the [store's docs](super#retention).

use postgres::Transaction;

use super::schema::{Tables, PURGE_GATE};
use super::write::{append, lock_heads};
use super::{pg_error, PostgresSink};
use crate::digest::{ChainAlgorithm, ChainKey};
use crate::error::{Error, Result};
use crate::sink::row::{to_i64, Work};
use crate::sink::{PurgePlan, PurgeReport, Retention};

impl Retention for PostgresSink {
    fn remove_prefix(&self, plan: PurgePlan) -> Result<PurgeReport> {
        self.store().check_writable()?;
        let store = self.store();
        self.with_client(|conn| {
            let mut tx = conn.transaction().map_err(pg_error)?;
            let report = remove_prefix_in(
                &mut tx,
                &store.tables,
                (store.algorithm, store.key.as_ref()),
                plan,
            )?;
            tx.commit().map_err(pg_error)?;
            Ok(report)
        })
    }
}

/// The purge inside its transaction; on error the caller's transaction rolls back (dropping
/// it does), so nothing is removed.
fn remove_prefix_in(
    tx: &mut Transaction<'_>,
    t: &Tables,
    chain: (ChainAlgorithm, Option<&ChainKey>),
    plan: PurgePlan,
) -> Result<PurgeReport> {
    let PurgePlan {
        tenant,
        anchor,
        through,
        record,
    } = plan;
    // The row every appender of the tenant locks: appends wait for the purge.
    let heads = lock_heads(tx, t, &std::iter::once(&tenant).collect())?;
    let locked = heads
        .get(&tenant)
        .ok_or_else(|| Error::store("postgres", "a locked head row went missing"))?;
    if locked.anchor != anchor {
        return Err(Error::Busy {
            source: "the tenant's anchor moved since the purge was planned (another purge ran)"
                .into(),
        });
    }
    if through.seq <= anchor.seq {
        return Err(Error::invalid(
            "through",
            format!("seq {} is not after the anchor {}", through.seq, anchor.seq),
        ));
    }
    let through_sql = to_i64(through.seq)?;
    let hash: Option<Vec<u8>> = tx
        .query_opt(
            &format!(
                "SELECT hash FROM {} WHERE tenant = $1 AND seq = $2",
                t.records
            ),
            &[&tenant.as_str(), &through_sql],
        )
        .map_err(pg_error)?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(pg_error)?;
    if hash.as_deref() != Some(&through.hash.0[..]) {
        return Err(Error::invalid(
            "through",
            format!(
                "the record at seq {} is missing or has another hash than planned",
                through.seq
            ),
        ));
    }

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
    let anchor_hash: &[u8] = &through.hash.0;
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
    if removed != through.seq - anchor.seq {
        return Err(Error::corrupt(
            through.seq,
            format!(
                "{removed} records found after the anchor {} through seq {}, expected {}: \
                 the trail has gaps (verify it before purging)",
                anchor.seq,
                through.seq,
                through.seq - anchor.seq
            ),
        ));
    }
    let receipt = append(tx, t, chain, &[&Work::Prepared(vec![record])])?
        .pop()
        .and_then(|mut batch| batch.pop())
        .ok_or_else(|| Error::store("postgres", "the purge record got no receipt"))?;
    Ok(PurgeReport {
        tenant,
        removed,
        anchor: through,
        receipt: Some(receipt),
    })
}
