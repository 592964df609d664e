//! The store contract: [`AuditSink`] (the write side) and [`AuditStore`] (the read side).
//!
//! Stores: [`MemorySink`] always; [`SqliteSink`](crate::SqliteSink) with the default `sqlite`
//! feature; `PostgresSink` with the `postgres` feature.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod group_commit;
mod memory;
mod paged;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod plan;
#[cfg(feature = "postgres")]
pub mod postgres;
mod retention;
pub(crate) mod row;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use std::fmt;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::canonical::compute_hash;
use crate::digest::{ChainAlgorithm, Digest};
use crate::error::Result;
use crate::event::Event;
use crate::query::Query;
use crate::record::{Actor, Context, Head, Outcome, Receipt, Record, TenantId};

pub use memory::MemorySink;
pub use retention::{PurgePlan, PurgePoint, PurgeReport, Retention};

/// A record ready to append: stamped, redacted, validated and canonically encoded; a store
/// only assigns its seq and links it into the chain.
///
/// Made by [`AuditLog::prepare`](crate::AuditLog::prepare); there is no other way to build
/// one, so a store can trust that every prepared record passed the log's checks.
#[derive(Debug, Clone)]
pub struct PreparedRecord {
    pub(crate) id: Uuid,
    pub(crate) occurred_at: DateTime<Utc>,
    pub(crate) tenant: TenantId,
    pub(crate) actor: Actor,
    pub(crate) event: Event,
    /// The event's `Value`, made only if a store asks for it: recording does not need it.
    pub(crate) event_value: OnceLock<Value>,
    pub(crate) outcome: Outcome,
    pub(crate) context: Context,
    pub(crate) schema_version: u32,
    pub(crate) body: Vec<u8>,
}

impl PreparedRecord {
    /// The record's id.
    pub fn id(&self) -> Uuid {
        self.id
    }
    /// When it happened.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        self.occurred_at
    }
    /// The tenant whose stream it joins.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }
    /// Who acted.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
    /// What happened.
    pub fn event(&self) -> &Event {
        &self.event
    }
    /// The event's wire JSON, built on first use ([`event_json`](Self::event_json) is
    /// cheaper when text is what the store keeps).
    pub fn event_value(&self) -> &Value {
        self.event_value.get_or_init(|| self.event.to_value())
    }
    /// The event's wire JSON as text, for stores that keep it as a column: compact, keys
    /// sorted (see [`Event::to_json`]).
    pub fn event_json(&self) -> String {
        self.event.to_json()
    }
    /// The outcome.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }
    /// The context.
    pub fn context(&self) -> &Context {
        &self.context
    }
    /// The record format version.
    pub fn schema_version(&self) -> u32 {
        self.schema_version
    }
    /// The canonical body (see [`chain`](crate::chain)).
    pub fn canonical_body(&self) -> &[u8] {
        &self.body
    }

    /// The hash this record gets at `seq` after `prev`.
    pub fn hash_at(&self, algorithm: ChainAlgorithm, seq: u64, prev: &Digest) -> Digest {
        algorithm.link(seq, prev, &self.body)
    }

    /// The same record with another event (re-encoded), for the conformance suite's
    /// unknown-event check.
    #[cfg(any(test, feature = "conformance"))]
    #[doc(hidden)]
    pub fn with_event_for_tests(mut self, event: Event) -> Self {
        self.event_value = OnceLock::new();
        self.event = event;
        self.body = crate::canonical::encode_body(
            &self.tenant,
            &self.id,
            self.occurred_at.timestamp_micros(),
            &self.actor,
            self.outcome,
            &self.context,
            self.schema_version,
            &self.event,
        );
        self
    }

    /// Seals the record at `seq` after `prev`: the stored form.
    pub fn seal(self, algorithm: ChainAlgorithm, seq: u64, prev: Digest) -> Record {
        let hash = self.hash_at(algorithm, seq, &prev);
        self.into_record(algorithm, seq, prev, hash, None)
    }

    /// The stored form, with the hash (and, in a keyed chain, the seal) already computed.
    pub(crate) fn into_record(
        self,
        algorithm: ChainAlgorithm,
        seq: u64,
        prev: Digest,
        hash: Digest,
        seal: Option<Digest>,
    ) -> Record {
        Record {
            seq,
            id: self.id,
            occurred_at: self.occurred_at,
            tenant: self.tenant,
            actor: self.actor,
            event: self.event,
            outcome: self.outcome,
            context: self.context,
            schema_version: self.schema_version,
            chain: algorithm,
            prev_hash: prev,
            hash,
            seal,
        }
    }
}

/// Records read from a store, in the query's order, one at a time.
///
/// A record that cannot be read is an `Err(Error::Corrupt { seq, .. })` item; the iterator
/// goes on with the next one, so one bad row never hides the rest of the trail.
pub type RecordStream<'a> = Box<dyn Iterator<Item = Result<Record>> + Send + 'a>;

/// Where records go: the write side of a store.
///
/// # Contract
///
/// Every implementation upholds this, and the conformance suite (`audit_log::conformance`, feature `conformance`) checks
/// it:
///
/// - **Sequence.** Each tenant has one stream. The store assigns each appended record the next
///   seq of its tenant's stream: 1, 2, 3, ... without gaps or duplicates, also when several
///   threads, connections or processes append at once. Records of a batch take consecutive
///   seqs per tenant, in batch order.
/// - **Chain.** Inside the same write the store sets `prev_hash` to the hash of the tenant's
///   previous record (its [`anchor`](AuditStore::anchor) for the first one) and `hash` to
///   [`PreparedRecord::hash_at`]. Seq and chain are assigned together, under the store's
///   serialization point, so concurrent appenders can never fork a chain.
/// - **Atomicity.** A batch is appended whole or not at all: on `Err`, no record of it is
///   visible, now or after a crash; on `Ok`, all are.
/// - **Durability on Ok.** When `append` returns `Ok`, the records are committed to the
///   store's durable medium as configured (a [`MemorySink`] is durable for the life of the
///   process). The receipts are in batch order.
/// - **Visibility.** A record whose append returned `Ok` is visible to every later query on any
///   handle of the same store. Concurrent appenders see each other's records in seq order; a
///   reader never sees a gap that is later filled.
/// - **Append-only.** No method of the store edits or deletes a record, except an explicit,
///   self-recording retention purge where a store offers one.
/// - **Errors.** A failed append returns a typed [`Error`](crate::Error) and leaves the store
///   as it was; an empty batch is `Ok(vec![])` and writes nothing.
pub trait AuditSink: Send + Sync + fmt::Debug + 'static {
    /// Appends a batch atomically and returns where each record landed, in batch order.
    ///
    /// # Errors
    /// Store failures ([`Error::StorageFull`](crate::Error::StorageFull),
    /// [`Error::ReadOnly`](crate::Error::ReadOnly), [`Error::Busy`](crate::Error::Busy),
    /// [`Error::Unavailable`](crate::Error::Unavailable), ...); none of the batch is written.
    fn append(&self, batch: Vec<PreparedRecord>) -> Result<Vec<Receipt>>;
}

/// The import capability: a sink that also takes records sealed elsewhere, kept byte for byte
/// (see [`Import`](crate::Import)).
///
/// A capability of its own, so a store that should never take foreign records (or a
/// read-only view) need not offer it, and generic code asks for it by name.
///
/// # Contract
///
/// [`AuditSink`]'s contract, for records that already carry their seq and hashes: each
/// record continues its tenant's trail exactly as [`check_continuation`] describes, the
/// batch is atomic, durable on `Ok`, and goes through the same serialization point (and
/// group commit) as appends, so imports and appends interleave without forking a chain. The
/// conformance suite (`audit_log::conformance`, feature `conformance`) checks it.
pub trait SealedSink: AuditSink {
    /// Appends records that already carry their seq and hashes: an import of a trail
    /// exported from another store, kept byte for byte so it verifies the same.
    ///
    /// Each record must continue its tenant's trail exactly as [`check_continuation`](crate::check_continuation)
    /// describes (next seq, links to the head, hash recomputes, the store's algorithm); into
    /// an empty tenant the first record may start after a purge point, which then becomes the
    /// tenant's [`anchor`](AuditStore::anchor). The batch is atomic like
    /// [`append`](AuditSink::append).
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) with field `records[i]` naming the
    /// first record that does not continue the trail (nothing is written); store failures.
    fn append_sealed(&self, records: Vec<Record>) -> Result<Vec<Receipt>>;
}

/// Checks that `record` may follow `head` (the tenant's last record, or its anchor) in a
/// trail using `algorithm`. With `head == None` (an empty tenant) any starting point is
/// accepted as long as the record's own hash recomputes.
///
/// # Errors
/// A message saying what does not continue.
pub fn check_continuation(
    algorithm: ChainAlgorithm,
    head: Option<Head>,
    record: &Record,
) -> std::result::Result<(), String> {
    if record.chain != algorithm {
        return Err(format!(
            "record uses {} but the store uses {}",
            record.chain, algorithm
        ));
    }
    if record.seq == 0 {
        return Err("seq 0 is not a valid seq".to_owned());
    }
    if let Some(h) = head {
        if record.seq != h.seq + 1 {
            return Err(format!("seq {} does not follow {}", record.seq, h.seq));
        }
        if record.prev_hash != h.hash {
            return Err(format!(
                "seq {} does not link to the hash of seq {}",
                record.seq, h.seq
            ));
        }
    } else if record.seq == 1 && record.prev_hash != Digest::ZERO {
        return Err("seq 1 must link to the zero hash".to_owned());
    }
    if compute_hash(record) != record.hash {
        return Err(format!(
            "seq {}: content does not match its hash",
            record.seq
        ));
    }
    Ok(())
}

/// The read side of a store.
///
/// Independent of [`AuditSink`]: a read-only view of a trail (a replica, an export opened for
/// reading) implements only this.
///
/// # Contract
///
/// - [`query`](AuditStore::query) returns exactly the records for which
///   [`Query::matches`] holds, in the query's seq order, at most `limit` of them, and reads
///   them incrementally: memory does not grow with the size of the trail.
/// - A query reads one tenant's trail and never yields another tenant's record.
/// - [`head`](AuditStore::head) is the newest record's seq and hash (`None` for an empty
///   trail); a query started after `head` returned sees at least that record.
/// - Unreadable records come out as `Err(Error::Corrupt { seq, .. })` items, and the stream
///   continues after them.
pub trait AuditStore: Send + Sync + fmt::Debug + 'static {
    /// Streams the records matching `query`.
    ///
    /// # Errors
    /// The store could not start the read; per-record problems come as stream items.
    fn query<'a>(&'a self, query: &Query) -> Result<RecordStream<'a>>;

    /// The newest record of a tenant's trail.
    ///
    /// # Errors
    /// Store failures.
    fn head(&self, tenant: &TenantId) -> Result<Option<Head>>;

    /// The algorithm this store's chains use.
    fn chain_algorithm(&self) -> ChainAlgorithm;

    /// The tenants with at least one record, in name order.
    ///
    /// # Errors
    /// Store failures.
    fn tenants(&self) -> Result<Vec<TenantId>>;

    /// Where a tenant's chain starts: seq 0 and the zero hash, or after a retention purge the
    /// last purged seq and its hash.
    ///
    /// # Errors
    /// Store failures.
    fn anchor(&self, tenant: &TenantId) -> Result<Head> {
        let _ = tenant;
        Ok(Head {
            seq: 0,
            hash: Digest::ZERO,
        })
    }

    /// How many records match `query` (ignoring its limit), when the store can tell cheaply;
    /// `None` otherwise. Used for progress totals, and by verification to tell a scan that
    /// ended early.
    ///
    /// # Errors
    /// Store failures.
    fn count(&self, query: &Query) -> Result<Option<u64>> {
        let _ = query;
        Ok(None)
    }

    /// In a keyed chain, the id of the store's [`ChainKey`](crate::ChainKey): every record is
    /// sealed under it, and a verification with the key checks the seals. `None` for an
    /// unkeyed chain (the default).
    fn chain_key_id(&self) -> Option<String> {
        None
    }

    /// How many records of `tenant` with a seq up to `through` the store holds, and the
    /// highest seq it holds for the tenant, read through another structure than the seq order
    /// a query walks (for SQLite, the time index), so that verification can tell a walk (and a
    /// head) that a damaged index ended early. `None` when the store has no second structure
    /// to count from.
    ///
    /// # Errors
    /// Store failures.
    fn census(&self, tenant: &TenantId, through: u64) -> Result<Option<Census>> {
        let _ = (tenant, through);
        Ok(None)
    }

    /// Visits every row of the store's entity index (what answers [`Query::entity`]) for
    /// `tenant` with a seq in `first..=last`, in any order, so that verification can compare
    /// them with what the records name. Returns `false` when the store keeps no such index (it
    /// answers entity queries from the records themselves, like [`MemorySink`]).
    ///
    /// # Errors
    /// Store failures.
    fn scan_mentions(
        &self,
        tenant: &TenantId,
        first: u64,
        last: u64,
        visit: &mut dyn FnMut(MentionRow<'_>),
    ) -> Result<bool> {
        let _ = (tenant, first, last, visit);
        Ok(false)
    }

    /// Runs the store's own check of its storage (for SQLite, `quick_check` or
    /// `integrity_check`): `Ok(Some(Ok(())))` when it finds nothing wrong, `Ok(Some(Err(..)))`
    /// with what it found, `Ok(None)` when the store has no such check.
    ///
    /// # Errors
    /// Store failures (the check could not run).
    fn check_storage(
        &self,
        check: StorageCheck,
    ) -> Result<Option<std::result::Result<(), String>>> {
        let _ = check;
        Ok(None)
    }
}

/// What [`AuditStore::census`] counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Census {
    /// How many records the tenant's trail holds with a seq up to the bound asked.
    pub records_through: u64,
    /// The highest seq the tenant's trail holds (`None` without records).
    pub last_seq: Option<u64>,
}

/// One row of a store's entity index: the record at `seq` names the entity `kind`/`id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MentionRow<'a> {
    /// The entity's kind, by wire name.
    pub kind: &'a str,
    /// The entity's id.
    pub id: &'a str,
    /// The record's seq.
    pub seq: u64,
}

/// A check of the store's own storage, run as part of a verification when asked
/// ([`VerifyOptions::storage`](crate::chain::VerifyOptions::storage)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageCheck {
    /// The store's fast structural check (SQLite's `quick_check`: pages and B-trees, not the
    /// agreement of indexes with their tables). Linear in the file's size.
    Quick,
    /// The store's full check (SQLite's `integrity_check`: also that every index agrees with
    /// its table). Several times the quick check on a large file.
    Full,
}

/// A store that records and reads: what a host holds when it picks its store at run time
/// (`Arc<dyn Store>`: SQLite on a laptop, PostgreSQL in production). Every type with both
/// sides is one; an `Arc<dyn Store>` is an [`AuditSink`] to build a log over and, as a
/// `&dyn AuditStore`, a store to read from.
pub trait Store: AuditSink + AuditStore {}

impl<T: AuditSink + AuditStore + ?Sized> Store for T {}

/// The body of an [`AuditStore`] impl that is another store's: every method, the provided
/// ones included, forwarded to the store `$via(self)` returns. A wrapper that forwards only
/// the required methods silently answers `None` to the checks verification relies on (the
/// census, the mention scan, the storage check), so wrappers use this, never a hand list.
macro_rules! forward_audit_store {
    ($via:path) => {
        fn query<'a>(
            &'a self,
            query: &$crate::Query,
        ) -> $crate::Result<$crate::sink::RecordStream<'a>> {
            $via(self).query(query)
        }
        fn head(&self, tenant: &$crate::TenantId) -> $crate::Result<Option<$crate::Head>> {
            $via(self).head(tenant)
        }
        fn chain_algorithm(&self) -> $crate::ChainAlgorithm {
            $via(self).chain_algorithm()
        }
        fn tenants(&self) -> $crate::Result<Vec<$crate::TenantId>> {
            $via(self).tenants()
        }
        fn anchor(&self, tenant: &$crate::TenantId) -> $crate::Result<$crate::Head> {
            $via(self).anchor(tenant)
        }
        fn count(&self, query: &$crate::Query) -> $crate::Result<Option<u64>> {
            $via(self).count(query)
        }
        fn census(
            &self,
            tenant: &$crate::TenantId,
            through: u64,
        ) -> $crate::Result<Option<$crate::sink::Census>> {
            $via(self).census(tenant, through)
        }
        fn chain_key_id(&self) -> Option<String> {
            $via(self).chain_key_id()
        }
        fn scan_mentions(
            &self,
            tenant: &$crate::TenantId,
            first: u64,
            last: u64,
            visit: &mut dyn FnMut($crate::sink::MentionRow<'_>),
        ) -> $crate::Result<bool> {
            $via(self).scan_mentions(tenant, first, last, visit)
        }
        fn check_storage(
            &self,
            check: $crate::sink::StorageCheck,
        ) -> $crate::Result<Option<std::result::Result<(), String>>> {
            $via(self).check_storage(check)
        }
    };
}
pub(crate) use forward_audit_store;

/// Shared handles are stores too: `Arc<SqliteSink>`, `Arc<dyn AuditStore>`,
/// `Box<dyn AuditSink>`, ... (so generic code can hold whatever the host shares).
macro_rules! forward_to_pointee {
    ($($ptr:ident),*) => {$(
        impl<T: AuditSink + ?Sized> AuditSink for $ptr<T> {
            fn append(&self, batch: Vec<PreparedRecord>) -> Result<Vec<Receipt>> {
                (**self).append(batch)
            }
        }

        impl<T: SealedSink + ?Sized> SealedSink for $ptr<T> {
            fn append_sealed(&self, records: Vec<Record>) -> Result<Vec<Receipt>> {
                (**self).append_sealed(records)
            }
        }

        impl<T: AuditStore + ?Sized> AuditStore for $ptr<T> {
            forward_audit_store!(std::ops::Deref::deref);
        }

        impl<T: Retention + ?Sized> Retention for $ptr<T> {
            fn remove_prefix(&self, plan: PurgePlan) -> Result<PurgeReport> {
                (**self).remove_prefix(plan)
            }
        }
    )*};
}

forward_to_pointee!(Arc, Box);
