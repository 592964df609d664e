//! `MemorySink`: the in-memory store, and the test double hosts assert against.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::paged::{Fetched, PageSource, Paged};
use super::row::Sequencer;
use super::{
    AuditSink, AuditStore, PreparedRecord, PurgePlan, PurgeReport, RecordStream, Retention,
    SealedSink,
};
use crate::digest::{ChainAlgorithm, ChainKey};
use crate::error::{Error, Result};
use crate::query::{Order, Query};
use crate::record::{Head, Receipt, Record, TenantId};

/// How many records a query copies out per lock: bounds both memory and the time writers
/// wait behind a reader.
const PAGE: usize = 256;

/// An in-memory store: complete against the [`AuditSink`] / [`AuditStore`] contract, cheap to
/// clone (clones share the records), and lost when the process ends.
///
/// Use it in tests of a host application, where its assertion helpers read like the test's
/// intent and print the trail when they fail:
///
/// ```
/// use audit_log::{Actor, AuditLog, EntityKey, EntityRef, Event, MemorySink, Query};
///
/// let sink = MemorySink::new();
/// let log = AuditLog::builder(sink.clone()).build();
/// log.record(&Actor::user(7, "admin"), Event::user_deleted(EntityRef::new(42, "bob")))?;
///
/// sink.assert_one(&Query::new().event("user.deleted").entity(EntityKey::user(42)).actor("7"));
/// sink.assert_none(&Query::new().event("group.*"));
/// # Ok::<(), audit_log::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemorySink {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    algorithm: ChainAlgorithm,
    key: Option<ChainKey>,
    trails: RwLock<BTreeMap<TenantId, Trail>>,
}

#[derive(Debug, Default)]
struct Trail {
    anchor: Head,
    records: Vec<Record>,
}

impl MemorySink {
    /// An empty store using the default chain algorithm.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store using `algorithm` for its chains.
    pub fn with_algorithm(algorithm: ChainAlgorithm) -> Self {
        MemorySink {
            inner: Arc::new(Inner {
                algorithm,
                key: None,
                trails: RwLock::default(),
            }),
        }
    }

    /// An empty store whose chains are keyed: every record is also sealed under `key`
    /// (see [`ChainKey`]).
    pub fn with_chain_key(algorithm: ChainAlgorithm, key: ChainKey) -> Self {
        MemorySink {
            inner: Arc::new(Inner {
                algorithm,
                key: Some(key),
                trails: RwLock::default(),
            }),
        }
    }

    // A panic while holding the lock cannot leave a trail half-written (appends build every
    // record before pushing any), so a poisoned lock still guards consistent data.
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<TenantId, Trail>> {
        self.inner.trails.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<TenantId, Trail>> {
        self.inner.trails.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Every record of the tenant `"default"` ([`TenantId::default`]), oldest first: what a
    /// single-tenant host's log records into. A multi-tenant host uses
    /// [`records_of`](Self::records_of) or [`all_records`](Self::all_records).
    pub fn records(&self) -> Vec<Record> {
        self.find(&Query::new())
    }

    /// Every record of `tenant`, oldest first.
    pub fn records_of(&self, tenant: &TenantId) -> Vec<Record> {
        self.find(&Query::for_tenant(tenant.clone()))
    }

    /// Every record of every tenant: tenants in name order, each oldest first.
    pub fn all_records(&self) -> Vec<Record> {
        self.read()
            .values()
            .flat_map(|t| t.records.iter().cloned())
            .collect()
    }

    /// Every record matching `query` (its limit and order apply), in the query's tenant
    /// (`"default"` when it names none).
    pub fn find(&self, query: &Query) -> Vec<Record> {
        self.query(query)
            .map(|s| s.filter_map(|r| r.ok()).collect())
            .unwrap_or_default()
    }

    /// Asserts that exactly `n` records match `query` and returns them.
    ///
    /// # Panics
    /// When the count differs, with the query and every record of the tenant in the message.
    #[track_caller]
    pub fn assert_count(&self, query: &Query, n: usize) -> Vec<Record> {
        let found = self.find(query);
        if found.len() != n {
            panic!(
                "expected {n} record(s) matching {}, found {}\n{}",
                describe(query),
                found.len(),
                self.dump(&query.tenant_or_default())
            );
        }
        found
    }

    /// Asserts that exactly one record matches `query` and returns it.
    ///
    /// # Panics
    /// As [`MemorySink::assert_count`].
    #[track_caller]
    pub fn assert_one(&self, query: &Query) -> Record {
        let mut found = self.assert_count(query, 1);
        found.remove(0)
    }

    /// Asserts that no record matches `query`.
    ///
    /// # Panics
    /// As [`MemorySink::assert_count`].
    #[track_caller]
    pub fn assert_none(&self, query: &Query) {
        self.assert_count(query, 0);
    }

    /// The tenant's trail as text, one record per line: what the assertions print.
    pub fn dump(&self, tenant: &TenantId) -> String {
        let trails = self.read();
        let records = trails.get(tenant).map_or(&[][..], |t| &t.records[..]);
        let mut out = format!("recorded in tenant {tenant} ({}):\n", records.len());
        for r in records {
            let _ = writeln!(
                out,
                "  #{} {}",
                r.seq,
                crate::text::for_terminal(&r.summary())
            );
        }
        out
    }

    /// Applies a raw edit that bypasses the contract, so tests can prove that verification
    /// catches it. Not for use outside tests.
    #[cfg(any(test, feature = "conformance"))]
    #[doc(hidden)]
    pub fn tamper(&self, tenant: &TenantId, f: impl FnOnce(&mut Vec<Record>)) {
        let mut trails = self.write();
        if let Some(t) = trails.get_mut(tenant) {
            f(&mut t.records);
        }
    }
}

/// The query in words, for assertion messages.
fn describe(q: &Query) -> String {
    let mut parts = Vec::new();
    if !q.events.is_empty() {
        let names: Vec<String> = q
            .events
            .iter()
            .map(|p| match p {
                crate::query::EventPattern::Exact(n) => n.clone(),
                crate::query::EventPattern::Family(f) => format!("{f}.*"),
                crate::query::EventPattern::Any => "*".to_owned(),
            })
            .collect();
        parts.push(format!("event {}", names.join(" or ")));
    }
    if let Some(e) = &q.entity {
        parts.push(format!("naming {e}"));
    }
    if !q.actors.is_empty() {
        parts.push(format!("by actor {}", q.actors.join(" or ")));
    }
    if let Some(o) = q.outcome {
        parts.push(format!("outcome {}", o.as_str()));
    }
    if let Some(t) = q.since {
        parts.push(format!("since {t}"));
    }
    if let Some(t) = q.until {
        parts.push(format!("until {t}"));
    }
    if parts.is_empty() {
        "any record".to_owned()
    } else {
        parts.join(", ")
    }
}

/// What a tenant's next record links to: its last record, else its anchor after a purge;
/// `None` for a tenant with no trail at all.
fn tip(trails: &BTreeMap<TenantId, Trail>, tenant: &TenantId) -> Option<Head> {
    let t = trails.get(tenant)?;
    t.records
        .last()
        .map(|r| Head {
            seq: r.seq,
            hash: r.hash,
        })
        .or((t.anchor.seq > 0).then_some(t.anchor))
}

impl AuditSink for MemorySink {
    fn append(&self, batch: Vec<PreparedRecord>) -> Result<Vec<Receipt>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let algorithm = self.inner.algorithm;
        let mut trails = self.write();
        // Seal every record first, then push: nothing after sealing can fail, and no reader
        // sees part of a batch because the write lock is held throughout.
        let mut sealed = Vec::with_capacity(batch.len());
        {
            let key = self.inner.key.as_ref();
            let mut sequencer = Sequencer::new(algorithm, key, |t: &TenantId| Ok(tip(&trails, t)));
            for p in batch {
                let (seq, prev, hash, seal) = {
                    let row = sequencer.seal(&p)?;
                    (row.seq, row.prev_hash, row.hash, row.seal)
                };
                sealed.push(p.into_record(algorithm, seq, prev, hash, seal));
            }
        }
        let receipts = sealed.iter().map(Record::receipt).collect();
        for r in sealed {
            // Only a tenant's first record needs its name cloned as a key.
            match trails.get_mut(&r.tenant) {
                Some(t) => t.records.push(r),
                None => trails.entry(r.tenant.clone()).or_default().records.push(r),
            }
        }
        Ok(receipts)
    }
}

impl SealedSink for MemorySink {
    fn append_sealed(&self, records: Vec<Record>) -> Result<Vec<Receipt>> {
        let algorithm = self.inner.algorithm;
        let mut trails = self.write();
        // Check the whole batch against the heads it would build on before touching a trail.
        let mut anchors = Vec::new();
        {
            let key = self.inner.key.as_ref();
            let mut sequencer = Sequencer::new(algorithm, key, |t: &TenantId| Ok(tip(&trails, t)));
            for (i, r) in records.iter().enumerate() {
                if let Some(anchor) = sequencer.check(i, r)?.new_anchor {
                    anchors.push((r.tenant.clone(), anchor));
                }
            }
        }
        for (tenant, anchor) in anchors {
            trails.entry(tenant).or_default().anchor = anchor;
        }
        let receipts = records.iter().map(Record::receipt).collect();
        for r in records {
            trails.entry(r.tenant.clone()).or_default().records.push(r);
        }
        Ok(receipts)
    }
}

impl AuditStore for MemorySink {
    fn query<'a>(&'a self, query: &Query) -> Result<RecordStream<'a>> {
        let source = MemoryPages {
            sink: self,
            query: query.clone(),
            tenant: query.tenant_or_default(),
            cursor: None,
        };
        Ok(Box::new(Paged::new(source, PAGE, query.limit)))
    }

    fn head(&self, tenant: &TenantId) -> Result<Option<Head>> {
        Ok(self.read().get(tenant).and_then(|t| {
            t.records.last().map(|r| Head {
                seq: r.seq,
                hash: r.hash,
            })
        }))
    }

    fn chain_algorithm(&self) -> ChainAlgorithm {
        self.inner.algorithm
    }

    fn chain_key_id(&self) -> Option<String> {
        self.inner.key.as_ref().map(|k| k.id().to_owned())
    }

    fn tenants(&self) -> Result<Vec<TenantId>> {
        Ok(self
            .read()
            .iter()
            .filter(|(_, t)| !t.records.is_empty())
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn anchor(&self, tenant: &TenantId) -> Result<Head> {
        Ok(self
            .read()
            .get(tenant)
            .map_or_else(Head::default, |t| t.anchor))
    }

    fn count(&self, query: &Query) -> Result<Option<u64>> {
        let q = Query {
            limit: None,
            ..query.clone()
        };
        Ok(Some(self.query(&q)?.count() as u64))
    }
}

/// Retention in memory, with the contract's checks: the same purge semantics as the SQL
/// stores, for host tests of retention jobs.
impl Retention for MemorySink {
    fn remove_prefix(&self, plan: PurgePlan) -> Result<PurgeReport> {
        let PurgePlan {
            tenant,
            anchor,
            through,
            record,
        } = plan;
        let mut trails = self.write();
        let Some(trail) = trails.get_mut(&tenant) else {
            return Err(Error::invalid("through", "the tenant has no records"));
        };
        if trail.anchor != anchor {
            return Err(Error::Busy {
                source: "the tenant's anchor moved since the purge was planned (another purge ran)"
                    .into(),
            });
        }
        let at = trail.records.iter().position(|r| r.seq == through.seq);
        if through.seq <= anchor.seq || at.map(|i| trail.records[i].hash) != Some(through.hash) {
            return Err(Error::invalid(
                "through",
                format!(
                    "the record at seq {} is missing, before the anchor or has another hash than planned",
                    through.seq
                ),
            ));
        }
        let removed = at.map_or(0, |i| i + 1);
        if removed as u64 != through.seq - anchor.seq {
            return Err(Error::corrupt(
                through.seq,
                "the trail has gaps before the purge point (verify it before purging)",
            ));
        }
        let tip = trail.records.last().map_or(trail.anchor, |r| Head {
            seq: r.seq,
            hash: r.hash,
        });
        let hash = record.hash_at(self.inner.algorithm, tip.seq + 1, &tip.hash);
        let seal = self.inner.key.as_ref().map(|k| k.seal(&hash));
        let sealed = record.into_record(self.inner.algorithm, tip.seq + 1, tip.hash, hash, seal);
        let receipt = sealed.receipt();
        trail.records.drain(..removed);
        trail.anchor = through;
        trail.records.push(sealed);
        Ok(PurgeReport {
            tenant,
            removed: removed as u64,
            anchor: through,
            receipt: Some(receipt),
        })
    }
}

/// Reads a trail a page at a time, taking the lock once per page.
struct MemoryPages<'a> {
    sink: &'a MemorySink,
    query: Query,
    tenant: TenantId,
    /// Index into the trail's vector of the next record to look at (ascending: counts up;
    /// descending: counts down, exclusive).
    cursor: Option<usize>,
}

impl PageSource for MemoryPages<'_> {
    fn next_page(&mut self, want: usize) -> Fetched {
        let trails = self.sink.read();
        let Some(trail) = trails.get(&self.tenant) else {
            return Fetched {
                records: Vec::new(),
                last: true,
            };
        };
        let records = &trail.records;
        let mut page = Vec::new();
        let last = match self.query.order {
            // A trail is kept in seq order, so the seq bounds are found by binary search
            // rather than by scanning: reading the tail of a long trail costs the tail.
            Order::Ascending => {
                let mut i = self.cursor.unwrap_or_else(|| {
                    self.query
                        .after_seq
                        .map_or(0, |a| records.partition_point(|r| r.seq <= a))
                });
                let end = self
                    .query
                    .through_seq
                    .map_or(records.len(), |t| records.partition_point(|r| r.seq <= t));
                while i < end && page.len() < want {
                    if self.query.matches(&records[i]) {
                        page.push(Ok(records[i].clone()));
                    }
                    i += 1;
                }
                self.cursor = Some(i);
                i >= end
            }
            Order::Descending => {
                let start = self.cursor.unwrap_or_else(|| {
                    let through = self
                        .query
                        .through_seq
                        .map_or(records.len(), |t| records.partition_point(|r| r.seq <= t));
                    let before = self
                        .query
                        .after_seq
                        .map_or(records.len(), |a| records.partition_point(|r| r.seq < a));
                    through.min(before)
                });
                let mut i = start.min(records.len());
                while i > 0 && page.len() < want {
                    i -= 1;
                    if self.query.matches(&records[i]) {
                        page.push(Ok(records[i].clone()));
                    }
                }
                self.cursor = Some(i);
                i == 0
            }
        };
        Fetched {
            records: page,
            last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;

    #[test]
    fn memory_sink_passes_the_conformance_suite() {
        conformance::run_all(&MemoryHarness);
    }

    #[test]
    fn memory_sink_with_blake3_passes_the_conformance_suite() {
        conformance::run_all(&MemoryHarness3);
    }

    #[test]
    fn memory_sink_passes_the_purge_checks() {
        conformance::purge::run_all(&MemoryHarness);
    }

    struct MemoryHarness;
    struct MemoryHarness3;

    impl conformance::Harness for MemoryHarness {
        type Store = MemorySink;
        fn fresh(&self) -> MemorySink {
            MemorySink::new()
        }
        fn tamper(&self, store: &MemorySink, tenant: &TenantId, op: conformance::Tamper) -> bool {
            store.tamper(tenant, |records| conformance::apply_tamper(records, op));
            true
        }
    }

    impl conformance::Harness for MemoryHarness3 {
        type Store = MemorySink;
        fn fresh(&self) -> MemorySink {
            MemorySink::with_algorithm(ChainAlgorithm::Blake3)
        }
        fn tamper(&self, store: &MemorySink, tenant: &TenantId, op: conformance::Tamper) -> bool {
            store.tamper(tenant, |records| conformance::apply_tamper(records, op));
            true
        }
    }

    #[test]
    #[should_panic(expected = "expected 1 record(s) matching event user.deleted, found 0")]
    fn failed_assertions_say_what_was_recorded() {
        let sink = MemorySink::new();
        sink.assert_one(&Query::new().event("user.deleted"));
    }
}
