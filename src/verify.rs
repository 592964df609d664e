//! Verification: walking a trail and checking every hash and link, and checking a trail
//! against a [`Checkpoint`] kept elsewhere.

use std::fmt;

use crate::canonical::compute_hash;
use crate::error::{Error, Result};
use crate::query::Query;
use crate::record::{Checkpoint, Head, TenantId};
use crate::sink::AuditStore;

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
    /// The record could not be read at all.
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
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakReason::Altered => f.write_str("content does not match its hash (altered)"),
            BreakReason::Missing { found } => write!(f, "missing (next record found is {found})"),
            BreakReason::Reordered { found } => write!(f, "out of order (found seq {found})"),
            BreakReason::WrongLink => f.write_str("prev_hash does not link to the previous record"),
            BreakReason::Corrupt(why) => write!(f, "unreadable: {why}"),
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

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The tenant verified.
    pub tenant: TenantId,
    /// How many records were read.
    pub count: u64,
    /// The last record read, if any.
    pub head: Option<Head>,
    /// The first break, if any. `None` means the trail is intact.
    pub first_break: Option<ChainBreak>,
}

impl VerifyReport {
    /// Whether the trail verified with no break.
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.first_break, &self.head) {
            (None, Some(h)) => write!(
                f,
                "tenant {}: {} records intact, head seq {} hash {}",
                self.tenant, self.count, h.seq, h.hash
            ),
            (None, None) => write!(f, "tenant {}: empty trail", self.tenant),
            (Some(b), _) => write!(
                f,
                "tenant {}: chain broken at {} ({} records read)",
                self.tenant, b, self.count
            ),
        }
    }
}

/// Walks a tenant's trail in seq order and checks every record's hash and link.
///
/// Reads in constant memory. Stops looking for breaks at the first one but keeps counting.
///
/// # Errors
/// Only errors that stop the walk (the store unavailable); an unreadable record is a
/// [`BreakReason::Corrupt`] break, not an error.
pub fn verify<S: AuditStore + ?Sized>(store: &S, tenant: &TenantId) -> Result<VerifyReport> {
    let anchor = store.anchor(tenant)?;
    let algorithm = store.chain_algorithm();
    let mut report = VerifyReport {
        tenant: tenant.clone(),
        count: 0,
        head: None,
        first_break: None,
    };
    let mut expected_seq = anchor.seq + 1;
    let mut prev = anchor.hash;
    let mut last_seq = anchor.seq;
    let query = Query::for_tenant(tenant.clone());
    for item in store.query(&query)? {
        let record = match item {
            Ok(r) => r,
            Err(Error::Corrupt { seq, reason }) => {
                report.count += 1;
                report.first_break.get_or_insert(ChainBreak {
                    seq,
                    reason: BreakReason::Corrupt(reason),
                });
                // The next record cannot link to an unreadable one; resume linking from it.
                expected_seq = seq + 1;
                last_seq = seq;
                continue;
            }
            Err(e) => return Err(e),
        };
        report.count += 1;
        let brk = if record.seq <= last_seq {
            Some(BreakReason::Reordered { found: record.seq })
        } else if record.seq != expected_seq {
            Some(BreakReason::Missing { found: record.seq })
        } else if record.chain != algorithm {
            Some(BreakReason::WrongAlgorithm)
        } else if compute_hash(&record) != record.hash {
            Some(BreakReason::Altered)
        } else if record.prev_hash != prev {
            Some(BreakReason::WrongLink)
        } else {
            None
        };
        if let Some(reason) = brk {
            let seq = match reason {
                BreakReason::Missing { .. } => expected_seq,
                _ => record.seq,
            };
            report.first_break.get_or_insert(ChainBreak { seq, reason });
        }
        last_seq = last_seq.max(record.seq);
        expected_seq = record.seq + 1;
        prev = record.hash;
        report.head = Some(Head {
            seq: record.seq,
            hash: record.hash,
        });
    }
    Ok(report)
}

/// [`verify`], then checks the trail against a checkpoint saved earlier: the trail must reach
/// the checkpoint's seq and have the checkpoint's hash there.
///
/// # Errors
/// [`Error::Verification`] when the checkpoint is for another algorithm; otherwise as
/// [`verify`].
pub fn verify_against<S: AuditStore + ?Sized>(
    store: &S,
    checkpoint: &Checkpoint,
) -> Result<VerifyReport> {
    if checkpoint.chain != store.chain_algorithm() {
        return Err(Error::Verification(format!(
            "checkpoint uses {} but the trail uses {}",
            checkpoint.chain,
            store.chain_algorithm()
        )));
    }
    let mut report = verify(store, &checkpoint.tenant)?;
    if report.first_break.is_some() {
        return Ok(report);
    }
    let head_seq = report.head.map_or(0, |h| h.seq);
    if head_seq < checkpoint.seq {
        report.first_break = Some(ChainBreak {
            seq: head_seq + 1,
            reason: BreakReason::Truncated {
                checkpoint_seq: checkpoint.seq,
            },
        });
        return Ok(report);
    }
    let anchor = store.anchor(&checkpoint.tenant)?;
    let at = if checkpoint.seq == anchor.seq {
        Some(anchor.hash)
    } else if checkpoint.seq < anchor.seq {
        // Purged past the checkpoint: nothing left to compare; the purge itself is recorded.
        None
    } else {
        let q = Query::for_tenant(checkpoint.tenant.clone())
            .after_seq(checkpoint.seq - 1)
            .limit(1);
        let found = store.query(&q)?.next().transpose()?;
        found.filter(|r| r.seq == checkpoint.seq).map(|r| r.hash)
    };
    if let Some(hash) = at {
        if hash != checkpoint.hash {
            report.first_break = Some(ChainBreak {
                seq: checkpoint.seq,
                reason: BreakReason::Diverged,
            });
        }
    }
    Ok(report)
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
