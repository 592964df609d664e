//! The record-to-row mapping every store writes through, said once: a [`Sequencer`] seals each
//! record of a [`Work`] into a [`Row`] (seq and hashes assigned to a prepared record, or checked
//! on a sealed one), and a store writes rows. The SQL stores' tables share one column list.

// Without a SQL store only the in-memory store seals, and it keeps records rather than rows.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{check_continuation, PreparedRecord};
use crate::digest::{ChainAlgorithm, ChainKey, Digest};
use crate::error::{Error, Result};
use crate::event::{Event, Mention};
use crate::record::{Actor, Context, Head, Outcome, Receipt, Record, TenantId};

/// What a caller asks a store to append: records it prepared, or records sealed elsewhere (an
/// import). Both go through the same serialization point.
#[derive(Debug)]
pub(crate) enum Work {
    Prepared(Vec<PreparedRecord>),
    Sealed(Vec<Record>),
}

impl Work {
    pub(crate) fn len(&self) -> usize {
        match self {
            Work::Prepared(b) => b.len(),
            Work::Sealed(b) => b.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The columns of a records table, in the order every SQL store writes and reads them.
pub(crate) const RECORD_COLUMNS: [&str; 20] = [
    "tenant",
    "seq",
    "id",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "actor_display",
    "event_name",
    "outcome",
    "ip",
    "user_agent",
    "request_id",
    "correlation_id",
    "reason",
    "schema_version",
    "chain",
    "prev_hash",
    "hash",
    "event_json",
    "seal",
];

/// [`RECORD_COLUMNS`] joined with `, `, each prefixed by `prefix` (`"r."` in a join).
pub(crate) fn column_list(prefix: &str) -> String {
    RECORD_COLUMNS
        .iter()
        .map(|c| format!("{prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One sealed record as a store writes it, borrowed from a prepared or a sealed record.
#[derive(Debug)]
pub(crate) struct Row<'a> {
    pub(crate) tenant: &'a TenantId,
    pub(crate) seq: u64,
    pub(crate) id: Uuid,
    pub(crate) occurred_at: DateTime<Utc>,
    pub(crate) actor: &'a Actor,
    pub(crate) event: &'a Event,
    pub(crate) outcome: Outcome,
    pub(crate) context: &'a Context,
    pub(crate) schema_version: u32,
    pub(crate) chain: ChainAlgorithm,
    pub(crate) prev_hash: Digest,
    pub(crate) hash: Digest,
    /// The seal under the store's chain key, in a keyed chain.
    pub(crate) seal: Option<Digest>,
    /// Set on the first record imported into an empty tenant that starts after a purge
    /// point: the tenant's anchor becomes this.
    pub(crate) new_anchor: Option<Head>,
}

impl Row<'_> {
    /// The event's stored JSON: compact, keys sorted (see [`Event::to_json`]).
    pub(crate) fn event_json(&self) -> String {
        self.event.to_json()
    }

    /// The seq as SQL stores keep it.
    pub(crate) fn seq_i64(&self) -> Result<i64> {
        to_i64(self.seq)
    }

    /// The entities the event names, each once (whatever its roles): its mention rows.
    pub(crate) fn mentions(&self) -> Vec<Mention<'_>> {
        let mut out: Vec<Mention<'_>> = Vec::new();
        for m in self.event.mentions() {
            if !out.iter().any(|o| o.kind == m.kind && o.id == m.id) {
                out.push(m);
            }
        }
        out
    }

    pub(crate) fn receipt(&self) -> Receipt {
        Receipt {
            seq: self.seq,
            id: self.id,
            hash: self.hash,
        }
    }

    pub(crate) fn head(&self) -> Head {
        Head {
            seq: self.seq,
            hash: self.hash,
        }
    }
}

/// A seq as the SQL stores keep it (a signed 64-bit integer).
pub(crate) fn to_i64(seq: u64) -> Result<i64> {
    i64::try_from(seq).map_err(|_| Error::invalid("seq", format!("{seq} does not fit a store")))
}

/// Assigns seqs and links (or checks them, for sealed records) against each tenant's tip, read
/// once per tenant from the store through `lookup` and then kept as rows are made.
///
/// `lookup` returns a tenant's last record, else its anchor after a purge, else `None` (a
/// tenant with no trail at all, into which an import may start anywhere).
pub(crate) struct Sequencer<'k, L> {
    algorithm: ChainAlgorithm,
    key: Option<&'k ChainKey>,
    /// Each tenant seen so far with its tip. Nearly every batch is of one tenant, so the
    /// list is searched; only a batch of more than [`SCANNED`] tenants builds `index`.
    tips: Vec<(TenantId, Option<Head>)>,
    index: HashMap<TenantId, usize>,
    lookup: L,
}

/// The most tenants a [`Sequencer`] finds by searching its list rather than a map.
const SCANNED: usize = 8;

impl<'k, L: FnMut(&TenantId) -> Result<Option<Head>>> Sequencer<'k, L> {
    /// Seals with `algorithm`, and with `key` too in a keyed chain.
    pub(crate) fn new(algorithm: ChainAlgorithm, key: Option<&'k ChainKey>, lookup: L) -> Self {
        Sequencer {
            algorithm,
            key,
            tips: Vec::new(),
            index: HashMap::new(),
            lookup,
        }
    }

    /// The tip of `tenant`, looked up in the store the first time.
    fn slot(&mut self, tenant: &TenantId) -> Result<&mut Option<Head>> {
        let found = if self.tips.len() <= SCANNED {
            self.tips.iter().position(|(t, _)| t == tenant)
        } else {
            self.index.get(tenant).copied()
        };
        let i = match found {
            Some(i) => i,
            None => {
                let tip = (self.lookup)(tenant)?;
                self.tips.push((tenant.clone(), tip));
                let i = self.tips.len() - 1;
                if self.tips.len() > SCANNED {
                    if self.index.is_empty() {
                        let all = self.tips.iter().enumerate();
                        self.index = all.map(|(i, (t, _))| (t.clone(), i)).collect();
                    } else {
                        self.index.insert(tenant.clone(), i);
                    }
                }
                i
            }
        };
        match self.tips.get_mut(i) {
            Some((_, tip)) => Ok(tip),
            // A tip placed just above: a defect here, never the input.
            None => Err(Error::Verification(format!(
                "the sequencer lost tenant {tenant}'s tip"
            ))),
        }
    }

    fn tip(&mut self, tenant: &TenantId) -> Result<Option<Head>> {
        self.slot(tenant).map(|t| *t)
    }

    fn advance(&mut self, tenant: &TenantId, head: Head) -> Result<()> {
        *self.slot(tenant)? = Some(head);
        Ok(())
    }

    /// Seals a prepared record at its tenant's next seq.
    pub(crate) fn seal<'a>(&mut self, p: &'a PreparedRecord) -> Result<Row<'a>> {
        let tip = self.tip(&p.tenant)?.unwrap_or(Head {
            seq: 0,
            hash: Digest::ZERO,
        });
        let seq = tip.seq + 1;
        let hash = p.hash_at(self.algorithm, seq, &tip.hash);
        let row = Row {
            tenant: &p.tenant,
            seq,
            id: p.id,
            occurred_at: p.occurred_at,
            actor: &p.actor,
            event: &p.event,
            outcome: p.outcome,
            context: &p.context,
            schema_version: p.schema_version,
            chain: self.algorithm,
            prev_hash: tip.hash,
            hash,
            seal: self.key.map(|k| k.seal(&hash)),
            new_anchor: None,
        };
        self.advance(&p.tenant, row.head())?;
        Ok(row)
    }

    /// Checks that the `i`th sealed record of an import continues its tenant's trail.
    pub(crate) fn check<'a>(&mut self, i: usize, r: &'a Record) -> Result<Row<'a>> {
        let tip = self.tip(&r.tenant)?;
        check_continuation(self.algorithm, tip, r)
            .map_err(|why| Error::invalid(format!("records[{i}]"), why))?;
        // A keyed chain takes only records sealed under its key: an import cannot bring in
        // records no key holder wrote, and a sealed record cannot enter an unkeyed trail
        // with a seal nobody there can check.
        match (self.key, r.seal) {
            (Some(k), Some(seal)) if k.seal(&r.hash) == seal => {}
            (Some(_), _) => {
                return Err(Error::invalid(
                    format!("records[{i}]"),
                    format!("seq {} is not sealed under the store's chain key", r.seq),
                ))
            }
            (None, Some(_)) => {
                return Err(Error::invalid(
                    format!("records[{i}]"),
                    format!("seq {} is sealed, and the store has no chain key", r.seq),
                ))
            }
            (None, None) => {}
        }
        let new_anchor = (tip.is_none() && r.seq > 1).then(|| Head {
            seq: r.seq - 1,
            hash: r.prev_hash,
        });
        let row = Row {
            tenant: &r.tenant,
            seq: r.seq,
            id: r.id,
            occurred_at: r.occurred_at,
            actor: &r.actor,
            event: &r.event,
            outcome: r.outcome,
            context: &r.context,
            schema_version: r.schema_version,
            chain: r.chain,
            prev_hash: r.prev_hash,
            hash: r.hash,
            seal: r.seal,
            new_anchor,
        };
        self.advance(&r.tenant, row.head())?;
        Ok(row)
    }

    /// Every row of `jobs`, job after job, each in order.
    pub(crate) fn rows<'s, 'w>(
        &'s mut self,
        jobs: &'w [&'w Work],
    ) -> impl Iterator<Item = Result<Row<'w>>> + use<'s, 'w, 'k, L> {
        let (mut job, mut i) = (0, 0);
        std::iter::from_fn(move || loop {
            let work = jobs.get(job)?;
            let row = match work {
                Work::Prepared(b) => b.get(i).map(|p| self.seal(p)),
                Work::Sealed(b) => b.get(i).map(|r| self.check(i, r)),
            };
            match row {
                Some(row) => {
                    i += 1;
                    return Some(row);
                }
                None => {
                    job += 1;
                    i = 0;
                }
            }
        })
    }

    /// The tenants touched, with their last row: where each tenant's head now stands.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn tips(&self) -> impl Iterator<Item = (&TenantId, Head)> {
        self.tips.iter().filter_map(|(t, h)| h.map(|h| (t, h)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, EntityRef, Entry, Event, Preparer};

    /// A batch spread over more tenants than the sequencer searches in its list: each
    /// tenant's tip is looked up once and its records numbered on from it, whether found by
    /// the search or by the map built past the list's size.
    #[test]
    fn a_batch_of_many_tenants_numbers_each_trail_on_from_its_own_tip() {
        let p = Preparer::new();
        let tenants: Vec<TenantId> = (0..3 * SCANNED)
            .map(|i| TenantId::new(format!("t{i}")))
            .collect();
        let mut lookups = Vec::new();
        let mut seqs = Vec::new();
        {
            let mut sequencer = Sequencer::new(ChainAlgorithm::default(), None, |t: &TenantId| {
                lookups.push(t.clone());
                // Tenant `tN` already holds N records.
                let n: u64 = t.as_str()[1..].parse().unwrap_or(0);
                Ok((n > 0).then_some(Head {
                    seq: n,
                    hash: Digest::ZERO,
                }))
            });
            for round in 0..3 {
                for t in &tenants {
                    let e = Entry::new(Actor::system(), Event::user_deleted(EntityRef::id_only(1)))
                        .tenant(t.clone());
                    let r = p.prepare(e).unwrap();
                    let row = sequencer.seal(&r).unwrap();
                    seqs.push((t.clone(), round, row.seq));
                }
            }
        }
        assert_eq!(lookups, tenants, "one lookup per tenant, in order");
        for (t, round, seq) in seqs {
            let n: u64 = t.as_str()[1..].parse().unwrap();
            assert_eq!(seq, n + 1 + round, "{t} round {round}");
        }
    }
}
