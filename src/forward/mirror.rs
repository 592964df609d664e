//! [`Mirror`]: one `tracing` event per committed record.

use crate::error::Result;
use crate::record::{Outcome, Receipt, Record, TenantId};
use crate::sink::{AuditSink, PreparedRecord, SealedSink};

/// A sink wrapper that, after each successful append, emits one `tracing` event per record
/// (target `audit_log`, level INFO, fields `tenant`, `seq`, `id`, `event`, `actor`,
/// `outcome`), so a host whose logs or traces go to an OpenTelemetry pipeline sees its audit
/// events there too.
///
/// **A mirror, never the record of truth**: events are emitted only after the store
/// committed (a failed append emits nothing), but a subscriber may drop, sample or lose them,
/// and they carry no chain. Forward the trail itself (a [`Forwarder`](super::Forwarder))
/// when a system must receive every record.
///
/// ```
/// use audit_log::forward::Mirror;
/// use audit_log::{Actor, AuditLog, EntityRef, Event, MemorySink};
///
/// let store = MemorySink::new();
/// let log = AuditLog::builder(Mirror::new(store.clone())).build();
/// log.record(&Actor::system(), Event::user_deleted(EntityRef::new(42, "alice")))?;
/// assert_eq!(store.records().len(), 1);
/// # Ok::<(), audit_log::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Mirror<S> {
    inner: S,
}

impl<S> Mirror<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Mirror { inner }
    }

    /// The wrapped sink.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// What the event needs, taken before the batch moves into the store.
struct Seen {
    tenant: TenantId,
    event: String,
    actor: String,
    outcome: Outcome,
}

fn emit(seen: &[Seen], receipts: &[Receipt]) {
    for (s, r) in seen.iter().zip(receipts) {
        tracing::info!(
            target: "audit_log",
            tenant = s.tenant.as_str(),
            seq = r.seq,
            id = %r.id,
            event = s.event.as_str(),
            actor = s.actor.as_str(),
            outcome = s.outcome.as_str(),
            "audit record committed"
        );
    }
}

impl<S: AuditSink> AuditSink for Mirror<S> {
    fn append(&self, batch: Vec<PreparedRecord>) -> Result<Vec<Receipt>> {
        let seen: Vec<Seen> = batch
            .iter()
            .map(|p| Seen {
                tenant: p.tenant().clone(),
                event: p.event().name().to_owned(),
                actor: p.actor().id.clone(),
                outcome: p.outcome(),
            })
            .collect();
        let receipts = self.inner.append(batch)?;
        emit(&seen, &receipts);
        Ok(receipts)
    }
}

impl<S: SealedSink> SealedSink for Mirror<S> {
    fn append_sealed(&self, records: Vec<Record>) -> Result<Vec<Receipt>> {
        let seen: Vec<Seen> = records
            .iter()
            .map(|r| Seen {
                tenant: r.tenant.clone(),
                event: r.event.name().to_owned(),
                actor: r.actor.id.clone(),
                outcome: r.outcome,
            })
            .collect();
        let receipts = self.inner.append_sealed(records)?;
        emit(&seen, &receipts);
        Ok(receipts)
    }
}
