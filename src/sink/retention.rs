//! Retention: the capability of removing a tenant's oldest records, and the types it speaks.
//!
//! A store that can purge implements [`Retention`]; the purge itself (resolving the point,
//! preparing the `audit.purged` record with the host's [`Preparer`](crate::Preparer)) is
//! [`RetentionExt::purge`](crate::RetentionExt::purge), above the stores. The store only
//! carries out a [`PurgePlan`] under its write lock, after checking that the plan still holds.

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::record::{Head, Receipt, TenantId};
use crate::sink::{AuditStore, PreparedRecord};

/// Up to where [`RetentionExt::purge`](crate::RetentionExt::purge) removes records.
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

/// What a purge did.
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

/// One purge, worked out from what a reader saw: remove `tenant`'s records after `anchor`
/// through `through`, then append `record` (its `audit.purged`).
///
/// Made by [`RetentionExt::purge`](crate::RetentionExt::purge); a store carries it out with
/// [`Retention::remove_prefix`].
#[derive(Debug)]
pub struct PurgePlan {
    /// The tenant.
    pub tenant: TenantId,
    /// The tenant's anchor when the plan was made; the store refuses the plan if it moved.
    pub anchor: Head,
    /// The last record to remove, with the hash the reader saw there.
    pub through: Head,
    /// The `audit.purged` record to append in the same transaction.
    pub record: PreparedRecord,
}

/// The retention capability: removing a prefix of a tenant's trail, on record.
///
/// # Contract
///
/// [`remove_prefix`](Retention::remove_prefix) does, in one transaction that serializes with
/// every append of the tenant:
///
/// - refuses the plan with [`Error::Busy`](crate::Error::Busy) when the tenant's anchor is
///   no longer `plan.anchor` (another purge ran since the plan was made; make a new one);
/// - refuses it with [`Error::InvalidInput`](crate::Error::InvalidInput) when `plan.through`
///   is not after the anchor, or the record at `plan.through.seq` is missing or has another
///   hash; and with [`Error::Corrupt`](crate::Error::Corrupt) when the records to remove are
///   not exactly the seqs after the anchor through `plan.through.seq` (a trail with gaps is
///   not purged over: verify it first);
/// - otherwise removes exactly those records (and whatever the store derived from them),
///   moves the tenant's [`anchor`](AuditStore::anchor) to `plan.through`, and appends
///   `plan.record` as the tenant's next record, chained like any append.
///
/// On error nothing is removed. Other tenants are untouched. The conformance suite's purge
/// checks (`conformance::purge`) prove it for every store that offers it.
pub trait Retention: AuditStore {
    /// Carries out `plan`; see the [contract](Retention#contract).
    ///
    /// # Errors
    /// As the contract says; store failures.
    fn remove_prefix(&self, plan: PurgePlan) -> Result<PurgeReport>;
}
