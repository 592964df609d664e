//! Retention purge: the types every store's `purge` speaks, and the record it writes.
//!
//! Each store that offers a purge ([`SqliteSink::purge`](crate::SqliteSink::purge),
//! [`PostgresSink::purge`](crate::PostgresSink::purge)) removes a prefix of one tenant's
//! trail in one transaction of its own, moves the tenant's anchor and appends an
//! `audit.purged` record built here, so every store records a purge the same way.

use chrono::{DateTime, Utc};

use crate::chain::Digest;
use crate::error::{Error, Result};
use crate::event::{AuditPurged, Event};
use crate::log::{AuditLog, Entry};
use crate::record::{Actor, Head, Receipt, Record, TenantId};
use crate::sink::{AuditSink, PreparedRecord};

/// Up to where a store's `purge` ([`SqliteSink::purge`](crate::SqliteSink::purge),
/// [`PostgresSink::purge`](crate::PostgresSink::purge)) removes records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PurgePoint {
    /// Every record up to and including this seq.
    ThroughSeq(u64),
    /// The oldest records, up to (not including) the first one that occurred at or after
    /// this time. A record out of time order stops the purge early rather than being skipped:
    /// a purge only ever removes a prefix of the trail, and nothing at or after the time.
    Before(DateTime<Utc>),
}

/// What a store's `purge` ([`SqliteSink::purge`](crate::SqliteSink::purge),
/// [`PostgresSink::purge`](crate::PostgresSink::purge)) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    /// The tenant purged.
    pub tenant: TenantId,
    /// How many records were removed (0 when there was nothing to purge).
    pub removed: u64,
    /// Where the trail now starts: the last removed seq and its hash.
    pub anchor: Head,
    /// Where the `audit.purged` record landed; `None` when nothing was removed.
    pub receipt: Option<Receipt>,
}

impl PurgePoint {
    /// The last seq to remove from a trail whose newest record is `tip`, and the time bound
    /// to put on record. `first_at_or_after(t)` is the store's lookup of the lowest seq that
    /// occurred at or after `t` (`None` when there is none).
    ///
    /// # Errors
    /// What the lookup returns.
    pub(crate) fn resolve(
        self,
        tip: u64,
        first_at_or_after: impl FnOnce(DateTime<Utc>) -> Result<Option<u64>>,
    ) -> Result<(u64, Option<DateTime<Utc>>)> {
        Ok(match self {
            PurgePoint::ThroughSeq(n) => (n.min(tip), None),
            PurgePoint::Before(t) => {
                let through = match first_at_or_after(t)? {
                    Some(first_kept) => first_kept.saturating_sub(1),
                    None => tip,
                };
                (through, Some(t))
            }
        })
    }
}

impl PurgeReport {
    /// The report of a purge that found nothing to remove: the trail still starts at `anchor`.
    pub(crate) fn nothing(tenant: &TenantId, anchor: Head) -> Self {
        PurgeReport {
            tenant: tenant.clone(),
            removed: 0,
            anchor,
            receipt: None,
        }
    }
}

/// A sink that stores nothing: a purge only uses an [`AuditLog`] to stamp and encode its
/// own record, which the store then appends inside the purge transaction.
#[derive(Debug)]
struct Stamp;

impl AuditSink for Stamp {
    fn append(&self, _: Vec<PreparedRecord>) -> Result<Vec<Receipt>> {
        Err(Error::NotSupported("stamping only".into()))
    }
    fn append_sealed(&self, _: Vec<Record>) -> Result<Vec<Receipt>> {
        Err(Error::NotSupported("stamping only".into()))
    }
}

/// Stamps and encodes a tenant's `audit.purged` records, on the system clock with the default
/// [`Limits`](crate::Limits).
#[derive(Debug)]
pub(crate) struct PurgeRecorder {
    log: AuditLog,
    actor: Actor,
}

impl PurgeRecorder {
    /// Checks `actor` up front, so a purge by an actor the limits refuse fails before the
    /// store locks or removes anything.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an actor the default limits refuse.
    pub(crate) fn new(tenant: &TenantId, actor: &Actor) -> Result<Self> {
        let recorder = PurgeRecorder {
            log: AuditLog::builder(Stamp).tenant(tenant.clone()).build(),
            actor: actor.clone(),
        };
        recorder.record(0, Digest::ZERO, 0, None)?;
        Ok(recorder)
    }

    /// The `audit.purged` record of a purge through `through_seq` (whose hash is the new
    /// anchor's) that removed `count` records.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] as [`AuditLog::prepare`].
    pub(crate) fn record(
        &self,
        through_seq: u64,
        anchor_hash: Digest,
        count: u64,
        before: Option<DateTime<Utc>>,
    ) -> Result<PreparedRecord> {
        self.log.prepare_store_event(Entry::new(
            self.actor.clone(),
            Event::AuditPurged(AuditPurged {
                through_seq,
                anchor_hash,
                count,
                before,
            }),
        ))
    }
}
