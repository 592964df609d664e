//! Retention purge, above the stores: [`RetentionExt::purge`] works out what to remove from
//! what a reader sees, prepares the `audit.purged` record with the host's [`Preparer`] (its
//! clock, limits), and hands the store a [`PurgePlan`] to carry out under its write lock.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::event::{AuditPurged, Event};
use crate::history::{History, Point};
use crate::prepare::{Entry, Preparer};
use crate::query::Query;
use crate::record::{Actor, Head, TenantId};
use crate::sink::{PurgePlan, PurgePoint, PurgeReport, Retention};
use crate::store_ext::AuditStoreExt;

/// The retention purge over any store with the [`Retention`] capability.
pub trait RetentionExt: Retention {
    /// Removes a tenant's oldest records under a retention policy, in one transaction that
    /// also moves the tenant's [`anchor`](crate::AuditStore::anchor) to the last removed
    /// record and appends an `audit.purged` record ([`AuditPurged`]) by `actor`, stamped by
    /// `preparer` (pass your log's, [`AuditLog::preparer`](crate::AuditLog::preparer), so the
    /// record has your clock). The remaining trail verifies from the anchor; a
    /// [`Checkpoint`](crate::Checkpoint) older than the purge point still verifies (there is
    /// nothing left to compare it with, and the purge is on record).
    ///
    /// Only a prefix is ever removed, and only one that verifies. Nothing is removed (and nothing recorded) when the point
    /// is at or before the current anchor; a point past the newest record is taken as the
    /// newest record. Appends to the tenant wait for the purge's transaction, appends to other
    /// tenants do not.
    ///
    /// ```
    /// use audit_log::{Actor, AuditLog, AuditStoreExt, EntityRef, Event, PurgePoint, RetentionExt, SqliteSink, TenantId};
    ///
    /// let store = SqliteSink::open_in_memory()?;
    /// let log = AuditLog::builder(store.clone()).build();
    /// for i in 0..10 {
    ///     log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(i)))?;
    /// }
    /// let tenant = TenantId::default();
    /// let report = store.purge(log.preparer(), &tenant, PurgePoint::ThroughSeq(6), &Actor::service("retention"))?;
    /// assert_eq!((report.removed, report.anchor.seq), (6, 6));
    /// assert_eq!(report.receipt.map(|r| r.seq), Some(11));
    /// assert!(store.verify(&tenant)?.is_intact());
    /// # Ok::<(), audit_log::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an actor the preparer's limits refuse (checked before
    /// anything is read); [`Error::Verification`] when the records to remove do not verify
    /// (a purge never removes the evidence of tampering: it first checks the chain, the start
    /// and the entity index of what it would remove); [`Error::Busy`] when another purge of
    /// the tenant ran meanwhile; [`Error::Corrupt`] when the record at the purge point is
    /// unreadable or the trail has gaps before it; store failures. On error nothing is
    /// removed.
    fn purge(
        &self,
        preparer: &Preparer,
        tenant: &TenantId,
        point: PurgePoint,
        actor: &Actor,
    ) -> Result<PurgeReport>
    where
        Self: Sized,
    {
        let stamp = |through_seq, anchor_hash, count, before, state| {
            preparer.prepare_store_event(
                Entry::new(
                    actor.clone(),
                    Event::AuditPurged(AuditPurged {
                        through_seq,
                        anchor_hash,
                        count,
                        before,
                        state,
                    }),
                )
                .tenant(tenant.clone()),
            )
        };
        // Refuse an actor the limits refuse before reading anything.
        stamp(0, Digest::ZERO, 0, None, None)?;

        let anchor = self.anchor(tenant)?;
        let Some(tip) = self.head(tenant)? else {
            return Ok(PurgeReport::nothing(tenant, anchor));
        };
        let (through, before) = match point {
            PurgePoint::ThroughSeq(n) => (n.min(tip.seq), None),
            PurgePoint::Before(t) => {
                let first_kept = self
                    .query(&Query::for_tenant(tenant.clone()).since(t).limit(1))?
                    .next()
                    .transpose()?;
                let through = first_kept.map_or(tip.seq, |r| r.seq.saturating_sub(1));
                (through, Some(t))
            }
        };
        if through <= anchor.seq {
            return Ok(PurgeReport::nothing(tenant, anchor));
        }
        let at = self
            .get(tenant, through)?
            .ok_or_else(|| Error::corrupt(through, "the record at the purge point is missing"))?;
        let through = Head {
            seq: at.seq,
            hash: at.hash,
        };
        // Removing a tampered prefix would remove the evidence with it: refuse.
        if let Some(brk) = crate::verify::check_prefix(self, tenant, anchor, through)? {
            return Err(Error::Verification(format!(
                "the records a purge through seq {} would remove do not verify ({brk}): \
                 purging would destroy the evidence; investigate with verify first",
                through.seq
            )));
        }
        // What the removed records said, kept in the purge's own record: History resumes from
        // it, so answers about any point after the purge point do not change. When an earlier
        // purge kept nothing, what remains is folded and the kept state says where it starts
        // (State::unknown_through), so later answers stay marked incomplete rather than the
        // purge being refused forever.
        let state = History::new(self)
            .tenant(tenant.clone())
            .from_what_remains()
            .state_at(Point::Seq(through.seq))?
            .to_snapshot();
        let record = stamp(
            through.seq,
            through.hash,
            through.seq - anchor.seq,
            before,
            Some(state),
        )?;
        self.remove_prefix(PurgePlan {
            tenant: tenant.clone(),
            anchor,
            through,
            record,
        })
    }
}

impl<T: Retention + ?Sized> RetentionExt for T {}
