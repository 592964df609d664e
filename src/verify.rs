//! Verification: walking a trail and checking every hash and link, that the trail's start is
//! accounted for, that the store's derived index agrees with the records, and checking a trail
//! against a [`Checkpoint`] kept elsewhere.
//!
//!
//! What it checks is in the [`chain`](crate::chain#what-verification-checks) module docs.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;

use crate::canonical::compute_hash;
use crate::digest::ChainKey;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::query::Query;
use crate::record::{Checkpoint, Head, Record, TenantId};
use crate::sink::{AuditStore, MentionRow, StorageCheck};

/// Why the chain broke at a record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakReason {
    /// The record's content does not match its hash: a field was changed.
    Altered,
    /// Records are missing: the expected seq was not found (the next one found is given).
    Missing {
        /// The seq that came next instead.
        found: u64,
    },
    /// A record came out of order (a seq not greater than the one before).
    Reordered {
        /// The seq that came after the previous one.
        found: u64,
    },
    /// The record's content matches its hash but its `prev_hash` is not the previous record's
    /// hash: records were removed and the rest renumbered, or spliced from another trail.
    WrongLink,
    /// The record could not be read at all, or its derived columns disagree with its content.
    Corrupt(String),
    /// The trail ends before a checkpoint's seq: its tail was truncated or the store was
    /// restored from an older backup.
    Truncated {
        /// The checkpoint's seq.
        checkpoint_seq: u64,
    },
    /// The record at a checkpoint's seq has another hash: the store was restored from an
    /// older backup and written again, or rewritten wholesale.
    Diverged,
    /// A record uses another hash algorithm than the trail.
    WrongAlgorithm,
    /// The walk ended before the store's head: records from this seq on could not be read
    /// through the store's seq order (a damaged index), or were removed while the head stayed.
    MissingTail {
        /// The store's head seq when the walk started.
        head_seq: u64,
    },
    /// The trail starts after a purge point (its anchor) that no `audit.purged` record in the
    /// trail accounts for: a prefix was removed and the anchor forged.
    UnaccountedStart {
        /// The anchor's seq.
        anchor_seq: u64,
    },
    /// The store's entity index disagrees with what the records at this seq name: a mention
    /// row was forged, removed or altered.
    IndexMismatch,
    /// In a keyed chain, the record's seal is missing or is not the key's: the record was
    /// written (or rewritten) by someone without the key.
    BadSeal,
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakReason::Altered => f.write_str("content does not match its hash (altered)"),
            BreakReason::Missing { found } => write!(f, "missing (next record found is {found})"),
            BreakReason::Reordered { found } => write!(f, "out of order (found seq {found})"),
            BreakReason::WrongLink => f.write_str("prev_hash does not link to the previous record"),
            // The reason may quote what the store held: neutralised, as any stored text.
            BreakReason::Corrupt(why) => {
                write!(f, "unreadable: {}", crate::text::for_terminal(why))
            }
            BreakReason::Truncated { checkpoint_seq } => {
                write!(
                    f,
                    "trail ends before checkpoint seq {checkpoint_seq} (truncated or rolled back)"
                )
            }
            BreakReason::Diverged => f.write_str(
                "hash differs from the checkpoint (restored from an older backup or rewritten)",
            ),
            BreakReason::WrongAlgorithm => f.write_str("record uses another hash algorithm"),
            BreakReason::MissingTail { head_seq } => write!(
                f,
                "the trail could not be read on to the store's head seq {head_seq} \
                 (a damaged index, or records removed)"
            ),
            BreakReason::UnaccountedStart { anchor_seq } => write!(
                f,
                "the trail starts after seq {anchor_seq} but no audit.purged record accounts \
                 for it (a removed prefix)"
            ),
            BreakReason::BadSeal => {
                f.write_str("not sealed under the chain's key (written by someone without the key)")
            }
            BreakReason::IndexMismatch => f.write_str(
                "the store's entity index disagrees with what the record names (a forged or \
                 removed mention)",
            ),
        }
    }
}

/// The first place a chain broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first bad seq.
    pub seq: u64,
    /// Why.
    pub reason: BreakReason,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {}: {}", self.seq, self.reason)
    }
}

/// What a verification checks beyond the chain; see [`verify_with`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
#[must_use]
pub struct VerifyOptions {
    /// A checkpoint saved earlier that the trail must reach, with its hash there.
    pub checkpoint: Option<Checkpoint>,
    /// A check of the store's storage to run as well.
    pub storage: Option<StorageCheck>,
    /// The key of a keyed chain, to check every record's seal.
    pub key: Option<ChainKey>,
}

impl VerifyOptions {
    /// The chain, the start, the head and the entity index; no checkpoint, no storage check.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also checks the trail against `checkpoint`.
    pub fn checkpoint(mut self, checkpoint: Checkpoint) -> Self {
        self.checkpoint = Some(checkpoint);
        self
    }

    /// Also runs the store's storage check.
    pub fn storage(mut self, check: StorageCheck) -> Self {
        self.storage = Some(check);
        self
    }

    /// Checks the seals of a keyed chain with `key` (its id must be the store's).
    pub fn key(mut self, key: ChainKey) -> Self {
        self.key = Some(key);
        self
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// The tenant verified.
    pub tenant: TenantId,
    /// How many records were read.
    pub count: u64,
    /// The last record read, if any.
    pub head: Option<Head>,
    /// The first break, if any. `None` means the trail is intact.
    pub first_break: Option<ChainBreak>,
    /// Whether the store's entity index was compared with the records (stores that keep no
    /// index answer entity queries from the records themselves).
    pub index_checked: bool,
    /// For a keyed chain ([`ChainKey`]): `Some(true)` when every record's seal was checked with
    /// the key, `Some(false)` when no key was given, so the seals could not be checked (the
    /// chain, the start, the head and the index were); `None` for an unkeyed chain.
    pub sealed: Option<bool>,
    /// The storage check's findings when one ran: `Ok(())` when the store found nothing
    /// wrong, else what it reported. `None` when none ran (or the store has none).
    pub storage: Option<std::result::Result<(), String>>,
}

impl VerifyReport {
    /// Whether the trail verified with no break (and the storage check, when one ran, found
    /// nothing wrong).
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none() && !matches!(self.storage, Some(Err(_)))
    }

    /// Records `brk` unless an earlier break (a lower seq) is already known.
    fn note(&mut self, brk: ChainBreak) {
        match &self.first_break {
            Some(b) if b.seq <= brk.seq => {}
            _ => self.first_break = Some(brk),
        }
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.first_break, &self.head) {
            (None, Some(h)) => write!(
                f,
                "tenant {}: {} records intact, head seq {} hash {}",
                self.tenant, self.count, h.seq, h.hash
            )?,
            (None, None) => write!(f, "tenant {}: empty trail", self.tenant)?,
            (Some(b), _) => write!(
                f,
                "tenant {}: chain broken at {} ({} records read)",
                self.tenant, b, self.count
            )?,
        }
        match &self.storage {
            Some(Err(why)) => write!(f, "; storage check failed: {why}"),
            _ => Ok(()),
        }
    }
}

/// Walks a tenant's trail in seq order and checks every record's hash and link, the trail's
/// start and head, and the store's entity index: [`verify_with`] with no options.
///
/// # Errors
/// As [`verify_with`].
pub fn verify<S: AuditStore + ?Sized>(store: &S, tenant: &TenantId) -> Result<VerifyReport> {
    verify_with(store, tenant, &VerifyOptions::new())
}

/// [`verify`], then checks the trail against a checkpoint saved earlier: the trail must reach
/// the checkpoint's seq and have the checkpoint's hash there.
///
/// # Errors
/// As [`verify_with`].
pub fn verify_against<S: AuditStore + ?Sized>(
    store: &S,
    checkpoint: &Checkpoint,
) -> Result<VerifyReport> {
    verify_with(
        store,
        &checkpoint.tenant,
        &VerifyOptions::new().checkpoint(checkpoint.clone()),
    )
}

/// Verifies a tenant's trail as the [`chain`](crate::chain#what-verification-checks) module
/// docs describe, with `options`.
///
/// Reads the records in constant memory, and the entity index once. Stops looking for breaks
/// at the first one but keeps counting; the report names the lowest bad seq.
///
/// # Errors
/// Only errors that stop the walk (the store unavailable); an unreadable record is a
/// [`BreakReason::Corrupt`] break, not an error. [`Error::Verification`] for a checkpoint of
/// another tenant or algorithm; [`Error::Busy`] when a purge moved the trail's start while it
/// was being verified (verify again).
pub fn verify_with<S: AuditStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    options: &VerifyOptions,
) -> Result<VerifyReport> {
    if let Some(cp) = &options.checkpoint {
        if cp.tenant != *tenant {
            return Err(Error::Verification(format!(
                "checkpoint is for tenant {} but tenant {tenant} was asked",
                cp.tenant
            )));
        }
        if cp.chain != store.chain_algorithm() {
            return Err(Error::Verification(format!(
                "checkpoint uses {} but the trail uses {}",
                cp.chain,
                store.chain_algorithm()
            )));
        }
    }
    let key_id = store.chain_key_id();
    let key = match (&key_id, &options.key) {
        (Some(id), Some(k)) if k.id() != id => {
            return Err(Error::Verification(format!(
                "the chain is keyed with key {id}, not {}",
                k.id()
            )))
        }
        (None, Some(k)) => {
            return Err(Error::Verification(format!(
                "the chain is not keyed, but key {} was given",
                k.id()
            )))
        }
        (Some(_), k) => Some(k.as_ref()),
        (None, None) => None,
    };
    let anchor = store.anchor(tenant)?;
    // The walk is bounded by the head read now: records appended meanwhile are for the next
    // verification, and the head is what the walk must reach.
    let head_before = store.head(tenant)?;
    let digest = MentionDigest::new();
    let mut named = Tally::default();
    let mut report = walk(
        store,
        tenant,
        anchor,
        head_before,
        key,
        true,
        (&digest, &mut named),
    )?;
    let reached = report.head.map_or(anchor.seq, |h| h.seq);
    if let Some(head) = head_before.filter(|h| reached < h.seq) {
        report.note(ChainBreak {
            seq: reached + 1,
            reason: BreakReason::MissingTail { head_seq: head.seq },
        });
    }
    // The head and the walk may both come through the same damaged index: the store's count
    // from another structure must agree (rows through the bound walked), and its highest seq
    // must be one the seq order can see (a head read again now is at least that high in a
    // sound store, appends since included).
    let bound = head_before.map_or(anchor.seq, |h| h.seq);
    if let Some(census) = store.census(tenant, bound)? {
        if census.records_through != report.count {
            report.note(ChainBreak {
                seq: reached + 1,
                reason: BreakReason::MissingTail { head_seq: bound },
            });
        }
        if let Some(last) = census.last_seq.filter(|l| *l > bound) {
            let head_now = store.head(tenant)?.map_or(anchor.seq, |h| h.seq);
            if head_now < last {
                report.note(ChainBreak {
                    seq: reached + 1,
                    reason: BreakReason::MissingTail { head_seq: last },
                });
            }
        }
    }
    if head_before.is_some() {
        report.index_checked =
            check_index(store, tenant, anchor, bound, (&digest, named), &mut report)?;
    }
    if store.anchor(tenant)? != anchor {
        return Err(Error::Busy {
            source: "a purge moved the trail's start during verification; verify again".into(),
        });
    }
    if let Some(cp) = &options.checkpoint {
        check_checkpoint(store, cp, anchor, &mut report)?;
    }
    if let Some(check) = options.storage {
        report.storage = store.check_storage(check)?;
    }
    Ok(report)
}

/// The first break in the part of `tenant`'s trail a purge through `through` would remove:
/// its chain from the anchor, its start, and the entity index over it. A purge that removed a
/// tampered prefix would remove the evidence with it, so a purge checks this first.
///
/// # Errors
/// Store failures.
pub(crate) fn check_prefix<S: AuditStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    anchor: Head,
    through: Head,
) -> Result<Option<ChainBreak>> {
    // Seals need the key, which a purge does not hold; they are checked by verify_with.
    let key = store.chain_key_id().map(|_| None);
    let digest = MentionDigest::new();
    let mut named = Tally::default();
    let mut report = walk(
        store,
        tenant,
        anchor,
        Some(through),
        key,
        false,
        (&digest, &mut named),
    )?;
    // The record accounting for the anchor lies after the prefix (a purge appends it at the
    // head): look for it by its event name.
    if anchor.seq > 0 {
        let purges = Query::for_tenant(tenant.clone())
            .event("audit.purged")
            .after_seq(anchor.seq);
        let mut accounted = false;
        for r in store.query(&purges)? {
            if r.is_ok_and(|r| accounts_for(&r, anchor) && compute_hash(&r) == r.hash) {
                accounted = true;
                break;
            }
        }
        if !accounted {
            report.note(ChainBreak {
                seq: anchor.seq + 1,
                reason: BreakReason::UnaccountedStart {
                    anchor_seq: anchor.seq,
                },
            });
        }
    }
    let reached = report.head.map_or(anchor.seq, |h| h.seq);
    if reached < through.seq {
        report.note(ChainBreak {
            seq: reached + 1,
            reason: BreakReason::MissingTail {
                head_seq: through.seq,
            },
        });
    }
    check_index(
        store,
        tenant,
        anchor,
        through.seq,
        (&digest, named),
        &mut report,
    )?;
    Ok(report.first_break)
}

/// The walk over the records: chain, links, order, and the record accounting for the anchor.
/// `key` is `None` for an unkeyed chain, `Some(None)` for a keyed one checked without its key;
/// `require_start` asks for the record accounting for the anchor among the records walked.
fn walk<S: AuditStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    anchor: Head,
    head: Option<Head>,
    key: Option<Option<&ChainKey>>,
    require_start: bool,
    mentions: (&MentionDigest, &mut Tally),
) -> Result<VerifyReport> {
    let (digest, tally) = mentions;
    let algorithm = store.chain_algorithm();
    let mut report = VerifyReport {
        tenant: tenant.clone(),
        count: 0,
        head: None,
        first_break: None,
        index_checked: false,
        sealed: key.map(|k| k.is_some()),
        storage: None,
    };
    let Some(head) = head else {
        // No record at all after a purge point: nothing accounts for it (a purge always
        // leaves its own record behind).
        if require_start && anchor.seq > 0 {
            report.note(ChainBreak {
                seq: anchor.seq + 1,
                reason: BreakReason::UnaccountedStart {
                    anchor_seq: anchor.seq,
                },
            });
        }
        return Ok(report);
    };
    let mut expected_seq = anchor.seq + 1;
    let mut prev = anchor.hash;
    let mut last_seq = anchor.seq;
    let mut start_accounted = anchor.seq == 0 || !require_start;
    let mut link_unknown = false;
    let query = Query::for_tenant(tenant.clone()).through_seq(head.seq);
    for item in store.query(&query)? {
        let record = match item {
            Ok(r) => r,
            Err(Error::Corrupt { seq, reason }) => {
                report.count += 1;
                report.note(ChainBreak {
                    seq,
                    reason: BreakReason::Corrupt(reason),
                });
                // The next record cannot be linked to an unreadable one (that is this break);
                // its own content is still checked, and it may still account for the start.
                expected_seq = seq + 1;
                last_seq = last_seq.max(seq);
                link_unknown = true;
                continue;
            }
            Err(e) => return Err(e),
        };
        report.count += 1;
        // What the record names, for the entity-index check over the anchor's successors
        // through the head: tallied here so that a verification reads the records once.
        if record.seq > anchor.seq {
            digest.add_record(tally, &record);
        }
        let brk = if record.seq <= last_seq {
            Some(BreakReason::Reordered { found: record.seq })
        } else if record.seq != expected_seq {
            Some(BreakReason::Missing { found: record.seq })
        } else if record.chain != algorithm {
            Some(BreakReason::WrongAlgorithm)
        } else if compute_hash(&record) != record.hash {
            Some(BreakReason::Altered)
        } else if record.prev_hash != prev && !link_unknown {
            Some(BreakReason::WrongLink)
        } else if let Some(Some(k)) = key {
            (record.seal != Some(k.seal(&record.hash))).then_some(BreakReason::BadSeal)
        } else {
            None
        };
        match brk {
            Some(reason) => {
                let seq = match reason {
                    BreakReason::Missing { .. } => expected_seq,
                    _ => record.seq,
                };
                report.note(ChainBreak { seq, reason });
            }
            None => start_accounted |= accounts_for(&record, anchor),
        }
        last_seq = last_seq.max(record.seq);
        expected_seq = record.seq + 1;
        prev = record.hash;
        link_unknown = false;
        report.head = Some(Head {
            seq: record.seq,
            hash: record.hash,
        });
    }
    if !start_accounted {
        report.note(ChainBreak {
            seq: anchor.seq + 1,
            reason: BreakReason::UnaccountedStart {
                anchor_seq: anchor.seq,
            },
        });
    }
    Ok(report)
}

/// Whether `record` (verified) is the `audit.purged` record of the purge that left the trail
/// starting at `anchor`.
fn accounts_for(record: &Record, anchor: Head) -> bool {
    matches!(&record.event, Event::AuditPurged(p)
        if p.through_seq == anchor.seq && p.anchor_hash == anchor.hash)
}

/// The trail against a checkpoint: it must reach the checkpoint's seq and have its hash there.
fn check_checkpoint<S: AuditStore + ?Sized>(
    store: &S,
    checkpoint: &Checkpoint,
    anchor: Head,
    report: &mut VerifyReport,
) -> Result<()> {
    if report.first_break.is_some() {
        return Ok(());
    }
    let head_seq = report.head.map_or(anchor.seq, |h| h.seq);
    if head_seq < checkpoint.seq {
        report.note(ChainBreak {
            seq: head_seq + 1,
            reason: BreakReason::Truncated {
                checkpoint_seq: checkpoint.seq,
            },
        });
        return Ok(());
    }
    let at = if checkpoint.seq == anchor.seq {
        Some(anchor.hash)
    } else if checkpoint.seq < anchor.seq {
        // Purged past the checkpoint: nothing left to compare; the purge itself is on record
        // (the walk required the audit.purged record that accounts for the anchor).
        None
    } else {
        let q = Query::for_tenant(checkpoint.tenant.clone())
            .after_seq(checkpoint.seq - 1)
            .through_seq(checkpoint.seq)
            .limit(1);
        let found = store.query(&q)?.next().transpose()?;
        // The walk read every seq through the head, so a missing one was a break already.
        Some(found.map_or(crate::digest::Digest::ZERO, |r| r.hash))
    };
    if let Some(hash) = at {
        if hash != checkpoint.hash {
            report.note(ChainBreak {
                seq: checkpoint.seq,
                reason: BreakReason::Diverged,
            });
        }
    }
    Ok(())
}

/// A keyed multiset hash of mention rows: two independent keyed 64-bit hashes summed, and the
/// count. Order-free, so the records' side and the index's side can be read in each one's
/// own order; keyed afresh per verification, so rows written earlier cannot be made to cancel.
#[derive(Clone)]
struct MentionDigest {
    keys: (RandomState, RandomState),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Tally {
    sum: (u64, u64),
    count: u64,
}

impl MentionDigest {
    fn new() -> Self {
        MentionDigest {
            keys: (RandomState::new(), RandomState::new()),
        }
    }

    fn add(&self, tally: &mut Tally, kind: &str, id: &str, seq: u64) {
        let h = |k: &RandomState| k.hash_one((kind, id, seq));
        tally.sum.0 = tally.sum.0.wrapping_add(h(&self.keys.0));
        tally.sum.1 = tally.sum.1.wrapping_add(h(&self.keys.1));
        tally.count += 1;
    }

    /// What the records in `lo..=hi` name, each entity once per record.
    fn of_records<S: AuditStore + ?Sized>(
        &self,
        store: &S,
        tenant: &TenantId,
        lo: u64,
        hi: u64,
    ) -> Result<Tally> {
        let mut tally = Tally::default();
        let q = Query::for_tenant(tenant.clone())
            .after_seq(lo.saturating_sub(1))
            .through_seq(hi);
        for item in store.query(&q)? {
            // Unreadable records are breaks of the walk already; their mentions cannot be
            // known, so the range holding one is not compared.
            let Ok(r) = item else { continue };
            self.add_record(&mut tally, &r);
        }
        Ok(tally)
    }

    /// What one record names, each entity once.
    fn add_record(&self, tally: &mut Tally, record: &Record) {
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for m in record.event.mentions() {
            let key = (m.kind.as_str(), m.id.as_str());
            if !seen.contains(&key) {
                seen.push(key);
                self.add(tally, key.0, key.1, record.seq);
            }
        }
    }

    /// What the store's index holds for seqs in `lo..=hi`; `None` without an index.
    fn of_index<S: AuditStore + ?Sized>(
        &self,
        store: &S,
        tenant: &TenantId,
        lo: u64,
        hi: u64,
    ) -> Result<Option<Tally>> {
        let mut tally = Tally::default();
        let kept = store.scan_mentions(tenant, lo, hi, &mut |row: MentionRow<'_>| {
            self.add(&mut tally, row.kind, row.id, row.seq);
        })?;
        Ok(kept.then_some(tally))
    }
}

/// Compares the store's entity index with the records from the anchor to `head` (`named`:
/// what the walk over that range tallied with `digest`); on a mismatch finds the lowest seq
/// whose rows disagree by halving the range, reading the records again only then. Returns
/// whether the store has an index to compare.
fn check_index<S: AuditStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    anchor: Head,
    head: u64,
    named: (&MentionDigest, Tally),
    report: &mut VerifyReport,
) -> Result<bool> {
    let (digest, named) = named;
    let lo = anchor.seq + 1;
    if head < lo {
        return Ok(true);
    }
    let Some(index) = digest.of_index(store, tenant, lo, head)? else {
        return Ok(false);
    };
    if index == named {
        return Ok(true);
    }
    // Invariant: lo..=hi holds a disagreeing seq.
    let (mut lo, mut hi) = (lo, head);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let left_index = digest.of_index(store, tenant, lo, mid)?.unwrap_or_default();
        if left_index != digest.of_records(store, tenant, lo, mid)? {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    report.note(ChainBreak {
        seq: lo,
        reason: BreakReason::IndexMismatch,
    });
    Ok(true)
}

impl Checkpoint {
    /// The checkpoint at a store's current head, or `None` for an empty trail.
    ///
    /// # Errors
    /// Whatever the store returns.
    pub fn current<S: AuditStore + ?Sized>(store: &S, tenant: &TenantId) -> Result<Option<Self>> {
        Ok(store.head(tenant)?.map(|h| Checkpoint {
            tenant: tenant.clone(),
            seq: h.seq,
            hash: h.hash,
            chain: store.chain_algorithm(),
        }))
    }
}
