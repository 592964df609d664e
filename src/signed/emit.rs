//! [`Checkpointing`]: a sink wrapper that signs a tenant's new head every N records or T
//! seconds and hands it to a [`CheckpointTarget`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{CheckpointSigner, SignedCheckpoint};
use crate::digest::ChainAlgorithm;
use crate::error::{Error, Result};
use crate::prepare::{Clock, SystemClock};
use crate::record::{Checkpoint, Head, Receipt, Record, TenantId};
use crate::sink::{
    AuditSink, AuditStore, PreparedRecord, PurgePlan, PurgeReport, Retention, SealedSink,
};

/// Where [`Checkpointing`] puts the checkpoints it signs: a file ([`CheckpointFile`](super::CheckpointFile)),
/// and later the forwarder.
///
/// # Contract
///
/// - **Durable on Ok.** When [`append`](CheckpointTarget::append) returns `Ok`, the
///   checkpoint is on the target's durable medium (a file: written and synced to disk), and
///   a reader of the target sees it.
/// - **Append-only.** A target never edits, reorders or removes a checkpoint it accepted;
///   checkpoints of one tenant come out in the order they were appended.
/// - **Whole or not at all.** A failed append returns a typed [`Error`] and the target holds
///   what it held before (at most an incomplete last entry that every reader refuses by
///   name, never a checkpoint that reads as another).
/// - **Exact.** A reader gets back exactly the [`SignedCheckpoint`] appended: every field,
///   the signature byte for byte.
pub trait CheckpointTarget: Send + Sync + fmt::Debug + 'static {
    /// Appends one signed checkpoint.
    ///
    /// # Errors
    /// The target's failures ([`Error::Io`], [`Error::StorageFull`], [`Error::ReadOnly`],
    /// ...); the checkpoint is not held.
    fn append(&self, checkpoint: &SignedCheckpoint) -> Result<()>;
}

impl<T: CheckpointTarget + ?Sized> CheckpointTarget for Arc<T> {
    fn append(&self, checkpoint: &SignedCheckpoint) -> Result<()> {
        (**self).append(checkpoint)
    }
}

impl<T: CheckpointTarget + ?Sized> CheckpointTarget for Box<T> {
    fn append(&self, checkpoint: &SignedCheckpoint) -> Result<()> {
        (**self).append(checkpoint)
    }
}

/// A store that signs its own heads as it appends: wraps any store `S`, delegates every call,
/// and after each successful append signs the new head of every tenant the append touched
/// when `every_records` records or `every` time have passed since that tenant's last
/// checkpoint, and appends the [`SignedCheckpoint`] to a [`CheckpointTarget`].
///
/// It is a store like the one it wraps: an [`AuditSink`] to build an
/// [`AuditLog`](crate::AuditLog) over, an [`AuditStore`] to read and verify, and a
/// [`SealedSink`] or [`Retention`] store when `S` is one (imports and purges are signed too;
/// a purge at once, whatever the cadence). See the [module docs](super) for a recipe.
///
/// # What it signs
///
/// Only what its own appends returned: the receipt (seq and hash) of the last record of each
/// tenant in the batch, with the store's [`chain_algorithm`](AuditStore::chain_algorithm).
/// It never reads records or the head back from the store, so rows someone wrote around it
/// are not signed on their own, and data keeps flowing one way (log → store → readers).
/// Appends that do not pass through it (inside a host's transaction with
/// [`SqliteSink::append_in`](crate::SqliteSink::append_in), another process) are covered
/// by its next checkpoint of the tenant, like every record before that head.
///
/// # Cadence
///
/// Per tenant: the first append through the wrapper is signed at once (it cannot know when a
/// previous process last signed: one extra checkpoint per tenant and start costs a
/// signature and one line); after that, an append is signed when its tenant's head is at
/// least `every_records` past the last checkpoint, or `every` has passed since it (by the
/// wrapper's [`Clock`]). At most one checkpoint per tenant per append, of the new head. While
/// a tenant's checkpoint is being written, its other appends go on without waiting for it,
/// so under a load faster than the target, checkpoints are spaced by what was appended during
/// one write (with a file, one `fsync`) rather than by `every_records`. Time
/// is looked at only when the tenant appends: a quiet tenant makes no checkpoints, and its
/// last one still covers its whole trail. [`checkpoint_now`](Checkpointing::checkpoint_now)
/// signs every head not yet signed (at shut-down, say).
///
/// # Failures
///
/// A checkpoint that cannot be written never fails or undoes the append that triggered it
/// (the records are already committed and the caller holds their receipts): it is counted
/// ([`failed`](Checkpointing::failed)), kept as [`last_error`](Checkpointing::last_error),
/// and tried again at the tenant's next append. Watch those two.
///
/// # Cost
///
/// A checkpoint costs an Ed25519 signature (tens of microseconds) and the target's write (a
/// file: one `fsync`), paid by the append that triggers it; see `docs/benchmarks.md`.
pub struct Checkpointing<S> {
    inner: S,
    signer: CheckpointSigner,
    every_records: u64,
    every: TimeDelta,
    clock: Arc<dyn Clock>,
    target: Box<dyn CheckpointTarget>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    tenants: HashMap<TenantId, TenantState>,
    emitted: u64,
    failed: u64,
    last_error: Option<Error>,
}

#[derive(Default)]
struct TenantState {
    /// The newest head an append through the wrapper returned.
    head: Head,
    /// The seq and time of the last checkpoint written.
    signed: Option<(u64, DateTime<Utc>)>,
    /// A checkpoint of this tenant is being written: others wait for the next append, so a
    /// tenant's checkpoints reach the target in seq order.
    in_flight: bool,
}

impl TenantState {
    fn is_due(&self, now: DateTime<Utc>, every_records: u64, every: TimeDelta) -> bool {
        match self.signed {
            None => true,
            Some((seq, at)) => {
                self.head.seq > seq
                    && (self.head.seq - seq >= every_records
                        || now.signed_duration_since(at) >= every)
            }
        }
    }
}

impl<S> Checkpointing<S> {
    /// Wraps `inner`, signing with `signer` into `target`, by default every 1 000 records or
    /// 5 minutes per tenant, by the system clock.
    ///
    /// The defaults bound what a forged tail can hide behind the newest checkpoint to about a
    /// thousand records or five minutes of appends, at a cost of one signature and one synced
    /// line per thousand records on a busy tenant.
    pub fn new(inner: S, signer: CheckpointSigner, target: impl CheckpointTarget) -> Self {
        Checkpointing {
            inner,
            signer,
            every_records: 1000,
            every: TimeDelta::minutes(5),
            clock: Arc::new(SystemClock),
            target: Box::new(target),
            state: Mutex::new(State::default()),
        }
    }

    /// Signs a tenant's head once it is `n` records past its last checkpoint (at least 1; 0
    /// is taken as 1, every append). `u64::MAX` turns the count off.
    #[must_use]
    pub fn every_records(mut self, n: u64) -> Self {
        self.every_records = n.max(1);
        self
    }

    /// Signs a tenant's head at its first append once `period` has passed since its last
    /// checkpoint. `Duration::MAX` turns the time off.
    #[must_use]
    pub fn every(mut self, period: Duration) -> Self {
        self.every = TimeDelta::from_std(period).unwrap_or(TimeDelta::MAX);
        self
    }

    /// The clock that decides when `every` has passed and stamps `signed_at` (share the log's
    /// [`ManualClock`](crate::ManualClock) in tests).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// How many checkpoints were written.
    pub fn emitted(&self) -> u64 {
        self.lock().emitted
    }

    /// How many checkpoints could not be written (each is retried at its tenant's next
    /// append).
    pub fn failed(&self) -> u64 {
        self.lock().failed
    }

    /// The error of the last checkpoint that could not be written, if any ever failed.
    pub fn last_error(&self) -> Option<Error> {
        self.lock().last_error.as_ref().map(Error::duplicate)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is counters and heads, valid after any panic: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<S: AuditStore> Checkpointing<S> {
    /// Signs and writes, now, the newest head of every tenant whose appends through this
    /// wrapper are not covered by a checkpoint yet (whatever the cadence), and returns how
    /// many it wrote. Call it at shut-down so the last records are covered.
    ///
    /// # Errors
    /// The first checkpoint that could not be written (also counted in
    /// [`failed`](Self::failed)); the tenants after it are still tried.
    pub fn checkpoint_now(&self) -> Result<usize> {
        let now = self.clock.now();
        let due: Vec<(TenantId, Head)> = {
            let mut st = self.lock();
            st.tenants
                .iter_mut()
                .filter(|(_, t)| !t.in_flight && t.signed.is_none_or(|(seq, _)| t.head.seq > seq))
                .map(|(tenant, t)| {
                    t.in_flight = true;
                    (tenant.clone(), t.head)
                })
                .collect()
        };
        let algorithm = self.inner.chain_algorithm();
        let mut written = 0;
        let mut first_error = None;
        for (tenant, head) in due {
            match self.write(algorithm, tenant, head, now) {
                Ok(()) => written += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(written),
        }
    }

    /// After a successful write: note each tenant's new head and sign the ones that are due
    /// (all of them with `force`).
    fn after_write(&self, heads: Vec<(TenantId, Head)>, force: bool) {
        let now = self.clock.now();
        let due: Vec<(TenantId, Head)> = {
            let mut st = self.lock();
            let mut due = Vec::new();
            for (tenant, head) in heads {
                // Looked up before inserting: the common case clones no tenant name.
                if !st.tenants.contains_key(&tenant) {
                    st.tenants.insert(tenant.clone(), TenantState::default());
                }
                let Some(t) = st.tenants.get_mut(&tenant) else {
                    continue;
                };
                // Concurrent appends may report back out of order: heads only move forward.
                if head.seq > t.head.seq {
                    t.head = head;
                }
                if !t.in_flight && (force || t.is_due(now, self.every_records, self.every)) {
                    t.in_flight = true;
                    due.push((tenant, t.head));
                }
            }
            due
        };
        if due.is_empty() {
            return;
        }
        let algorithm = self.inner.chain_algorithm();
        for (tenant, head) in due {
            // Counted and kept by `write`; the append it follows has succeeded regardless.
            let _ = self.write(algorithm, tenant, head, now);
        }
    }

    /// Signs `head` of `tenant` and appends it to the target, outside the state lock (a
    /// file write syncs to disk), then records the outcome.
    fn write(
        &self,
        chain: ChainAlgorithm,
        tenant: TenantId,
        head: Head,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let checkpoint = Checkpoint {
            tenant,
            seq: head.seq,
            hash: head.hash,
            chain,
        };
        let signed = checkpoint.sign(&self.signer, now);
        let outcome = self.target.append(&signed);
        let mut st = self.lock();
        if let Some(t) = st.tenants.get_mut(&signed.checkpoint.tenant) {
            t.in_flight = false;
            if outcome.is_ok() {
                t.signed = Some((head.seq, signed.signed_at));
            }
        }
        match outcome {
            Ok(()) => {
                st.emitted += 1;
                Ok(())
            }
            Err(e) => {
                st.failed += 1;
                let copy = e.duplicate();
                st.last_error = Some(e);
                Err(copy)
            }
        }
    }
}

/// The last index of each tenant in a batch, in first-seen order: the receipt at that index
/// is the tenant's new head. Batches are mostly one tenant, so this is a short list.
fn last_per_tenant<'a>(tenants: impl Iterator<Item = &'a TenantId>) -> Vec<(&'a TenantId, usize)> {
    let mut last: Vec<(&TenantId, usize)> = Vec::new();
    for (i, tenant) in tenants.enumerate() {
        match last.iter_mut().rev().find(|(t, _)| *t == tenant) {
            Some(entry) => entry.1 = i,
            None => last.push((tenant, i)),
        }
    }
    last
}

/// Each tenant's head from the receipts of its batch.
fn heads(positions: Vec<(TenantId, usize)>, receipts: &[Receipt]) -> Vec<(TenantId, Head)> {
    positions
        .into_iter()
        .filter_map(|(tenant, i)| {
            receipts.get(i).map(|r| {
                (
                    tenant,
                    Head {
                        seq: r.seq,
                        hash: r.hash,
                    },
                )
            })
        })
        .collect()
}

fn owned(positions: Vec<(&TenantId, usize)>) -> Vec<(TenantId, usize)> {
    positions.into_iter().map(|(t, i)| (t.clone(), i)).collect()
}

impl<S: AuditSink + AuditStore> AuditSink for Checkpointing<S> {
    fn append(&self, batch: Vec<PreparedRecord>) -> Result<Vec<Receipt>> {
        let positions = owned(last_per_tenant(batch.iter().map(PreparedRecord::tenant)));
        let receipts = self.inner.append(batch)?;
        self.after_write(heads(positions, &receipts), false);
        Ok(receipts)
    }
}

impl<S: SealedSink + AuditStore> SealedSink for Checkpointing<S> {
    fn append_sealed(&self, records: Vec<Record>) -> Result<Vec<Receipt>> {
        let positions = owned(last_per_tenant(records.iter().map(|r| &r.tenant)));
        let receipts = self.inner.append_sealed(records)?;
        self.after_write(heads(positions, &receipts), false);
        Ok(receipts)
    }
}

impl<S: AuditStore> AuditStore for Checkpointing<S> {
    crate::sink::forward_audit_store!(Self::inner);
}

impl<S: Retention> Retention for Checkpointing<S> {
    /// The purge, then a checkpoint of its `audit.purged` record at once: the one change
    /// that removes records is signed without waiting for the cadence.
    fn remove_prefix(&self, plan: PurgePlan) -> Result<PurgeReport> {
        let tenant = plan.tenant.clone();
        let report = self.inner.remove_prefix(plan)?;
        if let Some(r) = report.receipt {
            let head = Head {
                seq: r.seq,
                hash: r.hash,
            };
            self.after_write(vec![(tenant, head)], true);
        }
        Ok(report)
    }
}

impl<S: fmt::Debug> fmt::Debug for Checkpointing<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkpointing")
            .field("inner", &self.inner)
            .field("signer", &self.signer)
            .field("every_records", &self.every_records)
            .field("every", &self.every)
            .field("clock", &self.clock)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_record_of_each_tenant_is_its_head() {
        let a = TenantId::new("a");
        let b = TenantId::new("b");
        let batch = [&a, &b, &a, &a, &b];
        let got = last_per_tenant(batch.into_iter());
        assert_eq!(got, vec![(&a, 3), (&b, 4)]);
        assert!(last_per_tenant(std::iter::empty()).is_empty());
    }
}
